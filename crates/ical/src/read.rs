//! The tolerant feed reader.

use chrono::{DateTime, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::classify::{EventKind, Source, classify, detect_source, extract_airbnb_code};
use crate::lexer::{ContentLine, LogicalLines, parse_content_line, unescape_text};

/// One imported event, as local dates of the property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEvent {
    /// The feed's UID (unique within the returned list: see [`parse_calendar`]).
    pub uid: String,
    /// First night.
    pub check_in: NaiveDate,
    /// Day of departure: exclusive, always after `check_in`.
    pub check_out: NaiveDate,
    pub kind: EventKind,
    /// Unescaped SUMMARY (empty when absent). Vrbo puts guest names here.
    pub summary: String,
    /// The OTA's reservation code when present (Airbnb `HM…`).
    pub reference: Option<String>,
    /// Unescaped DESCRIPTION.
    pub description: Option<String>,
}

/// Why a body could not be read as a feed. Any of these means "the fetch
/// failed": the caller must keep what it had, never treat it as an empty
/// calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is something else (an HTML error or login page, JSON, …).
    /// Carries the first characters of the body, control characters removed.
    #[error("not an iCalendar feed (body starts with {0:?})")]
    NotICalendar(String),
    /// The body is empty or only whitespace.
    #[error("empty body")]
    Empty,
    /// `BEGIN:VCALENDAR` without its `END:VCALENDAR` (or a `VEVENT` left open):
    /// a cut-off download, whose missing events must not read as cancellations.
    #[error("truncated feed: {0} is never closed")]
    Truncated(&'static str),
}

/// Why an event was left out of [`Calendar::events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// `STATUS:CANCELLED`.
    Cancelled,
    /// `TRANSP:TRANSPARENT` (does not occupy time).
    Transparent,
    /// No `DTSTART`.
    MissingStart,
    /// A `DTSTART`/`DTEND` that is not a date or date-time we understand.
    BadDate,
}

/// An event the reader did not return, for logs and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEvent {
    pub uid: Option<String>,
    pub reason: SkipReason,
}

/// Everything the reader learned from a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// The raw PRODID value (not unescaped: Booking.com's is broken anyway).
    pub prodid: Option<String>,
    /// `X-WR-CALNAME`, unescaped.
    pub name: Option<String>,
    /// Platform guessed from PRODID / UIDs.
    pub source: Source,
    /// Events sorted by `(check_in, check_out, uid)`, UIDs unique.
    pub events: Vec<FeedEvent>,
    /// Events dropped on purpose or because they were unreadable.
    pub skipped: Vec<SkippedEvent>,
    /// Feed UIDs (before any de-duplication suffix) of returned events that
    /// carry `RRULE`/`RDATE`: recurrence is not expanded, only the first
    /// occurrence is in `events`. Worth a warning in the feed's status.
    pub recurring: Vec<String>,
}

/// Parses a feed body into events, in the property's zone `tz`.
///
/// Same as [`parse_calendar`] but returns only the events.
pub fn parse_feed(body: &str, tz: Tz) -> Result<Vec<FeedEvent>, ParseError> {
    parse_calendar(body, tz).map(|c| c.events)
}

