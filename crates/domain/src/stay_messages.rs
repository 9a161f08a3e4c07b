//! The messages a confirmed stay gets on its own (issue #17, "Mensajes automáticos"): which
//! ones exist, when each is due in the property's zone (never in the quiet hours), and their
//! text with `{placeholders}`, validated so an owner's typo is a clear error, not a blank.
//!
//! Pure: the caller passes the zone, "now" and the values; the server stores and sends.

use crate::Stay;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use std::collections::BTreeMap;

/// One automatic message of a stay. The confirmation is sent when the deposit is paid and is not
/// one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StayMessageKind {
    /// The balance, N days before arrival (a payment link, or how it is paid).
    Balance,
    /// Address, map, times, key and wifi, the day before arrival.
    CheckIn,
    /// On the arrival day.
    Welcome,
    /// The evening before leaving.
    Checkout,
    /// After leaving, with the review link.
    Thanks,
}

/// The day a message's timing counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    CheckIn,
    CheckOut,
}

impl StayMessageKind {
    pub const ALL: [StayMessageKind; 5] = [
        StayMessageKind::Balance,
        StayMessageKind::CheckIn,
        StayMessageKind::Welcome,
        StayMessageKind::Checkout,
        StayMessageKind::Thanks,
    ];

    /// As stored (`stay_messages.kind`) and in setting keys (`stay.<kind>.text`).
    pub fn as_str(self) -> &'static str {
        match self {
            StayMessageKind::Balance => "balance",
            StayMessageKind::CheckIn => "check_in",
            StayMessageKind::Welcome => "welcome",
            StayMessageKind::Checkout => "checkout",
            StayMessageKind::Thanks => "thanks",
        }
    }

    pub fn parse(text: &str) -> Option<StayMessageKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What the dashboard calls it.
    pub fn label(self) -> &'static str {
        match self {
            StayMessageKind::Balance => "Recordatorio del saldo",
            StayMessageKind::CheckIn => "Instrucciones de llegada",
            StayMessageKind::Welcome => "Bienvenida",
            StayMessageKind::Checkout => "Recordatorio de salida",
            StayMessageKind::Thanks => "Agradecimiento y reseña",
        }
    }

    pub fn anchor(self) -> Anchor {
        match self {
            StayMessageKind::Balance | StayMessageKind::CheckIn | StayMessageKind::Welcome => Anchor::CheckIn,
            StayMessageKind::Checkout | StayMessageKind::Thanks => Anchor::CheckOut,
        }
    }

    /// When it goes unless the owner says otherwise.
    pub fn default_timing(self) -> Timing {
        let (days, h, m) = match self {
            StayMessageKind::Balance => (-3, 10, 0),
            StayMessageKind::CheckIn => (-1, 18, 0),
            StayMessageKind::Welcome => (0, 16, 0),
            StayMessageKind::Checkout => (-1, 20, 0),
            StayMessageKind::Thanks => (0, 12, 0),
        };
        Timing { days, at: NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default() }
    }

    /// The text unless the owner writes their own. Lines whose placeholders are all empty are
    /// left out ([`render`]): no "Wi-Fi: " when there is no wifi.
    pub fn default_text(self) -> &'static str {
        match self {
            StayMessageKind::Balance => {
                "¡Hola {nombre}! Se acerca tu estadía en {cabaña}, del {entrada} al {salida}.\n\
                 Queda un saldo de {saldo}. {como_pagar}\n\
                 Podés pagarlo acá: {link_pago}"
            }
            StayMessageKind::CheckIn => {
                "¡Hola {nombre}! Mañana te esperamos en {cabaña}. Check-in desde las {hora_entrada}.\n\
                 Dirección: {direccion}\n\
                 Mapa: {mapa}\n\
                 Cómo llegar: {como_llegar}\n\
                 Llave: {clave}\n\
                 Wi-Fi: {wifi}\n\
                 Cualquier cosa, escribinos por acá."
            }
            StayMessageKind::Welcome => {
                "¡Bienvenidos a {cabaña}, {nombre}! Esperamos que disfruten la estadía. Si necesitan algo, escribinos por acá."
            }
            StayMessageKind::Checkout => {
                "¡Hola {nombre}! Te recordamos que mañana el check-out es hasta las {hora_salida}. ¡Gracias por elegirnos!"
            }
            StayMessageKind::Thanks => {
                "¡Gracias por tu visita, {nombre}! Esperamos que hayas disfrutado {cabaña}.\n\
                 ¿Cómo la pasaron? Contestanos con un número del 1 al 5 (5 es excelente).\n\
                 Si tenés un minuto, tu reseña nos ayuda mucho: {link_reseña}"
            }
        }
    }
}

