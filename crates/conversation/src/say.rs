//! How things are said: money, dates, counts, times, names — in rioplatense Spanish.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use domain::{Money, Stay, months};

/// "$40.000", "$40.000,50": pesos with a dot every three digits, centavos only when present.
pub fn money(m: Money) -> String {
    m.to_ars()
}

pub fn month(d: NaiveDate) -> &'static str {
    domain::months::name(d)
}

fn with_year(d: NaiveDate, today: NaiveDate) -> bool {
    (d - today).num_days() > 300 || d < today
}

/// "15 de enero" (with the year when far away or past).
pub fn date(d: NaiveDate, today: NaiveDate) -> String {
    if with_year(d, today) {
        format!("{} de {} de {}", d.day(), month(d), d.year())
    } else {
        format!("{} de {}", d.day(), month(d))
    }
}

/// "del 15 al 20 de enero", "del 30 de noviembre al 3 de diciembre".
pub fn range(stay: &Stay, today: NaiveDate) -> String {
    let (a, b) = (stay.check_in, stay.check_out);
    if a.month() == b.month() && a.year() == b.year() {
        let year = if with_year(a, today) { format!(" de {}", a.year()) } else { String::new() };
        format!("del {} al {} de {}{year}", a.day(), b.day(), month(b))
    } else {
        format!("del {} al {}", date(a, today), date(b, today))
    }
}

/// Two days, both included: ("del", "al") → "del 12 al 23 de julio", ("entre el", "y el") →
/// "entre el 1 y el 28 de febrero", "del 28 de diciembre al 3 de enero".
pub fn days(first: NaiveDate, last: NaiveDate, today: NaiveDate, words: (&str, &str)) -> String {
    let (a, b) = words;
    if first.month() == last.month() && first.year() == last.year() {
        let year = if with_year(first, today) { format!(" de {}", first.year()) } else { String::new() };
        format!("{a} {} {b} {} de {}{year}", first.day(), last.day(), month(last))
    } else {
        format!("{a} {} {b} {}", date(first, today), date(last, today))
    }
}

/// "16–20 dic", "30 nov–3 dic" — the shortest form, next to a cabin name in a title.
pub fn tight_range(stay: &Stay) -> String {
    short_range(stay).replace(" al ", "–")
}

/// "15 al 20 ene", "30 nov al 3 dic" — for button titles (≤ 20 characters).
pub fn short_range(stay: &Stay) -> String {
    let (a, b) = (stay.check_in, stay.check_out);
    if a.month() == b.month() {
        format!("{} al {} {}", a.day(), b.day(), months::short(b))
    } else {
        format!("{} {} al {} {}", a.day(), months::short(a), b.day(), months::short(b))
    }
}

pub fn nights(n: u32) -> String {
    if n == 1 { "1 noche".into() } else { format!("{n} noches") }
}

pub fn people(n: u32) -> String {
    if n == 1 { "1 persona".into() } else { format!("{n} personas") }
}

/// "a las 18:40", "mañana a las 10:40", "el 16/12 a las 10:40" (in the property's zone).
pub fn at(at: DateTime<Utc>, now: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let local = at.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive();
    let time = local.format("%H:%M");
    let day = local.date_naive();
    if day == today {
        format!("a las {time}")
    } else if Some(day) == today.succ_opt() {
        format!("mañana a las {time}")
    } else {
        format!("el {}/{} a las {time}", day.day(), day.month())
    }
}

/// "hasta las 18:40", "hasta mañana a las 10:40", "hasta el 16/12 a las 10:40".
pub fn until(when: DateTime<Utc>, now: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let a = at(when, now, tz);
    match a.strip_prefix("a las ") {
        Some(time) => format!("hasta las {time}"),
        None => format!("hasta {a}"),
    }
}

/// Profile names that are not names: the bot greets without a name rather than "¡Listo, Huésped!".
const PLACEHOLDERS: &[&str] = &[
    "huesped",
    "huésped",
    "guest",
    "usuario",
    "user",
    "cliente",
    "invitado",
    "whatsapp",
    "anonimo",
    "anónimo",
    "desconocido",
    "unknown",
    "sin",
    "nombre",
    "null",
    "none",
    "test",
    "prueba",
    "hola",
    "yo",
];

/// Titles before a name ("Dra. Marta Gómez" → Marta).
const TITLES: &[&str] = &["dr", "dra", "sr", "sra", "srta", "lic", "ing", "prof", "arq", "don", "doña", "dona"];

/// Words that stand for a group, not a person ("Familia Pérez"): no first name to say.
const GROUPS: &[&str] = &["familia", "flia", "fam", "los", "las", "equipo"];

