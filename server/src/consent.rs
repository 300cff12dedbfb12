//! Turning a visitor's choice into an append-only record, and a record into the answers the
//! API gives. Pure functions over the published content; no I/O.

use crate::error::ApiError;
use crate::ledger::{LatestDecision, NewRecord, Record};
use app::model::consent::is_policy_version;
use app::model::{Action, ConsentCookie, Jurisdiction, SiteContent, Source, VisitorId};
use serde::Serialize;

pub const MAX_CATEGORIES: usize = 32;
pub const MAX_PAGE_LEN: usize = 512;
pub const MAX_LANGUAGE_LEN: usize = 35;

/// A new visitor id, issued on a visitor's first recorded choice: the issue time in
/// milliseconds (48 bits, big-endian) followed by 80 random bits, the layout of a UUIDv7.
/// Still random and never derived from personal data; the time is the one the consent cookie
/// carries anyway (`decided_at`). The id is also the cookie holder's only credential for
/// downloading or erasing their history (`http::rights`): 80 bits from the thread's CSPRNG
/// leave 2^80 guesses per millisecond (OWASP asks 64 bits of entropy of a session id). Ids in
/// issue order
/// sort in time order, so a new visitor's record joins the visitor index at its right edge,
/// next to the records just before it: a group commit then dirties one or two index pages
/// instead of one per record (random ids put nearly every record in a different leaf, and
/// those page writes were most of the writer's work).
pub fn issue_visitor_id(now_ms: i64) -> VisitorId {
    let mut id: [u8; 16] = rand::random();
    let ms = u64::try_from(now_ms).unwrap_or(0).to_be_bytes();
    id[..6].copy_from_slice(&ms[2..]);
    VisitorId(id)
}

/// `^[a-z0-9][a-z0-9._-]{0,63}$`
pub fn is_site_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// A BCP 47-ish language tag: `xx`, `xxx`, `xx-YY`, `zh-Hant-TW` …
pub fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && s.len() <= MAX_LANGUAGE_LEN
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// A choice as received, before it is checked against the published content.
#[derive(Clone, Debug)]
pub struct Choice {
    pub site: String,
    pub visitor_id: Option<VisitorId>,
    pub action: Action,
    pub granted: Option<Vec<String>>,
    pub denied: Option<Vec<String>>,
    pub source: Source,
    pub policy_version: String,
    pub language: String,
    pub page: String,
    /// The browser reported `navigator.globalPrivacyControl` (or the request sent `Sec-GPC: 1`).
    pub gpc_signal: bool,
}

/// Connection facts already reduced for storage.
#[derive(Clone, Debug, Default)]
pub struct ClientFacts {
    pub ip_reduced: Option<String>,
    pub ua_family: String,
}

