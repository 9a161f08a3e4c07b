//! Normalisation and tokenisation.
//!
//! Text is lower-cased, accents are stripped (`á`→`a`, `ñ`→`n`, `ü`→`u`), runs of three or
//! more equal letters are collapsed (`holaaa`→`hola`) and a doubled final letter is collapsed
//! (`buenass`→`buenas`). Tokens are words (letters), numbers (digit runs, with
//! `100.000`/`1,500` merged into one long number) and the few symbols the grammar uses.
//! Letters and digits glued together are split (`15dic` → `15` `dic`), ordinal suffixes are
//! dropped (`1ro`, `1°` → `1`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Num,
    Sym,
}

#[derive(Debug, Clone)]
pub(crate) struct Tok {
    pub kind: Kind,
    /// Normalised text (word letters, digits, or the symbol).
    pub text: String,
    /// Numeric value for `Num` (saturating).
    pub val: u32,
    /// Number of digits for `Num`.
    pub digits: usize,
    /// Whitespace (or an ignored character) separates this token from the previous one.
    pub space_before: bool,
    /// A `Num` preceded by `$` or followed by a money word.
    pub money: bool,
}

impl Tok {
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.text == w
    }
    pub fn is_sym(&self, c: char) -> bool {
        self.kind == Kind::Sym && self.text.starts_with(c)
    }
    pub fn word(&self) -> Option<&str> {
        (self.kind == Kind::Word).then_some(self.text.as_str())
    }
}

/// Map one character to its normalised form: lower-case ASCII letter, digit, kept symbol,
/// `None` for a separator. Non-Latin letters are kept (lower-cased) as word characters.
fn fold(c: char) -> Option<char> {
    let c = domain::text::unaccent(c);
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_lowercase());
    }
    match c {
        '/' | '-' | '.' | ',' | ':' | '$' | '?' | '%' | '>' | '°' | 'º' | '+' => Some(c),
        '–' | '—' => Some('-'),
        '→' => Some('>'),
        '¿' => Some('?'),
        _ if c.is_alphabetic() => c.to_lowercase().next(),
        _ => None,
    }
}

fn char_class(c: char) -> Kind {
    if c.is_ascii_digit() {
        Kind::Num
    } else if c.is_alphabetic() {
        Kind::Word
    } else {
        Kind::Sym
    }
}

/// Collapse runs of 3+ equal letters to one, and a doubled last letter to one.
fn squeeze(w: &str) -> String {
    let chars: Vec<char> = w.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut j = i;
        while j < chars.len() && chars[j] == c {
            j += 1;
        }
        let run = j - i;
        if run >= 3 || (run == 2 && j == chars.len() && chars.len() > 3) {
            out.push(c);
        } else {
            out.extend(std::iter::repeat_n(c, run));
        }
        i = j;
    }
    out.into_iter().collect()
}

const ORDINAL_SUFFIXES: &[&str] = &["ro", "ero", "er", "do", "to", "vo", "mo", "ra", "era", "da", "nda", "ta", "va"];
const MONEY_AFTER: &[&str] =
    &["mil", "k", "pesos", "peso", "lucas", "luca", "usd", "dolares", "dolar", "ars", "mango", "mangos"];

pub(crate) fn tokenize(text: &str) -> Vec<Tok> {
    let mut toks: Vec<Tok> = Vec::new();
    let mut cur = String::new();
    let mut cur_kind = Kind::Sym;
    let mut space = true;
    let flush = |toks: &mut Vec<Tok>, cur: &mut String, kind: Kind, space: bool| {
        if cur.is_empty() {
            return;
        }
        let tok = match kind {
            Kind::Num => {
                let mut val: u32 = 0;
                for b in cur.bytes() {
                    val = val.saturating_mul(10).saturating_add(u32::from(b - b'0'));
                }
                Tok { kind, text: std::mem::take(cur), val, digits: 0, space_before: space, money: false }
            }
            Kind::Word => Tok { kind, text: squeeze(cur), val: 0, digits: 0, space_before: space, money: false },
            Kind::Sym => Tok { kind, text: std::mem::take(cur), val: 0, digits: 0, space_before: space, money: false },
        };
        cur.clear();
        toks.push(tok);
    };
    for raw in text.chars() {
        let Some(c) = fold(raw) else {
            flush(&mut toks, &mut cur, cur_kind, space);
            space = true;
            continue;
        };
        let k = char_class(c);
        if !cur.is_empty() && (k != cur_kind || k == Kind::Sym) {
            flush(&mut toks, &mut cur, cur_kind, space);
            space = false;
        }
        cur_kind = k;
        cur.push(c);
        // Guard pathological lengths (a 4096-char word is still bounded, but keep numbers sane).
    }
    flush(&mut toks, &mut cur, cur_kind, space);
    for t in &mut toks {
        if t.kind == Kind::Num {
            t.digits = t.text.len();
        }
    }
    post_process(toks)
}

