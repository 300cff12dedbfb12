//! `accord-bench stack`: one request path driven through Accord's router in-process, no
//! sockets, on a current-thread runtime: what the middleware stack and the handler cost,
//! without the kernel and the load generator. Wall time per request is printed (noisy on a
//! shared host); for numbers that do not move with the neighbours, count instructions:
//!
//! ```text
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect=accord_bench::stack::drive \
//!     target/release/accord-bench stack --requests 5000 --rounds 1
//! ```
//!
//! (instructions per request = the program total / requests).

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::ConnectInfo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;
use tower::ServiceExt;

#[derive(clap::Args, Debug)]
pub struct StackArgs {
    /// Request target (a GET that answers 2xx, or a POST with `--body`).
    #[arg(long, default_value = "/api/v1/config?site=default")]
    pub path: String,
    /// POST this JSON body instead of a GET (e.g. a consent to `/api/v1/consents`; each
    /// request then waits for the writer thread's commit, which callgrind's toggle does not
    /// count: only the request's own thread is measured).
    #[arg(long)]
    pub body: Option<String>,
    /// Requests per round.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Directory served as the site root (default: target/site).
    #[arg(long)]
    pub site_root: Option<PathBuf>,
    /// Before measuring, record a consent (accept all) for the visitor the path names
    /// (`/api/v1/visitors/{id}/decision`), so the decision read is of a decided visitor.
    #[arg(long)]
    pub seed_consent: bool,
}

pub fn main(args: &StackArgs) -> Result<()> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("runtime")?;
    // The HTTP phases' configuration: shipped defaults, rate limits raised but still checked.
    let file = dir.path().join("accord.toml");
    std::fs::write(&file, crate::load::BENCH_CONFIG).context("write the benchmark's accord.toml")?;
    let mut config = accord::config::Config::from_file(&file).context("read the benchmark's accord.toml")?;
    config.database.path = dir.path().join("stack.db");
    config.server.site_root =
        args.site_root.clone().unwrap_or_else(|| crate::workspace_root().join("target/site"));
    let state = rt.block_on(accord::server::build_state(config)).context("start Accord")?;
    // What the server serves (`http::app`), not the boxed copy tests keep.
    let app = accord::http::app(state);
    if args.seed_consent {
        rt.block_on(seed(&app, &args.path))?;
    }
    let mut best = f64::MAX;
    for round in 0..args.rounds {
        let t = Instant::now();
        drive(&rt, &app, &args.path, args.body.as_deref(), args.requests)?;
        let us = t.elapsed().as_secs_f64() * 1e6 / args.requests.max(1) as f64;
        best = best.min(us);
        println!("round {round}: {us:.2} µs/request");
    }
    println!(
        "best of {}: {best:.2} µs/request for {} {}",
        args.rounds,
        if args.body.is_some() { "POST" } else { "GET" },
        args.path
    );
    Ok(())
}

/// Records a consent for the visitor of `path` through the API.
async fn seed<S: accord::http::AppService>(app: &S, path: &str) -> Result<()> {
    let visitor = path
        .strip_prefix("/api/v1/visitors/")
        .and_then(|rest| rest.split('/').next())
        .context("--seed-consent needs a path /api/v1/visitors/{id}/...")?;
    let body = format!(
        "{{\"site\":\"default\",\"visitor_id\":\"{visitor}\",\"action\":\"accept_all\",\"policy_version\":\"{}\"}}",
        crate::load::POLICY_VERSION
    );
    let mut req = axum::http::Request::post("/api/v1/consents")
        .header("content-type", "application/json")
        .body(Body::from(body))?;
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let res = app.clone().oneshot(req).await?;
    if res.status() != axum::http::StatusCode::CREATED {
        bail!("seeding a consent answered {}", res.status());
    }
    Ok(())
}

/// The measured loop (callgrind's `--toggle-collect` target).
#[inline(never)]
pub fn drive<S: accord::http::AppService>(
    rt: &tokio::runtime::Runtime,
    app: &S,
    path: &str,
    body: Option<&str>,
    n: usize,
) -> Result<()> {
    rt.block_on(async {
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000)));
        for _ in 0..n {
            let builder = match body {
                Some(_) => axum::http::Request::post(path).header("content-type", "application/json"),
                None => axum::http::Request::get(path),
            };
            let mut req = builder
                .header("accept-encoding", "gzip")
                .header("accept-language", "en-US,en;q=0.9")
                .header("user-agent", crate::load::USER_AGENT)
                .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))?;
            req.extensions_mut().insert(peer);
            let res = app.clone().oneshot(req).await?;
            if !res.status().is_success() {
                bail!("{path} answered {}", res.status());
            }
            axum::body::to_bytes(res.into_body(), 1 << 20).await?;
        }
        Ok(())
    })
}
