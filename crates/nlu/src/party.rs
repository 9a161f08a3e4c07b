//! Party size: "somos 4", "para 4 (personas)", "4 adultos y 2 niños", "una pareja",
//! "mi pareja y yo", "familia de 5", "vamos a ser seis". Numbers already read as dates or
//! lengths, prices, times and booking codes are never counted.

use crate::text::{Kind, Tok, number_word};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Noun {
    Total,
    Adult,
    Kid,
    Couple,
}

fn noun(w: &str) -> Option<Noun> {
    let total = ["person", "pax", "huesped", "integrante", "pasajer", "amig", "adolescent"];
    let adult = ["adult", "mayor", "grande", "jubilad", "abuel"];
    let kid = [
        "nino", "nina", "chic", "nene", "nena", "menor", "hijo", "hija", "bebe", "chiquit", "peque", "criatura",
        "chique", "nieto", "nieta", "sobrin", "pibe", "piba",
    ];
    if total.iter().any(|p| w.starts_with(p)) {
        Some(Noun::Total)
    } else if adult.iter().any(|p| w.starts_with(p)) {
        Some(Noun::Adult)
    } else if kid.iter().any(|p| w.starts_with(p)) {
        Some(Noun::Kid)
    } else if w.starts_with("parej") || w.starts_with("matrimonio") {
        Some(Noun::Couple)
    } else {
        None
    }
}

const PARTNER: &[&str] = &[
    "pareja",
    "novia",
    "novio",
    "esposa",
    "esposo",
    "marido",
    "mujer",
    "senora",
    "senor",
    "companera",
    "companero",
    "flaca",
    "flaco",
    "gorda",
    "gordo",
    "novi",
];

fn count_at(t: &[Tok], consumed: &[bool], i: usize) -> Option<u32> {
    let x = t.get(i)?;
    if consumed.get(i).copied().unwrap_or(true) {
        return None;
    }
    match x.kind {
        Kind::Num => {
            if x.digits > 2 || x.money || x.val == 0 {
                return None;
            }
            if i > 0 && !x.space_before && t[i - 1].kind == Kind::Word {
                return None; // booking code like R7K2
            }
            if t.get(i + 1).is_some_and(|n| n.kind == Kind::Num && n.digits >= 3) {
                return None; // phone number
            }
            if i > 0 && t[i - 1].is_sym('$') {
                return None;
            }
            if let Some(n) = t.get(i + 1)
                && !n.space_before
                && (n.is_sym(':') || n.is_sym('%') || n.kind == Kind::Word)
                && n.word().is_none_or(|w| noun(w).is_none())
            {
                return None; // 10:30, 20%, 10hs
            }
            if let Some(w) = t.get(i + 1).and_then(|n| n.word())
                && matches!(w, "hs" | "h" | "hrs" | "horas" | "am" | "pm" | "mil" | "k")
            {
                return None;
            }
            if i > 0 && matches!(t[i - 1].word(), Some("las" | "la" | "el" | "del" | "al")) {
                return None; // a las 10, el 3
            }
            Some(x.val)
        }
        Kind::Word => number_word(&x.text),
        Kind::Sym => None,
    }
}

fn w(t: &[Tok], i: usize) -> Option<&str> {
    t.get(i).and_then(|x| x.word())
}

/// The party size and, when said, how many of them are children.
pub(crate) fn extract(t: &[Tok], consumed: &[bool]) -> (Option<u32>, Option<u32>) {
    let (total, kids) = count(t, consumed);
    (total, total.and(kids.filter(|k| *k > 0)))
}

