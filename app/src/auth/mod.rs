//! Accounts: sign up, log in, log out, who am I.
//!
//! Browser forms call the server functions below (session cookie); API clients use
//! `api.rs` (bearer tokens). Both go through `accounts::register` /
//! `accounts::authenticate`.
//!
//! Server side, one module per concern: `guards` (who is calling, `require_*`),
//! `sessions` (browser sessions and their renewal), `tokens` (JWTs for the API),
//! `passwords` (argon2), `accounts` (sign-up and log-in), `repo` (SQL).

pub mod pages;

#[cfg(feature = "ssr")]
pub mod accounts;
#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod guards;
#[cfg(feature = "ssr")]
pub mod passwords;
#[cfg(feature = "ssr")]
pub mod repo;
#[cfg(feature = "ssr")]
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod tokens;
#[cfg(feature = "ssr")]
pub mod versions;

use leptos::prelude::*;

use crate::domain::UserView;
use crate::error::AppError;

/// The per-IP limit on sign-up and log-in, inside their server functions: the client's
/// address, or the refusal (429 with `Retry-After`, see `error::server_fn_status`).
#[cfg(feature = "ssr")]
fn check_auth_limit() -> Result<std::net::IpAddr, AppError> {
    let state = crate::state::app_state()?;
    let parts = use_context::<axum::http::request::Parts>()
        .ok_or_else(|| crate::state::missing_context("request parts"))?;
    let ip = state.limits.client_ip(&parts);
    state.limits.auth(ip)?;
    Ok(ip)
}

/// Where to go after logging in or signing up: `next` when it is a path on this site, else
/// nothing. Accepted: `/` followed by anything but a second `/` or `\\`, with no backslash,
/// no control character and no whitespace anywhere (browsers drop tabs and newlines from
/// URLs, so `/\t/evil.example` would become `//evil.example`), at most 1,000 bytes.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.len() <= 1000
        && next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    ok.then_some(next)
}

/// The page after log-in or sign-up: a safe `next`, else the role's home page.
#[cfg(feature = "ssr")]
fn landing(next: Option<&str>, role: crate::domain::Role, signed_up: bool) -> String {
    use crate::domain::Role;
    if let Some(next) = next.and_then(safe_next) {
        return next.to_string();
    }
    match (role, signed_up) {
        (Role::Owner, true) => "/owner/coupons".into(),
        (Role::Owner, false) => "/owner/dashboard".into(),
        (Role::Customer, _) => "/".into(),
    }
}

#[server(prefix = "/sfn", endpoint = "auth/signup")]
pub async fn signup(
    email: String,
    password: String,
    name: String,
    role: String,
    shop_name: Option<String>,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::{Role, SignupInput};
    check_auth_limit()?;
    let input = SignupInput {
        email,
        password,
        name,
        role,
        shop_name,
    };
    let valid = input.validate().map_err(AppError::Validation)?;
    let state = crate::state::app_state()?;
    let p = accounts::register(&state.pool, valid).await?;
    // A new account's password is its first version.
    sessions::start_session(&sessions::browser_session().await?, p, 0).await?;
    crate::flash::set(
        &state,
        &crate::flash::Flash::SignedUp {
            owner: p.role == Role::Owner,
        },
    );
    leptos_axum::redirect(&landing(next.as_deref(), p.role, true));
    Ok(())
}

#[server(prefix = "/sfn", endpoint = "auth/login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let client = check_auth_limit()?;
    let state = crate::state::app_state()?;
    let (p, version) = accounts::authenticate(&state.pool, &email, &password, client).await?;
    sessions::start_session(&sessions::browser_session().await?, p, version).await?;
    leptos_axum::redirect(&landing(next.as_deref(), p.role, false));
    Ok(())
}

#[server(prefix = "/sfn", endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    sessions::end_session(&sessions::browser_session().await?).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// The account page's form: the signed-in user changes their password (the current one
/// first). This session stays signed in; every other one ends (`auth::versions`).
#[server(prefix = "/sfn", endpoint = "auth/password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    use crate::auth::guards::require_user;
    let user = require_user(sessions::session_user().await?)?;
    check_auth_limit()?;
    let state = crate::state::app_state()?;
    let version = accounts::change_password(
        &state.pool,
        &state.versions,
        user,
        &current_password,
        &new_password,
    )
    .await?;
    sessions::password_changed(&sessions::browser_session().await?, version).await?;
    crate::flash::set(&state, &crate::flash::Flash::PasswordChanged);
    leptos_axum::redirect("/account");
    Ok(())
}

/// The signed-in user, or `None` for a visitor.
#[server(prefix = "/sfn", endpoint = "auth/me")]
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    let Some(p) = sessions::session_user().await? else {
        return Ok(None);
    };
    let state = crate::state::app_state()?;
    let mut conn = state.pool.acquire().await?;
    repo::find_user(&mut conn, p.user_id).await
}

/// The current user and the log-out action, shared by the header and the pages.
#[derive(Clone, Copy)]
pub struct Auth {
    pub logout: ServerAction<Logout>,
    pub user: Resource<Result<Option<UserView>, AppError>>,
}

pub fn provide_auth() -> Auth {
    let logout = ServerAction::<Logout>::new();
    let user = Resource::new(move || logout.version().get(), |_| current_user());
    let auth = Auth { logout, user };
    provide_context(auth);
    auth
}

/// Provides `Auth` to its children. Actions of forms live in their pages (inside
/// `<Routes>`), where they can read a failed no-JavaScript submission back from the URL.
#[component]
pub fn AuthProvider(children: Children) -> impl IntoView {
    provide_auth();
    children()
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_path_on_this_site_or_nothing() {
        for ok in [
            "/",
            "/coupons/7b1c",
            "/mypage?x=1&y=%2F",
            "/owner/coupons/new#top",
            "/a/b//c",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok:?}");
        }
        for bad in [
            "",
            "coupons",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\ry",
            "/\u{0}",
            "/\u{7f}",
            "/\u{85}x",
            "/ /evil",
            "https://evil.example",
            "javascript:alert(1)",
            " /mypage",
            "/a\u{2028}b",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_next(&format!("/{}", "a".repeat(999))).map(str::len),
            Some(1000)
        );
        assert_eq!(safe_next(&format!("/{}", "a".repeat(1000))), None);
    }
}
