//! Argentine national public holidays ("feriados nacionales"), 2025–2030.
//!
//! Built from the rules of Law 27.399: fixed holidays, Carnival and Good Friday from Easter,
//! movable holidays ("trasladables": 17/6, 17/8, 12/10, 20/11) moved to a Monday — Tuesday or
//! Wednesday go to the Monday before, Thursday or Friday to the Monday after — and the
//! "feriados con fines turísticos" each year's decree added (known for 2025 and 2026).
//! Dates outside [`FIRST_YEAR`]..=[`LAST_YEAR`] price without holidays.

use chrono::{Datelike, Days, NaiveDate, Weekday};

pub const FIRST_YEAR: i32 = 2025;
pub const LAST_YEAR: i32 = 2030;

/// Bridge days decreed for tourism, by year (decrees for later years are not out yet).
const TOURIST_DAYS: &[(i32, u32, u32)] =
    &[(2025, 5, 2), (2025, 8, 15), (2025, 11, 21), (2026, 3, 23), (2026, 7, 10), (2026, 12, 7)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid holiday date")
}

/// Easter Sunday (anonymous Gregorian algorithm).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// Law 27.399's rule for movable holidays.
fn moved(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Tue => date - Days::new(1),
        Weekday::Wed => date - Days::new(2),
        Weekday::Thu => date + Days::new(4),
        Weekday::Fri => date + Days::new(3),
        _ => date,
    }
}

/// Easter Sunday, for any year chrono can represent.
pub fn easter_checked(year: i32) -> Option<NaiveDate> {
    (1583..=200_000).contains(&year).then(|| easter(year))
}

/// The year's holidays in date order; empty outside the table's years.
pub fn holidays(year: i32) -> Vec<Holiday> {
    table(year).to_vec()
}

/// Computed once: pricing and the calendar words ask for holidays per night.
fn table(year: i32) -> &'static [Holiday] {
    static TABLE: std::sync::OnceLock<Vec<Vec<Holiday>>> = std::sync::OnceLock::new();
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return &[];
    }
    let all = TABLE.get_or_init(|| (FIRST_YEAR..=LAST_YEAR).map(compute).collect());
    &all[(year - FIRST_YEAR) as usize]
}

fn compute(year: i32) -> Vec<Holiday> {
    let e = easter(year);
    let mut list = vec![
        Holiday { date: ymd(year, 1, 1), name: "Año Nuevo" },
        Holiday { date: e - Days::new(48), name: "Carnaval" },
        Holiday { date: e - Days::new(47), name: "Carnaval" },
        Holiday { date: ymd(year, 3, 24), name: "Día de la Memoria" },
        Holiday { date: ymd(year, 4, 2), name: "Malvinas" },
        Holiday { date: e - Days::new(2), name: "Viernes Santo" },
        Holiday { date: ymd(year, 5, 1), name: "Día del Trabajador" },
        Holiday { date: ymd(year, 5, 25), name: "Revolución de Mayo" },
        Holiday { date: moved(ymd(year, 6, 17)), name: "Paso a la Inmortalidad de Güemes" },
        Holiday { date: ymd(year, 6, 20), name: "Día de la Bandera" },
        Holiday { date: ymd(year, 7, 9), name: "Día de la Independencia" },
        Holiday { date: moved(ymd(year, 8, 17)), name: "Paso a la Inmortalidad de San Martín" },
        Holiday { date: moved(ymd(year, 10, 12)), name: "Día de la Diversidad Cultural" },
        Holiday { date: moved(ymd(year, 11, 20)), name: "Día de la Soberanía Nacional" },
        Holiday { date: ymd(year, 12, 8), name: "Inmaculada Concepción" },
        Holiday { date: ymd(year, 12, 25), name: "Navidad" },
    ];
    list.extend(
        TOURIST_DAYS
            .iter()
            .filter(|(y, _, _)| *y == year)
            .map(|&(y, m, d)| Holiday { date: ymd(y, m, d), name: "Feriado con fines turísticos" }),
    );
    list.sort_by_key(|h| h.date);
    list.dedup_by_key(|h| h.date);
    list
}

pub fn is_holiday(date: NaiveDate) -> bool {
    table(date.year()).binary_search_by_key(&date, |h| h.date).is_ok()
}

pub fn holiday(date: NaiveDate) -> Option<Holiday> {
    let list = table(date.year());
    list.binary_search_by_key(&date, |h| h.date).ok().map(|i| list[i].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_dates() {
        assert_eq!(easter(2025), ymd(2025, 4, 20));
        assert_eq!(easter(2026), ymd(2026, 4, 5));
        assert_eq!(easter(2027), ymd(2027, 3, 28));
    }

    #[test]
    fn published_2025_and_2026_calendars() {
        // Carnival, Good Friday and the moved holidays as the official calendars list them.
        for date in [
            ymd(2025, 3, 3),
            ymd(2025, 3, 4),
            ymd(2025, 4, 18),
            ymd(2025, 6, 16),
            ymd(2025, 11, 24),
            ymd(2025, 5, 2),
            ymd(2026, 2, 16),
            ymd(2026, 2, 17),
            ymd(2026, 4, 3),
            ymd(2026, 6, 15),
            ymd(2026, 11, 23),
            ymd(2026, 12, 7),
        ] {
            assert!(is_holiday(date), "{date} should be a holiday");
        }
        assert!(!is_holiday(ymd(2026, 11, 20)), "20/11/2026 is a Friday, moved to Monday");
        assert!(!is_holiday(ymd(2031, 1, 1)), "beyond the table");
    }

    #[test]
    fn every_year_in_the_table_has_its_holidays() {
        for y in FIRST_YEAR..=LAST_YEAR {
            let list = holidays(y);
            assert!(list.len() >= 16, "{y}: {}", list.len());
            assert!(list.windows(2).all(|w| w[0].date < w[1].date));
        }
    }
}
