//! A confirmed stay's automatic messages ("Mensajes automáticos", issue #17 step 1): the
//! owner's settings for each (on/off, when, text), the plan of a reservation's messages, and
//! the values their placeholders take. Planning is [`crate::booking::Booking::schedule_stay_messages`]
//! (called on every confirmation, cancellation and date change, and again by the hourly
//! maintenance job); sending is [`crate::chat::Chat::run_stay_message`], a job on the one queue.
//!
//! Settings are property keys (no migration): `stay.<kind>.on` (`off` turns it off),
//! `stay.<kind>.days`, `stay.<kind>.at` (HH:MM), `stay.<kind>.text`, `stay.quiet_from`,
//! `stay.quiet_until`, `review_url`, and per cabin `unit.<id>.key_code`, `unit.<id>.wifi`,
//! `unit.<id>.directions`.

use crate::property::PropertySettings;
use chrono::NaiveTime;
use domain::stay_messages::{QuietHours, Timing};
use domain::{Money, ReservationStatus, StayMessageKind};
use std::collections::BTreeMap;
use store::{Reservation, Unit};

/// The job that sends one stay message (payload `{"id": <stay_messages.id>}`).
pub const JOB: &str = "stay_message";

/// What the owner set for one message (defaults where they set nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSettings {
    pub on: bool,
    pub timing: Timing,
    pub text: String,
}

pub fn key(kind: StayMessageKind, field: &str) -> String {
    format!("stay.{}.{field}", kind.as_str())
}

pub fn unit_key(unit_id: i64, field: &str) -> String {
    format!("unit.{unit_id}.{field}")
}

/// The per-cabin check-in details the cabin page edits: (field, label, limit).
pub const UNIT_FIELDS: &[(&str, &str, usize)] = &[
    ("key_code", "Llave o código de la caja", 300),
    ("wifi", "Wi-Fi (red y clave)", 200),
    ("directions", "Cómo llegar a esta cabaña (si cambia del general)", 1500),
];

pub fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

pub fn message_settings(p: &PropertySettings, kind: StayMessageKind) -> MessageSettings {
    let default = kind.default_timing();
    let days = p.get(&key(kind, "days")).trim().parse::<i32>().ok();
    let at = parse_time(p.get(&key(kind, "at")));
    let text = match p.get(&key(kind, "text")) {
        t if t.trim().is_empty() => kind.default_text().to_string(),
        t => t.to_string(),
    };
    MessageSettings {
        on: p.get(&key(kind, "on")) != "off",
        timing: Timing {
            days: days.unwrap_or(default.days).clamp(-domain::stay_messages::MAX_DAYS, domain::stay_messages::MAX_DAYS),
            at: at.unwrap_or(default.at),
        },
        text,
    }
}

pub fn quiet_hours(p: &PropertySettings) -> QuietHours {
    let d = QuietHours::default();
    QuietHours {
        from: parse_time(p.get("stay.quiet_from")).unwrap_or(d.from),
        until: parse_time(p.get("stay.quiet_until")).unwrap_or(d.until),
    }
}

/// What is still to pay of the balance: the reservation's own figure (`Reservation::money`:
/// hand-recorded and Mercado Pago balance payments both count).
pub fn balance_due(r: &Reservation) -> Money {
    r.money().pending
}

/// Whether the message still applies to this reservation, and why not.
pub fn not_applicable(kind: StayMessageKind, r: &Reservation) -> Option<&'static str> {
    if r.status != ReservationStatus::Confirmed {
        return Some("La reserva no está confirmada.");
    }
    if kind == StayMessageKind::Balance && balance_due(r) == Money::ZERO {
        return Some(if r.balance_paid.is_some() { "El saldo ya está pago." } else { "No queda saldo." });
    }
    None
}

