//! Response headers by rule, for every route present and future:
//! - `Cache-Control: no-store` on every answer that may be private: to any request that
//!   carries a credential (the session cookie, an `Authorization` header), to any request
//!   that is not a GET or HEAD (a new API token, an order), and on any answer that sets a
//!   cookie. Voucher codes, orders and tokens are never kept by a
//!   browser's or a proxy's cache. Static files (`/pkg/...`, the favicon) and answers
//!   their handler marks `Cache-Control: public` (coupon pictures) keep their caching
//!   whoever asks; public answers to anonymous visitors too.
//! - `Strict-Transport-Security` when the site is served over HTTPS
//!   (`COUPAN_SECURE_COOKIES=true`): browsers then never use plain HTTP for it.
//! - `Permissions-Policy`: the powerful browser features the pages never use are off.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Features no page of ours uses: no script (ours or injected) may ask for them.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), \
     gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

/// One year: what browsers' HSTS preload lists ask for.
pub const HSTS: &str = "max-age=31536000";

/// Whether the request carries a credential: the answer may be someone's own.
fn credentialed(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || app::auth::sessions::carries_session(headers)
}

/// Whether an answer to `path` is a static file (the same rule as the metrics' `static`
/// route label: no route matched and the path is a file's).
fn static_file(matched: Option<&MatchedPath>, path: &str, res: &Response) -> bool {
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    !html && crate::metrics::route_label(matched, path) == "static"
}

/// The middleware; `secure`: served over HTTPS.
pub async fn security_headers(State(secure): State<bool>, req: Request, next: Next) -> Response {
    let private = credentialed(req.headers())
        || !matches!(
            *req.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
    let path = req.uri().path().to_string();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    let sets_cookie = res.headers().contains_key(header::SET_COOKIE);
    let declared_public = res
        .headers()
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|d| d.trim() == "public"));
    if sets_cookie || (private && !declared_public && !static_file(matched.as_ref(), &path, &res)) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let headers = res.headers_mut();
    headers
        .entry("permissions-policy")
        .or_insert(HeaderValue::from_static(PERMISSIONS_POLICY));
    if secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn answer(secure: bool, uri: &str, cookie: Option<&str>) -> Response {
        answer_to(axum::http::Method::GET, secure, uri, cookie).await
    }

    async fn answer_to(
        method: axum::http::Method,
        secure: bool,
        uri: &str,
        cookie: Option<&str>,
    ) -> Response {
        let app = Router::new()
            .route(
                "/mypage",
                get(|| async { "mine" }).post(|| async { "token" }),
            )
            .route(
                "/login",
                get(|| async { ([(header::SET_COOKIE, "coupan_session=x")], "in") }),
            )
            .route(
                "/images/k",
                get(|| async { ([(header::CACHE_CONTROL, "public, max-age=60")], "img") }),
            )
            .fallback(|| async { ([(header::CONTENT_TYPE, "text/javascript")], "js") })
            .layer(axum::middleware::from_fn_with_state(
                secure,
                security_headers,
            ));
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }

    fn cache(res: &Response) -> Option<&str> {
        res.headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn private_answers_are_not_stored_static_files_are() {
        let me = Some("coupan_session=abc");
        assert_eq!(cache(&answer(false, "/mypage", me).await), Some("no-store"));
        assert_eq!(cache(&answer(false, "/mypage", None).await), None);
        assert_eq!(
            cache(&answer(false, "/login", None).await),
            Some("no-store")
        );
        assert_eq!(cache(&answer(false, "/pkg/coupan.js", me).await), None);
        assert_eq!(
            cache(&answer(false, "/images/k", me).await),
            Some("public, max-age=60"),
            "declared public by its handler"
        );
        let post = answer_to(axum::http::Method::POST, false, "/mypage", None).await;
        assert_eq!(cache(&post), Some("no-store"), "a new token, an order");
        let res = answer(false, "/mypage", None).await;
        assert_eq!(res.headers()["permissions-policy"], PERMISSIONS_POLICY);
        assert!(!res.headers().contains_key("strict-transport-security"));
        let res = answer(true, "/mypage", None).await;
        assert_eq!(res.headers()["strict-transport-security"], HSTS);
    }
}
