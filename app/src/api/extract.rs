//! What the feature routers share to read a request: ids from paths and JSON bodies, with
//! rejections in the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};

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

/// An optional JSON body: none at all (an empty body) is `None`; anything else must be
/// JSON that fits `T` (400 otherwise), whatever its Content-Type says. For routes whose
/// body came later than the route: an old client sends nothing, a new one must not be
/// misread as sending nothing.
impl<S, T> axum::extract::OptionalFromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::BadRequest("the body could not be read".into()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        // An object: a struct would otherwise accept an array of its fields.
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| AppError::BadRequest("the body is not valid JSON".into()))?;
        if !value.is_object() {
            return Err(AppError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        }
        serde_json::from_value(value)
            .map(|v| Some(JsonBody(v)))
            .map_err(|e| AppError::BadRequest(format!("the JSON body does not fit: {e}")))
    }
}
