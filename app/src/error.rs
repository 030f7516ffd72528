//! The one error type of Coupan, used by every server function and API handler.
//!
//! Policy:
//! - Each variant maps to one HTTP status and one stable `code` string (API contract).
//! - Causes that are not the caller's business (database, hashing, I/O) are logged with
//!   `tracing` where they happen and become `Internal`: the response says only that
//!   something went wrong on our side.
//! - Validation errors carry per-field reasons; the UI localises them, the API sends
//!   English text under `error.fields`.
//! - A failed login never says whether the account exists (`InvalidCredentials`).

use serde::{Deserialize, Serialize};

use crate::domain::{FieldError, FieldErrors};

/// A conflict with the current state of things (HTTP 409).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    EmailTaken,
    OutOfStock,
    NotOnSale,
    SaleNotStarted,
    SaleEnded,
    LimitExceeded,
    AlreadyCancelled,
    NotCancellable,
    VoucherRedeemed,
    VoucherAlreadyRedeemed,
    VoucherCancelled,
    VoucherUnpaid,
    VoucherExpired,
    VoucherOtherShop,
    /// A waitlist is only for a sold-out coupon: this one can still be bought.
    NotSoldOut,
    /// The coupon has `MAX_IMAGES` pictures already.
    TooManyImages,
    /// Part of an unpaid order: an unpaid order is cancelled whole (its units have no
    /// vouchers yet, and its charge may be under way for the whole amount).
    PartialCancelUnpaid,
    /// More than 5 years since the purchase: nothing is refundable any more.
    RefundPeriodOver,
}

impl Conflict {
    pub fn code(self) -> &'static str {
        match self {
            Conflict::EmailTaken => "email_taken",
            Conflict::OutOfStock => "out_of_stock",
            Conflict::NotOnSale => "not_on_sale",
            Conflict::SaleNotStarted => "sale_not_started",
            Conflict::SaleEnded => "sale_ended",
            Conflict::LimitExceeded => "limit_exceeded",
            Conflict::AlreadyCancelled => "already_cancelled",
            Conflict::NotCancellable => "not_cancellable",
            Conflict::VoucherRedeemed => "voucher_redeemed",
            Conflict::VoucherAlreadyRedeemed => "voucher_already_redeemed",
            Conflict::VoucherCancelled => "voucher_cancelled",
            Conflict::VoucherUnpaid => "voucher_unpaid",
            Conflict::VoucherExpired => "voucher_expired",
            Conflict::VoucherOtherShop => "voucher_other_shop",
            Conflict::NotSoldOut => "not_sold_out",
            Conflict::TooManyImages => "too_many_images",
            Conflict::PartialCancelUnpaid => "partial_cancel_unpaid",
            Conflict::RefundPeriodOver => "refund_period_over",
        }
    }

    /// The English message of the API.
    pub fn message(self) -> &'static str {
        match self {
            Conflict::EmailTaken => "an account with this e-mail already exists",
            Conflict::OutOfStock => "sold out: not enough stock left",
            Conflict::NotOnSale => "sales of this coupon are stopped",
            Conflict::SaleNotStarted => "the sale has not started yet",
            Conflict::SaleEnded => "the sale has ended",
            Conflict::LimitExceeded => "this would exceed the limit per customer",
            Conflict::AlreadyCancelled => "the order is already cancelled",
            Conflict::NotCancellable => "the order can no longer be cancelled",
            Conflict::VoucherRedeemed => "a voucher of this order was already used",
            Conflict::VoucherAlreadyRedeemed => "this voucher code was already used",
            Conflict::VoucherCancelled => "this voucher belongs to a cancelled order",
            Conflict::VoucherUnpaid => "this voucher's order is not paid",
            Conflict::VoucherExpired => "this voucher has expired",
            Conflict::VoucherOtherShop => "this voucher belongs to another shop",
            Conflict::NotSoldOut => "the coupon is not sold out: buy it instead of waiting",
            Conflict::TooManyImages => "a coupon has at most 5 pictures: delete one first",
            Conflict::PartialCancelUnpaid => {
                "an unpaid order is cancelled whole: leave out quantity or give all its units"
            }
            Conflict::RefundPeriodOver => "more than 5 years since the purchase: no refund is owed",
        }
    }
}

