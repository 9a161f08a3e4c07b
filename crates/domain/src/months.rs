//! Month names as rioplatense Spanish writes them: the dialogue's "15 de enero" and the
//! dashboard's calendar and charts ("ene").

use chrono::{Datelike, NaiveDate};

/// January to December.
pub const NAMES: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// "enero".
pub fn name(d: NaiveDate) -> &'static str {
    NAMES[d.month0() as usize]
}

/// "ene", "sep": the first three letters.
pub fn short(d: NaiveDate) -> &'static str {
    &name(d)[..3]
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_names_are_three_letters() {
        let d = |m| chrono::NaiveDate::from_ymd_opt(2027, m, 1).unwrap();
        assert_eq!((super::name(d(9)), super::short(d(9))), ("septiembre", "sep"));
        assert_eq!(super::short(d(1)), "ene");
    }
}
