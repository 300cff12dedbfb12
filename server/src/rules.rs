//! Which consent rule applies where. Resolution: exact region (`US-CA`) → country (`US`,
//! also through groups such as `EU`) → the configured default; an unknown location gets the
//! strictest rule (`unknown`, opt-in by default).

use crate::geo::Location;
use app::model::{Jurisdiction, Model};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const EU: [&str; 27] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT",
    "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];
pub const EEA_EXTRA: [&str; 3] = ["IS", "LI", "NO"];

/// US states with comprehensive privacy laws and an opt-out of sale/sharing/targeted ads
/// (most of them honouring universal opt-out signals such as GPC).
pub const US_PRIVACY_STATES: [&str; 19] = [
    "US-CA", "US-CO", "US-CT", "US-VA", "US-UT", "US-TX", "US-OR", "US-MT", "US-DE", "US-NJ", "US-NH",
    "US-MD", "US-MN", "US-IA", "US-NE", "US-TN", "US-IN", "US-KY", "US-RI",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// Countries (`DE`), subdivisions (`US-CA`) or groups (`EU`, `EEA`).
    #[serde(default)]
    pub regions: Vec<String>,
    pub model: Model,
    #[serde(default = "default_consent_days")]
    pub consent_days: u32,
    #[serde(default = "default_refusal_days")]
    pub refusal_days: u32,
    /// Whether Global Privacy Control is binding here.
    #[serde(default)]
    pub gpc: bool,
    /// Optional categories on before a choice; must be empty for opt-in.
    #[serde(default)]
    pub defaults: Vec<String>,
    /// Categories that are a sale/sharing of data or targeted advertising.
    #[serde(default)]
    pub sale_categories: Vec<String>,
}

fn default_consent_days() -> u32 {
    365
}

fn default_refusal_days() -> u32 {
    182
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Stored on every record; defaults to a hash of the rules, so any edit is visible.
    pub version: Option<String>,
    /// Rule for locations no rule names.
    pub default: String,
    /// Rule for visitors whose location is unknown (no database, no trusted header).
    pub unknown: String,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        let all_optional =
            || ["functional", "analytics", "marketing", "session_recording"].map(String::from).to_vec();
        Self {
            version: None,
            default: "notice".into(),
            unknown: "gdpr".into(),
            rules: vec![
                Rule {
                    id: "gdpr".into(),
                    regions: ["EU", "EEA", "GB", "CH", "BR", "CA-QC"].map(String::from).to_vec(),
                    model: Model::OptIn,
                    consent_days: 365,
                    refusal_days: 182,
                    gpc: false,
                    defaults: vec![],
                    sale_categories: vec!["marketing".into()],
                },
                Rule {
                    id: "us-privacy".into(),
                    regions: US_PRIVACY_STATES.map(String::from).to_vec(),
                    model: Model::OptOut,
                    consent_days: 365,
                    refusal_days: 365,
                    gpc: true,
                    defaults: all_optional(),
                    sale_categories: vec!["marketing".into()],
                },
                Rule {
                    id: "notice".into(),
                    regions: vec![],
                    model: Model::Notice,
                    consent_days: 365,
                    refusal_days: 182,
                    gpc: false,
                    defaults: all_optional(),
                    sale_categories: vec!["marketing".into()],
                },
            ],
        }
    }
}

impl RulesConfig {
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = std::collections::HashSet::new();
        for r in &self.rules {
            if !ids.insert(r.id.as_str()) {
                return Err(format!("rules: rule {:?} is defined twice", r.id));
            }
            if r.model == Model::OptIn && !r.defaults.is_empty() {
                return Err(format!("rules: rule {:?} is opt-in, so `defaults` must be empty", r.id));
            }
            if r.consent_days == 0 || r.refusal_days == 0 {
                return Err(format!("rules: rule {:?} needs consent_days and refusal_days ≥ 1", r.id));
            }
            if let Some(bad) = r.regions.iter().find(|g| expand(g).is_none()) {
                return Err(format!("rules: region {bad:?} of rule {:?} is not a country (DE), subdivision (US-CA) or group (EU, EEA)", r.id));
            }
        }
        for (what, id) in [("default", &self.default), ("unknown", &self.unknown)] {
            if !ids.contains(id.as_str()) {
                return Err(format!("rules.{what} names {id:?}, which is not a rule"));
            }
        }
        Ok(())
    }
}

/// `EU` → its members; `DE`, `US-CA` → themselves; anything else → None.
fn expand(region: &str) -> Option<Vec<String>> {
    match region {
        "EU" => Some(EU.map(String::from).to_vec()),
        "EEA" => Some(EU.iter().chain(EEA_EXTRA.iter()).map(|s| (*s).to_owned()).collect()),
        r => Location::parse_region(r, crate::geo::LocationSource::Override)
            .and_then(|l| l.region())
            .map(|r| vec![r]),
    }
}

