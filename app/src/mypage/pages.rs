//! The customer's "my page": orders with their statuses and times, cancel buttons, and
//! voucher codes. While a payment or refund is under way the orders refresh themselves:
//! from the customer's notification stream with JavaScript (the `RefreshOnNotification`
//! island reads the page's orders again when a payment completed, failed, was refunded,
//! ...), by a `<meta http-equiv="refresh">` inside `<noscript>` without it.
//!
//! Cancelling asks first: "cancel" leads to `?cancel=<order>` (a link: a page of its own
//! without JavaScript, the same page re-rendered with it), which shows the amount and the
//! form that really cancels.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::my_orders;
use crate::components::form::last_error;
use crate::components::live::RefreshOnNotification;
use crate::components::{
    ErrorBanner, ErrorView, PageTitle, order_status_text, payment_status_text,
};
use crate::domain::money::format_krw;
use crate::domain::time::display;
use crate::domain::{CancelledBy, MyPageRow, OrderStatus, VoucherStatus};
use crate::flash::use_flash;
use crate::i18n::*;
use crate::orders::{CancelOrder, quote_refund};

/// Seconds between reloads of the page without JavaScript while something is in flight.
const REFRESH_SECS: u32 = 3;

#[component]
pub fn MyPage() -> impl IntoView {
    let i18n = use_i18n();
    let auth = crate::auth::use_auth();
    let cancel = ServerAction::<CancelOrder>::new();
    use_flash().follow(cancel.value());
    let error = last_error(cancel.value());
    let query = use_query_map();
    let confirming = Signal::derive(move || {
        query
            .read()
            .get("cancel")
            .and_then(|id| Uuid::parse_str(&id).ok())
    });
    // How many units the confirmation is about (`?units=`; all of them without it).
    let units = Signal::derive(move || {
        query
            .read()
            .get("units")
            .and_then(|u| u.parse::<i32>().ok())
    });
    // `?before=<cursor>`: a page of older orders (`domain::history`).
    let before = Signal::derive(move || query.read().get("before"));
    // What cancelling the units being confirmed gives back. Made here, before anything is
    // awaited, not in the order card: see `waitlist::pages::WaitlistData`.
    let quote = Resource::new(
        move || (confirming.get(), units.get()),
        |(id, units)| async move {
            match id {
                Some(id) => quote_refund(id, units).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // In the browser the orders are read again by `RefreshOnNotification` (below).
    let orders = Resource::new(
        move || (cancel.version().get(), before.get()),
        |(_, before)| my_orders(before),
    );
    view! {
        <PageTitle text=move || t_string!(i18n, mypage_title).to_string() />
        <section>
            <h1>{t!(i18n, mypage_title)}</h1>
            <ErrorBanner error />
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match orders.await {
                        Ok(page) if page.items.is_empty() && before.get_untracked().is_none() => view! { <p class="empty" data-testid="no-orders">{t!(i18n, no_orders_yet)}</p> }.into_any(),
                        Ok(page) => {
                            let served_unread = auth.user.await.ok().flatten().map_or(0, |u| u.unread_notifications);
                            let (rows, next) = (page.items, page.next);
                            let paged = before.get_untracked().is_some();
                            let in_flight = rows.iter().any(MyPageRow::in_flight);
                            view! {
                                {in_flight.then(|| view! {
                                    <p class="banner info" role="status" data-testid="pending-note">{t!(i18n, pending_note)}</p>
                                })}
                                // Not while a confirmation is open: the reload would close it.
                                {move || (in_flight && confirming.get().is_none()).then(|| view! {
                                    <noscript inner_html=format!(r#"<meta http-equiv="refresh" content="{REFRESH_SECS};url=/mypage">"#) />
                                    <RefreshOnNotification served_unread />
                                })}
                                <ul class="orders" data-testid="orders">
                                    {rows.into_iter().map(|row| view! { <OrderCard row cancel confirming units quote /> }).collect_view()}
                                </ul>
                                <nav class="pager" data-testid="orders-pager">
                                    {paged.then(|| view! { <a href="/mypage" data-testid="newest-orders">{t!(i18n, newest_orders)}</a> })}
                                    {next.map(|n| view! { <a href=format!("/mypage?before={n}") data-testid="older-orders">{t!(i18n, older_orders)}</a> })}
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
fn OrderCard(
    row: MyPageRow,
    cancel: ServerAction<CancelOrder>,
    confirming: Signal<Option<Uuid>>,
    units: Signal<Option<i32>>,
    quote: QuoteResource,
) -> impl IntoView {
    let i18n = use_i18n();
    // Plain texts: the language only changes with a new page load, and a signal per label
    // was four reactive nodes per order to make and drop on every page served.
    let times = [
        (
            t_string!(i18n, ordered_at),
            Some(row.ordered_at),
            "ordered-at",
        ),
        (t_string!(i18n, paid_at), row.paid_at, "paid-at"),
        (
            t_string!(i18n, cancelled_at),
            row.cancelled_at,
            "cancelled-at",
        ),
        (t_string!(i18n, refunded_at), row.refunded_at, "refunded-at"),
    ];
    let cancellable = row.cancellable();
    let cancellable_units = row.cancellable_units();
    let cancelled_units = row.cancelled_quantity;
    let refunded = row.refunded_amount;
    let cancelled = row.status == OrderStatus::Cancelled;
    let id = row.order_id;
    let order_id = id.to_string();
    let anchor = format!("order-{id}");
    let amount = format_krw(row.amount);
    let paid = row.paid_at.is_some();
    let who = row.cancelled_by.map(|by| {
        let reason = row.cancel_reason.clone();
        let (text, by_attr) = match by {
            CancelledBy::Customer => (t!(i18n, cancelled_by_you).into_any(), "customer"),
            CancelledBy::Owner => (t!(i18n, refunded_by_shop).into_any(), "owner"),
        };
        view! {
            <p class="cancel-note" data-testid="cancelled-by" data-by=by_attr>
                {text}
                {reason.map(|r| view! { " " <span data-testid="cancel-reason">{t!(i18n, shop_reason, reason = move || r.clone())}</span> })}
            </p>
        }
    });
    let (row_id, amount_text) = (order_id.clone(), amount.clone());
    // On a page of older orders the confirmation stays on that page.
    let page = use_query_map()
        .read_untracked()
        .get("before")
        .map(|b| format!("before={b}&"))
        .unwrap_or_default();
    let ask = format!("/mypage?{page}cancel={id}#{anchor}");
    view! {
        <li class="order-card" class:cancelled=cancelled id=anchor data-testid="order-row" data-order-id=row_id>
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
            {who}
            <dl class="order-facts">
                <dt>{t!(i18n, quantity)}</dt><dd data-testid="order-quantity">{row.quantity}</dd>
                <dt>{t!(i18n, unit_price)}</dt><dd>{format_krw(row.unit_price)}</dd>
                <dt>{t!(i18n, amount)}</dt><dd data-testid="order-amount">{amount_text}</dd>
                {(cancelled_units > 0).then(|| view! {
                    <dt>{t!(i18n, cancelled_units)}</dt><dd data-testid="cancelled-quantity">{cancelled_units}</dd>
                })}
                {(refunded > 0).then(|| view! {
                    <dt>{t!(i18n, refunded_amount)}</dt><dd data-testid="refunded-amount">{format_krw(refunded)}</dd>
                })}
                {times.into_iter().filter_map(|(label, t, id)| t.map(|t| view! {
                    <dt>{label}</dt><dd data-testid=id>{display(t)}</dd>
                })).collect_view()}
            </dl>
            {(!row.vouchers.is_empty()).then(|| view! {
                <div class="vouchers">
                    <strong>{t!(i18n, vouchers)}</strong>
                    <ul>
                        {row.vouchers.iter().map(|v| {
                            let used = v.status == VoucherStatus::Redeemed;
                            // Codes of a cancelled order are void: never show them as usable.
                            let void = cancelled && !used;
                            // A cancelled unit of an order whose other units remain.
                            let unit_cancelled = !cancelled && v.status == VoucherStatus::Cancelled;
                            let active = v.status == VoucherStatus::Active && !cancelled;
                            let struck = void || unit_cancelled;
                            let status = if void { "cancelled" } else { v.status.as_str() };
                            let code = v.code.clone();
                            view! {
                                <li class:used=used class:void=struck data-testid="voucher" data-status=status>
                                    {active.then(|| {
                                        let (href, src, alt) = (
                                            format!("/mypage/vouchers/{code}"),
                                            format!("/api/v1/mypage/vouchers/{code}/qr.svg"),
                                            format!("QR {code}"),
                                        );
                                        view! {
                                            <a class="voucher-qr" href=href data-testid="voucher-open" title=move || t_string!(i18n, show_at_counter).to_string()>
                                                <img src=src alt=alt width="96" height="96" data-testid="voucher-qr" />
                                            </a>
                                        }
                                    })}
                                    <code data-testid="voucher-code">{v.code.clone()}</code>
                                    {used.then(|| view! { " " <span class="muted">{t!(i18n, redeemed)}</span> })}
                                    {unit_cancelled.then(|| view! { " " <span class="void-note" data-testid="voucher-cancelled">{t!(i18n, voucher_unit_cancelled)}</span> })}
                                    {void.then(|| view! { " " <span class="void-note" data-testid="voucher-void">{t!(i18n, voucher_void)}</span> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </div>
            })}
            {cancellable.then_some({
                move || {
                    if confirming.get() == Some(id) {
                        let (amount, order_id) = (amount.clone(), order_id.clone());
                        let chosen = units.get().unwrap_or(cancellable_units).clamp(1, cancellable_units);
                        let question = if paid {
                            view! { <RefundAmount quote all=chosen == cancellable_units /> }.into_any()
                        } else {
                            t!(i18n, cancel_confirm_unpaid, amount = move || amount.clone()).into_any()
                        };
                        // Part of a paid order: how many units (a plain GET form, so the
                        // amount is shown again for the number chosen, also without JavaScript).
                        let pick = (paid && cancellable_units > 1).then(|| view! {
                            <form method="get" action="/mypage" class="inline" data-testid="cancel-units-form">
                                <input type="hidden" name="cancel" value=id.to_string() />
                                <label for=format!("units-{id}")>{t!(i18n, cancel_units_label)}</label>
                                " "
                                <select id=format!("units-{id}") name="units" data-testid="cancel-units">
                                    {(1..=cancellable_units).map(|n| view! {
                                        <option value=n.to_string() selected=n == chosen>{n}</option>
                                    }).collect_view()}
                                </select>
                                " "
                                <button type="submit" data-testid="cancel-units-show">{t!(i18n, show_refund)}</button>
                            </form>
                        });
                        view! {
                            <div class="confirm" role="group" data-testid="cancel-confirm">
                                {pick}
                                <p>{question}</p>
                                <ActionForm action=cancel attr:class="inline">
                                    <input type="hidden" name="order_id" value=order_id />
                                    {paid.then(|| view! { <input type="hidden" name="quantity" value=chosen.to_string() /> })}
                                    <button type="submit" class="danger" data-testid="confirm-cancel" data-pending=t_string!(i18n, cancelling).to_string()>
                                        {t!(i18n, confirm_cancel_button)}
                                    </button>
                                </ActionForm>
                                " "
                                <a class="button" href="/mypage" data-testid="keep-order">{t!(i18n, keep_order)}</a>
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <a class="button danger" href=ask.clone() data-testid="cancel-order">{t!(i18n, cancel_purchase)}</a>
                        }.into_any()
                    }
                }
            })}
        </li>
    }
}

/// The quote of the order being confirmed (`None` when none is).
type QuoteResource = Resource<Result<Option<crate::domain::RefundQuote>, crate::error::AppError>>;

/// What cancelling the chosen units of a paid order gives back, asked of the server (the
/// same rules as the cancel itself: in full before the use-by date, 90% after it).
#[component]
fn RefundAmount(quote: QuoteResource, all: bool) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Suspense fallback=move || view! { <span class="loading">{t!(i18n, loading)}</span> }>
            {move || Suspend::new(async move {
                match quote.await {
                    Ok(None) => ().into_any(),
                    Ok(Some(q)) => {
                        let amount = format_krw(q.amount);
                        let late = q.late;
                        let text = if late {
                            t!(i18n, refund_quote_late, units = q.quantity, amount = move || amount.clone()).into_any()
                        } else if all {
                            t!(i18n, cancel_confirm_paid, amount = move || amount.clone()).into_any()
                        } else {
                            t!(i18n, refund_quote_full, units = q.quantity, amount = move || amount.clone()).into_any()
                        };
                        view! {
                            <span data-testid="refund-quote" data-amount=q.amount.to_string() data-late=late.to_string()>{text}</span>
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorView error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One voucher, full screen: the QR code and the code in large type, to show at the
/// counter (a page of its own: it works without JavaScript).
#[component]
pub fn VoucherPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = leptos_router::hooks::use_params_map();
    let code = move || params.read().get("code").unwrap_or_default();
    let voucher = Resource::new(code, crate::mypage::get_my_voucher);
    view! {
        <PageTitle text=move || t_string!(i18n, voucher_title).to_string() />
        <section class="voucher-full" data-testid="voucher-page">
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match voucher.await {
                        Ok(v) => {
                            let active = v.status == VoucherStatus::Active;
                            let src = format!("/api/v1/mypage/vouchers/{}/qr.svg", v.code);
                            let alt = format!("QR {}", v.code);
                            view! {
                                <h1>{v.coupon_name.clone()}</h1>
                                <p class="shop">{v.shop_name.clone()}</p>
                                {if active {
                                    view! { <img class="qr-large" src=src alt=alt data-testid="voucher-qr-large" /> }.into_any()
                                } else {
                                    view! { <p class="banner error" data-testid="voucher-not-usable" data-status=v.status.as_str()>{t!(i18n, voucher_not_usable)}</p> }.into_any()
                                }}
                                <p class="code-large"><code data-testid="voucher-code">{v.code.clone()}</code></p>
                                {v.valid_until.map(|t| view! {
                                    <p>{t!(i18n, valid_until)} ": " {display(t)}</p>
                                })}
                                <p><a class="button" href="/mypage">{t!(i18n, back_to_mypage)}</a></p>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorView error=e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
