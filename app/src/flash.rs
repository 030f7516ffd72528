//! One-time messages after something succeeded ("Voucher redeemed", "12,000원 will be
//! refunded"), with and without JavaScript.
//!
//! The server function that succeeded calls `set`: a short-lived cookie `coupan_flash`
//! holding the `Flash` (JSON, percent-encoded; not HttpOnly, the hydrated page reads it).
//! Whoever renders next shows it once and removes it:
//! - a page rendered by the server (a plain form post was redirected there) reads it from
//!   the request, hands it to the browser with the page (`SharedValue`, so hydration agrees)
//!   and expires the cookie in the same response;
//! - a hydrated page, whose server function answered a `fetch`, reads `document.cookie`
//!   after each navigation and after each result of the page's actions (`follow`).
//!
//! A message stays until the visitor goes to another page (another path); a failed action
//! replaces it.
//! Messages are typed and localised when shown: the cookie holds no text to display as is.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::money::format_krw;
use crate::error::AppError;
use crate::i18n::*;

/// The cookie's name over plain HTTP; behind HTTPS it is `__Host-coupan_flash` (see
/// [`ShortCookie`]).
pub const COOKIE: &str = "coupan_flash";

/// A short-lived cookie of ours (the flash message, refill's form fields) as configured:
/// behind HTTPS (`COUPAN_SECURE_COOKIES`) `__Host-`-prefixed and `Secure`, like the
/// session's, so that no other host and no plain-HTTP answer can plant one.
#[derive(Clone, Copy, Debug)]
pub struct ShortCookie {
    pub base: &'static str,
    pub secure: bool,
}

impl ShortCookie {
    pub fn name(&self) -> String {
        if self.secure {
            format!("__Host-{}", self.base)
        } else {
            self.base.to_string()
        }
    }

    /// `Set-Cookie` text for `value` kept `max_age` seconds (0: removes it), with `extra`
    /// attributes (`"; HttpOnly"`).
    pub fn set(&self, value: &str, max_age: u32, extra: &str) -> String {
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{extra}{}",
            self.name(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The cookie as configured for this request's server (plain when unknown).
    #[cfg(feature = "ssr")]
    pub fn configured(base: &'static str) -> ShortCookie {
        let secure = use_context::<crate::state::AppState>().is_some_and(|s| s.secure_cookies);
        ShortCookie { base, secure }
    }
}

/// What just succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Flash {
    SignedUp {
        owner: bool,
    },
    /// The user changed their password (their other sessions ended).
    PasswordChanged,
    CouponCreated {
        name: String,
    },
    CouponSaved {
        name: String,
    },
    SalesStopped {
        name: String,
    },
    SalesResumed {
        name: String,
    },
    Redeemed {
        code: String,
        coupon: String,
        /// The buyer's name (the counter checks the voucher is theirs).
        #[serde(default)]
        customer: Option<String>,
    },
    /// The owner refunded (cancelled) an order.
    Refunded {
        amount: i64,
    },
    /// The customer cancelled an order; `refund` when it was paid already (else nothing
    /// will be charged).
    Cancelled {
        amount: i64,
        refund: bool,
    },
}

impl Flash {
    /// A short stable name (the banner's `data-flash`, for tests).
    pub fn kind(&self) -> &'static str {
        match self {
            Flash::SignedUp { .. } => "signed_up",
            Flash::PasswordChanged => "password_changed",
            Flash::CouponCreated { .. } => "coupon_created",
            Flash::CouponSaved { .. } => "coupon_saved",
            Flash::SalesStopped { .. } => "sales_stopped",
            Flash::SalesResumed { .. } => "sales_resumed",
            Flash::Redeemed { .. } => "redeemed",
            Flash::Refunded { .. } => "refunded",
            Flash::Cancelled { .. } => "cancelled",
        }
    }

    /// The cookie value: JSON, percent-encoded (a cookie value has no quotes or commas).
    pub fn to_cookie_value(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        form_urlencoded::byte_serialize(json.as_bytes()).collect()
    }

