//! The owner's JSON API (JWT): login, reservations, cabins, rate rules, calendar.

use super::extract::{ApiJson, ApiQuery};
use super::json;
use super::middleware::client_ip;
use super::public::not_found_code;
use crate::auth::{self, Admin};
use crate::booking::ManualKind;
use crate::error::{ApiError, ApiResult};
use crate::login::{self, Attempt, Door};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{Datelike, NaiveDate};
use domain::{AttentionFlag, Multiplier, RateRule, ReservationStatus, RuleEffect, RuleScope, Stay};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use store::{Change, Photo, RateRuleInput, ReservationFilter, StoreError, UnitInput};

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Json<Value>> {
    let ip = client_ip(peer.ip(), &headers, &s.config.trusted_proxies);
    let user = match login::attempt(&s, Door::Api, &b.email, SecretString::from(b.password), ip).await? {
        Attempt::In(user) => user,
        Attempt::Wrong => return Err(ApiError::unauthorized("E-mail o contraseña incorrectos.")),
        Attempt::Refused(r) => {
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "login_throttled", r.message());
            e.retry_after = Some(r.retry_after());
            return Err(e.with_details(json!({"retry_after": r.retry_after()})));
        }
    };
    let now = s.clock.now().timestamp();
    let token = auth::issue_token(&s.config.jwt_secret, &user.email, user.role, user.token_version, now);
    tracing::info!(role = user.role.as_str(), "admin login");
    Ok(Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": auth::TOKEN_TTL_SECONDS,
        "role": user.role.as_str(),
    })))
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    accommodation_id: Option<i64>,
    from_date: Option<NaiveDate>,
    to_date: Option<NaiveDate>,
    channel: Option<String>,
    search: Option<String>,
    flag: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn unit_names(s: &AppState) -> ApiResult<HashMap<i64, String>> {
    Ok(s.store.list_units(true).await?.into_iter().map(|u| (u.id, u.name)).collect())
}

pub async fn list_reservations(
    State(s): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = match q.status.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            ReservationStatus::parse(t)
                .ok_or_else(|| ApiError::unprocessable("invalid_query", format!("Estado desconocido: {t}")))?,
        ),
    };
    let flag = match q.flag.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            AttentionFlag::parse(t)
                .ok_or_else(|| ApiError::unprocessable("invalid_query", format!("Marca desconocida: {t}")))?,
        ),
    };
    let channel = match q.channel.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(domain::Channel::parse(t).ok_or_else(|| {
            let known: Vec<&str> = domain::Channel::ALL.iter().map(|c| c.as_str()).collect();
            ApiError::unprocessable(
                "invalid_query",
                format!("Canal desconocido: {t}. Los canales son: {}.", known.join(", ")),
            )
        })?),
    };
    let per_page = q.per_page.unwrap_or(50).clamp(1, 200);
    let page = q.page.unwrap_or(1).max(1);
    let filter = ReservationFilter {
        status,
        unit_id: q.accommodation_id,
        from: q.from_date,
        to: q.to_date,
        channel,
        text: q.search,
        flag,
        contact: None,
        limit: per_page,
        offset: (page - 1) * per_page,
    };
    let (items, total) = s.store.list_reservations(&filter).await?;
    let names = unit_names(&s).await?;
    Ok(Json(json!({
        "items": items.iter().map(|r| json::admin_reservation(r, names.get(&r.unit_id).map(String::as_str))).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "per_page": per_page,
    })))
}

