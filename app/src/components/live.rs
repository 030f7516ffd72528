//! The page's live connections, shared by whatever is on screen (one `EventSource` each,
//! however many coupons and badges a page shows):
//!
//! - [`StockFeed`]: `GET /api/v1/coupons/live?ids=...` for every coupon some island on
//!   the page follows ([`use_live_stock`]); opened again when that set changes (a part
//!   of the page read again), closed when nothing follows a coupon;
//! - [`NotificationFeed`]: `GET /api/v1/notifications/live` while someone is signed in:
//!   the unread count for the bell, and each new notification for the pages that react
//!   to them (my page, the notifications page, the dashboard).
//!
//! One of each per page, kept in thread-locals (islands cannot share a context). The
//! server renders the values of the moment; the streams only run in the browser (effects),
//! and without JavaScript the pages simply show what was current when they were served. A stream that
//! the server closed for good (it answered an error; `EventSource` only retries by itself
//! after network errors) is opened again after [`RETRY_AFTER`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use leptos::prelude::*;
use uuid::Uuid;

use crate::domain::LiveStock;
#[cfg(feature = "hydrate")]
use crate::domain::Unread;

/// Pause before opening a stream again that the server ended with an error.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The live stock of the coupons the page shows.
#[derive(Clone, Copy)]
pub struct StockFeed {
    /// Coupons followed, with how many components follow each.
    followed: RwSignal<BTreeMap<Uuid, usize>>,
    values: RwSignal<HashMap<Uuid, LiveStock>>,
}

/// The signed-in user's notifications as they arrive.
#[derive(Clone, Copy)]
pub struct NotificationFeed {
    /// The unread count, once the stream has said it.
    pub unread: RwSignal<Option<i64>>,
    /// The newest notification that arrived while the page was open.
    pub latest: RwSignal<Option<Arrived>>,
}

/// What the pages' live parts read of a notification as it arrives (the event carries
/// the whole [`crate::domain::Notification`]; reading only this keeps the bundle small).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Arrived {
    pub id: i64,
    pub coupon_id: Option<Uuid>,
}

/// The stock of `id` as it changes (`None` until the first event), followed while the
/// calling component lives.
pub fn use_live_stock(id: Uuid) -> Signal<Option<LiveStock>> {
    let feed = stock_feed();
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

/// A coupon's stock as it changes, starting from what the page was served with (an
/// island: the rest of the page is plain HTML).
#[island]
pub fn LiveStockFigure(coupon_id: Uuid, served: i32) -> impl IntoView {
    let live = use_live_stock(coupon_id);
    move || live.get().map_or(served, |l| l.stock_left)
}

/// Reads the page's content again (`main.page > section`, the page's HTML put in place)
/// when the signed-in user's notification stream says something happened: every
/// notification, and the stream's first `unread` count when it differs from the one the
/// page was rendered with (`served_unread`). My page (while something is in flight) and the
/// notifications page; the page around it (the flash message, the header) stays. An
/// island: the page itself is plain HTML.
#[island]
pub fn RefreshOnNotification(served_unread: i64) -> impl IntoView {
    let feed = use_notification_feed();
    let known = StoredValue::new(served_unread);
    Effect::new(move |_| {
        let arrived = feed.latest.with(|n| n.is_some());
        let unread = feed.unread.get();
        let moved = unread.is_some_and(|u| u != known.get_value());
        if let Some(u) = unread {
            known.set_value(u);
        }
        #[cfg(feature = "hydrate")]
        if arrived || moved {
            refresh_part("main.page > section", false);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (arrived, moved);
    });
}

/// The page's stock feed. In the browser one per page, shared by every island that shows
/// a coupon (islands do not share contexts); on the server a fresh one per call, never
/// opened (the page shows the values it was rendered with).
pub fn stock_feed() -> StockFeed {
    #[cfg(feature = "hydrate")]
    {
        thread_local! {
            static FEED: std::cell::OnceCell<StockFeed> = const { std::cell::OnceCell::new() };
        }
        FEED.with(|f| *f.get_or_init(open_stock_feed))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        new_stock_feed()
    }
}

fn new_stock_feed() -> StockFeed {
    StockFeed {
        followed: RwSignal::new(BTreeMap::new()),
        values: RwSignal::new(HashMap::new()),
    }
}

#[cfg(feature = "hydrate")]
fn open_stock_feed() -> StockFeed {
    let stock = new_stock_feed();
    let ids = Memo::new(move |_| {
        stock
            .followed
            .with(|m| m.keys().map(Uuid::to_string).collect::<Vec<_>>())
    });
    // How many island parts follow a coupon, for tests to see that refreshed parts do not
    // pile up (`body[data-live-follows]`).
    Effect::new(move |_| {
        let n: usize = stock.followed.with(|m| m.values().sum());
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-live-follows", &n.to_string());
        }
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
            }
        };
        keep_open(&url, vec![("stock", Box::new(on_stock))], stock_retry);
    });
    stock
}

