use crate::model::Model;
use crate::shell::use_content;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Texts of the banner's buttons (an island's props travel to the browser, so keep them small).
/// `second` is the button beside "Accept all": "Reject all" (opt-in), "Do not sell or share"
/// (opt-out) or "OK" (notice), with `second_action` the form action it posts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceLabels {
    pub accept_all: String,
    pub second: String,
    pub second_action: String,
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
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let model = ctx.jurisdiction.model;
    let (body, second, second_action) = match model {
        Model::OptIn => ("banner.body", "banner.reject_all", "reject_all"),
        Model::OptOut => ("banner.body_opt_out", "banner.do_not_sell", "opt_out"),
        Model::Notice => ("banner.body_notice", "banner.ok", "ok"),
    };
    let labels = ChoiceLabels {
        accept_all: t("banner.accept_all"),
        second: t(second),
        second_action: second_action.to_owned(),
        customize: t("banner.customize"),
        save: t("banner.save"),
        legend: t("banner.legend"),
    };
    let gpc = ctx.gpc_applies();
    let sale = ctx.jurisdiction.sale_categories.clone();
    let first_id =
        content.optional_categories().next().map(|c| format!("accord-banner-{}", c.key)).unwrap_or_default();
    // The switches are static, so the server renders them as island children: only the
    // expand/collapse state lives in WASM.
    let boxes = content
        .optional_categories()
        .map(|c| {
            let id = format!("accord-banner-{}", c.key);
            // Under GPC a sale/sharing category cannot be switched on.
            let locked = gpc && sale.contains(&c.key);
            view! {
                <div class="switch">
                    <input type="checkbox" name="granted" value=c.key.clone() id=id.clone() disabled=locked/>
                    <label for=id>{ctx.category_name(&content, &c.key)}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        <section id="accord-banner" class="banner" role="region" aria-labelledby="accord-banner-title"
            aria-describedby="accord-banner-body" data-model=model.as_str()>
            <h2 id="accord-banner-title">{t("banner.title")}</h2>
            {gpc.then(|| view! { <p class="gpc" role="status" title=t("gpc.explain")>{t("gpc.honored")}</p> })}
            <p id="accord-banner-body">
                {t(body)} " "
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
                <button type="submit" name="action" value=labels.second_action>{labels.second}</button>
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
    if let Some(el) =
        document().get_element_by_id(id).and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}