/// Every placeholder's value for this reservation; `link`: the balance's payment link
/// (`Payments::balance_link`, made by the sending job), for `{link_pago}`.
pub fn values(
    p: &PropertySettings,
    r: &Reservation,
    unit: &Unit,
    link: Option<&str>,
) -> BTreeMap<&'static str, String> {
    let name = if crate::chat::is_unnamed(&r.guest_name) {
        String::new()
    } else {
        r.guest_name.split_whitespace().next().unwrap_or("").to_string()
    };
    let unit_value = |field: &str| p.get(&unit_key(unit.id, field)).trim().to_string();
    let directions = match unit_value("directions") {
        d if d.is_empty() => p.get("directions").trim().to_string(),
        d => d,
    };
    let balance = balance_due(r);
    let how_to_pay = match p.get("balance").trim() {
        "" => "Se abona al llegar (efectivo o transferencia).".to_string(),
        t => t.to_string(),
    };
    let mut v = BTreeMap::new();
    v.insert("nombre", name);
    v.insert("cabaña", unit.name.clone());
    v.insert("alojamiento", p.name().to_string());
    v.insert("codigo", r.code.clone());
    v.insert("entrada", day(r.stay.check_in));
    v.insert("salida", day(r.stay.check_out));
    v.insert("noches", r.stay.nights().to_string());
    v.insert("personas", r.guests.to_string());
    v.insert("saldo", if balance > Money::ZERO { balance.to_ars() } else { String::new() });
    v.insert("como_pagar", how_to_pay);
    v.insert("link_pago", link.unwrap_or_default().to_string());
    v.insert("hora_entrada", p.check_in_from().to_string());
    v.insert("hora_salida", p.check_out_until().to_string());
    v.insert("direccion", p.get("address").trim().to_string());
    v.insert("mapa", p.map_url().unwrap_or("").to_string());
    v.insert("como_llegar", directions);
    v.insert("clave", unit_value("key_code"));
    v.insert("wifi", unit_value("wifi"));
    v.insert("link_reseña", p.get("review_url").trim().to_string());
    v
}

/// "viernes 18/12": the weekday helps more than the date alone.
pub fn day(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let names = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
    format!("{} {}", names[d.weekday().num_days_from_monday() as usize], d.format("%d/%m"))
}

/// The text of one message for one reservation, as it would go now.
pub fn render(
    p: &PropertySettings,
    kind: StayMessageKind,
    r: &Reservation,
    unit: &Unit,
    link: Option<&str>,
) -> Result<String, domain::stay_messages::TemplateError> {
    domain::stay_messages::render(&message_settings(p, kind).text, &values(p, r, unit, link))
}

/// A message on one line, as a WhatsApp template parameter (Meta refuses new lines in one).
pub fn one_line(text: &str) -> String {
    let joined = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" · ");
    joined.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fall_back_to_defaults_and_read_the_owner_s() {
        let mut m = BTreeMap::new();
        m.insert("stay.balance.on".to_string(), "off".to_string());
        m.insert("stay.check_in.days".to_string(), "-2".to_string());
        m.insert("stay.check_in.at".to_string(), "11:30".to_string());
        m.insert("stay.quiet_from".to_string(), "23:00".to_string());
        let p = PropertySettings::from_map(m);
        assert!(!message_settings(&p, StayMessageKind::Balance).on);
        let c = message_settings(&p, StayMessageKind::CheckIn);
        assert!(c.on);
        assert_eq!((c.timing.days, c.timing.at), (-2, NaiveTime::from_hms_opt(11, 30, 0).unwrap()));
        assert_eq!(c.text, StayMessageKind::CheckIn.default_text());
        let q = quiet_hours(&p);
        assert_eq!((q.from.to_string(), q.until.to_string()), ("23:00:00".to_string(), "09:00:00".to_string()));
        assert_eq!(one_line("Hola\n\n  Dirección: X \nChau"), "Hola · Dirección: X · Chau");
        assert_eq!(day("2026-12-18".parse().unwrap()), "viernes 18/12");
    }
}