pub async fn reservation(State(s): State<AppState>, _admin: Admin, Path(code): Path<String>) -> ApiResult<Json<Value>> {
    let r = s.store.get_reservation(&code.to_uppercase()).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("No hay ninguna reserva con ese código."),
        other => other.into(),
    })?;
    let unit = s.store.get_unit(r.unit_id).await.ok();
    let audit = s.store.audit_for(r.id).await?;
    let mut v = json::admin_reservation(&r, unit.as_ref().map(|u| u.name.as_str()));
    v["audit"] = Value::Array(audit.iter().map(json::audit).collect());
    if let Some(u) = &unit
        && let Ok(q) = s.booking.quote(u, r.stay).await
    {
        v["nightly"] = json::quote(&q)["nightly"].clone();
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualBody {
    accommodation_id: i64,
    check_in: NaiveDate,
    check_out: NaiveDate,
    /// "block" (owner block) or "booking" (a confirmed booking taken by hand).
    kind: String,
    #[serde(default)]
    guests: Option<u32>,
    #[serde(default)]
    guest_name: Option<String>,
    #[serde(default)]
    guest_phone: Option<String>,
    #[serde(default)]
    guest_email: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn create_reservation(
    State(s): State<AppState>,
    admin: Admin,
    ApiJson(b): ApiJson<ManualBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let kind = match b.kind.as_str() {
        "block" => ManualKind::Block,
        "booking" => ManualKind::Confirmed,
        other => {
            return Err(ApiError::unprocessable(
                "invalid_kind",
                format!("kind debe ser block o booking, no {other:?}"),
            ));
        }
    };
    let stay = Stay::new(b.check_in, b.check_out)?;
    let guests = b.guests.unwrap_or(if kind == ManualKind::Block { 0 } else { 1 });
    let r = s
        .booking
        .create_manual(
            kind,
            b.accommodation_id,
            stay,
            guests,
            b.guest_name.as_deref().unwrap_or(""),
            b.guest_phone.as_deref().unwrap_or(""),
            b.guest_email.filter(|e| !e.is_empty()),
            b.note.as_deref().unwrap_or(""),
            &admin.email,
        )
        .await?;
    let names = unit_names(&s).await?;
    Ok((StatusCode::CREATED, Json(json::admin_reservation(&r, names.get(&r.unit_id).map(String::as_str)))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    #[serde(default)]
    accommodation_id: Option<i64>,
    check_in: NaiveDate,
    check_out: NaiveDate,
    #[serde(default)]
    note: Option<String>,
}

pub async fn change_reservation(
    State(s): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<ChangeBody>,
) -> ApiResult<Json<Value>> {
    let code = code.to_uppercase();
    let current = s.store.get_reservation(&code).await.map_err(|e| not_found_code(e.into()))?;
    let stay = Stay::new(b.check_in, b.check_out)?;
    let unit_id = b.accommodation_id.unwrap_or(current.unit_id);
    let r = s
        .booking
        .change_stay(&code, unit_id, stay, &admin.email, b.note.as_deref().unwrap_or(""))
        .await
        .map_err(not_found_code)?;
    let names = unit_names(&s).await?;
    Ok(Json(json::admin_reservation(&r, names.get(&r.unit_id).map(String::as_str))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagBody {
    flag: String,
    on: bool,
    #[serde(default)]
    note: Option<String>,
}

pub async fn set_flag(
    State(s): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<FlagBody>,
) -> ApiResult<Json<Value>> {
    let flag = AttentionFlag::parse(&b.flag)
        .ok_or_else(|| ApiError::unprocessable("invalid_flag", format!("Marca desconocida: {}", b.flag)))?;
    let change = Change { actor: admin.email.clone(), note: b.note.unwrap_or_default(), allow_expired: false };
    let r = s
        .store
        .set_flag(&code.to_uppercase(), flag, b.on, &change, s.clock.now())
        .await
        .map_err(|e| not_found_code(e.into()))?;
    Ok(Json(json::admin_reservation(&r, None)))
}

pub async fn list_units(State(s): State<AppState>, _admin: Admin) -> ApiResult<Json<Value>> {
    let units = s.store.list_units(true).await?;
    Ok(Json(Value::Array(units.iter().map(json::unit).collect())))
}

pub async fn get_unit(State(s): State<AppState>, _admin: Admin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    Ok(Json(json::unit(&unit)))
}

/// A numeric path id; anything else is a plain 404.
pub(crate) fn parse_id(text: &str) -> ApiResult<i64> {
    text.parse().map_err(|_| ApiError::not_found("No existe."))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
    capacity: u32,
    base_price: Value,
    #[serde(default)]
    weekend_multiplier: Option<f64>,
    #[serde(default)]
    min_nights: Option<u32>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    amenities: Option<Vec<String>>,
    #[serde(default)]
    photos: Option<Vec<Photo>>,
    #[serde(default)]
    active: Option<bool>,
}

/// "Cabaña Grande" → "cabana-grande".
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in domain::text::fold(name.trim()).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn unit_input(b: UnitBody) -> ApiResult<UnitInput> {
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable("invalid_name", "El nombre debe tener entre 1 y 100 caracteres."));
    }
    let slug = b.slug.map(|s| slugify(&s)).unwrap_or_else(|| slugify(&name));
    if slug.is_empty() {
        return Err(ApiError::unprocessable("invalid_slug", "El identificador (slug) no puede quedar vacío."));
    }
    if b.capacity == 0 || b.capacity > 100 {
        return Err(ApiError::unprocessable("invalid_capacity", "La capacidad debe estar entre 1 y 100."));
    }
    let base_price = json::money_from(&b.base_price)
        .ok_or_else(|| ApiError::unprocessable("invalid_price", "El precio base debe ser un monto positivo."))?;
    let weekend_multiplier = match b.weekend_multiplier {
        None => Multiplier::ONE,
        Some(m) => Multiplier::from_f64(m).filter(|m| m.0 > 0).ok_or_else(|| {
            ApiError::unprocessable("invalid_multiplier", "El multiplicador debe estar entre 0 y 100.")
        })?,
    };
    let min_nights = b.min_nights.unwrap_or(1);
    if !(1..=domain::MAX_NIGHTS).contains(&min_nights) {
        return Err(ApiError::unprocessable("invalid_min_nights", "Las noches mínimas deben estar entre 1 y 60."));
    }
    let photos = b.photos.unwrap_or_default();
    if let Some(bad) = photos.iter().position(|p| !crate::admin_ui::units::photo_url_ok(&p.url)) {
        return Err(ApiError::unprocessable(
            "invalid_photo_url",
            format!("La foto {} debe ser una dirección http:// o https:// (sin espacios ni comillas).", bad + 1),
        )
        .with_details(serde_json::json!({"field": format!("photos[{bad}].url")})));
    }
    Ok(UnitInput {
        slug,
        name,
        capacity: b.capacity,
        base_price,
        weekend_multiplier,
        min_nights,
        description: b.description.unwrap_or_default(),
        amenities: b.amenities.unwrap_or_default(),
        photos,
        active: b.active.unwrap_or(true),
    })
}

pub fn new_ical_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub async fn create_unit(
    State(s): State<AppState>,
    admin: Admin,
    ApiJson(b): ApiJson<UnitBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin.require_owner()?;
    let input = unit_input(b)?;
    let unit = s.store.create_unit(&input, &new_ical_token(), s.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(json::unit(&unit))))
}

pub async fn update_unit(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UnitBody>,
) -> ApiResult<Json<Value>> {
    admin.require_owner()?;
    let input = unit_input(b)?;
    let unit = s.store.update_unit(parse_id(&id)?, &input, s.clock.now()).await?;
    Ok(Json(json::unit(&unit)))
}

/// Cabins are never deleted (reservations point at them): they stop being offered.
pub async fn deactivate_unit(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    admin.require_owner()?;
    let id = parse_id(&id)?;
    let u = s.store.get_unit(id).await?;
    let input = UnitInput {
        slug: u.slug,
        name: u.name,
        capacity: u.capacity,
        base_price: u.base_price,
        weekend_multiplier: u.weekend_multiplier,
        min_nights: u.min_nights,
        description: u.description,
        amenities: u.amenities,
        photos: u.photos,
        active: false,
    };
    let unit = s.store.update_unit(id, &input, s.clock.now()).await?;
    Ok(Json(json::unit(&unit)))
}

fn rule_json(r: &RateRule) -> Value {
    let (price, mult) = match r.effect {
        RuleEffect::NightlyPrice(p) => (Some(p.to_string()), None),
        RuleEffect::Multiplier(m) => (None, Some(m.as_f64())),
    };
    json!({
        "id": r.id,
        "accommodation_id": r.unit_id,
        "name": r.name,
        "start_date": r.start,
        "end_date": r.end,
        "scope": match r.scope { RuleScope::AllNights => "all_nights", RuleScope::HolidayEves => "holiday_eves" },
        "nightly_price": price,
        "multiplier": mult,
        "min_nights": r.min_nights,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    #[serde(default)]
    accommodation_id: Option<i64>,
    name: String,
    #[serde(default)]
    start_date: Option<NaiveDate>,
    /// First night NOT covered.
    #[serde(default)]
    end_date: Option<NaiveDate>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    nightly_price: Option<Value>,
    #[serde(default)]
    multiplier: Option<f64>,
    #[serde(default)]
    min_nights: Option<u32>,
}

async fn rule_input(s: &AppState, b: RuleBody) -> ApiResult<RateRuleInput> {
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::unprocessable("invalid_name", "El nombre debe tener entre 1 y 100 caracteres."));
    }
    if let (Some(a), Some(e)) = (b.start_date, b.end_date)
        && a >= e
    {
        return Err(ApiError::unprocessable("invalid_dates", "La fecha de fin debe ser posterior a la de inicio."));
    }
    let scope = match b.scope.as_deref() {
        None | Some("all_nights") => RuleScope::AllNights,
        Some("holiday_eves") => RuleScope::HolidayEves,
        Some(other) => {
            return Err(ApiError::unprocessable("invalid_scope", format!("scope desconocido: {other}")));
        }
    };
    let effect = match (b.nightly_price, b.multiplier) {
        (Some(p), None) => RuleEffect::NightlyPrice(
            json::money_from(&p).ok_or_else(|| ApiError::unprocessable("invalid_price", "Precio inválido."))?,
        ),
        (None, Some(m)) => RuleEffect::Multiplier(
            Multiplier::from_f64(m)
                .filter(|m| m.0 > 0)
                .ok_or_else(|| ApiError::unprocessable("invalid_multiplier", "Multiplicador inválido."))?,
        ),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_effect",
                "Indicá un precio por noche (nightly_price) o un multiplicador (multiplier), uno solo.",
            ));
        }
    };
    if let Some(unit) = b.accommodation_id {
        s.store.get_unit(unit).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::unprocessable("accommodation_not_found", "La cabaña no existe."),
            other => other.into(),
        })?;
    }
    if b.min_nights.is_some_and(|m| !(1..=domain::MAX_NIGHTS).contains(&m)) {
        return Err(ApiError::unprocessable("invalid_min_nights", "Las noches mínimas deben estar entre 1 y 60."));
    }
    Ok(RateRuleInput {
        unit_id: b.accommodation_id,
        name,
        start: b.start_date,
        end: b.end_date,
        scope,
        effect,
        min_nights: b.min_nights,
    })
}

