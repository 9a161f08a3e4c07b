//! Real-shaped feeds from the fixtures directory.

use chrono::NaiveDate;
use chrono_tz::Tz;
use ical::{EventKind, FeedEvent, ParseError, SkipReason, Source, parse_calendar, parse_feed};

const BA: Tz = chrono_tz::America::Argentina::Buenos_Aires;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn span(e: &FeedEvent) -> (String, String) {
    (e.check_in.to_string(), e.check_out.to_string())
}

fn find<'a>(events: &'a [FeedEvent], uid: &str) -> &'a FeedEvent {
    events.iter().find(|e| e.uid == uid).unwrap_or_else(|| panic!("no event {uid} in {events:#?}"))
}

#[test]
fn airbnb_real_sample() {
    let body = fixture("airbnb.ics");
    assert!(body.contains("\r\n"), "the fixture keeps CRLF line ends");
    let cal = parse_calendar(&body, BA).unwrap();
    assert_eq!(cal.source, Source::Airbnb);
    assert_eq!(cal.events.len(), 2);

    let reserved = &cal.events[0];
    assert_eq!(reserved.uid, "1418fb94e984-90cc2a3bcdbdba6de239f64ae4ea2fe7@airbnb.com");
    assert_eq!((reserved.check_in, reserved.check_out), (d("2025-10-19"), d("2025-10-22")));
    assert_eq!(reserved.kind, EventKind::Booking);
    assert_eq!(reserved.summary, "Reserved");
    // The code sits behind a fold in the middle of the URL.
    assert_eq!(reserved.reference.as_deref(), Some("HMCH8MD3BQ"));
    assert_eq!(
        reserved.description.as_deref(),
        Some(
            "Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMCH8MD3BQ\n\
             Phone Number (Last 4 Digits): 0000"
        )
    );

    let block = &cal.events[1];
    assert_eq!((block.check_in, block.check_out), (d("2025-10-25"), d("2025-10-28")));
    assert_eq!(block.kind, EventKind::Block);
    assert_eq!(block.summary, "Airbnb (Not available)");
    assert_eq!(block.reference, None);
}

#[test]
fn airbnb_with_lf_cr_and_tab_folds_reads_the_same() {
    let crlf = fixture("airbnb.ics");
    let want = parse_feed(&crlf, BA).unwrap();
    let lf = crlf.replace("\r\n", "\n");
    let cr = crlf.replace("\r\n", "\r");
    let tab = crlf.replace("\r\n tails", "\r\n\ttails");
    let bom = format!("\u{feff}{crlf}");
    let no_final_newline = crlf.trim_end().to_owned();
    for body in [lf, cr, tab, bom, no_final_newline] {
        assert_eq!(parse_feed(&body, BA).unwrap(), want);
    }
}

#[test]
fn booking_real_sample_broken_prodid_method_publish_and_16_month_closure() {
    let cal = parse_calendar(&fixture("booking.ics"), BA).unwrap();
    assert_eq!(cal.source, Source::Booking);
    assert_eq!(cal.prodid.as_deref(), Some(r"-//admin.booking.com\\\, b.v.//NONSGML v1.0//EN"));
    let spans: Vec<_> = cal.events.iter().map(span).collect();
    assert_eq!(spans, [("2025-11-22".into(), "2025-11-23".into()), ("2026-01-02".into(), "2027-05-18".into())]);
    assert!(cal.events.iter().all(|e| e.kind == EventKind::Block));
    assert!(cal.events.iter().all(|e| e.summary == "CLOSED - Not available"));
    let long = &cal.events[1];
    assert_eq!((long.check_out - long.check_in).num_days(), 501);
    assert_eq!(long.uid, "0b8da746ee83c531e8f78c1836014996@booking.com");
}

