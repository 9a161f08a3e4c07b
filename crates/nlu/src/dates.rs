//! Stay dates: a small grammar over the token stream (see the crate docs for the rules).

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::text::{Kind, Tok, edit_distance, fuzzy_eq, number_word};

#[derive(Debug, Default)]
pub(crate) struct Dates {
    pub check_in: Option<NaiveDate>,
    pub check_out: Option<NaiveDate>,
    pub nights: Option<u32>,
    pub past: bool,
    /// Tokens that belong to a date or a length (never read as a party size).
    pub consumed: Vec<bool>,
    /// Some date, weekday, relative word or weekend was read.
    pub any_date: bool,
    /// A length was read.
    pub any_length: bool,
    /// Something did not add up (dropped end date, length disagreeing with the range…).
    pub doubtful: bool,
    /// A month named on its own, not as part of a date ("en enero").
    pub lone_month: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    None,
    In,
    Out,
}

#[derive(Clone, Copy, Debug)]
struct Cal {
    d: u32,
    m: Option<u32>,
    y: Option<i32>,
    wd: Option<Weekday>,
}

#[derive(Clone, Copy, Debug)]
enum Ak {
    Cal(Cal),
    Wd { wd: Weekday, past: bool },
    Rel { off: i64, tonight: bool },
    Weekend,
    Len(u32),
}

#[derive(Clone, Copy, Debug)]
struct Atom {
    k: Ak,
    s: usize,
    e: usize,
    role: Role,
}

const MONTHS: &[(&str, u32)] = &[
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
];

const MONTH_ABBR: &[(&str, u32)] = &[
    ("ene", 1),
    ("feb", 2),
    ("mar", 3),
    ("abr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("ago", 8),
    ("agos", 8),
    ("sep", 9),
    ("sept", 9),
    ("set", 9),
    ("oct", 10),
    ("nov", 11),
    ("novi", 11),
    ("dic", 12),
    ("dici", 12),
    ("dec", 12),
];

/// A month name written in full (no typos): used as context ("para enero del 4 al 11").
fn month_full(w: &str) -> Option<u32> {
    MONTHS.iter().find(|(n, _)| *n == w).map(|&(_, m)| m)
}

/// A month named in words (full name, or a typo of one): "de enero", "de enro", "febero".
pub(crate) fn month_name(w: &str) -> Option<u32> {
    if let Some(m) = month_full(w) {
        return Some(m);
    }
    if w.len() < 4 || is_count_noun(w) {
        return None;
    }
    MONTHS.iter().find(|(name, _)| edit_distance(w, name, 1) <= 1).map(|&(_, m)| m)
}

/// A month right after a day number: full names, abbreviations, and typos.
fn month_after_day(w: &str) -> Option<u32> {
    if let Some(m) = month_full(w) {
        return Some(m);
    }
    if let Some(&(_, m)) = MONTH_ABBR.iter().find(|(n, _)| *n == w) {
        return Some(m);
    }
    if w.len() < 4 || is_count_noun(w) {
        return None;
    }
    let mut best: Option<(usize, u32)> = None;
    for &(name, m) in MONTHS {
        let max = if name.len() >= 7 { 2 } else { 1 };
        let d = edit_distance(w, name, max);
        if d <= max && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, m));
        }
    }
    best.map(|(_, m)| m)
}

pub(crate) fn weekday_word(w: &str) -> Option<Weekday> {
    const DAYS: &[(&str, Weekday)] = &[
        ("lunes", Weekday::Mon),
        ("martes", Weekday::Tue),
        ("miercoles", Weekday::Wed),
        ("jueves", Weekday::Thu),
        ("viernes", Weekday::Fri),
        ("sabado", Weekday::Sat),
        ("domingo", Weekday::Sun),
    ];
    let base = w.strip_suffix('s').filter(|b| b.ends_with('o')).unwrap_or(w);
    for &(name, wd) in DAYS {
        if base == name || w == name {
            return Some(wd);
        }
    }
    if w.len() >= 5 {
        for &(name, wd) in DAYS {
            if name.len() >= 6 && edit_distance(w, name, 1) <= 1 {
                return Some(wd);
            }
        }
    }
    None
}

