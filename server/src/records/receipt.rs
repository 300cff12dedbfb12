//! Consent receipts with the fields of ISO/IEC TS 27560 (consent record information
//! structure), built from one stored record.

use crate::ledger::StoredRecord;
use app::model::admin::{
    Receipt, ReceiptController, ReceiptJurisdiction, ReceiptMethod, ReceiptNotice, ReceiptPurpose,
    ReceiptValidity,
};
use app::model::{Action, SiteContent};

pub const SCHEMA_VERSION: &str = "accord-receipt/1";
pub const SCHEMA: &str = "ISO/IEC TS 27560:2023 consent record information structure";

/// What a receipt needs besides the record itself.
pub struct ReceiptContext<'a> {
    pub controller: &'a crate::config::ControllerConfig,
    pub public_url: String,
    pub content: &'a SiteContent,
    /// SHA-256 of the policy version the record refers to, if stored.
    pub policy_hash: Option<String>,
    /// A later record of the same visitor and site exists.
    pub superseded: bool,
    pub now_ms: i64,
}

fn describe(action: Action, source: &str) -> String {
    let what = match action {
        Action::AcceptAll => "explicit affirmative action: accepted all categories",
        Action::RejectAll => "explicit action: rejected all optional categories",
        Action::Custom => "explicit affirmative action: chose categories one by one",
        Action::Withdraw => "withdrawal of consent",
        Action::Gpc => "Global Privacy Control signal from the browser, honoured as an opt-out",
    };
    format!("{what} ({source})")
}

/// The record's state now: erased, superseded by a later choice, withdrawn, invalidated by a
/// material policy change, expired, or active.
pub fn state(r: &StoredRecord, cx: &ReceiptContext<'_>) -> &'static str {
    if r.erased_at_ms.is_some() {
        "erased"
    } else if cx.superseded {
        "superseded"
    } else if r.action == Action::Withdraw {
        "withdrawn"
    } else if !cx.content.valid_policy_versions.contains(&r.policy_version) {
        "invalidated"
    } else if r.expires_at_ms <= cx.now_ms {
        "expired"
    } else {
        "active"
    }
}

pub fn build(r: &StoredRecord, cx: &ReceiptContext<'_>) -> Receipt {
    let purpose = |key: &String, granted: bool| {
        let cat = cx.content.category(key);
        ReceiptPurpose {
            category: key.clone(),
            name: cat.map_or_else(|| key.clone(), |c| c.name.clone()),
            description: cat.map(|c| c.description.clone()).unwrap_or_default(),
            required: cat.is_some_and(|c| c.required),
            granted,
        }
    };
    let purposes = r
        .granted
        .iter()
        .map(|k| purpose(k, true))
        .chain(r.denied.iter().map(|k| purpose(k, false)))
        .collect();
    Receipt {
        schema_version: SCHEMA_VERSION.into(),
        schema: SCHEMA.into(),
        record_id: r.id,
        record_hash: r.hash.map(hex::encode).unwrap_or_default(),
        pii_principal_id: r.visitor_id.map(|v| v.to_string()),
        pii_controller: ReceiptController {
            name: cx.controller.name.clone(),
            contact: cx.controller.contact.clone(),
        },
        site: r.site.clone(),
        notice: ReceiptNotice {
            policy_version: r.policy_version.clone(),
            policy_hash: cx.policy_hash.clone(),
            policy_url: format!("{}/privacy", cx.public_url),
            registry_version: r.registry_version.clone(),
        },
        language: r.language.clone(),
        purposes,
        jurisdiction: ReceiptJurisdiction {
            rule: r.jurisdiction.clone(),
            rule_version: r.rule_version.clone(),
            region: r.region.clone(),
            gpc_applied: r.gpc_applied,
        },
        collection_method: ReceiptMethod {
            action: r.action.as_str().into(),
            source: r.source.as_str().into(),
            description: describe(r.action, r.source.as_str()),
            page: r.page.clone(),
        },
        timestamp: super::rfc3339(r.recorded_at_ms),
        validity: ReceiptValidity {
            valid_from: super::rfc3339(r.recorded_at_ms),
            valid_until: super::rfc3339(r.expires_at_ms),
        },
        state: state(r, cx).into(),
    }
}
