//! The export OTAs import: our active stays of one cabin as RFC 5545, no guest data.
//!
//! OTAs poll often and the calendar rarely changes, so the rendered feed is cached per cabin
//! under a version computed from the rows (count, newest change, next hold expiry, the day):
//! an unchanged calendar is answered — 200 or 304 — without rendering it again.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::ReservationStatus;
use ical::{ExportCalendar, ExportEvent};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::{StayRow, Store, StoreResult, Unit};

/// How far back and ahead the export reaches: at least three years ahead, and always past the
/// booking horizon, so nothing we accept is invisible to the OTAs.
const PAST_DAYS: i64 = 90;
const FUTURE_DAYS: i64 = 3 * 366;

fn future_days(horizon_days: u32) -> i64 {
    FUTURE_DAYS.max(horizon_days as i64 + 1)
}

/// A rendered feed and its ETag.
#[derive(Clone)]
pub struct Rendered {
    pub body: Arc<String>,
    pub etag: String,
}

#[derive(Default)]
pub struct ExportCache {
    by_unit: Mutex<HashMap<i64, (String, Rendered)>>,
}

fn version(unit: &Unit, stays: &[StayRow], today: NaiveDate, now: DateTime<Utc>) -> String {
    let live: Vec<&StayRow> = stays.iter().filter(|s| s.occupies_at(now)).collect();
    let newest = live.iter().map(|s| s.updated_at).max();
    // A hold leaves the feed when its time is up, without any row changing.
    let next_expiry =
        live.iter().filter(|s| s.status == ReservationStatus::PreReserved).filter_map(|s| s.hold_expires_at).min();
    format!(
        "{}|{}|{}|{:?}|{:?}|{}",
        unit.updated_at.timestamp_micros(),
        unit.name,
        live.len(),
        newest,
        next_expiry,
        today
    )
}

fn render(unit: &Unit, stays: &[StayRow], now: DateTime<Utc>) -> String {
    let events: Vec<ExportEvent> = stays
        .iter()
        .filter(|s| s.occupies_at(now))
        .map(|s| ExportEvent {
            uid: format!("{}@posada", s.code),
            check_in: s.stay.check_in,
            check_out: s.stay.check_out,
            summary: if s.status == ReservationStatus::Blocked { "No disponible" } else { "Reservado" }.to_string(),
            source: "posada".into(),
            created: Some(s.created_at),
            last_modified: Some(s.updated_at),
        })
        .collect();
    // DTSTAMP is the newest change, so the body — and its ETag — only change with the calendar.
    let stamp = stays.iter().map(|s| s.updated_at).chain([unit.updated_at]).max().unwrap_or(unit.updated_at);
    ical::write_calendar(&ExportCalendar { name: &unit.name, events: &events }, stamp)
}

async fn stays(store: &dyn Store, unit: &Unit, today: NaiveDate, horizon_days: u32) -> StoreResult<Vec<StayRow>> {
    let to = today + Duration::days(future_days(horizon_days));
    store.active_stays(Some(unit.id), today - Duration::days(PAST_DAYS), to).await
}

/// The feed body (for the CLI).
pub async fn export_calendar(
    store: &dyn Store,
    unit: &Unit,
    today: NaiveDate,
    now: DateTime<Utc>,
    horizon_days: u32,
) -> StoreResult<String> {
    Ok(render(unit, &stays(store, unit, today, horizon_days).await?, now))
}

impl ExportCache {
    /// The cabin's feed, rendered only when its version changed.
    pub async fn get(
        &self,
        store: &dyn Store,
        unit: &Unit,
        today: NaiveDate,
        now: DateTime<Utc>,
        horizon_days: u32,
    ) -> StoreResult<Rendered> {
        use sha2::Digest;
        let rows = stays(store, unit, today, horizon_days).await?;
        let v = version(unit, &rows, today, now);
        if let Some((cached_v, r)) = self.by_unit.lock().unwrap_or_else(|p| p.into_inner()).get(&unit.id)
            && *cached_v == v
        {
            return Ok(r.clone());
        }
        let body = render(unit, &rows, now);
        let etag = format!("\"{}\"", &format!("{:x}", sha2::Sha256::digest(body.as_bytes()))[..32]);
        let rendered = Rendered { body: Arc::new(body), etag };
        self.by_unit.lock().unwrap_or_else(|p| p.into_inner()).insert(unit.id, (v, rendered.clone()));
        Ok(rendered)
    }
}
