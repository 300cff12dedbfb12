//! Facts about the calling client, reduced for storage at the edge of the system.

use crate::consent::ClientFacts;
use crate::privacy::{reduce_ip, ua_family};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts};
use std::convert::Infallible;
use std::net::SocketAddr;

/// The reduced network and browser family of the caller (behind trusted proxies: of the
/// forwarded client). The raw address is dropped here.
pub struct Client(pub ClientFacts);

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip());
        let ip = peer.map(|p| state.geo.client_ip(p, &parts.headers));
        let ua = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(Self(ClientFacts { ip_reduced: ip.map(reduce_ip), ua_family: ua_family(ua).to_owned() }))
    }
}
