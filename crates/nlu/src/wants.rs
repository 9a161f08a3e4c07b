//! Constraints and preferences: travelling with a pet, accessibility, amenities required
//! ("con parrilla", "que tenga pileta"), "la más barata" / "la más grande", and a budget
//! ("hasta 300 mil", "80 lucas por noche").

use crate::text::{Kind, Tok};
use crate::{Budget, Sort, Topic};

#[derive(Debug, Default)]
pub(crate) struct Wants {
    pub pets: Option<bool>,
    pub accessible: bool,
    pub amenities: Vec<Topic>,
    pub sort: Option<Sort>,
    pub budget: Option<Budget>,
    /// Money tokens read as a budget (not a party size, not a date).
    pub consumed: Vec<bool>,
}

fn w(t: &[Tok], i: usize) -> &str {
    t.get(i).and_then(|x| x.word()).unwrap_or("")
}

pub(crate) fn is_pet(x: &str) -> bool {
    ["mascot", "perr", "gato", "gata", "cachorr", "caniche", "animal"].iter().any(|p| x.starts_with(p))
        && !x.starts_with("perro_caliente")
}

pub(crate) fn amenity(x: &str, next: &str) -> Option<Topic> {
    if ["parrill", "asador", "quincho", "parri"].iter().any(|p| x.starts_with(p)) {
        Some(Topic::Grill)
    } else if ["pileta", "piscina"].iter().any(|p| x.starts_with(p)) {
        Some(Topic::Pool)
    } else if ["cochera", "estacionam", "garage", "garaje"].iter().any(|p| x.starts_with(p)) {
        Some(Topic::Parking)
    } else if x == "wifi" || x == "internet" || (x == "wi" && next == "fi") {
        Some(Topic::Wifi)
    } else {
        None
    }
}

/// Words that make what follows a requirement ("con", "que tenga", "busco…").
const REQUIRE: &[&str] = &[
    "con",
    "tenga",
    "tengan",
    "necesito",
    "necesitamos",
    "busco",
    "buscamos",
    "queremos",
    "quiero",
    "preferimos",
    "prefiero",
    "incluya",
];

fn money_at(t: &[Tok], i: usize) -> Option<(u64, usize)> {
    let x = t.get(i)?;
    if x.kind != Kind::Num {
        return None;
    }
    let base = u64::from(x.val);
    let next = w(t, i + 1);
    let (amount, end) = match next {
        "mil" | "k" | "lucas" | "luca" => (base * 1000, i + 2),
        "millon" | "millones" if base <= 20 => (base * 1_000_000, i + 2),
        _ if x.money || x.digits >= 4 || (i > 0 && t[i - 1].is_sym('$')) => (base, i + 1),
        _ => return None,
    };
    let end = if matches!(w(t, end), "pesos" | "peso" | "mangos" | "ars") { end + 1 } else { end };
    (amount >= 1000).then_some((amount, end))
}

pub(crate) fn extract(t: &[Tok]) -> Wants {
    let mut out = Wants { consumed: vec![false; t.len()], ..Wants::default() };
    let n = t.len();
    for i in 0..n {
        let x = w(t, i);
        if x.is_empty() {
            continue;
        }
        let before = |k: usize| if i >= k { w(t, i - k) } else { "" };
        // Pets: said or asked about means travelling with one, unless negated.
        if is_pet(x) {
            let negated = (1..=3).any(|k| matches!(before(k), "sin" | "no" | "ni" | "nunca"));
            let asks_rule = before(1) == "las" && matches!(w(t, i + 1), "pagan" | "cobran");
            if negated {
                out.pets = Some(false);
            } else if out.pets.is_none() || asks_rule {
                out.pets = Some(true);
            }
            continue;
        }
        // Accessibility.
        if x.starts_with("accesib")
            || (x == "ruedas" && before(1) == "de" && before(2) == "silla")
            || (x == "reducida" && before(1) == "movilidad")
            || x.starts_with("discapacid")
            || x == "rampa"
            || (x == "escaleras" && before(1) == "sin")
            || (x == "baja" && before(1) == "planta")
        {
            out.accessible = true;
            continue;
        }
        // Required amenities.
        if let Some(a) = amenity(x, w(t, i + 1)) {
            let required =
                (1..=3).any(|k| REQUIRE.contains(&before(k))) && !(1..=2).any(|k| matches!(before(k), "sin"));
            if required && !out.amenities.contains(&a) {
                out.amenities.push(a);
            }
            continue;
        }
        // "la más barata", "algo más barato", "lo más económico", "menos caro"; "la más grande".
        let cheap = x.starts_with("barat") || x.starts_with("economic") || x == "baratito" || x == "baratita";
        if cheap && (matches!(before(1), "mas" | "lo" | "la" | "algo") || before(2) == "mas") {
            out.sort = Some(Sort::Cheapest);
            continue;
        }
        if (x == "caro" && before(1) == "menos")
            || (x == "menos" && matches!(before(1), "sale" | "salga" | "salen" | "cuesta" | "cueste" | "cuestan"))
        {
            out.sort = Some(Sort::Cheapest);
            continue;
        }
        if matches!(x, "grande" | "amplia" | "amplio" | "espaciosa" | "capacidad") && before(1) == "mas" {
            out.sort = Some(Sort::Biggest);
            continue;
        }
        // Budget: "hasta 300 mil", "máximo $250.000", "no más de 200 mil", "presupuesto de 80 lucas".
        let intro = matches!(x, "hasta" | "maximo" | "max" | "tope" | "presupuesto")
            || (x == "de" && before(1) == "mas" && matches!(before(2), "no" | "gastar"))
            || (x == "mas" && before(1) == "gastar");
        if intro && out.budget.is_none() {
            let mut j = i + 1;
            while j < n && j <= i + 3 && (matches!(w(t, j), "de" | "unos" | "unas" | "los" | "las") || t[j].is_sym('$'))
            {
                j += 1;
            }
            if let Some((amount, end)) = money_at(t, j) {
                let per_night = (end..(end + 3).min(n)).any(|k| w(t, k).starts_with("noch"))
                    || matches!(w(t, end), "x" | "por" | "la") && w(t, end + 1).starts_with("noch");
                out.budget = Some(Budget { amount, per_night });
                for c in &mut out.consumed[j..end.min(n)] {
                    *c = true;
                }
            }
        }
    }
    out
}
