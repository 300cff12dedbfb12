use super::{Banner, GatedDemoSnippets, LanguageSwitcher};
use crate::shell::use_content;
use leptos::prelude::*;

/// Page chrome: skip link, header navigation, main region, footer with a permanent
/// "cookie settings" link, and — only for visitors without a valid decision — the banner.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let content = use_content();
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let decision = crate::visitor::valid_decision(&content, &ctx);
    let granted = crate::visitor::effective_grants(decision.as_ref(), &ctx);
    // The preference center is itself the consent interface: a banner there would only
    // cover its form. The admin area is for staff, not visitors being asked for consent.
    let path = crate::visitor::current_path();
    let on_preferences = path == "/preferences";
    let on_admin = path == "/admin" || path.starts_with("/admin/");
    let banner = (decision.is_none() && !on_preferences && !on_admin).then(|| view! { <Banner/> });
    view! {
        <a class="skip-link" href="#main">{t("nav.skip")}</a>
        <header class="site-header">
            <a class="brand" href="/">{t("site.name")}</a>
            <nav aria-label=t("nav.label")>
                <ul>
                    <li><a href="/privacy">{t("nav.privacy")}</a></li>
                    <li><a href="/cookies">{t("nav.cookies")}</a></li>
                    <li><a href="/responsibility">{t("nav.responsibility")}</a></li>
                    <li><a href="/preferences">{t("nav.preferences")}</a></li>
                </ul>
            </nav>
            <LanguageSwitcher/>
        </header>
        <main id="main" tabindex="-1">{children()}</main>
        <footer class="site-footer">
            <a href="/preferences">{t("footer.cookie_settings")}</a>
            <span>{format!("{} {}", t("footer.policy_version"), content.policy.version)}</span>
        </footer>
        {banner}
        <GatedDemoSnippets granted/>
    }
}
