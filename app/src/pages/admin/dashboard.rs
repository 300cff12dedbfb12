use super::{field, CsrfField};
use crate::components::chart::{series_of, CategoryRateChart, DailyRateChart, GroupedRateChart};
use crate::model::admin::{AdminSession, Dashboard};
use leptos::prelude::*;

/// Opt-in statistics for a period, the ledger head, and (for admins) the retention purge.
#[component]
pub fn DashboardPage(dashboard: Dashboard, session: Option<AdminSession>) -> impl IntoView {
    let Dashboard { from, to, site, totals, categories, by_jurisdiction, by_day, head } = dashboard;
    let series = series_of(&categories, by_jurisdiction.iter().chain(by_day.iter()));
    let period = period_text(&from, &to, site.as_deref());
    let totals = [
        ("Records", totals.records),
        ("Accept all", totals.accept_all),
        ("Reject all", totals.reject_all),
        ("Custom choices", totals.custom),
        ("Withdrawals", totals.withdraw),
        ("Global Privacy Control", totals.gpc),
    ]
    .into_iter()
    .map(|(label, n)| view! { <dt>{label}</dt><dd>{n}</dd> })
    .collect_view();
    let retention = session.filter(AdminSession::is_admin).map(|s| {
        view! {
            <section aria-labelledby="h-retention">
                <h2 id="h-retention">"Retention"</h2>
                <p>"Deletes the consent records whose retention period has passed. This cannot be undone; \
                    the ledger head keeps counting them."</p>
                <form method="post" action="/admin/purge">
                    <CsrfField csrf=s.csrf/>
                    <button type="submit">"Purge records past retention"</button>
                </form>
            </section>
        }
    });
    view! {
        <h1>"Dashboard"</h1>
        <form method="get" action="/admin" class="form-grid filters" aria-label="Period and site">
            {field("from", "From", "date", Some(from.clone()), None)}
            {field("to", "To (inclusive)", "date", Some(to.clone()), None)}
            {field("site", "Site", "text", site.clone(), Some("Empty for all sites."))}
            <div class="actions"><button type="submit">"Show"</button></div>
        </form>
        <section aria-labelledby="h-totals">
            <h2 id="h-totals">"Totals"</h2>
            <p class="meta">{period.clone()}</p>
            <dl class="current totals">{totals}</dl>
        </section>
        <section aria-labelledby="h-ledger">
            <h2 id="h-ledger">"Ledger head"</h2>
            <p>"Publish these values somewhere outside Accord: a later change to stored records would no \
                longer match them."</p>
            <dl class="current">
                <dt>"Records appended"</dt><dd>{head.count}</dd>
                <dt>"Newest hash"</dt><dd><code class="hash">{head.hash}</code></dd>
            </dl>
        </section>
        <section aria-labelledby="h-categories">
            <h2 id="h-categories">"Opt-in rate per category"</h2>
            <CategoryRateChart
                id="chart-categories"
                title="Opt-in rate per category".to_owned()
                desc=format!(
                    "Horizontal bars, one per optional category: the share of records deciding on the \
                     category that granted it, {period}."
                )
                series=series.clone()
                categories
            />
        </section>
        <section aria-labelledby="h-jurisdictions">
            <h2 id="h-jurisdictions">"Opt-in rate per jurisdiction"</h2>
            <GroupedRateChart
                id="chart-jurisdictions"
                title="Opt-in rate per category and jurisdiction".to_owned()
                desc=format!(
                    "Grouped horizontal bars: for each jurisdiction, one bar per optional category with \
                     the share of records deciding on it that granted it, {period}."
                )
                series=series.clone()
                groups=by_jurisdiction
            />
        </section>
        <section aria-labelledby="h-days">
            <h2 id="h-days">"Opt-in rate per day"</h2>
            <DailyRateChart
                id="chart-days"
                title="Opt-in rate per day and category".to_owned()
                desc=format!(
                    "Lines, one per optional category: the daily share of records deciding on the category \
                     that granted it, {period}. Days without decisions are gaps in the lines."
                )
                series
                days=by_day
            />
        </section>
        {retention}
    }
}

/// "from 2024-05-01 to 2024-05-31 on shop.example".
fn period_text(from: &str, to: &str, site: Option<&str>) -> String {
    let days = if from == to { format!("on {from}") } else { format!("from {from} to {to}") };
    match site.filter(|s| !s.is_empty()) {
        Some(site) => format!("{days}, site {site}"),
        None => format!("{days}, all sites"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_reads_as_a_phrase() {
        assert_eq!(period_text("2024-05-01", "2024-05-31", None), "from 2024-05-01 to 2024-05-31, all sites");
        assert_eq!(period_text("2024-05-01", "2024-05-01", Some("shop")), "on 2024-05-01, site shop");
    }
}
