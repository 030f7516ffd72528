//! The routes of coupon pictures:
//!
//! | route | who | answer |
//! |---|---|---|
//! | `POST /api/v1/coupons/{id}/images` (multipart, field `file`) | owning owner | 201 `{id, url, thumb_url, width, height}` |
//! | `DELETE /api/v1/coupons/{id}/images/{image_id}` | owning owner | 204 |
//! | `POST /api/v1/coupons/{id}/images/{image_id}/cover` | owning owner | 200 coupon |
//! | `POST /owner/coupons/{id}/images` (the same upload from the edit page's form) | owner's session | 303 back to the edit page |
//! | `POST /owner/coupons/{id}/images/{image_id}/delete` and `.../cover` | owner's session | 303 back |
//! | `GET /images/{key}` | anyone | the file, cached for a year (`immutable`) |
//!
//! The server mounts this router beside the others, outside the 1 MiB body limit of the
//! rest of the app: the two upload routes take up to `UPLOAD_BODY_LIMIT`, the others
//! never read a body. Other owners' coupons are 404, customers 403, anonymous callers
//! 401 (the forms send them to the login page instead).

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sqlx::PgPool;
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::process::{Format, MAX_UPLOAD_BYTES};
use super::service;
use super::store::ImageStore;
use crate::api::doc;
use crate::api::extract::parse_id;
use crate::auth::guards::{Principal, require_owner};
use crate::auth::sessions::session_principal;
use crate::auth::tokens::BearerAuth;
use crate::coupons::api::CouponJson;
use crate::domain::CouponImage;
use crate::error::{AppError, ImageRefusal};
use crate::state::AppState;

/// The largest upload request: the file plus room for the multipart framing.
pub const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + 64 * 1024;

/// Files never change under a key (keys are random per upload).
pub const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// The `/api/v1` routes of pictures, documented (`api::openapi` adds them to the document).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)))
        .routes(routes!(remove))
        .routes(routes!(cover))
}

pub fn router() -> Router<AppState> {
    let upload_limit = DefaultBodyLimit::max(UPLOAD_BODY_LIMIT);
    let (api, _) = api_routes().split_for_parts();
    api.route(
        "/owner/coupons/{id}/images",
        post(form_upload).layer(upload_limit),
    )
    .route(
        "/owner/coupons/{id}/images/{image_id}/delete",
        post(form_delete),
    )
    .route(
        "/owner/coupons/{id}/images/{image_id}/cover",
        post(form_cover),
    )
    .route("/images/{key}", get(serve))
}

/// The bytes of the form's `file` field, at most `MAX_UPLOAD_BYTES`.
async fn read_file(multipart: Result<Multipart, MultipartRejection>) -> Result<Vec<u8>, AppError> {
    fn unreadable(e: MultipartError) -> AppError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::Image(ImageRefusal::FileTooLarge)
        } else {
            AppError::BadRequest("the multipart/form-data body could not be read".into())
        }
    }
    let mut multipart = multipart.map_err(|_| {
        AppError::BadRequest("expected a multipart/form-data body with a file field".into())
    })?;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some("file") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
                return Err(AppError::Image(ImageRefusal::FileTooLarge));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(AppError::BadRequest(
        "the form has no field named file".into(),
    ))
}

/// The upload form: one field `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Upload {
    /// A JPEG, PNG or WebP picture, at most 5 MiB, 10000 px a side and 25 megapixels.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Adds a picture to the owner's coupon (re-encoded, with a thumbnail); the first one is
/// the cover.
#[utoipa::path(
    post,
    path = "/api/v1/coupons/{id}/images",
    tag = "images",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The coupon's id")),
    request_body(content = Upload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The stored picture", body = CouponImage),
        doc::BadRequest,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::TooLarge,
        doc::Invalid,
        doc::Unavailable,
    )
)]
async fn upload(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<CouponImage>), AppError> {
    let owner = require_owner(auth.0)?;
    let id = parse_id(&id)?;
    let bytes = read_file(multipart).await?;
    let image = service::add(&state.pool, &state.images, owner, id, bytes).await?;
    Ok((StatusCode::CREATED, Json(image)))
}

