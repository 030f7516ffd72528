//! What a visitor typed into a form that failed, given back to the form without JavaScript.
//!
//! With JavaScript, a failed submission leaves the page and its inputs as they were. A plain
//! form post is answered with a redirect back to the form's page carrying the error in the
//! URL (`__path` = the server function, `__err`; leptos' form redirects), and that page is
//! rendered anew: empty. So `keep_input`, a layer on the server functions, copies
//! the posted fields into the short-lived HttpOnly cookie `coupan_form` whenever such a
//! redirect carries an error, and the page reads them back with `refill(Fn::PATH)` while
//! its URL names that error, then expires the cookie.
//!
//! Never kept: passwords (any field whose name contains "password") and idempotency keys.
//! The cookie stays in the visitor's browser (same site, 60 s); values are shown escaped as
//! input values only.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The cookie's name (behind HTTPS `__Host-coupan_form`, see `flash::ShortCookie`).
pub const COOKIE: &str = "coupan_form";
/// The pair naming the server function the fields were posted to.
const FN_KEY: &str = "__fn";
/// Most bytes of the cookie's value: browsers keep cookies up to about 4 KB.
pub const MAX_COOKIE_VALUE: usize = 3500;

/// Fields of a failed form post, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refill(BTreeMap<String, String>);

impl Refill {
    /// The kept value of `name`, if the form is being refilled.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// The kept value of `name`, else `default`.
    pub fn or(&self, name: &str, default: String) -> String {
        self.get(name).unwrap_or(default)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether a posted field may be kept.
pub fn keepable(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !n.contains("password") && n != "idempotency_key" && !n.starts_with("__")
}

/// The cookie value for `fields` posted to server function `path`: the keepable fields,
/// form-encoded (valid cookie characters), without the longest values if they would not
/// fit (those fields come back empty). `None` when nothing is worth keeping.
pub fn encode(path: &str, fields: &[(String, String)]) -> Option<String> {
    let mut kept: Vec<&(String, String)> = fields
        .iter()
        .filter(|(k, v)| keepable(k) && !v.is_empty())
        .collect();
    loop {
        if kept.is_empty() {
            return None;
        }
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.append_pair(FN_KEY, path);
        for (k, v) in &kept {
            out.append_pair(k, v);
        }
        let value = out.finish();
        if value.len() <= MAX_COOKIE_VALUE {
            return Some(value);
        }
        let longest = (0..kept.len()).max_by_key(|&i| kept[i].1.len())?;
        kept.remove(longest);
    }
}

/// The fields in a cookie value, if they were posted to server function `path`.
pub fn decode(value: &str, path: &str) -> Option<Refill> {
    let mut fields = BTreeMap::new();
    let mut for_path = false;
    for (k, v) in form_urlencoded::parse(value.as_bytes()) {
        if k == FN_KEY {
            for_path = v == path;
        } else if keepable(&k) {
            fields.insert(k.into_owned(), v.into_owned());
        }
    }
    for_path.then_some(Refill(fields))
}

/// What was typed into the form of server function `path` (e.g. `Signup::PATH`) before the
/// failed plain post that led to this page; empty otherwise. Call it while the page is
/// built (not in an effect): the server reads the cookie, the browser gets the same value
/// at hydration.
pub fn refill(path: &'static str) -> Refill {
    SharedValue::new(move || read(path)).into_inner()
}

#[cfg(feature = "ssr")]
fn read(path: &str) -> Refill {
    from_request(path).unwrap_or_default()
}

#[cfg(not(feature = "ssr"))]
fn read(_path: &str) -> Refill {
    Refill::default()
}

#[cfg(feature = "ssr")]
fn from_request(path: &str) -> Option<Refill> {
    use crate::flash::{ShortCookie, append_cookie, cookie_value, request_cookies};
    let parts = use_context::<axum::http::request::Parts>()?;
    let query = parts.uri.query().unwrap_or_default();
    let failed_here = form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "__path" && v == path)
        && form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "__err");
    if !failed_here {
        return None;
    }
    let cookie = ShortCookie::configured(COOKIE);
    let cookies = request_cookies();
    let refill = decode(cookie_value(&cookies, &cookie.name())?, path)?;
    // Shown once.
    append_cookie(&cookie.set("", 0, "; HttpOnly"));
    Some(refill)
}

