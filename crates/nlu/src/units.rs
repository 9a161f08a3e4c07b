//! Unit (cabin) mentions: fuzzy, accent-insensitive matching against the caller's catalogue.
//!
//! A unit's *distinctive* words are its name (and slug) words minus generic ones ("cabaña",
//! "casa", "la", "el"…). A message mentions the unit when those words appear in sequence, each
//! exactly or within one typo (two for words of 8+ letters, none for words under 5). When the
//! distinctive words are ordinary Spanish words ("Cabaña Grande", "Depto 2"), the whole name
//! must appear ("la cabaña grande"), so "una cabaña grande" still matches but "un grupo
//! grande" does not.

use crate::UnitRef;
use crate::text::{Kind, Tok, edit_distance, tokenize};

const GENERIC: &[&str] = &[
    "la",
    "el",
    "los",
    "las",
    "de",
    "del",
    "y",
    "cabana",
    "cabanas",
    "casa",
    "depto",
    "departamento",
    "dpto",
    "apart",
    "complejo",
    "unidad",
    "suite",
    "loft",
    "chalet",
    "domo",
    "habitacion",
];

const COMMON: &[&str] = &[
    "grande",
    "grandes",
    "chica",
    "chico",
    "chiquita",
    "pequena",
    "familiar",
    "nueva",
    "nuevo",
    "vieja",
    "azul",
    "roja",
    "rojo",
    "blanca",
    "blanco",
    "verde",
    "amarilla",
    "alta",
    "alto",
    "baja",
    "bajo",
    "sur",
    "norte",
    "este",
    "oeste",
    "lago",
    "rio",
    "bosque",
    "playa",
    "sol",
    "luna",
    "mar",
    "principal",
    "doble",
    "simple",
    "triple",
    "uno",
    "dos",
    "tres",
    "cuatro",
    "cinco",
    "vista",
    "jardin",
    "centro",
    "arriba",
    "abajo",
    "casita",
    "rustica",
    "rustico",
];

fn words_of(s: &str) -> Vec<String> {
    tokenize(s).into_iter().filter(|t| t.kind != Kind::Sym).map(|t| t.text).collect()
}

fn tok_eq(msg: &str, unit: &str) -> u8 {
    if msg == unit {
        return 2;
    }
    let len = unit.len();
    if len < 5 || msg.len() < 4 || unit.bytes().any(|b| b.is_ascii_digit()) {
        return 0;
    }
    let max = if len >= 8 { 2 } else { 1 };
    if edit_distance(msg, unit, max) <= max { 1 } else { 0 }
}

/// Match `pattern` at message position `i`; returns the score (sum of per-word scores).
fn match_at(msg: &[&str], i: usize, pattern: &[String]) -> Option<u32> {
    if pattern.is_empty() || i + pattern.len() > msg.len() {
        return None;
    }
    let mut score = 0u32;
    for (k, p) in pattern.iter().enumerate() {
        let s = tok_eq(msg[i + k], p);
        if s == 0 {
            return None;
        }
        score += u32::from(s);
    }
    Some(score)
}

struct Pattern<'a> {
    unit: &'a UnitRef,
    words: Vec<String>,
    /// An ordinary word standing for the name after an article ("la grande" for "Cabaña Grande").
    short: Option<String>,
}

fn patterns(units: &[UnitRef]) -> Vec<Pattern<'_>> {
    let mut out = Vec::new();
    for u in units {
        for source in [u.name.as_str(), u.slug.as_str()] {
            let all = words_of(source);
            if all.is_empty() {
                continue;
            }
            let distinctive: Vec<String> = all.iter().filter(|w| !GENERIC.contains(&w.as_str())).cloned().collect();
            let ordinary =
                distinctive.is_empty() || distinctive.iter().all(|w| COMMON.contains(&w.as_str()) || w.len() < 3);
            let short = match distinctive.as_slice() {
                [one] if ordinary && one.len() >= 4 => Some(one.clone()),
                _ => None,
            };
            let words = if ordinary {
                all.into_iter().filter(|w| !matches!(w.as_str(), "la" | "el" | "los" | "las")).collect()
            } else {
                distinctive
            };
            if !words.is_empty() && !out.iter().any(|p: &Pattern| p.unit.id == u.id && p.words == words) {
                out.push(Pattern { unit: u, words, short });
            }
        }
    }
    out
}

/// The slug of the unit the message mentions (the best match; earliest on ties).
pub(crate) fn find(t: &[Tok], units: &[UnitRef]) -> Option<String> {
    if units.is_empty() {
        return None;
    }
    let msg: Vec<&str> = t.iter().filter(|x| x.kind != Kind::Sym).map(|x| x.text.as_str()).collect();
    let pats = patterns(units);
    let joined: Vec<(String, &UnitRef)> = units
        .iter()
        .map(|u| {
            let j: String = u.slug.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            (j.to_ascii_lowercase(), u)
        })
        .filter(|(j, _)| j.len() >= 5)
        .collect();
    let mut best: Option<(u32, usize, &UnitRef)> = None;
    for i in 0..msg.len() {
        for p in &pats {
            if let Some(score) = match_at(&msg, i, &p.words) {
                // Prefer exact over fuzzy and longer names; then the earliest mention.
                let better = match best {
                    None => true,
                    Some((bs, bi, _)) => score > bs || (score == bs && i < bi),
                };
                if better {
                    best = Some((score, i, p.unit));
                }
            }
        }
        // Slug written as one word ("cabanagrande").
        for (j, u) in &joined {
            if best.is_none() && msg[i] == j.as_str() {
                best = Some((2, i, u));
            }
        }
    }
    if best.is_none() {
        // "en la grande", "y la grande?": the article and the ordinary word, when exactly one
        // cabin is called that way ("la más grande" is a preference, not a name).
        let mut hits = pats.iter().filter_map(|p| {
            let word = p.short.as_deref()?;
            (1..msg.len())
                .any(|i| msg[i] == word && matches!(msg[i - 1], "la" | "el") && (i < 2 || msg[i - 2] != "mas"))
                .then_some(p.unit)
        });
        if let Some(u) = hits.next()
            && hits.all(|other| other.id == u.id)
        {
            return Some(u.slug.clone());
        }
    }
    best.map(|(_, _, u)| u.slug.clone())
}
