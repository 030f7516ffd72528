//! The OpenAPI 3.1 document of `/api/v1`, served at `GET /api/v1/openapi.json`.
//!
//! It is generated from the code: every feature router registers its handlers with
//! utoipa-axum's `routes!`, which adds the handler's `#[utoipa::path(...)]` to the document
//! in the same step as it routes it, so a route cannot be served undocumented (or
//! documented and not served). `server/tests/api/openapi.rs` checks that both ways against
//! the running application, and Schemathesis (`scripts/fuzz.sh`) checks every answer
//! against it.
//!
//! To add a route: annotate the handler with `#[utoipa::path(method, path = "...")]`
//! (the path as the feature router sees it: `/coupons/{id}`, the `/api/v1` prefix comes
//! from the nesting), listing its parameters (`params(...)`, or an `IntoParams` query
//! struct), its request body, `security(("bearer" = []))` when it needs a token, and every
//! answer: the success with its schema, and each error with a marker below
//! (`doc::NotFound`, ...). Register it with `.routes(routes!(handler))`, never
//! `.route(...)`. Types in answers derive `utoipa::ToSchema` (in `app::domain`, shared
//! with the browser build: `#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]`).

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Ref, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, RefOr};
use utoipa::{IntoResponses, Modify, ToSchema};

/// The document's fixed parts; the paths come from the routers (`api::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Coupan API",
        version = "1",
        description = "The JSON API of Coupan, a coupon marketplace. Private routes take a \
            bearer token (a JWT from `POST /api/v1/auth/token`, valid one hour). Every error \
            answers `{\"error\": {\"code\", \"message\", \"fields\"?}}` with a stable `code`."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "coupons", description = "The catalogue and the owners' coupons"),
        (name = "images", description = "Coupon pictures (owners)"),
        (name = "live", description = "Server-Sent Events"),
        (name = "orders", description = "Buying, cancelling, refunding"),
        (name = "customers", description = "A customer's orders, vouchers and waitlist places"),
        (name = "owners", description = "A shop owner's dashboard and voucher redemption"),
        (name = "notifications", description = "A user's notifications"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The name of the security scheme private routes list: `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/v1/auth/token` (`access_token`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// `{"error": {...}}`: every error answer of the API (`AppError`'s `IntoResponse` serializes
/// this very type, so the document and the answers cannot drift apart).
#[derive(ToSchema, serde::Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// One error.
#[derive(ToSchema, serde::Serialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `validation_failed`, `unauthorized`,
    /// `invalid_token`, `invalid_credentials`, `forbidden`, `not_found`, a conflict such
    /// as `out_of_stock`, a picture refusal such as `unsupported_image`,
    /// `idempotency_key_reused`, `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// English text for people; may change.
    pub message: String,
    /// Per-field reasons, on `validation_failed` only: field name -> English text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

/// An error answer with the shared error schema (and `headers`, by name).
fn error(description: &str, headers: &[(&str, &str)]) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    for (name, text) in headers {
        let schema = if *name == "Retry-After" {
            ObjectBuilder::new().schema_type(SchemaType::new(Type::Integer))
        } else {
            ObjectBuilder::new().schema_type(SchemaType::new(Type::String))
        };
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(schema)
                .description(Some(*text))
                .build(),
        );
    }
    response.build().into()
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident $status:literal $description:literal $([$header:literal: $text:literal])*;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([(
                        $status.to_string(),
                        error($description, &[$(($header, $text)),*]),
                    )])
                }
            }
        )*
    };
}

// The error answers, one marker per status, for `responses(...)` of `#[utoipa::path]`.
error_responses! {
    /// 400 `bad_request`.
    BadRequest "400" "`bad_request`: the request could not be read (not JSON, wrong types, a bad parameter or header)";
    /// 401 `unauthorized` / `invalid_token` (with `WWW-Authenticate: Bearer`).
    Unauthorized "401" "`unauthorized`: no token; `invalid_token`: the token is invalid or expired"
        ["WWW-Authenticate": "`Bearer`"];
    /// 403 `forbidden`: signed in with the other role.
    Forbidden "403" "`forbidden`: this route is for the other role (customers or shop owners)";
    /// 404 `not_found` (another owner's coupon or another customer's order included).
    NotFound "404" "`not_found`: no such resource, or not yours";
    /// 409: a conflict with the current state (the code says which).
    Conflict "409" "a conflict with the current state: `email_taken`, `out_of_stock`, `not_on_sale`, `sale_not_started`, `sale_ended`, `limit_exceeded`, `already_cancelled`, `not_cancellable`, `voucher_*`, `not_sold_out`, `too_many_images`";
    /// 413 `file_too_large`.
    TooLarge "413" "`file_too_large`: the file is over 5 MiB";
    /// 422 `validation_failed` (per field) and other refused input.
    Invalid "422" "`validation_failed` with `fields`, `idempotency_key_reused`, or a refused picture (`unsupported_image`, `image_too_large`)";
    /// 429 `rate_limited` with `Retry-After`.
    RateLimited "429" "`rate_limited`: too many attempts"
        ["Retry-After": "seconds to wait"];
    /// 503 `unavailable` with `Retry-After`: busy or the database is unreachable.
    Unavailable "503" "`unavailable`: busy, or the database is unreachable; try again"
        ["Retry-After": "seconds to wait"];
}

// The events of the live streams (`text/event-stream`): each event's fields as a client's
// parser reads them. `data` is JSON text.

/// The event names of the coupons' streams.
#[derive(ToSchema)]
#[allow(non_camel_case_types)]
pub enum StockEventName {
    stock,
}

/// One event of `GET /api/v1/coupons/{id}/live` and `GET /api/v1/coupons/live`.
#[derive(ToSchema)]
pub struct StockEvent {
    pub event: StockEventName,
    /// A `LiveStock`: `{coupon_id, stock_left, held, on_sale}`.
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// The event names of the notification stream.
#[derive(ToSchema)]
#[allow(non_camel_case_types)]
pub enum NotificationEventName {
    unread,
    notification,
}

/// One event of `GET /api/v1/notifications/live`.
#[derive(ToSchema)]
pub struct NotificationEvent {
    pub event: NotificationEventName,
    /// `{"unread": N}` (`unread`) or a `Notification` (`notification`).
    #[schema(content_media_type = "application/json")]
    pub data: String,
    /// The newest notification id the stream has covered (send it back as `Last-Event-ID`).
    pub id: Option<String>,
}
