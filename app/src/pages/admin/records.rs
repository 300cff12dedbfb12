use super::{field, or_dash, time_view, CsrfField};
use crate::admin::url_with_query;
use crate::model::admin::{AdminSession, RecordQuery, RecordRow, RecordSearch};
use leptos::prelude::*;

const ACTIONS: [&str; 5] = ["accept_all", "reject_all", "custom", "withdraw", "gpc"];

/// Consent-record search: filters, one page of results (newest first), exports, and for
/// admins the erasure of a visitor.
#[component]
pub fn RecordsPage(search: RecordSearch, session: Option<AdminSession>) -> impl IntoView {
    let RecordSearch { query, records, next_before } = search;
    let RecordQuery { visitor, site, from, to, granted, denied, jurisdiction, action, .. } = query.clone();
    let action_options = ACTIONS
        .iter()
        .map(|a| view! { <option value=*a selected=action.as_deref() == Some(*a)>{*a}</option> })
        .collect_view();
    let older = next_before.map(|before| {
        let href = older_href(&query, before);
        view! { <p class="pager"><a href=href rel="next">"Older records"</a></p> }
    });
    let count = records.len();
    let results = if records.is_empty() {
        view! { <p>"No records match these filters."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="records" aria-labelledby="h-results">
                    <thead>
                        <tr>
                            <th scope="col">"ID"</th>
                            <th scope="col">"Time"</th>
                            <th scope="col">"Site"</th>
                            <th scope="col">"Visitor"</th>
                            <th scope="col">"Action"</th>
                            <th scope="col">"Source"</th>
                            <th scope="col">"Granted"</th>
                            <th scope="col">"Denied"</th>
                            <th scope="col">"Jurisdiction"</th>
                            <th scope="col">"Region"</th>
                            <th scope="col">"Policy version"</th>
                        </tr>
                    </thead>
                    <tbody>{records.into_iter().map(record_row).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    let erase = session.filter(AdminSession::is_admin).map(|s| {
        view! {
            <section aria-labelledby="h-erase">
                <h2 id="h-erase">"Erase a visitor"</h2>
                <p>"Erasing removes the link between a visitor and their records: the visitor id and the \
                    details stored with it are removed from every record of that visitor, while the \
                    decisions themselves stay for the statistics. This cannot be undone."</p>
                <form method="post" action="/admin/erase" class="form-grid">
                    <CsrfField csrf=s.csrf/>
                    <div class="field">
                        <label for="erase-visitor">"Visitor id"</label>
                        <input type="text" id="erase-visitor" name="visitor" required minlength="32"
                            maxlength="32" pattern="[0-9a-fA-F]{32}" autocomplete="off" spellcheck="false"
                            aria-describedby="erase-visitor-hint"/>
                        <p class="hint" id="erase-visitor-hint">
                            "32 hexadecimal characters, as shown on the visitor's preference page."
                        </p>
                    </div>
                    <div class="actions"><button type="submit">"Erase visitor"</button></div>
                </form>
            </section>
        }
    });
    view! {
        <h1>"Consent records"</h1>
        <form method="get" action="/admin/records" class="form-grid filters" aria-label="Filter records">
            {field("visitor", "Visitor id", "text", visitor, Some("32 hexadecimal characters."))}
            {field("site", "Site", "text", site, None)}
            {field("from", "From", "date", from, None)}
            {field("to", "To (inclusive)", "date", to, None)}
            {field("granted", "Granted category", "text", granted, Some("A category key, e.g. analytics."))}
            {field("denied", "Denied category", "text", denied, Some("A category key, e.g. marketing."))}
            {field("jurisdiction", "Jurisdiction", "text", jurisdiction, Some("A rule id, e.g. gdpr."))}
            <div class="field">
                <label for="f-action">"Action"</label>
                <select id="f-action" name="action">
                    <option value="" selected=action.as_deref().is_none_or(str::is_empty)>"any"</option>
                    {action_options}
                </select>
            </div>
            <div class="actions">
                <button type="submit">"Search"</button>
                <a class="button secondary" href="/admin/records">"Clear filters"</a>
            </div>
        </form>
        <section aria-labelledby="h-results">
            <h2 id="h-results">"Results"</h2>
            <p class="meta">{format!("{count} {} shown, newest first.", if count == 1 { "record" } else { "records" })}</p>
            {results}
            {older}
            <p class="exports">"Export all matching records: "
                <a href=export_href(&query, "csv")>"CSV"</a> " · "
                <a href=export_href(&query, "ndjson")>"NDJSON"</a>
            </p>
        </section>
        {erase}
    }
}

fn record_row(r: RecordRow) -> impl IntoView {
    let visitor = match r.visitor_id {
        Some(v) => view! { <code>{v}</code> }.into_any(),
        None => view! { <span class="erased">"erased"</span> }.into_any(),
    };
    view! {
        <tr>
            <td><a href=format!("/admin/records/{}", r.id)>{r.id}</a></td>
            <td>{time_view(r.recorded_at)}</td>
            <td>{r.site}</td>
            <td>{visitor}</td>
            <td>{r.action}</td>
            <td>{r.source}</td>
            <td>{or_dash(Some(r.granted.join(", ")))}</td>
            <td>{or_dash(Some(r.denied.join(", ")))}</td>
            <td>{r.jurisdiction}</td>
            <td>{or_dash(r.region)}</td>
            <td>{r.policy_version}</td>
        </tr>
    }
}

/// The next (older) page with the same filters.
fn older_href(query: &RecordQuery, before: i64) -> String {
    let mut pairs = query.filter_pairs();
    pairs.push(("before", before.to_string()));
    url_with_query("/admin/records", &pairs)
}

/// The export API with the same filters (not the cursor: an export has every match).
fn export_href(query: &RecordQuery, format: &str) -> String {
    let mut pairs = vec![("format", format.to_owned())];
    pairs.extend(query.filter_pairs());
    url_with_query("/api/v1/admin/export", &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters_encoded() {
        let query = RecordQuery {
            site: Some("shop & co".into()),
            from: Some("2024-05-01".into()),
            action: Some(String::new()),
            before: Some(99),
            ..RecordQuery::default()
        };
        assert_eq!(older_href(&query, 40), "/admin/records?site=shop%20%26%20co&from=2024-05-01&before=40");
        assert_eq!(
            export_href(&query, "csv"),
            "/api/v1/admin/export?format=csv&site=shop%20%26%20co&from=2024-05-01"
        );
        assert_eq!(older_href(&RecordQuery::default(), 7), "/admin/records?before=7");
        assert_eq!(export_href(&RecordQuery::default(), "ndjson"), "/api/v1/admin/export?format=ndjson");
    }
}