/// The compiled rule set.
pub struct Rules {
    config: RulesConfig,
    by_region: HashMap<String, usize>,
    version: String,
}

impl Rules {
    pub fn new(config: RulesConfig) -> Self {
        let mut by_region = HashMap::new();
        for (i, r) in config.rules.iter().enumerate() {
            for g in &r.regions {
                for region in expand(g).unwrap_or_default() {
                    by_region.entry(region).or_insert(i);
                }
            }
        }
        let version = config.version.clone().unwrap_or_else(|| {
            let json = serde_json::to_vec(&config.rules).unwrap_or_default();
            format!("r-{}", &crate::content::sha256_hex(&json)[..12])
        });
        Self { config, by_region, version }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    fn rule(&self, id: &str) -> &Rule {
        // validate() guarantees default/unknown exist; fall back to the first rule regardless.
        self.config.rules.iter().find(|r| r.id == id).unwrap_or(&self.config.rules[0])
    }

    pub fn rules(&self) -> &[Rule] {
        &self.config.rules
    }

    /// Region lists per rule, for Consent Mode region-specific defaults.
    pub fn regions_of(&self, id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_region
            .iter()
            .filter(|(_, i)| self.config.rules[**i].id == id)
            .map(|(r, _)| r.clone())
            .collect();
        v.sort();
        v
    }

    pub fn default_rule_id(&self) -> &str {
        &self.config.default
    }

    /// The rule for places no rule names.
    pub fn default_rule(&self) -> &Rule {
        self.rule(&self.config.default)
    }

    pub fn resolve(&self, location: &Location) -> Jurisdiction {
        let rule = match (&location.country, location.region()) {
            (None, _) => self.rule(&self.config.unknown),
            (Some(country), region) => region
                .and_then(|r| self.by_region.get(&r))
                .or_else(|| self.by_region.get(country))
                .map(|i| &self.config.rules[*i])
                .unwrap_or_else(|| self.rule(&self.config.default)),
        };
        Jurisdiction {
            id: rule.id.clone(),
            model: rule.model,
            region: location.region(),
            rule_version: self.version.clone(),
            gpc: rule.gpc,
            defaults: if rule.model == Model::OptIn { Vec::new() } else { rule.defaults.clone() },
            sale_categories: rule.sale_categories.clone(),
            consent_days: rule.consent_days,
            refusal_days: rule.refusal_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::LocationSource;

    fn at(region: &str) -> Location {
        Location::parse_region(region, LocationSource::Database).expect("region")
    }

    #[test]
    fn shipped_defaults_follow_the_law_of_the_place() {
        let cfg = RulesConfig::default();
        cfg.validate().expect("defaults valid");
        let rules = Rules::new(cfg);
        assert_eq!(rules.resolve(&at("DE")).model, Model::OptIn);
        assert_eq!(rules.resolve(&at("NO")).id, "gdpr", "EEA");
        assert_eq!(rules.resolve(&at("CA-QC")).model, Model::OptIn, "Quebec");
        assert_eq!(rules.resolve(&at("CA-ON")).model, Model::Notice, "rest of Canada");
        let ca = rules.resolve(&at("US-CA"));
        assert_eq!((ca.model, ca.gpc), (Model::OptOut, true));
        assert_eq!(rules.resolve(&at("US-TX")).id, "us-privacy");
        assert_eq!(rules.resolve(&at("US-WY")).model, Model::Notice, "no state law");
        assert_eq!(rules.resolve(&at("US")).model, Model::Notice, "country only");
        assert_eq!(rules.resolve(&at("JP")).model, Model::Notice);
        let unknown = rules.resolve(&Location::default());
        assert_eq!(unknown.model, Model::OptIn, "unknown location gets the strictest rule");
        assert!(unknown.defaults.is_empty());
    }

    #[test]
    fn invalid_rule_sets_are_rejected_with_the_reason() {
        let mut cfg = RulesConfig::default();
        cfg.rules[0].defaults = vec!["analytics".into()];
        assert!(cfg.validate().expect_err("opt-in defaults").contains("opt-in"));
        let mut cfg = RulesConfig::default();
        cfg.rules[1].regions.push("Atlantis".into());
        assert!(cfg.validate().expect_err("bad region").contains("Atlantis"));
        let cfg = RulesConfig { unknown: "nope".into(), ..RulesConfig::default() };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn rule_version_changes_with_the_rules() {
        let a = Rules::new(RulesConfig::default());
        let mut cfg = RulesConfig::default();
        cfg.rules[1].refusal_days = 30;
        assert_ne!(a.version(), Rules::new(cfg).version());
    }
}
