use crate::model::ConsentCookie;
use leptos::prelude::*;

/// Categories that have a demo tag on Accord's own pages: Accord is its own first customer.
const DEMO_TAGS: [&str; 3] = ["analytics", "marketing", "session_recording"];

/// Renders the demo tag of each category the visitor granted — and nothing else, so a tag the
/// visitor refused never reaches the browser.
#[component]
pub fn GatedDemoSnippets(decision: Option<ConsentCookie>) -> impl IntoView {
    let granted: Vec<&'static str> = DEMO_TAGS
        .into_iter()
        .filter(|c| decision.as_ref().is_some_and(|d| d.grants(c)))
        .collect();
    granted
        .into_iter()
        .map(|c| {
            view! { <script src=format!("/demo/snippets/{c}.js") data-accord-demo=c defer></script> }
        })
        .collect_view()
}
