//! SPIKE (measurement only): the islands a server-rendered Coupan would ship, to measure
//! the wasm of leptos islands against full hydration (issue 15 §4).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use uuid::Uuid;

use crate::components::order_status_text;
use crate::domain::{LiveStock, Notification, OrderStatus, Unread};
use crate::i18n::*;

thread_local! {
    static STOCK: RefCell<Option<RwSignal<HashMap<Uuid, LiveStock>>>> = const { RefCell::new(None) };
    static NOTES: RefCell<Option<(RwSignal<Option<i64>>, RwSignal<Option<Notification>>)>> = const { RefCell::new(None) };
}

fn stock_feed(id: Uuid) -> RwSignal<HashMap<Uuid, LiveStock>> {
    STOCK.with(|s| {
        *s.borrow_mut().get_or_insert_with(|| {
            let values = RwSignal::new(HashMap::new());
            let ids: Vec<String> = vec![id.to_string()];
            let url = format!("/api/v1/coupons/live?ids={}", ids.join(","));
            open(&url, "stock", move |data| {
                if let Ok(s) = serde_json::from_str::<LiveStock>(&data) {
                    values.update(|m| {
                        m.insert(s.coupon_id, s);
                    });
                }
            });
            values
        })
    })
}

fn notes_feed() -> (RwSignal<Option<i64>>, RwSignal<Option<Notification>>) {
    NOTES.with(|s| {
        *s.borrow_mut().get_or_insert_with(|| {
            let unread = RwSignal::new(None);
            let latest = RwSignal::new(None);
            open("/api/v1/notifications/live", "unread", move |data| {
                if let Ok(u) = serde_json::from_str::<Unread>(&data) {
                    unread.set(Some(u.unread));
                }
            });
            open("/api/v1/notifications/live", "notification", move |data| {
                if let Ok(n) = serde_json::from_str::<Notification>(&data) {
                    latest.set(Some(n));
                }
            });
            (unread, latest)
        })
    })
}

#[cfg(feature = "hydrate")]
fn open(url: &str, event: &'static str, mut f: impl FnMut(String) + 'static) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};
    let Ok(source) = EventSource::new(url) else { return };
    let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        if let Some(data) = e.data().as_string() {
            f(data)
        }
    });
    let _ = source.add_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
    listener.forget();
}

#[cfg(not(feature = "hydrate"))]
fn open(_: &str, _: &'static str, _: impl FnMut(String) + 'static) {}

/// A coupon's stock figure and sold-out badge, live.
#[island]
pub fn LiveStockBadge(coupon_id: Uuid, stock: i32, on_sale: bool) -> impl IntoView {
    let i18n = use_i18n();
    let feed = stock_feed(coupon_id);
    let now = Memo::new(move |_| feed.with(|m| m.get(&coupon_id).copied()));
    let left = move || now.get().map(|s| s.stock_left).unwrap_or(stock);
    let selling = move || now.get().map(|s| s.on_sale).unwrap_or(on_sale);
    view! {
        <span data-testid="stock-left">{t!(i18n, stock_left)}" "{left}</span>
        {move || (left() == 0 || !selling()).then(|| view! { <span class="badge">{t!(i18n, sold_out)}</span> })}
    }
}

/// The bell's count.
#[island]
pub fn LiveBell(served: i64) -> impl IntoView {
    let i18n = use_i18n();
    let (unread, _) = notes_feed();
    let count = move || unread.get().unwrap_or(served);
    view! {
        <a href="/notifications" class="bell" aria-label=move || t_string!(i18n, bell_label, n = count()).to_string()>
            <span class="bell-count" class:zero=move || count() == 0>{count}</span>
        </a>
    }
}

/// New notifications as they arrive, on the notifications page.
#[island]
pub fn LiveNotifications() -> impl IntoView {
    let (_, latest) = notes_feed();
    let items = RwSignal::new(Vec::<Notification>::new());
    Effect::new(move |_| {
        if let Some(n) = latest.get() {
            items.update(|v| v.insert(0, n));
        }
    });
    view! {
        <For each=move || items.get() key=|n| n.id let:n>
            <li>
                <a href=crate::notifications::pages::link(&n)>{crate::notifications::pages::sentence(&n)}</a>
                <time>{crate::domain::time::display(n.created_at)}</time>
            </li>
        </For>
    }
}

/// An order's status on my page, live.
#[island]
pub fn LiveOrderStatus(order_id: Uuid, status: OrderStatus) -> impl IntoView {
    let (_, latest) = notes_feed();
    let now = RwSignal::new(status);
    Effect::new(move |_| {
        if let Some(n) = latest.get()
            && n.order_id == Some(order_id)
        {
            now.set(match n.kind {
                crate::domain::NotificationKind::PaymentCompleted => OrderStatus::Paid,
                crate::domain::NotificationKind::PaymentFailed => OrderStatus::PaymentFailed,
                crate::domain::NotificationKind::OrderExpired => OrderStatus::Expired,
                _ => now.get_untracked(),
            })
        }
    });
    view! { <span class="status">{move || order_status_text(now.get())}</span> }
}

/// A submit button that says it is working once its form is sent.
#[island]
pub fn PendingButton(label: String, pending: String, testid: String) -> impl IntoView {
    let busy = RwSignal::new(false);
    let button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(b) = button.get()
            && let Some(form) = b.form()
        {
            let h = leptos::ev::submit;
            let _ = leptos::prelude::window_event_listener(h, move |_| busy.set(true));
            let _ = form;
        }
    });
    view! {
        <button type="submit" node_ref=button data-testid=testid aria-busy=move || busy.get().to_string()
            disabled=move || busy.get()>{move || if busy.get() { pending.clone() } else { label.clone() }}</button>
    }
}

/// The refund a cancellation of `units` gives back, asked as the units change.
#[island]
pub fn RefundQuoteBox(order_id: Uuid, max: i32) -> impl IntoView {
    let i18n = use_i18n();
    let units = RwSignal::new(max);
    let quote = Resource::new(move || units.get(), move |q| crate::orders::quote_refund(order_id, Some(q)));
    view! {
        <input type="number" name="quantity" min="1" max=max prop:value=move || units.get().to_string()
            on:input=move |e| units.set(event_target_value(&e).parse().unwrap_or(max)) />
        <Transition fallback=|| ()>
            {move || quote.get().map(|r| match r {
                Ok(q) => { let a = crate::domain::money::format_krw(q.amount); view! { <p>{t_string!(i18n, cancel_confirm_paid, amount = a.as_str()).to_string()}</p> }.into_any() }
                Err(e) => view! { <p role="alert">{crate::components::error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// The countdown of a waitlist hold.
#[island]
pub fn HoldCountdown(until: DateTime<Utc>) -> impl IntoView {
    let now = RwSignal::new(Utc::now());
    Effect::new(move |_| {
        let _ = set_interval_with_handle(move || now.set(Utc::now()), Duration::from_secs(1));
    });
    view! {
        <span class="countdown">{move || {
            let secs = (until - now.get()).num_seconds().max(0);
            format!("{}:{:02}", secs / 60, secs % 60)
        }}</span>
    }
}
