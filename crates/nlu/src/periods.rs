//! Named periods ("carnaval", "semana santa", "el finde largo de octubre", "la primera quincena
//! de enero", "la semana que viene", "todo febrero", "las vacaciones de invierno"), the guest's
//! province, and shifts of the stay already talked about ("el finde siguiente"). The calendar
//! itself is `domain::periods`.

use chrono::{Datelike, Days, NaiveDate};
use domain::periods::{self as cal, Province};

use crate::dates::month_name;
use crate::text::{Kind, Tok};
use crate::{Hint, Period, PeriodKind};

#[derive(Debug, Default)]
pub(crate) struct Found {
    pub period: Option<Period>,
    pub province: Option<Province>,
    /// Tokens that belong to a period or a province (no date, length or party size there).
    pub consumed: Vec<bool>,
    /// Move the remembered stay this many days ("el finde siguiente", "una semana después").
    pub shift: Option<i64>,
}

fn w(t: &[Tok], i: usize) -> &str {
    t.get(i).and_then(|x| x.word()).unwrap_or("")
}

fn is_largo(x: &str) -> bool {
    matches!(x, "largo" | "largos" | "larguito" | "xl")
}

fn is_semana(x: &str) -> bool {
    matches!(x, "semana" | "semanas" | "seman" | "smana")
}

/// The first of `year, year+1, …` whose span ends after `today`, clipped to start no earlier
/// than today.
fn upcoming(
    today: NaiveDate,
    year: Option<i32>,
    f: impl Fn(i32) -> Option<cal::Span>,
) -> Option<(NaiveDate, NaiveDate)> {
    let years: Vec<i32> = match year {
        Some(y) => vec![y],
        None => vec![today.year(), today.year() + 1, today.year() + 2],
    };
    for y in years {
        let Some(s) = f(y) else { continue };
        if s.end > today {
            return Some((s.start.max(today), s.end));
        }
    }
    None
}

/// A year written after the period ("carnaval 2027", "semana santa del año que viene").
fn year_after(t: &[Tok], from: usize, today: NaiveDate) -> (Option<i32>, usize) {
    let mut j = from;
    if matches!(w(t, j), "de" | "del") {
        j += 1;
    }
    if let Some(x) = t.get(j)
        && x.kind == Kind::Num
        && x.digits == 4
        && (2000..=2100).contains(&x.val)
    {
        return (Some(x.val as i32), j + 1);
    }
    if w(t, j) == "ano" && matches!(w(t, j + 1), "que" | "proximo") {
        let end = if w(t, j + 1) == "que" { j + 3 } else { j + 2 };
        return (Some(today.year() + 1), end);
    }
    if w(t, j) == "proximo" && w(t, j + 1) == "ano" {
        return (Some(today.year() + 1), j + 2);
    }
    (None, from)
}

/// Province (or a big city standing for it) at `i`; returns it and the tokens it used.
pub(crate) fn province_at(t: &[Tok], i: usize) -> Option<(Province, usize)> {
    let a = w(t, i);
    let b = w(t, i + 1);
    let c = w(t, i + 2);
    use Province::*;
    let two = |p: Province| Some((p, i + 2));
    let one = |p: Province| Some((p, i + 1));
    match (a, b, c) {
        ("ciudad", "de", "buenos") | ("ciudad", "autonoma", _) => Some((Caba, i + 4)),
        ("provincia", "de", "buenos") => Some((BuenosAires, i + 4)),
        ("buenos", "aires", _) | ("bs", "as", _) => two(BuenosAires),
        ("mar", "del", "plata") | ("bahia", "blanca", _) => Some((BuenosAires, if a == "mar" { i + 3 } else { i + 2 })),
        ("la", "plata", _) => two(BuenosAires),
        ("entre", "rios", _) => two(EntreRios),
        ("la", "pampa", _) => two(LaPampa),
        ("la", "rioja", _) => two(LaRioja),
        ("rio", "negro", _) => two(RioNegro),
        ("san", "juan", _) => two(SanJuan),
        ("san", "luis", _) => two(SanLuis),
        ("santa", "cruz", _) => two(SantaCruz),
        ("santa", "fe", _) => two(SantaFe),
        ("santa", "rosa", _) => two(LaPampa),
        ("santiago", "del", "estero") => Some((SantiagoDelEstero, i + 3)),
        ("tierra", "del", "fuego") => Some((TierraDelFuego, i + 3)),
        ("san", "miguel", "de") if w(t, i + 3) == "tucuman" => Some((Tucuman, i + 4)),
        ("el", "conurbano", _) => two(BuenosAires),
        _ => match a {
            "caba" | "capital" | "porteno" | "portenos" | "portena" | "portenas" => one(Caba),
            "bsas" | "baires" | "pba" | "conurbano" | "bonaerense" | "bonaerenses" => one(BuenosAires),
            "catamarca" => one(Catamarca),
            "chaco" | "resistencia" => one(Chaco),
            "chubut" | "trelew" | "madryn" | "comodoro" => one(Chubut),
            "cordoba" | "cordobeses" | "cordobes" | "cordobesa" => one(Cordoba),
            "corrientes" => one(Corrientes),
            "parana" => one(EntreRios),
            "formosa" => one(Formosa),
            "jujuy" => one(Jujuy),
            "mendoza" | "mendocinos" | "mendocino" => one(Mendoza),
            "misiones" | "posadas" => one(Misiones),
            "neuquen" => one(Neuquen),
            "bariloche" | "viedma" => one(RioNegro),
            "salta" | "salteno" | "saltenos" => one(Salta),
            "rosario" | "rosarinos" | "rosarino" | "rafaela" => one(SantaFe),
            "ushuaia" => one(TierraDelFuego),
            "tucuman" | "tucumanos" => one(Tucuman),
            _ => None,
        },
    }
}

