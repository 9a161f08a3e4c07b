//! The RFC 5545 writer for our export feed.

use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::lexer::{escape_text, push_folded};

/// Our PRODID.
pub const PRODID: &str = "-//Posada//Posada Calendar//ES";

/// A calendar to export: one unit's own stays and blocks.
#[derive(Debug, Clone, Copy)]
pub struct ExportCalendar<'a> {
    /// `X-WR-CALNAME`, e.g. the unit's name.
    pub name: &'a str,
    /// In any order: the writer sorts them.
    pub events: &'a [ExportEvent],
}

/// One exported stay or block. Carries no guest data by construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEvent {
    /// Stable per reservation, e.g. `"R7K2Q9@posada"`.
    pub uid: String,
    /// First night.
    pub check_in: NaiveDate,
    /// Day of departure (exclusive), written as `DTEND;VALUE=DATE`.
    pub check_out: NaiveDate,
    /// e.g. `"Reservado"`; never a guest name.
    pub summary: String,
    /// `X-SOURCE`, e.g. `"posada"`, `"whatsapp"`, `"owner_block"`.
    pub source: String,
    /// `CREATED`, when known.
    pub created: Option<DateTime<Utc>>,
    /// `LAST-MODIFIED`, when known.
    pub last_modified: Option<DateTime<Utc>>,
}

/// Writes the calendar. Pure and deterministic: the same input and `dtstamp`
/// give the same bytes.
///
/// * CRLF line ends, lines folded at 75 octets without splitting a UTF-8
///   character, TEXT values escaped (control characters dropped).
/// * `PRODID` [`PRODID`], `VERSION:2.0`, `CALSCALE:GREGORIAN`,
///   `METHOD:PUBLISH`, `X-WR-CALNAME`.
/// * Events sorted by `(check_in, check_out, uid)`, each with `UID`,
///   `DTSTAMP` (= `dtstamp`, the caller's "now"), `DTSTART;VALUE=DATE`,
///   `DTEND;VALUE=DATE` (exclusive), `SUMMARY`, `X-SOURCE`, then `CREATED` and
///   `LAST-MODIFIED` when given.
/// * An event whose `check_out` is not after `check_in` is written as one
///   night (`DTEND` must be later than `DTSTART`).
pub fn write_calendar(cal: &ExportCalendar<'_>, dtstamp: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(256 + cal.events.len() * 260);
    let mut line = String::with_capacity(128);
    let mut stamp = String::with_capacity(16);
    push_utc(&mut stamp, dtstamp);

    out.push_str("BEGIN:VCALENDAR\r\n");
    out.push_str("PRODID:");
    out.push_str(PRODID);
    out.push_str("\r\nVERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n");
    text_prop(&mut out, &mut line, "X-WR-CALNAME", cal.name);

    let mut events: Vec<&ExportEvent> = cal.events.iter().collect();
    events.sort_by(|a, b| {
        (a.check_in, a.check_out, &a.uid, &a.summary, &a.source).cmp(&(
            b.check_in,
            b.check_out,
            &b.uid,
            &b.summary,
            &b.source,
        ))
    });

    // Dates and stamps are short ASCII lines: no escaping or folding needed.
    for ev in events {
        out.push_str("BEGIN:VEVENT\r\n");
        text_prop(&mut out, &mut line, "UID", &ev.uid);
        out.push_str("DTSTAMP:");
        out.push_str(&stamp);
        out.push_str("\r\nDTSTART;VALUE=DATE:");
        push_date(&mut out, ev.check_in);
        let end = if ev.check_out > ev.check_in {
            ev.check_out
        } else {
            ev.check_in.checked_add_days(Days::new(1)).unwrap_or(ev.check_in)
        };
        out.push_str("\r\nDTEND;VALUE=DATE:");
        push_date(&mut out, end);
        out.push_str("\r\n");
        text_prop(&mut out, &mut line, "SUMMARY", &ev.summary);
        text_prop(&mut out, &mut line, "X-SOURCE", &ev.source);
        if let Some(c) = ev.created {
            out.push_str("CREATED:");
            push_utc(&mut out, c);
            out.push_str("\r\n");
        }
        if let Some(m) = ev.last_modified {
            out.push_str("LAST-MODIFIED:");
            push_utc(&mut out, m);
            out.push_str("\r\n");
        }
        out.push_str("END:VEVENT\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

fn text_prop(out: &mut String, line: &mut String, name: &str, value: &str) {
    line.clear();
    line.push_str(name);
    line.push(':');
    escape_text(value, line);
    push_folded(out, line);
}

/// `YYYYMMDD`. Years are clamped to 0..=9999 (the format has four digits;
/// our reservations never come near either end).
fn push_date(out: &mut String, d: NaiveDate) {
    push_num(out, d.year().clamp(0, 9999).unsigned_abs(), 4);
    push_num(out, d.month(), 2);
    push_num(out, d.day(), 2);
}

/// `YYYYMMDDTHHMMSSZ`.
fn push_utc(out: &mut String, t: DateTime<Utc>) {
    push_date(out, t.date_naive());
    out.push('T');
    push_num(out, t.hour(), 2);
    push_num(out, t.minute(), 2);
    push_num(out, t.second().min(59), 2);
    out.push('Z');
}

/// `n` as exactly `width` zero-padded decimal digits.
fn push_num(out: &mut String, n: u32, width: u32) {
    for i in (0..width).rev() {
        let digit = (n / 10u32.pow(i)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}
