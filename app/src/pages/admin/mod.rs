//! The admin area. The server authenticates the session, picks the view from the path and
//! attaches an [`AdminPage`] to the request; these pages only render it. Plain HTML and
//! forms, no islands: nothing here ships to the browser as WASM. English only.

mod audit;
mod dashboard;
mod receipt;
mod records;
mod sign_in;
mod tokens;

use crate::admin::{set_status, use_admin};
use crate::model::admin::{AdminPage, AdminSession, AdminView};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

pub use audit::AuditPage;
pub use dashboard::DashboardPage;
pub use receipt::ReceiptPage;
pub use records::RecordsPage;
pub use sign_in::SignInPage;
pub use tokens::TokensPage;

/// Every /admin route. The server already chose the view from the path (an unknown record
/// becomes a `Problem`), so one component dispatches on it.
#[component]
pub fn AdminPageView() -> impl IntoView {
    let Some(AdminPage { session, view, flash }) = use_admin() else {
        return view! { <SignInRequired/> }.into_any();
    };
    let (title, body) = match view {
        AdminView::SignIn { next, csrf, error } => {
            ("Sign in", view! { <SignInPage next csrf error/> }.into_any())
        }
        AdminView::Dashboard(dashboard) => {
            ("Dashboard", view! { <DashboardPage dashboard session=session.clone()/> }.into_any())
        }
        AdminView::Records(search) => {
            ("Consent records", view! { <RecordsPage search session=session.clone()/> }.into_any())
        }
        AdminView::Receipt(receipt) => {
            ("Consent receipt", view! { <ReceiptPage receipt=*receipt/> }.into_any())
        }
        AdminView::Audit(search) => ("Audit log", view! { <AuditPage search/> }.into_any()),
        AdminView::Tokens(page) => {
            ("API tokens", view! { <TokensPage page session=session.clone()/> }.into_any())
        }
        AdminView::Problem { status, message } => {
            set_status(status);
            (problem_title(status), view! { <ProblemPage status message/> }.into_any())
        }
    };
    view! {
        <Title text=format!("{title} · Accord admin")/>
        <Meta name="robots" content="noindex, nofollow"/>
        // The surrounding site may be in another language or direction; this part is English.
        <div class="admin" lang="en" dir="ltr">
            {session.map(|session| view! { <AdminChrome session/> })}
            {flash.map(|flash| view! { <p class="notice" role="status">{flash}</p> })}
            {body}
        </div>
    }
    .into_any()
}

/// Shown if the server rendered an admin route without attaching admin data, which means
/// the request was not authenticated.
#[component]
fn SignInRequired() -> impl IntoView {
    view! {
        <Title text="Sign in required · Accord admin"/>
        <Meta name="robots" content="noindex, nofollow"/>
        <div class="admin" lang="en" dir="ltr">
            <h1>"Sign in required"</h1>
            <p>"The admin area is only available after signing in. "
                <a href="/admin/sign-in">"Sign in with an API token"</a></p>
        </div>
    }
}

/// The admin navigation: who is signed in, the sections their role may see, signing out.
#[component]
fn AdminChrome(session: AdminSession) -> impl IntoView {
    let path = crate::visitor::current_path();
    let mut links =
        vec![("/admin", "Dashboard"), ("/admin/records", "Records"), ("/admin/audit", "Audit log")];
    if session.is_admin() {
        links.push(("/admin/tokens", "Tokens"));
    }
    links.push(("/api/docs", "API docs"));
    let items = links
        .into_iter()
        .map(|(href, label)| {
            let current = is_current(&path, href).then_some("page");
            view! { <li><a href=href aria-current=current>{label}</a></li> }
        })
        .collect_view();
    view! {
        <div class="admin-bar">
            <nav class="admin-nav" aria-label="Admin">
                <ul>{items}</ul>
            </nav>
            <div class="admin-session">
                <p>"Signed in as " <strong>{session.name.clone()}</strong> {format!(" ({})", session.role)}</p>
                <form method="post" action="/admin/sign-out">
                    <CsrfField csrf=session.csrf.clone()/>
                    <button type="submit" class="secondary">"Sign out"</button>
                </form>
            </div>
        </div>
    }
}

/// Whether the nav link `href` is the section of `path` (a receipt belongs to Records).
fn is_current(path: &str, href: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == href || (href != "/admin" && path.strip_prefix(href).is_some_and(|rest| rest.starts_with('/')))
}