/// Where one stay message has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StayMessageStatus {
    /// Waiting for its time.
    Due,
    /// Queued in the outbox (the outbox says whether it was delivered).
    Sent,
    /// Not sent on purpose: the owner skipped it, or it no longer made sense (balance paid).
    Skipped,
    /// The reservation was cancelled, or the message turned off.
    Cancelled,
    /// Could not be sent (no channel that reaches the guest); the note says why.
    Failed,
}

impl StayMessageStatus {
    pub const ALL: [StayMessageStatus; 5] = [
        StayMessageStatus::Due,
        StayMessageStatus::Sent,
        StayMessageStatus::Skipped,
        StayMessageStatus::Cancelled,
        StayMessageStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StayMessageStatus::Due => "due",
            StayMessageStatus::Sent => "sent",
            StayMessageStatus::Skipped => "skipped",
            StayMessageStatus::Cancelled => "cancelled",
            StayMessageStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<StayMessageStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            StayMessageStatus::Due => "Programado",
            StayMessageStatus::Sent => "Enviado",
            StayMessageStatus::Skipped => "Salteado",
            StayMessageStatus::Cancelled => "Cancelado",
            StayMessageStatus::Failed => "No enviado",
        }
    }
}

/// When a message goes: `days` from its anchor (negative: before), at `at` local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub days: i32,
    pub at: NaiveTime,
}

/// Farthest a message may be set from its anchor day.
pub const MAX_DAYS: i32 = 30;

/// No message is sent between `from` and `until` (local); one due then waits until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: NaiveTime,
    pub until: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> QuietHours {
        QuietHours {
            from: NaiveTime::from_hms_opt(22, 0, 0).unwrap_or_default(),
            until: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        }
    }
}

impl QuietHours {
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.from <= self.until { t >= self.from && t < self.until } else { t >= self.from || t < self.until }
    }

    /// `t`, or the end of the quiet hours it falls in (in `tz`).
    pub fn push_out<Tz: TimeZone>(&self, t: DateTime<Utc>, tz: &Tz) -> DateTime<Utc> {
        let local = t.with_timezone(tz).naive_local();
        if !self.contains(local.time()) {
            return t;
        }
        // Past midnight (or a window that does not cross it) ends today; before it, tomorrow.
        let day = if self.from > self.until && local.time() >= self.from {
            local.date() + Duration::days(1)
        } else {
            local.date()
        };
        at_local(day, self.until, tz).max(t)
    }
}

/// A local date and time in `tz` as UTC (the earlier of an ambiguous hour, the later side of
/// a skipped one).
pub fn at_local<Tz: TimeZone>(day: NaiveDate, time: NaiveTime, tz: &Tz) -> DateTime<Utc> {
    let naive = day.and_time(time);
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| naive.and_utc()),
    }
}

/// When `kind` is meant to go for `stay` (before the quiet hours and "now" are considered).
pub fn nominal<Tz: TimeZone>(kind: StayMessageKind, timing: Timing, stay: Stay, tz: &Tz) -> DateTime<Utc> {
    let anchor = match kind.anchor() {
        Anchor::CheckIn => stay.check_in,
        Anchor::CheckOut => stay.check_out,
    };
    at_local(anchor + Duration::days(timing.days.clamp(-MAX_DAYS, MAX_DAYS) as i64), timing.at, tz)
}

/// The latest a message still makes sense: a day late at most, and a checkout reminder not
/// after the checkout; the thank-you within a week.
fn deadline<Tz: TimeZone>(
    kind: StayMessageKind,
    nominal: DateTime<Utc>,
    stay: Stay,
    leave_by: NaiveTime,
    tz: &Tz,
) -> DateTime<Utc> {
    match kind {
        StayMessageKind::Thanks => nominal + Duration::days(7),
        StayMessageKind::Checkout => at_local(stay.check_out, leave_by, tz).min(nominal + Duration::days(1)),
        _ => (nominal + Duration::days(1)).min(at_local(stay.check_out, NaiveTime::MIN, tz)),
    }
}

/// What the schedule of one message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    At(DateTime<Utc>),
    /// Its time (and the day of grace) passed before it could be planned.
    TooLate,
}

