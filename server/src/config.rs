//! Configuration, one struct per concern. Sources, weakest first: built-in defaults, an
//! optional TOML file (`--config` / `ACCORD_CONFIG`), then `ACCORD_*` environment variables
//! and command-line flags (clap merges those two; a flag beats its variable).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub consent: ConsentConfig,
    /// Sites allowed to embed the banner and record consent.
    pub sites: Vec<SiteConfig>,
    pub log: LogConfig,
    pub geo: GeoConfig,
    /// Which law applies where (see `rules.rs` for the shipped defaults).
    pub rules: crate::rules::RulesConfig,
    pub consent_mode: ConsentModeConfig,
    pub admin: AdminConfig,
    pub retention: RetentionConfig,
    /// Who is responsible for the processing; named in consent receipts.
    pub controller: ControllerConfig,
    pub rate_limit: RateLimitConfig,
}

/// Rate limits on the public API and public form posts (token buckets; 0 disables one).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Sustained requests per second from one client address (IPv6: one /64).
    pub per_ip_per_second: u32,
    /// Requests one client may send at once before the sustained rate applies.
    pub per_ip_burst: u32,
    /// Sustained requests per second for one site, all its visitors together.
    pub per_site_per_second: u32,
    pub per_site_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // A visitor's page view costs 1-3 API calls; 20/s sustained with bursts of 60 never
        // bothers a person, even behind a shared NAT, but stops one client from flooding.
        Self {
            enabled: true,
            per_ip_per_second: 20,
            per_ip_burst: 60,
            per_site_per_second: 2000,
            per_site_burst: 4000,
        }
    }
}

/// The admin area and admin API.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Client networks (CIDR) allowed to reach the admin area and admin API; empty: any.
    pub allow_ips: Vec<ipnet::IpNet>,
    /// Lifetime of an admin-area sign-in.
    pub session_hours: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { allow_ips: Vec::new(), session_hours: 8 }
    }
}