/// A request the server refused to answer (bad filter, unknown record); the status is set on
/// the response as well.
#[component]
fn ProblemPage(status: u16, message: String) -> impl IntoView {
    view! {
        <h1>{problem_title(status)}</h1>
        <p class="problem">{message}</p>
        <p class="meta">{format!("HTTP status {status}")}</p>
        <p><a href="/admin">"Back to the dashboard"</a></p>
    }
}

fn problem_title(status: u16) -> &'static str {
    match status {
        400 | 422 => "Invalid request",
        401 => "Sign in required",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Conflict",
        429 => "Too many requests",
        500..=599 => "Server error",
        _ => "Something went wrong",
    }
}

/// The session's CSRF token, required by every state-changing form.
#[component]
pub(crate) fn CsrfField(csrf: String) -> impl IntoView {
    view! { <input type="hidden" name="csrf" value=csrf/> }
}

/// A labelled input of a filter form; `hint` is linked with `aria-describedby`.
pub(crate) fn field(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: Option<String>,
    hint: Option<&'static str>,
) -> AnyView {
    let id = format!("f-{name}");
    let hint_id = hint.map(|_| format!("{id}-hint"));
    let kind = if kind == "date" { date_kind(value.as_deref()) } else { kind };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input type=kind id=id name=name value=value.unwrap_or_default() aria-describedby=hint_id.clone()/>
            {hint.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
        </div>
    }
    .into_any()
}

/// A date filter is a date picker, unless the query holds a full timestamp, which a date
/// input could not show: then a text input keeps it when the form is sent again.
fn date_kind(value: Option<&str>) -> &'static str {
    match value {
        Some(v) if !v.is_empty() && v.len() != 10 => "text",
        _ => "date",
    }
}

/// An RFC 3339 timestamp as given, machine-readable too.
pub(crate) fn time_view(at: String) -> impl IntoView {
    let text = at.clone();
    view! { <time datetime=at>{text}</time> }
}