/// When `kind` goes: its nominal time, or now when that passed (keeping `previous`, the time
/// already planned, so planning again does not move it), out of the quiet hours; too late
/// past its deadline. `leave_by` is the property's check-out time.
#[allow(clippy::too_many_arguments)]
pub fn due_at<Tz: TimeZone>(
    kind: StayMessageKind,
    timing: Timing,
    stay: Stay,
    quiet: QuietHours,
    leave_by: NaiveTime,
    tz: &Tz,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Due {
    let nominal = nominal(kind, timing, stay, tz);
    let wanted = if nominal >= now {
        quiet.push_out(nominal, tz)
    } else {
        match previous {
            Some(p) if p >= nominal => p,
            _ => quiet.push_out(now, tz),
        }
    };
    if wanted > deadline(kind, nominal, stay, leave_by, tz) { Due::TooLate } else { Due::At(wanted) }
}

// ---------------------------------------------------------------------------------------------
// Texts

/// Every placeholder a text may use, with what it becomes.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("nombre", "el nombre del huésped"),
    ("cabaña", "la cabaña"),
    ("alojamiento", "el nombre del alojamiento"),
    ("codigo", "el código de la reserva"),
    ("entrada", "el día de llegada"),
    ("salida", "el día de salida"),
    ("noches", "las noches"),
    ("personas", "cuántos son"),
    ("saldo", "el saldo a pagar"),
    ("como_pagar", "cómo se paga el saldo (lo de «Tu alojamiento»)"),
    ("link_pago", "el link para pagar el saldo"),
    ("hora_entrada", "el check-in desde"),
    ("hora_salida", "el check-out hasta"),
    ("direccion", "la dirección"),
    ("mapa", "el link al mapa"),
    ("como_llegar", "cómo llegar"),
    ("clave", "la llave o el código de la caja"),
    ("wifi", "la red y la clave del Wi-Fi"),
    ("link_reseña", "el link para dejar una reseña"),
];

/// A text the owner wrote that cannot be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("No conozco el marcador {{{0}}}. Podés usar: {list}.", list = placeholder_list())]
    Unknown(String),
    #[error("Hay una llave «{{» sin cerrar cerca de «{0}». Los marcadores van entre llaves, por ejemplo {{nombre}}.")]
    Unclosed(String),
    #[error("El mensaje está vacío.")]
    Empty,
}

pub fn placeholder_list() -> String {
    PLACEHOLDERS.iter().map(|(p, _)| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
}

enum Piece<'a> {
    Text(&'a str),
    Slot(&'a str),
}

fn pieces(line: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 1..];
        let Some(close) = after.find('}').filter(|c| !after[..*c].contains('{')) else {
            return Err(TemplateError::Unclosed(rest[open..].chars().take(20).collect()));
        };
        let name = after[..close].trim();
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
            return Err(TemplateError::Unknown(name.to_string()));
        }
        out.push(Piece::Slot(name));
        rest = &after[close + 1..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Checks a text before it is saved: every `{placeholder}` known, every brace closed.
pub fn validate(text: &str) -> Result<(), TemplateError> {
    if text.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    text.lines().try_for_each(|l| pieces(l).map(|_| ()))
}

/// The text with its placeholders filled from `values` (a missing value is empty). A line
/// whose placeholders all came out empty is left out, and the gaps an empty name leaves
/// ("¡Hola !") are closed.
pub fn render(text: &str, values: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut out = String::new();
        let (mut slots, mut filled) = (0, 0);
        for piece in pieces(line)? {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(name) => {
                    slots += 1;
                    let v = values.get(name).map(|v| v.trim()).unwrap_or("");
                    if !v.is_empty() {
                        filled += 1;
                    }
                    out.push_str(v);
                }
            }
        }
        if slots > 0 && filled == 0 {
            continue;
        }
        lines.push(tidy(&out));
    }
    Ok(lines.join("\n").trim().to_string())
}

