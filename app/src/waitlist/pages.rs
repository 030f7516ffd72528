//! The waitlist on the coupon page: join the line of a sold-out coupon, see your place in
//! it, and buy the unit held for you before its time runs out. Plain forms, so it works
//! without JavaScript (the hold then shows its end time); with it, the place in line
//! refreshes itself and the hold counts down.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::form::ActionForm;
use leptos::prelude::*;
use uuid::Uuid;

use super::{JoinWaitlist, LeaveWaitlist, WaitlistEntry, my_waitlist_entry};
use crate::components::form::last_error;
use crate::components::live::{NotificationFeed, use_live_stock, use_notification_feed};
use crate::components::{ErrorBanner, error_text};
use crate::domain::Role;
use crate::domain::time::display;
use crate::i18n::*;
use crate::orders::BuyCoupon;

/// How often the place in line is asked again while waiting (browser only; the live
/// streams usually tell sooner).
const REFRESH_WAITING: Duration = Duration::from_secs(5);

/// `m:ss` left until `end`, none below zero.
fn left_text(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (end - now).num_seconds().max(0);
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// The customer's place in line as last read: what the page was served with, then what
/// the server says after each change.
pub type EntryState = Result<Option<WaitlistEntry>, crate::error::AppError>;

/// The waitlist box's actions and the customer's place in line.
#[derive(Clone, Copy)]
pub struct WaitlistData {
    join: ServerAction<JoinWaitlist>,
    leave: ServerAction<LeaveWaitlist>,
    buy: ServerAction<BuyCoupon>,
    tick: RwSignal<u32>,
    /// The coupon's live stock and held units, written by the box (browser only).
    live: RwSignal<Option<(i32, i32)>>,
    entry: RwSignal<EntryState>,
}

impl WaitlistData {
    /// `served`: the place in line the page was rendered with. `customer`: the viewer is a
    /// signed-in customer (only they have a place in line and a notification stream to
    /// follow).
    pub fn new(coupon_id: Uuid, customer: bool, served: EntryState) -> Self {
        let join = ServerAction::<JoinWaitlist>::new();
        let leave = ServerAction::<LeaveWaitlist>::new();
        let buy = ServerAction::<BuyCoupon>::new();
        let tick = RwSignal::new(0u32);
        let live = RwSignal::new(None);
        let entry = RwSignal::new(served);
        let feed = if customer {
            use_notification_feed()
        } else {
            NotificationFeed::idle()
        };
        // Browser only (effects do not run on the server): the line moves when the coupon's
        // held units change (someone ahead was served, bought or let a hold run out), a hold
        // is told by a notification, or the customer joined, left or bought: read it again.
        Effect::new(move |first: Option<()>| {
            let told = feed
                .latest
                .get()
                .filter(|n| n.coupon_id == Some(coupon_id))
                .map(|n| n.id);
            let _ = (
                told,
                join.version().get(),
                leave.version().get(),
                buy.version().get(),
                tick.get(),
                live.get(),
            );
            if first.is_none() || !customer {
                return;
            }
            leptos::task::spawn_local(async move {
                entry.set(my_waitlist_entry(coupon_id).await);
            });
        });
        WaitlistData {
            join,
            leave,
            buy,
            tick,
            live,
            entry,
        }
    }
}

/// What the signed-in customer sees of the coupon's waitlist; `sold_out`: the public cannot
/// buy the coupon because its stock is gone (live: the page's stock stream).
#[component]
pub fn WaitlistBox(
    coupon_id: Uuid,
    data: WaitlistData,
    #[prop(into)] sold_out: Signal<bool>,
    /// The viewer's role (`None`: not signed in).
    role: Option<Role>,
) -> impl IntoView {
    let i18n = use_i18n();
    let WaitlistData {
        join,
        leave,
        buy,
        tick,
        live: live_key,
        entry,
    } = data;
    let join_error = last_error(join.value());
    let leave_error = last_error(leave.value());
    let buy_error = last_error(buy.value());
    let now = RwSignal::new(Utc::now());
    let live = use_live_stock(coupon_id);
    // Browser only: the stream's stock and held units move the place in line.
    Effect::new(move |_| {
        let key = live.get().map(|l| (l.stock_left, l.held));
        if live_key.get_untracked() != key {
            live_key.set(key);
        }
    });
    // Browser only (effects do not run on the server): the countdown's clock, and asking
    // again when a hold runs out (once per hold) and every few seconds while in line.
    Effect::new(move |_| {
        if let Ok(clock) =
            set_interval_with_handle(move || now.set(Utc::now()), Duration::from_secs(1))
        {
            on_cleanup(move || clock.clear());
        }
    });
    let asked_at_end = StoredValue::new(None::<DateTime<Utc>>);
    Effect::new(move |_| match entry.get() {
        Ok(Some(WaitlistEntry {
            hold_until: Some(end),
            ..
        })) => {
            if end <= now.get() && asked_at_end.get_value() != Some(end) {
                asked_at_end.set_value(Some(end));
                tick.update(|t| *t += 1);
            }
        }
        Ok(Some(_)) => {
            set_timeout(move || tick.update(|t| *t += 1), REFRESH_WAITING);
        }
        _ => {}
    });
    let key = crate::orders::new_idempotency_key(coupon_id);
    view! {
        {move || {
                let key = key.clone();
                // Tracked here: the box changes as the live stock sells out or comes back.
                let sold_out = sold_out.get();
                {
                    let customer = role == Some(Role::Customer);
                    if !customer {
                        return match role {
                            None if sold_out => view! {
                                <a class="button" href="/login" data-testid="waitlist-login">{t_string!(i18n, waitlist_login)}</a>
                            }.into_any(),
                            _ => ().into_any(),
                        };
                    }
                    match entry.get() {
                        Ok(Some(e)) if e.hold_until.is_some() => {
                            let end = e.hold_until.unwrap_or_else(Utc::now);
                            view! {
                                <div class="banner hold" role="status" data-testid="waitlist-hold">
                                    <p>{t_string!(i18n, waitlist_held, time = display(end)).to_string()}</p>
                                    <p class="countdown" data-testid="waitlist-countdown">
                                        {move || t_string!(i18n, waitlist_held_left, left = left_text(end, now.get())).to_string()}
                                    </p>
                                    <ActionForm action=buy attr:class="buy" attr:data-testid="waitlist-buy-form">
                                        <ErrorBanner error=buy_error />
                                        <input type="hidden" name="coupon_id" value=coupon_id.to_string() />
                                        <input type="hidden" name="quantity" value="1" />
                                        <input type="hidden" name="idempotency_key" value=key />
                                        <button type="submit" class="primary" data-testid="waitlist-buy" disabled=move || buy.pending().get()>
                                            {t_string!(i18n, waitlist_buy_held)}
                                        </button>
                                    </ActionForm>
                                </div>
                            }.into_any()
                        }
                        Ok(Some(e)) => view! {
                            <div class="waitlist" data-testid="waitlist-entry">
                                <p class="position" data-testid="waitlist-position" data-position=e.position>
                                    {t_string!(i18n, waitlist_position, n = e.position).to_string()}
                                </p>
                                <ActionForm action=leave attr:class="inline">
                                    <ErrorBanner error=leave_error />
                                    <input type="hidden" name="coupon_id" value=coupon_id.to_string() />
                                    <button type="submit" data-testid="waitlist-leave" disabled=move || leave.pending().get()>
                                        {t_string!(i18n, waitlist_leave)}
                                    </button>
                                </ActionForm>
                            </div>
                        }.into_any(),
                        Ok(None) if sold_out => view! {
                            <div class="waitlist">
                                <p class="hint">{t_string!(i18n, waitlist_hint)}</p>
                                <ActionForm action=join attr:class="inline" attr:data-testid="waitlist-join-form">
                                    <ErrorBanner error=join_error />
                                    <input type="hidden" name="coupon_id" value=coupon_id.to_string() />
                                    <button type="submit" class="primary" data-testid="waitlist-join" disabled=move || join.pending().get()>
                                        {move || if join.pending().get() { t_string!(i18n, waitlist_joining).to_string() } else { t_string!(i18n, waitlist_join).to_string() }}
                                    </button>
                                </ActionForm>
                            </div>
                        }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <p class="banner error" role="alert">{error_text(&e)}</p> }.into_any(),
                    }
                }
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_countdown_shows_minutes_and_seconds_and_stops_at_zero() {
        let now = Utc::now();
        let at = |s: i64| now + chrono::Duration::seconds(s);
        assert_eq!(left_text(at(600), now), "10:00");
        assert_eq!(left_text(at(61), now), "1:01");
        assert_eq!(left_text(at(9), now), "0:09");
        assert_eq!(left_text(at(-3), now), "0:00");
    }
}
