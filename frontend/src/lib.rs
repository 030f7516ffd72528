//! The browser entry point. Pages are server-rendered HTML; only their islands (the
//! `#[island]` components: live figures, the buy and waitlist boxes, the bell) run here.
//! `hydrate` runs first, then leptos's island script hydrates each island of the page.

use std::sync::atomic::{AtomicBool, Ordering};

use leptos::prelude::{document, set_timeout};
use leptos::web_sys::console;

/// Set by the panic hook: a panic while hydrating leaves the page as without JavaScript,
/// and `body[data-hydrated]` unset.
static PANICKED: AtomicBool = AtomicBool::new(false);

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(|info| {
        PANICKED.store(true, Ordering::SeqCst);
        if let Some(body) = document().body() {
            let _ = body.remove_attribute("data-hydrated");
            // What went wrong, for people and tests reading the page.
            let _ = body.set_attribute("data-panic", &info.to_string());
        }
        console_error_panic_hook::hook(info);
    }));
    // Plain forms show that they are on their way, and post once (whatever the views).
    app::components::form::guard_plain_forms();
    // A page rendered by a server built with the other kind of views cannot hydrate (see
    // app::VIEW_BUILD): leave it as it is, working as without JavaScript. Its islands lose
    // their names, so the island script finds none to hydrate.
    let server_views = document()
        .query_selector("meta[name=coupan-views]")
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    if server_views.as_deref() != Some(app::VIEW_BUILD) {
        console::error_1(
            &format!(
                "Coupan: not hydrating: the page was rendered with {} views, this bundle has {} \
                 views (a server and a wasm from different builds); links and forms work \
                 without JavaScript",
                server_views.as_deref().unwrap_or("unknown"),
                app::VIEW_BUILD
            )
            .into(),
        );
        for el in app::components::each::<leptos::web_sys::Element>(
            document().query_selector_all("leptos-island"),
        ) {
            let _ = el.remove_attribute("data-component");
        }
        return;
    }
    // Islands have no router: a server function's redirect loads the page it names.
    let _ = leptos::server_fn::redirect::set_redirect_hook(|loc: &str| {
        let _ = leptos::prelude::window().location().set_href(loc);
    });
    leptos::mount::hydrate_islands();
    // The island script hydrates the islands right after this returns, island by island
    // in microtasks; a timer runs after all of them. Lets tests (and people) see that the
    // page is interactive.
    set_timeout(
        || {
            if !PANICKED.load(Ordering::SeqCst)
                && let Some(body) = document().body()
            {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
