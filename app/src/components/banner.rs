use crate::shell::use_content;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Texts of the banner's buttons (an island's props travel to the browser, so keep them small).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceLabels {
    pub accept_all: String,
    pub reject_all: String,
    pub customize: String,
    pub save: String,
    pub legend: String,
}

/// The server-rendered cookie banner. Shown only to visitors without a valid decision; fixed
/// at the bottom of the viewport, so it never shifts the page. Works without JavaScript: every
/// button is a plain form post to `/consent`.
#[component]
pub fn Banner() -> impl IntoView {
    let content = use_content();
    let t = |k: &str| content.catalog.t(k).to_owned();
    let labels = ChoiceLabels {
        accept_all: t("banner.accept_all"),
        reject_all: t("banner.reject_all"),
        customize: t("banner.customize"),
        save: t("banner.save"),
        legend: t("banner.legend"),
    };
    let first_id = content
        .optional_categories()
        .next()
        .map(|c| format!("accord-banner-{}", c.key))
        .unwrap_or_default();
    // The switches are static, so the server renders them as island children: only the
    // expand/collapse state lives in WASM.
    let boxes = content
        .optional_categories()
        .map(|c| {
            let id = format!("accord-banner-{}", c.key);
            view! {
                <div class="switch">
                    <input type="checkbox" name="granted" value=c.key.clone() id=id.clone()/>
                    <label for=id>{c.name.clone()}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        <section id="accord-banner" class="banner" role="region" aria-labelledby="accord-banner-title"
            aria-describedby="accord-banner-body">
            <h2 id="accord-banner-title">{t("banner.title")}</h2>
            <p id="accord-banner-body">
                {t("banner.body")} " "
                <a href="/privacy">{t("banner.privacy_link")}</a> " · "
                <a href="/cookies">{t("banner.cookies_link")}</a>
            </p>
            <BannerChoices labels first_id return_to=crate::visitor::current_path()>
                {boxes}
            </BannerChoices>
        </section>
    }
}

/// Island: the banner's form. Without WASM, "Customize" is a link to /preferences; once
/// hydrated it expands the per-category switches in place (no pre-ticked boxes) and adds
/// "Save choices", so the visitor never leaves the page they came for.
#[island]
pub fn BannerChoices(
    labels: ChoiceLabels,
    first_id: String,
    return_to: String,
    children: Children,
) -> impl IntoView {
    let (expanded, set_expanded) = signal(false);
    // Effects run only in the browser: marks the form as enhanced once the island is live.
    let (enhanced, set_enhanced) = signal(false);
    Effect::new(move |_| set_enhanced.set(true));
    view! {
        <form method="post" action="/consent" class="banner-form" data-enhanced=move || enhanced.get().then_some("true")>
            <input type="hidden" name="return_to" value=return_to/>
            <input type="hidden" name="source" value="banner"/>
            <fieldset id="accord-banner-categories" class="banner-categories" hidden=move || !expanded.get()>
                <legend>{labels.legend}</legend>
                {children()}
            </fieldset>
            <div class="actions">
                <button type="submit" name="action" value="accept_all">{labels.accept_all}</button>
                <button type="submit" name="action" value="reject_all">{labels.reject_all}</button>
                // Both controls are rendered; which one shows is state, not structure, so the
                // server HTML and the hydrated island always match.
                <a class="button" href="/preferences" role="button" hidden=move || expanded.get()
                    aria-controls="accord-banner-categories" aria-expanded="false"
                    on:click=move |ev| {
                        ev.prevent_default();
                        set_expanded.set(true);
                        let first_id = first_id.clone();
                        request_animation_frame(move || focus_by_id(&first_id));
                    }>
                    {labels.customize}
                </a>
                <button type="submit" name="action" value="custom" hidden=move || !expanded.get()>{labels.save}</button>
            </div>
        </form>
    }
}

/// Moves keyboard focus to the element with `id` (browser only).
fn focus_by_id(id: &str) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(el) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}
