//! A guest's phone number, as the per-contact hold limit counts it: `+` and 8–15 digits
//! (E.164), whatever spaces, dashes, dots or brackets it was written with.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Phone(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("el teléfono solo puede tener números, espacios, guiones, puntos, paréntesis y un + al principio")]
    Characters,
    #[error("el teléfono debe tener el código de país y entre 8 y 15 dígitos, por ejemplo +54 9 294 412-3456")]
    Length,
}

impl Phone {
    /// `+54 9 (294) 412-3456`, `00549294 4123456` and `5492944123456` are all `+5492944123456`.
    /// Without `+` or `00` the digits are taken as international (as WhatsApp writes them).
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let s = input.trim();
        let (plus, rest) = match s.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if !rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')) {
            return Err(PhoneError::Characters);
        }
        let mut digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if !plus && let Some(international) = digits.strip_prefix("00") {
            digits = international.to_string();
        }
        // E.164: a country code never starts with 0; at most 15 digits in all.
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneError::Length);
        }
        Ok(Phone(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_number_written_many_ways_is_one_phone() {
        for written in
            ["+5492944123456", "+54 9 294 412-3456", "+54 9 (294) 412.3456", "00549294 4123456", "5492944123456"]
        {
            assert_eq!(Phone::parse(written).unwrap().as_str(), "+5492944123456", "{written}");
        }
    }

    #[test]
    fn made_up_and_odd_numbers_are_refused() {
        assert_eq!(Phone::parse("fake-1234"), Err(PhoneError::Characters));
        assert_eq!(Phone::parse("+54 9 294 412 3456 int 2"), Err(PhoneError::Characters));
        assert_eq!(Phone::parse("++5492944123456"), Err(PhoneError::Characters));
        assert_eq!(Phone::parse("1234"), Err(PhoneError::Length));
        assert_eq!(Phone::parse(""), Err(PhoneError::Length));
        assert_eq!(Phone::parse("+0123456789"), Err(PhoneError::Length));
        assert_eq!(Phone::parse("+1234567890123456"), Err(PhoneError::Length));
        assert_eq!(Phone::parse("0294 4123456").map(|p| p.to_string()), Err(PhoneError::Length));
    }
}