/// Parses a feed body.
///
/// * Accepts CRLF, LF or CR line ends, folded lines, a UTF-8 BOM, lower-case
///   names, quoted parameters, unknown properties and components, several
///   `VCALENDAR`s in one body.
/// * Returns [`ParseError`] for an empty body, a body whose first line is not
///   `BEGIN:VCALENDAR`, or one cut off before `END:VCALENDAR`. A well-formed
///   calendar without events is `Ok` with no events.
/// * Dates: `VALUE=DATE` values are taken as they are (DTEND exclusive; a
///   missing DTEND means one night). DATE-TIME values (UTC `…Z`, `TZID=…`, or
///   floating) are converted to local dates in `tz`; floating times and
///   unknown TZIDs count as already local. The event covers from the local
///   date of its start to the local date of its end, at least one night.
///   `DURATION` is honoured when there is no `DTEND`.
/// * `STATUS:CANCELLED` and `TRANSP:TRANSPARENT` events, and events without a
///   readable `DTSTART`, are left out and listed in [`Calendar::skipped`].
/// * Exact duplicates (same UID and dates) are dropped; a UID that appears
///   again with other dates gets `#<check_in>/<check_out>` appended (and, in the
///   odd feed where that is already another event's UID, `#2`, `#3`, …), so
///   UIDs in the result are unique. A missing UID is replaced by
///   `no-uid-<check_in>-<check_out>`.
///
/// Never panics.
pub fn parse_calendar(body: &str, tz: Tz) -> Result<Calendar, ParseError> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    if body.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let mut lines = LogicalLines::new(body);

    // The first non-blank logical line must open a calendar.
    let first = loop {
        match lines.next_line() {
            Some(l) if l.trim().is_empty() => continue,
            Some(l) => break l.trim().to_owned(),
            None => return Err(ParseError::Empty),
        }
    };
    let opens = parse_content_line(&first)
        .is_some_and(|c| c.name.eq_ignore_ascii_case("BEGIN") && c.value.trim().eq_ignore_ascii_case("VCALENDAR"));
    if !opens {
        return Err(ParseError::NotICalendar(snippet(body)));
    }

    let mut cal = Calendar {
        prodid: None,
        name: None,
        source: Source::Other,
        events: Vec::new(),
        skipped: Vec::new(),
        recurring: Vec::new(),
    };
    let mut raw_events: Vec<RawEvent> = Vec::new();
    // Component stack below the current VCALENDAR (upper-cased names).
    let mut stack: Vec<String> = vec!["VCALENDAR".to_owned()];
    let mut current: Option<RawEvent> = None;

    while let Some(line) = lines.next_line() {
        let Some(cl) = parse_content_line(line) else {
            continue;
        };
        let name = cl.name;
        if name.eq_ignore_ascii_case("BEGIN") {
            let comp = cl.value.trim().to_ascii_uppercase();
            if comp == "VEVENT" {
                // A VEVENT opened while another is open: the first was never
                // closed. Keep it and start afresh.
                if let Some(ev) = current.take() {
                    raw_events.push(ev);
                    if let Some(pos) = stack.iter().rposition(|c| c == "VEVENT") {
                        stack.truncate(pos);
                    }
                }
                current = Some(RawEvent::default());
            }
            // Real feeds nest 3–4 deep; the cap keeps every stack scan O(1)
            // against hostile bodies. Deeper components are simply ignored.
            if stack.len() < MAX_DEPTH {
                stack.push(comp);
            }
            continue;
        }
        if name.eq_ignore_ascii_case("END") {
            let comp = cl.value.trim().to_ascii_uppercase();
            if let Some(pos) = stack.iter().rposition(|c| *c == comp) {
                stack.truncate(pos);
                // Closing a VEVENT, or something around an unclosed one.
                if !stack.iter().any(|c| c == "VEVENT")
                    && let Some(ev) = current.take()
                {
                    raw_events.push(ev);
                }
            }
            continue;
        }
        if stack.is_empty() {
            // Between calendars: ignore stray lines.
            continue;
        }
        match stack.last().map(String::as_str) {
            Some("VEVENT") => {
                if let Some(ev) = current.as_mut() {
                    ev.take(&cl);
                }
            }
            Some("VCALENDAR") => {
                if name.eq_ignore_ascii_case("PRODID") && cal.prodid.is_none() {
                    cal.prodid = Some(cl.value.trim().to_owned());
                } else if name.eq_ignore_ascii_case("X-WR-CALNAME") && cal.name.is_none() {
                    cal.name = Some(unescape_text(cl.value));
                }
            }
            _ => {}
        }
    }
    if current.is_some() {
        return Err(ParseError::Truncated("VEVENT"));
    }
    if !stack.is_empty() {
        return Err(ParseError::Truncated("VCALENDAR"));
    }

    cal.source = match cal.prodid.as_deref() {
        Some(p) => detect_source(p).unwrap_or(Source::Other),
        None => Source::Other,
    };
    if cal.source == Source::Other {
        // No telling PRODID: fall back on the UID domains.
        if let Some(s) = raw_events
            .iter()
            .filter_map(|e| e.uid.as_deref())
            .find_map(|u| detect_source(u).filter(|s| *s != Source::Other))
        {
            cal.source = s;
        }
    }

    for raw in raw_events {
        match raw.finish(tz, cal.source) {
            Ok(ev) => {
                if raw.recurring {
                    cal.recurring.push(ev.uid.clone());
                }
                cal.events.push(ev)
            }
            Err(Skip(reason, uid)) => cal.skipped.push(SkippedEvent { uid, reason }),
        }
    }
    dedupe(&mut cal.events);
    Ok(cal)
}