/// How long consent records are kept (the proof must outlive the consent it proves).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Records older than this are purged (a checkpoint keeps the chain verifiable).
    pub days: u32,
    /// Hours between scheduled purges while serving; 0 turns the schedule off.
    pub purge_every_hours: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        // Three years: longer than any consent lifetime plus the usual limitation periods
        // during which a site may have to prove a consent.
        Self { days: 1095, purge_every_hours: 24 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    pub name: String,
    /// Where data-subject requests go (e-mail address or URL).
    pub contact: String,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self { name: "The operator of this site".into(), contact: "privacy@example.com".into() }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoConfig {
    /// MaxMind DB file (GeoIP2/GeoLite2 Country or City, or a flat `country_code` database).
    /// Reloaded when the file changes.
    pub database: Option<PathBuf>,
    /// Seconds between checks of the database file for changes.
    pub reload_secs: u64,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` and CDN headers are believed (CIDR).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// CDN country headers to read from trusted proxies: `cloudflare`, `cloudfront`, `vercel`.
    pub country_headers: Vec<crate::geo::Cdn>,
    /// Allow `?region=US-CA` on the config API and pages (testing only).
    pub allow_override: bool,
}

impl Default for GeoConfig {
    fn default() -> Self {
        Self {
            database: None,
            reload_secs: 60,
            trusted_proxies: Vec::new(),
            country_headers: Vec::new(),
            allow_override: false,
        }
    }
}

/// Google Consent Mode v2: which consent types each category stands for.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentModeConfig {
    pub wait_for_update_ms: u32,
    pub mapping: std::collections::BTreeMap<String, Vec<String>>,
    pub always_granted: Vec<String>,
}

/// The seven Consent Mode v2 types.
pub const CONSENT_TYPES: [&str; 7] = [
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
];

impl Default for ConsentModeConfig {
    fn default() -> Self {
        let m = |k: &str, v: &[&str]| (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect());
        Self {
            wait_for_update_ms: 500,
            mapping: [
                m("analytics", &["analytics_storage"]),
                m("marketing", &["ad_storage", "ad_user_data", "ad_personalization"]),
                m("functional", &["functionality_storage", "personalization_storage"]),
            ]
            .into_iter()
            .collect(),
            always_granted: vec!["security_storage".into()],
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// Public base URL used in links handed to embeds (defaults to `http://{bind}`).
    pub public_url: Option<String>,
    /// Directory with the built site (`pkg/`, `embed/`, `demo/`, `locales/`).
    pub site_root: PathBuf,
    /// The site id Accord's own pages record consent under.
    pub own_site: String,
    /// Seconds a request may take end to end.
    pub request_timeout_secs: u64,
    /// Seconds a client may take to send a request's headers (slow-loris defence).
    pub header_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// SQLite database file; created, migrated and seeded on first start.
    pub path: PathBuf,
    pub max_connections: u32,
    /// How long a write waits for another writer's lock (another process on the same file,
    /// a backup) before the request is answered 503 + `Retry-After`.
    pub busy_timeout_ms: u32,
    /// Optional cap on the database size, in pages (`PRAGMA max_page_count`; 4 KiB pages).
    /// Beyond it SQLite reports "database or disk is full" and writes are answered 503
    /// until space is freed. None: limited only by the disk.
    pub max_pages: Option<u32>,
    /// Visitors' latest decisions kept in memory (57 bytes each, allocated once; rounded down to
    /// sets of 8 in 64 shards, each visitor in one of two sets; 0: off). Backends ask
    /// for a decision on every page view; a cached one is answered without a read
    /// transaction. Exact within this process; changes by another process (`accord purge`,
    /// a second server on the same file) are picked up within 100 ms.
    pub decision_cache: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentConfig {
    pub cookie_name: String,
    /// How long a decision that grants something lasts.
    pub consent_days: u32,
    /// How long a refusal lasts before the banner asks again (CNIL: about six months).
    pub refusal_days: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: String,
    /// Origins allowed to call the API for this site: `https://www.example.com`,
    /// `http://localhost:*` (any port) or `*` (any origin).
    #[serde(default)]
    pub origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `accord=debug,tower_http=info`.
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            consent: ConsentConfig::default(),
            sites: vec![SiteConfig {
                id: "default".into(),
                origins: vec![
                    "http://localhost:*".into(),
                    "http://127.0.0.1:*".into(),
                    "http://[::1]:*".into(),
                ],
            }],
            log: LogConfig::default(),
            geo: GeoConfig::default(),
            rules: crate::rules::RulesConfig::default(),
            consent_mode: ConsentModeConfig::default(),
            admin: AdminConfig::default(),
            retention: RetentionConfig::default(),
            controller: ControllerConfig::default(),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: None,
            site_root: PathBuf::from("target/site"),
            own_site: "default".into(),
            request_timeout_secs: 30,
            header_timeout_secs: 10,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/accord.db"),
            max_connections: 4,
            busy_timeout_ms: 5000,
            max_pages: None,
            decision_cache: 262_144,
        }
    }
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self { cookie_name: "accord_consent".into(), consent_days: 365, refusal_days: 182 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info".into(), format: "text".into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })
    }

    pub fn public_url(&self) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.server.bind),
        }
    }

    /// The longest consent or refusal lifetime any rule gives: retention may not be shorter.
    pub fn longest_lifetime_days(&self) -> u32 {
        self.rules
            .rules
            .iter()
            .map(|r| r.consent_days.max(r.refusal_days))
            .fold(self.consent.consent_days.max(self.consent.refusal_days), u32::max)
    }

    pub fn site(&self, id: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// Rejects settings that would fail later in confusing ways.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.sites.is_empty() {
            return bad("at least one [[sites]] entry is required".into());
        }
        for s in &self.sites {
            if !crate::consent::is_site_id(&s.id) {
                return bad(format!("site id {:?} must match [a-z0-9][a-z0-9._-]{{0,63}}", s.id));
            }
            if let Some(o) = s.origins.iter().find(|o| OriginPattern::parse(o).is_none()) {
                return bad(format!(
                    "origin {o:?} of site {:?} must be '*' or scheme://host[:port|:*]",
                    s.id
                ));
            }
        }
        if self.site(&self.server.own_site).is_none() {
            return bad(format!("server.own_site {:?} is not a configured site", self.server.own_site));
        }
        if !app::model::consent::is_cookie_name(&self.consent.cookie_name) {
            return bad("consent.cookie_name must be 1-64 characters of [A-Za-z0-9_-]".into());
        }
        if self.consent.consent_days == 0 || self.consent.refusal_days == 0 {
            return bad("consent.consent_days and consent.refusal_days must be at least 1".into());
        }
        let longest = self.longest_lifetime_days();
        if self.retention.days < longest {
            return bad(format!(
                "retention.days ({}) must be at least the longest consent lifetime ({longest} days): \
                 a decision still in force must stay provable",
                self.retention.days
            ));
        }
        if !(1..=720).contains(&self.admin.session_hours) {
            return bad("admin.session_hours must be between 1 and 720".into());
        }
        if self.controller.name.trim().is_empty() || self.controller.name.len() > 200 {
            return bad("controller.name must be 1-200 characters".into());
        }
        if !(1..=300).contains(&self.server.header_timeout_secs) {
            return bad("server.header_timeout_secs must be between 1 and 300".into());
        }
        if !(1..=64).contains(&self.database.max_connections) {
            return bad("database.max_connections must be between 1 and 64".into());
        }
        if !(1..=60_000).contains(&self.database.busy_timeout_ms) {
            return bad("database.busy_timeout_ms must be between 1 and 60000".into());
        }
        if self.database.decision_cache > 16_777_216 {
            return bad("database.decision_cache must be at most 16777216 entries (0 turns it off)".into());
        }
        if self.database.max_pages.is_some_and(|p| p < 64) {
            return bad("database.max_pages must be at least 64 (the schema alone needs more)".into());
        }
        if let Some(t) = self
            .consent_mode
            .mapping
            .values()
            .flatten()
            .chain(&self.consent_mode.always_granted)
            .find(|t| !CONSENT_TYPES.contains(&t.as_str()))
        {
            return bad(format!(
                "consent_mode: {t:?} is not a Consent Mode v2 type ({})",
                CONSENT_TYPES.join(", ")
            ));
        }
        self.rules.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }
}

