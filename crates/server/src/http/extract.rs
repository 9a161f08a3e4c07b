//! Extractors whose rejections speak our JSON error format.

use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
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
        if !is_json_request(req.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(bytes_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether the request declares a JSON body (`application/json`, `application/x+json`).
pub fn is_json_request(headers: &axum::http::HeaderMap) -> bool {
    let essence = |v: &str| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Esta ruta recibe JSON: enviá el cuerpo con Content-Type: application/json.",
    )
}

fn bytes_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(e.status(), "payload_too_large", "El cuerpo supera el máximo de 1 MiB.")
    } else {
        ApiError::bad_request("bad_request", e.body_text())
    }
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
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(bytes_rejection)?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// Parses raw bytes with the same errors as [`ApiJson`]: 400 for malformed JSON, 422 for a
/// control character in any string (a NUL byte or an escape sequence is never text) and for
/// JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Err(ApiError::bad_request("malformed_json", e.to_string())),
    };
    if let Some(field) = field_with_control(&value, &mut String::new()) {
        return Err(control_character(&field));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error_free(de) {
        Ok(v) => Ok(v),
        Err(e) if e.is_syntax() || e.is_eof() => Err(ApiError::bad_request("malformed_json", e.to_string())),
        Err(e) => Err(ApiError::unprocessable("invalid_body", e.to_string())),
    }
}

/// 422 `invalid_text`: `field` holds a control character.
pub fn control_character(field: &str) -> ApiError {
    let message = if field.is_empty() {
        "El texto tiene caracteres de control (por ejemplo un byte nulo); borralos y probá de nuevo.".to_string()
    } else {
        format!("El campo {field} tiene caracteres de control (por ejemplo un byte nulo); borralos y probá de nuevo.")
    };
    ApiError::unprocessable("invalid_text", message).with_details(serde_json::json!({"field": field}))
}

/// The path (`contact_name`, `photos[0].url`) of the first string or key with a forbidden
/// control character.
fn field_with_control(v: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => domain::text::has_forbidden(s).then(|| path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = field_with_control(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&domain::text::strip(k));
            let found =
                if domain::text::has_forbidden(k) { Some(path.clone()) } else { field_with_control(item, path) };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

fn serde_path_to_error_free<'de, T: serde::Deserialize<'de>>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, serde_json::Error> {
    let value = T::deserialize(&mut *de)?;
    de.end()?;
    Ok(value)
}
