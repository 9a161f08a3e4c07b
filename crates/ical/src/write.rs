//! The RFC 5545 writer for our export feed.

use chrono::{DateTime, Days, NaiveDate, Utc};
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
    let stamp = format_utc(dtstamp);

    out.push_str("BEGIN:VCALENDAR\r\n");
    raw_prop(&mut out, &mut line, "PRODID", PRODID);
    out.push_str("VERSION:2.0\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n");
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

    for ev in events {
        out.push_str("BEGIN:VEVENT\r\n");
        text_prop(&mut out, &mut line, "UID", &ev.uid);
        raw_prop(&mut out, &mut line, "DTSTAMP", &stamp);
        raw_prop(
            &mut out,
            &mut line,
            "DTSTART;VALUE=DATE",
            &format_date(ev.check_in),
        );
        let end = if ev.check_out > ev.check_in {
            ev.check_out
        } else {
            ev.check_in
                .checked_add_days(Days::new(1))
                .unwrap_or(ev.check_in)
        };
        raw_prop(&mut out, &mut line, "DTEND;VALUE=DATE", &format_date(end));
        text_prop(&mut out, &mut line, "SUMMARY", &ev.summary);
        text_prop(&mut out, &mut line, "X-SOURCE", &ev.source);
        if let Some(c) = ev.created {
            raw_prop(&mut out, &mut line, "CREATED", &format_utc(c));
        }
        if let Some(m) = ev.last_modified {
            raw_prop(&mut out, &mut line, "LAST-MODIFIED", &format_utc(m));
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

fn raw_prop(out: &mut String, line: &mut String, name: &str, value: &str) {
    line.clear();
    line.push_str(name);
    line.push(':');
    line.push_str(value);
    push_folded(out, line);
}

/// `YYYYMMDD`.
fn format_date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// `YYYYMMDDTHHMMSSZ`.
fn format_utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}
