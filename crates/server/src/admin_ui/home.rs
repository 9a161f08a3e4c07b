//! "Hoy": what needs the owner today, each item a link to act on it.

use super::html::{self, Nav, e};
use super::reservations::{OkQuery, unit_names};
use super::session::Session;
use super::{UiResult, page};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Duration, TimeZone};
use domain::{AttentionFlag, ReservationStatus};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use store::{Reservation, ReservationFilter};

fn item(r: &Reservation, names: &HashMap<i64, String>, extra: &str) -> String {
    format!(
        r#"<li><a href="/admin/reservas/{code}"><strong>{code}</strong> · {guest} · {unit}</a> {badge} <span class="muted">{extra}</span></li>"#,
        code = e(&r.code),
        guest = e(if r.guest_name.is_empty() { "(sin nombre)" } else { &r.guest_name }),
        unit = e(names.get(&r.unit_id).map(String::as_str).unwrap_or("?")),
        badge = html::status_badge(r.status),
        extra = e(extra),
    )
}

fn section(id: &str, title: &str, items: &[String], empty: &str) -> String {
    let mut out = format!(
        r#"<section class="card" id="{id}" data-live><h2>{title} <span class="count">{}</span></h2>"#,
        items.len()
    );
    if items.is_empty() {
        let _ = write!(out, r#"<p class="muted">{empty}</p>"#);
    } else {
        out.push_str("<ul class=\"items\">");
        for i in items {
            out.push_str(i);
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

/// GET /admin
pub async fn home(State(s): State<AppState>, sess: Session, q: Query<OkQuery>) -> UiResult<Response> {
    let today = s.booking.today();
    let tomorrow = today + Duration::days(1);
    let now = s.clock.now();
    let tz = s.config.timezone;
    let names = unit_names(&s).await?;
    let filter = ReservationFilter {
        from: Some(today - Duration::days(1)),
        to: Some(today + Duration::days(2)),
        limit: 1000,
        ..Default::default()
    };
    let (near, _) = s.store.list_reservations(&filter).await?;
    let live: Vec<&Reservation> =
        near.iter().filter(|r| r.occupies_at(now) && r.status != ReservationStatus::Blocked).collect();
    let mut arrivals = Vec::new();
    let mut departures = Vec::new();
    for day in [today, tomorrow] {
        let label = if day == today { "hoy" } else { "mañana" };
        for r in live.iter().filter(|r| r.stay.check_in == day) {
            let balance = match super::reservations::balance_due(r) {
                Some(b) if r.status == ReservationStatus::Confirmed && b.0 > 0 => {
                    format!(" · saldo {}", html::money(b))
                }
                Some(_) if r.status == ReservationStatus::Confirmed => " · saldo pagado".to_string(),
                _ => " · falta la seña".to_string(),
            };
            arrivals.push(item(r, &names, &format!("llega {label} · {} huéspedes{balance}", r.guests)));
        }
        for r in live.iter().filter(|r| r.stay.check_out == day) {
            departures.push(item(r, &names, &format!("se va {label}")));
        }
    }
    let holds_filter =
        ReservationFilter { status: Some(ReservationStatus::PreReserved), limit: 500, ..Default::default() };
    let (holds, _) = s.store.list_reservations(&holds_filter).await?;
    let mut expiring: Vec<&Reservation> =
        holds.iter().filter(|r| r.hold_expires_at.is_some_and(|t| t > now && t <= now + Duration::hours(1))).collect();
    expiring.sort_by_key(|r| r.hold_expires_at);
    // A hold whose deposit arrives confirms by itself; what the owner needs to know is whether any
    // payment came in, not an invitation to confirm by hand.
    let mut expiring_items = Vec::new();
    for r in &expiring {
        let left = r.hold_expires_at.map(|t| (t - now).num_minutes().max(0)).unwrap_or(0);
        let payments = s.store.payments_for(r.id).await?;
        let paid = if payments.iter().any(|p| matches!(p.status.as_str(), "pending" | "in_process" | "authorized")) {
            "hay un pago en proceso: mirá el detalle"
        } else if !payments.is_empty() {
            "su pago fue rechazado; todavía no pagó"
        } else {
            "todavía no llegó ningún pago"
        };
        expiring_items.push(item(r, &names, &format!("vence en {left} min · {paid}")));
    }
    let expiring = expiring_items;
    // New bookings confirmed since yesterday (the property's day), for stays still to come.
    let since = tz
        .from_local_datetime(&(today - Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now - Duration::days(2));
    let new_filter = ReservationFilter {
        status: Some(ReservationStatus::Confirmed),
        from: Some(today),
        limit: 1000,
        ..Default::default()
    };
    let mut new_ones: Vec<Reservation> = s
        .store
        .list_reservations(&new_filter)
        .await?
        .0
        .into_iter()
        .filter(|r| r.confirmed_at.is_some_and(|t| t >= since))
        .collect();
    new_ones.sort_by_key(|r| std::cmp::Reverse(r.confirmed_at));
    let mut news = Vec::new();
    for r in &new_ones {
        let when = r.confirmed_at.map(|t| html::time(t, tz)).unwrap_or_default();
        let paid: i64 =
            s.store.payments_for(r.id).await?.iter().filter(|p| p.status == "approved").map(|p| p.amount.0).sum();
        let money = if paid > 0 {
            format!("seña pagada {}", html::money(domain::Money(paid)))
        } else {
            "confirmada a mano, sin pago registrado".to_string()
        };
        news.push(item(r, &names, &format!("confirmada {when} · entra el {} · {money}", html::date(r.stay.check_in))));
    }
    let mut flagged: BTreeMap<String, String> = BTreeMap::new();
    for flag in AttentionFlag::ALL {
        let f = ReservationFilter { flag: Some(flag), limit: 200, ..Default::default() };
        for r in s.store.list_reservations(&f).await?.0 {
            let labels: Vec<&str> = r.flags.iter().map(|f| html::flag_label(*f)).collect();
            flagged.entry(r.code.clone()).or_insert_with(|| item(&r, &names, &labels.join(", ")));
        }
    }
    let flagged: Vec<String> = flagged.into_values().collect();
    let stale_after = Duration::minutes(s.config.ical.stale_degraded_min as i64);
    let feeds = s.store.list_feeds(None).await?;
    let stale: Vec<String> = feeds
        .iter()
        .filter(|f| {
            f.last_error.is_some()
                || match f.last_success_at {
                    Some(t) => now - t > stale_after,
                    None => now - f.created_at > Duration::minutes(15),
                }
        })
        .map(|f| {
            let when = f.last_success_at.map(|t| html::time(t, tz)).unwrap_or_else(|| "nunca".into());
            let why = f.last_error.as_deref().map(|e| format!(" · {}", html::feed_problem(e))).unwrap_or_default();
            format!(
                r#"<li><a href="/admin/canales#unit-{}">{} · {}</a> <span class="muted">última lectura: {}{}</span></li>"#,
                f.unit_id,
                html::source_label(&f.source),
                e(names.get(&f.unit_id).map(String::as_str).unwrap_or("?")),
                e(&when),
                e(&why)
            )
        })
        .collect();
    let mut body = format!(r#"<h1>Hoy <span class="muted">{}</span></h1>"#, e(&html::date(today)));
    // The money the owner collects at the door today.
    let due_today: domain::Money = live
        .iter()
        .filter(|r| r.stay.check_in == today && r.status == ReservationStatus::Confirmed)
        .filter_map(|r| super::reservations::balance_due(r))
        .sum();
    if due_today.0 > 0 {
        let _ = write!(
            body,
            r#"<p class="money" id="saldo-hoy">Llegan hoy: saldo {} a cobrar.</p>"#,
            e(&html::money(due_today))
        );
    }
    body += r#"<div class="grid">"#;
    body += &section("llegadas", "Llegadas hoy y mañana", &arrivals, "Nadie llega hoy ni mañana.");
    body += &section("salidas", "Salidas hoy y mañana", &departures, "Nadie se va hoy ni mañana.");
    body += &section("nuevas", "Reservas nuevas desde ayer", &news, "No entraron reservas nuevas desde ayer.");
    body += &section(
        "por-vencer",
        "Pre-reservas que vencen en la próxima hora",
        &expiring,
        "Ninguna pre-reserva vence en la próxima hora.",
    );
    body +=
        &section("atencion", "Reservas que necesitan atención", &flagged, "Ninguna reserva tiene marcas de atención.");
    let chats: Vec<String> = s
        .store
        .list_contacts(200)
        .await?
        .iter()
        .filter(|c| c.handed_off)
        .map(|c| super::conversations::item(c, tz))
        .collect();
    body += &section(
        "chats-handoff",
        "Chats esperando a una persona",
        &chats,
        "Ningún chat espera a una persona: el bot está atendiendo.",
    );
    body += &section(
        "feeds-viejos",
        "Calendarios importados con problemas",
        &stale,
        "Todos los calendarios importados están al día.",
    );
    body += "</div>";
    body += &crate::backup::dashboard_line(s.store.last_backup().await?.as_ref(), now, tz);
    Ok(page(html::layout(Some(&sess.viewer()), Nav::Hoy, "Hoy", q.ok.as_deref(), &body)))
}