/// Deletes a picture of the owner's coupon.
#[utoipa::path(
    delete,
    path = "/api/v1/coupons/{id}/images/{image_id}",
    tag = "images",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The coupon's id"),
        ("image_id" = Uuid, Path, description = "The picture's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn remove(
    State(pool): State<PgPool>,
    State(store): State<ImageStore>,
    auth: BearerAuth,
    Path((id, image_id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let owner = require_owner(auth.0)?;
    let (id, image_id) = (parse_id(&id)?, parse_id(&image_id)?);
    service::delete(&pool, &store, owner, id, image_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a picture the coupon's cover (first).
#[utoipa::path(
    post,
    path = "/api/v1/coupons/{id}/images/{image_id}/cover",
    tag = "images",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The coupon's id"),
        ("image_id" = Uuid, Path, description = "The picture's id"),
    ),
    responses(
        (status = 200, description = "The coupon, this picture first", body = CouponJson),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unavailable,
    )
)]
async fn cover(
    State(pool): State<PgPool>,
    auth: BearerAuth,
    Path((id, image_id)): Path<(String, String)>,
) -> Result<Json<CouponJson>, AppError> {
    let owner = require_owner(auth.0)?;
    let (id, image_id) = (parse_id(&id)?, parse_id(&image_id)?);
    let coupon = service::make_cover(&pool, owner, id, image_id).await?;
    Ok(Json(coupon.into()))
}

// --- the edit page's forms (no JavaScript needed) -------------------------------------

/// The query the edit page reads after a picture form: `pictures=<done>` or
/// `picture_error=<error code>` (`pages::PictureManager`).
fn back_to_edit(id: uuid::Uuid, outcome: Result<&str, AppError>) -> Response {
    let query = match outcome {
        Ok(done) => format!("pictures={done}"),
        Err(e) => format!("picture_error={}", e.code()),
    };
    Redirect::to(&format!("/owner/coupons/{id}/edit?{query}")).into_response()
}

/// The answer to a form from someone who may not change this coupon: the login page for a
/// visitor, the edit page with the error for anyone else.
fn refused(id: uuid::Uuid, e: AppError) -> Response {
    match e {
        AppError::Unauthorized => {
            Redirect::to(&format!("/login?next=/owner/coupons/{id}/edit")).into_response()
        }
        e => back_to_edit(id, Err(e)),
    }
}

/// The owner signed in to this browser session, if it is an owner.
async fn form_owner(session: &Session, state: &AppState) -> Result<Principal, AppError> {
    session_principal(session, state)
        .await
        .and_then(require_owner)
}

/// A path id that is not a UUID: back to the owner's list.
fn no_such_coupon() -> Response {
    Redirect::to("/owner/coupons").into_response()
}

async fn form_upload(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Ok(id) = parse_id(&id) else {
        return no_such_coupon();
    };
    let owner = match form_owner(&session, &state).await {
        Ok(owner) => owner,
        Err(e) => return refused(id, e),
    };
    let added = match read_file(multipart).await {
        Ok(bytes) => service::add(&state.pool, &state.images, owner, id, bytes).await,
        Err(e) => Err(e),
    };
    back_to_edit(id, added.map(|_| "added"))
}

async fn form_delete(
    State(state): State<AppState>,
    session: Session,
    Path((id, image_id)): Path<(String, String)>,
) -> Response {
    let Ok(id) = parse_id(&id) else {
        return no_such_coupon();
    };
    let owner = match form_owner(&session, &state).await {
        Ok(owner) => owner,
        Err(e) => return refused(id, e),
    };
    let deleted = match parse_id(&image_id) {
        Ok(image_id) => service::delete(&state.pool, &state.images, owner, id, image_id).await,
        Err(e) => Err(e),
    };
    back_to_edit(id, deleted.map(|_| "deleted"))
}

async fn form_cover(
    State(state): State<AppState>,
    session: Session,
    Path((id, image_id)): Path<(String, String)>,
) -> Response {
    let Ok(id) = parse_id(&id) else {
        return no_such_coupon();
    };
    let owner = match form_owner(&session, &state).await {
        Ok(owner) => owner,
        Err(e) => return refused(id, e),
    };
    let done = match parse_id(&image_id) {
        Ok(image_id) => service::make_cover(&state.pool, owner, id, image_id).await,
        Err(e) => Err(e),
    };
    back_to_edit(id, done.map(|_| "cover"))
}

// --- the files ------------------------------------------------------------------------

/// A stored file with its type and a year-long cache: its key never shows other bytes.
async fn serve(State(store): State<ImageStore>, Path(key): Path<String>) -> Response {
    let format = key
        .rsplit_once('.')
        .and_then(|(_, ext)| Format::from_extension(ext));
    let (true, Some(format)) = (super::is_key(&key), format) else {
        return AppError::NotFound.into_response();
    };
    match store.get(&key).await {
        Ok(Some(bytes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(format.content_type()),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_FOREVER),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => AppError::NotFound.into_response(),
        Err(e) => e.into_response(),
    }
}
