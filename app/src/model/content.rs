//! The site's published content as the pages render it: policy, cookie registry,
//! responsibility matrix and consent settings. The server builds one snapshot per published
//! version and hands it to the app through context.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SiteContent {
    pub policy: PolicyView,
    pub registry_version: String,
    /// Policy versions consents may still refer to: the newest material one and every later,
    /// minor one. A decision under any other version is asked again.
    pub valid_policy_versions: Vec<String>,
    pub categories: Vec<Category>,
    pub cookies: Vec<CookieEntry>,
    pub responsibility: Responsibility,
    pub consent: ConsentSettings,
}

impl SiteContent {
    pub fn category(&self, key: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.key == key)
    }

    pub fn optional_categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| !c.required)
    }

    pub fn cookies_in<'a>(&'a self, category: &'a str) -> impl Iterator<Item = &'a CookieEntry> {
        self.cookies.iter().filter(move |c| c.category == category)
    }
}

/// A rendered, versioned privacy policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyView {
    pub version: String,
    pub effective_date: String,
    pub title: String,
    /// SHA-256 of the Markdown source, hex.
    pub content_hash: String,
    /// HTML rendered from the operator's Markdown (trusted content, raw HTML disabled).
    pub html: String,
    pub toc: Vec<TocEntry>,
    pub changelog: Vec<ChangelogEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TocEntry {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangelogEntry {
    pub version: String,
    pub date: String,
    #[serde(default)]
    pub material: bool,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub key: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieEntry {
    pub name: String,
    pub provider: String,
    #[serde(default)]
    pub service: String,
    pub category: String,
    pub purpose: String,
    pub lifetime: String,
    #[serde(default)]
    pub lifetime_days: Option<u32>,
    pub party: Party,
    #[serde(default)]
    pub source: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    First,
    Third,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Third => "third",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Responsibility {
    pub title: String,
    pub intro: String,
    pub areas: Vec<ResponsibilityArea>,
    #[serde(default)]
    pub duties: Vec<Duty>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResponsibilityArea {
    pub key: String,
    pub name: String,
    pub owner: Owner,
    #[serde(default)]
    pub provider: Vec<String>,
    #[serde(default)]
    pub customer: Vec<String>,
    #[serde(default)]
    pub shared: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    Provider,
    Customer,
    Shared,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Customer => "customer",
            Self::Shared => "shared",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Duty {
    pub party: Owner,
    pub items: Vec<String>,
}

/// Where decisions are kept in the browser (lifetimes depend on the jurisdiction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentSettings {
    pub cookie_name: String,
}