#[test]
fn vrbo_like_feed() {
    let cal = parse_calendar(&fixture("vrbo.ics"), BA).unwrap();
    assert_eq!(cal.source, Source::Vrbo);
    let ev = &cal.events;
    assert_eq!(ev.len(), 4);
    // Sorted by date although the feed lists them out of order.
    assert!(ev.windows(2).all(|w| w[0].check_in <= w[1].check_in));

    let ana = find(ev, "6f49cda7-479e-454b-a6a3-39fa7feee5ed");
    assert_eq!(span(ana), ("2026-01-10".into(), "2026-01-14".into()));
    assert_eq!(ana.kind, EventKind::Booking);
    assert_eq!(ana.summary, "Reserved - Ana Gómez");
    assert_eq!(ana.reference, None);

    let dur = find(ev, "0d1c9a44-5a1e-4c27-9d0e-8b2b7f0f6c11");
    assert_eq!(span(dur), ("2026-02-03".into(), "2026-02-07".into()), "DURATION:P4D");
    assert_eq!(dur.kind, EventKind::Booking);

    let blocked = find(ev, "d585fe79-8607-4b73-a4ab-47c6d4188aee");
    assert_eq!(blocked.kind, EventKind::Block);
    assert_eq!(span(blocked), ("2026-02-20".into(), "2026-03-01".into()));

    // Tentative inquiries still hold the nights.
    let tentative = find(ev, "7a2e3c55-11aa-4f0e-b0c2-3c4d5e6f7081");
    assert_eq!(tentative.kind, EventKind::Booking);
}

#[test]
fn booking_echo_of_our_export_is_all_blocks_on_our_dates() {
    let events = parse_feed(&fixture("booking_echo.ics"), BA).unwrap();
    let spans: Vec<_> = events.iter().map(span).collect();
    assert_eq!(
        spans,
        [
            ("2026-01-10".into(), "2026-01-14".into()),
            ("2026-02-14".into(), "2026-02-17".into()),
            ("2026-03-01".into(), "2026-03-02".into())
        ]
    );
    assert!(events.iter().all(|e| e.kind == EventKind::Block && e.uid.ends_with("@booking.com")));
}

#[test]
fn html_error_page_is_an_error_not_an_empty_calendar() {
    let err = parse_feed(&fixture("html_error.html"), BA).unwrap_err();
    assert!(matches!(&err, ParseError::NotICalendar(s) if s.starts_with("<!DOCTYPE html>")), "{err:?}");
    assert!(err.to_string().contains("not an iCalendar"));
    for body in ["{\"error\":\"rate limited\"}", "OK", "\u{feff}<html>", "PRODID:x\nBEGIN:VCALENDAR\nEND:VCALENDAR"] {
        assert!(matches!(parse_feed(body, BA), Err(ParseError::NotICalendar(_))), "{body:?}");
    }
}

#[test]
fn empty_bodies_are_errors() {
    assert_eq!(parse_feed(&fixture("empty.ics"), BA), Err(ParseError::Empty));
    for body in ["", "   ", "\r\n\r\n", "\u{feff}", "\u{feff}\n \t\n"] {
        assert_eq!(parse_feed(body, BA), Err(ParseError::Empty), "{body:?}");
    }
}

#[test]
fn truncated_download_is_an_error() {
    assert_eq!(parse_feed(&fixture("truncated.ics"), BA), Err(ParseError::Truncated("VEVENT")));
    let airbnb = fixture("airbnb.ics");
    let cut = airbnb.trim_end().trim_end_matches("END:VCALENDAR");
    assert_eq!(parse_feed(cut, BA), Err(ParseError::Truncated("VCALENDAR")));
}

#[test]
fn a_calendar_without_events_is_ok_and_empty() {
    let body = "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    assert_eq!(parse_feed(body, BA), Ok(vec![]));
}

