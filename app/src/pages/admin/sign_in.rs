use leptos::prelude::*;

/// Signing in with an API token. The token field is a password field so it is neither shown
/// nor offered for autofill; `csrf` is the login CSRF token the server double-checks against
/// its cookie.
#[component]
pub fn SignInPage(next: String, csrf: String, error: Option<String>) -> impl IntoView {
    view! {
        <h1>"Sign in"</h1>
        {error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <p class="lead">"Sign in to the admin area with an API token of role admin or auditor."</p>
        <form method="post" action="/admin/sign-in" class="form-grid sign-in">
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="next" value=next/>
            <div class="field">
                <label for="token">"API token"</label>
                <input type="password" id="token" name="token" autocomplete="off" required
                    spellcheck="false" aria-describedby="token-hint"/>
                <p class="hint" id="token-hint">
                    "Tokens are created on the server with " <code>"accord token create --name NAME --role auditor"</code>
                    " and shown only once."
                </p>
            </div>
            <div class="actions"><button type="submit">"Sign in"</button></div>
        </form>
    }
}