impl NotificationFeed {
    /// A feed that never hears anything (for someone who is not signed in).
    pub fn idle() -> Self {
        NotificationFeed {
            unread: RwSignal::new(None),
            latest: RwSignal::new(None),
        }
    }
}

/// The signed-in user's notification feed: opened by the first island that asks for it
/// (only pages of a signed-in user do), one per page; never opened on the server.
pub fn use_notification_feed() -> NotificationFeed {
    #[cfg(feature = "hydrate")]
    {
        thread_local! {
            static FEED: std::cell::OnceCell<NotificationFeed> = const { std::cell::OnceCell::new() };
        }
        FEED.with(|f| *f.get_or_init(open_notification_feed))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        NotificationFeed::idle()
    }
}

#[cfg(feature = "hydrate")]
fn open_notification_feed() -> NotificationFeed {
    let notes = NotificationFeed::idle();
    let notes_retry = RwSignal::new(0u32);
    // The newest notification id received, to resume from after a reopening.
    let last_id = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        notes_retry.track();
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
            if let Ok(n) = serde_json::from_str::<Arrived>(&data) {
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
    notes
}

#[cfg(feature = "hydrate")]
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

/// Reads the current page again from the server and puts its part matching `selector`
/// in place of the one on screen (browser only): a server-rendered part of the page follows
/// a live event without a reload (what is around it, such as a flash message, stays).
/// Islands inside the new part stay plain HTML.
/// With `rehydrate`, the islands inside the new part are hydrated (through the island
/// script's `window.__hydrateIsland`) under a reactive owner of the part's own, and the
/// islands the previous refresh of the part hydrated are disposed of (their effects and
/// what they follow), so a page refreshed all day does not pile them up. (The islands the
/// page was first served with belong to the island script: that one set stays.)
#[cfg(feature = "hydrate")]
pub fn refresh_part(selector: &'static str, rehydrate: bool) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    leptos::task::spawn_local(async move {
        let window = window();
        let Ok(href) = window.location().href() else {
            return;
        };
        let Ok(resp) = JsFuture::from(window.fetch_with_str(&href)).await else {
            return;
        };
        let Ok(resp) = resp.dyn_into::<web_sys::Response>() else {
            return;
        };
        if !resp.ok() {
            return;
        }
        let Ok(text) = resp.text() else { return };
        let Ok(text) = JsFuture::from(text).await else {
            return;
        };
        let Some(text) = text.as_string() else { return };
        let Ok(parser) = web_sys::DomParser::new() else {
            return;
        };
        let Ok(doc) = parser.parse_from_string(&text, web_sys::SupportedType::TextHtml) else {
            return;
        };
        if let (Ok(Some(new)), Ok(Some(old))) = (
            doc.query_selector(selector),
            document().query_selector(selector),
        ) {
            if rehydrate {
                // The previous refresh's islands go with their owner.
                if let Some(before) = PART_OWNERS.with_borrow_mut(|m| m.remove(selector)) {
                    before.cleanup();
                }
            }
            old.set_inner_html(&new.inner_html());
            if rehydrate {
                // A root of its own (with the page's hydration context), so that it can be
                // disposed of as a whole; the page's owner stays the current one.
                let page = Owner::current();
                let part = Owner::new_root(Owner::current_shared_context());
                if let Some(page) = &page {
                    page.set();
                }
                part.with(|| hydrate_islands_in(&old));
                PART_OWNERS.with_borrow_mut(|m| m.insert(selector, part));
            }
        }
    });
}

#[cfg(feature = "hydrate")]
thread_local! {
    /// The owner of the islands each refreshed part was last hydrated with.
    static PART_OWNERS: std::cell::RefCell<HashMap<&'static str, Owner>> =
        std::cell::RefCell::new(HashMap::new());
}

/// Hydrates the islands inside `root`, as the island script does for a page (synchronously:
/// each island's owner is a child of the current one).
#[cfg(feature = "hydrate")]
fn hydrate_islands_in(root: &web_sys::Element) {
    use wasm_bindgen::{JsCast, JsValue};
    let Ok(hydrate) = js_sys::Reflect::get(&window(), &JsValue::from_str("__hydrateIsland")) else {
        return;
    };
    let Ok(hydrate) = hydrate.dyn_into::<js_sys::Function>() else {
        return;
    };
    for el in super::each::<web_sys::Element>(root.query_selector_all("leptos-island")) {
        if let Some(name) = el.get_attribute("data-component") {
            let _ = hydrate.call2(&JsValue::NULL, &el, &JsValue::from_str(&name));
        }
    }
}
