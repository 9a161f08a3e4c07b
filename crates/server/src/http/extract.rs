//! Extractors whose rejections speak our JSON error format.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `axum::Json` with 400 for malformed JSON, 422 for well-formed JSON of the wrong shape,
/// 413 for bodies over the limit.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::unprocessable("invalid_body", body_text(&e.body_text())),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", body_text(&e.body_text())),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("malformed_json", "Se esperaba un cuerpo JSON (Content-Type: application/json).")
        }
        JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(e.status(), "payload_too_large", "El cuerpo supera el máximo de 1 MiB.")
        }
        other => ApiError::bad_request("bad_request", other.body_text()),
    }
}

/// Serde's messages are clear enough, but drop the Rust type paths they sometimes carry.
fn body_text(text: &str) -> String {
    text.replace("Failed to deserialize the JSON body into the target type: ", "")
        .replace("Failed to parse the request body as JSON: ", "")
}

/// `axum::Query` with 422 and a JSON error for bad parameters.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::unprocessable(
                "invalid_query",
                e.body_text().replace("Failed to deserialize query string: ", ""),
            )),
            Err(other) => Err(ApiError::unprocessable("invalid_query", other.body_text())),
        }
    }
}

/// An optional JSON body: empty is `None`, anything else must be valid JSON of `T`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(e.status(), "payload_too_large", "El cuerpo supera el máximo de 1 MiB.")
            } else {
                ApiError::bad_request("bad_request", e.body_text())
            }
        })?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// Parses raw bytes with the same errors as [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error_free(de) {
        Ok(v) => Ok(v),
        Err(e) if e.is_syntax() || e.is_eof() => Err(ApiError::bad_request("malformed_json", e.to_string())),
        Err(e) => Err(ApiError::unprocessable("invalid_body", e.to_string())),
    }
}

fn serde_path_to_error_free<'de, T: serde::Deserialize<'de>>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, serde_json::Error> {
    let value = T::deserialize(&mut *de)?;
    de.end()?;
    Ok(value)
}