#[test]
fn quirks_feed() {
    let cal = parse_calendar(&fixture("quirks.ics"), BA).unwrap();
    assert_eq!(cal.source, Source::Other);
    assert_eq!(cal.name.as_deref(), Some("Caba, ña"));
    let ev = &cal.events;
    let s = |uid: &str| span(find(ev, uid));
    let p = |a: &str, b: &str| (a.to_owned(), b.to_owned());

    // DATE-TIME in UTC: 02:00Z is 23:00 the evening before in Buenos Aires.
    assert_eq!(s("utc-1"), p("2026-01-31", "2026-02-03"));
    assert_eq!(find(ev, "utc-1").kind, EventKind::Booking);
    // TZID (also quoted), converted to the property's zone.
    assert_eq!(s("zoned-1"), p("2026-02-28", "2026-03-02"));
    assert_eq!(find(ev, "zoned-1").kind, EventKind::Block);
    // Floating times are local already.
    assert_eq!(s("floating-1"), p("2026-03-10", "2026-03-12"));
    // A timed event within one day still takes that night.
    assert_eq!(s("sameday-1"), p("2026-03-20", "2026-03-21"));
    // A TZID with a vendor prefix; an unknown TZID counts as local.
    assert_eq!(s("mozilla-tzid"), p("2026-03-25", "2026-03-27"));
    assert_eq!(s("unknown-tzid"), p("2026-03-28", "2026-03-29"));
    // Lower-case names, DATE without DTEND = one night.
    assert_eq!(s("lower-1"), p("2026-04-01", "2026-04-02"));
    assert_eq!(find(ev, "lower-1").summary, "owner block");
    assert_eq!(find(ev, "lower-1").kind, EventKind::Block);
    // DURATION instead of DTEND.
    assert_eq!(s("duration-1"), p("2026-04-05", "2026-04-08"));
    assert_eq!(find(ev, "duration-1").kind, EventKind::Booking);
    // Escapes, a tab fold inside a URL, an alarm whose DESCRIPTION must not leak,
    // a quoted parameter with ':' and ',' and an RRULE (ignored).
    let esc = find(ev, "escaped-1");
    assert_eq!(span(esc), p("2026-04-10", "2026-04-12"));
    assert_eq!(esc.summary, "Familia Pérez, 4 personas; late check-in \\ ok");
    assert_eq!(
        esc.description.as_deref(),
        Some(
            "Línea uno\nLínea dos, con coma y una URL muy larga \
             https://example.com/a/very/long/path?with=query&and=more"
        )
    );
    // Zero-length all-day event = one night.
    assert_eq!(s("zero-1"), p("2026-04-25", "2026-04-26"));
    // Missing UID: a stable stand-in.
    assert_eq!(s("no-uid-2026-05-01-2026-05-03"), p("2026-05-01", "2026-05-03"));
    // Exact duplicates collapse; a reused UID is made unique.
    assert_eq!(s("dup-1#2026-05-10/2026-05-12"), p("2026-05-10", "2026-05-12"));
    assert_eq!(s("dup-1#2026-05-20/2026-05-21"), p("2026-05-20", "2026-05-21"));
    assert!(!ev.iter().any(|e| e.uid == "dup-1"));

    // Cancelled, transparent and unreadable events are left out and reported.
    for uid in ["cancelled-1", "transparent-1", "nostart-1", "baddate-1"] {
        assert!(!ev.iter().any(|e| e.uid == uid), "{uid} must be skipped");
    }
    let skipped: Vec<_> = cal.skipped.iter().map(|s| (s.uid.as_deref().unwrap(), s.reason)).collect();
    assert_eq!(
        skipped,
        [
            ("cancelled-1", SkipReason::Cancelled),
            ("transparent-1", SkipReason::Transparent),
            ("nostart-1", SkipReason::MissingStart),
            ("baddate-1", SkipReason::BadDate),
        ]
    );
    assert_eq!(ev.len(), 13);
    // The RRULE is not expanded, and said so.
    assert_eq!(cal.recurring, ["escaped-1"]);
    // Output is sorted and UIDs are unique.
    assert!(ev.windows(2).all(|w| (w[0].check_in, w[0].check_out) <= (w[1].check_in, w[1].check_out)));
    let mut uids: Vec<_> = ev.iter().map(|e| &e.uid).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), ev.len());
}

#[test]
fn local_dates_depend_on_the_property_zone() {
    let body = fixture("quirks.ics");
    let utc = parse_feed(&body, chrono_tz::UTC).unwrap();
    assert_eq!(span(find(&utc, "utc-1")), ("2026-02-01".into(), "2026-02-03".into()));
    // DATE values never move.
    let tokyo = parse_feed(&body, chrono_tz::Asia::Tokyo).unwrap();
    assert_eq!(span(find(&tokyo, "zero-1")), ("2026-04-25".into(), "2026-04-26".into()));
    assert_eq!(span(find(&tokyo, "utc-1")), ("2026-02-01".into(), "2026-02-04".into()));
}