/// Deepest component nesting we track.
const MAX_DEPTH: usize = 16;

/// Why `finish` refused an event, with its UID for the report.
struct Skip(SkipReason, Option<String>);

fn snippet(body: &str) -> String {
    body.trim_start().chars().take(60).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Drops exact duplicates, makes UIDs unique and sorts by `(check_in,
/// check_out, uid)`.
fn dedupe(events: &mut Vec<FeedEvent>) {
    events.sort_by(|a, b| {
        (a.check_in, a.check_out, &a.uid, &a.summary).cmp(&(b.check_in, b.check_out, &b.uid, &b.summary))
    });
    events.dedup_by(|b, a| a.uid == b.uid && a.check_in == b.check_in && a.check_out == b.check_out);
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for e in events.iter() {
        *counts.entry(e.uid.as_str()).or_default() += 1;
    }
    let repeated: std::collections::HashSet<String> =
        counts.into_iter().filter(|(_, n)| *n > 1).map(|(u, _)| u.to_owned()).collect();
    if repeated.is_empty() {
        return;
    }
    for e in events.iter_mut() {
        if repeated.contains(&e.uid) {
            e.uid = format!("{}#{}/{}", e.uid, e.check_in, e.check_out);
        }
    }
    // The feed may already hold a UID shaped like one we just made: number the later ones.
    let mut seen = std::collections::HashSet::<String>::with_capacity(events.len());
    for e in events.iter_mut() {
        if !seen.insert(e.uid.clone()) {
            let mut n = 2;
            while seen.contains(&format!("{}#{n}", e.uid)) {
                n += 1;
            }
            e.uid = format!("{}#{n}", e.uid);
            seen.insert(e.uid.clone());
        }
    }
    // The suffixes change how UIDs compare: sort again (UIDs are unique now).
    events.sort_by(|a, b| (a.check_in, a.check_out, &a.uid).cmp(&(b.check_in, b.check_out, &b.uid)));
}

/// A date or date-time property value, before conversion.
#[derive(Debug, Clone)]
enum When {
    Date(NaiveDate),
    Utc(NaiveDateTime),
    Zoned(NaiveDateTime, Tz),
    Floating(NaiveDateTime),
}

#[derive(Debug, Default)]
struct RawEvent {
    uid: Option<String>,
    start: Option<Result<When, ()>>,
    end: Option<Result<When, ()>>,
    duration: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    url: Option<String>,
    cancelled: bool,
    transparent: bool,
    recurring: bool,
}

impl RawEvent {
    fn take(&mut self, cl: &ContentLine<'_>) {
        let n = cl.name;
        let is = |s: &str| n.eq_ignore_ascii_case(s);
        if is("UID") {
            if self.uid.is_none() {
                let u = unescape_text(cl.value.trim());
                if !u.is_empty() {
                    self.uid = Some(u);
                }
            }
        } else if is("DTSTART") {
            self.start.get_or_insert_with(|| parse_when(cl));
        } else if is("DTEND") {
            self.end.get_or_insert_with(|| parse_when(cl));
        } else if is("DURATION") {
            self.duration.get_or_insert_with(|| cl.value.trim().to_owned());
        } else if is("SUMMARY") {
            self.summary.get_or_insert_with(|| unescape_text(cl.value));
        } else if is("DESCRIPTION") {
            self.description.get_or_insert_with(|| unescape_text(cl.value));
        } else if is("URL") {
            self.url.get_or_insert_with(|| cl.value.trim().to_owned());
        } else if is("STATUS") {
            self.cancelled |= cl.value.trim().eq_ignore_ascii_case("CANCELLED");
        } else if is("RRULE") || is("RDATE") {
            self.recurring = true;
        } else if is("TRANSP") {
            self.transparent |= cl.value.trim().eq_ignore_ascii_case("TRANSPARENT");
        }
    }

    fn finish(&self, tz: Tz, source: Source) -> Result<FeedEvent, Skip> {
        let skip = |r| Skip(r, self.uid.clone());
        if self.cancelled {
            return Err(skip(SkipReason::Cancelled));
        }
        if self.transparent {
            return Err(skip(SkipReason::Transparent));
        }
        let start = match &self.start {
            None => return Err(skip(SkipReason::MissingStart)),
            Some(Err(())) => return Err(skip(SkipReason::BadDate)),
            Some(Ok(w)) => w.clone(),
        };
        let check_in = local_date(&start, tz);
        let end_date = match &self.end {
            Some(Ok(end)) => Some(local_date(end, tz)),
            // An unreadable DTEND: fall back to one night rather than dropping
            // nights that are certainly taken.
            Some(Err(())) => None,
            None => self.duration.as_deref().and_then(parse_duration).and_then(|d| end_from_duration(&start, d, tz)),
        };
        let one_night = check_in.checked_add_days(Days::new(1)).ok_or_else(|| skip(SkipReason::BadDate))?;
        let check_out = end_date.filter(|e| *e > check_in).unwrap_or(one_night);

        let summary = self.summary.clone().unwrap_or_default();
        let reference = [Some(&summary), self.description.as_ref(), self.url.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|t| extract_airbnb_code(t));
        let kind = classify(source, &summary, reference.as_deref());
        let uid = self.uid.clone().unwrap_or_else(|| format!("no-uid-{check_in}-{check_out}"));
        Ok(FeedEvent { uid, check_in, check_out, kind, summary, reference, description: self.description.clone() })
    }
}

fn parse_when(cl: &ContentLine<'_>) -> Result<When, ()> {
    let v = cl.value.trim();
    let value_is_date = cl.param("VALUE").is_some_and(|p| p.eq_ignore_ascii_case("DATE"));
    let (date_part, time_part) = match v.find(['T', 't']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let date = parse_date(date_part).ok_or(())?;
    let Some(time_part) = time_part.filter(|_| !value_is_date) else {
        return Ok(When::Date(date));
    };
    let (time_str, utc) = match time_part.strip_suffix(['Z', 'z']) {
        Some(t) => (t, true),
        None => (time_part, false),
    };
    let time = parse_time(time_str).ok_or(())?;
    let dt = NaiveDateTime::new(date, time);
    if utc {
        return Ok(When::Utc(dt));
    }
    match cl.param("TZID").and_then(resolve_tzid) {
        Some(zone) => Ok(When::Zoned(dt, zone)),
        None => Ok(When::Floating(dt)),
    }
}

/// `YYYYMMDD`, also the non-standard `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = digits[0..4].parse().ok()?;
    let m = digits[4..6].parse().ok()?;
    let d = digits[6..8].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// `HHMMSS` (also `HH:MM:SS`, `HHMM`, fractional seconds dropped, leap second 60 → 59).
fn parse_time(s: &str) -> Option<NaiveTime> {
    let s = s.split(['.', ',']).next().unwrap_or("");
    let digits: String = s.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h = digits[0..2].parse().ok()?;
    let m = digits[2..4].parse().ok()?;
    let sec: u32 = if digits.len() == 6 { digits[4..6].parse().ok()? } else { 0 };
    NaiveTime::from_hms_opt(h, m, sec.min(59))
}

/// Maps a TZID to a zone: IANA names, IANA names behind a prefix
/// (`/mozilla.org/20050126_1/America/Argentina/Buenos_Aires`), and a few
/// Windows names. Unknown names give `None` (the caller treats the time as
/// local to the property).
fn resolve_tzid(tzid: &str) -> Option<Tz> {
    let t = tzid.trim().trim_matches('"');
    if let Ok(z) = t.parse::<Tz>() {
        return Some(z);
    }
    let mut rest = t;
    while let Some(i) = rest.find('/') {
        rest = &rest[i + 1..];
        if let Ok(z) = rest.parse::<Tz>() {
            return Some(z);
        }
    }
    let windows = match t {
        "Argentina Standard Time" => "America/Argentina/Buenos_Aires",
        "E. South America Standard Time" => "America/Sao_Paulo",
        "Pacific SA Standard Time" => "America/Santiago",
        "Montevideo Standard Time" => "America/Montevideo",
        "SA Pacific Standard Time" => "America/Bogota",
        "Eastern Standard Time" => "America/New_York",
        "Central Standard Time" => "America/Chicago",
        "Mountain Standard Time" => "America/Denver",
        "Pacific Standard Time" => "America/Los_Angeles",
        "GMT Standard Time" => "Europe/London",
        "Romance Standard Time" => "Europe/Paris",
        "W. Europe Standard Time" => "Europe/Berlin",
        "Central European Standard Time" => "Europe/Warsaw",
        "UTC" | "Coordinated Universal Time" => "UTC",
        _ => return None,
    };
    windows.parse().ok()
}

/// The property-local date of a value.
fn local_date(w: &When, tz: Tz) -> NaiveDate {
    match w {
        When::Date(d) => *d,
        When::Floating(dt) => dt.date(),
        When::Utc(dt) => Utc.from_utc_datetime(dt).with_timezone(&tz).date_naive(),
        When::Zoned(dt, zone) => match instant(dt, *zone) {
            Some(i) => i.with_timezone(&tz).date_naive(),
            None => dt.date(),
        },
    }
}

/// The instant of a local time in `zone`; a time in a DST gap is moved one
/// hour later, an ambiguous one takes the earlier reading.
fn instant(dt: &NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    let pick = |r: LocalResult<DateTime<Tz>>| match r {
        LocalResult::Single(x) | LocalResult::Ambiguous(x, _) => Some(x.with_timezone(&Utc)),
        LocalResult::None => None,
    };
    pick(zone.from_local_datetime(dt)).or_else(|| {
        let later = dt.checked_add_signed(Duration::hours(1))?;
        pick(zone.from_local_datetime(&later))
    })
}

/// A positive RFC 5545 duration (`P4D`, `P1W`, `PT36H`, `P1DT12H30M`). Negative
/// or unreadable durations give `None`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let s = s.strip_prefix(['P', 'p'])?;
    let mut total = Duration::zero();
    let mut num = String::new();
    let mut seen_unit = false;
    for c in s.chars() {
        match c.to_ascii_uppercase() {
            d if d.is_ascii_digit() => {
                if num.len() >= 9 {
                    return None;
                }
                num.push(d);
            }
            'T' if num.is_empty() => {}
            unit @ ('W' | 'D' | 'H' | 'M' | 'S') => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                let part = match unit {
                    'W' => Duration::try_weeks(n)?,
                    'D' => Duration::try_days(n)?,
                    'H' => Duration::try_hours(n)?,
                    'M' => Duration::try_minutes(n)?,
                    _ => Duration::try_seconds(n)?,
                };
                total = total.checked_add(&part)?;
                seen_unit = true;
            }
            _ => return None,
        }
    }
    (seen_unit && num.is_empty() && total > Duration::zero()).then_some(total)
}

