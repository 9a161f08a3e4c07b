//! The owner's cancellation policy, typed: how much of the deposit goes back when a paid
//! reservation is cancelled, by how many days before check-in it happens — or a credit for
//! another date instead of money. Pure: the caller passes the property's "today".
//!
//! Stored as text (`"30:100, 15:50"` or `"credito"`, see [`CancellationPolicy::to_text`]) in the
//! owner's settings; [`CancellationPolicy::parse`] also reads what an owner types
//! ("30 días 100 %", one band per line or separated by commas).

use crate::money::Money;
use chrono::NaiveDate;
use std::fmt;

/// At most this many bands: a policy a guest can read in one message.
pub const MAX_BANDS: usize = 6;
/// Bands further out than a year say nothing useful (and catch typos like "3000").
pub const MAX_DAYS: u32 = 365;

/// "`percent` % of the deposit back when cancelled at least `days_before` days before check-in".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundBand {
    pub days_before: u32,
    pub percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancellationPolicy {
    /// Sorted by `days_before`, furthest first; percents never grow as check-in nears. Earlier
    /// than every band: nothing back.
    Bands(Vec<RefundBand>),
    /// No money back: the deposit stays as a credit for another date.
    Credit,
}

/// What a cancellation gives back under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundDecision {
    /// Money back through the provider (`amount` may be zero: nothing back).
    Money { percent: u32, amount: Money, days_before: i64 },
    /// The whole deposit kept as a credit for another date.
    Credit { amount: Money, days_before: i64 },
}

impl RefundDecision {
    pub fn amount(&self) -> Money {
        match self {
            RefundDecision::Money { amount, .. } | RefundDecision::Credit { amount, .. } => *amount,
        }
    }
}