/// Layer on the browser's routes (server functions are under `/sfn/`): keeps the fields
/// of a plain form post (no JavaScript: it accepts HTML) that failed, i.e. that was
/// redirected back with `__err`.
#[cfg(feature = "ssr")]
pub async fn keep_input(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::Body;
    use axum::http::{HeaderValue, Method, StatusCode, header};
    use axum::response::IntoResponse;

    // In a block: nothing that borrows the request may live across an await (Send).
    let plain_form = {
        let header_has = |name: header::HeaderName, what: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains(what))
        };
        req.method() == Method::POST
            && req.uri().path().starts_with("/sfn/")
            && header_has(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            && header_has(header::ACCEPT, "text/html")
    };
    if !plain_form {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    // The body limit layer outside bounds this too.
    let Ok(bytes) = axum::body::to_bytes(body, crate::refill::MAX_FORM_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes[..]).into_owned().collect();
    let mut res = next
        .run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await;
    let failed = res
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.contains("__err="));
    if let Some(value) = failed.then(|| encode(&path, &fields)).flatten() {
        let cookie = crate::flash::ShortCookie {
            base: COOKIE,
            secure: state.secure_cookies,
        }
        .set(&value, 60, "; HttpOnly");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Largest form body read by `keep_input` (the router refuses larger bodies anyway).
pub const MAX_FORM_BYTES: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keeps_fields_but_never_passwords_or_keys() {
        let posted = pairs(&[
            ("email", "kim@example.com"),
            ("password", "secret-123"),
            ("new_password", "x"),
            ("idempotency_key", "k"),
            ("name", "김 \"철수\"; 1+1=2, 100%"),
            ("role", "owner"),
            ("shop_name", ""),
        ]);
        let value = encode("/sfn/auth/signup", &posted).unwrap();
        assert!(
            !value.contains("secret") && !value.contains("idempotency"),
            "{value}"
        );
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b";,\"\\ ".contains(&b)),
            "a valid cookie value: {value}"
        );
        let back = decode(&value, "/sfn/auth/signup").unwrap();
        assert_eq!(back.get("email").as_deref(), Some("kim@example.com"));
        assert_eq!(
            back.get("name").as_deref(),
            Some("김 \"철수\"; 1+1=2, 100%")
        );
        assert_eq!(back.get("role").as_deref(), Some("owner"));
        assert_eq!(back.get("password"), None);
        assert_eq!(back.get("shop_name"), None);
        assert_eq!(
            decode(&value, "/sfn/auth/login"),
            None,
            "another form's fields"
        );
        // A forged cookie cannot smuggle a password field in either.
        let forged = "__fn=%2Fsfn%2Fauth%2Flogin&password=x&email=a";
        assert_eq!(
            decode(forged, "/sfn/auth/login").unwrap().get("password"),
            None
        );
        assert_eq!(
            encode("/sfn/auth/login", &pairs(&[("password", "x")])),
            None
        );
    }

    #[test]
    fn drops_the_longest_values_to_fit_a_cookie() {
        let long = "가".repeat(2000);
        let posted = pairs(&[
            ("name", "Latte"),
            ("description", &long),
            ("price", "6,000원"),
        ]);
        let value = encode("/sfn/owner/coupons/create", &posted).unwrap();
        assert!(value.len() <= MAX_COOKIE_VALUE);
        let back = decode(&value, "/sfn/owner/coupons/create").unwrap();
        assert_eq!(back.get("description"), None);
        assert_eq!(back.get("price").as_deref(), Some("6,000원"));
        assert_eq!(back.or("name", String::new()), "Latte");
    }
}