/// Words that, right after a number, make it a count (people, nights, hours, money…), not a day.
pub(crate) fn is_count_noun(w: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "noch",
        "nts",
        "dia",
        "seman",
        "person",
        "pax",
        "adult",
        "mayor",
        "menor",
        "nin",
        "chic",
        "nene",
        "nena",
        "hij",
        "beb",
        "huesp",
        "amig",
        "parej",
        "matrimoni",
        "famil",
        "hor",
        "hs",
        "hrs",
        "min",
        "mil",
        "peso",
        "luca",
        "usd",
        "dolar",
        "cuota",
        "km",
        "kilo",
        "cuadra",
        "ano",
        "mes",
        "cama",
        "habitac",
        "dormit",
        "bano",
        "auto",
        "cabana",
        "depto",
        "integrant",
        "pasajer",
        "grande",
        "chiqu",
        "peque",
        "criatur",
        "viej",
        "jubil",
        "perr",
        "gat",
        "mascot",
        "plaza",
        "ambient",
        "vez",
        "veces",
        "metro",
        "mts",
        "lugar",
    ];
    matches!(w, "h" | "am" | "pm" | "k" | "m" | "x" | "p") || PREFIXES.iter().any(|p| w.starts_with(p))
}

fn word_at(t: &[Tok], i: usize) -> Option<&str> {
    t.get(i).and_then(|x| x.word())
}

fn is_w(t: &[Tok], i: usize, w: &str) -> bool {
    t.get(i).is_some_and(|x| x.is_word(w))
}

/// The token after a number says it is not a day (count, time, percentage…).
fn blocks_day(t: &[Tok], j: usize) -> bool {
    match t.get(j) {
        None => false,
        Some(x) if x.kind == Kind::Word => is_count_noun(&x.text),
        // "al 11 5555 5555": a phone number, not a day.
        Some(x) if x.kind == Kind::Num => x.digits >= 3,
        Some(x) if x.kind == Kind::Sym => {
            (x.is_sym(':') || x.is_sym('%')) && !x.space_before
                || (x.is_sym('.') && t.get(j + 1).is_some_and(|n| n.kind == Kind::Num))
        }
        _ => false,
    }
}

fn small_num(t: &[Tok], i: usize) -> Option<u32> {
    let x = t.get(i)?;
    if x.kind != Kind::Num || x.digits > 2 || x.money {
        return None;
    }
    // Glued to letters on the left (a booking code like R7K2): not a number for us.
    if i > 0 && !x.space_before && t[i - 1].kind == Kind::Word && t[i - 1].text != "x" {
        return None;
    }
    Some(x.val)
}

fn day_num(t: &[Tok], i: usize) -> Option<u32> {
    small_num(t, i).filter(|d| (1..=31).contains(d))
}

const DAY_INTRO: &[&str] = &[
    "el",
    "del",
    "al",
    "dia",
    "desde",
    "hasta",
    "entre",
    "partir",
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "viernes",
    "sabado",
    "domingo",
];

fn year_at(t: &[Tok], i: usize) -> Option<(i32, usize)> {
    let mut j = i;
    if is_w(t, j, "de") || is_w(t, j, "del") || t.get(j).is_some_and(|x| x.is_sym('/')) {
        j += 1;
    }
    let x = t.get(j)?;
    if x.kind == Kind::Num && x.digits == 4 && (1990..=2100).contains(&x.val) {
        return Some((x.val as i32, j + 1));
    }
    None
}

fn followed_by_month(t: &[Tok], i: usize) -> bool {
    let j = if is_w(t, i, "de") || is_w(t, i, "d") { i + 1 } else { i };
    word_at(t, j).and_then(month_after_day).is_some()
}

/// Is the token at `j` a range connector followed by a day number?
fn connector_then_day(t: &[Tok], j: usize) -> bool {
    let Some(x) = t.get(j) else { return false };
    let conn = matches!(x.word(), Some("al" | "a" | "hasta" | "y")) || x.is_sym('-');
    if !conn {
        return false;
    }
    let mut k = j + 1;
    if t.get(k).is_some_and(|x| x.is_sym('>')) {
        k += 1;
    }
    if is_w(t, k, "el") {
        k += 1;
    }
    day_num(t, k).is_some() && !blocks_day(t, k + 1)
}

