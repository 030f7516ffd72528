//! Coupan's application: pages, server functions, the JSON API and the domain, shared by
//! the server (`ssr`) and the browser (`hydrate`).

#![recursion_limit = "256"]

pub mod auth;
pub mod components;
pub mod coupons;
pub mod domain;
pub mod error;
pub mod flash;
pub mod images;
pub mod mypage;
pub mod notifications;
pub mod orders;
pub mod owner;
pub mod refill;
pub mod vouchers;
pub mod waitlist;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod events;
#[cfg(feature = "ssr")]
pub mod limits;
#[cfg(feature = "ssr")]
pub mod live;
#[cfg(feature = "ssr")]
pub mod request_id;
#[cfg(feature = "ssr")]
pub mod request_span;
#[cfg(feature = "ssr")]
pub mod state;

/// Counts the bytes each thread allocates, so tests can show that something was refused
/// without allocating (`images::process`).
#[cfg(all(test, feature = "ssr"))]
pub(crate) mod test_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    }

    fn count(bytes: usize) {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + bytes as u64));
    }

    struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged; counting touches
    // only a thread-local cell that never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size.saturating_sub(layout.size()));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Bytes allocated by the current thread so far.
    pub fn allocated_on_this_thread() -> u64 {
        ALLOCATED.with(|a| a.get())
    }
}

// Generated from `locales/*.json` by build.rs: the `i18n` module (`use_i18n`, `t!`, `Locale`).
include!(concat!(env!("OUT_DIR"), "/i18n/mod.rs"));

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::auth::AuthProvider;
use crate::auth::pages::{AccountPage, LoginPage, SignupPage};
use crate::components::{Layout, PageTitle};
use crate::coupons::owner_pages::{EditCouponPage, MyCouponsPage, NewCouponPage};
use crate::coupons::pages::{CataloguePage, CouponDetailPage};
use crate::flash::FlashProvider;
use crate::i18n::*;
use crate::mypage::pages::{MyPage, VoucherPage};
use crate::notifications::pages::NotificationsPage;
use crate::owner::orders_pages::OwnerOrdersPage;
use crate::owner::pages::DashboardPage;

/// How this build renders views: leptos's type-erased views (`--cfg erase_components`, set
/// for every build in `.cargo/config.toml`) or typed ones. A server and a wasm built
/// differently cannot hydrate each other's pages (erased views mark children with `<!>`
/// placeholders that typed ones do not write), so the server names its kind in every page
/// (`<meta name="coupan-views">`) and the wasm does not hydrate a page of the other kind.
pub const VIEW_BUILD: &str = if cfg!(erase_components) {
    "erased"
} else {
    "typed"
};

/// The HTML document around the app (server-rendered).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="coupan-views" content=VIEW_BUILD />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/coupan.css" />
        <Title text="Coupan" />
        <I18nContextProvider>
            <Shell />
        </I18nContextProvider>
    }
}

#[component]
fn Shell() -> impl IntoView {
    // Async: the server sends each page complete (no out-of-order chunks that need
    // JavaScript to put in place), so pages and forms work without JavaScript, and a page
    // can still set its status code.
    view! {
        <Router>
            <AuthProvider>
            <FlashProvider>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=CataloguePage ssr=SsrMode::Async />
                    <Route path=path!("/coupons/:id") view=CouponDetailPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/signup") view=SignupPage ssr=SsrMode::Async />
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/mypage") view=MyPage ssr=SsrMode::Async />
                    <Route path=path!("/mypage/vouchers/:code") view=VoucherPage ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view=NotificationsPage ssr=SsrMode::Async />
                    <Route path=path!("/owner/dashboard") view=DashboardPage ssr=SsrMode::Async />
                    <Route path=path!("/owner/orders") view=OwnerOrdersPage ssr=SsrMode::Async />
                    <Route path=path!("/owner/coupons") view=MyCouponsPage ssr=SsrMode::Async />
                    <Route path=path!("/owner/coupons/new") view=NewCouponPage ssr=SsrMode::Async />
                    <Route path=path!("/owner/coupons/:id/edit") view=EditCouponPage ssr=SsrMode::Async />
                </Routes>
            </Layout>
            </FlashProvider>
            </AuthProvider>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    let i18n = use_i18n();
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <PageTitle text=move || t_string!(i18n, not_found_title).to_string() />
        <section class="card narrow">
            <h1 data-testid="not-found">{t!(i18n, not_found_title)}</h1>
            <p>{t!(i18n, not_found_text)}</p>
            <a class="button primary" href="/" data-testid="go-home">{t!(i18n, go_home)}</a>
        </section>
    }
}
