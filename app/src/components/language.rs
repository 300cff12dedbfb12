use crate::visitor::{current_path, use_request};
use leptos::prelude::*;

/// Links to the current page in every shipped language (`?lang=xx` overrides the browser's
/// Accept-Language). Each name is written in its own language, as people look for their own.
#[component]
pub fn LanguageSwitcher() -> impl IntoView {
    let ctx = use_request();
    let path = current_path();
    let current = ctx.catalog.language.clone();
    let links = ctx
        .languages
        .iter()
        .map(|code| {
            let href = format!("{path}?lang={code}");
            let name = native_name(code);
            let here = (*code == current).then_some("true");
            view! { <li><a href=href hreflang=code.clone() lang=code.clone() aria-current=here>{name}</a></li> }
        })
        .collect_view();
    view! {
        <details class="languages">
            <summary>{ctx.t("nav.language").to_owned()} ": " {native_name(&current)}</summary>
            <ul>{links}</ul>
        </details>
    }
}

fn native_name(code: &str) -> &'static str {
    match code {
        "ar" => "العربية",
        "bg" => "Български",
        "cs" => "Čeština",
        "da" => "Dansk",
        "de" => "Deutsch",
        "el" => "Ελληνικά",
        "en" => "English",
        "es" => "Español",
        "et" => "Eesti",
        "fi" => "Suomi",
        "fr" => "Français",
        "ga" => "Gaeilge",
        "hr" => "Hrvatski",
        "hu" => "Magyar",
        "it" => "Italiano",
        "lt" => "Lietuvių",
        "lv" => "Latviešu",
        "mt" => "Malti",
        "nl" => "Nederlands",
        "pl" => "Polski",
        "pt" => "Português",
        "ro" => "Română",
        "sk" => "Slovenčina",
        "sl" => "Slovenščina",
        "sv" => "Svenska",
        _ => "?",
    }
}
