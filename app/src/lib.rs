//! Coupan's application: pages, server functions, the JSON API and the domain, shared by
//! the server (`ssr`) and the browser (`hydrate`).

pub mod auth;
pub mod components;
pub mod coupons;
pub mod domain;
pub mod error;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod state;

// Generated from `locales/*.json` by build.rs: the `i18n` module (`use_i18n`, `t!`, `Locale`).
include!(concat!(env!("OUT_DIR"), "/i18n/mod.rs"));

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::auth::pages::{LoginPage, SignupPage};
use crate::components::Layout;
use crate::coupons::owner_pages::{EditCouponPage, MyCouponsPage, NewCouponPage};
use crate::coupons::pages::{CataloguePage, CouponDetailPage};
use crate::i18n::*;

/// The HTML document around the app (server-rendered).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
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
    crate::auth::provide_auth();
    view! {
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=CataloguePage />
                    <Route path=path!("/coupons/:id") view=CouponDetailPage />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/signup") view=SignupPage />
                    <Route path=path!("/owner/coupons") view=MyCouponsPage />
                    <Route path=path!("/owner/coupons/new") view=NewCouponPage />
                    <Route path=path!("/owner/coupons/:id/edit") view=EditCouponPage />
                </Routes>
            </Layout>
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
    view! { <h1 data-testid="not-found">{t!(i18n, not_found_title)}</h1> }
}
