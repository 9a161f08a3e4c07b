//! Property tests: the reader never panics; the writer always emits valid,
//! folded lines; write → parse gives the events back.

use chrono::{Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use ical::{ExportCalendar, ExportEvent, MAX_LINE_OCTETS, parse_calendar, parse_feed, write_calendar};
use proptest::prelude::*;

const ZONES: [Tz; 5] = [
    chrono_tz::America::Argentina::Buenos_Aires,
    chrono_tz::UTC,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::Pacific::Pago_Pago,
    chrono_tz::Europe::Madrid,
];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn feeds() -> Vec<String> {
    ["airbnb.ics", "booking.ics", "vrbo.ics", "quirks.ics", "booking_echo.ics", "export_snapshot.ics"]
        .iter()
        .map(|f| fixture(f))
        .collect()
}

/// Invariants of any successful parse.
fn check_ok(body: &str, tz: Tz) {
    if let Ok(cal) = parse_calendar(body, tz) {
        let mut uids = std::collections::HashSet::new();
        for e in &cal.events {
            assert!(e.check_out > e.check_in, "{e:?}");
            assert!(uids.insert(e.uid.clone()), "duplicate uid {}", e.uid);
        }
        assert!(cal.events.windows(2).all(|w| (w[0].check_in, w[0].check_out) <= (w[1].check_in, w[1].check_out)));
    }
}

/// Lines that steer random input into the interesting parts of the parser.
fn ical_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("BEGIN:VCALENDAR".to_owned()),
        Just("END:VCALENDAR".to_owned()),
        Just("BEGIN:VEVENT".to_owned()),
        Just("END:VEVENT".to_owned()),
        Just("BEGIN:VALARM".to_owned()),
        Just("END:VALARM".to_owned()),
        Just("STATUS:CANCELLED".to_owned()),
        Just("TRANSP:TRANSPARENT".to_owned()),
        "(DTSTART|DTEND|dtstart)(;VALUE=DATE|;TZID=[A-Za-z/_\"]{0,30}|;X=\"[:;]\")?:[0-9TZ:-]{0,20}",
        "DURATION:[-+]?P[0-9WDTHMS]{0,12}",
        "(UID|SUMMARY|DESCRIPTION|URL|PRODID):[^\r\n]{0,80}",
        " [^\r\n]{0,20}",
        "[^\r\n]{0,40}",
    ]
}