fn end_from_duration(start: &When, d: Duration, tz: Tz) -> Option<NaiveDate> {
    match start {
        // For a DATE start only whole days count (`P1D` = one night).
        When::Date(date) => date.checked_add_days(Days::new(u64::try_from(d.num_days()).ok()?)),
        When::Floating(dt) => Some(dt.checked_add_signed(d)?.date()),
        When::Utc(dt) => {
            let end = dt.checked_add_signed(d)?;
            Some(Utc.from_utc_datetime(&end).with_timezone(&tz).date_naive())
        }
        When::Zoned(dt, zone) => {
            let end = instant(dt, *zone)?.checked_add_signed(d)?;
            Some(end.with_timezone(&tz).date_naive())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("P4D"), Some(Duration::days(4)));
        assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
        assert_eq!(parse_duration("PT36H"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("P1DT12H30M"), Some(Duration::minutes(36 * 60 + 30)));
        assert_eq!(parse_duration("-P1D"), None);
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("P0D"), None);
        assert_eq!(parse_duration("P99999999999999D"), None);
    }

    #[test]
    fn tzids() {
        assert_eq!(resolve_tzid("America/Argentina/Cordoba"), Some(chrono_tz::America::Argentina::Cordoba));
        assert_eq!(
            resolve_tzid("/mozilla.org/20050126_1/America/Argentina/Buenos_Aires"),
            Some(chrono_tz::America::Argentina::Buenos_Aires)
        );
        assert_eq!(resolve_tzid("Argentina Standard Time"), Some(chrono_tz::America::Argentina::Buenos_Aires));
        assert_eq!(resolve_tzid("Mars/Olympus"), None);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(parse_date("20260110"), NaiveDate::from_ymd_opt(2026, 1, 10));
        assert_eq!(parse_date("2026-01-10"), NaiveDate::from_ymd_opt(2026, 1, 10));
        assert_eq!(parse_date("20261310"), None);
        assert_eq!(parse_date("2026011"), None);
        assert_eq!(parse_time("235960"), NaiveTime::from_hms_opt(23, 59, 59));
        assert_eq!(parse_time("1400"), NaiveTime::from_hms_opt(14, 0, 0));
        assert_eq!(parse_time("14"), None);
    }
}
