//! A guest's rating of a stay, as they answer "¿nos puntuás del 1 al 5?": `5`, `un 4`,
//! `le doy un 5!`, `⭐⭐⭐⭐`, `4 estrellas, todo hermoso`, `9/10`, `un 10` (Argentine for "the
//! best": 5). Only clear answers count: a number followed straight by another word (`5 personas`,
//! `4 noches`) is not a rating, and the caller only asks when a finished stay waits for one.

use domain::text::unaccent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    /// 1 to 5.
    pub stars: u8,
    /// What the guest wrote beside it (trimmed; may be empty).
    pub comment: String,
}

const STARS: [char; 3] = ['⭐', '★', '🌟'];
/// Words that may come before the number ("le doy un 5", "mi puntaje: 4").
const LEAD: &[&str] = &[
    "le",
    "les",
    "te",
    "doy",
    "damos",
    "pongo",
    "ponemos",
    "mi",
    "nuestra",
    "nuestro",
    "nota",
    "puntaje",
    "puntuacion",
    "calificacion",
    "es",
    "un",
    "una",
    "yo",
    "nosotros",
    "sin",
    "duda",
    "dudas",
    "con",
    "re",
    "va",
];

/// The rating in `text`, if the message is one.
pub fn rating(text: &str) -> Option<Rating> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 1000 {
        return None;
    }
    let stars = text.chars().filter(|c| STARS.contains(c)).count();
    if stars > 0 {
        if stars > 5 || text.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let rest: String = text.chars().filter(|c| !STARS.contains(c) && *c != '\u{fe0f}').collect();
        return Some(Rating { stars: stars as u8, comment: tidy(&rest) });
    }
    let chars: Vec<char> = text.chars().collect();
    let low: Vec<char> = chars.iter().map(|&c| unaccent(c).to_lowercase().next().unwrap_or(c)).collect();
    let words = spans(&low);
    let word = |k: usize| -> String { low[words[k].0..words[k].1].iter().collect() };
    // A qualified number anywhere ("todo excelente, 5 estrellas"), else a bare one first.
    for k in 0..words.len() {
        if let Some(found) = read_at(&low, &words, k, &word, true) {
            let (stars, start, end) = found;
            let before: String = chars[..start].iter().collect();
            let after: String = chars[end..].iter().collect();
            let before = before.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–—(".contains(c));
            return Some(Rating { stars, comment: tidy(&format!("{before} {}", tidy(&after))) });
        }
    }
    let first = (0..words.len()).find(|&k| !LEAD.contains(&word(k).as_str()) || is_number(&word(k)))?;
    let (stars, _, end) = read_at(&low, &words, first, &word, false)?;
    Some(Rating { stars, comment: tidy(&chars[end..].iter().collect::<String>()) })
}

fn is_number(w: &str) -> bool {
    number(w).is_some()
}

fn number(w: &str) -> Option<u32> {
    match w {
        "uno" => Some(1),
        "dos" => Some(2),
        "tres" => Some(3),
        "cuatro" => Some(4),
        "cinco" => Some(5),
        "diez" => Some(10),
        w if !w.is_empty() && w.len() <= 2 && w.bytes().all(|b| b.is_ascii_digit()) => w.parse().ok(),
        _ => None,
    }
}

/// Word spans (alphanumeric runs) of the folded text.
fn spans(low: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < low.len() {
        if low[i].is_alphanumeric() {
            let start = i;
            while i < low.len() && low[i].is_alphanumeric() {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// The rating starting at word `k`: (stars, first char, char after the rating). With `qualified`
/// only a number followed by its scale or unit counts ("4/5", "9 de 10", "5 estrellas").
fn read_at(
    low: &[char],
    words: &[(usize, usize)],
    k: usize,
    word: &dyn Fn(usize) -> String,
    qualified: bool,
) -> Option<(u8, usize, usize)> {
    let n = number(&word(k))?;
    let (start, mut end) = words[k];
    let next = |k: usize| (k < words.len()).then(|| word(k));
    let gap = |from: usize, to: usize| low[from..to].iter().collect::<String>();
    let mut scale = None;
    let mut unit = false;
    if let Some(w) = next(k + 1)
        && gap(end, words[k + 1].0).trim() == "/"
        && let Some(d @ (5 | 10)) = number(&w)
    {
        scale = Some(d);
        end = words[k + 1].1;
    } else if next(k + 1).as_deref() == Some("de")
        && gap(end, words[k + 1].0).trim().is_empty()
        && let Some(d @ (5 | 10)) = next(k + 2).as_deref().and_then(number)
    {
        scale = Some(d);
        end = words[k + 2].1;
    }
    let after = words.iter().position(|w| w.0 >= end);
    if let Some(a) = after
        && gap(end, words[a].0).trim().is_empty()
        && ["estrella", "estrellas", "punto", "puntos", "pts"].contains(&word(a).as_str())
    {
        unit = true;
        end = words[a].1;
    }
    if qualified && scale.is_none() && !unit {
        return None;
    }
    // A word straight after a bare number is something else ("5 personas", "4 noches").
    if scale.is_none()
        && !unit
        && let Some(a) = after
        && gap(end, words[a].0).trim().is_empty()
    {
        return None;
    }
    let stars = match scale {
        Some(5) if (1..=5).contains(&n) => n,
        Some(10) if (1..=10).contains(&n) => n.div_ceil(2),
        None if (1..=5).contains(&n) => n,
        None if n == 10 => 5,
        _ => return None,
    };
    Some((stars as u8, start, end))
}

/// Trims spaces and the punctuation that joined the number to the words ("5, …", "2. …").
fn tidy(s: &str) -> String {
    let t = s.trim_start_matches(|c: char| c.is_whitespace() || ",.;:-–—!)/".contains(c)).trim_end();
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Option<(u8, String)> {
        rating(text).map(|r| (r.stars, r.comment))
    }

    #[test]
    fn clear_answers_are_ratings() {
        for (text, stars, comment) in [
            ("5", 5, ""),
            ("un 4", 4, ""),
            ("Le doy un 5!!", 5, ""),
            ("⭐⭐⭐⭐", 4, ""),
            ("⭐️⭐️⭐️⭐️⭐️ todo hermoso", 5, "todo hermoso"),
            ("4 estrellas, la cabaña divina", 4, "la cabaña divina"),
            ("todo excelente, 5 estrellas", 5, "todo excelente"),
            ("9/10", 5, ""),
            ("8 de 10, faltó agua caliente", 4, "faltó agua caliente"),
            ("un 10!", 5, ""),
            ("3/5 el wifi no anduvo", 3, "el wifi no anduvo"),
            ("mi puntaje: 2. Había ruido", 2, "Había ruido"),
            ("cinco", 5, ""),
            ("1 punto", 1, ""),
            ("5, todo hermoso!", 5, "todo hermoso!"),
        ] {
            assert_eq!(r(text), Some((stars, comment.to_string())), "{text}");
        }
    }

    #[test]
    fn other_messages_are_not() {
        for text in [
            "",
            "hola",
            "5 personas",
            "somos 4",
            "4 noches en enero",
            "del 5 al 8",
            "quiero volver en 2027",
            "7",
            "11/10",
            "⭐⭐⭐⭐⭐⭐",
            "⭐ 5",
            "gracias!",
            "tienen lugar para 2 el finde?",
        ] {
            assert_eq!(r(text), None, "{text}");
        }
    }
}