fn count(t: &[Tok], consumed: &[bool]) -> (Option<u32>, Option<u32>) {
    let mut used = vec![false; t.len()];
    let mut total: Option<u32> = None;
    let mut adults = 0u32;
    let mut kids = 0u32;
    let mut couple = false;
    let mut solo = false;

    // 1. A number right before a people noun.
    for i in 0..t.len() {
        let Some(n) = count_at(t, consumed, i) else {
            continue;
        };
        let Some(kind) = w(t, i + 1).and_then(noun) else {
            continue;
        };
        used[i] = true;
        // "quiero hablar con una persona", "que me atienda una persona real": not a count.
        if n == 1
            && t[i].kind == Kind::Word
            && (i > 0
                && matches!(
                    w(t, i - 1),
                    Some(
                        "con"
                            | "quiero"
                            | "atender"
                            | "atienda"
                            | "necesito"
                            | "hablar"
                            | "pasame"
                            | "sos"
                            | "es"
                            | "eres"
                    )
                )
                || w(t, i + 2) == Some("real"))
        {
            continue;
        }
        match kind {
            Noun::Total => {
                if total.is_none() {
                    total = Some(n);
                } else {
                    adults = adults.saturating_add(n);
                }
            }
            Noun::Adult => adults = adults.saturating_add(n),
            Noun::Kid => kids = kids.saturating_add(n),
            Noun::Couple => adults = adults.saturating_add(n.saturating_mul(2)),
        }
    }
    // 2. Phrases.
    for i in 0..t.len() {
        let Some(word) = w(t, i) else { continue };
        match word {
            "somos" | "seremos" | "seriamos" | "vamos" | "viajamos" | "estaremos" | "iriamos" | "viajariamos"
            | "seran" | "vendriamos" | "venimos" | "vendremos" => {
                let mut j = i + 1;
                if word == "vamos" && w(t, j) == Some("a") && w(t, j + 1) == Some("ser") {
                    j += 2;
                }
                while matches!(w(t, j), Some("unos" | "unas" | "como" | "aprox" | "aproximadamente" | "en" | "total")) {
                    j += 1;
                }
                if !used.get(j).copied().unwrap_or(true)
                    && let Some(n) = count_at(t, consumed, j)
                    && !w(t, j + 1).is_some_and(crate::dates::is_count_noun)
                {
                    used[j] = true;
                    total.get_or_insert(n);
                }
            }
            "familia" | "grupo" if w(t, i + 1) == Some("de") => {
                if let Some(n) = count_at(t, consumed, i + 2) {
                    used[i + 2] = true;
                    total.get_or_insert(n);
                }
            }
            "para" => {
                let j = i + 1;
                if used.get(j) == Some(&false)
                    && let Some(n) = count_at(t, consumed, j)
                {
                    let word_num = t[j].kind == Kind::Word;
                    let blocked = w(t, j + 1).is_some_and(crate::dates::is_count_noun);
                    if !blocked && (1..=40).contains(&n) && !(word_num && n == 1) {
                        used[j] = true;
                        total.get_or_insert(n);
                    }
                }
            }
            "total" if i >= 2 => {
                if let Some(n) = count_at(t, consumed, i - 2).filter(|_| w(t, i - 1) == Some("en")) {
                    total.get_or_insert(n);
                }
            }
            "yo" => {
                // "mi pareja y yo" / "yo y mi pareja" / "yo solo"
                let before = i >= 3
                    && w(t, i - 1) == Some("y")
                    && w(t, i - 2).is_some_and(|x| PARTNER.contains(&x))
                    && matches!(w(t, i - 3), Some("mi"));
                let after = w(t, i + 1) == Some("y")
                    && w(t, i + 2) == Some("mi")
                    && w(t, i + 3).is_some_and(|x| PARTNER.contains(&x));
                if before || after {
                    couple = true;
                } else if matches!(w(t, i + 1), Some("solo" | "sola")) {
                    solo = true;
                }
            }
            "con" if w(t, i + 1) == Some("mi") && w(t, i + 2).is_some_and(|x| PARTNER.contains(&x)) => {
                couple = true;
            }
            "pareja" | "matrimonio"
                if i > 0 && matches!(w(t, i - 1), Some("somos" | "en" | "para")) && !couple && adults == 0 =>
            {
                couple = true;
            }
            "solo" | "sola" | "solito" | "solita"
                if i > 0 && matches!(w(t, i - 1), Some("voy" | "viajo" | "vengo" | "iria" | "soy")) =>
            {
                solo = true;
            }
            _ => {}
        }
    }
    let base = adults + kids + if couple { 2 } else { 0 };
    let n = match total {
        Some(tot) if base > 0 => {
            if adults == 0 && !couple {
                tot.saturating_add(kids) // "2 personas y un bebé", "somos 4 y 2 chicos"
            } else {
                tot.max(base)
            }
        }
        Some(tot) => tot,
        None if base > 0 => base,
        None if solo => 1,
        None => return (None, None),
    };
    ((1..=60).contains(&n).then_some(n), Some(kids).filter(|k| *k < n))
}
