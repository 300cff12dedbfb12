use super::{time_view, CsrfField};
use crate::model::admin::{AdminSession, NewToken, TokenRow, TokensPage as Tokens};
use leptos::prelude::*;

/// API tokens (admins only): list, rotate, revoke, create. A new secret is shown once.
#[component]
pub fn TokensPage(page: Tokens, session: Option<AdminSession>) -> impl IntoView {
    let Tokens { tokens, new_token } = page;
    // The server only serves this page to admins; without a session no form could post anyway.
    let csrf = session.filter(AdminSession::is_admin).map(|s| s.csrf);
    let new_token = new_token.map(|NewToken { name, role, token }| {
        view! {
            <div class="new-token" role="alert">
                <p><strong>"Copy this token now; it will not be shown again."</strong></p>
                <p>{format!("Token \u{201c}{name}\u{201d} ({role}):")}</p>
                <p><code class="secret">{token}</code></p>
            </div>
        }
    });
    let rows = tokens.into_iter().map(|t| token_row(t, csrf.clone())).collect_view();
    let create = csrf.map(|csrf| {
        view! {
            <section aria-labelledby="h-create">
                <h2 id="h-create">"Create a token"</h2>
                <form method="post" action="/admin/tokens" class="form-grid">
                    <CsrfField csrf/>
                    <div class="field">
                        <label for="token-name">"Name"</label>
                        <input type="text" id="token-name" name="name" required autocomplete="off"
                            aria-describedby="token-name-hint"/>
                        <p class="hint" id="token-name-hint">"Who or what uses it, e.g. ci-export."</p>
                    </div>
                    <div class="field">
                        <label for="token-role">"Role"</label>
                        <select id="token-role" name="role" aria-describedby="token-role-hint">
                            <option value="auditor" selected>"auditor"</option>
                            <option value="admin">"admin"</option>
                        </select>
                        <p class="hint" id="token-role-hint">"Auditors can only read; admins can change everything."</p>
                    </div>
                    <div class="actions"><button type="submit">"Create token"</button></div>
                </form>
            </section>
        }
    });
    view! {
        <h1>"API tokens"</h1>
        {new_token}
        <p>"Tokens open the admin API and this admin area. Only their hashes are stored. Rotating \
            replaces a token's secret, revoking disables it; either takes effect at once."</p>
        <div class="table-wrap">
            <table class="tokens" aria-label="API tokens">
                <thead>
                    <tr>
                        <th scope="col">"ID"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {create}
    }
}

fn token_row(t: TokenRow, csrf: Option<String>) -> impl IntoView {
    let TokenRow { id, name, role, created_at, revoked_at } = t;
    let active = revoked_at.is_none();
    let status = match revoked_at {
        Some(at) => view! { "revoked " {time_view(at)} }.into_any(),
        None => view! { <span class="active">"active"</span> }.into_any(),
    };
    // Rotating or revoking only makes sense for a token that still works.
    let actions = csrf.filter(|_| active).map(|csrf| {
        view! {
            <div class="row-actions">
                <form method="post" action=format!("/admin/tokens/{id}/rotate")>
                    <CsrfField csrf=csrf.clone()/>
                    <button type="submit" class="secondary" aria-label=format!("Rotate token {name}")>"Rotate"</button>
                </form>
                <form method="post" action=format!("/admin/tokens/{id}/revoke")>
                    <CsrfField csrf/>
                    <button type="submit" class="secondary" aria-label=format!("Revoke token {name}")>"Revoke"</button>
                </form>
            </div>
        }
    });
    view! {
        <tr>
            <td>{id}</td>
            <th scope="row">{name}</th>
            <td>{role}</td>
            <td>{time_view(created_at)}</td>
            <td>{status}</td>
            <td>{actions}</td>
        </tr>
    }
}
