//! Who produced a feed, what each event means (OTA booking or block), and the
//! OTA's reservation reference.

use serde::{Deserialize, Serialize};

/// What an imported event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A guest reservation made on the OTA (Airbnb `Reserved`, Vrbo `Reserved - …`).
    Booking,
    /// Nights closed for any other reason: Airbnb `Airbnb (Not available)`
    /// (availability settings, moves daily), Booking.com `CLOSED - Not available`
    /// (which also hides real bookings), owner blocks, anything unrecognised.
    Block,
}

impl EventKind {
    /// `"booking"` or `"block"`, the serde spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Booking => "booking",
            EventKind::Block => "block",
        }
    }
}

/// The platform that produced a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Airbnb,
    Booking,
    Vrbo,
    Other,
}

impl Source {
    /// `"airbnb" | "booking" | "vrbo" | "other"`, the serde spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Airbnb => "airbnb",
            Source::Booking => "booking",
            Source::Vrbo => "vrbo",
            Source::Other => "other",
        }
    }

    /// Recognises a PRODID value (or any text naming the platform).
    fn from_marker(text: &str) -> Option<Source> {
        let t = text.to_ascii_lowercase();
        if t.contains("airbnb") {
            Some(Source::Airbnb)
        } else if t.contains("booking.com") {
            Some(Source::Booking)
        } else if t.contains("vrbo") || t.contains("homeaway") || t.contains("abritel") {
            Some(Source::Vrbo)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "airbnb" => Ok(Source::Airbnb),
            "booking" | "booking.com" => Ok(Source::Booking),
            "vrbo" | "homeaway" => Ok(Source::Vrbo),
            "other" => Ok(Source::Other),
            other => Err(format!("unknown source {other:?}")),
        }
    }
}

/// Guesses the platform from a whole feed body or from a bare PRODID value.
///
/// * A body with a `PRODID` line is judged by that PRODID; if the PRODID names
///   no known platform, UID domains (`@airbnb.com`, `@booking.com`, `vrbo`,
///   `homeaway`) are tried, then [`Source::Other`].
/// * Any other non-blank text is taken as a PRODID value: a known platform, or
///   [`Source::Other`].
/// * Blank input gives `None`.
pub fn detect_source(body_or_prodid: &str) -> Option<Source> {
    let text = body_or_prodid.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return None;
    }
    let mut lines = crate::lexer::LogicalLines::new(text);
    let mut prodid: Option<String> = None;
    let mut uid_marker: Option<Source> = None;
    let mut saw_calendar = false;
    while let Some(line) = lines.next_line() {
        let Some(cl) = crate::lexer::parse_content_line(line) else {
            continue;
        };
        if cl.name.eq_ignore_ascii_case("BEGIN") {
            saw_calendar = true;
        } else if cl.name.eq_ignore_ascii_case("PRODID") && prodid.is_none() {
            prodid = Some(cl.value.to_owned());
        } else if cl.name.eq_ignore_ascii_case("UID") && uid_marker.is_none() {
            uid_marker = Source::from_marker(cl.value);
        }
    }
    if let Some(p) = prodid.as_deref().and_then(Source::from_marker) {
        return Some(p);
    }
    if saw_calendar || prodid.is_some() {
        return Some(uid_marker.unwrap_or(Source::Other));
    }
    Some(Source::from_marker(text).unwrap_or(Source::Other))
}

/// Words that mark a closed period rather than a guest stay (checked first:
/// `Airbnb (Not available)`, `CLOSED - Not available`, Vrbo `Blocked`,
/// Abritel `Indisponible`, Spanish/Portuguese owner wording).
const BLOCK_WORDS: &[&str] = &[
    "not available",
    "unavailable",
    "blocked",
    "block",
    "closed",
    "indisponible",
    "indisponivel",
    "no disponible",
    "nao disponivel",
    "bloqueado",
    "bloqueada",
    "bloqueo",
    "cerrado",
    "fechado",
    "maintenance",
    "mantenimiento",
];

/// Summary prefixes that mark a guest reservation: Airbnb `Reserved`,
/// Vrbo `Reserved - Name`, Abritel `Réservée - Name`, our own `Reservado`.
const BOOKING_PREFIXES: &[&str] = &[
    "reserved",
    "reservation",
    "booked",
    "reservee",
    "reserve",
    "reservado",
    "reservada",
    "reserva",
    "ocupado",
    "ocupada",
];

