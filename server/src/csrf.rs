//! Cross-site request forgery: a request that changes things on behalf of a browser
//! session must come from the site itself.
//!
//! One layer on the whole router, so every route is covered, present and future. A request
//! is checked when its method is not a safe one (GET, HEAD, OPTIONS, TRACE) and
//! - it carries the session cookie (a browser adds it to requests from other sites too;
//!   `SameSite=Lax` stops that only across sites, not from a sibling subdomain), or
//! - it is a log-in or a sign-up (log-in CSRF: another site signing the visitor into the
//!   attacker's account, no cookie needed).
//!
//! It passes when its `Origin` is one of the site's origins (`COUPAN_PUBLIC_ORIGIN`, see
//! `Config::allowed_origins`) or, without `Origin`, when the browser itself says
//! `Sec-Fetch-Site: same-origin`; anything else is a 403: the API's JSON error under
//! `/api/`, a page for a form posted by a browser, else the error a server function's
//! caller decodes. A request with a bearer token (`Authorization: Bearer`) is not
//! checked: browsers never add one by themselves, and a page of another site cannot add
//! it without a CORS preflight, which this app never grants. (`Basic` credentials, which
//! browsers do resend by themselves, get no such pass.)
//!
//! Server functions that change things are POSTs (leptos' default); a GET must never
//! change anything.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::server_fn::ServerFn;

/// The origins a browser request may come from, and the paths that start a session.
#[derive(Clone, Debug)]
pub struct SameOrigin {
    origins: Arc<Vec<String>>,
}

impl SameOrigin {
    pub fn new(origins: Vec<String>) -> SameOrigin {
        SameOrigin {
            origins: Arc::new(origins),
        }
    }

    /// Whether a request to `path` needs the check (see the module notes).
    pub fn applies(method: &Method, path: &str, headers: &HeaderMap) -> bool {
        let safe = matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
        !safe
            && !bearer
            && (app::auth::sessions::carries_session(headers) || starts_a_session(path))
    }

    /// Whether the request comes from one of the site's origins.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN) {
            Some(origin) => origin
                .to_str()
                .is_ok_and(|o| self.origins.iter().any(|allowed| allowed == o)),
            None => headers
                .get("sec-fetch-site")
                .is_some_and(|v| v == "same-origin"),
        }
    }
}

/// The server functions that sign a browser in.
fn starts_a_session(path: &str) -> bool {
    path == app::auth::Login::PATH || path == app::auth::Signup::PATH
}

/// The middleware.
pub async fn check(State(policy): State<SameOrigin>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !SameOrigin::applies(req.method(), req.uri().path(), headers) || policy.allows(headers) {
        return next.run(req).await;
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::warn!(origin, "cross-site request refused");
    refusal(req.uri().path(), headers)
}

/// The 403 in the shape the caller reads.
fn refusal(path: &str, headers: &HeaderMap) -> Response {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if path.starts_with("/api/") {
        return app::error::AppError::Forbidden.into_response();
    }
    let (content_type, body) = if accepts_html {
        ("text/html; charset=utf-8", REFUSED_PAGE.to_string())
    } else {
        // What a server function answers for its error: the hydrated page shows it.
        (
            "application/json",
            serde_json::to_string(&app::error::AppError::Forbidden).unwrap_or_default(),
        )
    };
    let mut res = (StatusCode::FORBIDDEN, Body::from(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The page a browser shows for a form posted from elsewhere (no script, no style: the
/// strict policy of non-page answers does not apply to HTML, the page policy needs none).
const REFUSED_PAGE: &str = r#"<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>Coupan</title></head>
<body data-testid="cross-site-refused">
<h1>요청을 처리할 수 없습니다 / Request refused</h1>
<p>이 양식은 Coupan 사이트에서 보내야 합니다. <a href="/">Coupan으로 돌아가기</a></p>
<p>This form must be sent from the Coupan site itself. <a href="/">Back to Coupan</a></p>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_unsafe_requests_with_a_session_or_starting_one_are_checked() {
        let cookie = headers(&[("cookie", "coupan_session=abc")]);
        let none = HeaderMap::new();
        let post = Method::POST;
        assert!(SameOrigin::applies(&post, "/sfn/orders/buy", &cookie));
        assert!(SameOrigin::applies(&Method::DELETE, "/api/v1/x", &cookie));
        assert!(SameOrigin::applies(&post, "/sfn/auth/login", &none));
        assert!(SameOrigin::applies(&post, "/sfn/auth/signup", &none));
        assert!(!SameOrigin::applies(&Method::GET, "/mypage", &cookie));
        assert!(!SameOrigin::applies(&post, "/sfn/coupons/list", &none));
        let bearer = headers(&[
            ("cookie", "coupan_session=abc"),
            ("authorization", "Bearer x.y.z"),
        ]);
        assert!(!SameOrigin::applies(&post, "/api/v1/orders", &bearer));
        let basic = headers(&[
            ("cookie", "coupan_session=abc"),
            ("authorization", "Basic dTpw"),
        ]);
        assert!(SameOrigin::applies(&post, "/sfn/orders/buy", &basic));
    }

    #[test]
    fn the_origin_or_the_browsers_word_decides() {
        let p = SameOrigin::new(vec!["https://coupan.example".into()]);
        assert!(p.allows(&headers(&[("origin", "https://coupan.example")])));
        assert!(p.allows(&headers(&[("sec-fetch-site", "same-origin")])));
        for refused in [
            headers(&[("origin", "https://evil.example")]),
            headers(&[("origin", "https://coupan.example.evil.example")]),
            headers(&[("origin", "http://coupan.example")]),
            headers(&[("origin", "null")]),
            headers(&[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "none")]),
            HeaderMap::new(),
        ] {
            assert!(!p.allows(&refused), "{refused:?}");
        }
    }
}
