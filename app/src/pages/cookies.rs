use crate::shell::use_content;
use leptos::prelude::*;
use leptos_meta::Title;

/// The cookie table, generated from the registry and grouped by category.
#[component]
pub fn CookiesPage() -> impl IntoView {
    let content = use_content();
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let sections = content
        .categories
        .iter()
        .map(|cat| {
            let rows = content
                .cookies_in(&cat.key)
                .map(|c| {
                    view! {
                        <tr>
                            <th scope="row"><code>{c.name.clone()}</code></th>
                            <td>{c.provider.clone()}</td>
                            <td>{c.purpose.clone()}</td>
                            <td>{c.lifetime.clone()}</td>
                            <td>{t(&format!("cookies.party.{}", c.party.as_str()))}</td>
                        </tr>
                    }
                })
                .collect_view();
            let status = if cat.required { t("cookies.always_on") } else { t("cookies.needs_consent") };
            view! {
                <section class="category" id=format!("category-{}", cat.key) aria-labelledby=format!("h-{}", cat.key)>
                    <h2 id=format!("h-{}", cat.key)>{ctx.category_name(&content, &cat.key)} " " <span class="badge">{status}</span></h2>
                    <p>{ctx.category_description(&content, &cat.key)}</p>
                    <div class="table-wrap">
                        <table>
                            <thead>
                                <tr>
                                    <th scope="col">{t("cookies.name")}</th>
                                    <th scope="col">{t("cookies.provider")}</th>
                                    <th scope="col">{t("cookies.purpose")}</th>
                                    <th scope="col">{t("cookies.lifetime")}</th>
                                    <th scope="col">{t("cookies.party")}</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                </section>
            }
        })
        .collect_view();
    view! {
        <Title text=t("cookies.title")/>
        <h1>{t("cookies.title")}</h1>
        <p class="lead">{t("cookies.lead")} " " <a href="/preferences">{t("cookies.change")}</a></p>
        <p class="meta">{format!("{} {}", t("cookies.registry_version"), content.registry_version)}</p>
        {sections}
    }
}