#[test]
fn events_in_any_order_give_the_same_result() {
    let body = fixture("vrbo.ics");
    let want = parse_feed(&body, BA).unwrap();
    // Reverse the VEVENT blocks.
    let head_end = body.find("BEGIN:VEVENT").unwrap();
    let tail_start = body.rfind("END:VCALENDAR").unwrap();
    let mut blocks: Vec<String> =
        body[head_end..tail_start].split_inclusive("END:VEVENT\r\n").map(str::to_owned).collect();
    blocks.reverse();
    let reversed = format!("{}{}{}", &body[..head_end], blocks.concat(), &body[tail_start..]);
    assert_ne!(reversed, body);
    assert_eq!(parse_feed(&reversed, BA).unwrap(), want);
}

#[test]
fn serde_spelling() {
    let ev = &parse_feed(&fixture("airbnb.ics"), BA).unwrap()[0];
    let json = serde_json::to_value(ev).unwrap();
    assert_eq!(json["kind"], "booking");
    assert_eq!(json["check_in"], "2025-10-19");
    assert_eq!(json["check_out"], "2025-10-22");
    assert_eq!(json["reference"], "HMCH8MD3BQ");
    assert_eq!(serde_json::to_value(Source::Vrbo).unwrap(), "vrbo");
    assert_eq!(EventKind::Block.as_str(), "block");
    assert_eq!("booking".parse::<Source>(), Ok(Source::Booking));
}

#[test]
fn hostile_nesting_stays_linear() {
    // ~1.2 MB of nested BEGINs followed by unmatched ENDs.
    let mut body = String::from("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20260101\r\n");
    body.push_str(&"BEGIN:VALARM\r\n".repeat(40_000));
    body.push_str(&"END:VTODO\r\n".repeat(40_000));
    body.push_str(&"END:VALARM\r\n".repeat(40_000));
    body.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    let started = std::time::Instant::now();
    let events = parse_feed(&body, BA).unwrap();
    assert_eq!(events.len(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}

/// A feed body with one all-day event per `(uid, check_in, check_out)`.
fn feed_of(events: &[(&str, &str, &str)]) -> String {
    let mut body = String::from("BEGIN:VCALENDAR\r\nPRODID:-//Example//EN\r\n");
    for (uid, check_in, check_out) in events {
        body.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{check_in}\r\nDTEND;VALUE=DATE:{check_out}\r\nEND:VEVENT\r\n"
        ));
    }
    body + "END:VCALENDAR\r\n"
}

fn keys(events: &[FeedEvent]) -> Vec<(NaiveDate, NaiveDate, String)> {
    events.iter().map(|e| (e.check_in, e.check_out, e.uid.clone())).collect()
}

/// Found by `fuzz/`'s ical target: the `#dates` suffix that makes a repeated UID unique was added
/// after sorting, so `a#…` could land after `a!` (`!` sorts before `#`) on the same dates.
#[test]
fn events_stay_sorted_after_repeated_uids_get_their_suffix() {
    let body = feed_of(&[("a", "20260510", "20260512"), ("a!", "20260510", "20260512"), ("a", "20260601", "20260603")]);
    let events = parse_feed(&body, BA).unwrap();
    let mut sorted = keys(&events);
    sorted.sort();
    assert_eq!(keys(&events), sorted, "sorted by (check_in, check_out, uid) as documented");
    assert_eq!(events[0].uid, "a!");
    assert_eq!(events[1].uid, "a#2026-05-10/2026-05-12");
}

/// A feed may already hold a UID shaped like the suffix we add: UIDs still come out unique.
#[test]
fn a_uid_shaped_like_our_suffix_does_not_make_a_duplicate() {
    let body = feed_of(&[
        ("a", "20260510", "20260512"),
        ("a", "20260601", "20260603"),
        ("a#2026-05-10/2026-05-12", "20260510", "20260512"),
    ]);
    let events = parse_feed(&body, BA).unwrap();
    assert_eq!(events.len(), 3);
    let uids: std::collections::HashSet<_> = events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids.len(), 3, "UIDs unique as documented: {events:#?}");
    let mut sorted = keys(&events);
    sorted.sort();
    assert_eq!(keys(&events), sorted);
}
