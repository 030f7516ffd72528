//! Who may call the gateway, and which routes it serves.
//!
//! Every route but `/healthz` needs the secret key the way Toss Payments takes it:
//! `Authorization: Basic base64(secret_key + ":")` (the key as the user name, no password).
//! Anything else is `401 UNAUTHORIZED_KEY` before the request does anything, so an
//! unauthenticated call is never stored under its idempotency key. The admin routes
//! (`/admin/mode`, `/v1/ledger`) exist only when the gateway is started with them
//! ([`Access::with_admin_routes`], `PAYGATE_ADMIN_ROUTES=true`): without them they are 404.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{LogInfo, error_body, json_response};

/// The secret key callers must present, and whether the admin routes are served.
#[derive(Clone)]
pub struct Access {
    /// `secret_key + ":"`, the bytes a valid Basic credential decodes to.
    expected: Vec<u8>,
    admin_routes: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("secret_key", &"<redacted>")
            .field("admin_routes", &self.admin_routes)
            .finish()
    }
}

impl Access {
    /// Callers must send `secret_key`; no admin routes. Panics on an empty key (the
    /// configuration refuses one before this).
    pub fn new(secret_key: &str) -> Access {
        assert!(!secret_key.is_empty(), "the gateway's secret key is empty");
        Access {
            expected: format!("{secret_key}:").into_bytes(),
            admin_routes: false,
        }
    }

    /// Also serves `/admin/mode` and `/v1/ledger` (tests, the benchmark, the operations
    /// tests; never a deployment).
    pub fn with_admin_routes(mut self) -> Access {
        self.admin_routes = true;
        self
    }

    pub fn admin_routes(&self) -> bool {
        self.admin_routes
    }

    /// Whether an `Authorization` header value carries the secret key.
    pub fn admits(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(value) = authorization.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, credentials)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        match STANDARD.decode(credentials.trim()) {
            Ok(decoded) => constant_time_eq(&decoded, &self.expected),
            Err(_) => false,
        }
    }
}

/// The `Authorization` header value for `secret_key`, as Toss Payments' clients send it
/// (for the callers that are not the app: the tests, the benchmark, the operations tests).
pub fn basic_authorization(secret_key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{secret_key}:")))
}

/// Compares without returning early on the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware of every route but `/healthz`: 401 without the secret key.
pub(super) async fn require_key(
    State(access): State<Access>,
    req: Request,
    next: Next,
) -> Response {
    if access.admits(req.headers().get(header::AUTHORIZATION)) {
        return next.run(req).await;
    }
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        &error_body(
            "UNAUTHORIZED_KEY",
            "the secret key is missing or wrong (Authorization: Basic base64(secretKey + \":\"))",
        ),
        LogInfo {
            outcome: "unauthorized",
            ..LogInfo::default()
        },
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"paygate\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn only_the_secret_key_as_user_with_an_empty_password_is_admitted() {
        let access = Access::new("test_sk_abc");
        assert!(access.admits(Some(&header(&basic_authorization("test_sk_abc")))));
        // "dGVzdF9za19hYmM6" is base64("test_sk_abc:"); the scheme is case-insensitive.
        assert!(access.admits(Some(&header("basic dGVzdF9za19hYmM6"))));
        for bad in [
            basic_authorization("test_sk_abd"),
            basic_authorization("test_sk_ab"),
            basic_authorization("test_sk_abc:x"),
            // base64("test_sk_abc"): no colon.
            "Basic dGVzdF9za19hYmM=".to_string(),
            "Bearer dGVzdF9za19hYmM6".to_string(),
            "Basic".to_string(),
            "Basic not-base64!".to_string(),
            "test_sk_abc".to_string(),
        ] {
            assert!(!access.admits(Some(&header(&bad))), "{bad}");
        }
        assert!(!access.admits(None));
    }

    #[test]
    fn the_key_is_not_in_debug_output() {
        let text = format!("{:?}", Access::new("test_sk_secret").with_admin_routes());
        assert!(!text.contains("test_sk_secret"), "{text}");
        assert!(text.contains("admin_routes: true"), "{text}");
    }
}
