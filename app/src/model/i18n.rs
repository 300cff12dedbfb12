//! Message catalogs: every visible text comes from here so languages are data, not code.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub language: String,
    #[serde(default)]
    pub rtl: bool,
    pub messages: BTreeMap<String, String>,
}

impl Catalog {
    /// The message for `key`; the key itself when missing, so a gap is visible, not fatal.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages.get(key).map(String::as_str).unwrap_or(key)
    }

    pub fn dir(&self) -> &'static str {
        if self.rtl {
            "rtl"
        } else {
            "ltr"
        }
    }
}
