//! `accord-bench`: a benchmark anyone can rerun (`make bench`, see README "Benchmark").
//!
//! `accord-bench run` starts the release `accord` binary on a fresh database and, in the same
//! run, a bare axum "hello" server (this binary re-executed as `accord-bench hello`, a separate
//! process that competes for the CPU exactly like Accord does), drives both with a keep-alive
//! HTTP/1.1 load generator on loopback, then measures storage through the real library:
//! bytes per record at 1 M records, visitor-history lookups at 10 M, export rows/s.
//! Results go to `bench/results/latest.json` and `latest.md`. `accord-bench stack` drives one
//! request path through the router in-process (see `stack.rs`).

mod hello;
mod load;
mod procs;
mod report;
mod stack;
mod storage;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The allocator the `accord` binary uses (`server/src/main.rs`), for the ceiling server and the
/// load generator too: what sets Accord apart from the bare server is then Accord's own work,
/// not the allocator it was linked with, and `stack` counts what the binary runs.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(name = "accord-bench", about = "Benchmark Accord against a bare axum ceiling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The ceiling: a bare axum server (GET / "hello", GET /config and /script: files served
    /// from memory, POST / JSON → 201).
    Hello {
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// Serve this file at GET /config, gzip-compressed once (else a small stand-in JSON).
        #[arg(long)]
        config_file: Option<PathBuf>,
        /// Serve this file at GET /script, gzip-compressed once.
        #[arg(long)]
        script_file: Option<PathBuf>,
    },
    /// The whole benchmark: HTTP phases against Accord and the ceiling, then storage.
    Run(RunArgs),
    /// One request path through Accord's router in-process (no sockets): the cost of the
    /// middleware stack and the handler alone.
    Stack(stack::StackArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Smoke run: short phases, 100 k / 300 k records instead of 1 M / 10 M.
    #[arg(long)]
    pub quick: bool,
    /// Where latest.json and latest.md are written.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// The accord binary (default: target/release/accord of this workspace).
    #[arg(long)]
    pub accord: Option<PathBuf>,
    /// Directory served as the site root (default: target/site if it has embed/consent.js, else public).
    #[arg(long)]
    pub site_root: Option<PathBuf>,
    /// Keep-alive connections of the closed-loop phases.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds measured per HTTP phase (default 10, --quick 3).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Seconds of warm-up before each measured phase (default 2, --quick 1).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Records for the bytes-per-record and export measurements (default 1 M, --quick 100 k).
    #[arg(long)]
    pub records: Option<u64>,
    /// Records for the history-lookup measurement (default 10 M, --quick 300 k).
    #[arg(long)]
    pub lookup_records: Option<u64>,
    /// Visitor-history lookups measured at the larger size.
    #[arg(long, default_value_t = 20_000)]
    pub lookups: usize,
    /// Skip the HTTP phases (storage only).
    #[arg(long)]
    pub skip_http: bool,
    /// Skip the storage phases (HTTP only).
    #[arg(long)]
    pub skip_storage: bool,
    /// HTTP phases: only the ceiling POST and the consent writes, closed and open loop (for
    /// iterating on the write path; the read phases are left out of the report).
    #[arg(long)]
    pub writes_only: bool,
    /// Accord's log filter during the HTTP phases (e.g.
    /// `info,accord::ledger::sqlite::writer=trace` logs every batch the writer commits).
    #[arg(long, default_value = "info")]
    pub accord_log: String,
    /// Also write everything Accord logs during the HTTP phases to this file.
    #[arg(long)]
    pub accord_log_file: Option<PathBuf>,
}

impl RunArgs {
    fn measure(&self) -> Duration {
        Duration::from_secs(self.seconds.unwrap_or(if self.quick { 3 } else { 10 }))
    }
    fn warmup(&self) -> Duration {
        Duration::from_secs(self.warmup.unwrap_or(if self.quick { 1 } else { 2 }))
    }
    fn records(&self) -> u64 {
        self.records.unwrap_or(if self.quick { 100_000 } else { 1_000_000 })
    }
    fn lookup_records(&self) -> u64 {
        self.lookup_records.unwrap_or(if self.quick { 300_000 } else { 10_000_000 })
    }
}

/// The workspace root: where this crate's manifest directory is.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hello { bind, config_file, script_file } => {
            hello::main(bind, config_file.as_deref(), script_file.as_deref())
        }
        Command::Run(args) => run(args),
        Command::Stack(args) => stack::main(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accord-bench: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<()> {
    if args.connections == 0 || args.lookups == 0 || args.records() == 0 {
        bail!("--connections, --lookups and --records must be positive");
    }
    if args.lookup_records() < args.records() {
        bail!("--lookup-records must be at least --records");
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("tokio runtime")?;
    let mut results = report::Results::new(&args)?;
    let outcome = runtime.block_on(async {
        if !args.skip_http {
            load::run_http(&args, &mut results).await?;
        }
        if !args.skip_storage {
            storage::run_storage(&args, &mut results).await?;
        }
        anyhow::Ok(())
    });
    if let Err(e) = &outcome {
        results.failure = Some(format!("{e:#}"));
    }
    let table = results.write(&args.out)?;
    println!("{table}");
    println!("results: {}/latest.json, {}/latest.md", args.out.display(), args.out.display());
    outcome?;
    let errors = results.http_errors();
    if errors > 0 {
        bail!("{errors} request(s) did not get the expected status; the numbers above are not valid");
    }
    Ok(())
}