pub(crate) fn or_dash(value: Option<String>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or_else(|| "—".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nav_marks_the_section_of_the_path() {
        assert!(is_current("/admin", "/admin"));
        assert!(is_current("/admin/", "/admin"));
        assert!(!is_current("/admin/records", "/admin"));
        assert!(is_current("/admin/records", "/admin/records"));
        assert!(is_current("/admin/records/42", "/admin/records"));
        assert!(!is_current("/admin/recordsx", "/admin/records"));
        assert!(!is_current("/admin/audit", "/admin/records"));
    }

    #[test]
    fn full_timestamps_keep_a_text_input() {
        assert_eq!(date_kind(None), "date");
        assert_eq!(date_kind(Some("")), "date");
        assert_eq!(date_kind(Some("2024-05-01")), "date");
        assert_eq!(date_kind(Some("2024-05-01T10:00:00Z")), "text");
    }
}

/// Renders whole pages from an [`AdminPage`] attached to the request, as the server does.
#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use super::*;
    use crate::model::admin::*;

    fn render(path: &str, page: AdminPage) -> String {
        render_with_status(path, page).0
    }

    /// The HTML and the status the page set on the response, if any.
    fn render_with_status(path: &str, page: AdminPage) -> (String, Option<http::StatusCode>) {
        let owner = Owner::new();
        let res = leptos_axum::ResponseOptions::default();
        let html = owner.with(|| {
            provide_context(res.clone());
            let mut req = http::Request::builder().uri(path).body(()).unwrap_or_default();
            req.extensions_mut().insert(page);
            let (parts, ()) = req.into_parts();
            provide_context(parts);
            leptos_meta::provide_meta_context();
            view! { <AdminPageView/> }.into_view().to_html()
        });
        let status = res.0.read().ok().and_then(|p| p.status);
        (html, status)
    }

    fn session(role: &str) -> Option<AdminSession> {
        Some(AdminSession { name: "ops".into(), role: role.into(), csrf: "CSRF123".into() })
    }

    fn rate(category: &str, granted: u64, decided: u64) -> CategoryRate {
        CategoryRate { category: category.into(), name: category.to_uppercase(), granted, decided }
    }

    #[test]
    fn without_admin_data_asks_to_sign_in() {
        let owner = Owner::new();
        let html = owner.with(|| {
            leptos_meta::provide_meta_context();
            view! { <AdminPageView/> }.into_view().to_html()
        });
        assert!(html.contains("Sign in required") && html.contains(r#"href="/admin/sign-in""#), "{html}");
    }

    #[test]
    fn sign_in_form_posts_token_csrf_and_next() {
        let html = render(
            "/admin/sign-in",
            AdminPage {
                session: None,
                view: AdminView::SignIn {
                    next: "/admin/records".into(),
                    csrf: "LOGIN".into(),
                    error: Some("Bad".into()),
                },
                flash: None,
            },
        );
        assert!(html.contains(r#"<form method="post" action="/admin/sign-in""#), "{html}");
        assert!(html.contains(r#"type="password" id="token" name="token" autocomplete="off""#), "{html}");
        assert!(html.contains(r#"name="csrf" value="LOGIN""#), "{html}");
        assert!(html.contains(r#"name="next" value="/admin/records""#), "{html}");
        assert!(html.contains(r#"<p role="alert" class="error">Bad</p>"#), "{html}");
        assert!(!html.contains("Sign out"), "{html}");
    }

    #[test]
    fn dashboard_renders_charts_and_admin_forms() {
        let day = |label: &str, g, d| GroupRates {
            label: label.into(),
            records: d,
            categories: vec![rate("analytics", g, d)],
        };
        let dashboard = Dashboard {
            from: "2024-05-01".into(),
            to: "2024-05-03".into(),
            site: None,
            totals: Totals { records: 4, accept_all: 2, reject_all: 1, custom: 1, withdraw: 0, gpc: 0 },
            categories: vec![rate("analytics", 3, 4), rate("marketing", 1, 4)],
            by_jurisdiction: vec![GroupRates {
                label: "gdpr".into(),
                records: 4,
                categories: vec![rate("analytics", 3, 4), rate("marketing", 1, 4)],
            }],
            by_day: vec![day("2024-05-01", 1, 2), day("2024-05-02", 0, 0), day("2024-05-03", 2, 2)],
            head: LedgerHead { count: 9, hash: "abcdef".into() },
        };
        let html = render(
            "/admin",
            AdminPage {
                session: session("admin"),
                view: AdminView::Dashboard(dashboard),
                flash: Some("Done".into()),
            },
        );
        assert!(html.contains(r#"<p role="status" class="notice">Done</p>"#), "{html}");
        assert!(html.contains(r#"<form method="get" action="/admin""#), "{html}");
        assert_eq!(html.matches("<svg").count(), 3, "{html}");
        assert!(html.contains(r#"<form method="post" action="/admin/purge">"#), "{html}");
        assert!(html.contains(r#"<form method="post" action="/admin/sign-out">"#), "{html}");
        assert!(html.contains(r#"href="/admin/tokens""#), "{html}");
        assert!(html.contains(r#"aria-current="page""#), "{html}");
        assert!(html.contains("Signed in as <strong>ops</strong> (admin)"), "{html}");
    }

    #[test]
    fn auditors_see_no_admin_forms() {
        let html = render(
            "/admin",
            AdminPage {
                session: session("auditor"),
                view: AdminView::Dashboard(Dashboard::default()),
                flash: None,
            },
        );
        assert!(!html.contains("/admin/purge") && !html.contains(r#"href="/admin/tokens""#), "{html}");
        assert!(html.contains(crate::components::chart::EMPTY), "{html}");
    }

    fn record() -> RecordRow {
        RecordRow {
            id: 42,
            recorded_at: "2024-05-01T10:00:00Z".into(),
            site: "shop".into(),
            visitor_id: None,
            action: "custom".into(),
            source: "banner".into(),
            granted: vec!["analytics".into()],
            denied: vec!["marketing".into()],
            policy_version: "3".into(),
            registry_version: "2".into(),
            language: "en".into(),
            jurisdiction: "gdpr".into(),
            region: Some("DE".into()),
            rule_version: "1".into(),
            gpc_applied: false,
            expires_at: "2025-05-01T10:00:00Z".into(),
            page: None,
            ip_reduced: None,
            ua_family: None,
            erased: true,
            hash: "ff".into(),
        }
    }

    #[test]
    fn records_page_links_and_forms() {
        let search = RecordSearch {
            query: RecordQuery { action: Some("gpc".into()), ..RecordQuery::default() },
            records: vec![record()],
            next_before: Some(42),
        };
        let html = render(
            "/admin/records",
            AdminPage { session: session("admin"), view: AdminView::Records(search), flash: None },
        );
        assert!(html.contains(r#"href="/admin/records/42""#), "{html}");
        assert!(html.contains(r#"href="/admin/records?action=gpc&amp;before=42""#), "{html}");
        assert!(html.contains(r#"href="/api/v1/admin/export?format=csv&amp;action=gpc""#), "{html}");
        assert!(html.contains(r#"<option value="gpc" selected>"#), "{html}");
        assert!(html.contains(r#"<form method="post" action="/admin/erase""#), "{html}");
        assert!(html.contains(r#"name="visitor""#) && html.contains("erased"), "{html}");
        assert!(html.contains(r#"<time datetime="2024-05-01T10:00:00Z">"#), "{html}");
    }

    #[test]
    fn tokens_page_shows_a_new_secret_once_and_forms_per_active_token() {
        let page = crate::model::admin::TokensPage {
            tokens: vec![
                TokenRow {
                    id: 1,
                    name: "ops".into(),
                    role: "admin".into(),
                    created_at: "2024-01-01T00:00:00Z".into(),
                    revoked_at: None,
                },
                TokenRow {
                    id: 2,
                    name: "old".into(),
                    role: "auditor".into(),
                    created_at: "2024-01-01T00:00:00Z".into(),
                    revoked_at: Some("2024-02-01T00:00:00Z".into()),
                },
            ],
            new_token: Some(NewToken { name: "ci".into(), role: "auditor".into(), token: "SECRET".into() }),
        };
        let html = render(
            "/admin/tokens",
            AdminPage { session: session("admin"), view: AdminView::Tokens(page), flash: None },
        );
        assert!(
            html.contains("Copy this token now; it will not be shown again") && html.contains("SECRET"),
            "{html}"
        );
        assert!(
            html.contains(r#"action="/admin/tokens/1/rotate""#)
                && html.contains(r#"action="/admin/tokens/1/revoke""#),
            "{html}"
        );
        assert!(!html.contains("/admin/tokens/2/"), "{html}");
        assert!(html.contains(r#"<form method="post" action="/admin/tokens""#), "{html}");
        assert!(html.contains(r#"name="role""#) && html.contains(r#"name="name""#), "{html}");
    }

    #[test]
    fn receipt_and_audit_and_problem_render() {
        let receipt = Receipt {
            schema_version: "1".into(),
            schema: "ISO/IEC TS 27560".into(),
            record_id: 42,
            record_hash: "ff".into(),
            pii_principal_id: Some("0123".into()),
            pii_controller: ReceiptController { name: "Shop".into(), contact: "privacy@shop".into() },
            site: "shop".into(),
            notice: ReceiptNotice {
                policy_version: "3".into(),
                policy_hash: None,
                policy_url: "/privacy".into(),
                registry_version: "2".into(),
            },
            language: "en".into(),
            purposes: vec![ReceiptPurpose {
                category: "analytics".into(),
                name: "Analytics".into(),
                description: "Counts".into(),
                required: false,
                granted: true,
            }],
            jurisdiction: ReceiptJurisdiction {
                rule: "gdpr".into(),
                rule_version: "1".into(),
                region: None,
                gpc_applied: false,
            },
            collection_method: ReceiptMethod {
                action: "custom".into(),
                source: "banner".into(),
                description: "Saved".into(),
                page: None,
            },
            timestamp: "2024-05-01T10:00:00Z".into(),
            validity: ReceiptValidity {
                valid_from: "2024-05-01T10:00:00Z".into(),
                valid_until: "2025-05-01T10:00:00Z".into(),
            },
            state: "active".into(),
        };
        let html = render(
            "/admin/records/42",
            AdminPage {
                session: session("auditor"),
                view: AdminView::Receipt(Box::new(receipt)),
                flash: None,
            },
        );
        assert!(html.contains(r#"href="/api/v1/admin/records/42/receipt""#), "{html}");
        assert!(html.contains(r#"href="/admin/records" aria-current="page""#), "{html}");
        let audit = AuditSearch {
            query: AuditQuery { actor: Some("ops".into()), ..AuditQuery::default() },
            entries: vec![AuditRow {
                id: 7,
                at: "2024-05-01T10:00:00Z".into(),
                actor: "ops".into(),
                role: "admin".into(),
                action: "export".into(),
                target: "records".into(),
                detail: String::new(),
                ip_reduced: None,
            }],
            next_before: Some(7),
        };
        let html = render(
            "/admin/audit",
            AdminPage { session: session("auditor"), view: AdminView::Audit(audit), flash: None },
        );
        assert!(html.contains(r#"href="/admin/audit?actor=ops&amp;before=7""#), "{html}");
        assert!(html.contains(r#"href="/api/v1/admin/audit/export?format=ndjson&amp;actor=ops""#), "{html}");
        let problem = AdminView::Problem { status: 404, message: "No record x".into() };
        let (html, status) = render_with_status(
            "/admin/records/x",
            AdminPage { session: session("auditor"), view: problem, flash: None },
        );
        assert!(html.contains("<h1>Not found</h1>") && html.contains("No record x"), "{html}");
        assert_eq!(status, Some(http::StatusCode::NOT_FOUND));
    }
}
