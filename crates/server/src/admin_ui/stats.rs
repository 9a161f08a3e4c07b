//! "Estadísticas": occupancy per cabin and month, revenue (confirmed totals and deposits),
//! channel mix and the conversation funnel (conversations → quotes → holds → paid) — as plain
//! server-rendered SVG bars.

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
use store::ReservationFilter;

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

/// Vertical bars, one per label; values already in the unit the labels show.
fn bars(id: &str, title: &str, items: &[(String, f64, String)]) -> String {
    let max = items.iter().map(|i| i.1).fold(0.0_f64, f64::max).max(1e-9);
    let n = items.len().max(1) as f64;
    let (w, h) = (600.0_f64, 170.0_f64);
    let slot = w / n;
    let mut s =
        format!(r#"<svg class="chart" id="{id}" viewBox="0 0 {w} {}" role="img" aria-label="{}">"#, h + 34.0, e(title));
    for (i, (label, v, shown)) in items.iter().enumerate() {
        let bh = (v / max) * (h - 16.0);
        let x = i as f64 * slot + slot * 0.15;
        let _ = write!(
            s,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}"><title>{l}: {sh}</title></rect><text class="axis" x="{cx:.1}" y="{ly:.1}" text-anchor="middle">{l}</text><text class="val" x="{cx:.1}" y="{vy:.1}" text-anchor="middle">{sh}</text>"#,
            y = h - bh,
            bw = slot * 0.7,
            l = e(label),
            sh = e(shown),
            cx = x + slot * 0.35,
            ly = h + 14.0,
            vy = (h - bh - 3.0).max(10.0),
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
        format!("{:.1}M", pesos as f64 / 1_000_000.0)
    } else if pesos >= 1_000 {
        format!("{}k", pesos / 1_000)
    } else {
        pesos.to_string()
    }
}

/// GET /admin/estadisticas
pub async fn index(State(s): State<AppState>, sess: Session, Query(q): Query<StatsQuery>) -> UiResult<Response> {
    let today = s.booking.today();
    let year = q
        .anio
        .as_deref()
        .and_then(|y| y.parse::<i32>().ok())
        .filter(|y| (2000..=2100).contains(y))
        .unwrap_or(today.year());
    let start = month_start(year, 1);
    let end = month_start(year + 1, 1);
    let units = s.store.list_units(true).await?;
    let filter = ReservationFilter { from: Some(start), to: Some(end), limit: 20_000, ..Default::default() };
    let (items, _) = s.store.list_reservations(&filter).await?;
    let confirmed: Vec<_> = items.iter().filter(|r| r.status == ReservationStatus::Confirmed).collect();

    let mut b = format!(
        r#"<h1>Estadísticas {year}</h1><nav class="calnav"><a href="/admin/estadisticas?anio={}">‹ {}</a><a href="/admin/estadisticas?anio={}">{} ›</a></nav>"#,
        year - 1,
        year - 1,
        year + 1,
        year + 1
    );
    // Occupancy: confirmed nights / nights of the month, per cabin and overall (active cabins).
    let months: Vec<NaiveDate> = (1..=12).map(|m| month_start(year, m)).collect();
    let nights_in = |unit: Option<i64>, m: NaiveDate| -> i64 {
        let z = next_month(m);
        confirmed
            .iter()
            .filter(|r| unit.is_none_or(|u| r.unit_id == u))
            .map(|r| (r.stay.check_out.min(z) - r.stay.check_in.max(m)).num_days().max(0))
            .sum()
    };
    let active: Vec<_> = units.iter().filter(|u| u.active).collect();
    let overall: Vec<(String, f64, String)> = months
        .iter()
        .map(|m| {
            let days = (next_month(*m) - *m).num_days() * active.len().max(1) as i64;
            let pct = nights_in(None, *m) as f64 * 100.0 / days as f64;
            (html::MONTHS[m.month0() as usize][..3].to_string(), pct, format!("{pct:.0}%"))
        })
        .collect();
    b += r#"<section class="card" id="ocupacion"><h2>Ocupación (noches confirmadas)</h2>"#;
    b += &bars("chart-ocupacion", "Ocupación por mes", &overall);
    b += r#"<div class="scroll"><table class="list compact"><thead><tr><th>Cabaña</th>"#;
    for m in &months {
        let _ = write!(b, "<th>{}</th>", &html::MONTHS[m.month0() as usize][..3]);
    }
    b += "</tr></thead><tbody>";
    for u in &units {
        let _ = write!(b, "<tr><th scope=\"row\">{}</th>", e(&u.name));
        for m in &months {
            let days = (next_month(*m) - *m).num_days();
            let pct = nights_in(Some(u.id), *m) as f64 * 100.0 / days as f64;
            let _ = write!(b, r#"<td class="num">{pct:.0}%</td>"#);
        }
        b += "</tr>";
    }
    b += "</tbody></table></div></section>";

    // Revenue by check-in month.
    let mut totals: BTreeMap<u32, (Money, Money)> = BTreeMap::new();
    for r in confirmed.iter().filter(|r| r.stay.check_in.year() == year) {
        let e = totals.entry(r.stay.check_in.month0()).or_insert((Money::ZERO, Money::ZERO));
        e.0 = e.0 + r.total;
        e.1 = e.1 + r.deposit;
    }
    let revenue: Vec<(String, f64, String)> = (0..12u32)
        .map(|m| {
            let t = totals.get(&m).map(|x| x.0).unwrap_or(Money::ZERO);
            (html::MONTHS[m as usize][..3].to_string(), t.0 as f64, short_money(t))
        })
        .collect();
    let sum_total: Money = totals.values().map(|x| x.0).sum();
    let sum_deposit: Money = totals.values().map(|x| x.1).sum();
    let _ = write!(
        b,
        r#"<section class="card" id="ingresos"><h2>Ingresos (reservas confirmadas, por mes de entrada)</h2><p><strong>{}</strong> en total · <strong>{}</strong> de señas</p>{}</section>"#,
        html::money(sum_total),
        html::money(sum_deposit),
        bars("chart-ingresos", "Ingresos por mes", &revenue)
    );

    // Channel mix of the year's bookings (holds that became bookings and manual ones).
    let mut mix: BTreeMap<String, i64> = BTreeMap::new();
    for r in items.iter().filter(|r| r.status != ReservationStatus::Blocked) {
        *mix.entry(html::channel_label(r.channel).to_string()).or_default() += 1;
    }
    let total_mix: i64 = mix.values().sum();
    b += r#"<section class="card" id="canales"><h2>Reservas por canal</h2>"#;
    if total_mix == 0 {
        b += r#"<p class="muted">Todavía no hay reservas este año.</p>"#;
    } else {
        let items: Vec<(String, f64, String)> = mix
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64, format!("{v} ({:.0}%)", *v as f64 * 100.0 / total_mix as f64)))
            .collect();
        b += &bars("chart-canales", "Reservas por canal", &items);
    }
    b += "</section>";
    // The conversation funnel, for the year and for the last 30 days.
    let tz = s.config.timezone;
    let instant = |d: NaiveDate| -> chrono::DateTime<chrono::Utc> {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    };
    let now = s.clock.now();
    let year_funnel = s.store.funnel(instant(start), instant(end)).await?;
    let month_funnel = s.store.funnel(now - chrono::Duration::days(30), now).await?;
    b += r#"<section class="card" id="embudo"><h2>Embudo: conversaciones → cotizaciones → pre-reservas → pagadas</h2>"#;
    let _ = write!(b, "<h3>{year}</h3>");
    b += &funnel(&year_funnel, "chart-embudo");
    b += "<h3>Últimos 30 días</h3>";
    b += &funnel(&month_funnel, "chart-embudo-30");
    b += r#"<p class="muted">Conversaciones: huéspedes que escribieron. Cotizaciones: a quiénes el bot les pasó un precio. Pre-reservas: las que se hicieron desde un chat (las de la web o la API van aparte). Pagadas: las de esas que se confirmaron (seña pagada o confirmación a mano).</p></section>"#;
    Ok(page(html::layout(Some(&sess.viewer()), Nav::Estadisticas, "Estadísticas", None, &b)))
}