fn line_end() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\r\n"), Just("\n"), Just("\r"), Just("\r\n "), Just("\n\t")]
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Replace(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b':'),
        Just(b';'),
        Just(b'"'),
        Just(b'\r'),
        Just(b'\n'),
        Just(b' '),
        Just(b'\t'),
        Just(b'\\'),
        Just(b'T'),
        Just(b'Z'),
        Just(b'0'),
        Just(b'9'),
        Just(0xC3u8),
        Just(0xA9u8),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), proptest::collection::vec(interesting.clone(), 1..6))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), interesting).prop_map(|(p, b)| Mutation::Replace(p, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..200usize).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match m {
        Mutation::Delete(p, n) => {
            let p = p % len;
            let end = (p + n).min(len);
            bytes.drain(p..end);
        }
        Mutation::Insert(p, b) => {
            let p = p % (len + 1);
            bytes.splice(p..p, b.iter().copied());
        }
        Mutation::Replace(p, b) => bytes[p % len] = *b,
        Mutation::Truncate(p) => bytes.truncate(p % len),
        Mutation::Duplicate(p, n) => {
            let p = p % len;
            let chunk: Vec<u8> = bytes[p..(p + n).min(len)].to_vec();
            bytes.splice(p..p, chunk);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn reader_never_panics_on_arbitrary_text(body in any::<String>(), z in 0..ZONES.len()) {
        check_ok(&body, ZONES[z]);
        let wrapped = format!("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
        check_ok(&wrapped, ZONES[z]);
    }

    #[test]
    fn reader_never_panics_on_ical_like_lines(
        lines in proptest::collection::vec((ical_line(), line_end()), 0..60),
        z in 0..ZONES.len(),
    ) {
        let mut body = String::from("BEGIN:VCALENDAR\r\n");
        for (l, e) in &lines {
            body.push_str(l);
            body.push_str(e);
        }
        check_ok(&body, ZONES[z]);
    }

    #[test]
    fn reader_never_panics_on_mutated_real_feeds(
        which in 0..6usize,
        muts in proptest::collection::vec(mutation(), 1..8),
        z in 0..ZONES.len(),
    ) {
        let mut bytes = feeds()[which].clone().into_bytes();
        for m in &muts {
            apply(&mut bytes, m);
        }
        let body = String::from_utf8_lossy(&bytes);
        check_ok(&body, ZONES[z]);
    }
}

fn date() -> impl Strategy<Value = NaiveDate> {
    // 1900-01-01 .. ~2199
    (0u64..109_000).prop_map(|n| NaiveDate::from_ymd_opt(1900, 1, 1).unwrap().checked_add_days(Days::new(n)).unwrap())
}

fn export_event() -> impl Strategy<Value = ExportEvent> {
    (
        "[A-Za-z0-9@._-]{1,60}",
        date(),
        1u64..600,
        any::<String>(),
        "\\PC{0,30}",
        proptest::option::of(0i64..4_000_000_000),
        proptest::option::of(0i64..4_000_000_000),
    )
        .prop_map(|(uid, check_in, nights, summary, source, created, modified)| ExportEvent {
            uid,
            check_in,
            check_out: check_in.checked_add_days(Days::new(nights)).unwrap(),
            summary,
            source,
            created: created.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
            last_modified: modified.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
        })
}

/// What the writer keeps of a TEXT value: line breaks become `\n`, other
/// control characters (except TAB) are dropped.
fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn writer_lines_are_crlf_folded_at_75_octets_and_valid_utf8(
        name in any::<String>(),
        events in proptest::collection::vec(export_event(), 0..8),
        stamp in 0i64..4_000_000_000,
    ) {
        let out = write_calendar(&ExportCalendar { name: &name, events: &events }, Utc.timestamp_opt(stamp, 0).unwrap());
        prop_assert!(out.ends_with("\r\n"));
        for line in out.as_bytes().split(|&b| b == b'\n') {
            if line.is_empty() {
                continue; // after the final CRLF
            }
            prop_assert_eq!(line.last(), Some(&b'\r'), "every line ends in CRLF");
            let content = &line[..line.len() - 1];
            prop_assert!(!content.contains(&b'\r'), "no bare CR");
            prop_assert!(content.len() <= MAX_LINE_OCTETS, "{} octets", content.len());
            prop_assert!(std::str::from_utf8(content).is_ok(), "a fold split a character: {:?}", content);
        }
    }

    #[test]
    fn write_then_parse_gives_the_events_back(
        name in any::<String>(),
        mut events in proptest::collection::vec(export_event(), 0..8),
        z in 0..ZONES.len(),
    ) {
        // UIDs are unique per reservation.
        for (i, e) in events.iter_mut().enumerate() {
            e.uid = format!("{}-{i}", e.uid);
        }
        let out = write_calendar(&ExportCalendar { name: &name, events: &events }, Utc.timestamp_opt(0, 0).unwrap());
        let cal = parse_calendar(&out, ZONES[z]).unwrap();
        let want_name = normalise(&name);
        prop_assert_eq!(cal.name.as_deref(), Some(want_name.as_str()));
        let mut want = events.clone();
        want.sort_by(|a, b| (a.check_in, a.check_out, &a.uid).cmp(&(b.check_in, b.check_out, &b.uid)));
        prop_assert_eq!(cal.events.len(), want.len());
        for (got, want) in cal.events.iter().zip(&want) {
            prop_assert_eq!(&got.uid, &want.uid);
            prop_assert_eq!(got.check_in, want.check_in);
            prop_assert_eq!(got.check_out, want.check_out);
            prop_assert_eq!(&got.summary, &normalise(&want.summary));
        }
        prop_assert!(cal.skipped.is_empty());
        prop_assert_eq!(parse_feed(&out, ZONES[z]).unwrap(), cal.events);
    }
}
