//! The export OTAs import: our active stays of one cabin as RFC 5545, no guest data.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::ReservationStatus;
use ical::{ExportCalendar, ExportEvent};
use store::{Store, StoreResult, Unit};

/// How far back and ahead the export reaches.
const PAST_DAYS: i64 = 90;
const FUTURE_DAYS: i64 = 3 * 366;

/// The feed body. Deterministic for the same data (DTSTAMP is the newest change), so its hash
/// is a stable ETag.
pub async fn export_calendar(
    store: &dyn Store,
    unit: &Unit,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> StoreResult<String> {
    let stays = store
        .active_stays(Some(unit.id), today - Duration::days(PAST_DAYS), today + Duration::days(FUTURE_DAYS))
        .await?;
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
    let stamp = stays.iter().map(|s| s.updated_at).chain([unit.updated_at]).max().unwrap_or(unit.updated_at);
    Ok(ical::write_calendar(&ExportCalendar { name: &unit.name, events: &events }, stamp))
}
