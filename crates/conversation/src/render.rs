//! Channel helpers: WhatsApp limits, numbered rendering, and reading a choice back from text.

use crate::say::normalize;
use crate::{Choice, Reply};

/// WhatsApp Cloud API limits the engine keeps to (anchors §3a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub text: usize,
    pub caption: usize,
    pub interactive_body: usize,
    pub buttons: usize,
    pub button_title: usize,
    pub list_rows: usize,
    pub row_title: usize,
    pub row_description: usize,
    pub id: usize,
}

pub const LIMITS: Limits = Limits {
    text: 4096,
    caption: 1024,
    interactive_body: 1024,
    buttons: 3,
    button_title: 20,
    list_rows: 10,
    row_title: 24,
    row_description: 72,
    id: 200,
};

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl Reply {
    /// Whether WhatsApp would accept this reply as the engine means it to be rendered: a text,
    /// an image with caption, or reply buttons (≤ 3 options) / a list (≤ 10 rows).
    pub fn check_limits(&self) -> Result<(), String> {
        match self {
            Reply::Text(t) => {
                if t.trim().is_empty() {
                    return Err("empty text".into());
                }
                if chars(t) > LIMITS.text {
                    return Err(format!("text of {} chars", chars(t)));
                }
            }
            Reply::Photo { url, caption } => {
                if url.trim().is_empty() {
                    return Err("photo without url".into());
                }
                if chars(caption) > LIMITS.caption {
                    return Err(format!("caption of {} chars", chars(caption)));
                }
            }
            Reply::Choices { body, options } => {
                if body.trim().is_empty() {
                    return Err("choices without body".into());
                }
                if chars(body) > LIMITS.interactive_body {
                    return Err(format!("interactive body of {} chars", chars(body)));
                }
                if options.is_empty() || options.len() > LIMITS.list_rows {
                    return Err(format!("{} options", options.len()));
                }
                let title_max = if options.len() <= LIMITS.buttons { LIMITS.button_title } else { LIMITS.row_title };
                for (i, o) in options.iter().enumerate() {
                    if o.title.trim().is_empty() || chars(&o.title) > title_max {
                        return Err(format!("option title {:?} ({} chars, max {title_max})", o.title, chars(&o.title)));
                    }
                    if o.id.is_empty() || chars(&o.id) > LIMITS.id {
                        return Err(format!("option id {:?}", o.id));
                    }
                    if chars(&o.description) > LIMITS.row_description {
                        return Err(format!("option description {:?}", o.description));
                    }
                    if options[..i].iter().any(|p| p.title == o.title || p.id == o.id) {
                        return Err(format!("duplicate option {:?}", o.title));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Renders a reply as plain text for channels without buttons (e-mail, terminal). Options are
/// numbered from 1; a later "2" (or the option's words) selects the second.
pub fn render_numbered(reply: &Reply) -> String {
    match reply {
        Reply::Text(t) => t.clone(),
        Reply::Photo { url, caption } if caption.is_empty() => format!("📷 {url}"),
        Reply::Photo { url, caption } => format!("{caption}\n📷 {url}"),
        Reply::Choices { body, options } => {
            let mut out = body.clone();
            out.push('\n');
            for (i, o) in options.iter().enumerate() {
                out.push_str(&format!("\n{}. {}", i + 1, o.title));
                if !o.description.is_empty() {
                    out.push_str(&format!(" — {}", o.description));
                }
            }
            out.push_str("\n\nRespondé con el número de la opción.");
            out
        }
    }
}

/// "Reservar Arrayán"; names too long for a button are shortened ("Reservar C. Grande").
pub fn reserve_title(name: &str) -> String {
    fit_title("Reservar", name)
}

/// `prefix + " " + name` in ≤ 20 characters: leading words of the name become initials, then
/// the name is cut with "…".
pub(crate) fn fit_title(prefix: &str, name: &str) -> String {
    let max = LIMITS.button_title;
    let full = format!("{prefix} {name}");
    if chars(&full) <= max {
        return full;
    }
    let mut words: Vec<String> = name.split_whitespace().map(str::to_string).collect();
    for i in 0..words.len().saturating_sub(1) {
        let initial: String = words[i].chars().take(1).collect();
        words[i] = format!("{initial}.");
        let t = format!("{prefix} {}", words.join(" "));
        if chars(&t) <= max {
            return t;
        }
    }
    crate::say::clip(&format!("{prefix} {}", words.join(" ")), max)
}

const FILLER: &[&str] = &[
    "la", "el", "los", "las", "de", "del", "y", "a", "en", "con", "un", "una", "quiero", "me", "te", "que", "lo",
    "opcion", "numero", "nro", "n", "elijo", "quedo", "va", "mejor", "esa", "ese", "esta", "este",
];

fn number_word(w: &str) -> Option<usize> {
    Some(match w {
        "uno" | "una" | "primera" | "primero" | "1ra" | "1ro" => 1,
        "dos" | "segunda" | "segundo" | "2da" | "2do" => 2,
        "tres" | "tercera" | "tercero" | "3ra" | "3ro" => 3,
        "cuatro" | "cuarta" | "cuarto" => 4,
        "cinco" | "quinta" | "quinto" => 5,
        "seis" | "sexta" | "sexto" => 6,
        "siete" | "septima" | "septimo" => 7,
        "ocho" | "octava" | "octavo" => 8,
        "nueve" | "novena" | "noveno" => 9,
        "diez" | "decima" | "decimo" => 10,
        _ => return w.parse().ok().filter(|n| (1..=10).contains(n)),
    })
}

/// "2", "la 2", "opción 2", "me quedo con la segunda" → 2.
pub(crate) fn chosen_number(text: &str) -> Option<usize> {
    let norm = normalize(text);
    let rest: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty() && !FILLER.contains(w)).collect();
    match rest.as_slice() {
        [one] => number_word(one),
        _ => None,
    }
}

/// The option the text picks: by number ("2", "la segunda") or by words that appear in exactly
/// one option's title ("coihue" → "Reservar Coihue", "otras" → "Otras fechas").
pub fn select_choice<'a>(choices: &'a [Choice], text: &str) -> Option<&'a Choice> {
    if choices.is_empty() {
        return None;
    }
    if let Some(n) = chosen_number(text) {
        return choices.get(n - 1);
    }
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty() && !FILLER.contains(w)).collect();
    if words.is_empty() || words.len() > 6 {
        return None;
    }
    let titles: Vec<Vec<String>> = choices
        .iter()
        .map(|c| normalize(&c.title).split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect())
        .collect();
    if let Some(i) = titles.iter().position(|t| t.join(" ") == words.join(" ")) {
        return choices.get(i);
    }
    let mut hit: Option<usize> = None;
    for w in &words {
        let owners: Vec<usize> =
            titles.iter().enumerate().filter(|(_, t)| t.iter().any(|x| x == w)).map(|(i, _)| i).collect();
        if let [only] = owners.as_slice() {
            match hit {
                None => hit = Some(*only),
                Some(h) if h == *only => {}
                Some(_) => return None,
            }
        }
    }
    hit.and_then(|i| choices.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Vec<Choice> {
        vec![
            Choice::new("reserve:1", "Reservar Coihue"),
            Choice::new("reserve:2", "Reservar Arrayán"),
            Choice::new("reserve:3", "Reservar C. Grande"),
            Choice::new("other_dates", "Otras fechas"),
        ]
    }

    #[test]
    fn numbers_and_words_select() {
        let o = opts();
        assert_eq!(select_choice(&o, "2").unwrap().id, "reserve:2");
        assert_eq!(select_choice(&o, "la 2").unwrap().id, "reserve:2");
        assert_eq!(select_choice(&o, "me quedo con la tercera").unwrap().id, "reserve:3");
        assert_eq!(select_choice(&o, "Arrayán").unwrap().id, "reserve:2");
        assert_eq!(select_choice(&o, "reservar la arrayan").unwrap().id, "reserve:2");
        assert_eq!(select_choice(&o, "otras fechas").unwrap().id, "other_dates");
        assert_eq!(select_choice(&o, "reservar"), None);
        assert_eq!(select_choice(&o, "11"), None);
        assert_eq!(select_choice(&o, "5"), None);
        assert_eq!(select_choice(&o, "somos 2 del 3 al 5"), None);
        assert_eq!(select_choice(&o, "para 2"), None);
    }

    #[test]
    fn titles_fit_buttons() {
        assert_eq!(reserve_title("Coihue"), "Reservar Coihue");
        assert_eq!(reserve_title("Cabaña Grande"), "Reservar C. Grande");
        let t = reserve_title("Refugio Extraordinariamente Largo");
        assert!(t.chars().count() <= 20, "{t}");
    }

    #[test]
    fn numbered_rendering() {
        let r = Reply::Choices { body: "¿Cuál?".into(), options: opts() };
        let s = render_numbered(&r);
        assert!(s.contains("\n1. Reservar Coihue\n2. Reservar Arrayán"), "{s}");
        assert!(r.check_limits().is_ok());
    }

    #[test]
    fn limits_catch_long_titles() {
        let r = Reply::Choices { body: "x".into(), options: vec![Choice::new("a", "123456789012345678901")] };
        assert!(r.check_limits().is_err());
    }
}
