//! Start-up and shutdown: open the ledger, migrate, seed, serve until a signal arrives.

use crate::config::Config;
use crate::content::{self, ContentError};
use crate::ledger::sqlite::{SqliteLedger, SqliteOptions};
use crate::ledger::{Ledger, LedgerError};
use crate::state::{AppState, ContentHandle};
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Ledger(#[from] LedgerError),
    #[error("content: {0}")]
    Content(#[from] ContentError),
    #[error("message catalogs: {0}")]
    Catalog(#[from] crate::i18n::CatalogError),
    /// The command line asked for something impossible (unreadable file, bad argument).
    #[error("{0}")]
    Usage(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// `accord verify` found tampering (exit status 1).
    #[error("{0}")]
    Verification(String),
}

/// Opens the database, applies migrations and seeds the default content when empty.
pub async fn open_ledger(config: &Config) -> Result<Arc<dyn Ledger>, StartError> {
    let db = &config.database;
    let options = SqliteOptions {
        max_connections: db.max_connections,
        busy_timeout: std::time::Duration::from_millis(u64::from(db.busy_timeout_ms)),
        max_pages: db.max_pages,
        decision_cache: db.decision_cache as usize,
        ..SqliteOptions::default()
    };
    let ledger = SqliteLedger::open_with(&db.path, &options).await?;
    ledger.migrate().await?;
    content::seed_if_empty(&ledger).await?;
    Ok(Arc::new(ledger))
}

/// Everything a router needs, built from configuration.
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    let ledger = open_ledger(&config).await?;
    let site = content::load(ledger.as_ref(), &config).await?;
    let leptos_options = LeptosOptions::builder()
        .output_name("accord")
        .site_root(config.server.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.server.bind)
        .build();
    let geo = Arc::new(crate::geo::Geo::new(&config.geo));
    let rules = Arc::new(crate::rules::Rules::new(config.rules.clone()));
    let catalogs = Arc::new(crate::i18n::Catalogs::load()?);
    let limits = Arc::new(crate::http::rate_limit::RateLimits::new(&config.rate_limit, &config.sites));
    let cors = Arc::new(crate::http::cors::Cors::new(&config.sites));
    Ok(AppState::new(crate::state::Shared {
        limits,
        cors,
        config: Arc::new(config),
        ledger,
        content: ContentHandle::new(site),
        leptos_options,
        geo,
        rules,
        catalogs,
        flash: Arc::default(),
        config_cache: Arc::default(),
    }))
}

/// `accord migrate`
pub async fn migrate(config: &Config) -> Result<(), StartError> {
    open_ledger(config).await?;
    tracing::info!(path = %config.database.path.display(), "database migrated and seeded");
    Ok(())
}

/// `accord serve`
pub async fn serve(config: Config) -> Result<(), StartError> {
    let addr = config.server.bind;
    let state = build_state(config).await?;
    spawn_geo_reloader(&state);
    spawn_content_reloader(&state);
    crate::retention::spawn_scheduled(state.clone());
    let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    tracing::info!("Accord listening on http://{}", listener.local_addr().map_err(StartError::Serve)?);
    run(listener, state, shutdown_signal()).await
}

/// Serves on an already-bound listener until `shutdown` resolves, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let header_timeout = std::time::Duration::from_secs(state.config.server.header_timeout_secs);
    let app = crate::http::app(state);
    // hyper directly rather than `axum::serve`: it bounds how long a client may take to send
    // its headers, so slow-loris connections cannot pile up (bodies are bounded by the
    // router's request timeout).
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(std::time::Duration::from_secs(30)))
        .keep_alive_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = app.clone().map_request(move |req: axum::extract::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            req
        });
        let conn =
            builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; stopping anyway"),
    }
    Ok(())
}

/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Checks the GeoIP database file for changes every `geo.reload_secs` seconds.
pub fn spawn_geo_reloader(state: &AppState) {
    if state.geo.database().is_none() {
        return;
    }
    let geo = state.geo.clone();
    let every = std::time::Duration::from_secs(state.config.geo.reload_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // File I/O and parsing run off the async workers.
            let geo = geo.clone();
            let _ =
                tokio::task::spawn_blocking(move || geo.database().map(|db| db.reload_if_changed())).await;
        }
    });
}

