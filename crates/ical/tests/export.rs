//! Our export: snapshot, RFC 5545 shape, round trip through our reader.

mod common;

use common::*;
use ical::{
    EventKind, ExportCalendar, ExportEvent, MAX_LINE_OCTETS, PRODID, parse_calendar, parse_feed, write_calendar,
};

const BA: chrono_tz::Tz = chrono_tz::America::Argentina::Buenos_Aires;

/// Compares `actual` with the committed file; `UPDATE_SNAPSHOTS=1` rewrites it.
fn assert_snapshot(name: &str, actual: &str) {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        eprintln!("updated snapshot {path}");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)"));
    if expected != actual {
        panic!(
            "snapshot {name} differs (run with UPDATE_SNAPSHOTS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

#[test]
fn export_snapshot() {
    assert_snapshot("export_snapshot.ics", &write_snapshot());
}

#[test]
fn empty_export_snapshot() {
    let out = write_calendar(&ExportCalendar { name: "Cabaña 2", events: &[] }, dtstamp());
    assert_snapshot("export_empty.ics", &out);
    // An export with no stays is still a valid, empty calendar for our reader.
    assert_eq!(parse_feed(&out, BA), Ok(vec![]));
}

#[test]
fn export_is_rfc5545_shaped() {
    let out = write_snapshot();
    assert!(out.ends_with("END:VCALENDAR\r\n"));
    assert!(!out.replace("\r\n", "").contains('\n'), "bare LF");
    assert!(!out.replace("\r\n", "").contains('\r'), "bare CR");
    for line in out.split_terminator("\r\n") {
        assert!(line.len() <= MAX_LINE_OCTETS, "{} octets: {line:?}", line.len());
    }
    let lines = ical::unfold(&out);
    let head: Vec<&str> = lines.iter().take(6).map(String::as_str).collect();
    assert_eq!(
        head,
        [
            "BEGIN:VCALENDAR",
            &format!("PRODID:{PRODID}"),
            "VERSION:2.0",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Cabaña Los Álamos — vista al lago\\, parrilla\\; hasta 6 personas \\\\ Villa La Angostura",
        ]
    );
    // The long name was folded, and folding kept every character whole.
    assert!(out.contains("\r\n "));
    // Each VEVENT has the required properties exactly once.
    let events: Vec<&str> = out.split("BEGIN:VEVENT\r\n").skip(1).collect();
    assert_eq!(events.len(), 3);
    for ev in events {
        let ev = &ev[..ev.find("END:VEVENT").unwrap()];
        for prop in
            ["UID:", "DTSTAMP:20260201T123000Z", "DTSTART;VALUE=DATE:", "DTEND;VALUE=DATE:", "SUMMARY:", "X-SOURCE:"]
        {
            assert_eq!(
                ev.matches(&format!("\r\n{prop}")).count() + usize::from(ev.starts_with(prop)),
                1,
                "{prop} in {ev}"
            );
        }
        assert!(!ev.contains("DTSTART:") && !ev.contains("DTEND:"), "dates must carry VALUE=DATE");
    }
    // Sorted by check-in, whatever the input order.
    let starts: Vec<usize> = ["20260110", "20260214", "20260301"]
        .iter()
        .map(|d| out.find(&format!("DTSTART;VALUE=DATE:{d}")).unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]));
    assert!(out.contains("CREATED:20251202T184500Z\r\nLAST-MODIFIED:20251203T100500Z\r\n"));
}

#[test]
fn export_is_deterministic_whatever_the_input_order() {
    let mut events = snapshot_events();
    let a = write_calendar(&ExportCalendar { name: UNIT_NAME, events: &events }, dtstamp());
    events.reverse();
    let b = write_calendar(&ExportCalendar { name: UNIT_NAME, events: &events }, dtstamp());
    events.swap(0, 1);
    let c = write_calendar(&ExportCalendar { name: UNIT_NAME, events: &events }, dtstamp());
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn round_trip_through_our_reader() {
    let out = write_snapshot();
    let cal = parse_calendar(&out, BA).unwrap();
    assert_eq!(cal.name.as_deref(), Some(UNIT_NAME));
    assert_eq!(cal.prodid.as_deref(), Some(PRODID));
    let mut want = snapshot_events();
    want.sort_by_key(|e| e.check_in);
    assert_eq!(cal.events.len(), want.len());
    for (got, want) in cal.events.iter().zip(&want) {
        assert_eq!(got.uid, want.uid);
        assert_eq!((got.check_in, got.check_out), (want.check_in, want.check_out));
        assert_eq!(got.summary, want.summary);
        let kind = if want.summary == "Reservado" { EventKind::Booking } else { EventKind::Block };
        assert_eq!(got.kind, kind);
    }
}

#[test]
fn booking_echo_lies_exactly_on_our_exported_stays() {
    let ours = snapshot_events();
    let echo =
        std::fs::read_to_string(format!("{}/tests/fixtures/booking_echo.ics", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for ev in parse_feed(&echo, BA).unwrap() {
        assert!(
            ours.iter().any(|o| o.check_in <= ev.check_in && ev.check_out <= o.check_out),
            "{ev:?} is not inside one of our stays"
        );
    }
}

#[test]
fn bad_ranges_are_written_as_one_night() {
    let ev = ExportEvent {
        uid: "X@posada".into(),
        check_in: d("2026-05-10"),
        check_out: d("2026-05-10"),
        summary: "Reservado".into(),
        source: "web".into(),
        created: None,
        last_modified: None,
    };
    let out = write_calendar(&ExportCalendar { name: "x", events: &[ev] }, dtstamp());
    assert!(out.contains("DTSTART;VALUE=DATE:20260510\r\nDTEND;VALUE=DATE:20260511\r\n"));
}

#[test]
fn text_is_escaped_and_control_characters_dropped() {
    let ev = ExportEvent {
        uid: "a,b;c\\d@posada".into(),
        check_in: d("2026-05-10"),
        check_out: d("2026-05-12"),
        summary: "Línea 1\r\nLínea 2\u{7}".into(),
        source: "owner_block".into(),
        created: None,
        last_modified: None,
    };
    let out = write_calendar(&ExportCalendar { name: "x", events: std::slice::from_ref(&ev) }, dtstamp());
    assert!(out.contains("UID:a\\,b\\;c\\\\d@posada\r\n"), "{out}");
    assert!(out.contains("SUMMARY:Línea 1\\nLínea 2\r\n"), "{out}");
    let back = &parse_feed(&out, BA).unwrap()[0];
    assert_eq!(back.uid, ev.uid);
    assert_eq!(back.summary, "Línea 1\nLínea 2");
}
