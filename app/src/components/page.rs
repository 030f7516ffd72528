//! Per-page pieces: the document title, and an error that offers a way on.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

use super::error_text;
use crate::error::AppError;
use crate::i18n::*;

/// The page's `<title>`: "{text} · {app name}", in the visitor's language.
///
/// Made once, as a plain string: the language only changes with a new page load
/// (`/lang/{locale}`). A closure reading the language signal would be called by
/// leptos_meta after rendering, outside the page's reactive arena (leptos_integration_utils
/// `inject_meta_context`, after a `tick().await`): when another request ran on the same
/// worker thread in between, the signal was not found and the worker panicked ("already
/// been disposed"), dropping the connection; under `wrk -c64` a few pages in a thousand.
#[component]
pub fn PageTitle<F>(text: F) -> impl IntoView
where
    F: FnOnce() -> String,
{
    let i18n = use_i18n();
    let title = untrack(|| format!("{} · {}", text(), t_string!(i18n, app_name)));
    view! { <Title text=title /> }
}

/// `/login?next=<this page>`: log in and come back here.
pub fn login_href() -> String {
    let l = use_location();
    let here = format!("{}{}", l.pathname.get_untracked(), l.search.get_untracked());
    let next = if crate::auth::safe_next(&here).is_some() && here != "/login" {
        here
    } else {
        "/".into()
    };
    format!(
        "/login?next={}",
        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    )
}

/// An error in place of a page's content, with a way on: log in (and come back) when signed
/// out, the home page when refused or not found, try again otherwise.
#[component]
pub fn ErrorView(error: AppError) -> impl IntoView {
    let i18n = use_i18n();
    let testid = match error {
        AppError::Forbidden => "forbidden",
        AppError::Unauthorized | AppError::InvalidToken => "unauthorized",
        AppError::NotFound => "not-found",
        _ => "error",
    };
    let way_on = match error {
        AppError::Unauthorized | AppError::InvalidToken => view! {
            <a class="button primary" href=login_href() data-testid="go-login">{t!(i18n, nav_login)}</a>
        }
        .into_any(),
        AppError::Forbidden | AppError::NotFound => view! {
            <a class="button" href="/" data-testid="go-home">{t!(i18n, go_home)}</a>
        }
        .into_any(),
        _ => {
            let l = use_location();
            let here = format!("{}{}", l.pathname.get_untracked(), l.search.get_untracked());
            view! { <a class="button" href=here rel="external" data-testid="try-again">{t!(i18n, try_again)}</a> }
                .into_any()
        }
    };
    view! {
        <div class="banner error" role="alert" data-testid=testid>
            <p>{error_text(&error)}</p>
            {way_on}
        </div>
    }
}
