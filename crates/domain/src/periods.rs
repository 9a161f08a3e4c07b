//! Named periods of the Argentine calendar, as guests say them: "el finde largo", "Carnaval",
//! "Semana Santa", "Navidad", "Año Nuevo", "la primera quincena de enero", "las vacaciones de
//! invierno". Built on the holiday table of [`crate::holidays`]; pure date arithmetic.
//!
//! A **long weekend** ("fin de semana largo") is a run of at least three consecutive days off —
//! Saturdays, Sundays and national holidays (bridge days included) — with at least one holiday
//! in it. Its nights are the nights whose next day is a day off of the run: for Carnaval 2027
//! (Saturday 6 to Tuesday 9 February) that is Friday 5 to Monday 8. Pricing uses this for
//! holiday rules ([`is_holiday_night`]).
//!
//! **Winter school holidays** are set by each province every year. Where a year's calendar is
//! not in [`WINTER_PUBLISHED`], the dates are an estimate from the usual pattern (three groups of
//! provinces starting one week apart in July) and [`WinterHolidays::estimated`] says so.

use crate::holidays::{self, Holiday};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// Saturday, Sunday or a national holiday.
pub fn is_day_off(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || holidays::is_holiday(date)
}

fn next(d: NaiveDate) -> Option<NaiveDate> {
    d.checked_add_days(Days::new(1))
}

fn prev(d: NaiveDate) -> Option<NaiveDate> {
    d.checked_sub_days(Days::new(1))
}

/// A run of consecutive days off with at least one holiday: a long weekend (or a longer break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongWeekend {
    /// The first day off.
    pub first: NaiveDate,
    /// The last day off (guests usually leave that day).
    pub last: NaiveDate,
    /// The holidays inside the run.
    pub holidays: Vec<Holiday>,
}

impl LongWeekend {
    /// Whether a holiday of the run falls in `month`.
    pub fn has_holiday_in(&self, month: u32) -> bool {
        self.holidays.iter().any(|h| h.date.month() == month)
    }

    /// The name guests use when the run is a named one ("Carnaval", "Navidad"…).
    pub fn name(&self) -> Option<&'static str> {
        self.holidays.first().map(|h| h.name)
    }
}

/// The long weekend that contains `date`, if any.
pub fn long_weekend_containing(date: NaiveDate) -> Option<LongWeekend> {
    if !is_day_off(date) {
        return None;
    }
    let mut first = date;
    while let Some(p) = prev(first).filter(|p| is_day_off(*p)) {
        first = p;
    }
    let mut last = date;
    while let Some(n) = next(last).filter(|n| is_day_off(*n)) {
        last = n;
    }
    if (last - first).num_days() < 2 {
        return None;
    }
    let holidays: Vec<Holiday> = first.iter_days().take_while(|d| *d <= last).filter_map(holidays::holiday).collect();
    (!holidays.is_empty()).then_some(LongWeekend { first, last, holidays })
}

/// Long weekends whose first day is in `[from, to)`, in date order.
pub fn long_weekends(from: NaiveDate, to: NaiveDate) -> Vec<LongWeekend> {
    let mut out = Vec::new();
    let mut d = from;
    while d < to {
        if let Some(lw) = long_weekend_containing(d)
            && lw.first >= from
        {
            d = next(lw.last).unwrap_or(to);
            out.push(lw);
            continue;
        }
        d = match next(d) {
            Some(n) => n,
            None => break,
        };
    }
    out
}

/// The next long weekend that starts after `today` (within two years; the holiday table ends
/// in [`holidays::LAST_YEAR`]).
pub fn next_long_weekend(today: NaiveDate) -> Option<LongWeekend> {
    let from = next(today)?;
    long_weekends(from, from + Days::new(730)).into_iter().next()
}

/// The first long weekend after `today` with a holiday in `month` ("el finde largo de octubre").
pub fn long_weekend_in_month(today: NaiveDate, month: u32) -> Option<LongWeekend> {
    let from = next(today)?;
    long_weekends(from, from + Days::new(730)).into_iter().find(|lw| lw.has_holiday_in(month))
}

