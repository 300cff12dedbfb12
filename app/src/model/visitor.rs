//! What the server worked out about the current request: language and the consent rule of
//! the visitor's jurisdiction. The server puts one [`RequestContext`] into each request's
//! extensions; pages and handlers read it from there.

use super::i18n::Catalog;
use super::SiteContent;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How consent works where the visitor is.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Nothing optional before a choice (GDPR, LGPD, Quebec Law 25 …).
    OptIn,
    /// Defaults run until the visitor opts out (US state privacy laws).
    OptOut,
    /// Defaults run; the banner informs.
    Notice,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptIn => "opt_in",
            Self::OptOut => "opt_out",
            Self::Notice => "notice",
        }
    }
}

/// The resolved rule for one visitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Jurisdiction {
    pub id: String,
    pub model: Model,
    /// `US-CA`, `DE`, or `None` when unknown.
    pub region: Option<String>,
    pub rule_version: String,
    /// Global Privacy Control is binding here.
    pub gpc: bool,
    /// Optional categories that count as granted before a choice (never for opt-in).
    pub defaults: Vec<String>,
    /// Categories that are a sale/sharing of personal data or targeted advertising.
    pub sale_categories: Vec<String>,
    pub consent_days: u32,
    pub refusal_days: u32,
}

#[derive(Clone, Debug)]
pub struct RequestContext {
    pub catalog: Arc<Catalog>,
    /// Codes of every shipped language, for the language switcher.
    pub languages: Arc<[String]>,
    pub jurisdiction: Jurisdiction,
    /// The request carried `Sec-GPC: 1`.
    pub gpc_signal: bool,
}

impl RequestContext {
    /// GPC is both signalled and binding: sale categories are off.
    pub fn gpc_applies(&self) -> bool {
        self.gpc_signal && self.jurisdiction.gpc
    }

    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.catalog.t(key)
    }

    /// A category's display name in the request's language (registry text as fallback).
    pub fn category_name(&self, content: &SiteContent, key: &str) -> String {
        let msg_key = format!("category.{key}.name");
        match self.catalog.messages.get(&msg_key) {
            Some(m) => m.clone(),
            None => content.category(key).map(|c| c.name.clone()).unwrap_or_else(|| key.to_owned()),
        }
    }

    pub fn category_description(&self, content: &SiteContent, key: &str) -> String {
        let msg_key = format!("category.{key}.description");
        match self.catalog.messages.get(&msg_key) {
            Some(m) => m.clone(),
            None => content.category(key).map(|c| c.description.clone()).unwrap_or_default(),
        }
    }
}