/// Checks a choice against the current content and the visitor's jurisdiction and produces
/// the record to append. Under Global Privacy Control (signalled and binding there) the
/// sale/sharing categories end up denied whatever was clicked.
pub fn to_record(
    choice: Choice,
    content: &SiteContent,
    jurisdiction: &Jurisdiction,
    client: ClientFacts,
    now_ms: i64,
) -> Result<NewRecord, ApiError> {
    if !content.valid_policy_versions.contains(&choice.policy_version) {
        return Err(ApiError::conflict(
            "stale_policy_version",
            format!(
                "policy_version {:?} is not the current version {:?}; fetch /api/v1/config and ask again",
                choice.policy_version, content.policy.version
            ),
        ));
    }
    let known = |k: &str| content.category(k).is_some();
    let allowed = || content.categories.iter().map(|c| c.key.as_str()).collect::<Vec<_>>().join(", ");
    for list in [&choice.granted, &choice.denied].into_iter().flatten() {
        if list.len() > MAX_CATEGORIES {
            return Err(ApiError::unprocessable(
                "too_many_categories",
                format!("at most {MAX_CATEGORIES} categories may be listed, got {}", list.len()),
            ));
        }
        if let Some(bad) = list.iter().find(|k| !known(k)) {
            return Err(ApiError::unprocessable(
                "unknown_category",
                format!("unknown category {bad:?}; allowed: {}", allowed()),
            ));
        }
    }
    let optional: Vec<&str> = content.optional_categories().map(|c| c.key.as_str()).collect();
    let asked: Vec<&str> =
        choice.granted.iter().flatten().map(String::as_str).filter(|k| optional.contains(k)).collect();
    let gpc_applied = choice.gpc_signal && jurisdiction.gpc;
    let mut granted_optional: Vec<&str> = match choice.action {
        Action::AcceptAll => {
            // Under GPC a client may already leave the sale categories out of "everything".
            let everything = optional
                .iter()
                .filter(|k| !(gpc_applied && jurisdiction.sale_categories.iter().any(|s| s == *k)))
                .count();
            if choice.granted.is_some() && asked.len() != optional.len() && asked.len() != everything {
                return Err(ApiError::unprocessable(
                    "inconsistent_choice",
                    "action accept_all grants every category; omit `granted` or list them all",
                ));
            }
            optional.clone()
        }
        Action::RejectAll | Action::Withdraw => {
            if !asked.is_empty() {
                return Err(ApiError::unprocessable(
                    "inconsistent_choice",
                    format!(
                        "action {} grants no optional category; `granted` must be empty",
                        choice.action.as_str()
                    ),
                ));
            }
            Vec::new()
        }
        Action::Custom => {
            if choice.granted.is_none() {
                return Err(ApiError::unprocessable(
                    "missing_field",
                    "action custom requires `granted`: the list of granted categories (may be empty)",
                ));
            }
            optional.iter().copied().filter(|k| asked.contains(k)).collect()
        }
        Action::Gpc => {
            if !jurisdiction.gpc {
                return Err(ApiError::unprocessable(
                    "gpc_not_applicable",
                    format!(
                        "Global Privacy Control is not binding in jurisdiction {:?}; record the visitor's choice instead",
                        jurisdiction.id
                    ),
                ));
            }
            if !choice.gpc_signal {
                return Err(ApiError::unprocessable(
                    "missing_gpc_signal",
                    "action gpc requires \"gpc\": true in the body or a Sec-GPC: 1 header",
                ));
            }
            optional.iter().copied().filter(|k| jurisdiction.defaults.iter().any(|d| d == k)).collect()
        }
    };
    if gpc_applied {
        granted_optional.retain(|k| !jurisdiction.sale_categories.iter().any(|s| s == k));
    }
    if let Some(denied) = &choice.denied {
        if let Some(both) = denied.iter().find(|d| granted_optional.contains(&d.as_str())) {
            return Err(ApiError::unprocessable(
                "inconsistent_choice",
                format!("category {both:?} cannot be both granted and denied"),
            ));
        }
        if let Some(req) = denied.iter().find(|d| content.category(d).is_some_and(|c| c.required)) {
            return Err(ApiError::unprocessable(
                "inconsistent_choice",
                format!("category {req:?} is strictly necessary and cannot be denied"),
            ));
        }
    }
    let granted: Vec<String> = content
        .categories
        .iter()
        .filter(|c| c.required || granted_optional.contains(&c.key.as_str()))
        .map(|c| c.key.clone())
        .collect();
    let denied: Vec<String> =
        optional.iter().filter(|k| !granted_optional.contains(k)).map(|k| (*k).to_owned()).collect();
    let lifetime_days =
        if granted_optional.is_empty() { jurisdiction.refusal_days } else { jurisdiction.consent_days };
    Ok(NewRecord {
        visitor_id: choice.visitor_id.unwrap_or_else(|| issue_visitor_id(now_ms)),
        site: choice.site,
        action: choice.action,
        source: choice.source,
        granted,
        denied,
        policy_version: choice.policy_version,
        registry_version: content.registry_version.clone(),
        language: choice.language,
        page: choice.page,
        ip_reduced: client.ip_reduced,
        ua_family: client.ua_family,
        recorded_at_ms: now_ms,
        region: jurisdiction.region.clone(),
        jurisdiction: jurisdiction.id.clone(),
        rule_version: jurisdiction.rule_version.clone(),
        gpc_applied,
        expires_at_ms: now_ms.saturating_add(i64::from(lifetime_days) * 86_400_000),
    })
}

/// Normalizes a page reference to its path: query strings and fragments may carry personal
/// data (emails, tokens) and are never stored.
pub fn page_path(page: &str) -> Result<String, ApiError> {
    let path = page.split(['?', '#']).next().unwrap_or_default();
    if path.is_empty() {
        return Ok("/".to_owned());
    }
    if !path.starts_with('/') || path.len() > MAX_PAGE_LEN || path.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_page",
            format!("page must be a path starting with '/', at most {MAX_PAGE_LEN} characters, no control characters"),
        ));
    }
    Ok(path.to_owned())
}

pub fn check_policy_version(v: &str) -> Result<(), ApiError> {
    if is_policy_version(v) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_policy_version",
            "policy_version must match [A-Za-z0-9._-]{1,32}",
        ))
    }
}