/// Whether a night belongs to a long weekend or is the eve of a holiday: its next day is a
/// holiday, or a day off of a long weekend. Holiday rate rules (`RuleScope::HolidayEves`) price
/// these nights.
pub fn is_holiday_night(night: NaiveDate) -> bool {
    let Some(day) = next(night) else { return false };
    holidays::is_holiday(day) || long_weekend_containing(day).is_some()
}

/// A stay-shaped period: arrive `check_in`, leave `check_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: NaiveDate,
    /// Exclusive: the departure day, or the first day after a window.
    pub end: NaiveDate,
}

/// Carnaval of `year`: the long weekend around Carnival Monday and Tuesday (Saturday to
/// Tuesday), as a stay from the first day off to the last.
pub fn carnaval(year: i32) -> Option<Span> {
    let monday = holidays::easter_checked(year)?.checked_sub_days(Days::new(48))?;
    let lw = long_weekend_containing(monday);
    let (first, last) = match lw {
        Some(lw) => (lw.first, lw.last),
        None => (monday.checked_sub_days(Days::new(2))?, next(monday)?),
    };
    Some(Span { start: first, end: last })
}

/// Semana Santa of `year`: from Holy Thursday to Easter Sunday.
pub fn semana_santa(year: i32) -> Option<Span> {
    let easter = holidays::easter_checked(year)?;
    Some(Span { start: easter.checked_sub_days(Days::new(3))?, end: easter })
}

/// Christmas: the 24th to the 26th of December.
pub fn navidad(year: i32) -> Option<Span> {
    Some(Span { start: NaiveDate::from_ymd_opt(year, 12, 24)?, end: NaiveDate::from_ymd_opt(year, 12, 26)? })
}

/// New Year: the 31st of December to the 2nd of January.
pub fn ano_nuevo(year: i32) -> Option<Span> {
    Some(Span { start: NaiveDate::from_ymd_opt(year, 12, 31)?, end: NaiveDate::from_ymd_opt(year + 1, 1, 2)? })
}

/// The first (1st to 15th: departure the 16th) or second (16th to the month's end) fortnight.
pub fn fortnight(year: i32, month: u32, second: bool) -> Option<Span> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let sixteenth = NaiveDate::from_ymd_opt(year, month, 16)?;
    let next_month = first.checked_add_months(chrono::Months::new(1))?;
    Some(if second { Span { start: sixteenth, end: next_month } } else { Span { start: first, end: sixteenth } })
}

/// The whole month, as a window.
pub fn month(year: i32, month: u32) -> Option<Span> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    Some(Span { start: first, end: first.checked_add_months(chrono::Months::new(1))? })
}

/// Argentina's 24 jurisdictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Province {
    BuenosAires,
    Caba,
    Catamarca,
    Chaco,
    Chubut,
    Cordoba,
    Corrientes,
    EntreRios,
    Formosa,
    Jujuy,
    LaPampa,
    LaRioja,
    Mendoza,
    Misiones,
    Neuquen,
    RioNegro,
    Salta,
    SanJuan,
    SanLuis,
    SantaCruz,
    SantaFe,
    SantiagoDelEstero,
    TierraDelFuego,
    Tucuman,
}

impl Province {
    pub const ALL: [Province; 24] = [
        Province::BuenosAires,
        Province::Caba,
        Province::Catamarca,
        Province::Chaco,
        Province::Chubut,
        Province::Cordoba,
        Province::Corrientes,
        Province::EntreRios,
        Province::Formosa,
        Province::Jujuy,
        Province::LaPampa,
        Province::LaRioja,
        Province::Mendoza,
        Province::Misiones,
        Province::Neuquen,
        Province::RioNegro,
        Province::Salta,
        Province::SanJuan,
        Province::SanLuis,
        Province::SantaCruz,
        Province::SantaFe,
        Province::SantiagoDelEstero,
        Province::TierraDelFuego,
        Province::Tucuman,
    ];

