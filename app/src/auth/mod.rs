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

use leptos::prelude::*;

use crate::domain::UserView;
use crate::error::AppError;

/// The per-IP limit on sign-up and log-in, inside their server functions. A refusal also
/// sets the response's status (429) and `Retry-After` for script callers.
#[cfg(feature = "ssr")]
fn check_auth_limit() -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let parts = use_context::<axum::http::request::Parts>()
        .ok_or_else(|| crate::state::missing_context("request parts"))?;
    let ip = state.limits.client_ip(&parts);
    state
        .limits
        .auth(ip)
        .inspect_err(crate::error::server_fn_status)
}

#[cfg(feature = "ssr")]
fn safe_next(next: Option<String>) -> Option<String> {
    // Only same-site paths: never redirect to another origin.
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
}

#[server(prefix = "/sfn", endpoint = "auth/signup")]
pub async fn signup(
    email: String,
    password: String,
    name: String,
    role: String,
    shop_name: Option<String>,
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
    sessions::start_session(&sessions::browser_session().await?, p).await?;
    leptos_axum::redirect(if p.role == Role::Owner {
        "/owner/coupons"
    } else {
        "/"
    });
    Ok(())
}

#[server(prefix = "/sfn", endpoint = "auth/login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    check_auth_limit()?;
    let state = crate::state::app_state()?;
    let p = accounts::authenticate(&state.pool, &email, &password).await?;
    sessions::start_session(&sessions::browser_session().await?, p).await?;
    leptos_axum::redirect(&safe_next(next).unwrap_or_else(|| "/".into()));
    Ok(())
}

#[server(prefix = "/sfn", endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    sessions::end_session(&sessions::browser_session().await?).await?;
    leptos_axum::redirect("/");
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
    /// Bumped after a log-in or sign-up, so the user is read again.
    pub version: RwSignal<u32>,
    pub user: Resource<Result<Option<UserView>, AppError>>,
}

impl Auth {
    pub fn refresh(&self) {
        self.version.update(|v| *v += 1);
    }
}

pub fn provide_auth() -> Auth {
    let logout = ServerAction::<Logout>::new();
    let version = RwSignal::new(0);
    let user = Resource::new(
        move || (version.get(), logout.version().get()),
        |_| current_user(),
    );
    let auth = Auth {
        logout,
        version,
        user,
    };
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