/// The browser-side form of a record (cookie format v1).
pub fn cookie_for(record: &NewRecord, content: &SiteContent) -> ConsentCookie {
    ConsentCookie {
        visitor_id: record.visitor_id,
        decided_at: record.recorded_at_ms.div_euclid(1000),
        policy_version: record.policy_version.clone(),
        granted: record
            .granted
            .iter()
            .filter(|k| content.category(k).is_some_and(|c| !c.required))
            .cloned()
            .collect(),
    }
}

pub fn cookie_max_age_secs(record: &NewRecord) -> i64 {
    (record.expires_at_ms - record.recorded_at_ms).max(0) / 1000
}

/// A record as the API returns it, borrowed from the record (built for every consent).
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct RecordView<'a> {
    pub record_id: i64,
    pub visitor_id: String,
    pub site: &'a str,
    pub action: Action,
    pub source: Source,
    pub granted: &'a [String],
    pub denied: &'a [String],
    pub policy_version: &'a str,
    pub registry_version: &'a str,
    pub language: &'a str,
    pub page: &'a str,
    pub ip_network: Option<&'a str>,
    pub ua_family: &'a str,
    pub recorded_at: String,
    pub expires_at: String,
    pub region: Option<&'a str>,
    pub jurisdiction: &'a str,
    pub rule_version: &'a str,
    pub gpc_applied: bool,
    pub cookie: String,
}

impl RecordView<'_> {
    /// The same JSON as its `Serialize` (a test compares them), written by hand: every
    /// recorded consent is answered with one.
    pub fn to_json(&self) -> Vec<u8> {
        use crate::key;
        let mut buf = Vec::with_capacity(768);
        let mut o = crate::http::respond::ObjectWriter::new(&mut buf);
        o.int(key!("record_id"), self.record_id);
        o.str(key!("visitor_id"), &self.visitor_id);
        o.str(key!("site"), self.site);
        o.str(key!("action"), self.action.as_str());
        o.str(key!("source"), self.source.as_str());
        o.str_list(key!("granted"), self.granted);
        o.str_list(key!("denied"), self.denied);
        o.str(key!("policy_version"), self.policy_version);
        o.str(key!("registry_version"), self.registry_version);
        o.str(key!("language"), self.language);
        o.str(key!("page"), self.page);
        o.opt_str(key!("ip_network"), self.ip_network);
        o.str(key!("ua_family"), self.ua_family);
        o.str(key!("recorded_at"), &self.recorded_at);
        o.str(key!("expires_at"), &self.expires_at);
        o.opt_str(key!("region"), self.region);
        o.str(key!("jurisdiction"), self.jurisdiction);
        o.str(key!("rule_version"), self.rule_version);
        o.bool(key!("gpc_applied"), self.gpc_applied);
        o.str(key!("cookie"), &self.cookie);
        o.end();
        buf
    }
}

impl<'a> RecordView<'a> {
    pub fn new(record: &'a Record, content: &SiteContent) -> Self {
        let d = &record.data;
        Self {
            record_id: record.id,
            visitor_id: d.visitor_id.hex_string(),
            site: &d.site,
            action: d.action,
            source: d.source,
            granted: &d.granted,
            denied: &d.denied,
            policy_version: &d.policy_version,
            registry_version: &d.registry_version,
            language: &d.language,
            page: &d.page,
            ip_network: d.ip_reduced.as_deref(),
            ua_family: &d.ua_family,
            recorded_at: crate::records::rfc3339(d.recorded_at_ms),
            expires_at: crate::records::rfc3339(d.expires_at_ms),
            region: d.region.as_deref(),
            jurisdiction: &d.jurisdiction,
            rule_version: &d.rule_version,
            gpc_applied: d.gpc_applied,
            cookie: cookie_for(d, content).value(),
        }
    }
}

/// "May I load X for this visitor?" — the decision a marketing backend asks for. Borrows
/// from the decision and the content: it is built and serialized on every page view.
#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct DecisionView<'a> {
    pub visitor_id: String,
    pub site: &'a str,
    pub decided: bool,
    /// A decision exists, was made under the current policy version and has not expired.
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_version: Option<&'a str>,
    pub gpc_applied: bool,
    pub current_policy_version: &'a str,
    /// Effective permission per category: the valid decision's; without one, the defaults of
    /// the jurisdiction the caller named (nothing optional when none was named).
    #[schema(value_type = std::collections::BTreeMap<String, bool>)]
    #[serde(serialize_with = "sorted_map")]
    pub categories: Vec<(&'a str, bool)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
}

