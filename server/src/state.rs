//! State shared by all handlers.

use crate::config::Config;
use crate::ledger::Ledger;
use app::model::SiteContent;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::{Arc, RwLock};

/// Cloned for every middleware layer of every request, so it is one `Arc` (a single
/// reference-count increment) rather than a dozen fields with owned strings.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The same state over another ledger (tests use it to share an engine they also hold).
    pub fn with_ledger(self, ledger: Arc<dyn Ledger>) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.ledger = ledger;
        Self::new(shared)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// leptos_axum's file and error handlers take the options from the router state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Everything the handlers share; reached through [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub config: Arc<Config>,
    pub ledger: Arc<dyn Ledger>,
    pub content: ContentHandle,
    pub leptos_options: LeptosOptions,
    pub geo: Arc<crate::geo::Geo>,
    pub rules: Arc<crate::rules::Rules>,
    pub catalogs: Arc<crate::i18n::Catalogs>,
    /// One-time messages for the admin area (see `http::admin_ui`).
    pub flash: Arc<crate::http::admin_ui::FlashStore>,
    pub limits: Arc<crate::http::rate_limit::RateLimits>,
    /// The API's CORS answers for the configured sites' origins.
    pub cors: Arc<crate::http::cors::Cors>,
    /// Rendered `/api/v1/config` answers for the current content.
    pub config_cache: Arc<crate::http::api::ConfigCache>,
}

/// The currently published content. Swapped whole when a new version is published, so a
/// request always sees one consistent snapshot.
#[derive(Clone)]
pub struct ContentHandle(Arc<RwLock<Arc<SiteContent>>>);

impl ContentHandle {
    pub fn new(content: SiteContent) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(content))))
    }

    pub fn current(&self) -> Arc<SiteContent> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, content: SiteContent) {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(content);
    }
}