/// Why a typed policy is refused (shown to the owner next to the field, in Spanish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// A piece that is not "días porcentaje".
    Unreadable(String),
    TooManyBands,
    DaysOutOfRange(u32),
    PercentOutOfRange(u32),
    RepeatedDays(u32),
    /// More notice would give less money back (`days`, `percent`) vs. (`closer_days`, `closer_percent`).
    LessForMoreNotice {
        days: u32,
        percent: u32,
        closer_days: u32,
        closer_percent: u32,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Unreadable(piece) => write!(
                f,
                "No entiendo «{piece}». Escribí días y porcentaje, uno por línea o separados por comas (por ejemplo «30 días 100 %, 15 días 50 %»), o «crédito»."
            ),
            PolicyError::TooManyBands => write!(f, "Poné como mucho {MAX_BANDS} plazos."),
            PolicyError::DaysOutOfRange(d) => {
                write!(f, "{d} días es demasiado: los plazos van de 0 a {MAX_DAYS} días.")
            }
            PolicyError::PercentOutOfRange(p) => write!(f, "{p} % no puede ser: el porcentaje va de 0 a 100."),
            PolicyError::RepeatedDays(d) => write!(f, "El plazo de {d} días está dos veces."),
            PolicyError::LessForMoreNotice { days, percent, closer_days, closer_percent } => write!(
                f,
                "Cancelando con {days} días se devolvería el {percent} %, menos que con {closer_days} días ({closer_percent} %): con más anticipación no puede devolverse menos."
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

impl CancellationPolicy {
    /// Reads the owner's text. Empty → `Ok(None)` (no policy: refunds are decided by hand).
    pub fn parse(text: &str) -> Result<Option<CancellationPolicy>, PolicyError> {
        let folded = crate::text::fold(text.trim());
        if folded.is_empty() {
            return Ok(None);
        }
        if matches!(folded.as_str(), "credito" | "credito para otra fecha" | "credit") {
            return Ok(Some(CancellationPolicy::Credit));
        }
        let mut bands: Vec<RefundBand> = Vec::new();
        for piece in folded.split(['\n', ',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
            let numbers: Vec<&str> = piece.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).collect();
            // Only digits, spaces, ':' '%' '-' and the words an owner would write between them.
            let words_ok = piece
                .split(|c: char| c.is_ascii_digit() || c.is_whitespace() || matches!(c, ':' | '%' | '-' | '='))
                .filter(|w| !w.is_empty())
                .all(|w| matches!(w, "dias" | "dia" | "d" | "antes" | "hasta" | "con" | "de" | "anticipacion"));
            if numbers.len() != 2 || !words_ok {
                return Err(PolicyError::Unreadable(piece.to_string()));
            }
            let parse = |n: &str| n.parse::<u32>().map_err(|_| PolicyError::Unreadable(piece.to_string()));
            let (days_before, percent) = (parse(numbers[0])?, parse(numbers[1])?);
            if days_before > MAX_DAYS {
                return Err(PolicyError::DaysOutOfRange(days_before));
            }
            if percent > 100 {
                return Err(PolicyError::PercentOutOfRange(percent));
            }
            if bands.iter().any(|b| b.days_before == days_before) {
                return Err(PolicyError::RepeatedDays(days_before));
            }
            bands.push(RefundBand { days_before, percent });
        }
        if bands.len() > MAX_BANDS {
            return Err(PolicyError::TooManyBands);
        }
        bands.sort_by_key(|b| std::cmp::Reverse(b.days_before));
        for pair in bands.windows(2) {
            let (far, near) = (pair[0], pair[1]);
            if far.percent < near.percent {
                return Err(PolicyError::LessForMoreNotice {
                    days: far.days_before,
                    percent: far.percent,
                    closer_days: near.days_before,
                    closer_percent: near.percent,
                });
            }
        }
        Ok(Some(CancellationPolicy::Bands(bands)))
    }

    /// The canonical stored form (`parse(to_text())` gives the same policy back).
    pub fn to_text(&self) -> String {
        match self {
            CancellationPolicy::Credit => "credito".into(),
            CancellationPolicy::Bands(bands) => {
                bands.iter().map(|b| format!("{}:{}", b.days_before, b.percent)).collect::<Vec<_>>().join(", ")
            }
        }
    }

    /// What cancelling on `today` (the property's date) gives back of `paid`. The day boundary
    /// is the property's midnight: "30 days before" a check-in on the 31st is the 1st all day.
    pub fn refund(&self, paid: Money, check_in: NaiveDate, today: NaiveDate) -> RefundDecision {
        let days_before = (check_in - today).num_days();
        match self {
            CancellationPolicy::Credit => RefundDecision::Credit { amount: paid, days_before },
            CancellationPolicy::Bands(bands) => {
                let percent =
                    bands.iter().find(|b| days_before >= i64::from(b.days_before)).map(|b| b.percent).unwrap_or(0);
                let amount = match percent {
                    0 => Money::ZERO,
                    100 => paid,
                    // Whole pesos, never more than what was paid.
                    p => paid.percent(p).min(paid),
                };
                RefundDecision::Money { percent, amount, days_before }
            }
        }
    }

    /// The policy in a guest's words (Argentine Spanish).
    pub fn describe(&self) -> String {
        match self {
            CancellationPolicy::Credit => {
                "Si cancelás, la seña no se devuelve: queda como crédito para otra fecha.".into()
            }
            CancellationPolicy::Bands(bands) => {
                let mut parts = Vec::new();
                for (i, b) in bands.iter().enumerate() {
                    let what = match b.percent {
                        100 => "te devolvemos toda la seña".to_string(),
                        0 => "no hay devolución".to_string(),
                        p => format!("te devolvemos el {p} % de la seña"),
                    };
                    let when = match b.days_before {
                        0 => "hasta el día de entrada".to_string(),
                        1 => "con 1 día o más de anticipación".to_string(),
                        d => format!("con {d} días o más de anticipación"),
                    };
                    parts.push(if i == 0 { format!("Si cancelás {when}, {what}") } else { format!("{when}, {what}") });
                }
                let last = bands.last().map(|b| (b.days_before, b.percent));
                match last {
                    Some((d, p)) if p > 0 && d > 0 => parts.push("después, no hay devolución".into()),
                    None => parts.push("Si cancelás, la seña no se devuelve".into()),
                    _ => {}
                }
                format!("{}.", parts.join("; "))
            }
        }
    }
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// Computed at the cancellation, waiting for the owner.
    Pending,
    /// Approved (by the owner or automatically): the refund job is on its way.
    Approved,
    /// The provider gave the money back.
    Done,
    /// The provider refused it: the owner has to sort it out.
    Failed,
    /// The owner decided not to give money back.
    Declined,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 5] = [
        RefundStatus::Pending,
        RefundStatus::Approved,
        RefundStatus::Done,
        RefundStatus::Failed,
        RefundStatus::Declined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Approved => "approved",
            RefundStatus::Done => "done",
            RefundStatus::Failed => "failed",
            RefundStatus::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<RefundStatus> {
        RefundStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// For the owner.
    pub fn label(self) -> &'static str {
        match self {
            RefundStatus::Pending => "a aprobar",
            RefundStatus::Approved => "aprobada, en curso",
            RefundStatus::Done => "devuelta",
            RefundStatus::Failed => "rechazada por el medio de pago",
            RefundStatus::Declined => "sin devolución",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn standard() -> CancellationPolicy {
        CancellationPolicy::parse("30 días 100 %, 15 días 50 %").unwrap().unwrap()
    }

    #[test]
    fn owners_text_is_read_sorted_and_stored_canonically() {
        let p = standard();
        assert_eq!(
            p,
            CancellationPolicy::Bands(vec![
                RefundBand { days_before: 30, percent: 100 },
                RefundBand { days_before: 15, percent: 50 }
            ])
        );
        assert_eq!(p.to_text(), "30:100, 15:50");
        assert_eq!(CancellationPolicy::parse(&p.to_text()).unwrap().unwrap(), p);
        // Any order, lines or semicolons, "hasta … días antes".
        assert_eq!(CancellationPolicy::parse("15:50\n30:100").unwrap().unwrap(), p);
        assert_eq!(CancellationPolicy::parse("hasta 15 días antes 50%; hasta 30 dias antes 100%").unwrap().unwrap(), p);
        assert_eq!(CancellationPolicy::parse("Crédito").unwrap(), Some(CancellationPolicy::Credit));
        assert_eq!(CancellationPolicy::parse("  ").unwrap(), None);
    }

    #[test]
    fn nonsense_is_refused_in_spanish() {
        let err = |t: &str| CancellationPolicy::parse(t).unwrap_err();
        assert!(matches!(err("devolvemos todo"), PolicyError::Unreadable(_)));
        assert!(matches!(err("30 100 7"), PolicyError::Unreadable(_)));
        assert_eq!(err("400:100"), PolicyError::DaysOutOfRange(400));
        assert_eq!(err("30:120"), PolicyError::PercentOutOfRange(120));
        assert_eq!(err("30:100, 30:50"), PolicyError::RepeatedDays(30));
        assert!(matches!(err("30:50, 15:100"), PolicyError::LessForMoreNotice { days: 30, .. }));
        assert_eq!(err("1:1,2:2,3:3,4:4,5:5,6:6,7:7"), PolicyError::TooManyBands);
        assert!(err("30:50, 15:100").to_string().contains("con más anticipación no puede devolverse menos"));
        assert!(err("treinta").to_string().starts_with("No entiendo"));
    }

    #[test]
    fn each_band_and_its_edges() {
        let p = standard();
        let paid = Money::from_pesos(45_000);
        let check_in = d("2027-01-31");
        let at = |today: &str| p.refund(paid, check_in, d(today));
        // 31 and exactly 30 days before: everything back.
        assert_eq!(at("2026-12-31"), RefundDecision::Money { percent: 100, amount: paid, days_before: 31 });
        assert_eq!(at("2027-01-01"), RefundDecision::Money { percent: 100, amount: paid, days_before: 30 });
        // 29 days: the 50 % band, down to exactly 15 days.
        assert_eq!(
            at("2027-01-02"),
            RefundDecision::Money { percent: 50, amount: Money::from_pesos(22_500), days_before: 29 }
        );
        assert_eq!(at("2027-01-16").amount(), Money::from_pesos(22_500));
        // 14 days, the day of arrival, after it: nothing.
        assert_eq!(at("2027-01-17"), RefundDecision::Money { percent: 0, amount: Money::ZERO, days_before: 14 });
        assert_eq!(at("2027-01-31").amount(), Money::ZERO);
        assert_eq!(at("2027-02-02").amount(), Money::ZERO);
    }

    #[test]
    fn amounts_round_to_pesos_and_never_exceed_what_was_paid() {
        let p = CancellationPolicy::parse("10:33, 0:100").unwrap_err();
        assert!(matches!(p, PolicyError::LessForMoreNotice { .. }));
        let p = CancellationPolicy::parse("10:100, 0:33").unwrap().unwrap();
        let paid = Money(1_000_050); // $10.000,50
        assert_eq!(p.refund(paid, d("2027-01-31"), d("2027-01-21")).amount(), paid, "100 % is exactly what was paid");
        assert_eq!(p.refund(paid, d("2027-01-31"), d("2027-01-31")).amount(), Money::from_pesos(3_300));
        // A band at 0 days covers the arrival day but not after it.
        assert_eq!(p.refund(paid, d("2027-01-31"), d("2027-02-01")).amount(), Money::ZERO);
    }

    #[test]
    fn credit_keeps_the_deposit() {
        let paid = Money::from_pesos(30_000);
        let r = CancellationPolicy::Credit.refund(paid, d("2027-01-31"), d("2027-01-30"));
        assert_eq!(r, RefundDecision::Credit { amount: paid, days_before: 1 });
    }

    #[test]
    fn guests_read_it_in_spanish() {
        assert_eq!(
            standard().describe(),
            "Si cancelás con 30 días o más de anticipación, te devolvemos toda la seña; con 15 días o más de anticipación, te devolvemos el 50 % de la seña; después, no hay devolución."
        );
        assert!(CancellationPolicy::Credit.describe().contains("crédito para otra fecha"));
    }

    #[test]
    fn refund_states_round_trip() {
        for s in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(RefundStatus::parse("nope"), None);
    }
}