/// Why an uploaded picture was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRefusal {
    /// Not a whole JPEG, PNG or WebP picture (422 `unsupported_image`).
    Unsupported,
    /// More pixels than the server decodes (422 `image_too_large`).
    TooManyPixels,
    /// The file is over 5 MiB (413 `file_too_large`).
    FileTooLarge,
}

impl ImageRefusal {
    pub fn code(self) -> &'static str {
        match self {
            ImageRefusal::Unsupported => "unsupported_image",
            ImageRefusal::TooManyPixels => "image_too_large",
            ImageRefusal::FileTooLarge => "file_too_large",
        }
    }

    /// The English message of the API (the limits are `images::process`'s).
    pub fn message(self) -> &'static str {
        match self {
            ImageRefusal::Unsupported => "the file is not a JPEG, PNG or WebP picture",
            ImageRefusal::TooManyPixels => {
                "the picture is too large: at most 10000 px a side and 25 megapixels"
            }
            ImageRefusal::FileTooLarge => "the file is too large: at most 5 MiB",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ImageRefusal::FileTooLarge => 413,
            ImageRefusal::Unsupported | ImageRefusal::TooManyPixels => 422,
        }
    }

    /// The refusal of an error code (the no-JavaScript upload form carries it back in
    /// the page's URL).
    pub fn from_code(code: &str) -> Option<ImageRefusal> {
        [
            ImageRefusal::Unsupported,
            ImageRefusal::TooManyPixels,
            ImageRefusal::FileTooLarge,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Malformed request (not JSON, wrong types). The text is ours, never a library's.
    #[error("{0}")]
    BadRequest(String),
    #[error("some fields are not valid")]
    Validation(FieldErrors),
    #[error("please log in")]
    Unauthorized,
    #[error("the token is missing, invalid or expired")]
    InvalidToken,
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("you are not allowed to do that")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{}", .0.message())]
    Conflict(Conflict),
    /// An uploaded picture was refused (413 or 422).
    #[error("{}", .0.message())]
    Image(ImageRefusal),
    /// The same `Idempotency-Key` was sent with other parameters.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("too many attempts, try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// Busy (load shedding) or a dependency is down (the database): try again shortly.
    #[error("the service is busy, try again in {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64 },
    /// The browser could not reach the server (client side only).
    #[error("the server could not be reached")]
    Network,
    #[error("an internal error occurred")]
    Internal,
}

impl AppError {
    pub fn field(field: &str, error: FieldError) -> AppError {
        AppError::Validation(FieldErrors::from([(field.to_string(), error)]))
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Validation(_) | AppError::IdempotencyKeyReused => 422,
            AppError::Unauthorized | AppError::InvalidToken | AppError::InvalidCredentials => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::Image(r) => r.status(),
            AppError::TooManyRequests { .. } => 429,
            AppError::Unavailable { .. } | AppError::Network => 503,
            AppError::Internal => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Validation(_) => "validation_failed",
            AppError::Unauthorized => "unauthorized",
            AppError::InvalidToken => "invalid_token",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Conflict(c) => c.code(),
            AppError::Image(r) => r.code(),
            AppError::IdempotencyKeyReused => "idempotency_key_reused",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::Unavailable { .. } | AppError::Network => "unavailable",
            AppError::Internal => "internal",
        }
    }

    /// Per-field errors, when this is a validation error.
    pub fn fields(&self) -> Option<&FieldErrors> {
        match self {
            AppError::Validation(f) => Some(f),
            _ => None,
        }
    }
}

