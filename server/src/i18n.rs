//! Message catalogs compiled into the binary, and language negotiation: explicit `lang`
//! parameter → `Accept-Language` (by q-value) → English. Only the chosen catalog is sent.

use app::model::Catalog;
use std::collections::BTreeMap;
use std::sync::Arc;

macro_rules! catalogs {
    ($($code:literal),* $(,)?) => {
        &[$(($code, include_str!(concat!("../../public/locales/", $code, ".json")))),*]
    };
}

/// The 24 official EU languages and Arabic (right-to-left).
const SOURCES: &[(&str, &str)] = catalogs!(
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "it", "lt", "lv",
    "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
);

pub const DEFAULT_LANGUAGE: &str = "en";

#[derive(Debug, thiserror::Error)]
#[error("locales/{code}.json: {message}")]
pub struct CatalogError {
    code: &'static str,
    message: String,
}

pub struct Catalogs {
    by_code: BTreeMap<&'static str, Arc<Catalog>>,
    /// Shared by every request's context: built once, never copied per request.
    codes: Arc<[String]>,
}

impl Catalogs {
    /// Parses every shipped catalog. A catalog must declare its own code and carry every key
    /// of the English one, so no visitor ever sees a raw message key.
    pub fn load() -> Result<Self, CatalogError> {
        let mut by_code = BTreeMap::new();
        for (code, json) in SOURCES {
            let cat: Catalog =
                serde_json::from_str(json).map_err(|e| CatalogError { code, message: e.to_string() })?;
            if cat.language != *code {
                return Err(CatalogError { code, message: format!("declares language {:?}", cat.language) });
            }
            by_code.insert(*code, Arc::new(cat));
        }
        let en = by_code
            .get(DEFAULT_LANGUAGE)
            .cloned()
            .ok_or(CatalogError { code: "en", message: "missing".into() })?;
        for (code, cat) in &by_code {
            if let Some(missing) = en.messages.keys().find(|k| !cat.messages.contains_key(*k)) {
                return Err(CatalogError { code, message: format!("lacks the key {missing:?}") });
            }
        }
        let codes = by_code.keys().map(|c| (*c).to_owned()).collect();
        Ok(Self { by_code, codes })
    }

    pub fn codes(&self) -> Arc<[String]> {
        self.codes.clone()
    }

    pub fn get(&self, code: &str) -> Option<Arc<Catalog>> {
        self.by_code.get(code).cloned()
    }

    pub fn default_catalog(&self) -> Arc<Catalog> {
        self.by_code.get(DEFAULT_LANGUAGE).cloned().unwrap_or_default()
    }

    /// `pt-BR` → `pt`; `EN` → `en`.
    fn find(&self, tag: &str) -> Option<Arc<Catalog>> {
        let tag = tag.trim();
        let tag: std::borrow::Cow<'_, str> = if tag.bytes().any(|b| b.is_ascii_uppercase()) {
            tag.to_ascii_lowercase().into()
        } else {
            tag.into()
        };
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        self.get(&tag).or_else(|| self.get(primary))
    }

    /// The catalog for an explicit `lang`, else the best of `Accept-Language` (the highest
    /// `q`, the earliest among equals), else the default. One pass over the header without
    /// collecting or sorting it: every banner load negotiates.
    pub fn negotiate(&self, explicit: Option<&str>, accept_language: Option<&str>) -> Arc<Catalog> {
        if let Some(c) = explicit.and_then(|l| self.find(l)) {
            return c;
        }
        let mut best: Option<(f32, Arc<Catalog>)> = None;
        for part in accept_language.unwrap_or_default().split(',').take(32) {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default().trim();
            let q = match it.find_map(|p| p.trim().strip_prefix("q=")) {
                None => 1.0,
                Some(q) => match q.trim().parse::<f32>() {
                    Ok(q) => q,
                    Err(_) => continue,
                },
            };
            // Only a strictly better q can win: the earliest range keeps a tie. (`q > 0.0` is
            // false for NaN too.)
            let better = best.as_ref().is_none_or(|(b, _)| q > *b);
            if !(q > 0.0 && better) || tag.is_empty() || tag == "*" {
                continue;
            }
            if let Some(c) = self.find(tag) {
                best = Some((q, c));
            }
        }
        best.map_or_else(|| self.default_catalog(), |(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_catalogs_are_complete_and_arabic_is_rtl() {
        let c = Catalogs::load().expect("catalogs load");
        assert_eq!(c.codes().len(), 25);
        assert!(c.get("ar").expect("ar").rtl);
        assert!(!c.get("de").expect("de").rtl);
        assert_ne!(c.get("de").expect("de").t("banner.accept_all"), "Accept all");
    }

    #[test]
    fn negotiation_prefers_explicit_then_q_values() {
        let c = Catalogs::load().expect("catalogs load");
        assert_eq!(c.negotiate(Some("fr"), Some("de")).language, "fr");
        assert_eq!(c.negotiate(Some("xx"), Some("de-AT,de;q=0.9")).language, "de");
        assert_eq!(c.negotiate(None, Some("ja, pt-BR;q=0.8, de;q=0.9")).language, "de");
        assert_eq!(c.negotiate(None, Some("ja;q=1, *;q=0.5")).language, "en");
        assert_eq!(c.negotiate(None, Some("sv;q=0, da;q=0.1")).language, "da");
        assert_eq!(c.negotiate(None, Some("fr;q=NaN, de;q=0.5, nl;q=0.5")).language, "de");
        assert_eq!(c.negotiate(None, Some("FR-ca;q=0.7, xx, DE;q=x, it;q=0.8")).language, "it");
        assert_eq!(c.negotiate(None, Some("pt-BR;q=0.8")).language, "pt");
        assert_eq!(c.negotiate(None, None).language, "en");
    }
}
