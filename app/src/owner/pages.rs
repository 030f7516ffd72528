//! The owner's dashboard page. Stock follows the live stream; the other figures are read
//! again shortly after the stock moves and when a notification arrives.
//!
//! Refunding asks first: "refund" leads to `?refund=<order>` (a link: a page of its own
//! without JavaScript), which shows the order, the amount, a reason field and the form that
//! really refunds.

use chrono::Datelike;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::owner_dashboard;
use crate::components::form::last_error;
use crate::components::live::{LiveStockFigure, use_live_stock, use_notification_feed};
use crate::components::{
    ErrorBanner, ErrorView, PageTitle, order_status_text, payment_status_text,
};
use crate::domain::money::format_krw;
use crate::domain::order::{RecentOrder, SalesPoint};
use crate::domain::time::display;
use crate::flash::use_flash;
use crate::i18n::*;
use crate::orders::RefundOrder;
use crate::refill::refill;
use crate::vouchers::RedeemVoucher;

/// How long after a stock change the dashboard's other figures are read again.
const FIGURES_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let refund = ServerAction::<RefundOrder>::new();
    let redeem = ServerAction::<RedeemVoucher>::new();
    let refund_error = last_error(refund.value());
    let redeem_error = last_error(redeem.value());
    let flash = use_flash();
    flash.follow(refund.value());
    flash.follow(redeem.value());
    let kept_code = refill(RedeemVoucher::PATH).get("code").unwrap_or_default();
    let kept_refund = refill(RefundOrder::PATH);
    let query = use_query_map();
    let confirming = Signal::derive(move || {
        query
            .read()
            .get("refund")
            .and_then(|id| Uuid::parse_str(&id).ok())
    });
    // The reason typed so far: kept when the dashboard re-renders after a failed refund.
    let reason = RwSignal::new(
        kept_refund
            .get("reason")
            .filter(|_| {
                kept_refund
                    .get("order_id")
                    .and_then(|id| Uuid::parse_str(&id).ok())
                    == confirming.get_untracked()
            })
            .unwrap_or_default(),
    );
    // The stock cells follow the live stream (islands); the other figures are read again
    // a moment after the stock moved and when a notification comes (`RefreshFigures`).
    let data = Resource::new(
        move || (refund.version().get(), redeem.version().get()),
        |_| owner_dashboard(),
    );
    view! {
        <PageTitle text=move || t_string!(i18n, dashboard_title).to_string() />
        <section>
            <h1>{t!(i18n, dashboard_title)}</h1>
            <div class="card">
                <h2>{t!(i18n, redeem_title)}</h2>
                <ActionForm action=redeem attr:class="redeem" attr:data-testid="redeem-form">
                    <ErrorBanner error=redeem_error not_found=Signal::derive(move || t_string!(i18n, err_voucher_not_found).to_string()) />
                    <label for="f-code">{t!(i18n, voucher_code)}</label>
                    // A hardware scanner types the code and Enter: the field has the focus.
                    <input id="f-code" name="code" required autocomplete="off" autofocus data-testid="input-code" placeholder="XXXX-XXXX-XXXX-XXXX"
                        value=kept_code />
                    <button type="submit" class="primary" data-testid="redeem-submit">
                        {t!(i18n, redeem_button)}
                    </button>
                </ActionForm>
            </div>
            <ErrorBanner error=refund_error />
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) => {
                            let recent = d.recent_orders.clone();
                            let coupon_ids = d.coupons.iter().map(|c| c.coupon_id).collect::<Vec<_>>();
                            let paused = confirming.get_untracked().is_some();
                            view! {
                            <RefreshFigures coupon_ids paused />
                            <div class="dashboard-figures" data-refresh="dashboard">
                            {move || confirming.get().and_then(|id| {
                                recent.iter().find(|o| o.order_id == id && o.status.cancellable()).cloned()
                            }).map(|o| view! { <RefundConfirm o refund reason /> })}
                            <h2>{d.shop_name.clone()}</h2>
                            <table class="table stack" data-testid="coupon-stats">
                                <thead><tr>
                                    <th scope="col">{t!(i18n, coupon_name)}</th><th scope="col">{t!(i18n, stock_left)}</th><th scope="col">{t!(i18n, sold)}</th>
                                    <th scope="col">{t!(i18n, revenue)}</th><th scope="col">{t!(i18n, cancelled_count)}</th>
                                    <th scope="col">{t!(i18n, refunded_count)}</th><th scope="col">{t!(i18n, redeemed_count)}</th>
                                </tr></thead>
                                <tbody>
                                    {d.coupons.into_iter().map(|c| {
                                        view! {
                                        <tr data-testid="coupon-stats-row" data-coupon-id=c.coupon_id.to_string()>
                                            <td class="card-title">{c.name}</td><td data-testid="stat-stock" data-label=move || t_string!(i18n, stock_left).to_string()><LiveStockFigure coupon_id=c.coupon_id served=c.stock_left /></td>
                                            <td data-testid="stat-sold" data-label=move || t_string!(i18n, sold).to_string()>{c.sold}</td>
                                            <td data-testid="stat-revenue" data-label=move || t_string!(i18n, revenue).to_string()>{format_krw(c.revenue)}</td>
                                            <td data-testid="stat-cancelled" data-label=move || t_string!(i18n, cancelled_count).to_string()>{c.cancelled}</td>
                                            <td data-testid="stat-refunded" data-label=move || t_string!(i18n, refunded_count).to_string()>{c.refunded}</td>
                                            <td data-testid="stat-redeemed" data-label=move || t_string!(i18n, redeemed_count).to_string()>{c.redeemed}</td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                            <h2>{t!(i18n, sales_chart)}</h2>
                            <SalesChart points=d.sales />
                            <div class="title-row">
                                <h2>{t!(i18n, recent_orders)}</h2>
                                <a href="/owner/orders" data-testid="all-orders">{t!(i18n, all_orders_link)}</a>
                            </div>
                            <table class="table stack" data-testid="recent-orders">
                                <thead><tr>
                                    <th scope="col">{t!(i18n, ordered_at)}</th><th scope="col">{t!(i18n, coupon_name)}</th>
                                    <th scope="col">{t!(i18n, quantity)}</th><th scope="col">{t!(i18n, amount)}</th>
                                    <th scope="col">{t!(i18n, order_status)}</th><th scope="col">{t!(i18n, payment_status)}</th>
                                    <th scope="col">{t!(i18n, actions)}</th>
                                </tr></thead>
                                <tbody>
                                    {d.recent_orders.iter().cloned().map(|o| view! { <RecentOrderRow o /> }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any()
                        }
                        Err(e) => view! { <ErrorView error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Reads the dashboard's figures again (the page's HTML, put in place) a moment after the
/// stock of one of the shop's coupons moved (at most every few seconds) and when a
/// notification comes; not while a refund is being confirmed (`paused`: the form would be
/// drawn again). An island: the dashboard itself is plain HTML.
#[island]
fn RefreshFigures(coupon_ids: Vec<Uuid>, paused: bool) -> impl IntoView {
    let stock: Vec<_> = coupon_ids.iter().map(|id| use_live_stock(*id)).collect();
    let notes = use_notification_feed();
    // The stock first heard of each coupon (the stream's first event is the current value).
    let heard = StoredValue::new(std::collections::HashMap::<Uuid, i32>::new());
    let scheduled = StoredValue::new(false);
    Effect::new(move |_| {
        let mut moved = notes.latest.get().is_some();
        for s in stock.iter().filter_map(|s| s.get()) {
            heard.update_value(|h| {
                if h.insert(s.coupon_id, s.stock_left)
                    .is_some_and(|before| before != s.stock_left)
                {
                    moved = true;
                }
            });
        }
        if !moved || paused || scheduled.get_value() {
            return;
        }
        scheduled.set_value(true);
        set_timeout(
            move || {
                scheduled.set_value(false);
                #[cfg(feature = "hydrate")]
                crate::components::live::refresh_part("[data-refresh=dashboard]", true);
            },
            FIGURES_AFTER,
        );
    });
}

/// The refund's confirmation: which order, how much, why (optional), then the real form.
#[component]
fn RefundConfirm(
    o: RecentOrder,
    refund: ServerAction<RefundOrder>,
    reason: RwSignal<String>,
) -> impl IntoView {
    let i18n = use_i18n();
    let amount = format_krw(o.amount);
    let asked = amount.clone();
    let (coupon, quantity) = (o.coupon_name.clone(), o.quantity);
    view! {
        <div class="card confirm" role="group" data-testid="refund-confirm-box">
            <h2>{t!(i18n, refund_confirm_title)}</h2>
            <p data-testid="refund-question">
                {t!(i18n, refund_confirm_text, coupon = move || coupon.clone(), n = move || quantity, amount = move || asked.clone())}
            </p>
            <ActionForm action=refund attr:data-testid="refund-form">
                <input type="hidden" name="order_id" value=o.order_id.to_string() />
                <div class="field">
                    <label for="f-refund-reason">{t!(i18n, refund_reason_label)}</label>
                    <input id="f-refund-reason" name="reason" maxlength="500" data-testid="refund-reason"
                        value=reason.get_untracked() prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev)) />
                </div>
                <button type="submit" class="danger" data-testid="refund-confirm">
                    {t!(i18n, refund_confirm_button, amount = move || amount.clone())}
                </button>
                " "
                <a class="button" href="/owner/dashboard" data-testid="refund-back">{t!(i18n, keep_order)}</a>
            </ActionForm>
        </div>
    }
}

#[component]
fn RecentOrderRow(o: RecentOrder) -> impl IntoView {
    let i18n = use_i18n();
    let can_refund = o.status.cancellable();
    let id = o.order_id.to_string();
    let row_id = id.clone();
    view! {
        <tr data-testid="recent-order" data-order-id=row_id>
            <td data-label=move || t_string!(i18n, ordered_at).to_string()>{display(o.ordered_at)}</td>
            <td class="card-title">{o.coupon_name}</td>
            <td data-label=move || t_string!(i18n, quantity).to_string()>{o.quantity}</td>
            <td data-label=move || t_string!(i18n, amount).to_string()>{format_krw(o.amount)}</td>
            <td data-label=move || t_string!(i18n, order_status).to_string()>{order_status_text(o.status)}</td>
            <td data-label=move || t_string!(i18n, payment_status).to_string()>{payment_status_text(o.payment_status)}</td>
            <td class="actions-cell">
                {can_refund.then(|| view! {
                    <a href=format!("/owner/dashboard?refund={id}") data-testid="refund-order">{t!(i18n, refund_button)}</a>
                })}
            </td>
        </tr>
    }
}

/// Units sold per day as SVG bars (no script needed). The picture is named by a one-line
/// summary under it, and the same figures are a table for anyone who cannot see the bars.
#[component]
fn SalesChart(points: Vec<SalesPoint>) -> impl IntoView {
    let i18n = use_i18n();
    let max = points.iter().map(|p| p.units).max().unwrap_or(0).max(1);
    let width = 28 * points.len().max(1);
    let units: i64 = points.iter().map(|p| p.units).sum();
    let revenue = format_krw(points.iter().map(|p| p.revenue).sum());
    let day_text = |p: &SalesPoint| {
        let day = p.day.with_timezone(&crate::domain::time::kst());
        format!("{:02}-{:02}", day.month(), day.day())
    };
    let rows = points
        .iter()
        .map(|p| {
            view! {
                <tr>
                    <th scope="row">{day_text(p)}</th>
                    <td data-label=move || t_string!(i18n, sold).to_string()>{p.units}</td>
                    <td data-label=move || t_string!(i18n, revenue).to_string()>{format_krw(p.revenue)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="sales-figure">
            <svg class="sales-chart" data-testid="sales-chart" width=width height="120" role="img" aria-labelledby="sales-chart-summary">
                {points.into_iter().enumerate().map(|(i, p)| {
                    // Integer maths and hand-written date text: float and strftime formatting
                    // would add their machinery to the browser bundle.
                    let h = bar_height(p.units, max);
                    let day = p.day.with_timezone(&crate::domain::time::kst());
                    let label = format!("{:02}-{:02} {} / {}", day.month(), day.day(), p.units, format_krw(p.revenue));
                    view! {
                        <rect x=i * 28 + 4 y=110 - h width="20" height=h><title>{label}</title></rect>
                        <text x=i * 28 + 4 y="120" font-size="8">{format!("{:02}", day.day())}</text>
                    }
                }).collect_view()}
            </svg>
            <figcaption id="sales-chart-summary" data-testid="sales-summary">
                {t!(i18n, chart_summary, units = move || units, revenue = move || revenue.clone())}
            </figcaption>
            <details class="chart-data">
                <summary>{t!(i18n, chart_as_table)}</summary>
                <table class="table" data-testid="sales-table">
                    <thead><tr>
                        <th scope="col">{t!(i18n, day)}</th><th scope="col">{t!(i18n, sold)}</th><th scope="col">{t!(i18n, revenue)}</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}

/// A bar's height in pixels (0 to 100): `units / max * 100`, rounded half up.
fn bar_height(units: i64, max: i64) -> i64 {
    (units * 200 + max) / (2 * max)
}

#[cfg(test)]
mod tests {
    use super::bar_height;

    #[test]
    fn bar_height_rounds_like_the_float_formula() {
        for max in 1..=60i64 {
            for units in 0..=max {
                let float = (units as f64 / max as f64 * 100.0).round() as i64;
                let exact = bar_height(units, max);
                // The float formula can land a hair below an exact .5; integers do not.
                assert!((float - exact).abs() <= 1, "{units}/{max}");
                if (units * 200) % (2 * max) != max {
                    assert_eq!(float, exact, "{units}/{max}");
                }
            }
        }
        assert_eq!(bar_height(1, 8), 13);
        assert_eq!(bar_height(3, 3), 100);
        assert_eq!(bar_height(0, 1), 0);
    }
}
