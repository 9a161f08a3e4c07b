//! # `ical` — Posada's iCalendar reader and writer
//!
//! Pure (no I/O, no clock): the caller fetches bodies and passes "now".
//!
//! ## Reading OTA feeds
//!
//! [`parse_feed`] (or [`parse_calendar`] for the details) turns an Airbnb,
//! Booking.com, Vrbo or any other availability feed into [`FeedEvent`]s: plain
//! local dates `[check_in, check_out)` in the property's zone, a
//! [`EventKind`] (`booking` or `block`), the summary, and the OTA's
//! reservation code when there is one. It is tolerant of everything real
//! feeds do (CRLF/LF, folds anywhere — even inside URLs —, escaped text,
//! `VALUE=DATE` with exclusive DTEND, DATE-TIME in UTC / `TZID` / floating,
//! missing DTEND, `DURATION`, lower-case names, quoted parameters, a BOM,
//! unknown properties and components, Booking.com's broken PRODID escaping)
//! and strict about one thing: a body that is not a complete iCalendar (empty,
//! an HTML error page, a truncated download) is a [`ParseError`], never "no
//! events" — a failed fetch must not empty a calendar.
//!
//! ```
//! let body = "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n\
//!             BEGIN:VEVENT\r\nUID:a@airbnb.com\r\nDTSTART;VALUE=DATE:20260110\r\n\
//!             DTEND;VALUE=DATE:20260114\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
//! let events = ical::parse_feed(body, chrono_tz::America::Argentina::Buenos_Aires).unwrap();
//! assert_eq!(events[0].kind, ical::EventKind::Booking);
//! assert_eq!(events[0].check_out.to_string(), "2026-01-14"); // exclusive: 4 nights
//! assert!(ical::parse_feed("<html>502</html>", chrono_tz::UTC).is_err());
//! ```
//!
//! ## Writing our export
//!
//! [`write_calendar`] emits RFC 5545 (CRLF, 75-octet folding that never splits
//! a UTF-8 character, TEXT escaping, our [`PRODID`], `VERSION:2.0`,
//! all-day `VALUE=DATE` events with an exclusive DTEND, `DTSTAMP`, stable
//! UIDs, `X-SOURCE`). Output is deterministic for the same input.
//!
//! See the crate's README for the list of quirks and the classification rules.

mod classify;
mod lexer;
mod read;
mod write;

pub use classify::{EventKind, Source, classify, detect_source, extract_airbnb_code};
pub use lexer::MAX_LINE_OCTETS;
pub use read::{Calendar, FeedEvent, ParseError, SkipReason, SkippedEvent, parse_calendar, parse_feed};
pub use write::{ExportCalendar, ExportEvent, PRODID, write_calendar};

/// Unfolds an iCalendar body into its logical lines (for tests and
/// diagnostics): CRLF/LF/CR line ends, continuation lines joined.
pub fn unfold(body: &str) -> Vec<String> {
    let mut it = lexer::LogicalLines::new(body);
    let mut out = Vec::new();
    while let Some(l) = it.next_line() {
        out.push(l.to_owned());
    }
    out
}