/// Weekend words (`finde`, `fin de semana`, `fds`) at `i`: where they end.
fn weekend_at(t: &[Tok], i: usize) -> Option<usize> {
    match w(t, i) {
        "finde" | "findes" | "fds" | "fnde" | "fiinde" => Some(i + 1),
        "fin" | "fines" if matches!(w(t, i + 1), "de" | "d") && is_semana(w(t, i + 2)) => Some(i + 3),
        _ => None,
    }
}

pub(crate) fn extract(t: &[Tok], today: NaiveDate, hint: &Hint) -> Found {
    let mut f = Found { consumed: vec![false; t.len()], ..Found::default() };
    let mark = |f: &mut Found, a: usize, b: usize| {
        for c in &mut f.consumed[a..b.min(t.len())] {
            *c = true;
        }
    };
    let set = |f: &mut Found, kind: PeriodKind, span: Option<(NaiveDate, NaiveDate)>| {
        if f.period.is_none() {
            f.period = Some(Period { kind, start: span.map(|s| s.0), end: span.map(|s| s.1), estimated: false });
        }
    };
    let mut winter = false;
    let mut i = 0;
    while i < t.len() {
        let a = w(t, i);
        if a.is_empty() {
            i += 1;
            continue;
        }
        // Province / city, after "de", "desde", "somos de", or as the whole message.
        if let Some((p, e)) = province_at(t, i) {
            let prev = if i > 0 { w(t, i - 1) } else { "" };
            let short = t.iter().filter(|x| x.kind == Kind::Word).count() <= 4;
            if matches!(prev, "de" | "desde" | "del") || short {
                f.province.get_or_insert(p);
                mark(&mut f, i, e);
                i = e;
                continue;
            }
        }
        // "el finde (largo) de carnaval", "el fin de semana de pascua": the holiday names the
        // stay; the weekend words only say how it is called (not this weekend, not the next
        // long one). The holiday itself is read on the next word.
        if let Some(mut e) = weekend_at(t, i).or_else(|| (a == "feriado").then_some(i + 1)) {
            if is_largo(w(t, e)) {
                e += 1;
            }
            let holiday = matches!(w(t, e + 1), "carnaval" | "carnavales" | "carnabal" | "pascua" | "pascuas")
                || (w(t, e + 1) == "semana" && w(t, e + 2) == "santa");
            if matches!(w(t, e), "de" | "del") && holiday {
                mark(&mut f, i, e + 1);
                i = e + 1;
                continue;
            }
        }
        // Long weekend: "finde largo", "fin de semana largo", "feriado largo", "puente".
        let weekend_end = weekend_at(t, i).or_else(|| (a == "feriado").then_some(i + 1));
        if let Some(e) = weekend_end
            && is_largo(w(t, e))
        {
            let mut end = e + 1;
            let mut month = None;
            if matches!(w(t, end), "de" | "del" | "en")
                && let Some(m) = month_name(w(t, end + 1))
            {
                month = Some(m);
                end += 2;
            }
            let lw = match month {
                Some(m) => cal::long_weekend_in_month(today, m),
                None if hint.window.is_some_and(|(s, _)| s > today) => {
                    // "el finde largo" while talking about a month: the one in it.
                    let (s, e2) = hint.window.unwrap_or((today, today));
                    cal::long_weekends(s, e2).into_iter().next().or_else(|| cal::next_long_weekend(today))
                }
                None => cal::next_long_weekend(today),
            };
            set(&mut f, PeriodKind::LongWeekend, lw.map(|l| (l.first.max(today), l.last)));
            mark(&mut f, i, end);
            i = end;
            continue;
        }
        // "el finde siguiente", "el otro finde", "el finde que sigue", "el finde de después".
        if let Some(e) = weekend_at(t, i) {
            let otro = i > 0 && w(t, i - 1) == "otro";
            let end = match (w(t, e), w(t, e + 1)) {
                ("siguiente", _) => Some(e + 1),
                ("que", "sigue") | ("de", "despues") => Some(e + 2),
                _ if otro => Some(e),
                _ => None,
            };
            if let Some(end) = end {
                if hint.stay.is_some() {
                    f.shift = Some(7);
                    mark(&mut f, i - usize::from(otro), end);
                }
                i = end;
                continue;
            }
        }
        // "una semana después", "la semana siguiente" (with a stay in mind: a week later);
        // "la semana que viene", "la próxima semana" (a window); "esta semana".
        if is_semana(a) {
            let prev = if i > 0 { w(t, i - 1) } else { "" };
            let (n1, n2) = (w(t, i + 1), w(t, i + 2));
            let later_end = match (n1, n2) {
                ("despues" | "siguiente", _) => Some(i + 2),
                ("mas", "tarde") => Some(i + 3),
                _ if prev == "otra" => Some(i + 1),
                _ => None,
            };
            if let Some(end) = later_end
                && hint.stay.is_some()
            {
                f.shift = Some(7);
                mark(&mut f, i.saturating_sub(1), end);
                i = end;
                continue;
            }
            let coming_end = match (n1, n2) {
                ("que" | "q", "viene") => Some(i + 3),
                ("proxima" | "siguiente" | "entrante", _) => Some(i + 2),
                _ if matches!(prev, "proxima" | "otra") => Some(i + 1),
                _ => None,
            };
            let this = prev == "esta";
            if coming_end.is_some() || this {
                let monday = next_monday(today);
                let span = if this {
                    monday.map(|m| (today, m))
                } else {
                    monday.and_then(|m| m.checked_add_days(Days::new(7)).map(|e| (m, e)))
                };
                set(&mut f, if this { PeriodKind::ThisWeek } else { PeriodKind::NextWeek }, span);
                let end = coming_end.unwrap_or(i + 1);
                mark(&mut f, i.saturating_sub(1), end);
                i = end;
                continue;
            }
        }
        match a {
            "carnaval" | "carnavales" | "carnabal" => {
                let (year, e) = year_after(t, i + 1, today);
                set(&mut f, PeriodKind::Carnaval, upcoming(today, year, cal::carnaval));
                mark(&mut f, i, e);
                i = e;
                continue;
            }
            "pascua" | "pascuas" => {
                let (year, e) = year_after(t, i + 1, today);
                set(&mut f, PeriodKind::SemanaSanta, upcoming(today, year, cal::semana_santa));
                mark(&mut f, i, e);
                i = e;
                continue;
            }
            "semana" if w(t, i + 1) == "santa" => {
                let (year, e) = year_after(t, i + 2, today);
                set(&mut f, PeriodKind::SemanaSanta, upcoming(today, year, cal::semana_santa));
                mark(&mut f, i, e);
                i = e;
                continue;
            }
            "navidad" | "nochebuena" | "navidades" => {
                set(&mut f, PeriodKind::Navidad, upcoming(today, None, cal::navidad));
                mark(&mut f, i, i + 1);
            }
            "noche" if w(t, i + 1) == "buena" => {
                set(&mut f, PeriodKind::Navidad, upcoming(today, None, cal::navidad));
                mark(&mut f, i, i + 2);
            }
            "ano" if w(t, i + 1) == "nuevo" => {
                set(&mut f, PeriodKind::AnoNuevo, upcoming(today, None, cal::ano_nuevo));
                mark(&mut f, i, i + 2);
            }
            "fin" if matches!(w(t, i + 1), "de" | "d") && w(t, i + 2) == "ano" => {
                set(&mut f, PeriodKind::AnoNuevo, upcoming(today, None, cal::ano_nuevo));
                mark(&mut f, i, i + 3);
            }
            "reveillon" | "nochevieja" => {
                set(&mut f, PeriodKind::AnoNuevo, upcoming(today, None, cal::ano_nuevo));
                mark(&mut f, i, i + 1);
            }
            "quincena" | "quincenas" => {
                let prev = if i > 0 { w(t, i - 1) } else { "" };
                let prev_num = i.checked_sub(1).and_then(|k| t.get(k)).filter(|x| x.kind == Kind::Num).map(|x| x.val);
                let second = match (prev, prev_num) {
                    ("segunda" | "ultima" | "otra", _) | (_, Some(2)) => Some(true),
                    ("primera" | "primer", _) | (_, Some(1)) => Some(false),
                    _ => None,
                };
                let mut end = i + 1;
                let mut month = None;
                if matches!(w(t, end), "de" | "del")
                    && let Some(m) = month_name(w(t, end + 1))
                {
                    month = Some(m);
                    end += 2;
                }
                let month = month.or_else(|| hint.window.map(|(s, _)| s.month()));
                match (second, month) {
                    (Some(second), Some(m)) => {
                        let span = upcoming(today, None, |y| cal::fortnight(y, m, second));
                        set(&mut f, PeriodKind::Fortnight, span);
                    }
                    (Some(second), None) => {
                        let this = cal::fortnight(today.year(), today.month(), second).filter(|s| s.start >= today);
                        let span = this.or_else(|| {
                            let n = today.checked_add_months(chrono::Months::new(1))?;
                            cal::fortnight(n.year(), n.month(), second)
                        });
                        set(&mut f, PeriodKind::Fortnight, span.map(|s| (s.start, s.end)));
                    }
                    (None, Some(m)) => {
                        set(&mut f, PeriodKind::Month, upcoming(today, None, |y| cal::month(y, m)));
                    }
                    (None, None) => {}
                }
                mark(&mut f, i.saturating_sub(usize::from(second.is_some())), end);
                i = end;
                continue;
            }
            // "las vacas de invierno" is how many say it.
            "vacaciones" | "vacas" | "receso"
                if matches!(w(t, i + 1), "de" | "d") && matches!(w(t, i + 2), "invierno" | "julio") =>
            {
                winter = true;
                mark(&mut f, i, i + 3);
                i += 3;
                continue;
            }
            "receso" if w(t, i + 1) == "invernal" => {
                winter = true;
                mark(&mut f, i, i + 2);
                i += 2;
                continue;
            }
            // "todo febrero", "todo el mes de febrero", "febrero entero / completo".
            "todo" | "toda" => {
                let mut j = i + 1;
                if w(t, j) == "el" {
                    j += 1;
                }
                if w(t, j) == "mes" && w(t, j + 1) == "de" {
                    j += 2;
                }
                if let Some(m) = month_name(w(t, j)) {
                    set(&mut f, PeriodKind::WholeMonth, upcoming(today, None, |y| cal::month(y, m)));
                    mark(&mut f, i, j + 1);
                    i = j + 1;
                    continue;
                }
            }
            _ => {
                // Cheap check first: a month name is looked up only before "entero".
                if matches!(w(t, i + 1), "entero" | "completo" | "completito")
                    && let Some(m) = month_name(a)
                {
                    set(&mut f, PeriodKind::WholeMonth, upcoming(today, None, |y| cal::month(y, m)));
                    mark(&mut f, i, i + 2);
                    i += 2;
                    continue;
                }
            }
        }
        i += 1;
    }
    if winter {
        let span = f.province.and_then(|p| upcoming(today, None, |y| cal::winter_holidays(y, p).map(|wh| wh.window())));
        let estimated = f
            .province
            .is_some_and(|p| span.and_then(|(s, _)| cal::winter_holidays(s.year(), p)).is_none_or(|wh| wh.estimated));
        if f.period.is_none() {
            f.period = Some(Period {
                kind: PeriodKind::WinterHolidays,
                start: span.map(|s| s.0),
                end: span.map(|s| s.1),
                estimated,
            });
        }
    }
    f
}

fn next_monday(today: NaiveDate) -> Option<NaiveDate> {
    let d = 7 - today.weekday().num_days_from_monday();
    today.checked_add_days(Days::new(u64::from(d)))
}
