use super::{or_dash, time_view};
use crate::model::admin::{Receipt, ReceiptPurpose};
use leptos::prelude::*;

/// One stored record as a consent receipt (ISO/IEC TS 27560 fields).
#[component]
pub fn ReceiptPage(receipt: Receipt) -> impl IntoView {
    let Receipt {
        schema_version,
        schema,
        record_id,
        record_hash,
        pii_principal_id,
        pii_controller,
        site,
        notice,
        language,
        purposes,
        jurisdiction,
        collection_method,
        timestamp,
        validity,
        state,
    } = receipt;
    let principal = match pii_principal_id {
        Some(id) => view! { <code>{id}</code> }.into_any(),
        None => view! { <span class="erased">"erased"</span> }.into_any(),
    };
    let policy_hash = match notice.policy_hash {
        Some(hash) => view! { <code class="hash">{hash}</code> }.into_any(),
        None => view! { "not stored" }.into_any(),
    };
    // Only link what is clearly a web address; anything else is shown as text.
    let url = notice.policy_url;
    let policy_url = if is_web_link(&url) {
        let text = url.clone();
        view! { <a href=url>{text}</a> }.into_any()
    } else {
        view! { {url} }.into_any()
    };
    view! {
        <h1>{format!("Consent receipt for record {record_id}")}</h1>
        <p>
            <a href=format!("/api/v1/admin/records/{record_id}/receipt") type="application/json">"Receipt as JSON"</a>
            " · " <a href="/admin/records">"Back to the records"</a>
        </p>
        <section aria-labelledby="h-record">
            <h2 id="h-record">"Record"</h2>
            <dl class="current receipt">
                <dt>"Record id"</dt><dd>{record_id}</dd>
                <dt>"Record hash"</dt><dd><code class="hash">{record_hash}</code></dd>
                <dt>"State"</dt><dd class="receipt-state">{state}</dd>
                <dt>"Timestamp"</dt><dd>{time_view(timestamp)}</dd>
                <dt>"Valid from"</dt><dd>{time_view(validity.valid_from)}</dd>
                <dt>"Valid until"</dt><dd>{time_view(validity.valid_until)}</dd>
                <dt>"Principal (pseudonymous visitor id)"</dt><dd>{principal}</dd>
                <dt>"Controller"</dt><dd>{pii_controller.name}</dd>
                <dt>"Controller contact"</dt><dd>{pii_controller.contact}</dd>
                <dt>"Site"</dt><dd>{site}</dd>
                <dt>"Language"</dt><dd>{language}</dd>
                <dt>"Schema"</dt><dd>{format!("{schema}, receipt format {schema_version}")}</dd>
            </dl>
        </section>
        <section aria-labelledby="h-notice">
            <h2 id="h-notice">"Notice"</h2>
            <dl class="current receipt">
                <dt>"Policy version"</dt><dd>{notice.policy_version}</dd>
                <dt>"Policy hash (SHA-256)"</dt><dd>{policy_hash}</dd>
                <dt>"Policy"</dt><dd>{policy_url}</dd>
                <dt>"Cookie registry version"</dt><dd>{notice.registry_version}</dd>
            </dl>
        </section>
        <section aria-labelledby="h-jurisdiction">
            <h2 id="h-jurisdiction">"Jurisdiction"</h2>
            <dl class="current receipt">
                <dt>"Rule"</dt><dd>{jurisdiction.rule}</dd>
                <dt>"Rule version"</dt><dd>{jurisdiction.rule_version}</dd>
                <dt>"Region"</dt><dd>{jurisdiction.region.unwrap_or_else(|| "unknown".to_owned())}</dd>
                <dt>"Global Privacy Control honoured"</dt><dd>{yes_no(jurisdiction.gpc_applied)}</dd>
            </dl>
        </section>
        <section aria-labelledby="h-method">
            <h2 id="h-method">"Collection method"</h2>
            <dl class="current receipt">
                <dt>"Action"</dt><dd>{collection_method.action}</dd>
                <dt>"Source"</dt><dd>{collection_method.source}</dd>
                <dt>"Description"</dt><dd>{collection_method.description}</dd>
                <dt>"Page"</dt><dd>{or_dash(collection_method.page)}</dd>
            </dl>
        </section>
        <section aria-labelledby="h-purposes">
            <h2 id="h-purposes">"Purposes"</h2>
            <div class="table-wrap">
                <table aria-labelledby="h-purposes">
                    <thead>
                        <tr>
                            <th scope="col">"Category"</th>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Description"</th>
                            <th scope="col">"Required"</th>
                            <th scope="col">"Decision"</th>
                        </tr>
                    </thead>
                    <tbody>{purposes.into_iter().map(purpose_row).collect_view()}</tbody>
                </table>
            </div>
        </section>
    }
}

fn purpose_row(p: ReceiptPurpose) -> impl IntoView {
    view! {
        <tr>
            <td><code>{p.category}</code></td>
            <th scope="row">{p.name}</th>
            <td>{p.description}</td>
            <td>{yes_no(p.required)}</td>
            <td class=if p.granted { "granted" } else { "denied" }>{if p.granted { "granted" } else { "denied" }}</td>
        </tr>
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn is_web_link(url: &str) -> bool {
    url.starts_with("https://")
        || url.starts_with("http://")
        || (url.starts_with('/') && !url.starts_with("//"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_become_links() {
        assert!(is_web_link("https://example.com/privacy"));
        assert!(is_web_link("/privacy"));
        assert!(!is_web_link("javascript:alert(1)"));
        assert!(!is_web_link("//evil.example"));
    }
}