/// Classifies one event.
///
/// Rules, in order:
/// 1. Booking.com feeds: always [`EventKind::Block`] (`CLOSED - Not available`
///    covers bookings and closures alike; they are indistinguishable).
/// 2. A summary containing a block word (`not available`, `blocked`, `closed`,
///    `no disponible`, …) → `Block`.
/// 3. A summary starting with a reservation word (`Reserved`, `Reserved - Ana`,
///    `Réservée`, `Reservado`, …) or an event carrying an OTA reference
///    (Airbnb `HM…` code) → `Booking`.
/// 4. Anything else (owner notes, empty summaries) → `Block`.
pub fn classify(source: Source, summary: &str, reference: Option<&str>) -> EventKind {
    if source == Source::Booking {
        return EventKind::Block;
    }
    let s = domain::text::fold(summary.trim());
    if BLOCK_WORDS.iter().any(|w| contains_word(&s, w)) {
        return EventKind::Block;
    }
    let starts_with_booking_word = BOOKING_PREFIXES
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric())));
    if starts_with_booking_word || reference.is_some() { EventKind::Booking } else { EventKind::Block }
}

/// `needle` occurs in `hay` delimited by non-alphanumerics (so `block` does not
/// match `blockbuster`, while `blocked` is its own word).
fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before_ok = hay[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = hay[i + needle.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        before_ok && after_ok
    })
}

/// Finds an Airbnb confirmation code: `HM` followed by 8 upper-case letters or
/// digits, as a whole token (e.g. in
/// `https://www.airbnb.com/hosting/reservations/details/HMCH8MD3BQ`, the older
/// `…/itinerary?code=HMABCD1234`, or a summary like `Ana (HMABCD1234)`).
pub fn extract_airbnb_code(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let is_code_char = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'H' && b[i + 1] == b'M' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let end = b[i + 2..].iter().position(|&c| !is_code_char(c)).map_or(b.len(), |p| i + 2 + p);
            let tail_ok = b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
            if end - i == 10 && tail_ok {
                return Some(text[i..end].to_owned());
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_known_summaries() {
        use EventKind::*;
        let cases = [
            (Source::Airbnb, "Reserved", None, Booking),
            (Source::Airbnb, "Airbnb (Not available)", None, Block),
            (Source::Airbnb, "Ana (HMABCD1234)", Some("HMABCD1234"), Booking),
            (Source::Booking, "CLOSED - Not available", None, Block),
            (Source::Booking, "Reserved", None, Block),
            (Source::Vrbo, "Reserved - GUESTNAME", None, Booking),
            (Source::Vrbo, "Blocked", None, Block),
            (Source::Vrbo, "Réservée - Melanie", None, Booking),
            (Source::Vrbo, "Indisponible", None, Block),
            (Source::Other, "Reservado", None, Booking),
            (Source::Other, "Bloqueado por el dueño", None, Block),
            (Source::Other, "No disponible", None, Block),
            (Source::Other, "Pintura de la cabaña", None, Block),
            (Source::Other, "", None, Block),
            (Source::Other, "Reservations closed", None, Block),
            (Source::Other, "Reservasion", None, Block),
        ];
        for (src, summary, reference, want) in cases {
            assert_eq!(classify(src, summary, reference), want, "{src:?} {summary:?}");
        }
    }

    #[test]
    fn airbnb_codes() {
        assert_eq!(
            extract_airbnb_code(
                "Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMCH8MD3BQ\nPhone"
            )
            .as_deref(),
            Some("HMCH8MD3BQ")
        );
        assert_eq!(extract_airbnb_code("itinerary?code=HMNXXX8J99").as_deref(), Some("HMNXXX8J99"));
        assert_eq!(extract_airbnb_code("XHMCH8MD3BQ"), None);
        assert_eq!(extract_airbnb_code("HMCH8MD3BQZ"), None);
        assert_eq!(extract_airbnb_code("HMshort"), None);
        assert_eq!(extract_airbnb_code("ñHM"), None);
    }

    #[test]
    fn detects_sources() {
        assert_eq!(detect_source("-//Airbnb Inc//Hosting Calendar 1.0//EN"), Some(Source::Airbnb));
        assert_eq!(detect_source("-//admin.booking.com\\\\\\, b.v.//NONSGML v1.0//EN"), Some(Source::Booking));
        assert_eq!(detect_source("-//HomeAway.com, Inc.//EN"), Some(Source::Vrbo));
        assert_eq!(detect_source("-//Posada//Posada Calendar//ES"), Some(Source::Other));
        assert_eq!(detect_source("  "), None);
        assert_eq!(
            detect_source("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x@airbnb.com\nEND:VEVENT\nEND:VCALENDAR"),
            Some(Source::Airbnb)
        );
    }
}
