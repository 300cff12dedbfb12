use super::{field, or_dash, time_view};
use crate::admin::url_with_query;
use crate::model::admin::{AuditQuery, AuditRow, AuditSearch};
use leptos::prelude::*;

/// The audit log: who did what in the admin area and API, newest first.
#[component]
pub fn AuditPage(search: AuditSearch) -> impl IntoView {
    let AuditSearch { query, entries, next_before } = search;
    let older = next_before.map(|before| {
        let mut pairs = filter_pairs(&query);
        pairs.push(("before", before.to_string()));
        let href = url_with_query("/admin/audit", &pairs);
        view! { <p class="pager"><a href=href rel="next">"Older entries"</a></p> }
    });
    let count = entries.len();
    let results = if entries.is_empty() {
        view! { <p>"No entries match these filters."</p> }.into_any()
    } else {
        view! {
            <div class="table-wrap">
                <table class="audit" aria-labelledby="h-entries">
                    <thead>
                        <tr>
                            <th scope="col">"ID"</th>
                            <th scope="col">"Time"</th>
                            <th scope="col">"Actor"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Action"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"Detail"</th>
                            <th scope="col">"IP (reduced)"</th>
                        </tr>
                    </thead>
                    <tbody>{entries.into_iter().map(audit_row).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    let AuditQuery { actor, action, from, to, .. } = query.clone();
    view! {
        <h1>"Audit log"</h1>
        <form method="get" action="/admin/audit" class="form-grid filters" aria-label="Filter entries">
            {field("actor", "Actor", "text", actor, Some("A token name, cli, visitor or system."))}
            {field("action", "Action", "text", action, Some("e.g. sign_in, export, erase."))}
            {field("from", "From", "date", from, None)}
            {field("to", "To (inclusive)", "date", to, None)}
            <div class="actions">
                <button type="submit">"Search"</button>
                <a class="button secondary" href="/admin/audit">"Clear filters"</a>
            </div>
        </form>
        <section aria-labelledby="h-entries">
            <h2 id="h-entries">"Entries"</h2>
            <p class="meta">{format!("{count} {} shown, newest first.", if count == 1 { "entry" } else { "entries" })}</p>
            {results}
            {older}
            <p class="exports">"Export all matching entries: "
                <a href=export_href(&query, "csv")>"CSV"</a> " · "
                <a href=export_href(&query, "ndjson")>"NDJSON"</a>
            </p>
        </section>
    }
}

fn audit_row(e: AuditRow) -> impl IntoView {
    view! {
        <tr>
            <td>{e.id}</td>
            <td>{time_view(e.at)}</td>
            <td>{e.actor}</td>
            <td>{e.role}</td>
            <td>{e.action}</td>
            <td>{or_dash(Some(e.target))}</td>
            <td>{or_dash(Some(e.detail))}</td>
            <td>{or_dash(e.ip_reduced)}</td>
        </tr>
    }
}

/// The filters (not the cursor) as query pairs; empty values count as absent.
fn filter_pairs(query: &AuditQuery) -> Vec<(&'static str, String)> {
    [("actor", &query.actor), ("action", &query.action), ("from", &query.from), ("to", &query.to)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| (k, v.clone())))
        .collect()
}

fn export_href(query: &AuditQuery, format: &str) -> String {
    let mut pairs = vec![("format", format.to_owned())];
    pairs.extend(filter_pairs(query));
    url_with_query("/api/v1/admin/audit/export", &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_links_carry_the_filters() {
        let query = AuditQuery {
            actor: Some("ci bot".into()),
            action: Some(String::new()),
            to: Some("2024-05-31".into()),
            before: Some(5),
            ..AuditQuery::default()
        };
        assert_eq!(
            export_href(&query, "ndjson"),
            "/api/v1/admin/audit/export?format=ndjson&actor=ci%20bot&to=2024-05-31"
        );
    }
}
