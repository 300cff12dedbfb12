use crate::shell::use_content;
use crate::visitor::{query_param, stored_decision};
use leptos::prelude::*;
use leptos_meta::Title;

fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The preference center. Plain HTML forms: works with JavaScript disabled.
#[component]
pub fn PreferencesPage() -> impl IntoView {
    let content = use_content();
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let stored = stored_decision(&content);
    let valid_decision = crate::visitor::valid_decision(&content, &ctx);
    let valid = valid_decision.is_some();
    let in_effect = crate::visitor::effective_grants(valid_decision.as_ref(), &ctx);
    let gpc = ctx.gpc_applies();
    let j = &ctx.jurisdiction;
    let model_text = t(&format!("model.{}", j.model.as_str()));
    let region = j.region.clone().unwrap_or_else(|| "—".to_owned());
    let saved = query_param("saved").is_some_and(|v| v == "1");

    let current = match &stored {
        None => view! { <p class="current none">{t("prefs.no_decision")}</p> }.into_any(),
        Some(d) => {
            let granted: Vec<String> = content
                .categories
                .iter()
                .filter(|c| c.required || d.grants(&c.key))
                .map(|c| ctx.category_name(&content, &c.key))
                .collect();
            let state = if valid { t("prefs.state_valid") } else { t("prefs.state_outdated") };
            view! {
                <dl class="current">
                    <dt>{t("prefs.state")}</dt><dd class="decision-state">{state}</dd>
                    <dt>{t("prefs.allowed")}</dt><dd class="decision-granted">{granted.join(", ")}</dd>
                    <dt>{t("prefs.decided_at")}</dt>
                    <dd><time datetime=format_time(d.decided_at)>{format_time(d.decided_at)}</time></dd>
                    <dt>{t("prefs.policy_version")}</dt><dd>{d.policy_version.clone()}</dd>
                    <dt>{t("prefs.visitor_id")}</dt><dd><code class="visitor-id">{d.visitor_id.to_string()}</code></dd>
                </dl>
            }
            .into_any()
        }
    };

    let rows = content
        .categories
        .iter()
        .map(|c| {
            let id = format!("pref-{}", c.key);
            let locked = gpc && j.sale_categories.contains(&c.key);
            let checked = c.required || (!locked && in_effect.contains(&c.key));
            let note = if c.required {
                Some(view! { <span class="badge">{t("cookies.always_on")}</span> })
            } else if locked {
                Some(view! { <span class="badge gpc">{t("gpc.honored")}</span> })
            } else {
                None
            };
            view! {
                <div class="pref-row">
                    <input type="checkbox" name="granted" value=c.key.clone() id=id.clone()
                        checked=checked disabled=c.required || locked aria-describedby=format!("{id}-desc")/>
                    <label for=id.clone()>{ctx.category_name(&content, &c.key)} " " {note}</label>
                    <p id=format!("{id}-desc")>{ctx.category_description(&content, &c.key)} " "
                        <a href=format!("/cookies#category-{}", c.key)>{t("prefs.see_cookies")}</a></p>
                </div>
            }
        })
        .collect_view();
    let can_withdraw = stored.as_ref().is_some_and(|d| !d.granted.is_empty());
    let erased = query_param("erased");
    let erased_note = erased.map(|v| {
        let key = if v == "1" { "prefs.erased" } else { "prefs.erased_none" };
        view! { <p class="notice" role="status">{t(key)}</p> }
    });
    // Access, portability and erasure for whoever holds this browser's visitor id.
    let rights = stored.is_some().then(|| {
        view! {
            <section aria-labelledby="rights-title" class="rights">
                <h2 id="rights-title">{t("prefs.rights_title")}</h2>
                <p>{t("prefs.rights_lead")}</p>
                <div class="actions">
                    <a class="button secondary" href="/preferences/history" download="my-consent-history.json">{t("prefs.download")}</a>
                    <form method="post" action="/preferences/erase">
                        <button type="submit" class="secondary danger">{t("prefs.erase")}</button>
                    </form>
                </div>
            </section>
        }
    });

    view! {
        <Title text=t("prefs.title")/>
        <h1>{t("prefs.title")}</h1>
        {saved.then(|| view! { <p class="notice" role="status">{t("prefs.saved")}</p> })}
        {erased_note}
        <p class="lead">{t("prefs.lead")}</p>
        {gpc.then(|| view! { <p class="notice gpc" role="status">{t("gpc.honored")} " — " {t("gpc.explain")}</p> })}
        <section aria-labelledby="current-title">
            <h2 id="current-title">{t("prefs.current")}</h2>
            {current}
        </section>
        <section aria-labelledby="rules-title">
            <h2 id="rules-title">{t("prefs.rules")}</h2>
            <dl class="current">
                <dt>{t("prefs.region")}</dt><dd class="jurisdiction-region">{region}</dd>
                <dt>{t("prefs.rules")}</dt><dd class="jurisdiction-model" data-model=j.model.as_str()>{model_text}</dd>
            </dl>
        </section>
        <form method="post" action="/consent" class="preferences-form" aria-labelledby="choose-title">
            <h2 id="choose-title">{t("prefs.choose")}</h2>
            <input type="hidden" name="source" value="preferences"/>
            <input type="hidden" name="return_to" value="/preferences"/>
            <fieldset>
                <legend>{t("banner.legend")}</legend>
                {rows}
            </fieldset>
            <div class="actions">
                <button type="submit" name="action" value="custom">{t("banner.save")}</button>
                <button type="submit" name="action" value="accept_all">{t("banner.accept_all")}</button>
                <button type="submit" name="action" value="reject_all">{t("banner.reject_all")}</button>
                {can_withdraw.then(|| view! {
                    <button type="submit" name="action" value="withdraw" class="secondary">{t("prefs.withdraw")}</button>
                })}
            </div>
        </form>
        {rights}
    }
}
