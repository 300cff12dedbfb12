use leptos::prelude::*;
use leptos_meta::Title;

/// A real 404: the status code is set on the response, not only the text.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    view! {
        <Title text=t("notfound.title")/>
        <h1>{t("notfound.title")}</h1>
        <p>{t("notfound.text")}</p>
        <p><a href="/">{t("notfound.home")}</a></p>
    }
}
