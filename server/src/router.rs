//! The HTTP application: the router with its layers (sessions, tracing, request ids,
//! limits, security headers, metrics), over an [`AppState`] the composition root
//! ([`crate::startup::Application`]) assembles.

use std::sync::Arc;
use std::time::Duration;

use app::request_id::RequestId;
use app::state::AppState;
use app::{App, shell};
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::config::Config;
use crate::health::Readiness;

/// Largest request body accepted (forms and JSON are far smaller), except picture uploads
/// (`app::images::api::UPLOAD_BODY_LIMIT`).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The leptos settings: from cargo-leptos' environment when present, else defaults.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    let mut options = get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| {
            LeptosOptions::builder()
                .output_name("coupan")
                .site_root("target/site")
                .build()
        });
    options.site_addr = config.site_addr;
    options
}

/// The whole HTTP application: pages, server functions, the JSON API and health, with
/// every layer (`/metrics` has a listener of its own: `crate::metrics::router`).
/// `origins`: where browser requests may come from (see `csrf.rs`,
/// `Config::allowed_origins`). Building it has no side effects outside the returned router.
pub fn router(
    state: AppState,
    config: &Config,
    origins: Vec<String>,
    readiness: Arc<Readiness>,
) -> Router {
    let pool = state.pool.clone();
    let sessions = SessionManagerLayer::new(PostgresStore::new(pool))
        .with_name(app::auth::sessions::cookie_name(config.secure_cookies))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(app::auth::sessions::SESSION_IDLE_DAYS),
        ));

    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            crate::csp::provide_request_nonce();
        }
    };
    let server_fns = {
        let context = context.clone();
        move |req| handle_server_fns_with_context(context.clone(), req)
    };
    let html_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };

    // What browsers use with their session cookie: signed-in visits renew the session.
    let browser = Router::new()
        .route("/sfn/{*fn_name}", any(server_fns))
        .leptos_routes_with_context(&state, routes, context.clone(), html_shell)
        .route_layer(axum::middleware::from_fn(
            app::auth::sessions::renew_session,
        ))
        // Server functions' errors with the API's status codes. A route layer: leptos
        // registers each server function's own path besides the catch-all above.
        .route_layer(axum::middleware::from_fn(app::error::server_fn_status))
        // A failed form post without JavaScript: what was typed, for the form to show again.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            app::refill::keep_input,
        ));

    // Bodies over 1 MiB get 413, except on the picture routes: their uploads take up to
    // 5 MiB (plus the multipart framing) and the rest of them never read a body.
    let limited = Router::new()
        .route("/healthz", get(crate::health::healthz))
        .route(
            "/readyz",
            get(crate::health::readyz).layer(axum::Extension(readiness)),
        )
        .route("/lang/{locale}", get(set_language))
        .nest("/api/v1", app::api::router())
        .merge(browser)
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ));

    Router::new()
        .merge(limited)
        .merge(app::images::api::router())
        .layer(sessions)
        // Before the session is loaded: a cross-site request never gets that far.
        .layer(axum::middleware::from_fn_with_state(
            crate::csrf::SameOrigin::new(origins),
            crate::csrf::check,
        ))
        // Inside the trace layer: handlers record the caller's id on the request span.
        .layer(axum::middleware::from_fn(crate::telemetry::expose_span))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            let id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id, user_id = tracing::field::Empty)
        }))
        .layer(axum::middleware::from_fn(request_id))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        // no-store for private answers, HSTS behind HTTPS, Permissions-Policy.
        .layer(axum::middleware::from_fn_with_state(
            config.secure_cookies,
            crate::headers::security_headers,
        ))
        // A fresh nonce per request for the page's scripts (see csp.rs).
        .layer(axum::middleware::from_fn(crate::csp::content_security_policy))
        // Outermost: counts every answer, including timeouts and refused bodies.
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(state)
}

/// Takes the caller's `X-Request-Id` (if plain and short) or makes one; the handlers and
/// the events they append see it, and the response echoes it.
async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::accept)
        .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string()));
    req.extensions_mut().insert(id.clone());
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Stores the chosen language in the cookie leptos_i18n reads, then goes back to the page
/// the visitor came from (same site only).
async fn set_language(Path(locale): Path<String>, headers: HeaderMap) -> Response {
    if locale != "en" && locale != "ko" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            let rest = r
                .strip_prefix("http://")
                .or_else(|| r.strip_prefix("https://"))?;
            // Only a path of this site, by the same rule as log-in's `next` (no `//`, no
            // backslash, no tab or other control character a browser would drop).
            app::auth::safe_next(rest.strip_prefix(host)?).map(str::to_string)
        })
        .unwrap_or_else(|| "/".into());
    let mut res = Redirect::to(&back).into_response();
    let cookie = format!("i18n_pref_locale={locale}; Path=/; Max-Age=31536000; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Building routers changes nothing outside them: the process's metrics recorder in
    /// particular stays free for the entry point to install (building a router used to
    /// install it).
    #[tokio::test]
    async fn building_routers_installs_no_metrics_recorder() {
        let config = Config::from_lookup(&|name: &str| match name {
            "DATABASE_URL" => Some("postgres://nobody@127.0.0.1:9/none".into()),
            "JWT_SECRET" => Some("0123456789abcdef0123456789abcdef".into()),
            "COUPAN_PAYMENT_SECRET_KEY" => Some("test_sk_router_0123456789".into()),
            "COUPAN_PAYMENT_URL" => Some("https://pay.example".into()),
            _ => None,
        })
        .unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy(&config.database_url)
            .unwrap();
        for _ in 0..2 {
            let readiness = Readiness::new(pool.clone(), None);
            let state = crate::startup::app_state(pool.clone(), &config, &readiness);
            let _ = router(state, &config, Vec::new(), readiness);
            let _ = crate::metrics::router(pool.clone(), crate::metrics::Metrics::detached());
        }
        assert!(
            crate::metrics::Metrics::install().is_ok(),
            "building a router installed the global recorder"
        );
    }
}
