//! Routes a guest-facing client uses: catalogue, availability, holds, reservation status.
//! Confirm and cancel live here for path compatibility with the original, but need a token.

use super::extract::{ApiQuery, parse_json};
use super::idempotency::{self, RawBody};
use super::json;
use super::middleware::client_ip;
use crate::auth::Admin;
use crate::booking::{BookingError, HoldOrigin, HoldRequest};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use domain::Stay;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> ApiError {
        match e {
            BookingError::UnitNotFound => {
                ApiError::unprocessable("accommodation_not_found", "La cabaña no existe o no está activa.")
            }
            BookingError::Stay(s) => s.into(),
            BookingError::InvalidContact(field) => {
                ApiError::unprocessable("invalid_contact", format!("Revisá el dato de contacto: {field}."))
                    .with_details(json!({"field": field}))
            }
            BookingError::InvalidPhone(e) => {
                ApiError::unprocessable("invalid_contact", format!("Revisá el teléfono: {e}."))
                    .with_details(json!({"field": "contact_phone"}))
            }
            BookingError::Store(s) => s.into(),
        }
    }
}

pub async fn root() -> Json<Value> {
    Json(json!({"message": "Posada", "version": env!("CARGO_PKG_VERSION")}))
}

/// The demo cabins' photos (see `demo::photo_svg`): public, cached, no database.
pub async fn demo_photo(axum::extract::Path(name): axum::extract::Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match crate::demo::photo_svg(&name) {
        Some(svg) => (
            [
                (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
                (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            svg,
        )
            .into_response(),
        None => ApiError::new(StatusCode::NOT_FOUND, "not_found", "No existe esa foto.").into_response(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "No existe esa ruta.")
}

pub async fn accommodations(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let units = s.store.list_units(false).await?;
    Ok(Json(Value::Array(units.iter().map(json::unit).collect())))
}

#[derive(Deserialize)]
pub struct AvailabilityQuery {
    check_in: NaiveDate,
    check_out: NaiveDate,
    guests: Option<u32>,
}

pub async fn availability(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<AvailabilityQuery>,
) -> ApiResult<Json<Value>> {
    let stay = Stay::new(q.check_in, q.check_out)?;
    let guests = q.guests.unwrap_or(1);
    let list = s.booking.availability(stay, guests).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|a| {
            let mut v = json::quote(&a.quote);
            v["accommodation_id"] = json!(a.unit.id);
            v["name"] = json!(a.unit.name);
            v["slug"] = json!(a.unit.slug);
            v["capacity"] = json!(a.unit.capacity);
            v["available"] = json!(a.available);
            v["reason"] = json!(a.reason);
            v
        })
        .collect();
    Ok(Json(json!({
        "check_in": stay.check_in,
        "check_out": stay.check_out,
        "nights": stay.nights(),
        "guests": guests,
        "accommodations": items,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreReserveBody {
    accommodation_id: i64,
    check_in: NaiveDate,
    check_out: NaiveDate,
    guests: u32,
    /// `web` (a website's booking form, the default) or `api`; the conversation channels and
    /// the dashboard are set by Posada itself, never by a client.
    #[serde(default)]
    channel: Option<String>,
    contact_name: String,
    contact_phone: String,
    #[serde(default)]
    contact_email: Option<String>,
}

/// The channel a public hold is attributed to.
fn public_channel(sent: Option<&str>) -> ApiResult<domain::Channel> {
    match sent.map(|c| c.trim().to_lowercase()).as_deref() {
        None | Some("") | Some("web") => Ok(domain::Channel::Web),
        Some("api") => Ok(domain::Channel::Api),
        Some(_) => Err(ApiError::unprocessable(
            "invalid_channel",
            "El canal de una pre-reserva hecha por la API es web (un formulario en un sitio web; es el valor si no lo mandás) o api (otro programa). WhatsApp, e-mail y el panel los asigna Posada.",
        )
        .with_details(json!({"field": "channel"}))),
    }
}

/// Places a hold for an anonymous guest (a website's booking form). Bounded by the booking
/// horizon, the holds per phone and the live holds per client address; with
/// `POSADA_PUBLIC_API_KEY` set it also needs `X-Api-Key` (docs/decisions.md).
pub async fn pre_reserve(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    if let Some(key) = &s.config.public_api_key {
        let sent = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !crate::ical_sync::same_token(sent, key.expose_secret()) {
            return ApiError::unauthorized("Falta la clave de la API (X-Api-Key) o no es válida.").into_response();
        }
    }
    let client = client_ip(peer.ip(), &headers, &s.config.trusted_proxies);
    let (state, raw) = (s.clone(), body.clone());
    idempotency::run(&s, &headers, "pre-reserve", "/api/v1/reservations/pre-reserve", &body, || async move {
        let req = pre_reserve_request(&raw, client)?;
        let (r, unit, _quote) = state.booking.place_hold(&req).await?;
        tracing::info!(code = %r.code, unit = r.unit_id, nights = r.stay.nights(), "hold placed");
        Ok((
            StatusCode::CREATED,
            json!({
                "code": r.code,
                "status": r.status.as_str(),
                "accommodation_id": r.unit_id,
                "accommodation_name": unit.name,
                "check_in": r.stay.check_in,
                "check_out": r.stay.check_out,
                "guests": r.guests,
                "nights": r.stay.nights(),
                "total_price": r.total.to_string(),
                "deposit_amount": r.deposit.to_string(),
                "expires_at": r.hold_expires_at.map(|t| t.to_rfc3339()),
            }),
        ))
    })
    .await
}

/// Reads a pre-reserve body into the hold it asks for: the same JSON errors as every route
/// (400 malformed, 422 wrong shape or control characters) and the channel check. Pure (the
/// fuzz target in `fuzz/` drives it with any bytes).
pub fn pre_reserve_request(body: &[u8], client: std::net::IpAddr) -> ApiResult<HoldRequest> {
    let b: PreReserveBody = parse_json(body)?;
    let channel = public_channel(b.channel.as_deref())?;
    Ok(HoldRequest {
        unit_id: b.accommodation_id,
        check_in: b.check_in,
        check_out: b.check_out,
        guests: b.guests,
        channel,
        guest_name: b.contact_name,
        guest_phone: b.contact_phone,
        guest_email: b.contact_email.filter(|e| !e.trim().is_empty()),
        actor: format!("guest:{channel}"),
        request_key: None,
        origin: HoldOrigin::Public { client },
    })
}

pub async fn reservation(State(s): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let code = domain::ReservationCode::parse(&code)
        .ok_or_else(|| ApiError::not_found("No hay ninguna reserva con ese código."))?;
    let r = s.store.get_reservation(code.as_str()).await.map_err(|e| match e {
        store::StoreError::NotFound => ApiError::not_found("No hay ninguna reserva con ese código."),
        other => other.into(),
    })?;
    let unit = s.store.get_unit(r.unit_id).await.ok();
    let mut v = json::public_reservation(&r, unit.as_ref().map(|u| u.name.as_str()));
    if r.status == domain::ReservationStatus::PreReserved
        && r.occupies_at(s.clock.now())
        && let Some(link) = s.store.payment_link(r.id).await?
    {
        v["payment_link"] = json!(link.url);
    }
    Ok(Json(v))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    #[serde(default, alias = "reason", alias = "notes")]
    note: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    payment_id: Option<String>,
}

fn note_from(body: &[u8]) -> ApiResult<String> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(String::new());
    }
    let b: NoteBody = parse_json(body)?;
    let note = b.note.unwrap_or_default();
    if note.chars().count() > 2000 {
        return Err(ApiError::unprocessable("invalid_body", "La nota es demasiado larga (máximo 2000 caracteres)."));
    }
    Ok(note)
}

fn known_code(code: &str) -> ApiResult<String> {
    domain::ReservationCode::parse(code)
        .map(|c| c.to_string())
        .ok_or_else(|| ApiError::not_found("No hay ninguna reserva con ese código."))
}

pub async fn confirm(
    State(s): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let (state, raw) = (s.clone(), body.clone());
    let path = format!("/api/v1/reservations/{code}/confirm");
    idempotency::run(&s, &headers, "confirm", &path, &body, || async move {
        let code = known_code(&code)?;
        let note = note_from(&raw)?;
        let r = state.booking.confirm(&code, &admin.email, &note, false).await.map_err(not_found_code)?;
        Ok((
            StatusCode::OK,
            json!({"code": r.code, "status": r.status.as_str(), "confirmed_at": r.confirmed_at.map(|t| t.to_rfc3339())}),
        ))
    })
    .await
}

pub async fn cancel(
    State(s): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let (state, raw) = (s.clone(), body.clone());
    let path = format!("/api/v1/reservations/{code}/cancel");
    idempotency::run(&s, &headers, "cancel", &path, &body, || async move {
        let code = known_code(&code)?;
        let note = note_from(&raw)?;
        let r = state.booking.cancel(&code, &admin.email, &note).await.map_err(not_found_code)?;
        // A chat-made reservation: its guest hears it and the chat goes to a person.
        if let Err(e) = state.chat.owner_cancelled(&r).await {
            tracing::error!(error = %e, code = %r.code, "could not tell the guest about the cancellation");
        }
        // A paid reservation: its refund by the policy, as from the dashboard (#17).
        if let Err(e) = state.payments.propose_refund(&r, &admin.email).await {
            tracing::error!(error = %e, code = %r.code, "could not propose the refund");
        }
        Ok((
            StatusCode::OK,
            json!({"code": r.code, "status": r.status.as_str(), "cancelled_at": r.cancelled_at.map(|t| t.to_rfc3339())}),
        ))
    })
    .await
}

pub fn not_found_code(e: BookingError) -> ApiError {
    match e {
        BookingError::Store(store::StoreError::NotFound) => {
            ApiError::not_found("No hay ninguna reserva con ese código.")
        }
        other => other.into(),
    }
}
