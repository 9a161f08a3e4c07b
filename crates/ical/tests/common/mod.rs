//! Shared test data: the events of our export snapshot.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use ical::{ExportCalendar, ExportEvent};

pub fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn t(y: i32, m: u32, day: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap()
}

/// The "now" of the snapshot.
pub fn dtstamp() -> DateTime<Utc> {
    t(2026, 2, 1, 12, 30)
}

pub const UNIT_NAME: &str = "Cabaña Los Álamos — vista al lago, parrilla; hasta 6 personas \\ Villa La Angostura";

/// A confirmed stay, a hold and an owner block — given out of order on purpose.
pub fn snapshot_events() -> Vec<ExportEvent> {
    vec![
        ExportEvent {
            uid: "B9X4M2@posada".into(),
            check_in: d("2026-03-01"),
            check_out: d("2026-03-02"),
            summary: "Bloqueado".into(),
            source: "owner_block".into(),
            created: Some(t(2026, 1, 20, 9, 0)),
            last_modified: None,
        },
        ExportEvent {
            uid: "R7K2Q9@posada".into(),
            check_in: d("2026-01-10"),
            check_out: d("2026-01-14"),
            summary: "Reservado".into(),
            source: "whatsapp".into(),
            created: Some(t(2025, 12, 2, 18, 45)),
            last_modified: Some(t(2025, 12, 3, 10, 5)),
        },
        ExportEvent {
            uid: "H3PZ8W@posada".into(),
            check_in: d("2026-02-14"),
            check_out: d("2026-02-17"),
            summary: "Reservado".into(),
            source: "web".into(),
            created: None,
            last_modified: None,
        },
    ]
}

pub fn write_snapshot() -> String {
    let events = snapshot_events();
    ical::write_calendar(&ExportCalendar { name: UNIT_NAME, events: &events }, dtstamp())
}