fn tidy(line: &str) -> String {
    let mut s = line.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    for (from, to) in [(" ,", ","), (" !", "!"), (" .", "."), (" ?", "?"), (",!", "!"), (",.", ".")] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn ar() -> FixedOffset {
        FixedOffset::west_opt(3 * 3600).unwrap()
    }
    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }
    fn stay() -> Stay {
        Stay { check_in: d("2026-12-20"), check_out: d("2026-12-23") }
    }

    #[test]
    fn times_are_local_to_the_property_not_utc() {
        // The check-in instructions at 18:00 the day before in Argentina are 21:00 UTC.
        let n = nominal(StayMessageKind::CheckIn, StayMessageKind::CheckIn.default_timing(), stay(), &ar());
        assert_eq!(n, utc("2026-12-19T21:00:00Z"));
        // 21:30 local is 00:30 UTC the next day: the UTC date differs, the local day rules.
        let late = Timing { days: -1, at: t(21, 30) };
        assert_eq!(nominal(StayMessageKind::CheckIn, late, stay(), &ar()), utc("2026-12-20T00:30:00Z"));
    }

    #[test]
    fn quiet_hours_move_a_message_to_the_morning() {
        let q = QuietHours::default();
        // 23:00 local → 09:00 the next local day.
        assert_eq!(q.push_out(utc("2026-12-20T02:00:00Z"), &ar()), utc("2026-12-20T12:00:00Z"));
        // 02:00 local → 09:00 the same local day.
        assert_eq!(q.push_out(utc("2026-12-20T05:00:00Z"), &ar()), utc("2026-12-20T12:00:00Z"));
        // 21:59 local is not quiet; 09:00 is not either.
        assert_eq!(q.push_out(utc("2026-12-20T00:59:00Z"), &ar()), utc("2026-12-20T00:59:00Z"));
        assert_eq!(q.push_out(utc("2026-12-20T12:00:00Z"), &ar()), utc("2026-12-20T12:00:00Z"));
        // A window that does not cross midnight.
        let q = QuietHours { from: t(13, 0), until: t(16, 0) };
        assert_eq!(q.push_out(utc("2026-12-20T17:00:00Z"), &ar()), utc("2026-12-20T19:00:00Z"));
    }

    #[test]
    fn due_times_late_plans_and_deadlines() {
        let q = QuietHours::default();
        let k = StayMessageKind::CheckIn;
        let timing = k.default_timing();
        let due =
            |now: &str, prev: Option<&str>| due_at(k, timing, stay(), q, t(10, 0), &ar(), utc(now), prev.map(utc));
        assert_eq!(due("2026-12-10T12:00:00Z", None), Due::At(utc("2026-12-19T21:00:00Z")));
        // Planned after its time: now, or the morning when now is quiet…
        assert_eq!(due("2026-12-20T13:00:00Z", None), Due::At(utc("2026-12-20T13:00:00Z")));
        assert_eq!(due("2026-12-20T03:00:00Z", None), Due::At(utc("2026-12-20T12:00:00Z")));
        // …and planned again, it keeps the time it was given.
        assert_eq!(due("2026-12-20T13:05:00Z", Some("2026-12-20T13:00:00Z")), Due::At(utc("2026-12-20T13:00:00Z")));
        // More than a day late: not sent.
        assert_eq!(due("2026-12-20T21:01:00Z", None), Due::TooLate);
        // The owner asked for 23:30: it goes at 09:00.
        let night = Timing { days: -1, at: t(23, 30) };
        let d = due_at(k, night, stay(), q, t(10, 0), &ar(), utc("2026-12-01T00:00:00Z"), None);
        assert_eq!(d, Due::At(utc("2026-12-20T12:00:00Z")));
        // A checkout reminder never after the checkout.
        let c = StayMessageKind::Checkout;
        let d = due_at(c, c.default_timing(), stay(), q, t(10, 0), &ar(), utc("2026-12-23T13:30:00Z"), None);
        assert_eq!(d, Due::TooLate);
    }

    #[test]
    fn placeholders_are_validated_and_rendered() {
        for k in StayMessageKind::ALL {
            validate(k.default_text()).unwrap();
        }
        let e = validate("Hola {nombr}").unwrap_err();
        assert_eq!(e, TemplateError::Unknown("nombr".into()));
        let msg = e.to_string();
        assert!(msg.starts_with("No conozco el marcador {nombr}. Podés usar: {nombre}, {cabaña}"), "{msg}");
        assert!(msg.contains("{link_reseña}"), "{msg}");
        assert!(matches!(validate("Hola {nombre"), Err(TemplateError::Unclosed(_))));
        assert_eq!(validate("  "), Err(TemplateError::Empty));
        let mut v = BTreeMap::new();
        v.insert("cabaña", "Cabaña del Lago".to_string());
        v.insert("hora_entrada", "14:00".to_string());
        v.insert("direccion", "Ruta 40 km 2".to_string());
        let out = render(StayMessageKind::CheckIn.default_text(), &v).unwrap();
        assert_eq!(
            out,
            "¡Hola! Mañana te esperamos en Cabaña del Lago. Check-in desde las 14:00.\n\
             Dirección: Ruta 40 km 2\nCualquier cosa, escribinos por acá."
        );
        v.insert("nombre", "Ana".to_string());
        let out = render("¡Bienvenidos a {cabaña}, {nombre}!", &v).unwrap();
        assert_eq!(out, "¡Bienvenidos a Cabaña del Lago, Ana!");
        v.remove("nombre");
        assert_eq!(render("¡Bienvenidos a {cabaña}, {nombre}!", &v).unwrap(), "¡Bienvenidos a Cabaña del Lago!");
    }
}
