use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn HomePage() -> impl IntoView {
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let links = [
        ("/privacy", "home.privacy_title", "home.privacy_text"),
        ("/cookies", "home.cookies_title", "home.cookies_text"),
        ("/responsibility", "home.responsibility_title", "home.responsibility_text"),
        ("/preferences", "home.preferences_title", "home.preferences_text"),
    ];
    view! {
        <Title text=t("site.name")/>
        <h1>{t("home.title")}</h1>
        <p class="lead">{t("home.lead")}</p>
        <ul class="cards">
            {links
                .into_iter()
                .map(|(href, title, text)| {
                    view! {
                        <li class="card">
                            <h2><a href=href>{t(title)}</a></h2>
                            <p>{t(text)}</p>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
