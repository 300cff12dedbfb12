//! Per-IP and per-site rate limits on the public API and the public form posts, so one client
//! flooding cannot starve the others (GCRA token buckets from `governor`). Over the limit:
//! 429 with `Retry-After` and the usual JSON error.

use crate::config::{OriginPattern, RateLimitConfig, SiteConfig};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forget idle clients every this many checks, so the key maps stay bounded.
const SWEEP_EVERY: u64 = 10_000;

pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// One bucket per configured site, in the order of `config.sites`.
    per_site: Option<Vec<DefaultDirectRateLimiter>>,
    /// Each site's origin patterns, parsed once: the embed's POSTs name their site only by
    /// their `Origin`.
    origins: Vec<Vec<OriginPattern>>,
    checks: AtomicU64,
}

fn quota(per_second: u32, burst: u32) -> Option<Quota> {
    Some(Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?))
}

impl RateLimits {
    pub fn new(c: &RateLimitConfig, sites: &[SiteConfig]) -> Self {
        let on = |q: Option<Quota>| q.filter(|_| c.enabled);
        Self {
            origins: sites
                .iter()
                .map(|s| s.origins.iter().filter_map(|o| OriginPattern::parse(o)).collect())
                .collect(),
            per_ip: on(quota(c.per_ip_per_second, c.per_ip_burst)).map(RateLimiter::keyed),
            per_site: on(quota(c.per_site_per_second, c.per_site_burst))
                .map(|q| sites.iter().map(|_| RateLimiter::direct(q)).collect()),
            checks: AtomicU64::new(0),
        }
    }

    /// The parsed origin patterns of the configured site at `index` in `config.sites`.
    pub fn site_origins(&self, index: usize) -> &[OriginPattern] {
        self.origins.get(index).map_or(&[], Vec::as_slice)
    }

    /// Ok, or the seconds to wait. `site`: the index of a configured site.
    fn check(&self, ip: Option<IpAddr>, site: Option<usize>) -> Result<(), u32> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            if let Some(l) = &self.per_ip {
                l.retain_recent();
            }
        }
        let wait = |n: governor::NotUntil<_>| {
            let secs = n.wait_time_from(DefaultClock::default().now()).as_secs_f64().ceil();
            (secs as u32).max(1)
        };
        if let (Some(l), Some(ip)) = (&self.per_ip, ip) {
            l.check_key(&network(ip)).map_err(wait)?;
        }
        if let (Some(l), Some(site)) = (&self.per_site, site) {
            if let Some(l) = l.get(site) {
                l.check().map_err(wait)?;
            }
        }
        Ok(())
    }
}

/// IPv6 clients usually hold a whole /64: limit per /64, or rotating addresses would escape.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

/// Requests that count: the public API (admin calls are authenticated and audited) and the
/// public form posts.
fn limited(method: &Method, path: &str) -> bool {
    (path.starts_with("/api/") && !path.starts_with("/api/v1/admin"))
        || (*method == Method::POST && matches!(path, "/consent" | "/preferences/erase" | "/admin/sign-in"))
}

/// The configured site a request is for (its index): its `site` query parameter, else the
/// site whose origins match the `Origin` header (the embed's POSTs).
fn site_of(state: &AppState, req: &Request) -> Option<usize> {
    if let Some(q) = req.uri().query() {
        if let Some(v) = super::request::param(q, "site") {
            return state.config.sites.iter().position(|s| s.id == v);
        }
    }
    let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
    state.limits.origins.iter().position(|patterns| patterns.iter().any(|p| p.matches(origin)))
}

pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match refusal(&state, &req) {
        None => next.run(req).await,
        Some(refused) => refused,
    }
}

/// The 429 for a request over its client's or its site's limit; None when it may pass.
pub(crate) fn refusal(state: &AppState, req: &Request) -> Option<Response> {
    if !limited(req.method(), req.uri().path()) {
        return None;
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = peer.map(|p| state.geo.client_ip(p, req.headers()));
    let retry_after_secs = state.limits.check(ip, site_of(state, req)).err()?;
    Some(ApiError::TooManyRequests { retry_after_secs }.into_response())
}
