//! "Estadísticas": occupancy per cabin and month, revenue (confirmed totals and deposits),
//! channel mix and the conversation funnel (conversations → quotes → holds → paid) — as plain
//! server-rendered SVG bars. By default the next 12 months (what is on the books) and the last
//! 12 (what happened); `?anio=2027` shows one calendar year.

use super::html::{self, Nav, e};
use super::session::Session;
use super::{UiResult, page};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use domain::{Money, ReservationStatus};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use store::{ReservationFilter, Unit};

#[derive(Deserialize, Default)]
pub struct StatsQuery {
    anio: Option<String>,
}

fn month_start(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default()
}

fn next_month(d: NaiveDate) -> NaiveDate {
    if d.month() == 12 { month_start(d.year() + 1, 1) } else { month_start(d.year(), d.month() + 1) }
}

/// The first day of the month `n` months after (or before) `d`'s.
fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let index = d.year() * 12 + d.month0() as i32 + n;
    month_start(index.div_euclid(12), index.rem_euclid(12) as u32 + 1)
}

/// "ene", or "ene 27" when the period spans two years.
fn month_label(m: NaiveDate, with_year: bool) -> String {
    let short = domain::months::short(m);
    if with_year { format!("{short} {:02}", m.year() % 100) } else { short.to_string() }
}