    /// The flash in a cookie value; `None` for anything else (an old or forged value).
    pub fn from_cookie_value(value: &str) -> Option<Flash> {
        let query = format!("v={value}");
        let (_, json) = form_urlencoded::parse(query.as_bytes()).next()?;
        serde_json::from_str(&json).ok()
    }

    /// The localised message.
    pub fn text(&self) -> String {
        let i18n = use_i18n();
        match self {
            Flash::SignedUp { owner: true } => t_string!(i18n, flash_signed_up_owner).to_string(),
            Flash::SignedUp { owner: false } => t_string!(i18n, flash_signed_up).to_string(),
            Flash::PasswordChanged => t_string!(i18n, flash_password_changed).to_string(),
            Flash::CouponCreated { name } => {
                t_string!(i18n, flash_coupon_created, name = name.clone()).to_string()
            }
            Flash::CouponSaved { name } => {
                t_string!(i18n, flash_coupon_saved, name = name.clone()).to_string()
            }
            Flash::SalesStopped { name } => {
                t_string!(i18n, flash_sales_stopped, name = name.clone()).to_string()
            }
            Flash::SalesResumed { name } => {
                t_string!(i18n, flash_sales_resumed, name = name.clone()).to_string()
            }
            Flash::Redeemed {
                code,
                coupon,
                customer: Some(customer),
            } => t_string!(
                i18n,
                redeemed_ok_customer,
                code = code.clone(),
                coupon = coupon.clone(),
                customer = customer.clone()
            )
            .to_string(),
            Flash::Redeemed {
                code,
                coupon,
                customer: None,
            } => t_string!(
                i18n,
                redeemed_ok,
                code = code.clone(),
                coupon = coupon.clone()
            )
            .to_string(),
            Flash::Refunded { amount } => {
                t_string!(i18n, flash_refunded, amount = format_krw(*amount)).to_string()
            }
            Flash::Cancelled {
                amount,
                refund: true,
            } => t_string!(i18n, flash_cancelled_refund, amount = format_krw(*amount)).to_string(),
            Flash::Cancelled {
                amount,
                refund: false,
            } => t_string!(i18n, flash_cancelled_unpaid, amount = format_krw(*amount)).to_string(),
        }
    }
}

/// The value of cookie `name` in a `Cookie` header (or `document.cookie`).
pub fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// In a server function that succeeded: the message for the next page.
#[cfg(feature = "ssr")]
pub fn set(state: &crate::state::AppState, flash: &Flash) {
    let cookie = ShortCookie {
        base: COOKIE,
        secure: state.secure_cookies,
    };
    append_cookie(&cookie.set(&flash.to_cookie_value(), 60, ""));
}

/// Appends a `Set-Cookie` to the response being made (a page or a server function).
#[cfg(feature = "ssr")]
pub(crate) fn append_cookie(cookie: &str) {
    use axum::http::{HeaderValue, header};
    if let (Some(res), Ok(v)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(cookie),
    ) {
        res.append_header(header::SET_COOKIE, v);
    }
}

