//! Where the visitor is. Precedence: test override (only when enabled) → trusted CDN header
//! → GeoIP database → unknown. "Unknown" resolves to the strictest rule downstream.

mod client_ip;
mod db;

pub use client_ip::client_ip;
pub use db::GeoDb;

use crate::config::GeoConfig;
use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// A visitor's location, as precise as the sources allow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// ISO 3166-2 subdivision without the country prefix (`CA` for California).
    pub subdivision: Option<String>,
    pub source: LocationSource,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationSource {
    Override,
    Header,
    Database,
    #[default]
    Unknown,
}

impl Location {
    /// `US-CA`, `DE`, or `None` when the country is unknown.
    pub fn region(&self) -> Option<String> {
        let country = self.country.as_ref()?;
        Some(match &self.subdivision {
            Some(s) => format!("{country}-{s}"),
            None => country.clone(),
        })
    }

    /// Parses `DE` or `US-CA` (case-insensitive) into a location.
    pub fn parse_region(s: &str, source: LocationSource) -> Option<Self> {
        let s = s.trim().to_ascii_uppercase();
        let (country, sub) = match s.split_once('-') {
            Some((c, r)) => (c.to_owned(), Some(r.to_owned())),
            None => (s, None),
        };
        if !is_country(&country) || sub.as_deref().is_some_and(|r| !is_subdivision(r)) {
            return None;
        }
        Some(Self { country: Some(country), subdivision: sub, source })
    }
}

pub fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

pub fn is_subdivision(s: &str) -> bool {
    (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// CDNs whose country headers can be trusted (from trusted proxies only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cdn {
    Cloudflare,
    Cloudfront,
    Vercel,
}

impl Cdn {
    fn headers(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Cloudflare => ("cf-ipcountry", None),
            Self::Cloudfront => ("cloudfront-viewer-country", Some("cloudfront-viewer-country-region")),
            Self::Vercel => ("x-vercel-ip-country", Some("x-vercel-ip-country-region")),
        }
    }
}

/// The configured location sources.
pub struct Geo {
    db: Option<GeoDb>,
    trusted_proxies: Vec<IpNet>,
    cdns: Vec<Cdn>,
    allow_override: bool,
}

impl Geo {
    pub fn new(config: &GeoConfig) -> Self {
        let db = config.database.as_ref().and_then(|path| match GeoDb::open(path) {
            Ok(db) => Some(db),
            Err(e) => {
                // Consent collection must not stop because of a GeoIP file: run without it
                // (visitors then get the strictest rule) and say so loudly.
                tracing::error!(path = %path.display(), error = %e, "GeoIP database unusable; every visitor gets the strictest rule");
                GeoDb::open_later(path)
            }
        });
        Self {
            db,
            trusted_proxies: config.trusted_proxies.clone(),
            cdns: config.country_headers.clone(),
            allow_override: config.allow_override,
        }
    }

    pub fn database(&self) -> Option<&GeoDb> {
        self.db.as_ref()
    }

    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
    /// untrusted hop named in `Forwarded` / `X-Forwarded-For`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }

    /// Locates the client. `override_region` is the test override (`?region=US-CA`), honoured
    /// only when `geo.allow_override` is on.
    pub fn locate(
        &self,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        override_region: Option<&str>,
    ) -> Location {
        if self.allow_override {
            if let Some(loc) =
                override_region.and_then(|r| Location::parse_region(r, LocationSource::Override))
            {
                return loc;
            }
        }
        let via_trusted = peer.is_some_and(|p| self.is_trusted_proxy(p));
        if via_trusted {
            if let Some(loc) = self.location_from_headers(headers) {
                return loc;
            }
        }
        let ip = peer.map(|p| self.client_ip(p, headers));
        if let (Some(db), Some(ip)) = (&self.db, ip) {
            if let Some(loc) = db.lookup(ip) {
                return loc;
            }
        }
        Location::default()
    }

    fn location_from_headers(&self, headers: &HeaderMap) -> Option<Location> {
        self.cdns.iter().find_map(|cdn| {
            let (country_h, region_h) = cdn.headers();
            let country = headers.get(country_h)?.to_str().ok()?.trim().to_ascii_uppercase();
            // XX = unknown, T1 = Tor (Cloudflare): not a country.
            if !is_country(&country) || country == "XX" || country == "T1" {
                return None;
            }
            let subdivision = region_h
                .and_then(|h| headers.get(h))
                .and_then(|v| v.to_str().ok())
                .map(|r| r.trim().to_ascii_uppercase())
                .filter(|r| is_subdivision(r));
            Some(Location { country: Some(country), subdivision, source: LocationSource::Header })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(trusted: &[&str], cdns: Vec<Cdn>, allow_override: bool) -> Geo {
        Geo {
            db: None,
            trusted_proxies: trusted.iter().map(|n| n.parse().expect("net")).collect(),
            cdns,
            allow_override,
        }
    }

    #[test]
    fn cdn_headers_count_only_from_trusted_proxies() {
        let g = geo(&["10.0.0.0/8"], vec![Cdn::Cloudfront, Cdn::Cloudflare], false);
        let mut h = HeaderMap::new();
        h.insert("cloudfront-viewer-country", "us".parse().expect("hv"));
        h.insert("cloudfront-viewer-country-region", "CA".parse().expect("hv"));
        let trusted = g.locate(Some("10.1.2.3".parse().expect("ip")), &h, None);
        assert_eq!(trusted.region().as_deref(), Some("US-CA"));
        assert_eq!(trusted.source, LocationSource::Header);
        let direct = g.locate(Some("198.51.100.1".parse().expect("ip")), &h, None);
        assert_eq!(direct, Location::default(), "a client cannot claim its own country");
        let mut tor = HeaderMap::new();
        tor.insert("cf-ipcountry", "T1".parse().expect("hv"));
        assert_eq!(g.locate(Some("10.0.0.1".parse().expect("ip")), &tor, None).country, None);
    }

    #[test]
    fn override_needs_to_be_enabled() {
        let h = HeaderMap::new();
        assert_eq!(geo(&[], vec![], false).locate(None, &h, Some("DE")).country, None);
        let on = geo(&[], vec![], true).locate(None, &h, Some("us-tx"));
        assert_eq!(on.region().as_deref(), Some("US-TX"));
        assert_eq!(geo(&[], vec![], true).locate(None, &h, Some("../etc")).country, None);
    }
}