fn post_process(mut toks: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        // Thousands separators: 100.000 / 1,500 / 1.500.000 → one long number.
        if t.kind == Kind::Num && t.digits <= 3 {
            let mut j = i;
            let mut text = t.text.clone();
            while j + 2 < toks.len()
                && (toks[j + 1].is_sym('.') || toks[j + 1].is_sym(','))
                && !toks[j + 1].space_before
                && toks[j + 2].kind == Kind::Num
                && toks[j + 2].digits == 3
                && !toks[j + 2].space_before
            {
                text.push_str(&toks[j + 2].text);
                j += 2;
            }
            if j > i {
                let mut merged = t.clone();
                merged.val = text.parse().unwrap_or(u32::MAX);
                merged.digits = text.len();
                merged.text = text;
                merged.money = true;
                out.push(merged);
                i = j + 1;
                continue;
            }
        }
        // Ordinals: 1ro, 1er, 1°.
        if t.kind != Kind::Num
            && !t.space_before
            && out.last().is_some_and(|p| p.kind == Kind::Num && p.digits <= 2)
            && (t.is_sym('°') || t.is_sym('º') || (t.kind == Kind::Word && ORDINAL_SUFFIXES.contains(&t.text.as_str())))
        {
            i += 1;
            continue;
        }
        let empty = Tok { kind: Kind::Sym, text: String::new(), val: 0, digits: 0, space_before: false, money: false };
        out.push(std::mem::replace(&mut toks[i], empty));
        i += 1;
    }
    // Money marks.
    for k in 0..out.len() {
        if out[k].kind != Kind::Num {
            continue;
        }
        let dollar = k > 0 && out[k - 1].is_sym('$');
        let after = out.get(k + 1).and_then(|n| n.word()).is_some_and(|w| MONEY_AFTER.contains(&w));
        if dollar || after {
            out[k].money = true;
        }
    }
    out
}

/// Optimal string alignment distance (Damerau–Levenshtein with adjacent transpositions),
/// bounded: returns `max + 1` as soon as the distance must exceed `max`.
pub(crate) fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    if a.len() > 40 || b.len() > 40 {
        return if a == b { 0 } else { max + 1 };
    }
    let n = b.len();
    // Three rolling rows on the stack (both words are at most 40 bytes here).
    let mut rows = [[0usize; 41]; 3];
    let (mut p2, mut p1, mut cu) = (0usize, 1usize, 2usize);
    for (j, v) in rows[p1].iter_mut().enumerate().take(n + 1) {
        *v = j;
    }
    for i in 1..=a.len() {
        rows[cu][0] = i;
        let mut row_min = i;
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[p1][j] + 1).min(rows[cu][j - 1] + 1).min(rows[p1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[p2][j - 2] + 1);
            }
            rows[cu][j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
        (p2, p1, cu) = (p1, cu, p2);
    }
    rows[p1][n]
}

/// Is `w` the keyword `k`, allowing one typo for keywords of 6+ letters?
pub(crate) fn fuzzy_eq(w: &str, k: &str) -> bool {
    if w == k {
        return true;
    }
    let len = k.len();
    if len < 6 || w.len() < 5 {
        return false;
    }
    let max = if len >= 9 { 2 } else { 1 };
    edit_distance(w, k, max) <= max
}

/// Spanish number words up to thirty (used for counts, not for dates).
pub(crate) fn number_word(w: &str) -> Option<u32> {
    Some(match w {
        "un" | "uno" | "una" => 1,
        "dos" => 2,
        "tres" => 3,
        "cuatro" => 4,
        "cinco" => 5,
        "seis" => 6,
        "siete" => 7,
        "ocho" => 8,
        "nueve" => 9,
        "diez" | "dies" => 10,
        "once" => 11,
        "doce" => 12,
        "trece" => 13,
        "catorce" => 14,
        "quince" => 15,
        "dieciseis" => 16,
        "diecisiete" => 17,
        "dieciocho" => 18,
        "diecinueve" => 19,
        "veinte" => 20,
        "veintiuno" | "veintiun" | "veintiuna" => 21,
        "veintidos" => 22,
        "veintitres" => 23,
        "veinticuatro" => 24,
        "veinticinco" => 25,
        "treinta" => 30,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn normalises_and_splits() {
        assert_eq!(words("Holaaa, MAÑANA 15dic"), ["hola", ",", "manana", "15", "dic"]);
        assert_eq!(words("del 1ro al 4"), ["del", "1", "al", "4"]);
        assert_eq!(words("$100.000 x noche"), ["$", "100000", "x", "noche"]);
        assert_eq!(words("buenass graciasss"), ["buenas", "gracias"]);
        assert_eq!(words("arrayán parrilla"), ["arrayan", "parrilla"]);
        let t = tokenize("15/12");
        assert!(!t[1].space_before && !t[2].space_before);
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("coihue", "coiue", 2), 1);
        assert_eq!(edit_distance("febrero", "febero", 2), 1);
        assert_eq!(edit_distance("diciembre", "dicembre", 2), 1);
        assert_eq!(edit_distance("ab", "ba", 2), 1);
        assert!(edit_distance("hola", "chau", 1) > 1);
    }
}
