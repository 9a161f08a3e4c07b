//! `Idempotency-Key` on unsafe routes: the same key with the same request replays the stored
//! response; the same key with another request is 422; a key still being processed is 409.
//! Keys are kept at least 48 hours. If the key store cannot be reached the request fails (503)
//! rather than running unprotected.

use crate::error::ApiError;
use crate::metrics as m;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::Future;
use store::IdempotencyClaim;

pub const HEADER: &str = "idempotency-key";
pub const KEEP_HOURS: i64 = 48;

/// The raw request body (hashed for idempotency, then parsed), with JSON errors.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(e.status(), "payload_too_large", "El cuerpo supera el máximo de 1 MiB.")
            } else {
                super::extract::body_unreadable()
            }
        })
    }
}

fn respond(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Runs `handler` at most once per key. Without the header it simply runs.
pub async fn run<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
    path: &str,
    body: &[u8],
    handler: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = headers.get(HEADER) else {
        return match handler().await {
            Ok((status, body)) => respond(status, &body),
            Err(e) => e.into_response(),
        };
    };
    let key = match key.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= 255 => k.trim().to_string(),
        _ => {
            return ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key debe tener entre 1 y 255 caracteres.",
            )
            .into_response();
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    let hash = format!("{:x}", hasher.finalize());
    let claim = match state.store.claim_idempotency(scope, &key, &hash, state.clock.now()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "idempotency store unavailable");
            return ApiError::unavailable("No se pudo registrar la clave de idempotencia; reintentá.").into_response();
        }
    };
    match claim {
        IdempotencyClaim::Replay { status, body } => {
            metrics::counter!(m::IDEMPOTENT_REPLAYS).increment(1);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let mut r = respond(status, &value);
            r.headers_mut().insert("idempotency-replayed", HeaderValue::from_static("true"));
            r
        }
        IdempotencyClaim::InProgress => ApiError::conflict(
            "idempotency_in_progress",
            "Una solicitud con esta Idempotency-Key todavía se está procesando.",
        )
        .into_response(),
        IdempotencyClaim::Mismatch => {
            ApiError::unprocessable("idempotency_key_reused", "Esta Idempotency-Key ya se usó con otra solicitud.")
                .into_response()
        }
        IdempotencyClaim::New => {
            let (status, value) = match handler().await {
                Ok(ok) => ok,
                Err(e) => (e.status, e.body()),
            };
            if status.is_server_error() {
                // Nothing worth replaying: let the client try again with the same key.
                if let Err(e) = state.store.release_idempotency(scope, &key).await {
                    tracing::warn!(error = %e, "could not release idempotency key");
                }
            } else if let Err(e) =
                state.store.finish_idempotency(scope, &key, status.as_u16(), &value.to_string()).await
            {
                tracing::error!(error = %e, "could not store idempotent response");
            }
            respond(status, &value)
        }
    }
}
