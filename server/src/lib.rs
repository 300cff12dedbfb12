//! Accord server: configuration, CLI, consent API, ledger (storage boundary), default
//! content, embed serving and the Leptos pages.
//!
//! Where to look:
//! - `cli`: the `accord` command line (serve, migrate, publish, token).
//! - `auth`: admin/auditor API tokens.
//! - `config`: per-concern configuration from TOML, `ACCORD_*` environment and flags.
//! - `state`: [`AppState`], shared by every handler.
//! - `http`: the router factory and all handlers (API, forms, health, pages).
//! - `ledger`: the storage boundary ([`ledger::Ledger`]) and its SQLite engine.
//! - `content`: default content (policy, cookie registry, responsibility matrix).
//! - `consent`: validation of a choice into an append-only record.
//! - `privacy`: IP reduction and user-agent families (what is stored about a visitor).
//! - `geo`: where the visitor is (client IP behind proxies, CDN headers, MaxMind DB).
//! - `rules`: which consent model applies where (opt-in, opt-out + GPC, notice).
//! - `i18n`: message catalogs and language negotiation.
//! - `error`: the one API error type and its HTTP mapping.
//! - `audit`: the audit log of admin actions and data-subject requests.
//! - `records`: search filters, receipts (ISO/IEC TS 27560), exports, dashboard statistics.
//! - `ops`: operator commands `accord export`, `verify`, `purge`.
//! - `retention`: purging records past retention (on demand and scheduled).
//! - `ledger::chain`: the hash chain that makes tampering evident (`accord verify`).

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod consent;
pub mod content;
pub mod error;
pub mod geo;
pub mod http;
pub mod i18n;
pub mod ledger;
pub mod ops;
pub mod privacy;
pub mod records;
pub mod retention;
pub mod rules;
pub mod server;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use state::AppState;