    /// How it is written in a sentence ("de Córdoba", "de la Ciudad de Buenos Aires").
    pub fn name(self) -> &'static str {
        match self {
            Province::BuenosAires => "la provincia de Buenos Aires",
            Province::Caba => "la Ciudad de Buenos Aires",
            Province::Catamarca => "Catamarca",
            Province::Chaco => "Chaco",
            Province::Chubut => "Chubut",
            Province::Cordoba => "Córdoba",
            Province::Corrientes => "Corrientes",
            Province::EntreRios => "Entre Ríos",
            Province::Formosa => "Formosa",
            Province::Jujuy => "Jujuy",
            Province::LaPampa => "La Pampa",
            Province::LaRioja => "La Rioja",
            Province::Mendoza => "Mendoza",
            Province::Misiones => "Misiones",
            Province::Neuquen => "Neuquén",
            Province::RioNegro => "Río Negro",
            Province::Salta => "Salta",
            Province::SanJuan => "San Juan",
            Province::SanLuis => "San Luis",
            Province::SantaCruz => "Santa Cruz",
            Province::SantaFe => "Santa Fe",
            Province::SantiagoDelEstero => "Santiago del Estero",
            Province::TierraDelFuego => "Tierra del Fuego",
            Province::Tucuman => "Tucumán",
        }
    }

    /// 0, 1 or 2: which of the three July weeks the province's break usually starts in
    /// (the pattern of the 2025 and 2026 school calendars).
    fn winter_group(self) -> u64 {
        match self {
            Province::Cordoba
            | Province::Mendoza
            | Province::SanLuis
            | Province::SantaFe
            | Province::EntreRios
            | Province::Corrientes
            | Province::Misiones => 0,
            Province::Chaco
            | Province::Formosa
            | Province::Jujuy
            | Province::LaRioja
            | Province::Neuquen
            | Province::RioNegro
            | Province::Salta
            | Province::SanJuan
            | Province::Chubut
            | Province::SantaCruz
            | Province::TierraDelFuego
            | Province::Tucuman => 1,
            Province::BuenosAires
            | Province::Caba
            | Province::LaPampa
            | Province::SantiagoDelEstero
            | Province::Catamarca => 2,
        }
    }
}

/// A winter break as a province's school calendar published it.
#[derive(Debug, Clone, Copy)]
pub struct PublishedBreak {
    pub year: i32,
    pub province: Province,
    /// (month, day) of the first Monday and of the last Friday.
    pub first_monday: (u32, u32),
    pub last_friday: (u32, u32),
}

/// Published winter breaks. Empty until a school calendar is confirmed here; years without an
/// entry fall back to the estimate.
pub const WINTER_PUBLISHED: &[PublishedBreak] = &[];

/// A province's winter school break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinterHolidays {
    /// The first Monday without school.
    pub first_monday: NaiveDate,
    /// The last Friday without school.
    pub last_friday: NaiveDate,
    /// Not from a published calendar: the usual pattern.
    pub estimated: bool,
}

impl WinterHolidays {
    /// The days a family could travel: the Saturday before to the Sunday after (as a window,
    /// end exclusive).
    pub fn window(&self) -> Span {
        Span { start: self.first_monday - Days::new(2), end: self.last_friday + Days::new(3) }
    }
}

