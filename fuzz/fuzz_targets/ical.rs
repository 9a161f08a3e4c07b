//! Fuzz the OTA feed reader (`ical::parse_calendar`) with any body in any zone: never a panic,
//! the documented shape of the result (every event at least one night, sorted, UIDs unique,
//! `parse_feed` agrees), and our own writer's export of those events reads back the same.
#![no_main]

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use ical::{ExportCalendar, ExportEvent, parse_calendar, parse_feed, write_calendar};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

const ZONES: [Tz; 4] = [
    chrono_tz::America::Argentina::Buenos_Aires,
    chrono_tz::UTC,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::America::Los_Angeles,
];

/// What the writer keeps of a TEXT value: line breaks become `\n`, other control characters
/// (except TAB) are dropped.
fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&z, rest)) = data.split_first() else { return };
    let tz = ZONES[usize::from(z) % ZONES.len()];
    let body = String::from_utf8_lossy(rest);
    let Ok(cal) = parse_calendar(&body, tz) else {
        assert!(parse_feed(&body, tz).is_err());
        return;
    };
    let mut uids = HashSet::new();
    for e in &cal.events {
        assert!(e.check_out > e.check_in, "an event ends before it starts: {e:?}");
        assert!(uids.insert(e.uid.as_str()), "UID twice: {}", e.uid);
    }
    assert!(
        cal.events
            .windows(2)
            .all(|w| (w[0].check_in, w[0].check_out, &w[0].uid) <= (w[1].check_in, w[1].check_out, &w[1].uid))
    );
    assert_eq!(parse_feed(&body, tz).as_ref(), Ok(&cal.events));

    // Our export of these stays (UIDs are unique per reservation) reads back the same. The
    // writer has four-digit years: only events it can write are compared.
    let events: Vec<ExportEvent> = cal
        .events
        .iter()
        .filter(|e| (1..=9998).contains(&chrono::Datelike::year(&e.check_out)))
        .enumerate()
        .map(|(i, e)| ExportEvent {
            // Zero-padded: the writer sorts equal stays by UID, as text.
            uid: format!("{i:06}@fuzz"),
            check_in: e.check_in,
            check_out: e.check_out,
            summary: e.summary.clone(),
            source: "fuzz".into(),
            created: None,
            last_modified: None,
        })
        .collect();
    let name = cal.name.clone().unwrap_or_default();
    let out = write_calendar(&ExportCalendar { name: &name, events: &events }, Utc.timestamp_opt(0, 0).unwrap());
    let back = parse_calendar(&out, tz).expect("our own export must read back");
    assert_eq!(back.name.as_deref(), Some(normalise(&name).as_str()));
    assert_eq!(back.events.len(), events.len());
    for (got, want) in back.events.iter().zip(&events) {
        assert_eq!((got.check_in, got.check_out), (want.check_in, want.check_out));
        assert_eq!(got.uid, want.uid);
        assert_eq!(got.summary, normalise(&want.summary));
    }
});