/// The first word of a profile name, if it looks like a name (not "Huésped", not a number, not
/// an e-mail address some mail clients put as the display name, not "Familia Pérez").
pub fn first_name(name: &str) -> Option<String> {
    if name.chars().any(|c| c.is_ascii_digit() || c == '@') {
        return None;
    }
    let clean = |w: &str| -> String { w.chars().filter(|c| c.is_alphabetic() || *c == '\'' || *c == '-').collect() };
    let mut words = name.split_whitespace().map(clean).filter(|w| !w.is_empty());
    let mut w = words.next()?;
    if TITLES.contains(&w.to_lowercase().as_str()) {
        w = words.next()?;
    }
    let lower = w.to_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) || GROUPS.contains(&lower.as_str()) {
        return None;
    }
    (w.chars().count() >= 2 && w.chars().count() <= 20).then_some(w)
}

/// ", Juana" or "".
pub fn comma_name(name: Option<&str>) -> String {
    name.and_then(first_name).map(|n| format!(", {n}")).unwrap_or_default()
}

/// "la cabaña Arrayán", "la Cabaña Grande".
pub fn the_unit(name: &str) -> String {
    let lower = name.to_lowercase();
    if ["cabaña", "cabana", "casa", "depto", "departamento", "suite", "loft", "domo"]
        .iter()
        .any(|w| lower.starts_with(w))
    {
        format!("la {name}")
    } else if lower.starts_with("el ") || lower.starts_with("la ") {
        name.to_string()
    } else {
        format!("la cabaña {name}")
    }
}

/// "a, b y c".
pub fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} y {last}", init.join(", ")),
    }
}

pub fn weekday_plural(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "lunes",
        Weekday::Tue => "martes",
        Weekday::Wed => "miércoles",
        Weekday::Thu => "jueves",
        Weekday::Fri => "viernes",
        Weekday::Sat => "sábados",
        Weekday::Sun => "domingos",
    }
}

/// How a named stay period is said: "Carnaval", "el fin de semana largo".
pub fn period_name(kind: nlu::PeriodKind) -> Option<&'static str> {
    use nlu::PeriodKind::*;
    Some(match kind {
        Carnaval => "Carnaval",
        SemanaSanta => "Semana Santa",
        Navidad => "Navidad",
        AnoNuevo => "Año Nuevo",
        LongWeekend => "el fin de semana largo",
        Fortnight => "la quincena",
        _ => return None,
    })
}

/// The owner's sentence after a colon: "Al llegar…" → "al llegar…".
pub fn lower_first(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Cuts to at most `max` characters, ending with "…" when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out = out.trim_end().to_string();
    out.push('…');
    out
}

/// Lower case, accents and punctuation gone, single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars().flat_map(char::to_lowercase) {
        let c = match domain::text::unaccent(ch) {
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if c == ' ' {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn money_reads_like_a_price_tag() {
        assert_eq!(money(Money::from_pesos(40_000)), "$40.000");
        assert_eq!(money(Money::from_pesos(1_234_567)), "$1.234.567");
        assert_eq!(money(Money(50)), "$0,50");
        assert_eq!(money(Money::from_pesos(999)), "$999");
    }

    #[test]
    fn ranges_name_the_month_once() {
        let today = d("2026-11-23");
        let s = Stay::new(d("2027-01-15"), d("2027-01-20")).unwrap();
        assert_eq!(range(&s, today), "del 15 al 20 de enero");
        let s = Stay::new(d("2026-11-30"), d("2026-12-03")).unwrap();
        assert_eq!(range(&s, today), "del 30 de noviembre al 3 de diciembre");
        assert_eq!(short_range(&s), "30 nov al 3 dic");
        let far = Stay::new(d("2027-12-10"), d("2027-12-12")).unwrap();
        assert_eq!(range(&far, today), "del 10 al 12 de diciembre de 2027");
    }

    #[test]
    fn expiry_in_the_property_zone() {
        let tz = chrono_tz::America::Argentina::Buenos_Aires;
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 20, 40, 0).unwrap();
        assert_eq!(until(now + chrono::Duration::minutes(60), now, tz), "hasta las 18:40");
        // 23:30 local → 00:30 the next day.
        let late = Utc.with_ymd_and_hms(2026, 11, 24, 2, 30, 0).unwrap();
        assert_eq!(until(late + chrono::Duration::minutes(60), late, tz), "hasta mañana a las 00:30");
        let after_midnight = late + chrono::Duration::hours(1);
        assert_eq!(until(after_midnight + chrono::Duration::minutes(60), after_midnight, tz), "hasta las 01:30");
        assert_eq!(until(now + chrono::Duration::days(3), now, tz), "hasta el 26/11 a las 17:40");
    }

    #[test]
    fn first_names_only_from_real_names() {
        let f = |n: &str| first_name(n);
        assert_eq!(f("Juana Pérez").as_deref(), Some("Juana"));
        assert_eq!(f("Dra. Marta Gómez").as_deref(), Some("Marta"));
        assert_eq!(f("🌸 Ana").as_deref(), Some("Ana"));
        for not_a_name in ["Huésped", "lucia@guest.test", "Familia Pérez", "Flia. Gómez", "+54 9 294", "Dr.", ""] {
            assert_eq!(f(not_a_name), None, "{not_a_name}");
        }
    }

    #[test]
    fn normalizes_accents_and_punctuation() {
        assert_eq!(normalize("  ¡Sí, DALE!! Cabaña "), "si dale cabana");
    }
}