/// The winter break of `province` in `year`.
pub fn winter_holidays(year: i32, province: Province) -> Option<WinterHolidays> {
    if let Some(&PublishedBreak { first_monday: (m1, d1), last_friday: (m2, d2), .. }) =
        WINTER_PUBLISHED.iter().find(|b| b.year == year && b.province == province)
    {
        return Some(WinterHolidays {
            first_monday: NaiveDate::from_ymd_opt(year, m1, d1)?,
            last_friday: NaiveDate::from_ymd_opt(year, m2, d2)?,
            estimated: false,
        });
    }
    // The first group starts on the first Monday on or after the 6th of July.
    let sixth = NaiveDate::from_ymd_opt(year, 7, 6)?;
    let to_monday = (7 - sixth.weekday().num_days_from_monday()) % 7;
    let first_monday = sixth + Days::new(u64::from(to_monday) + 7 * province.winter_group());
    Some(WinterHolidays { first_monday, last_friday: first_monday + Days::new(11), estimated: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn long_weekends_are_runs_of_days_off_with_a_holiday() {
        let list: Vec<(NaiveDate, NaiveDate)> =
            long_weekends(d("2026-11-01"), d("2027-11-01")).iter().map(|l| (l.first, l.last)).collect();
        assert_eq!(
            list,
            vec![
                (d("2026-11-21"), d("2026-11-23")),
                (d("2026-12-05"), d("2026-12-08")),
                (d("2026-12-25"), d("2026-12-27")),
                (d("2027-01-01"), d("2027-01-03")),
                (d("2027-02-06"), d("2027-02-09")),
                (d("2027-03-26"), d("2027-03-28")),
                (d("2027-04-02"), d("2027-04-04")),
                (d("2027-06-19"), d("2027-06-21")),
                (d("2027-07-09"), d("2027-07-11")),
                (d("2027-08-14"), d("2027-08-16")),
                (d("2027-10-09"), d("2027-10-11")),
            ]
        );
        // A plain weekend is not one; a Saturday holiday alone is not either.
        assert!(long_weekend_containing(d("2027-01-16")).is_none());
        assert!(long_weekend_containing(d("2027-11-20")).is_none());
    }

    #[test]
    fn next_and_by_month() {
        // On the last day of one long weekend, "el finde largo" is the next one.
        assert_eq!(next_long_weekend(d("2026-11-23")).unwrap().first, d("2026-12-05"));
        assert_eq!(next_long_weekend(d("2026-12-07")).unwrap().first, d("2026-12-25"));
        assert_eq!(long_weekend_in_month(d("2026-11-23"), 10).unwrap().first, d("2027-10-09"));
        assert_eq!(long_weekend_in_month(d("2026-11-23"), 7).unwrap().last, d("2027-07-11"));
    }

    #[test]
    fn named_periods() {
        assert_eq!(carnaval(2027), Some(Span { start: d("2027-02-06"), end: d("2027-02-09") }));
        assert_eq!(carnaval(2026), Some(Span { start: d("2026-02-14"), end: d("2026-02-17") }));
        assert_eq!(semana_santa(2027), Some(Span { start: d("2027-03-25"), end: d("2027-03-28") }));
        assert_eq!(navidad(2026).unwrap().end, d("2026-12-26"));
        assert_eq!(ano_nuevo(2026), Some(Span { start: d("2026-12-31"), end: d("2027-01-02") }));
        assert_eq!(fortnight(2027, 1, false), Some(Span { start: d("2027-01-01"), end: d("2027-01-16") }));
        assert_eq!(fortnight(2027, 2, true), Some(Span { start: d("2027-02-16"), end: d("2027-03-01") }));
        assert_eq!(month(2027, 12).unwrap().end, d("2028-01-01"));
    }

    #[test]
    fn carnaval_nights_are_holiday_nights() {
        // Friday to Monday night of Carnaval 2027; Tuesday night (back to work Wednesday) is not.
        for n in ["2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08"] {
            assert!(is_holiday_night(d(n)), "{n}");
        }
        assert!(!is_holiday_night(d("2027-02-09")));
        assert!(!is_holiday_night(d("2027-02-04")));
        // A plain weekend is not; the eve of a mid-week holiday is.
        assert!(!is_holiday_night(d("2027-01-15")));
        assert!(is_holiday_night(d("2027-12-07")));
    }

    #[test]
    fn winter_holidays_follow_the_usual_groups() {
        let cba = winter_holidays(2027, Province::Cordoba).unwrap();
        assert_eq!((cba.first_monday, cba.last_friday, cba.estimated), (d("2027-07-12"), d("2027-07-23"), true));
        assert_eq!(cba.window(), Span { start: d("2027-07-10"), end: d("2027-07-26") });
        let ba = winter_holidays(2027, Province::BuenosAires).unwrap();
        assert_eq!(ba.window(), Span { start: d("2027-07-24"), end: d("2027-08-09") });
        // 2026 as published: Córdoba from the 6th, Buenos Aires from the 20th of July.
        assert_eq!(winter_holidays(2026, Province::Cordoba).unwrap().first_monday, d("2026-07-06"));
        assert_eq!(winter_holidays(2026, Province::BuenosAires).unwrap().first_monday, d("2026-07-20"));
    }
}
