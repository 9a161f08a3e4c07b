//! The HTTP layer's one error type: every error leaves as `{"error":{"code","message"}}`.
//! Database and internal details are logged, never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields next to code and message (e.g. `min_nights`).
    pub details: Option<serde_json::Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None, retry_after: None }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Ocurrió un error interno.")
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(serde_json::Value::Object(extra)) = &self.details {
            for (k, v) in extra {
                error[k] = v.clone();
            }
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// Store errors that can reach a handler without a more specific meaning.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("No existe."),
            StoreError::Overlap => {
                ApiError::conflict("dates_unavailable", "Esas fechas ya no están disponibles para esa cabaña.")
            }
            StoreError::TooManyHolds(n) => ApiError::conflict(
                "too_many_holds",
                format!("Ya tenés {n} pre-reservas activas; confirmá o cancelá alguna antes de pedir otra."),
            ),
            StoreError::TooManyAddressHolds(n) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_holds_from_address",
                format!(
                    "Desde esta conexión ya hay {n} pre-reservas activas; confirmá o cancelá alguna, o esperá a que venzan."
                ),
            ),
            StoreError::Transition(t) => ApiError::conflict(
                "invalid_transition",
                format!("Una reserva en estado {} no puede pasar a {}.", t.from, t.to),
            )
            .with_details(json!({"status": t.from.as_str()})),
            StoreError::HoldExpired => {
                ApiError::conflict("hold_expired", "La pre-reserva venció; las fechas se liberaron.")
            }
            StoreError::NotActive(s) => {
                ApiError::conflict("invalid_transition", format!("Una reserva en estado {s} no se puede modificar."))
                    .with_details(json!({"status": s.as_str()}))
            }
            StoreError::Duplicate(what) => ApiError::conflict("duplicate", format!("Ya existe ({what}).")),
            StoreError::Invalid(what) => {
                tracing::info!(%what, "input refused by the store");
                ApiError::unprocessable(
                    "invalid_text",
                    "El texto tiene caracteres que no se pueden guardar (por ejemplo un byte nulo).",
                )
            }
            other => match other.unavailable() {
                Some(why) => ApiError::database_unavailable(why, &other),
                None => ApiError::internal(other),
            },
        }
    }
}

impl ApiError {
    /// 503 + `Retry-After`: the database cannot take the request right now (restarting,
    /// saturated, disk full); the same request will work later, so clients should retry.
    pub fn database_unavailable(why: store::Unavailable, cause: &dyn std::fmt::Display) -> ApiError {
        use store::Unavailable::*;
        let (code, message, retry_after) = match why {
            Unreachable | Busy => {
                ("unavailable", "El servicio no puede atender en este momento. Probá de nuevo en unos segundos.", 5)
            }
            StorageFull => (
                "storage_full",
                "El servidor se quedó sin espacio para guardar datos; no se guardó nada. Probá de nuevo más tarde.",
                60,
            ),
        };
        note_unavailable(why, cause);
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after = Some(retry_after);
        e
    }
}

impl From<domain::StayError> for ApiError {
    fn from(e: domain::StayError) -> ApiError {
        // The domain's words are a fragment (the bot says them inside its own sentences); a
        // client shows an API message as it is, so it gets a sentence.
        let fragment = e.to_string();
        let mut chars = fragment.chars();
        let sentence =
            chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default();
        let err = ApiError::unprocessable(e.code(), sentence);
        match e {
            domain::StayError::MinNights { min } => err.with_details(json!({"min_nights": min})),
            domain::StayError::TooLong { max } => err.with_details(json!({"max_nights": max})),
            domain::StayError::Guests { capacity } => err.with_details(json!({"capacity": capacity})),
            domain::StayError::BeyondHorizon { days } => err.with_details(json!({"horizon_days": days})),
            _ => err,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// When a write last met a full disk. The database still answers pings and reads then, so
/// health would say "ok" while no booking can be saved: it reports this for a minute instead.
static LAST_STORAGE_FULL: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// The operator's problem, not the client's: logged loudly (and a full disk remembered for
/// health) wherever it is answered plainly — API or dashboard.
pub fn note_unavailable(why: store::Unavailable, cause: &dyn std::fmt::Display) {
    tracing::error!(error = %cause, kind = ?why, "database unavailable");
    if why == store::Unavailable::StorageFull {
        storage_full_now();
    }
}

fn storage_full_now() {
    *LAST_STORAGE_FULL.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
}

/// Seconds since a write last met a full disk, if that was within `window`.
pub fn storage_full_within(window: std::time::Duration) -> Option<u64> {
    let last = (*LAST_STORAGE_FULL.lock().unwrap_or_else(|p| p.into_inner()))?;
    let age = last.elapsed();
    (age <= window).then_some(age.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::StayError;

    /// Found by `fuzz/`'s public_json target: a refused stay answered with the domain's bare
    /// fragment ("la fecha de salida debe ser posterior a la de entrada"), unlike every other
    /// API message, which is a sentence a client can show as it is.
    #[test]
    fn a_refused_stay_is_explained_in_a_spanish_sentence() {
        let all = [
            StayError::CheckOutNotAfterCheckIn,
            StayError::TooLong { max: 90 },
            StayError::CheckInPast,
            StayError::Guests { capacity: 4 },
            StayError::MinNights { min: 2 },
            StayError::BeyondHorizon { days: 540 },
        ];
        for e in all {
            let fragment = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(api.message.starts_with(|c: char| c.is_uppercase()), "{:?}", api.message);
            assert!(api.message.ends_with('.'), "{:?}", api.message);
            assert!(api.message.to_lowercase().contains(&fragment), "{:?} says what {fragment:?} said", api.message);
        }
    }
}
