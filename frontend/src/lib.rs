//! The browser entry point: hydrates the server-rendered page.

use leptos::prelude::document;
use leptos::web_sys::console;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // A page rendered by a server built with the other kind of views cannot hydrate (see
    // app::VIEW_BUILD): leave it as it is, working as without JavaScript.
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
        return;
    }
    leptos::mount::hydrate_islands();
    // Lets tests (and people) see that the page is interactive; while it is missing, the
    // link guard in app::shell leaves clicks and form posts to the browser.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