impl DecisionView<'_> {
    /// The same JSON as its `Serialize` (a test compares them), written by hand: this is the
    /// answer to every page view's "may I load analytics?".
    pub fn to_json(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(640);
        let mut o = crate::http::respond::ObjectWriter::new(&mut buf);
        o.str(crate::key!("visitor_id"), &self.visitor_id);
        o.str(crate::key!("site"), self.site);
        o.bool(crate::key!("decided"), self.decided);
        o.bool(crate::key!("valid"), self.valid);
        if let Some(id) = self.record_id {
            o.int(crate::key!("record_id"), id);
        }
        if let Some(a) = self.action {
            o.str(crate::key!("action"), a.as_str());
        }
        let optional = [
            (crate::key!("policy_version"), self.policy_version),
            (crate::key!("recorded_at"), self.recorded_at.as_deref()),
            (crate::key!("expires_at"), self.expires_at.as_deref()),
            (crate::key!("jurisdiction"), self.jurisdiction),
            (crate::key!("region"), self.region),
            (crate::key!("rule_version"), self.rule_version),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                o.str(k, v);
            }
        }
        o.bool(crate::key!("gpc_applied"), self.gpc_applied);
        o.str(crate::key!("current_policy_version"), self.current_policy_version);
        let mut categories = o.object(crate::key!("categories"));
        for (k, on) in &self.categories {
            categories.bool_named(k, *on);
        }
        categories.end();
        if let Some(a) = self.allowed {
            o.bool(crate::key!("allowed"), a);
        }
        o.end();
        buf
    }
}

