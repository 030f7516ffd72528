//! The customer's "my page": orders with their statuses and times, cancel buttons, and
//! voucher codes. While a payment or refund is under way the page refreshes itself.

use leptos::form::ActionForm;
use leptos::prelude::*;
use std::time::Duration;

use super::my_orders;
use crate::components::form::last_error;
use crate::components::{ErrorBanner, error_text, order_status_text, payment_status_text};
use crate::domain::MyPageRow;
use crate::domain::money::format_krw;
use crate::domain::time::display;
use crate::i18n::*;
use crate::orders::CancelOrder;

#[component]
pub fn MyPage() -> impl IntoView {
    let i18n = use_i18n();
    let cancel = ServerAction::<CancelOrder>::new();
    let error = last_error(cancel.value());
    let tick = RwSignal::new(0u32);
    let orders = Resource::new(
        move || (cancel.version().get(), tick.get()),
        |_| my_orders(),
    );
    // Poll while something is in flight (browser only: effects do not run on the server).
    Effect::new(move |_| {
        if let Some(Ok(rows)) = orders.get() {
            if rows.iter().any(MyPageRow::in_flight) {
                set_timeout(
                    move || tick.update(|t| *t += 1),
                    Duration::from_millis(1000),
                );
            }
        }
    });
    view! {
        <section>
            <h1>{t!(i18n, mypage_title)}</h1>
            <ErrorBanner error />
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match orders.await {
                        Ok(rows) if rows.is_empty() => view! { <p class="empty" data-testid="no-orders">{t!(i18n, no_orders_yet)}</p> }.into_any(),
                        Ok(rows) => view! {
                            <ul class="orders" data-testid="orders">
                                {rows.into_iter().map(|row| view! { <OrderCard row cancel /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="banner error" role="alert" data-testid="error">{error_text(&e)}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn OrderCard(row: MyPageRow, cancel: ServerAction<CancelOrder>) -> impl IntoView {
    let i18n = use_i18n();
    let times = [
        (
            Signal::derive(move || t_string!(i18n, ordered_at).to_string()),
            Some(row.ordered_at),
            "ordered-at",
        ),
        (
            Signal::derive(move || t_string!(i18n, paid_at).to_string()),
            row.paid_at,
            "paid-at",
        ),
        (
            Signal::derive(move || t_string!(i18n, cancelled_at).to_string()),
            row.cancelled_at,
            "cancelled-at",
        ),
        (
            Signal::derive(move || t_string!(i18n, refunded_at).to_string()),
            row.refunded_at,
            "refunded-at",
        ),
    ];
    let cancellable = row.cancellable();
    let order_id = row.order_id.to_string();
    let row_id = order_id.clone();
    view! {
        <li class="order-card" data-testid="order-row" data-order-id=row_id>
            <div class="order-head">
                <a class="coupon-name" href=format!("/coupons/{}", row.coupon_id)>{row.coupon_name.clone()}</a>
                <span class="shop">{row.shop_name.clone()}</span>
            </div>
            <div class="order-statuses">
                <span class=format!("badge status-{}", row.status.as_str()) data-testid="order-status" data-status=row.status.as_str()>
                    {order_status_text(row.status)}
                </span>
                <span class=format!("badge pay-{}", row.payment_status.as_str()) data-testid="payment-status" data-status=row.payment_status.as_str()>
                    {payment_status_text(row.payment_status)}
                </span>
            </div>
            <dl class="order-facts">
                <dt>{t!(i18n, quantity)}</dt><dd data-testid="order-quantity">{row.quantity}</dd>
                <dt>{t!(i18n, unit_price)}</dt><dd>{format_krw(row.unit_price)}</dd>
                <dt>{t!(i18n, amount)}</dt><dd data-testid="order-amount">{format_krw(row.amount)}</dd>
                {times.into_iter().filter_map(|(label, t, id)| t.map(|t| view! {
                    <dt>{move || label.get()}</dt><dd data-testid=id>{display(t)}</dd>
                })).collect_view()}
            </dl>
            {(!row.vouchers.is_empty()).then(|| view! {
                <div class="vouchers">
                    <strong>{t!(i18n, vouchers)}</strong>
                    <ul>
                        {row.vouchers.iter().map(|v| {
                            let used = v.redeemed_at.is_some();
                            view! {
                                <li class:used=used>
                                    <code data-testid="voucher-code">{v.code.clone()}</code>
                                    {used.then(|| view! { " " <span class="muted">{t!(i18n, redeemed)}</span> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </div>
            })}
            {cancellable.then(|| view! {
                <ActionForm action=cancel attr:class="inline">
                    <input type="hidden" name="order_id" value=order_id.clone() />
                    <button type="submit" class="danger" data-testid="cancel-order" disabled=move || cancel.pending().get()>
                        {move || if cancel.pending().get() { t_string!(i18n, cancelling).to_string() } else { t_string!(i18n, cancel_purchase).to_string() }}
                    </button>
                </ActionForm>
            })}
        </li>
    }
}
