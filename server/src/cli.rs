//! The `accord` command line.

use crate::config::{Config, ConfigError};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "accord",
    version,
    about = "Consent and cookie management: pages, consent API, embeddable banner and ledger"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings every command understands. Each overrides the TOML file.
#[derive(Args, Debug, Default, Clone)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, short, env = "ACCORD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// SQLite database file.
    #[arg(long, env = "ACCORD_DATABASE", global = true)]
    pub database: Option<PathBuf>,
    /// Log filter (tracing syntax), e.g. `info` or `accord=debug`.
    #[arg(long, env = "ACCORD_LOG", global = true)]
    pub log: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "ACCORD_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate and seed the database if needed, then serve HTTP until SIGINT/SIGTERM (default).
    Serve(ServeArgs),
    /// Create the database, apply migrations and seed the default content, then exit.
    Migrate,
    /// Publish a new version of the privacy policy or the cookie registry.
    #[command(subcommand)]
    Publish(Publish),
    /// Manage admin/auditor API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Export consent records (all, or a search) as CSV or NDJSON, streamed in chain order.
    Export(ExportArgs),
    /// Recompute the ledger's hash chain; exit 1 naming the first altered, inserted,
    /// reordered or deleted record.
    Verify {
        /// A head published earlier, `HASH` or `COUNT:HASH`: the ledger must still contain it.
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Delete records older than the retention period, leaving a verifiable checkpoint.
    Purge {
        /// Override `retention.days` (never below the longest consent lifetime).
        #[arg(long)]
        days: Option<u32>,
    },
}

#[derive(Args, Debug, Default, Clone)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "ndjson")]
    pub format: Option<crate::records::export::Format>,
    /// Output file (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Visitor id (32 hex characters).
    #[arg(long)]
    pub visitor: Option<String>,
    #[arg(long)]
    pub site: Option<String>,
    /// From this day (YYYY-MM-DD) or time (RFC 3339), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this day (inclusive) or time (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Only records that granted this category.
    #[arg(long)]
    pub granted: Option<String>,
    /// Only records that denied this category.
    #[arg(long)]
    pub denied: Option<String>,
    #[arg(long)]
    pub jurisdiction: Option<String>,
    /// accept_all, reject_all, custom, withdraw or gpc.
    #[arg(long)]
    pub action: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: crate::auth::Role,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id; it stops working immediately.
    Revoke { id: i64 },
    /// Replace a token by a new one (same name and role); the old one stops working.
    Rotate { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum Publish {
    /// A policy Markdown file with +++ TOML front matter (version, effective_date, title, changelog).
    Policy {
        file: PathBuf,
        /// The change affects what visitors consented to: earlier consents are asked again.
        #[arg(long)]
        material: bool,
    },
    /// A cookie registry TOML file (registry_version, categories, cookies).
    Registry {
        file: PathBuf,
        /// The change needs fresh consent (new category, new purpose): earlier consents are asked again.
        #[arg(long)]
        material: bool,
        /// One line for the policy changelog when the change is material.
        #[arg(long, default_value = "cookie registry updated")]
        summary: String,
    },
}

#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ACCORD_BIND")]
    pub bind: Option<SocketAddr>,
    /// Public base URL, when it differs from http://BIND (e.g. behind a proxy).
    #[arg(long, env = "ACCORD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory of the built site (cargo-leptos output).
    #[arg(long, env = "ACCORD_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
}

impl Cli {
    /// Builds the effective configuration: defaults < file < environment/flags.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.global.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let g = &self.global;
        if let Some(d) = &g.database {
            config.database.path = d.clone();
        }
        if let Some(l) = &g.log {
            config.log.filter = l.clone();
        }
        if let Some(f) = &g.log_format {
            config.log.format = f.clone();
        }
        if let Some(Command::Serve(s)) = &self.command {
            if let Some(b) = s.bind {
                config.server.bind = b;
            }
            if let Some(u) = &s.public_url {
                config.server.public_url = Some(u.clone());
            }
            if let Some(r) = &s.site_root {
                config.server.site_root = r.clone();
            }
        }
        config.validate()?;
        Ok(config)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("accord: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("accord: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(_) => crate::server::serve(config).await,
            Command::Migrate => crate::server::migrate(&config).await,
            Command::Publish(what) => crate::server::publish(&config, what).await,
            Command::Token(cmd) => crate::server::token(&config, cmd).await,
            Command::Export(args) => crate::ops::export(&config, args).await,
            Command::Verify { expect_head } => crate::ops::verify(&config, expect_head.as_deref()).await,
            Command::Purge { days } => crate::ops::purge(&config, days).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(crate::server::StartError::Verification(e)) => {
            eprintln!("accord verify: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            tracing::error!(error = %e, "accord stopped");
            eprintln!("accord: {e}");
            ExitCode::FAILURE
        }
    }
}