/// A JSON object from pairs in key order (as a BTreeMap would write it), without the map.
fn sorted_map<S: serde::Serializer>(pairs: &[(&str, bool)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl<'a> DecisionView<'a> {
    /// `fallback` is the jurisdiction (and GPC signal) of a visitor without a valid decision.
    pub fn new(
        visitor: VisitorId,
        site: &'a str,
        latest: Option<&'a LatestDecision>,
        content: &'a SiteContent,
        now_ms: i64,
        category: Option<&str>,
        fallback: (&Jurisdiction, bool),
    ) -> Self {
        let terms = latest.map(|r| &*r.terms);
        let valid_record = latest.filter(|r| {
            content.valid_policy_versions.contains(&r.terms.policy_version) && now_ms < r.expires_at_ms
        });
        let (j, gpc_signal) = fallback;
        let sale_off = |k: &String| gpc_signal && j.gpc && j.sale_categories.contains(k);
        let mut categories: Vec<(&str, bool)> = content
            .categories
            .iter()
            .map(|c| {
                let on = match valid_record {
                    Some(r) => r.terms.granted.contains(&c.key),
                    None => j.defaults.contains(&c.key) && !sale_off(&c.key),
                };
                (c.key.as_str(), c.required || on)
            })
            .collect();
        categories.sort_unstable_by(|a, b| a.0.cmp(b.0));
        categories.dedup_by(|a, b| a.0 == b.0);
        let allowed = category.map(|k| categories.iter().find(|(c, _)| *c == k).is_some_and(|(_, on)| *on));
        Self {
            visitor_id: visitor.hex_string(),
            site,
            decided: latest.is_some(),
            valid: valid_record.is_some(),
            record_id: latest.map(|r| r.id),
            action: terms.map(|t| t.action),
            policy_version: terms.map(|t| t.policy_version.as_str()),
            recorded_at: latest.map(|r| crate::records::rfc3339(r.recorded_at_ms)),
            expires_at: latest.map(|r| crate::records::rfc3339(r.expires_at_ms)),
            jurisdiction: terms.map(|t| t.jurisdiction.as_str()),
            region: terms.and_then(|t| t.region.as_deref()),
            rule_version: terms.map(|t| t.rule_version.as_str()),
            gpc_applied: terms.is_some_and(|t| t.gpc_applied),
            current_policy_version: &content.policy.version,
            categories,
            allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_visitor_ids_sort_in_time_order_and_stay_random() {
        let t = 1_764_979_200_123_i64; // 2025-12-06T00:00:00.123Z
        let a = issue_visitor_id(t);
        let b = issue_visitor_id(t);
        let later = issue_visitor_id(t + 1);
        assert_eq!(a.as_bytes()[..6], b.as_bytes()[..6], "the first 48 bits are the time");
        assert_eq!(u64::from_be_bytes([0, 0, a.0[0], a.0[1], a.0[2], a.0[3], a.0[4], a.0[5]]), t as u64);
        assert_ne!(a.as_bytes()[6..], b.as_bytes()[6..], "the other 80 bits are random");
        assert!(a.as_bytes() < later.as_bytes() && b.as_bytes() < later.as_bytes());
        // The canonical text form sorts the same way (the index orders the 16 bytes).
        assert!(a.to_string() < later.to_string());
        assert!(VisitorId::parse(&a.to_string()) == Some(a));
    }

    fn test_content() -> SiteContent {
        serde_json::from_value(serde_json::json!({
            "policy": {"version": "2023-07-05", "effective_date": "2023-07-05", "title": "P", "content_hash": "h",
                       "html": "", "toc": [], "changelog": []},
            "registry_version": "2023-07-05",
            "valid_policy_versions": ["2023-07-05"],
            "categories": [
                {"key": "necessary", "name": "N", "description": "", "required": true},
                {"key": "marketing", "name": "M", "description": ""},
                {"key": "analytics", "name": "A", "description": ""},
            ],
            "cookies": [],
            "responsibility": {"title": "R", "intro": "", "areas": []},
            "consent": {"cookie_name": "accord_consent"},
        }))
        .expect("content")
    }

    #[test]
    fn record_json_by_hand_equals_serde() {
        let content = test_content();
        let mut data = NewRecord {
            visitor_id: VisitorId([7; 16]),
            site: "shop".into(),
            action: Action::Custom,
            source: Source::Banner,
            granted: vec!["necessary".into(), "analytics".into()],
            denied: vec!["marketing".into()],
            policy_version: "2023-07-05".into(),
            registry_version: "2023-07-05".into(),
            language: "de".into(),
            page: "/a \"b\"\\c".into(),
            ip_reduced: Some("203.0.113.0/24".into()),
            ua_family: "firefox".into(),
            recorded_at_ms: 1_700_000_000_123,
            region: Some("DE".into()),
            jurisdiction: "gdpr".into(),
            rule_version: "1".into(),
            gpc_applied: false,
            expires_at_ms: 1_800_000_000_000,
        };
        for round in 0..2 {
            if round == 1 {
                (data.ip_reduced, data.region, data.granted, data.denied) = (None, None, vec![], vec![]);
                data.action = Action::RejectAll;
            }
            let record = Record { id: 9, data: data.clone() };
            let view = RecordView::new(&record, &content);
            assert_eq!(
                String::from_utf8(view.to_json()).expect("utf-8"),
                serde_json::to_string(&view).expect("serde"),
                "round {round}"
            );
        }
    }

    #[test]
    fn decision_json_by_hand_equals_serde() {
        let content = test_content();
        let terms = std::sync::Arc::new(crate::ledger::DecisionTerms {
            action: Action::Custom,
            granted: vec!["necessary".into(), "analytics".into()],
            policy_version: content.policy.version.clone(),
            jurisdiction: "gdpr".into(),
            region: Some("DE".into()),
            rule_version: "2026-01 \"quoted\"".into(),
            gpc_applied: true,
        });
        let d = LatestDecision {
            id: 42,
            recorded_at_ms: 1_700_000_000_123,
            expires_at_ms: 4_000_000_000_000,
            terms,
        };
        let j: Jurisdiction = serde_json::from_value(serde_json::json!({
            "id": "us-privacy", "model": "opt_out", "region": "US-CA", "rule_version": "1", "gpc": true,
            "defaults": ["analytics", "marketing"], "sale_categories": ["marketing"],
            "consent_days": 365, "refusal_days": 182,
        }))
        .expect("jurisdiction");
        let v = VisitorId([0xab; 16]);
        for latest in [None, Some(&d)] {
            for category in [None, Some("analytics"), Some("nope")] {
                let view =
                    DecisionView::new(v, "shop", latest, &content, 1_700_000_000_000, category, (&j, true));
                assert_eq!(
                    String::from_utf8(view.to_json()).expect("utf-8"),
                    serde_json::to_string(&view).expect("serde"),
                    "latest {latest:?}, category {category:?}"
                );
            }
        }
    }

    #[test]
    fn identifiers_and_tags() {
        assert!(is_site_id("default"));
        assert!(is_site_id("shop.example-1"));
        assert!(!is_site_id("Default"));
        assert!(!is_site_id(""));
        assert!(!is_site_id(&"a".repeat(65)));
        assert!(is_language_tag("en"));
        assert!(is_language_tag("pt-BR"));
        assert!(is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("english!"));
        assert!(!is_language_tag("e"));
    }

    #[test]
    fn pages_keep_only_the_path() {
        assert_eq!(page_path("/pricing?email=a@b.c#x").expect("ok"), "/pricing");
        assert_eq!(page_path("").expect("ok"), "/");
        assert!(page_path("https://evil/").is_err());
        assert!(page_path("/a\u{0}b").is_err());
    }
}
