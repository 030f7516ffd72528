//! What the feature routers share to read a request: ids from paths and JSON bodies, with
//! rejections in the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::header::CONTENT_TYPE;

use crate::error::AppError;

/// An id from a path: anything that is not a UUID cannot name a row, so it is a 404.
pub fn parse_id(id: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(id).map_err(|_| AppError::NotFound)
}

/// `Json<T>` whose rejections use our error shape (400 `bad_request` with a short reason).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => Err(AppError::BadRequest(match rejection {
                JsonRejection::JsonDataError(e) => {
                    format!("the JSON body does not fit: {}", e.body_text())
                }
                JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON".into(),
                JsonRejection::MissingJsonContentType(_) => {
                    "expected Content-Type: application/json".into()
                }
                _ => "the body could not be read".into(),
            })),
        }
    }
}

/// `Option<JsonBody<T>>`: no body (no `Content-Type`) is `None`; a body that is not the
/// JSON of a `T` is refused as [`JsonBody`] refuses it (axum's own `Option<Json<T>>`
/// would answer its plain-text rejection instead of our error shape).
impl<S, T> OptionalFromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if !req.headers().contains_key(CONTENT_TYPE) {
            return Ok(None);
        }
        <JsonBody<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}
