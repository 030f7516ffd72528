//! Content Security Policy with a fresh nonce per request.
//!
//! The middleware makes a nonce, hands it to leptos through the request (the context
//! closure of the router calls `provide_request_nonce`, so `HydrationScripts` and the
//! resource `<script>`s carry it), and sets the header on the response: the page policy
//! for HTML, a deny-all policy for everything else (JSON, files).

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use leptos::nonce::Nonce;

/// The nonce of the request being served.
#[derive(Clone, Debug)]
pub struct CspNonce(pub Nonce);

/// Non-HTML responses load nothing and may not be framed.
pub const STRICT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The policy of an HTML page: scripts only from this site or with this response's nonce,
/// the app's own wasm (`'wasm-unsafe-eval'`), no inline styles, no plugins, forms and
/// `<base>` only to this site, never framed.
pub fn page_policy(nonce: &str, extra_connect: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{extra_connect}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Under `cargo leptos watch` the page also opens the live-reload socket.
fn extra_connect() -> &'static str {
    static EXTRA: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        if std::env::var("LEPTOS_WATCH").is_ok() {
            " ws://*:* wss://*:*".into()
        } else {
            String::new()
        }
    });
    &EXTRA
}

/// The middleware (outermost layers: it sees every response).
pub async fn content_security_policy(mut req: Request, next: Next) -> Response {
    let nonce = Nonce::new();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if is_html {
        HeaderValue::from_str(&page_policy(&nonce, extra_connect()))
            .unwrap_or(HeaderValue::from_static(STRICT_POLICY))
    } else {
        HeaderValue::from_static(STRICT_POLICY)
    };
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    res
}

/// In the leptos context closure: renders with the middleware's nonce (leptos would
/// otherwise make its own, which the header would not name).
pub fn provide_request_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(nonce) = use_context::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<CspNonce>().map(|n| n.0.clone()))
    {
        provide_context(nonce);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_names_the_nonce_and_allows_no_inline_script() {
        let p = page_policy("abc123", "");
        assert!(p.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"));
        assert!(!p.contains("unsafe-inline"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(p.contains("object-src 'none'"));
        assert!(HeaderValue::from_str(&p).is_ok());
    }
}