/// Rebuilds the content snapshot when something new was published (by `accord publish` in
/// another process, or through the admin API).
pub async fn reload_content(state: &AppState) -> Result<bool, StartError> {
    let fresh = content::load(state.ledger.as_ref(), &state.config).await?;
    let current = state.content.current();
    let changed = fresh.policy.version != current.policy.version
        || fresh.registry_version != current.registry_version
        || fresh.valid_policy_versions != current.valid_policy_versions
        || fresh.responsibility.title != current.responsibility.title;
    if changed {
        tracing::info!(policy = %fresh.policy.version, registry = %fresh.registry_version, "published content reloaded");
        state.content.replace(fresh);
    }
    Ok(changed)
}

/// Polls the database every few seconds for new publishes (one tiny query).
pub fn spawn_content_reloader(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut last = state.ledger.content_generation().await.ok();
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = state.ledger.content_generation().await.ok();
            if now.is_some() && now != last {
                match reload_content(&state).await {
                    Ok(_) => last = now,
                    Err(e) => tracing::warn!(error = %e, "reloading published content failed; will retry"),
                }
            }
        }
    });
}

/// `accord publish policy|registry FILE`
pub async fn publish(config: &Config, what: crate::cli::Publish) -> Result<(), StartError> {
    let ledger = open_ledger(config).await?;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| StartError::Usage(format!("cannot read {}: {e}", path.display())))
    };
    match what {
        crate::cli::Publish::Policy { file, material } => {
            let p = content::publish_policy(ledger.as_ref(), &read(&file)?, material).await?;
            println!(
                "published policy {} ({}), sha256 {}",
                p.version,
                if material { "material: consents under earlier versions must be renewed" } else { "minor" },
                p.content_hash
            );
        }
        crate::cli::Publish::Registry { file, material, summary } => {
            let (r, revision) =
                content::publish_registry(ledger.as_ref(), &read(&file)?, material, &summary).await?;
            println!(
                "published cookie registry {} ({})",
                r.version,
                if material { "material" } else { "minor" }
            );
            if let Some(p) = revision {
                println!("published policy revision {} so consents are renewed", p.version);
            }
        }
    }
    Ok(())
}

/// `accord token create|list|revoke`
pub async fn token(config: &Config, cmd: crate::cli::TokenCommand) -> Result<(), StartError> {
    use crate::cli::TokenCommand;
    let ledger = open_ledger(config).await?;
    match cmd {
        TokenCommand::Create { name, role } => {
            if name.trim().is_empty() || name.len() > 100 {
                return Err(StartError::Usage("--name must be 1-100 characters".into()));
            }
            let (info, token) = crate::auth::create(ledger.as_ref(), name.trim(), role).await?;
            crate::audit::append(
                ledger.as_ref(),
                crate::audit::Actor::Cli,
                "token.create",
                format!("token {}", info.id),
                format!("{} ({})", info.name, role.as_str()),
                None,
            )
            .await?;
            eprintln!(
                "created token {} ({}, role {}); it is shown only once:",
                info.id,
                info.name,
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for t in ledger.list_tokens().await? {
                let state = if t.revoked_at_ms.is_some() { "revoked" } else { "active" };
                println!("{}\t{}\t{}\t{}", t.id, t.role.as_str(), state, t.name);
            }
        }
        TokenCommand::Revoke { id } => {
            if !ledger.revoke_token(id).await? {
                return Err(StartError::Usage(format!("no active token with id {id}")));
            }
            println!("revoked token {id}");
            crate::audit::append(
                ledger.as_ref(),
                crate::audit::Actor::Cli,
                "token.revoke",
                format!("token {id}"),
                String::new(),
                None,
            )
            .await?;
        }
        TokenCommand::Rotate { id } => {
            let token = crate::auth::generate_token();
            let info = ledger
                .rotate_token(id, &crate::auth::hash_token(&token))
                .await?
                .ok_or_else(|| StartError::Usage(format!("no active token with id {id}")))?;
            crate::audit::append(
                ledger.as_ref(),
                crate::audit::Actor::Cli,
                "token.rotate",
                format!("token {id}"),
                format!("replaced by token {}", info.id),
                None,
            )
            .await?;
            eprintln!(
                "token {id} revoked; new token {} ({}, role {}) is shown only once:",
                info.id,
                info.name,
                info.role.as_str()
            );
            println!("{token}");
        }
    }
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining connections");
}
