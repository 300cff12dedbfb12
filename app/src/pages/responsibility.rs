use crate::model::Owner;
use crate::shell::use_content;
use leptos::prelude::*;
use leptos_meta::Title;

fn items(list: &[String]) -> AnyView {
    if list.is_empty() {
        view! { <span class="none" aria-hidden="true">"—"</span> }.into_any()
    } else {
        view! { <ul>{list.iter().map(|i| view! { <li>{i.clone()}</li> }).collect_view()}</ul> }.into_any()
    }
}

/// Who secures what: the shared-responsibility matrix.
#[component]
pub fn ResponsibilityPage() -> impl IntoView {
    let content = use_content();
    let ctx = crate::visitor::use_request();
    let t = |k: &str| ctx.t(k).to_owned();
    let r = &content.responsibility;
    let rows = r
        .areas
        .iter()
        .map(|a| {
            view! {
                <tr id=format!("area-{}", a.key) data-owner=a.owner.as_str()>
                    <th scope="row">{a.name.clone()}</th>
                    <td>{items(&a.provider)}</td>
                    <td>{items(&a.customer)}</td>
                    <td>{items(&a.shared)}</td>
                </tr>
            }
        })
        .collect_view();
    let duties = r
        .duties
        .iter()
        .map(|d| {
            let heading = match d.party {
                Owner::Provider => t("resp.provider_duties"),
                Owner::Customer => t("resp.customer_duties"),
                Owner::Shared => t("resp.shared_duties"),
            };
            view! { <section><h2>{heading}</h2>{items(&d.items)}</section> }
        })
        .collect_view();
    view! {
        <Title text=r.title.clone()/>
        <h1>{r.title.clone()}</h1>
        <p class="lead">{r.intro.clone()}</p>
        <div class="table-wrap">
            <table class="matrix">
                <thead>
                    <tr>
                        <th scope="col">{t("resp.area")}</th>
                        <th scope="col">{t("resp.provider")}</th>
                        <th scope="col">{t("resp.customer")}</th>
                        <th scope="col">{t("resp.shared")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {duties}
    }
}
