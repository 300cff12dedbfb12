use crate::shell::use_content;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One optional category as the banner's inline customizer shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceCategory {
    pub key: String,
    pub name: String,
}

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
    let categories = content
        .optional_categories()
        .map(|c| ChoiceCategory {
            key: c.key.clone(),
            name: c.name.clone(),
        })
        .collect::<Vec<_>>();
    let labels = ChoiceLabels {
        accept_all: t("banner.accept_all"),
        reject_all: t("banner.reject_all"),
        customize: t("banner.customize"),
        save: t("banner.save"),
        legend: t("banner.legend"),
    };
    view! {
        <section id="accord-banner" class="banner" role="region" aria-labelledby="accord-banner-title"
            aria-describedby="accord-banner-body">
            <h2 id="accord-banner-title">{t("banner.title")}</h2>
            <p id="accord-banner-body">
                {t("banner.body")} " "
                <a href="/privacy">{t("banner.privacy_link")}</a> " · "
                <a href="/cookies">{t("banner.cookies_link")}</a>
            </p>
            <BannerChoices categories labels return_to=crate::visitor::current_path()/>
        </section>
    }
}

/// Island: the banner's form. Without WASM, "Customize" is a link to /preferences; once
/// hydrated it expands the per-category switches in place (no pre-ticked boxes) and adds
/// "Save choices", so the visitor never leaves the page they came for.
#[island]
pub fn BannerChoices(
    categories: Vec<ChoiceCategory>,
    labels: ChoiceLabels,
    return_to: String,
) -> impl IntoView {
    let (expanded, set_expanded) = signal(false);
    let first_box = NodeRef::<leptos::html::Input>::new();
    let customize = labels.customize.clone();
    let save = labels.save.clone();
    let boxes = categories
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let id = format!("accord-banner-{}", c.key);
            let input = if i == 0 {
                view! { <input type="checkbox" name="granted" value=c.key id=id.clone() node_ref=first_box/> }
                    .into_any()
            } else {
                view! { <input type="checkbox" name="granted" value=c.key id=id.clone()/> }.into_any()
            };
            view! { <div class="switch">{input}<label for=id>{c.name}</label></div> }
        })
        .collect_view();
    view! {
        <form method="post" action="/consent" class="banner-form">
            <input type="hidden" name="return_to" value=return_to/>
            <input type="hidden" name="source" value="banner"/>
            <fieldset id="accord-banner-categories" class="banner-categories" hidden=move || !expanded.get()>
                <legend>{labels.legend}</legend>
                {boxes}
            </fieldset>
            <div class="actions">
                <button type="submit" name="action" value="accept_all">{labels.accept_all}</button>
                <button type="submit" name="action" value="reject_all">{labels.reject_all}</button>
                <Show
                    when=move || expanded.get()
                    fallback=move || {
                        let customize = customize.clone();
                        view! {
                            <a class="button" href="/preferences" role="button"
                                aria-controls="accord-banner-categories" aria-expanded="false"
                                on:click=move |ev| {
                                    ev.prevent_default();
                                    set_expanded.set(true);
                                    request_animation_frame(move || {
                                        if let Some(el) = first_box.get() {
                                            let _ = el.focus();
                                        }
                                    });
                                }>
                                {customize}
                            </a>
                        }
                    }
                >
                    <button type="submit" name="action" value="custom">{save.clone()}</button>
                </Show>
            </div>
        </form>
    }
}