/// A calendar date starting at the number at `i`: `dd/mm[/yy]`, `d de mes [de yyyy]`, or a
/// bare day in a date position (`el 15`, `del 10 al 12`).
fn calendar_at(t: &[Tok], i: usize, after_connector: bool) -> Option<(Cal, usize)> {
    let d = small_num(t, i)?;
    let n = t.len();
    // dd/mm, dd-mm, dd.mm with an optional year.
    if i + 2 < n
        && !t[i + 1].space_before
        && !t[i + 2].space_before
        && (t[i + 1].is_sym('/') || t[i + 1].is_sym('-') || t[i + 1].is_sym('.'))
        && t[i + 2].kind == Kind::Num
        && t[i + 2].digits <= 2
    {
        let sep = t[i + 1].text.clone();
        let m = t[i + 2].val;
        let dash_range = sep == "-" && (m > 12 || followed_by_month(t, i + 3));
        if !dash_range && (1..=31).contains(&d) && (1..=12).contains(&m) {
            let mut e = i + 3;
            let mut y = None;
            if e + 1 < n
                && t[e].text == sep
                && !t[e].space_before
                && t[e + 1].kind == Kind::Num
                && !t[e + 1].space_before
                && (t[e + 1].digits == 2 || t[e + 1].digits == 4)
            {
                let v = t[e + 1].val as i32;
                y = Some(if t[e + 1].digits == 2 { 2000 + v } else { v });
                e += 2;
            }
            let cal = Cal { d, m: Some(m), y, wd: None };
            return Some((cal, e));
        }
    }
    if !(1..=31).contains(&d) {
        return None;
    }
    // d [de|-] mes [de yyyy]
    let mut j = i + 1;
    // "de", or "d" typed in a hurry ("del 12 al 17 d enro").
    if is_w(t, j, "de") || is_w(t, j, "d") || t.get(j).is_some_and(|x| x.is_sym('-') && !x.space_before) {
        j += 1;
    }
    if let Some(m) = word_at(t, j).and_then(month_after_day) {
        let mut e = j + 1;
        if t.get(e).is_some_and(|x| x.is_sym('.')) {
            e += 1;
        }
        let mut y = None;
        if let Some((yy, ee)) = year_at(t, e) {
            y = Some(yy);
            e = ee;
        }
        let cal = Cal { d, m: Some(m), y, wd: None };
        return Some((cal, e));
    }
    // Bare day.
    if blocks_day(t, i + 1) {
        return None;
    }
    let intro = i > 0 && t[i - 1].word().is_some_and(|w| DAY_INTRO.contains(&w));
    if intro || after_connector || connector_then_day(t, i + 1) {
        let cal = Cal { d, m: None, y: None, wd: None };
        return Some((cal, i + 1));
    }
    None
}

fn length_noun(w: &str) -> Option<u32> {
    if w.starts_with("noch") || w == "nts" || w == "nt" || fuzzy_eq(w, "noches") {
        Some(1)
    } else if w == "semana" || w == "semanas" || w == "sem" {
        Some(7)
    } else if w == "dia" || w == "dias" {
        Some(1)
    } else {
        None
    }
}

fn length_at(t: &[Tok], i: usize) -> Option<(u32, usize)> {
    let x = t.get(i)?;
    let (n, j) = if x.kind == Kind::Num {
        (small_num(t, i)?, i + 1)
    } else if x.is_word("par") && is_w(t, i + 1, "de") {
        (2, i + 2)
    } else {
        (number_word(x.word()?)?, i + 1)
    };
    let mult = length_noun(word_at(t, j)?)?;
    if n == 0 || n > 90 {
        return None;
    }
    Some((n * mult, j + 1))
}

fn is_semana(w: &str) -> bool {
    w.starts_with("sem") && w.len() <= 8 && edit_distance(w, "semana", 2) <= 2
}