impl server_fn_error::FromServerFnError for AppError {
    type Encoder = server_fn_error::JsonEncoding;

    fn from_server_fn_error(value: server_fn_error::ServerFnErrorErr) -> Self {
        use server_fn_error::ServerFnErrorErr as E;
        match value {
            E::Request(_) | E::Response(_) => AppError::Network,
            E::Args(_) | E::MissingArg(_) | E::Deserialization(_) => {
                AppError::BadRequest("the request could not be read".into())
            }
            _ => AppError::Internal,
        }
    }
}

mod server_fn_error {
    pub use leptos::server_fn::codec::JsonEncoding;
    pub use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
}

/// Layer on the server functions: an error answers with its variant's HTTP status (401,
/// 403, 404, 409, 422, 429 and 503 with `Retry-After`...), as the JSON API does, instead
/// of the 500 server functions give every error; only `Internal` stays a 5xx, so
/// monitoring counts only real failures. The body stays the serialised `AppError` the
/// hydrated page decodes (it does so for any 4xx or 5xx). A plain form post (no
/// JavaScript) keeps its redirect back to the form with the error in the URL.
#[cfg(feature = "ssr")]
pub async fn server_fn_status(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::Body;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::Response;

    /// Server function errors are small; a body larger than this is left as it is.
    const MAX_ERROR_BODY: usize = 64 * 1024;

    let res = next.run(req).await;
    let is_error = res.status() == StatusCode::INTERNAL_SERVER_ERROR
        && res.headers().contains_key("serverfnerror")
        && !res.headers().contains_key(header::LOCATION);
    if !is_error {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::TooManyRequests { retry_after_secs }
        | AppError::Unavailable { retry_after_secs } = error
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            parts.headers.insert(header::RETRY_AFTER, v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};

    impl From<sqlx::Error> for AppError {
        fn from(e: sqlx::Error) -> Self {
            match &e {
                // The database is unreachable (restarting, overloaded): a 503 the caller
                // may retry, not an internal error.
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                    tracing::warn!(error = %e, "database unavailable");
                    AppError::Unavailable {
                        retry_after_secs: 2,
                    }
                }
                sqlx::Error::Database(db)
                    if db
                        .code()
                        .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
                {
                    // admin_shutdown / cannot_connect_now / connection exceptions
                    tracing::warn!(error = %e, "database unavailable");
                    AppError::Unavailable {
                        retry_after_secs: 2,
                    }
                }
                // query_canceled: the statement ran into `statement_timeout`
                // (`COUPAN_DB_STATEMENT_TIMEOUT_MS`): the database is too busy for this
                // request now; it may be retried.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
                    tracing::warn!(error = %e, "statement timed out");
                    AppError::Unavailable {
                        retry_after_secs: 2,
                    }
                }
                // Text or a date the database cannot hold (a NUL, an encoding error, a
                // year out of range) that slipped past the domain types' checks, which
                // refuse them with a field error: the request's fault, not ours.
                sqlx::Error::Database(db)
                    if db
                        .code()
                        .is_some_and(|c| matches!(&*c, "22021" | "22P05" | "22008")) =>
                {
                    tracing::warn!(error = %e, "input the database cannot store");
                    AppError::BadRequest(
                        "the request holds text or a date that cannot be stored".into(),
                    )
                }
                _ => {
                    tracing::error!(error = %e, "database error");
                    AppError::Internal
                }
            }
        }
    }

    impl From<tower_sessions::session::Error> for AppError {
        fn from(e: tower_sessions::session::Error) -> Self {
            use tower_sessions::session::Error;
            use tower_sessions::session_store::Error as StoreError;
            match &e {
                // The session table could not be read or written: the store gives only
                // the database error's text, and it is (almost always) the database
                // being unreachable, so the caller may retry like any other 503.
                Error::Store(StoreError::Backend(_)) => {
                    tracing::warn!(error = %e, "session store unavailable");
                    AppError::Unavailable {
                        retry_after_secs: 2,
                    }
                }
                _ => {
                    tracing::error!(error = %e, "session store error");
                    AppError::Internal
                }
            }
        }
    }

    /// `{"error": {"code", "message", "fields"?}}` with the variant's status.
    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status =
                StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = crate::api::doc::ErrorBody {
                error: crate::api::doc::ErrorDetail {
                    code: self.code().to_string(),
                    message: self.to_string(),
                    fields: self.fields().map(|fields| {
                        fields
                            .iter()
                            .map(|(k, v)| (k.clone(), v.message()))
                            .collect()
                    }),
                },
            };
            let mut res = (status, axum::Json(body)).into_response();
            if let AppError::TooManyRequests { retry_after_secs }
            | AppError::Unavailable { retry_after_secs } = self
                && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
            {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            if matches!(self, AppError::Unauthorized | AppError::InvalidToken) {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_are_stable() {
        assert_eq!(
            AppError::Conflict(Conflict::EmailTaken).code(),
            "email_taken"
        );
        assert_eq!(AppError::Conflict(Conflict::EmailTaken).status(), 409);
        assert_eq!(AppError::field("name", FieldError::Required).status(), 422);
        assert_eq!(
            AppError::TooManyRequests {
                retry_after_secs: 3
            }
            .status(),
            429
        );
        assert_eq!(AppError::Internal.to_string(), "an internal error occurred");
        let big = AppError::Image(ImageRefusal::FileTooLarge);
        assert_eq!((big.status(), big.code()), (413, "file_too_large"));
        let bad = AppError::Image(ImageRefusal::Unsupported);
        assert_eq!((bad.status(), bad.code()), (422, "unsupported_image"));
        assert_eq!(
            ImageRefusal::from_code("image_too_large"),
            Some(ImageRefusal::TooManyPixels)
        );
        assert_eq!(ImageRefusal::from_code("nonsense"), None);
        let busy = AppError::Unavailable {
            retry_after_secs: 2,
        };
        assert_eq!((busy.status(), busy.code()), (503, "unavailable"));
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn an_unreachable_session_store_is_unavailable_not_internal() {
        use tower_sessions::session::Error;
        use tower_sessions::session_store::Error as StoreError;
        let down = AppError::from(Error::Store(StoreError::Backend(
            "pool timed out while waiting for an open connection".into(),
        )));
        assert_eq!((down.status(), down.code()), (503, "unavailable"));
        let corrupt = AppError::from(Error::Store(StoreError::Decode("bad record".into())));
        assert_eq!(corrupt, AppError::Internal);
    }

    #[test]
    fn round_trips_through_json_for_server_functions() {
        // Every kind of field error: they are read back by hand (`FieldErrorWire`).
        let fields = [
            FieldError::Required,
            FieldError::TooShort { min: 8 },
            FieldError::TooLong { max: 80 },
            FieldError::Invalid,
            FieldError::NotANumber,
            FieldError::OutOfRange { min: -1, max: 10 },
            FieldError::EndBeforeStart,
            FieldError::BeforeSaleEnd,
            FieldError::Taken,
        ];
        let e = AppError::Validation(
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("f{i}"), f.clone()))
                .collect(),
        );
        let back: AppError = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        // The shape other programs (and the server's status layer) read.
        assert_eq!(
            serde_json::to_value(AppError::field("q", FieldError::TooLong { max: 3 })).unwrap(),
            serde_json::json!({"Validation": {"q": {"kind": "too_long", "max": 3}}})
        );
        for bad in [
            r#"{"kind": "too_long"}"#,
            r#"{"kind": "too_short", "min": -1}"#,
            r#"{"kind": "nonsense"}"#,
        ] {
            assert!(serde_json::from_str::<FieldError>(bad).is_err(), "{bad}");
        }
    }
}
