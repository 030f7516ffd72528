//! The page's live connections, shared by whatever is on screen (one `EventSource` each,
//! however many coupons and badges a page shows):
//!
//! - [`StockFeed`]: `GET /api/v1/coupons/live?ids=...` for every coupon some component on
//!   the page follows ([`use_live_stock`]); opened again when that set changes (a new
//!   page), closed when nothing follows a coupon;
//! - [`NotificationFeed`]: `GET /api/v1/notifications/live` while someone is signed in:
//!   the unread count for the bell, and each new notification for the pages that react
//!   to them (my page, the notifications page).
//!
//! Both live in the layout, so they survive navigation inside the app. The server renders
//! the values of the moment; the streams only run in the browser (effects), and without
//! JavaScript the pages simply show what was current when they were served. A stream that
//! the server closed for good (it answered an error; `EventSource` only retries by itself
//! after network errors) is opened again after [`RETRY_AFTER`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use leptos::prelude::*;
use uuid::Uuid;

use crate::auth::use_auth;
use crate::domain::{LiveStock, Notification, Unread};

/// Pause before opening a stream again that the server ended with an error.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The live stock of the coupons the page shows.
#[derive(Clone, Copy)]
pub struct StockFeed {
    /// Coupons followed, with how many components follow each.
    followed: RwSignal<BTreeMap<Uuid, usize>>,
    values: RwSignal<HashMap<Uuid, LiveStock>>,
    /// Bumped by every stock event (for figures derived from the stock).
    pub changes: RwSignal<u64>,
}

/// The signed-in user's notifications as they arrive.
#[derive(Clone, Copy)]
pub struct NotificationFeed {
    /// The unread count, once the stream has said it.
    pub unread: RwSignal<Option<i64>>,
    /// The newest notification that arrived while the page was open.
    pub latest: RwSignal<Option<Notification>>,
}

/// The stock of `id` as it changes (`None` until the first event), followed while the
/// calling component lives.
pub fn use_live_stock(id: Uuid) -> Signal<Option<LiveStock>> {
    let feed = expect_context::<StockFeed>();
    // Browser only (effects do not run on the server), undone when the component goes.
    Effect::new(move |_| {
        feed.followed.update(|m| *m.entry(id).or_default() += 1);
        on_cleanup(move || {
            feed.followed.update(|m| {
                if let Some(n) = m.get_mut(&id) {
                    *n -= 1;
                    if *n == 0 {
                        m.remove(&id);
                    }
                }
            })
        });
    });
    Memo::new(move |_| feed.values.with(|m| m.get(&id).copied())).into()
}

pub fn use_notification_feed() -> NotificationFeed {
    expect_context::<NotificationFeed>()
}

/// Provides both feeds; call once, in the layout (inside the auth provider).
pub fn provide_live_feeds() {
    let stock = StockFeed {
        followed: RwSignal::new(BTreeMap::new()),
        values: RwSignal::new(HashMap::new()),
        changes: RwSignal::new(0),
    };
    provide_context(stock);
    let notes = NotificationFeed {
        unread: RwSignal::new(None),
        latest: RwSignal::new(None),
    };
    provide_context(notes);

    let ids = Memo::new(move |_| {
        stock
            .followed
            .with(|m| m.keys().map(Uuid::to_string).collect::<Vec<_>>())
    });
    let stock_retry = RwSignal::new(0u32);
    Effect::new(move |_| {
        stock_retry.track();
        let ids = ids.get();
        if ids.is_empty() {
            return;
        }
        let url = format!("/api/v1/coupons/live?ids={}", ids.join(","));
        let on_stock = move |data: String, _: String| {
            if let Ok(s) = serde_json::from_str::<LiveStock>(&data) {
                stock.values.update(|m| {
                    m.insert(s.coupon_id, s);
                });
                stock.changes.update(|n| *n += 1);
            }
        };
        keep_open(&url, vec![("stock", Box::new(on_stock))], stock_retry);
    });

    let auth = use_auth();
    let user = Memo::new(move |_| {
        auth.user
            .get()
            .and_then(|r| r.ok())
            .flatten()
            .map(|u| u.user_id)
    });
    let notes_retry = RwSignal::new(0u32);
    // The newest notification id received, to resume from after a reopening.
    let last_id = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        notes_retry.track();
        let Some(_) = user.get() else {
            notes.unread.set(None);
            return;
        };
        let url = match last_id.get_value() {
            Some(id) => format!("/api/v1/notifications/live?last_event_id={id}"),
            None => "/api/v1/notifications/live".to_string(),
        };
        let on_unread = move |data: String, id: String| {
            if let Ok(u) = serde_json::from_str::<Unread>(&data) {
                notes.unread.set(Some(u.unread));
            }
            last_id.set_value(Some(id).filter(|i| !i.is_empty()));
        };
        let on_notification = move |data: String, id: String| {
            if let Ok(n) = serde_json::from_str::<Notification>(&data) {
                notes.latest.set(Some(n));
            }
            last_id.set_value(Some(id).filter(|i| !i.is_empty()));
        };
        keep_open(
            &url,
            vec![
                ("unread", Box::new(on_unread)),
                ("notification", Box::new(on_notification)),
            ],
            notes_retry,
        );
    });
}

type Handler = Box<dyn FnMut(String, String)>;

/// Opens `url` with a handler per event name, for as long as the calling effect's run
/// lasts; when the server ends it for good, `retry` is bumped after [`RETRY_AFTER`] (the
/// effect then runs again and opens a new one).
#[cfg(feature = "hydrate")]
fn keep_open(url: &str, handlers: Vec<(&'static str, Handler)>, retry: RwSignal<u32>) {
    let on_closed = move || set_timeout(move || retry.update(|n| *n += 1), RETRY_AFTER);
    if let Some(source) = browser::Source::open(url, handlers, on_closed) {
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || drop(source));
    }
}

#[cfg(not(feature = "hydrate"))]
fn keep_open(_: &str, _: Vec<(&'static str, Handler)>, _: RwSignal<u32>) {}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{EventSource, MessageEvent};

    use super::Handler;

    /// An open `EventSource` and its listeners; closed when dropped.
    pub struct Source {
        source: EventSource,
        _listeners: Vec<Closure<dyn FnMut(MessageEvent)>>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
    }

    impl Source {
        /// `handlers` get each event's data and id; `on_closed` runs when the browser gave
        /// up on the stream (an error answer; it retries network errors by itself).
        pub fn open(
            url: &str,
            handlers: Vec<(&'static str, Handler)>,
            mut on_closed: impl FnMut() + 'static,
        ) -> Option<Source> {
            let source = EventSource::new(url).ok()?;
            let mut listeners = Vec::with_capacity(handlers.len());
            for (name, mut handler) in handlers {
                let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                    if let Some(data) = e.data().as_string() {
                        handler(data, e.last_event_id());
                    }
                });
                source
                    .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref())
                    .ok()?;
                listeners.push(listener);
            }
            let watched = source.clone();
            let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                if watched.ready_state() == EventSource::CLOSED {
                    on_closed();
                }
            });
            source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            Some(Source {
                source,
                _listeners: listeners,
                _on_error: on_error,
            })
        }
    }

    impl Drop for Source {
        fn drop(&mut self) {
            self.source.set_onerror(None);
            self.source.close();
        }
    }
}
