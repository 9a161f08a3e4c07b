//! iCal routes: the live export per cabin and the owner's feed management.

use super::admin::parse_id;
use super::extract::ApiJson;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::ical_sync::{self, import::poll_job};
use crate::metrics as m;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{Feed, StoreError, Unit};

/// A wrong token or cabin is a plain 404: no hint which part was wrong.
fn no_such_calendar() -> ApiError {
    ApiError::not_found("No existe.")
}

async fn serve_export(s: &AppState, unit: Option<Unit>, token: &str, headers: &HeaderMap) -> ApiResult<Response> {
    let unit = unit.filter(|u| ical_sync::same_token(&u.ical_token, token)).ok_or_else(no_such_calendar)?;
    let today = s.clock.today_in(s.config.timezone);
    let rendered =
        s.export_cache.get(s.store.as_ref(), &unit, today, s.clock.now(), s.config.booking_horizon_days).await?;
    let etag = rendered.etag.clone();
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        metrics::counter!(m::ICAL_EXPORTS, "result" => "304").increment(1);
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        metrics::counter!(m::ICAL_EXPORTS, "result" => "200").increment(1);
        ([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], rendered.body.as_str().to_owned()).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn unit_or_none(found: Result<Unit, StoreError>) -> ApiResult<Option<Unit>> {
    match found {
        Ok(u) => Ok(Some(u)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The original's path: `/api/v1/ical/export/{accommodation_id}/{token}`.
pub async fn export_by_id(
    State(s): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Ok(id) = id.parse::<i64>() else { return Err(no_such_calendar()) };
    let unit = unit_or_none(s.store.get_unit(id).await)?;
    serve_export(&s, unit, token.trim_end_matches(".ics"), &headers).await
}

/// `/ical/{slug}/{token}.ics` (axum cannot route a `{token}.ics` suffix, so it is stripped here).
pub async fn export_by_slug(
    State(s): State<AppState>,
    Path((slug, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(token) = file.strip_suffix(".ics") else { return Err(no_such_calendar()) };
    let unit = unit_or_none(s.store.get_unit_by_slug(&slug).await)?;
    serve_export(&s, unit, token, &headers).await
}

pub fn export_urls(s: &AppState, unit: &Unit) -> Value {
    json!({
        "export_url": format!("{}/ical/{}/{}.ics", s.config.public_url, unit.slug, unit.ical_token),
        "export_url_by_id": format!("{}/api/v1/ical/export/{}/{}", s.config.public_url, unit.id, unit.ical_token),
    })
}

fn feed_json(s: &AppState, f: &Feed) -> Value {
    let now = s.clock.now();
    json!({
        "id": f.id,
        "accommodation_id": f.unit_id,
        "url": f.url,
        "source": f.source,
        "last_success_at": f.last_success_at.map(|t| t.to_rfc3339()),
        "last_attempt_at": f.last_attempt_at.map(|t| t.to_rfc3339()),
        "last_success_age_s": f.last_success_at.map(|t| (now - t).num_seconds()),
        "last_error": f.last_error,
        "consecutive_failures": f.consecutive_failures,
        "events": f.events_count,
        "status": if f.last_error.is_some() { "error" } else if f.last_success_at.is_some() { "ok" } else { "pending" },
    })
}

/// The export URL is a secret (whoever has it reads the calendar) and feeds are channel
/// settings: both are the owner's, like on the dashboard.
pub async fn unit_ical(State(s): State<AppState>, admin: Admin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    admin.require_owner()?;
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    let feeds = s.store.list_feeds(Some(unit.id)).await?;
    let mut v = export_urls(&s, &unit);
    v["feeds"] = Value::Array(feeds.iter().map(|f| feed_json(&s, f)).collect());
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedBody {
    url: String,
    #[serde(default)]
    source: Option<String>,
}

pub async fn add_feed(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<FeedBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    admin.require_owner()?;
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    let url = b.url.trim();
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !valid {
        return Err(ApiError::unprocessable(
            "invalid_url",
            "La dirección del calendario debe empezar con http:// o https://.",
        ));
    }
    let source = match b.source.as_deref().map(str::to_lowercase) {
        None => ical_sync::guess_source(url).to_string(),
        Some(src) if ical_sync::SOURCES.contains(&src.as_str()) => src,
        Some(other) => {
            return Err(ApiError::unprocessable(
                "invalid_source",
                format!("source debe ser airbnb, booking, vrbo u other, no {other:?}"),
            ));
        }
    };
    let now = s.clock.now();
    let feed = s.store.add_feed(unit.id, url, &source, now).await.map_err(|e| match e {
        StoreError::Duplicate(_) => ApiError::conflict("duplicate", "Esa cabaña ya importa ese calendario."),
        other => other.into(),
    })?;
    s.store.enqueue_job(&poll_job(feed.id, now), now).await?;
    tracing::info!(feed = feed.id, unit = unit.id, source = %feed.source, "feed added");
    Ok((StatusCode::CREATED, Json(feed_json(&s, &feed))))
}

pub async fn delete_feed(
    State(s): State<AppState>,
    admin: Admin,
    Path((id, feed_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    admin.require_owner()?;
    let feed = s.store.get_feed(parse_id(&feed_id)?).await?;
    if feed.unit_id != parse_id(&id)? {
        return Err(ApiError::not_found("No existe."));
    }
    s.store.delete_feed(feed.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_token(State(s): State<AppState>, admin: Admin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    admin.require_owner()?;
    let id = parse_id(&id)?;
    s.store.set_unit_ical_token(id, &super::admin::new_ical_token(), s.clock.now()).await?;
    let unit = s.store.get_unit(id).await?;
    Ok(Json(export_urls(&s, &unit)))
}

pub async fn sync_now(State(s): State<AppState>, admin: Admin) -> ApiResult<Json<Value>> {
    admin.require_owner()?;
    let reports = s.booking.importer().sync_all().await?;
    Ok(Json(json!({ "feeds": reports })))
}

pub async fn conflicts(State(s): State<AppState>, _admin: Admin) -> ApiResult<Json<Value>> {
    let list = s.store.list_conflicts(None).await?;
    Ok(Json(json!({ "items": list })))
}
