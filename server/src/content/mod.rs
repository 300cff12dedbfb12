//! Default content and the published snapshot the pages render.
//!
//! The files under `content/` (repository root) are compiled into the binary and written to
//! the database on first start; from then on the database is the source of truth and every
//! publish adds a version. `load` turns the current versions into an [`SiteContent`].

mod markdown;

use crate::config::Config;
use crate::ledger::{Ledger, LedgerError, PublishedPolicy, PublishedRegistry, PublishedResponsibility};
use app::model::consent::{is_category_key, is_policy_version};
use app::model::{
    Category, ChangelogEntry, ConsentSettings, CookieEntry, PolicyView, Responsibility, SiteContent,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

const POLICY_MD: &str = include_str!("../../../content/privacy-policy.md");
const COOKIES_TOML: &str = include_str!("../../../content/cookies.toml");
const RESPONSIBILITY_TOML: &str = include_str!("../../../content/responsibility.toml");

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("{file}: {message}")]
    Invalid { file: &'static str, message: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the database has no published {0}; run `accord migrate`")]
    Missing(&'static str),
    #[error("{0}")]
    Conflict(String),
}

fn invalid(file: &'static str, message: impl Into<String>) -> ContentError {
    ContentError::Invalid { file, message: message.into() }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFrontMatter {
    version: String,
    effective_date: String,
    title: String,
    #[serde(default)]
    changelog: Vec<ChangelogEntry>,
}

/// Parses a policy document: TOML front matter between `+++` lines, then Markdown.
pub fn parse_policy(source: &str) -> Result<PublishedPolicy, ContentError> {
    const FILE: &str = "privacy-policy.md";
    let rest = source
        .trim_start_matches('\u{feff}')
        .strip_prefix("+++")
        .ok_or_else(|| invalid(FILE, "must start with a +++ TOML front matter block"))?;
    let (front, body) =
        rest.split_once("\n+++").ok_or_else(|| invalid(FILE, "front matter is not closed by a +++ line"))?;
    let fm: PolicyFrontMatter = toml::from_str(front).map_err(|e| invalid(FILE, e.to_string()))?;
    if !is_policy_version(&fm.version) {
        return Err(invalid(FILE, format!("version {:?} must match [A-Za-z0-9._-]{{1,32}}", fm.version)));
    }
    let markdown = body.trim_start_matches(['\r', '\n']).to_owned();
    if markdown.trim().is_empty() {
        return Err(invalid(FILE, "the policy body is empty"));
    }
    Ok(PublishedPolicy {
        content_hash: sha256_hex(source.as_bytes()),
        material: true,
        version: fm.version,
        effective_date: fm.effective_date,
        title: fm.title,
        changelog: fm.changelog,
        markdown,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    registry_version: String,
    categories: Vec<Category>,
    cookies: Vec<CookieEntry>,
}

/// Parses and checks the cookie registry: unique keys and names, known categories, at least
/// one required category.
pub fn parse_registry(source: &str) -> Result<PublishedRegistry, ContentError> {
    const FILE: &str = "cookies.toml";
    let f: RegistryFile = toml::from_str(source).map_err(|e| invalid(FILE, e.to_string()))?;
    if !is_policy_version(&f.registry_version) {
        return Err(invalid(FILE, "registry_version must match [A-Za-z0-9._-]{1,32}"));
    }
    let mut keys = HashSet::new();
    for c in &f.categories {
        if !is_category_key(&c.key) {
            return Err(invalid(FILE, format!("category key {:?} must match [a-z][a-z0-9_]{{0,31}}", c.key)));
        }
        if !keys.insert(c.key.as_str()) {
            return Err(invalid(FILE, format!("category {:?} is defined twice", c.key)));
        }
    }
    if !f.categories.iter().any(|c| c.required) {
        return Err(invalid(FILE, "at least one category must be required (strictly necessary)"));
    }
    let mut names = HashSet::new();
    for c in &f.cookies {
        if !keys.contains(c.category.as_str()) {
            return Err(invalid(FILE, format!("cookie {:?} has unknown category {:?}", c.name, c.category)));
        }
        if !names.insert(c.name.as_str()) {
            return Err(invalid(FILE, format!("cookie {:?} is listed twice", c.name)));
        }
    }
    Ok(PublishedRegistry {
        content_hash: sha256_hex(source.as_bytes()),
        material: true,
        version: f.registry_version,
        categories: f.categories,
        cookies: f.cookies,
    })
}

pub fn parse_responsibility(source: &str) -> Result<PublishedResponsibility, ContentError> {
    let document: Responsibility =
        toml::from_str(source).map_err(|e| invalid("responsibility.toml", e.to_string()))?;
    Ok(PublishedResponsibility { content_hash: sha256_hex(source.as_bytes()), document })
}

/// Writes the shipped default content for whatever has never been published.
pub async fn seed_if_empty(ledger: &dyn Ledger) -> Result<(), ContentError> {
    if ledger.current_policy().await?.is_none() {
        ledger.publish_policy(&parse_policy(POLICY_MD)?).await?;
        tracing::info!("seeded the default privacy policy");
    }
    if ledger.current_registry().await?.is_none() {
        ledger.publish_registry(&parse_registry(COOKIES_TOML)?).await?;
        tracing::info!("seeded the default cookie registry");
    }
    if ledger.current_responsibility().await?.is_none() {
        ledger.publish_responsibility(&parse_responsibility(RESPONSIBILITY_TOML)?).await?;
        tracing::info!("seeded the default responsibility matrix");
    }
    Ok(())
}

/// Publishes a new privacy policy version. `material` invalidates every consent given under
/// earlier versions (the banner returns); a minor change keeps them valid.
pub async fn publish_policy(
    ledger: &dyn Ledger,
    source: &str,
    material: bool,
) -> Result<PublishedPolicy, ContentError> {
    let mut policy = parse_policy(source)?;
    policy.material = material;
    if ledger.valid_policy_versions().await?.contains(&policy.version)
        || ledger.current_policy().await?.is_some_and(|p| p.version == policy.version)
    {
        return Err(ContentError::Conflict(format!(
            "policy version {:?} is already published",
            policy.version
        )));
    }
    ledger.publish_policy(&policy).await.map_err(|e| match e {
        LedgerError::Other(m) if m.contains("UNIQUE") => ContentError::Conflict(format!(
            "policy version {:?} was published before; pick a new version",
            policy.version
        )),
        other => other.into(),
    })?;
    Ok(policy)
}

/// Publishes a new cookie registry version. A material change (a new category, a new
/// purpose) must be consented to again: it also publishes a policy revision named after the
/// registry version, so every later record names the exact notice it was given under.
pub async fn publish_registry(
    ledger: &dyn Ledger,
    source: &str,
    material: bool,
    summary: &str,
) -> Result<(PublishedRegistry, Option<PublishedPolicy>), ContentError> {
    let mut registry = parse_registry(source)?;
    registry.material = material;
    if ledger.current_registry().await?.is_some_and(|r| r.version == registry.version) {
        return Err(ContentError::Conflict(format!(
            "registry version {:?} is already published",
            registry.version
        )));
    }
    let revision = if material {
        let current = ledger.current_policy().await?.ok_or(ContentError::Missing("privacy policy"))?;
        let today = time::OffsetDateTime::now_utc().date().to_string();
        let mut changelog = vec![ChangelogEntry {
            version: registry.version.clone(),
            date: today.clone(),
            material: true,
            summary: format!("Cookie registry {}: {summary}", registry.version),
        }];
        changelog.extend(current.changelog.clone());
        Some(PublishedPolicy {
            version: registry.version.clone(),
            material: true,
            effective_date: today,
            title: current.title.clone(),
            content_hash: sha256_hex(
                format!("{}\n{}", current.content_hash, registry.content_hash).as_bytes(),
            ),
            changelog,
            markdown: current.markdown.clone(),
        })
    } else {
        None
    };
    if let Some(p) = &revision {
        if ledger.valid_policy_versions().await?.contains(&p.version) {
            return Err(ContentError::Conflict(format!(
                "a policy version {:?} exists; give the registry a new registry_version",
                p.version
            )));
        }
    }
    ledger.publish_registry(&registry).await?;
    if let Some(p) = &revision {
        ledger.publish_policy(p).await?;
    }
    Ok((registry, revision))
}

/// Builds the snapshot of what is published now.
pub async fn load(ledger: &dyn Ledger, config: &Config) -> Result<SiteContent, ContentError> {
    let policy = ledger.current_policy().await?.ok_or(ContentError::Missing("privacy policy"))?;
    let registry = ledger.current_registry().await?.ok_or(ContentError::Missing("cookie registry"))?;
    let responsibility =
        ledger.current_responsibility().await?.ok_or(ContentError::Missing("responsibility matrix"))?;
    let (html, toc) = markdown::render(&policy.markdown);
    Ok(SiteContent {
        policy: PolicyView {
            version: policy.version,
            effective_date: policy.effective_date,
            title: policy.title,
            content_hash: policy.content_hash,
            html,
            toc,
            changelog: policy.changelog,
        },
        registry_version: registry.version,
        valid_policy_versions: ledger.valid_policy_versions().await?,
        categories: registry.categories,
        cookies: registry.cookies,
        responsibility: responsibility.document,
        consent: ConsentSettings { cookie_name: config.consent.cookie_name.clone() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cookie named in the seed's cookie table (../shared/seeds/001_*), one per name.
    const SEED_COOKIES: [&str; 22] = [
        "__cfduid",
        "hs-messages-hide-welcome-message",
        "messagesUtk",
        "__hs_opt_out",
        "__hssc",
        "hubspotutk",
        "__hssrc",
        "__hstc",
        "_biz_nA",
        "_biz_pendingA",
        "_biz_sid",
        "_biz_uid",
        "_ga",
        "_gat",
        "_gid",
        "__stripe_mid",
        "__stripe_sid",
        "_hjSessionUser",
        "_hjSession",
        "_hjSessionTooLarge",
        "_hjid",
        "_hjViewporId",
    ];

    #[test]
    fn shipped_defaults_parse_and_cover_the_seed_cookie_table() {
        let policy = parse_policy(POLICY_MD).expect("policy parses");
        assert!(!policy.changelog.is_empty());
        let registry = parse_registry(COOKIES_TOML).expect("registry parses");
        for name in SEED_COOKIES {
            assert!(registry.cookies.iter().any(|c| c.name == name), "missing cookie {name}");
        }
        let consent =
            registry.cookies.iter().find(|c| c.name == "accord_consent").expect("own cookie listed");
        assert_eq!(consent.category, "necessary");
        let resp = parse_responsibility(RESPONSIBILITY_TOML).expect("matrix parses");
        assert!(resp.document.areas.len() >= 12);
    }

    #[test]
    fn registry_validation_names_the_problem() {
        let bad = "registry_version = \"1\"\n[[categories]]\nkey = \"a\"\nname = \"A\"\ndescription = \"d\"\nrequired = true\n\
                   [[cookies]]\nname = \"x\"\nprovider = \"p\"\ncategory = \"nope\"\npurpose = \"p\"\nlifetime = \"1 day\"\nparty = \"first\"\n";
        let err = parse_registry(bad).expect_err("unknown category").to_string();
        assert!(err.contains("unknown category \"nope\""), "{err}");
        let no_required = "registry_version = \"1\"\ncookies = []\n[[categories]]\nkey = \"a\"\nname = \"A\"\ndescription = \"d\"\n";
        assert!(parse_registry(no_required).is_err());
    }

    #[test]
    fn policy_front_matter_is_required() {
        assert!(parse_policy("# no front matter").is_err());
        let ok = parse_policy(
            "+++\nversion = \"v2\"\neffective_date = \"2026-01-01\"\ntitle = \"T\"\n+++\n## A\ntext\n",
        )
        .expect("parses");
        assert_eq!(ok.version, "v2");
        assert_eq!(ok.markdown, "## A\ntext\n");
    }
}