fn word_atom_at(t: &[Tok], i: usize) -> Option<(Ak, usize)> {
    let w = word_at(t, i)?;
    if let Some(wd) = weekday_word(w) {
        let j = i + 1;
        if t.get(j).is_some_and(|x| x.kind == Kind::Num)
            && let Some((mut cal, e)) = calendar_at(t, j, true)
        {
            cal.wd = Some(wd);
            return Some((Ak::Cal(cal), e));
        }
        if is_w(t, j, "pasado") {
            return Some((Ak::Wd { wd, past: true }, j + 1));
        }
        return Some((Ak::Wd { wd, past: false }, j));
    }
    match w {
        "hoy" => {
            // hoy a la noche / hoy por la noche / hoy de noche / hoy noche
            let mut j = i + 1;
            if is_w(t, j, "a") || is_w(t, j, "por") {
                j += 1;
            }
            if is_w(t, j, "la") || is_w(t, j, "de") {
                j += 1;
            }
            if word_at(t, j).is_some_and(|x| x.starts_with("noche")) {
                return Some((Ak::Rel { off: 0, tonight: true }, j + 1));
            }
            Some((Ak::Rel { off: 0, tonight: false }, i + 1))
        }
        "esta" | "este" if word_at(t, i + 1).is_some_and(|x| x.starts_with("noche")) => {
            Some((Ak::Rel { off: 0, tonight: true }, i + 2))
        }
        "pasado" if is_w(t, i + 1, "manana") => Some((Ak::Rel { off: 2, tonight: false }, i + 2)),
        "pasadomanana" => Some((Ak::Rel { off: 2, tonight: false }, i + 1)),
        "manana" => {
            // "a la mañana", "por la mañana", "esta mañana": the morning, not tomorrow.
            let prev = if i > 0 { word_at(t, i - 1) } else { None };
            if matches!(prev, Some("la" | "esta" | "las")) {
                return None;
            }
            Some((Ak::Rel { off: 1, tonight: false }, i + 1))
        }
        "ayer" => Some((Ak::Rel { off: -1, tonight: false }, i + 1)),
        "anteayer" => Some((Ak::Rel { off: -2, tonight: false }, i + 1)),
        "finde" | "findes" | "fds" | "findesemana" | "finsemana" | "fiinde" | "fnde" => Some((Ak::Weekend, i + 1)),
        "fin" | "fines"
            if (is_w(t, i + 1, "de") || is_w(t, i + 1, "d")) && word_at(t, i + 2).is_some_and(is_semana) =>
        {
            Some((Ak::Weekend, i + 3))
        }
        _ => None,
    }
}

const IN_MARKERS: &[&str] = &[
    "desde",
    "entrada",
    "entrar",
    "entramos",
    "entrariamos",
    "ingreso",
    "ingresamos",
    "ingresar",
    "ingresariamos",
    "llegamos",
    "llego",
    "llegada",
    "llegaria",
    "llegariamos",
    "llegar",
    "llegando",
    "arribo",
    "arribamos",
    "checkin",
    "partir",
    "ingresando",
];
const OUT_MARKERS: &[&str] = &[
    "hasta",
    "salida",
    "salimos",
    "salir",
    "saldriamos",
    "egreso",
    "iriamos",
    "irnos",
    "retiramos",
    "checkout",
    "volvemos",
    "regresamos",
    "saliendo",
    "dejamos",
    "retiro",
];

fn role_before(t: &[Tok], lo: usize, s: usize) -> Role {
    let mut role = Role::None;
    for k in lo..s {
        let Some(w) = word_at(t, k) else { continue };
        let prev = if k > 0 { word_at(t, k - 1) } else { None };
        if IN_MARKERS.contains(&w) || (w == "in" && matches!(prev, Some("check" | "chek"))) {
            role = Role::In;
        } else if OUT_MARKERS.contains(&w)
            || (w == "out" && matches!(prev, Some("check" | "chek")))
            || (w == "vamos" && prev == Some("nos"))
        {
            role = Role::Out;
        }
    }
    role
}