/// The request's cookies (server).
#[cfg(feature = "ssr")]
pub(crate) fn request_cookies() -> String {
    use_context::<axum::http::request::Parts>()
        .map(|p| {
            p.headers
                .get_all(axum::http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// The flash the request brought, if any; the response expires the cookie.
#[cfg(feature = "ssr")]
fn take_from_request() -> Option<Flash> {
    let cookie = ShortCookie::configured(COOKIE);
    let cookies = request_cookies();
    let value = cookie_value(&cookies, &cookie.name())?;
    append_cookie(&cookie.set("", 0, ""));
    Flash::from_cookie_value(value)
}

/// The flash a server function's answer left in the browser, if any; deletes the cookie.
#[cfg(feature = "hydrate")]
fn take_from_document() -> Option<Flash> {
    let doc = document();
    let cookies = js_sys::Reflect::get(&doc, &"cookie".into())
        .ok()?
        .as_string()?;
    // The page does not know the server's configuration: either name.
    let (cookie, value) = [true, false].into_iter().find_map(|secure| {
        let cookie = ShortCookie {
            base: COOKIE,
            secure,
        };
        let value = cookie_value(&cookies, &cookie.name())?.to_string();
        Some((cookie, value))
    })?;
    let _ = js_sys::Reflect::set(&doc, &"cookie".into(), &cookie.set("", 0, "").into());
    Flash::from_cookie_value(&value)
}

#[cfg(not(feature = "hydrate"))]
fn take_from_document() -> Option<Flash> {
    None
}

/// The message on screen and the address it belongs to.
#[derive(Clone, Copy)]
pub struct Flasher {
    current: RwSignal<Option<(Flash, String)>>,
}

impl Flasher {
    /// The page (path, without the query): a redirect from `?cancel=…` back to the same
    /// page may land before or after the action's own result is seen.
    fn here() -> String {
        leptos_router::hooks::use_location()
            .pathname
            .get_untracked()
    }

    /// Shows the message a server function left, if any. Returns whether there was one.
    fn pick_up(&self) -> bool {
        match take_from_document() {
            Some(f) => {
                self.current.set(Some((f, Self::here())));
                true
            }
            None => false,
        }
    }

    /// Call with a page action's value: its success message (if it left one) is shown, a
    /// failure removes the previous one.
    pub fn follow<T>(
        &self,
        value: impl Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
    ) where
        T: Clone + Send + Sync + 'static,
    {
        let this = *self;
        Effect::watch(
            move || value.get().map(|r| r.is_ok()),
            move |ok, _, _| {
                if !this.pick_up() && *ok == Some(false) {
                    this.current.set(None);
                }
            },
            false,
        );
    }
}

pub fn use_flash() -> Flasher {
    expect_context::<Flasher>()
}

/// Provides the `Flasher` (inside the router: it follows navigation).
#[component]
pub fn FlashProvider(children: Children) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let initial = SharedValue::new(take_from_request).into_inner();
    #[cfg(not(feature = "ssr"))]
    let initial = SharedValue::new(take_from_document).into_inner();
    let flasher = Flasher {
        current: RwSignal::new(initial.map(|f| (f, Flasher::here()))),
    };
    provide_context(flasher);
    let location = leptos_router::hooks::use_location();
    // Another page: the message left by the action that led here, or none. (The action's
    // own `follow` may have picked it up already, for this very page: keep it then.)
    Effect::watch(
        move || location.pathname.get(),
        move |_, _, _| {
            if !flasher.pick_up()
                && flasher
                    .current
                    .with_untracked(|c| c.as_ref().is_some_and(|(_, at)| *at != Flasher::here()))
            {
                flasher.current.set(None);
            }
        },
        false,
    );
    children()
}

/// The message, above the page's content.
#[component]
pub fn FlashBanner() -> impl IntoView {
    let flasher = use_flash();
    move || {
        flasher.current.get().map(|(f, _)| {
            view! { <div class="banner ok" role="status" data-testid="flash" data-flash=f.kind()>{f.text()}</div> }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_cookie_value() {
        let all = [
            Flash::SignedUp { owner: true },
            Flash::CouponCreated {
                name: "아메리카노; 1+1, \"special\"".into(),
            },
            Flash::Redeemed {
                code: "ABCD-EFGH".into(),
                coupon: "Latte = good".into(),
                customer: Some("김민수".into()),
            },
            Flash::Cancelled {
                amount: 12_000,
                refund: true,
            },
        ];
        for f in all {
            let v = f.to_cookie_value();
            assert!(
                v.bytes()
                    .all(|b| b.is_ascii_graphic() && !b";,\"\\ ".contains(&b)),
                "{v}"
            );
            assert_eq!(Flash::from_cookie_value(&v), Some(f));
        }
        assert_eq!(
            Flash::from_cookie_value("%7B%22kind%22%3A%22nope%22%7D"),
            None
        );
        assert_eq!(Flash::from_cookie_value("garbage"), None);
    }

    #[test]
    fn finds_a_cookie_among_others() {
        let header = "a=1; coupan_flash=xyz;coupan_session=s; coupan_flash_x=2";
        assert_eq!(cookie_value(header, COOKIE), Some("xyz"));
        assert_eq!(cookie_value(header, "coupan_session"), Some("s"));
        assert_eq!(cookie_value(header, "missing"), None);
    }
}
