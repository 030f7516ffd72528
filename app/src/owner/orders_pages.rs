//! The owner's orders page (`/owner/orders`): every order of the shop, newest first,
//! filtered by status and by the days they were placed on, a page at a time with
//! "older orders" (a cursor in the URL), and the same selection as a CSV download. The
//! filters are a GET form and the pages links: it all works without JavaScript, and a
//! link reproduces the view.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use super::owner_orders;
use crate::components::{ErrorView, PageTitle, order_status_text, payment_status_text};
use crate::domain::OrderStatus;
use crate::domain::history::OwnerOrder;
use crate::domain::money::format_krw;
use crate::domain::time::display;
use crate::i18n::*;

/// The filters as the URL carries them.
#[derive(Clone, Debug, Default, PartialEq)]
struct Filters {
    status: String,
    from: String,
    to: String,
}

impl Filters {
    /// `key=value&...` of the filters that are set (values percent-encoded).
    fn query(&self) -> String {
        [
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{k}={}",
                form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
    }

    fn href(&self, base: &str, before: Option<&str>) -> String {
        let mut q = self.query();
        if let Some(b) = before {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("before={b}"));
        }
        if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        }
    }
}

#[component]
pub fn OwnerOrdersPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let filters = Memo::new(move |_| {
        let q = query.read();
        Filters {
            status: q.get("status").unwrap_or_default(),
            from: q.get("from").unwrap_or_default(),
            to: q.get("to").unwrap_or_default(),
        }
    });
    let before = Memo::new(move |_| query.read().get("before"));
    let orders = Resource::new(
        move || (filters.get(), before.get()),
        |(f, before)| {
            let some = |s: String| Some(s).filter(|s| !s.is_empty());
            owner_orders(some(f.status), some(f.from), some(f.to), before)
        },
    );
    view! {
        <PageTitle text=move || t_string!(i18n, owner_orders_title).to_string() />
        <section>
            <div class="title-row">
                <h1>{t!(i18n, owner_orders_title)}</h1>
                <a class="button" href=move || filters.read().href("/api/v1/owner/orders.csv", None)
                    data-testid="export-csv" download="orders.csv" rel="external">{t!(i18n, export_csv)}</a>
            </div>
            <Form method="GET" action="/owner/orders" attr:class="filters row" attr:data-testid="order-filters">
                <div class="field">
                    <label for="f-status">{t!(i18n, order_status_filter)}</label>
                    <select id="f-status" name="status" data-testid="filter-status">
                        <option value="" selected=move || filters.read().status.is_empty()>{t!(i18n, any_status)}</option>
                        {OrderStatus::ALL.into_iter().map(|s| view! {
                            <option value=s.as_str() selected=move || filters.read().status == s.as_str()>{order_status_text(s)}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="f-from">{t!(i18n, date_from)}</label>
                    <input id="f-from" type="date" name="from" value=move || filters.read().from.clone() data-testid="filter-from" />
                </div>
                <div class="field">
                    <label for="f-to">{t!(i18n, date_to)}</label>
                    <input id="f-to" type="date" name="to" value=move || filters.read().to.clone() data-testid="filter-to" />
                </div>
                <button type="submit" class="primary" data-testid="filter-submit">{t!(i18n, filter_apply)}</button>
            </Form>
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    let (f, paged) = (filters.get_untracked(), before.get_untracked().is_some());
                    match orders.await {
                        Ok(page) => {
                            let older = page.next.map(|n| f.href("/owner/orders", Some(&n)));
                            let newest = paged.then(|| f.href("/owner/orders", None));
                            view! {
                                {if page.items.is_empty() {
                                    view! { <p class="empty" data-testid="no-owner-orders">{t!(i18n, no_orders_found)}</p> }.into_any()
                                } else {
                                    view! {
                                        <table class="table stack" data-testid="owner-orders">
                                            <thead><tr>
                                                <th scope="col">{t!(i18n, ordered_at)}</th><th scope="col">{t!(i18n, coupon_name)}</th>
                                                <th scope="col">{t!(i18n, quantity)}</th><th scope="col">{t!(i18n, amount)}</th>
                                                <th scope="col">{t!(i18n, order_status)}</th><th scope="col">{t!(i18n, payment_status)}</th>
                                            </tr></thead>
                                            <tbody>
                                                {page.items.into_iter().map(|o| view! { <OrderRow o /> }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                                <nav class="pager" data-testid="owner-orders-pager">
                                    {newest.map(|h| view! { <a href=h data-testid="newest-orders">{t!(i18n, newest_orders)}</a> })}
                                    {older.map(|h| view! { <a href=h data-testid="older-orders">{t!(i18n, older_orders)}</a> })}
                                </nav>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorView error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn OrderRow(o: OwnerOrder) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <tr data-testid="owner-order" data-order-id=o.order_id.to_string() data-status=o.status.as_str()>
            <td data-label=move || t_string!(i18n, ordered_at).to_string()>{display(o.ordered_at)}</td>
            <td class="card-title">{o.coupon_name}</td>
            <td data-label=move || t_string!(i18n, quantity).to_string()>{o.quantity}</td>
            <td data-label=move || t_string!(i18n, amount).to_string()>{format_krw(o.amount)}</td>
            <td data-label=move || t_string!(i18n, order_status).to_string()>{order_status_text(o.status)}</td>
            <td data-label=move || t_string!(i18n, payment_status).to_string()>{payment_status_text(o.payment_status)}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::Filters;

    #[test]
    fn links_keep_the_filters() {
        let f = Filters {
            status: "paid".into(),
            from: "2026-12-01".into(),
            to: String::new(),
        };
        assert_eq!(
            f.href("/owner/orders", Some("1.ab")),
            "/owner/orders?status=paid&from=2026-12-01&before=1.ab"
        );
        assert_eq!(
            Filters::default().href("/owner/orders", None),
            "/owner/orders"
        );
    }
}
