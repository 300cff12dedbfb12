use leptos::prelude::*;

/// Categories that have a demo tag on Accord's own pages: Accord is its own first customer.
const DEMO_TAGS: [&str; 3] = ["analytics", "marketing", "session_recording"];

/// Renders the demo tag of each category in effect for the visitor — and nothing else, so a
/// tag the visitor refused never reaches the browser.
#[component]
pub fn GatedDemoSnippets(granted: Vec<String>) -> impl IntoView {
    DEMO_TAGS
        .into_iter()
        .filter(|c| granted.iter().any(|g| g == c))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|c| {
            view! { <script src=format!("/demo/snippets/{c}.js") data-accord-demo=c defer></script> }
        })
        .collect_view()
}