/// Horizontal bars, one row per label, sized in the SVG's own units so that the text stays
/// readable on a phone (about 11 px at 360 px wide) and the chart no wider than needed on a
/// desktop. Nothing to show is said in words instead of an empty chart.
fn bars(id: &str, title: &str, items: &[(String, f64, String)]) -> String {
    if items.iter().all(|i| i.1 <= 0.0) {
        return format!(r#"<p class="muted nodata" id="{id}">Sin datos en este período.</p>"#);
    }
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max).max(1e-9);
    let (label_w, bar_w, row) = (104.0_f64, 160.0_f64, 22.0_f64);
    let h = row * items.len() as f64 + 4.0;
    let mut s = format!(r#"<svg class="chart" id="{id}" viewBox="0 0 340 {h}" role="img" aria-label="{}">"#, e(title));
    for (i, (label, v, shown)) in items.iter().enumerate() {
        let y = i as f64 * row + 2.0;
        let w = ((v / max) * bar_w).max(if *v > 0.0 { 2.0 } else { 0.0 });
        let _ = write!(
            s,
            r#"<text class="axis" x="0" y="{ty:.1}">{l}</text><rect class="bar" x="{label_w}" y="{y:.1}" width="{w:.1}" height="{bh:.1}"><title>{l}: {sh}</title></rect><text class="val" x="{vx:.1}" y="{ty:.1}">{sh}</text>"#,
            ty = y + 14.0,
            bh = row - 6.0,
            vx = label_w + w + 4.0,
            l = e(label),
            sh = e(shown),
        );
    }
    s += "</svg>";
    s
}

/// The funnel's four steps as bars, each with its share of the first.
fn funnel(f: &store::Funnel, id: &str) -> String {
    // Holds from a website or another API client never went through a conversation: apart.
    let direct = format!(
        r#"<p class="direct" data-direct-holds="{h}">Por la web o la API (sin conversación): <strong>{h}</strong> pre-reservas, <strong>{p}</strong> pagadas.</p>"#,
        h = f.direct_holds,
        p = f.direct_paid
    );
    if f.conversations == 0 && f.holds == 0 {
        return format!(r#"<p class="muted">Sin conversaciones en este período.</p>{direct}"#);
    }
    let base = f.conversations.max(1) as f64;
    let steps: Vec<(String, f64, String)> = [
        ("Conversaciones", f.conversations),
        ("Cotizaciones", f.quoted),
        ("Pre-reservas", f.holds),
        ("Pagadas", f.paid),
    ]
    .iter()
    .map(|(label, n)| {
        let shown =
            if *label == "Conversaciones" { n.to_string() } else { format!("{n} ({:.0}%)", *n as f64 * 100.0 / base) };
        (label.to_string(), *n as f64, shown)
    })
    .collect();
    bars(id, "Embudo de conversaciones", &steps) + &direct
}

fn short_money(m: Money) -> String {
    let pesos = m.0 / 100;
    if pesos >= 1_000_000 {
        format!("$ {:.1}M", pesos as f64 / 1_000_000.0)
    } else if pesos >= 1_000 {
        format!("$ {}k", pesos / 1_000)
    } else {
        format!("$ {pesos}")
    }
}

/// Twelve (or fewer) months shown together: occupancy, revenue and channel mix.
struct Period {
    title: String,
    months: Vec<NaiveDate>,
    /// Appended to the sections' and charts' ids (the default page shows two periods).
    suffix: &'static str,
}

impl Period {
    fn start(&self) -> NaiveDate {
        self.months.first().copied().unwrap_or_default()
    }

    fn end(&self) -> NaiveDate {
        self.months.last().map(|m| next_month(*m)).unwrap_or_default()
    }
}

async fn period_sections(s: &AppState, units: &[Unit], p: &Period) -> UiResult<String> {
    let (start, end, sfx) = (p.start(), p.end(), p.suffix);
    let filter = ReservationFilter { from: Some(start), to: Some(end), limit: 20_000, ..Default::default() };
    let (items, _) = s.store.list_reservations(&filter).await?;
    let confirmed: Vec<_> = items.iter().filter(|r| r.status == ReservationStatus::Confirmed).collect();
    let with_year = start.year() != (end - chrono::Duration::days(1)).year();
    let label = |m: &NaiveDate| month_label(*m, with_year);
    let mut b = format!(r#"<h2 class="period" id="periodo{sfx}">{}</h2>"#, e(&p.title));

    // Occupancy: confirmed nights / nights of the month, per cabin and overall (active cabins).
    let nights_in = |unit: Option<i64>, m: NaiveDate| -> i64 {
        let z = next_month(m);
        confirmed
            .iter()
            .filter(|r| unit.is_none_or(|u| r.unit_id == u))
            .map(|r| (r.stay.check_out.min(z) - r.stay.check_in.max(m)).num_days().max(0))
            .sum()
    };
    let active: Vec<_> = units.iter().filter(|u| u.active).collect();
    let overall: Vec<(String, f64, String)> = p
        .months
        .iter()
        .map(|m| {
            let days = (next_month(*m) - *m).num_days() * active.len().max(1) as i64;
            let pct = nights_in(None, *m) as f64 * 100.0 / days as f64;
            (label(m), pct, format!("{pct:.0}%"))
        })
        .collect();
    let _ = write!(b, r#"<section class="card" id="ocupacion{sfx}"><h3>Ocupación (noches confirmadas)</h3>"#);
    b += &bars(&format!("chart-ocupacion{sfx}"), "Ocupación por mes", &overall);
    if overall.iter().any(|o| o.1 > 0.0) {
        b += r#"<div class="scroll"><table class="list compact"><thead><tr><th>Cabaña</th>"#;
        for m in &p.months {
            let _ = write!(b, "<th>{}</th>", e(&label(m)));
        }
        b += "</tr></thead><tbody>";
        for u in units {
            let _ = write!(b, "<tr><th scope=\"row\">{}</th>", e(&u.name));
            for m in &p.months {
                let days = (next_month(*m) - *m).num_days();
                let pct = nights_in(Some(u.id), *m) as f64 * 100.0 / days as f64;
                let _ = write!(b, r#"<td class="num">{pct:.0}%</td>"#);
            }
            b += "</tr>";
        }
        b += "</tbody></table></div>";
    }
    b += "</section>";

    // Revenue by check-in month.
    let mut totals: BTreeMap<NaiveDate, (Money, Money)> = BTreeMap::new();
    for r in confirmed.iter().filter(|r| r.stay.check_in >= start && r.stay.check_in < end) {
        let m = month_start(r.stay.check_in.year(), r.stay.check_in.month());
        let t = totals.entry(m).or_insert((Money::ZERO, Money::ZERO));
        t.0 = t.0 + r.total;
        t.1 = t.1 + r.deposit;
    }
    let revenue: Vec<(String, f64, String)> = p
        .months
        .iter()
        .map(|m| {
            let t = totals.get(m).map(|x| x.0).unwrap_or(Money::ZERO);
            (label(m), t.0 as f64, short_money(t))
        })
        .collect();
    let sum_total: Money = totals.values().map(|x| x.0).sum();
    let sum_deposit: Money = totals.values().map(|x| x.1).sum();
    let _ = write!(
        b,
        r#"<section class="card" id="ingresos{sfx}"><h3>Ingresos (reservas confirmadas, por mes de entrada)</h3><p><strong>{}</strong> en total · <strong>{}</strong> de señas</p>{}</section>"#,
        html::money(sum_total),
        html::money(sum_deposit),
        bars(&format!("chart-ingresos{sfx}"), "Ingresos por mes", &revenue)
    );

    // Channel mix of the period's bookings (holds that became bookings and manual ones).
    let mut mix: BTreeMap<String, i64> = BTreeMap::new();
    for r in items.iter().filter(|r| r.status != ReservationStatus::Blocked) {
        *mix.entry(html::channel_label(r.channel).to_string()).or_default() += 1;
    }
    let total_mix: i64 = mix.values().sum();
    let _ = write!(b, r#"<section class="card" id="canales{sfx}"><h3>Reservas por canal</h3>"#);
    if total_mix == 0 {
        b += r#"<p class="muted">No hay reservas en este período.</p>"#;
    } else {
        let items: Vec<(String, f64, String)> = mix
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64, format!("{v} ({:.0}%)", *v as f64 * 100.0 / total_mix as f64)))
            .collect();
        b += &bars(&format!("chart-canales{sfx}"), "Reservas por canal", &items);
    }
    b += "</section>";
    Ok(b)
}

/// "Calificaciones": what guests answered in the chat after checkout (1–5), by stars and by
/// cabin, with the latest comments.
fn ratings(reviews: &[store::Review], units: &[Unit], title: &str) -> String {
    let mut b = String::from(r#"<section class="card" id="calificaciones"><h2>Calificaciones de los huéspedes</h2>"#);
    let _ = write!(b, "<h3>{}</h3>", e(title));
    if reviews.is_empty() {
        b += r#"<p class="muted nodata">Todavía no hay calificaciones: el bot las pide en el mensaje de agradecimiento después de la salida, y el huésped contesta con un número del 1 al 5.</p></section>"#;
        return b;
    }
    let average = |list: &[&store::Review]| list.iter().map(|r| f64::from(r.stars)).sum::<f64>() / list.len() as f64;
    let all: Vec<&store::Review> = reviews.iter().collect();
    let _ = write!(
        b,
        r#"<p><strong id="promedio">{}</strong> de 5 en promedio · {} {}</p>"#,
        format!("{:.1}", average(&all)).replace('.', ","),
        all.len(),
        if all.len() == 1 { "calificación" } else { "calificaciones" }
    );
    let by_stars: Vec<(String, f64, String)> = (1..=5u8)
        .rev()
        .map(|n| {
            let count = reviews.iter().filter(|r| r.stars == n).count();
            (format!("{n} ★"), count as f64, count.to_string())
        })
        .collect();
    b += &bars("chart-calificaciones", "Calificaciones por estrellas", &by_stars);
    let by_unit: Vec<(String, f64, String)> = units
        .iter()
        .filter_map(|u| {
            let mine: Vec<&store::Review> = reviews.iter().filter(|r| r.unit_id == u.id).collect();
            (!mine.is_empty()).then(|| {
                let avg = average(&mine);
                (u.name.clone(), avg, format!("{} ({})", format!("{avg:.1}").replace('.', ","), mine.len()))
            })
        })
        .collect();
    b += "<h3>Por cabaña (promedio)</h3>";
    b += &bars("chart-calificaciones-cabanas", "Promedio por cabaña", &by_unit);
    let said: Vec<&store::Review> = reviews.iter().filter(|r| !r.comment.is_empty()).take(5).collect();
    if !said.is_empty() {
        b += "<h3>Últimos comentarios</h3><ul class=\"comments\">";
        for r in said {
            let _ = write!(
                b,
                r#"<li>{} — <a href="/admin/reservas/{code}">{code}</a>, {}: «{}»</li>"#,
                "★".repeat(usize::from(r.stars)),
                e(&r.guest_name),
                e(&r.comment),
                code = e(&r.code),
            );
        }
        b += "</ul>";
    }
    b += "</section>";
    b
}

fn span(months: &[NaiveDate]) -> String {
    match (months.first(), months.last()) {
        (Some(a), Some(z)) => {
            format!("{} {} – {} {}", domain::months::name(*a), a.year(), domain::months::name(*z), z.year())
        }
        _ => String::new(),
    }
}

/// GET /admin/estadisticas
pub async fn index(State(s): State<AppState>, sess: Session, Query(q): Query<StatsQuery>) -> UiResult<Response> {
    let today = s.booking.today();
    let this_month = month_start(today.year(), today.month());
    let year = q.anio.as_deref().and_then(|y| y.parse::<i32>().ok()).filter(|y| (2000..=2100).contains(y));
    let units = s.store.list_units(true).await?;
    let (heading, periods, funnel_from, funnel_title) = match year {
        Some(year) => {
            let months: Vec<NaiveDate> = (1..=12).map(|m| month_start(year, m)).collect();
            let p = Period { title: format!("Año {year}"), months, suffix: "" };
            (format!("Estadísticas {year}"), vec![p], month_start(year, 1), year.to_string())
        }
        None => {
            // What is on the books first (a paid January booking shows up in December), then
            // what happened: two rolling windows instead of the calendar year.
            let next: Vec<NaiveDate> = (0..12).map(|i| add_months(this_month, i)).collect();
            let last: Vec<NaiveDate> = (-12..0).map(|i| add_months(this_month, i)).collect();
            let from = last[0];
            let periods = vec![
                Period { title: format!("Próximos 12 meses ({})", span(&next)), months: next, suffix: "" },
                Period { title: format!("Últimos 12 meses ({})", span(&last)), months: last, suffix: "-pasados" },
            ];
            ("Estadísticas".to_string(), periods, from, "Últimos 12 meses".to_string())
        }
    };
    let nav_year = year.unwrap_or(today.year());
    let mut b = format!(
        r#"<h1>{}</h1><nav class="calnav" aria-label="Períodos"><a href="/admin/estadisticas">Próximos y últimos 12 meses</a><a href="/admin/estadisticas?anio={}">Año {}</a><a href="/admin/estadisticas?anio={}">Año {}</a></nav>"#,
        e(&heading),
        nav_year - 1,
        nav_year - 1,
        if year.is_some() { nav_year + 1 } else { nav_year },
        if year.is_some() { nav_year + 1 } else { nav_year },
    );
    for p in &periods {
        b += &period_sections(&s, &units, p).await?;
    }
    // The conversation funnel (by when things happened, so never in the future).
    let tz = s.config.timezone;
    let instant = |d: NaiveDate| -> chrono::DateTime<chrono::Utc> {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    };
    let now = s.clock.now();
    let funnel_to = match year {
        Some(y) => instant(month_start(y + 1, 1)).min(now),
        None => now,
    };
    let long_funnel = s.store.funnel(instant(funnel_from), funnel_to.max(instant(funnel_from))).await?;
    let month_funnel = s.store.funnel(now - chrono::Duration::days(30), now).await?;
    b += r#"<section class="card" id="embudo"><h2>Embudo: conversaciones → cotizaciones → pre-reservas → pagadas</h2>"#;
    let _ = write!(b, "<h3>{}</h3>", e(&funnel_title));
    b += &funnel(&long_funnel, "chart-embudo");
    b += "<h3>Últimos 30 días</h3>";
    b += &funnel(&month_funnel, "chart-embudo-30");
    b += r#"<p class="muted">Conversaciones: huéspedes que escribieron. Cotizaciones: a quiénes el bot les pasó un precio. Pre-reservas: las que se hicieron desde un chat (las de la web o la API van aparte). Pagadas: las de esas que se confirmaron (seña pagada o confirmación a mano).</p></section>"#;
    let reviews = s.store.reviews_between(instant(funnel_from), funnel_to.max(instant(funnel_from))).await?;
    b += &ratings(&reviews, &units, &funnel_title);
    Ok(page(html::layout(Some(&sess.viewer()), Nav::Estadisticas, "Estadísticas", None, &b)))
}
