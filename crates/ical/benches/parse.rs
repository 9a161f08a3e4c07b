//! Parsing a ~1 MB Airbnb-shaped feed, and exporting 500 events.
//!
//! `CARGO_TARGET_DIR=/work/target-ical cargo bench -p ical --bench parse`

use std::hint::black_box;

use chrono::{Days, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ical::{ExportCalendar, ExportEvent, parse_feed, write_calendar};

/// An Airbnb-like feed of at least `min_bytes`: reservations with a folded
/// DESCRIPTION, "Not available" blocks, a few timed events in UTC and TZID.
fn big_feed(min_bytes: usize) -> (String, usize) {
    let mut s = String::from(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n",
    );
    let base = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let mut i = 0u64;
    while s.len() < min_bytes {
        let start = base.checked_add_days(Days::new(i * 3)).unwrap().format("%Y%m%d");
        let end = base.checked_add_days(Days::new(i * 3 + 2)).unwrap().format("%Y%m%d");
        s.push_str("BEGIN:VEVENT\r\nDTSTAMP:20251023T012751Z\r\n");
        match i % 4 {
            0 | 1 => {
                s.push_str(&format!(
                    "DTSTART;VALUE=DATE:{start}\r\nDTEND;VALUE=DATE:{end}\r\nSUMMARY:Reserved\r\n\
                     UID:1418fb94e984-{i:032x}@airbnb.com\r\n\
                     DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/de\r\n \
                     tails/HM{i:08}\\nPhone Number (Last 4 Digits): {:04}\r\n",
                    i % 10_000
                ));
            }
            2 => s.push_str(&format!(
                "DTSTART;VALUE=DATE:{start}\r\nDTEND;VALUE=DATE:{end}\r\nSUMMARY:Airbnb (Not available)\r\n\
                 UID:7f662ec65913-{i:032x}@airbnb.com\r\n"
            )),
            _ => s.push_str(&format!(
                "DTSTART;TZID=America/Argentina/Buenos_Aires:{start}T140000\r\nDTEND:{end}T130000Z\r\n\
                 SUMMARY:Owner stay\\, family\r\nUID:owner-{i}@example.com\r\n"
            )),
        }
        s.push_str("END:VEVENT\r\n");
        i += 1;
    }
    s.push_str("END:VCALENDAR\r\n");
    (s, i as usize)
}

fn export_events(n: u64) -> Vec<ExportEvent> {
    let base = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    (0..n)
        .map(|i| ExportEvent {
            uid: format!("R{i:05}@posada"),
            check_in: base.checked_add_days(Days::new(i * 3)).unwrap(),
            check_out: base.checked_add_days(Days::new(i * 3 + 2)).unwrap(),
            summary: if i % 5 == 0 { "Bloqueado" } else { "Reservado" }.into(),
            source: "whatsapp".into(),
            created: Some(Utc.with_ymd_and_hms(2025, 12, 1, 10, 0, 0).unwrap()),
            last_modified: Some(Utc.with_ymd_and_hms(2025, 12, 2, 10, 0, 0).unwrap()),
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let tz = chrono_tz::America::Argentina::Buenos_Aires;
    let (feed, n) = big_feed(1 << 20);
    assert_eq!(parse_feed(&feed, tz).unwrap().len(), n);
    let mut g = c.benchmark_group("ical");
    g.throughput(Throughput::Bytes(feed.len() as u64));
    g.bench_function(format!("parse_feed 1 MiB ({n} events)"), |b| {
        b.iter(|| parse_feed(black_box(&feed), tz).unwrap())
    });

    let events = export_events(500);
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 12, 0, 0).unwrap();
    let cal = ExportCalendar { name: "Cabaña Los Álamos", events: &events };
    let out_len = write_calendar(&cal, now).len();
    g.throughput(Throughput::Bytes(out_len as u64));
    g.bench_function("write_calendar 500 events", |b| b.iter(|| write_calendar(black_box(&cal), now)));
    g.finish();
}

criterion_group!(ical_benches, benches);
criterion_main!(ical_benches);
