use crate::shell::use_content;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn PrivacyPage() -> impl IntoView {
    let content = use_content();
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let policy = &content.policy;
    let last_update =
        policy.changelog.iter().map(|c| c.date.as_str()).max().unwrap_or(&policy.effective_date);
    let toc = policy
        .toc
        .iter()
        .map(|e| view! { <li><a href=format!("#{}", e.id)>{e.title.clone()}</a></li> })
        .collect_view();
    let changelog = policy
        .changelog
        .iter()
        .map(|c| {
            let kind = if c.material { t("privacy.material") } else { t("privacy.minor") };
            view! {
                <li>
                    <time datetime=c.date.clone()>{c.date.clone()}</time>
                    " — " <span class="version">{c.version.clone()}</span>
                    " (" {kind} "): " {c.summary.clone()}
                </li>
            }
        })
        .collect_view();
    view! {
        <Title text=policy.title.clone()/>
        <article class="policy">
            <h1>{policy.title.clone()}</h1>
            <dl class="meta">
                <dt>{t("privacy.version")}</dt><dd class="policy-version">{policy.version.clone()}</dd>
                <dt>{t("privacy.effective")}</dt><dd><time datetime=policy.effective_date.clone()>{policy.effective_date.clone()}</time></dd>
                <dt>{t("privacy.last_update")}</dt><dd><time datetime=last_update.to_owned()>{last_update.to_owned()}</time></dd>
            </dl>
            <nav class="toc" aria-labelledby="toc-title">
                <h2 id="toc-title">{t("privacy.toc")}</h2>
                <ol>{toc}<li><a href="#changelog">{t("privacy.changelog")}</a></li></ol>
            </nav>
            <div class="prose" inner_html=policy.html.clone()></div>
            <section id="changelog" aria-labelledby="changelog-title">
                <h2 id="changelog-title">{t("privacy.changelog")}</h2>
                <ol class="changelog">{changelog}</ol>
                <p class="hash">{t("privacy.hash")} " " <code>{policy.content_hash.clone()}</code></p>
            </section>
        </article>
    }
}
