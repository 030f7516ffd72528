//! The notifications page: newest first, a sentence per kind with the coupon's name and
//! the amount, a link to the order or the coupon, "mark read" per item and for all (plain
//! forms: they work without JavaScript). New notifications appear while the page is open.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{MarkAllNotificationsRead, MarkNotificationRead, PAGE_SIZE, my_notifications};
use crate::components::ErrorBanner;
use crate::components::form::last_error;
use crate::components::live::RefreshOnNotification;
use crate::components::{ErrorView, PageTitle};
use crate::domain::money::format_krw;
use crate::domain::time::display;
use crate::domain::{Notification, NotificationKind};
use crate::i18n::*;

/// The sentence of a notification, in the current language.
pub fn sentence(n: &Notification) -> String {
    use NotificationKind as K;
    let i18n = use_i18n();
    let coupon = n.coupon_name.as_str();
    let amount = n.amount.map(format_krw).unwrap_or_default();
    let amount = amount.as_str();
    match n.kind {
        K::PaymentCompleted => {
            t_string!(i18n, n_payment_completed, coupon = coupon, amount = amount).to_string()
        }
        K::PaymentFailed => {
            t_string!(i18n, n_payment_failed, coupon = coupon, amount = amount).to_string()
        }
        K::Refunded => t_string!(i18n, n_refunded, coupon = coupon, amount = amount).to_string(),
        K::PaymentVoided => {
            t_string!(i18n, n_payment_voided, coupon = coupon, amount = amount).to_string()
        }
        K::VoucherRedeemed => {
            t_string!(i18n, n_voucher_redeemed, coupon = coupon, amount = amount).to_string()
        }
        K::RestockHold => {
            t_string!(i18n, n_restock_hold, coupon = coupon, amount = amount).to_string()
        }
        K::OrderExpired => {
            t_string!(i18n, n_order_expired, coupon = coupon, amount = amount).to_string()
        }
        K::SoldOut => t_string!(i18n, n_sold_out, coupon = coupon, amount = amount).to_string(),
        K::OrderCancelled => {
            t_string!(i18n, n_order_cancelled, coupon = coupon, amount = amount).to_string()
        }
        K::VoucherExpiring => {
            t_string!(i18n, n_voucher_expiring, coupon = coupon, amount = amount).to_string()
        }
    }
}

/// Where a notification leads: the order on my page (customers) or the dashboard (the
/// shop), or the coupon.
pub fn link(n: &Notification) -> Option<String> {
    use NotificationKind as K;
    match n.kind {
        K::SoldOut | K::RestockHold => n.coupon_id.map(|id| format!("/coupons/{id}")),
        K::OrderCancelled => Some("/owner/dashboard".into()),
        _ => n.order_id.map(|id| format!("/mypage#order-{id}")),
    }
}

#[component]
pub fn NotificationsPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    };
    let read = ServerAction::<MarkNotificationRead>::new();
    let read_all = ServerAction::<MarkAllNotificationsRead>::new();
    let read_error = last_error(read.value());
    let read_all_error = last_error(read_all.value());
    let data = Resource::new(
        move || (before(), read.version().get(), read_all.version().get()),
        |(before, ..)| my_notifications(before),
    );
    view! {
        <PageTitle text=move || t_string!(i18n, notifications_title).to_string() />
        <section class="notifications-page">
            <h1>{t!(i18n, notifications_title)}</h1>
            <ErrorBanner error=read_error />
            <ErrorBanner error=read_all_error />
            <Transition fallback=move || view! { <p class="loading">{t!(i18n, loading)}</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(page) => {
                            let unread = page.unread;
                            let older = (page.items.len() as i64 == PAGE_SIZE)
                                .then(|| page.items.last().map(|n| format!("/notifications?before={}", n.id)))
                                .flatten();
                            let items = page.items;
                            // The newest page takes in what arrives while it is open.
                            let live = before().is_none();
                            view! {
                                {live.then(|| view! { <RefreshOnNotification served_unread=unread /> })}
                                <div class="notifications-head">
                                    <span data-testid="unread-count">{t!(i18n, unread_count, n = move || unread)}</span>
                                    {(unread > 0).then(|| view! {
                                        <ActionForm action=read_all attr:class="inline">
                                            <button type="submit" class="link" data-testid="mark-all-read">{t!(i18n, mark_all_read)}</button>
                                        </ActionForm>
                                    })}
                                </div>
                                {if items.is_empty() {
                                    view! { <p class="empty" data-testid="no-notifications">{t!(i18n, no_notifications)}</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="notifications" data-testid="notifications">
                                            {items.into_iter().map(|n| view! { <NotificationItem n read /> }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                                {older.map(|href| view! { <a href=href data-testid="older-notifications">{t!(i18n, older_notifications)}</a> })}
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
fn NotificationItem(n: Notification, read: ServerAction<MarkNotificationRead>) -> impl IntoView {
    let i18n = use_i18n();
    let unread = n.read_at.is_none();
    let text = sentence(&n);
    let href = link(&n);
    let about_order = n.kind.about_an_order();
    let id = n.id;
    view! {
        <li class="notification" class:unread=unread data-testid="notification"
            data-kind=n.kind.as_str() data-id=id.to_string() data-read=if unread { "false" } else { "true" }>
            <p class="sentence" data-testid="notification-text">{text}</p>
            <div class="meta">
                <time>{display(n.created_at)}</time>
                {href.map(|href| view! {
                    <a href=href data-testid="notification-link">
                        {if about_order { t!(i18n, view_order).into_any() } else { t!(i18n, view_coupon).into_any() }}
                    </a>
                })}
                {unread.then(|| view! {
                    <ActionForm action=read attr:class="inline">
                        <input type="hidden" name="id" value=id.to_string() />
                        <button type="submit" class="link" data-testid="mark-read">{t!(i18n, mark_read)}</button>
                    </ActionForm>
                })}
            </div>
        </li>
    }
}