pub async fn list_rules(State(s): State<AppState>, _admin: Admin) -> ApiResult<Json<Value>> {
    let rules = s.store.list_rate_rules().await?;
    Ok(Json(Value::Array(rules.iter().map(rule_json).collect())))
}

pub async fn create_rule(
    State(s): State<AppState>,
    admin: Admin,
    ApiJson(b): ApiJson<RuleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin.require_owner()?;
    let input = rule_input(&s, b).await?;
    let rule = s.store.create_rate_rule(&input, s.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))))
}

pub async fn update_rule(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RuleBody>,
) -> ApiResult<Json<Value>> {
    admin.require_owner()?;
    let input = rule_input(&s, b).await?;
    let rule = s.store.update_rate_rule(parse_id(&id)?, &input, s.clock.now()).await?;
    Ok(Json(rule_json(&rule)))
}

pub async fn delete_rule(State(s): State<AppState>, admin: Admin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    admin.require_owner()?;
    s.store.delete_rate_rule(parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct CalendarQuery {
    month: u32,
    year: i32,
    accommodation_id: Option<i64>,
}

/// The original's calendar: reservations touching the month, and the share of the month's
/// unit-nights that are confirmed.
pub async fn calendar(
    State(s): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Json<Value>> {
    let first = NaiveDate::from_ymd_opt(q.year, q.month, 1)
        .filter(|_| (2000..=2100).contains(&q.year))
        .ok_or_else(|| ApiError::unprocessable("invalid_query", "Mes o año inválido."))?;
    let next = if q.month == 12 {
        NaiveDate::from_ymd_opt(q.year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(q.year, q.month + 1, 1)
    }
    .ok_or_else(|| ApiError::unprocessable("invalid_query", "Mes o año inválido."))?;
    let days = (next - first).num_days();
    let filter = ReservationFilter {
        unit_id: q.accommodation_id,
        from: Some(first),
        to: Some(next),
        limit: 500,
        ..Default::default()
    };
    let (items, _) = s.store.list_reservations(&filter).await?;
    let items: Vec<_> = items.into_iter().filter(|r| r.status.is_active()).collect();
    let units = s.store.list_units(false).await?;
    let unit_count = if q.accommodation_id.is_some() { 1 } else { units.len().max(1) } as i64;
    let confirmed_nights: i64 = items
        .iter()
        .filter(|r| r.status == ReservationStatus::Confirmed)
        .map(|r| (r.stay.check_out.min(next) - r.stay.check_in.max(first)).num_days().max(0))
        .sum();
    let occupancy = (confirmed_nights as f64 * 1000.0 / (days * unit_count) as f64).round() / 10.0;
    Ok(Json(json!({
        "month": format!("{:04}-{:02}", first.year(), first.month()),
        "occupancy_rate": occupancy,
        "events": items.iter().map(|r| json!({
            "id": r.id,
            "code": r.code,
            "accommodation_id": r.unit_id,
            "guest_name": r.guest_name,
            "check_in": r.stay.check_in,
            "check_out": r.stay.check_out,
            "status": r.status.as_str(),
            "total_price": r.total.to_string(),
            "channel_source": r.channel.as_str(),
        })).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_plain_ascii() {
        assert_eq!(super::slugify("Cabaña Grande"), "cabana-grande");
        assert_eq!(super::slugify("  Arrayán (vista al lago) "), "arrayan-vista-al-lago");
    }
}