/// An allowed origin, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPattern {
    Any,
    /// `scheme://host` with an exact port (or none) or any port.
    Exact(String),
    AnyPort {
        prefix: String,
    },
}

impl OriginPattern {
    pub fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Self::Any);
        }
        let (scheme, rest) = s.split_once("://")?;
        if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
            return None;
        }
        match rest.strip_suffix(":*") {
            Some(host) if !host.is_empty() => Some(Self::AnyPort { prefix: format!("{scheme}://{host}") }),
            Some(_) => None,
            None => Some(Self::Exact(s.to_owned())),
        }
    }

    pub fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(o) => o.eq_ignore_ascii_case(origin),
            Self::AnyPort { prefix } => {
                origin.len() > prefix.len()
                    && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && origin[prefix.len()..].strip_prefix(':').is_some_and(|p| {
                        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_patterns() {
        let p = OriginPattern::parse("http://localhost:*").expect("valid");
        assert!(p.matches("http://localhost:8080"));
        assert!(!p.matches("http://localhost"));
        assert!(!p.matches("http://localhost.evil.com:80"));
        assert!(!p.matches("http://localhost:80x"));
        let e = OriginPattern::parse("https://www.example.com").expect("valid");
        assert!(e.matches("https://www.example.com"));
        assert!(!e.matches("https://www.example.com.evil.com"));
        assert!(OriginPattern::parse("ftp://x").is_none());
        assert!(OriginPattern::parse("https://x/path").is_none());
    }

    #[test]
    fn defaults_are_valid_and_toml_overrides_them() {
        Config::default().validate().expect("defaults valid");
        let c: Config = toml::from_str("[consent]\nconsent_days = 30\n").expect("parses");
        assert_eq!(c.consent.consent_days, 30);
        assert_eq!(c.consent.refusal_days, 182);
        assert!(toml::from_str::<Config>("[consent]\nbogus = 1\n").is_err());
    }
}

#[cfg(test)]
mod example_file {
    #[test]
    fn the_example_config_in_the_repository_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../accord.example.toml");
        let config = super::Config::from_file(&path).expect("example parses");
        config.validate().expect("example is valid");
        assert_eq!(config.consent.refusal_days, 182);
        // The example documents the shipped rules exactly (same rules → same rule version).
        let shipped = crate::rules::Rules::new(crate::rules::RulesConfig::default());
        assert_eq!(crate::rules::Rules::new(config.rules).version(), shipped.version());
    }
}
