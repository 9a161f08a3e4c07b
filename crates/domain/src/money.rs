//! Money in integer centavos of ARS. Floats never touch an amount.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in centavos (1 peso = 100 centavos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_pesos(pesos: i64) -> Money {
        Money(pesos * 100)
    }

    pub fn centavos(self) -> i64 {
        self.0
    }

    /// Parses "12000", "12000.5" or "12000.50" (a dot as decimal separator) into centavos.
    pub fn parse(text: &str) -> Option<Money> {
        let text = text.trim();
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        if whole.is_empty() || whole.len() > 15 || frac.len() > 2 {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut cents: i64 = whole.parse::<i64>().ok()? * 100;
        if !frac.is_empty() {
            let f: i64 = frac.parse().ok()?;
            cents += if frac.len() == 1 { f * 10 } else { f };
        }
        Some(Money(if neg { -cents } else { cents }))
    }

    /// Multiplies by `num/den` and rounds half up (away from zero) to whole pesos.
    pub fn scale_to_pesos(self, num: i128, den: i128) -> Money {
        Money(round_half_up(self.0 as i128 * num, den * 100) as i64 * 100)
    }

    /// As guests read it: "$40.000", "$40.000,50" (a dot every three digits, centavos only when
    /// present).
    pub fn to_ars(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let pesos = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, ch) in pesos.chars().enumerate() {
            if i > 0 && (pesos.len() - i).is_multiple_of(3) {
                grouped.push('.');
            }
            grouped.push(ch);
        }
        match abs % 100 {
            0 => format!("{sign}${grouped}"),
            cents => format!("{sign}${grouped},{cents:02}"),
        }
    }

    /// As the owner reads it in the dashboard and the notes: "$ 153.900", "$ 1.234,50" (a space
    /// after the sign, like Argentine price tags).
    pub fn to_ars_spaced(self) -> String {
        self.to_ars().replacen('$', "$ ", 1)
    }

    /// `self × percent / 100`, rounded half up to whole pesos.
    pub fn percent(self, percent: u32) -> Money {
        self.scale_to_pesos(percent as i128, 100)
    }
}

/// Integer division rounding half away from zero.
fn round_half_up(num: i128, den: i128) -> i128 {
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den.abs() { q + num.signum() * den.signum() } else { q }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

/// "40000.00": pesos with two decimals, as the original API printed amounts.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Money(4_000_000).to_string(), "40000.00");
        assert_eq!(Money(5).to_string(), "0.05");
        assert_eq!(Money(-150).to_string(), "-1.50");
    }

    #[test]
    fn reads_like_argentina() {
        assert_eq!(Money::from_pesos(105_300).to_ars(), "$105.300");
        assert_eq!(Money(150).to_ars(), "$1,50");
        assert_eq!(Money::from_pesos(-1_000).to_ars(), "-$1.000");
    }

    #[test]
    fn parses_decimal_text() {
        assert_eq!(Money::parse("12000"), Some(Money(1_200_000)));
        assert_eq!(Money::parse("12000.5"), Some(Money(1_200_050)));
        assert_eq!(Money::parse("0.05"), Some(Money(5)));
        assert_eq!(Money::parse("1.234"), None);
        assert_eq!(Money::parse("abc"), None);
        assert_eq!(Money::parse(""), None);
    }

    #[test]
    fn rounds_half_up_to_pesos() {
        // 30 % of 48 001 pesos = 14 400.3 → 14 400
        assert_eq!(Money::from_pesos(48_001).percent(30), Money::from_pesos(14_400));
        // 30 % of 48 005 pesos = 14 401.5 → 14 402
        assert_eq!(Money::from_pesos(48_005).percent(30), Money::from_pesos(14_402));
    }
}