/// Atoms in order, the month named on its own (context for bare days) and whether that month
/// was a month name (not a festivity).
fn scan(t: &[Tok], taken: &[bool]) -> (Vec<Atom>, Option<u32>, bool) {
    let mut atoms: Vec<Atom> = Vec::new();
    let mut ctx_month = None;
    let mut named_month = false;
    let mut i = 0;
    let mut prev_end = 0usize;
    while i < t.len() {
        let after_connector = atoms.last().is_some_and(|a| {
            !matches!(a.k, Ak::Len(_)) && {
                let mut k = a.e;
                let conn =
                    t.get(k).is_some_and(|x| matches!(x.word(), Some("al" | "a" | "hasta" | "y")) || x.is_sym('-'));
                if conn {
                    k += 1;
                    if t.get(k).is_some_and(|x| x.is_sym('>')) {
                        k += 1;
                    }
                    if is_w(t, k, "el") {
                        k += 1;
                    }
                }
                conn && k == i
            }
        });
        let found = if taken.get(i).copied().unwrap_or(false) {
            None
        } else if t[i].kind == Kind::Num {
            length_at(t, i)
                .map(|(n, e)| (Ak::Len(n), e))
                .or_else(|| calendar_at(t, i, after_connector).map(|(c, e)| (Ak::Cal(c), e)))
        } else if t[i].kind == Kind::Word {
            length_at(t, i).map(|(n, e)| (Ak::Len(n), e)).or_else(|| word_atom_at(t, i))
        } else {
            None
        };
        if let Some((k, e)) = found {
            let lo = prev_end.max(i.saturating_sub(4));
            let role = if matches!(k, Ak::Len(_) | Ak::Weekend) { Role::None } else { role_before(t, lo, i) };
            atoms.push(Atom { k, s: i, e, role });
            prev_end = e;
            i = e.max(i + 1);
            continue;
        }
        if ctx_month.is_none() {
            let w = word_at(t, i).unwrap_or("");
            let festive = (w == "fin" && is_w(t, i + 1, "de") && is_w(t, i + 2, "ano"))
                || (w == "ano" && is_w(t, i + 1, "nuevo"))
                || w == "navidad"
                || w == "nochebuena";
            if let Some(m) = month_full(w) {
                ctx_month = Some(m);
                named_month = !taken.get(i).copied().unwrap_or(false);
            } else if festive {
                ctx_month = Some(12);
            }
        }
        i += 1;
    }
    (atoms, ctx_month, named_month)
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn add_days(d: NaiveDate, n: i64) -> Option<NaiveDate> {
    if n >= 0 { d.checked_add_days(Days::new(n as u64)) } else { d.checked_sub_days(Days::new(n.unsigned_abs())) }
}

/// Earliest `d/m` on or after `from`.
fn next_dm(d: u32, m: u32, from: NaiveDate) -> Option<NaiveDate> {
    (from.year()..=from.year() + 8).find_map(|y| ymd(y, m, d).filter(|x| *x >= from))
}

/// Earliest day-of-month `d` (optionally on weekday `wd`) on or after `from`.
fn next_day(d: u32, wd: Option<Weekday>, from: NaiveDate) -> Option<NaiveDate> {
    let months = if wd.is_some() { 28 } else { 13 };
    let (mut y, mut m) = (from.year(), from.month());
    for _ in 0..months {
        if let Some(x) = ymd(y, m, d)
            && x >= from
            && wd.is_none_or(|w| x.weekday() == w)
        {
            return Some(x);
        }
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    if wd.is_some() { next_day(d, None, from) } else { None }
}

fn next_weekday(wd: Weekday, after: NaiveDate) -> Option<NaiveDate> {
    let delta = (7 + wd.num_days_from_monday() as i64 - after.weekday().num_days_from_monday() as i64) % 7;
    add_days(after, if delta == 0 { 7 } else { delta })
}

fn prev_weekday(wd: Weekday, before: NaiveDate) -> Option<NaiveDate> {
    let delta = (7 + before.weekday().num_days_from_monday() as i64 - wd.num_days_from_monday() as i64) % 7;
    add_days(before, -(if delta == 0 { 7 } else { delta }))
}

/// The coming Saturday (today when today is a Saturday).
pub(crate) fn coming_saturday(today: NaiveDate) -> Option<NaiveDate> {
    let delta = (7 + 5 - today.weekday().num_days_from_monday() as i64) % 7;
    add_days(today, delta)
}

fn prev_month(m: u32) -> u32 {
    if m == 1 { 12 } else { m - 1 }
}
fn next_month(m: u32) -> u32 {
    if m == 12 { 1 } else { m + 1 }
}

/// `from`: where bare days and weekdays start counting (today, or the start of the period the
/// guest is talking about).
fn resolve_start(k: &Ak, today: NaiveDate, from: NaiveDate) -> Option<NaiveDate> {
    match *k {
        Ak::Cal(c) => match (c.m, c.y) {
            (Some(m), Some(y)) => ymd(y, m, c.d),
            (Some(m), None) => next_dm(c.d, m, today),
            (None, _) => next_day(c.d, c.wd, from),
        },
        Ak::Wd { wd, past: true } => prev_weekday(wd, today),
        Ak::Wd { wd, past: false } if from > today => next_weekday(wd, from.pred_opt()?),
        Ak::Wd { wd, past: false } => next_weekday(wd, today),
        Ak::Rel { off, .. } => add_days(today, off),
        Ak::Weekend | Ak::Len(_) => None,
    }
}

fn resolve_end(k: &Ak, start: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
    let from = start.succ_opt()?;
    match *k {
        Ak::Cal(c) => match (c.m, c.y) {
            (Some(m), Some(y)) => ymd(y, m, c.d),
            (Some(m), None) => next_dm(c.d, m, from),
            (None, _) => next_day(c.d, c.wd, from),
        },
        Ak::Wd { wd, .. } => next_weekday(wd, start),
        Ak::Rel { off, .. } => add_days(today, off),
        Ak::Weekend | Ak::Len(_) => None,
    }
}

/// `taken`: tokens already read as something else (named periods). `anchor`: the first day of the
/// period being talked about, where bare days count from ("del 20 al 24" after "en enero").
/// Where the guest corrects what they just wrote ("mejor dicho", "perdón", "digo", "quise
/// decir", "me equivoqué"): the last such word. "digo" counts only right after a date or a
/// comma ("te digo que…" is not a correction).
fn correction_at(t: &[Tok]) -> Option<usize> {
    (0..t.len()).rev().find(|&i| {
        let before = |w: &str| i > 0 && t[i - 1].is_word(w);
        (t[i].is_word("dicho") && before("mejor"))
            || (t[i].is_word("decir") && before("quise"))
            || t[i].is_word("perdon")
            || t[i].is_word("corrijo")
            || ((t[i].is_word("equivoque") || t[i].is_word("confundi")) && before("me"))
            || (t[i].is_word("digo")
                && i > 0
                && !t[i - 1].is_word("te")
                && !t[i - 1].is_word("le")
                && !t[i - 1].is_word("les"))
    })
}

pub(crate) fn extract(t: &[Tok], today: NaiveDate, taken: &[bool], anchor: Option<NaiveDate>) -> Dates {
    let (atoms, ctx_month, named_month) = scan(t, taken);
    let mut out = Dates { consumed: vec![false; t.len()], ..Dates::default() };
    out.lone_month = ctx_month.filter(|_| named_month);
    let from = anchor.filter(|a| *a > today && ctx_month.is_none()).unwrap_or(today);
    for a in &atoms {
        for c in &mut out.consumed[a.s..a.e.min(t.len())] {
            *c = true;
        }
    }
    let length = atoms.iter().find_map(|a| match a.k {
        Ak::Len(n) => Some(n),
        _ => None,
    });
    out.any_length = length.is_some();
    let weekend = atoms.iter().any(|a| matches!(a.k, Ak::Weekend));
    let mut dated: Vec<Atom> =
        atoms.iter().copied().filter(|a| matches!(a.k, Ak::Cal(_) | Ak::Wd { .. } | Ak::Rel { .. })).collect();
    // "del 12 al 14, mejor dicho del 13 al 15": dates after a correction replace the ones before.
    // The month of the corrected dates still holds when the correction names none ("…de enero,
    // mejor dicho 13 al 15").
    let mut ctx_month = ctx_month;
    if let Some(m) = correction_at(t)
        && dated.iter().any(|a| a.s > m)
    {
        let dropped_month = dated.iter().filter(|a| a.s <= m).find_map(|a| match a.k {
            Ak::Cal(c) => c.m,
            _ => None,
        });
        dated.retain(|a| a.s > m);
        ctx_month = ctx_month.or(dropped_month);
    }
    let cals = dated.iter().filter(|a| matches!(a.k, Ak::Cal(_))).count();
    if cals >= 2 {
        dated.retain(|a| !matches!(a.k, Ak::Rel { .. }) || a.role != Role::None);
    }
    out.any_date = !dated.is_empty() || weekend;

    // Pick the check-in and check-out atoms.
    let explicit_in = dated.iter().position(|a| a.role == Role::In);
    let explicit_out = dated.iter().position(|a| a.role == Role::Out);
    let (ci_atom, co_atom): (Option<Atom>, Option<Atom>) = match (explicit_in, explicit_out) {
        (Some(a), Some(b)) if a != b => (Some(dated[a]), Some(dated[b])),
        (None, Some(b)) if b > 0 => (Some(dated[0]), Some(dated[b])),
        _ => match dated.len() {
            0 => (None, None),
            1 if dated[0].role == Role::Out => (None, Some(dated[0])),
            1 => (Some(dated[0]), None),
            _ => (Some(dated[0]), Some(dated[1])),
        },
    };
    if dated.len() > 2 {
        out.doubtful = true;
    }

    let (mut ci_k, mut co_k) = (ci_atom.map(|a| a.k), co_atom.map(|a| a.k));
    // Month and year propagation between the two ends of a range.
    if let (Some(Ak::Cal(a)), Some(Ak::Cal(b))) = (ci_k.as_mut(), co_k.as_mut()) {
        match (a.m, b.m) {
            (None, Some(mb)) => {
                let wrap = a.d >= b.d;
                a.m = Some(if wrap { prev_month(mb) } else { mb });
                if let Some(yb) = b.y {
                    a.y = Some(if wrap && mb == 1 { yb - 1 } else { yb });
                }
            }
            (Some(ma), None) => {
                b.m = Some(if b.d > a.d { ma } else { next_month(ma) });
                if let Some(ya) = a.y {
                    b.y = Some(if b.d <= a.d && ma == 12 { ya + 1 } else { ya });
                }
            }
            (None, None) => {
                if let Some(cm) = ctx_month {
                    a.m = Some(cm);
                    b.m = Some(if b.d > a.d { cm } else { next_month(cm) });
                }
            }
            (Some(ma), Some(mb)) => {
                if a.y.is_none()
                    && let Some(yb) = b.y
                {
                    a.y = Some(if ma <= mb { yb } else { yb - 1 });
                }
            }
        }
    } else if let Some(Ak::Cal(a)) = ci_k.as_mut()
        && a.m.is_none()
        && let Some(cm) = ctx_month
    {
        a.m = Some(cm);
    }

    let mut ci = ci_k.as_ref().and_then(|k| resolve_start(k, today, from));
    let mut co = match (ci, co_k.as_ref()) {
        (Some(s), Some(k)) => resolve_end(k, s, today),
        (None, Some(k)) => resolve_start(k, today, from),
        _ => None,
    };
    if ci.is_none() && co.is_none() && weekend {
        ci = coming_saturday(from);
    }
    // "el 26 y 27", "hoy y mañana": a list of nights, the last one included.
    if let (Some(a), Some(b), Some(e)) = (ci_atom, co_atom, co)
        && b.role == Role::None
        && b.s > a.e
        && t[a.e..b.s].iter().all(|x| x.is_word("y") || x.is_word("el") || x.is_sym(','))
        && t[a.e..b.s].iter().any(|x| x.is_word("y"))
        && !t[a.s.saturating_sub(2)..a.s].iter().any(|x| x.is_word("entre"))
    {
        co = e.succ_opt();
    }
    if let (Some(s), None) = (ci, co) {
        if let Some(n) = length {
            if weekend && ci_k.is_none() && n >= 2 {
                // "el finde, 2 noches": Friday and Saturday nights.
                ci = s.pred_opt();
                co = ci.and_then(|f| add_days(f, i64::from(n)));
            } else {
                co = add_days(s, i64::from(n));
            }
        } else if (weekend && ci_k.is_none()) || matches!(ci_k, Some(Ak::Rel { tonight: true, .. })) {
            co = s.succ_opt();
        }
    } else if let (Some(s), Some(e), Some(n)) = (ci, co, length)
        && (e - s).num_days() != i64::from(n)
    {
        out.doubtful = true;
    }
    if let (Some(s), Some(e)) = (ci, co)
        && e <= s
    {
        co = None;
        out.doubtful = true;
    }
    out.nights = match (ci, co) {
        (Some(s), Some(e)) => u32::try_from((e - s).num_days()).ok(),
        (None, _) => length,
        _ => None,
    };
    if out.nights.is_some_and(|n| n > 60) {
        out.doubtful = true;
    }
    out.past = ci.is_some_and(|d| d < today) || co.is_some_and(|d| d < today);
    out.check_in = ci;
    out.check_out = co;
    out
}
