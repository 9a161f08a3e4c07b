//! Text that people and providers send us. Control characters are never text: a NUL byte is
//! refused by PostgreSQL (and silently kept by SQLite), the others break logs, CSV and HTML.
//! Tab, newline and carriage return stay allowed: notes and descriptions have lines.

use std::borrow::Cow;

/// Whether `c` may never appear in text we store: C0 and C1 controls and DEL, except tab,
/// newline and carriage return.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `s` holds a character that may never be stored.
pub fn has_forbidden(s: &str) -> bool {
    s.chars().any(is_forbidden)
}

/// The first forbidden character, for an error message (`U+0000`).
pub fn first_forbidden(s: &str) -> Option<String> {
    s.chars().find(|&c| is_forbidden(c)).map(|c| format!("U+{:04X}", c as u32))
}

/// `s` without its forbidden characters (what a provider sent us must still be stored).
pub fn strip(s: &str) -> Cow<'_, str> {
    if has_forbidden(s) { Cow::Owned(s.chars().filter(|&c| !is_forbidden(c)).collect()) } else { Cow::Borrowed(s) }
}

/// A single line of text (a name, a phone, a search): no control characters at all, newlines
/// included.
pub fn is_single_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// An accented Latin letter's base letter, in lower case (`á`, `Á` → `a`, `ñ` → `n`, `ü` → `u`,
/// `ç` → `c`); any other character comes back as it is. The one table the parsers, the dialogue
/// and the slugs share.
pub fn unaccent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        _ => c,
    }
}

/// Lower case without accents: "Cabaña ARRAYÁN" → "cabana arrayan" (everything else kept).
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).map(unaccent).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_accents_and_case_only() {
        assert_eq!(fold("Cabaña ARRAYÁN, São Pingüino ç"), "cabana arrayan, sao pinguino c");
        assert_eq!(unaccent('Ñ'), 'n');
        assert_eq!(unaccent('B'), 'B');
        assert_eq!(unaccent('ß'), 'ß');
    }

    #[test]
    fn controls_are_found_and_stripped_but_lines_and_tabs_stay() {
        assert!(has_forbidden("a\0b"));
        assert!(has_forbidden("a\u{7f}"));
        assert!(has_forbidden("a\u{85}"));
        assert!(!has_forbidden("línea 1\nlínea 2\r\n\tfin ñandú 🙂"));
        assert_eq!(first_forbidden("ok\u{1}"), Some("U+0001".into()));
        assert_eq!(strip("Ju\0ana\u{1b}"), "Juana");
        assert!(matches!(strip("limpio"), Cow::Borrowed(_)));
        assert!(!is_single_line("a\nb"));
        assert!(is_single_line("Ana Pérez"));
    }
}
