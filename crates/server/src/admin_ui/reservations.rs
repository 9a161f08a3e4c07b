//! "Reservas": list with filters, search, paging and CSV; the detail page with its actions
//! (confirm by hand, cancel, change dates or cabin, clear a flag), all through `Booking`.

use super::html::{self, Errors, Nav, e, err, inv};
use super::session::{CsrfForm, Session};
use super::{UiError, UiResult, done, page};
use crate::booking::BookingError;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use domain::{AttentionFlag, ReservationStatus, Stay};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write;
use store::{Change, Reservation, ReservationFilter, StoreError};

pub const PER_PAGE: i64 = 25;

#[derive(Deserialize, Default)]
pub struct OkQuery {
    pub ok: Option<String>,
}

pub async fn unit_names(s: &AppState) -> UiResult<HashMap<i64, String>> {
    Ok(s.store.list_units(true).await?.into_iter().map(|u| (u.id, u.name)).collect())
}

/// A Booking refusal as a sentence for the owner, or an internal error.
pub fn booking_message(err: BookingError) -> UiResult<String> {
    let api = ApiError::from(err);
    if api.status.is_server_error() {
        return Err(UiError::Internal);
    }
    let mut m = api.message;
    if let Some(first) = m.chars().next() {
        m = first.to_uppercase().collect::<String>() + &m[first.len_utf8()..];
    }
    if !m.ends_with('.') {
        m.push('.');
    }
    Ok(m)
}

pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    estado: Option<String>,
    cabana: Option<String>,
    desde: Option<String>,
    hasta: Option<String>,
    canal: Option<String>,
    marca: Option<String>,
    q: Option<String>,
    pagina: Option<String>,
    ok: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

fn filter_from(q: &ListQuery, errors: &mut Errors) -> ReservationFilter {
    let mut f = ReservationFilter::default();
    if let Some(t) = nonempty(&q.estado) {
        match ReservationStatus::parse(t) {
            Some(st) => f.status = Some(st),
            None => {
                errors.insert("estado", "Estado desconocido.".into());
            }
        }
    }
    if let Some(t) = nonempty(&q.cabana) {
        match t.parse() {
            Ok(id) => f.unit_id = Some(id),
            Err(_) => {
                errors.insert("cabana", "Cabaña desconocida.".into());
            }
        }
    }
    for (field, slot) in [("desde", &q.desde), ("hasta", &q.hasta)] {
        if let Some(t) = nonempty(slot) {
            match parse_date(t) {
                Some(d) if field == "desde" => f.from = Some(d),
                Some(d) => f.to = Some(d),
                None => {
                    errors.insert(field, "Fecha inválida (usá AAAA-MM-DD).".into());
                }
            }
        }
    }
    if let Some(t) = nonempty(&q.canal) {
        match domain::Channel::parse(t) {
            Some(c) => f.channel = Some(c),
            None => {
                errors.insert("canal", "Canal desconocido.".into());
            }
        }
    }
    if let Some(t) = nonempty(&q.marca) {
        match AttentionFlag::parse(t) {
            Some(fl) => f.flag = Some(fl),
            None => {
                errors.insert("marca", "Marca desconocida.".into());
            }
        }
    }
    if let Some(t) = nonempty(&q.q) {
        f.text = Some(t.chars().take(100).collect());
    }
    f
}

fn query_string(q: &ListQuery, page: Option<i64>) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("estado", &q.estado),
        ("cabana", &q.cabana),
        ("desde", &q.desde),
        ("hasta", &q.hasta),
        ("canal", &q.canal),
        ("marca", &q.marca),
        ("q", &q.q),
    ] {
        if let Some(t) = nonempty(v) {
            parts.push(format!("{k}={}", html::q(t)));
        }
    }
    if let Some(p) = page {
        parts.push(format!("pagina={p}"));
    }
    parts.join("&")
}

fn select(name: &str, label: &str, options: &[(String, String)], current: Option<&str>, errors: &Errors) -> String {
    let mut out = format!(
        r#"<div class="field"><label for="f-{name}">{label}</label><select id="f-{name}" name="{name}"{}>"#,
        inv(errors, name)
    );
    for (value, text) in options {
        let sel = if Some(value.as_str()) == current { " selected" } else { "" };
        let _ = write!(out, r#"<option value="{}"{sel}>{}</option>"#, e(value), e(text));
    }
    let _ = write!(out, "</select>{}</div>", err(errors, name));
    out
}

/// GET /admin/reservas
pub async fn list(State(s): State<AppState>, sess: Session, Query(q): Query<ListQuery>) -> UiResult<Response> {
    let mut errors = Errors::new();
    let mut filter = filter_from(&q, &mut errors);
    let page_no = nonempty(&q.pagina).and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).clamp(1, 100_000);
    filter.limit = PER_PAGE;
    filter.offset = (page_no - 1) * PER_PAGE;
    let (items, total) = if errors.is_empty() { s.store.list_reservations(&filter).await? } else { (vec![], 0) };
    let units = s.store.list_units(true).await?;
    let names: HashMap<i64, String> = units.iter().map(|u| (u.id, u.name.clone())).collect();
    let tz = s.config.timezone;
    let mut status_opts = vec![(String::new(), "Todos".to_string())];
    status_opts
        .extend(ReservationStatus::ALL.iter().map(|st| (st.as_str().to_string(), html::status_label(*st).to_string())));
    let mut unit_opts = vec![(String::new(), "Todas".to_string())];
    unit_opts.extend(units.iter().map(|u| (u.id.to_string(), u.name.clone())));
    let mut flag_opts = vec![(String::new(), "Cualquiera".to_string())];
    flag_opts.extend(AttentionFlag::ALL.iter().map(|f| (f.as_str().to_string(), html::flag_label(*f).to_string())));
    let mut channel_opts = vec![(String::new(), "Todos".to_string())];
    channel_opts.extend(domain::Channel::ALL.iter().map(|c| (c.as_str().to_string(), c.label().to_string())));
    let mut body =
        String::from(r#"<h1>Reservas</h1><form class="filters card" method="get" action="/admin/reservas">"#);
    let _ = write!(
        body,
        r#"<div class="field grow"><label for="f-q">Buscar</label><input id="f-q" name="q" type="search" placeholder="Código, nombre, teléfono o e-mail" value="{}"></div>"#,
        e(nonempty(&q.q).unwrap_or(""))
    );
    body += &select("estado", "Estado", &status_opts, nonempty(&q.estado), &errors);
    body += &select("cabana", "Cabaña", &unit_opts, nonempty(&q.cabana), &errors);
    body += &select("canal", "Canal", &channel_opts, nonempty(&q.canal), &errors);
    body += &select("marca", "Marca", &flag_opts, nonempty(&q.marca), &errors);
    for (name, label) in [("desde", "Desde"), ("hasta", "Hasta")] {
        let v = if name == "desde" { &q.desde } else { &q.hasta };
        let _ = write!(
            body,
            r#"<div class="field"><label for="f-{name}">{label}</label><input id="f-{name}" name="{name}" type="date" value="{}"{}>{}</div>"#,
            e(nonempty(v).unwrap_or("")),
            inv(&errors, name),
            err(&errors, name)
        );
    }
    let qs = query_string(&q, None);
    let _ = write!(
        body,
        r#"<div class="actions"><button type="submit" class="primary">Filtrar</button> <a href="/admin/reservas">Limpiar</a> <a href="/admin/reservas.csv?{}" download>Exportar CSV</a></div></form>"#,
        e(&qs)
    );
    let _ =
        write!(body, r#"<section class="card" id="lista-reservas" data-live><p class="muted">{total} reservas</p>"#);
    if items.is_empty() {
        body += r#"<p class="muted">No hay reservas con esos filtros.</p>"#;
    } else {
        body += r#"<div class="scroll"><table class="list"><thead><tr><th>Código</th><th>Estado</th><th>Huésped</th><th>Cabaña</th><th>Entrada</th><th class="wide-only">Salida</th><th class="wide-only">Total</th><th>Saldo a cobrar</th><th class="wide-only">Canal</th><th class="wide-only">Creada</th></tr></thead><tbody>"#;
        for r in &items {
            let flags: String =
                r.flags.iter().map(|f| format!(r#" <span class="flag">{}</span>"#, html::flag_label(*f))).collect();
            let _ = write!(
                body,
                r#"<tr><td><a href="/admin/reservas/{code}">{code}</a></td><td>{badge}{flags}</td><td>{guest}<br><span class="muted">{phone}</span></td><td>{unit}</td><td>{ci}</td><td class="wide-only">{co}</td><td class="num wide-only">{total}</td><td class="num">{balance}</td><td class="wide-only">{channel}</td><td class="wide-only">{created}</td></tr>"#,
                code = e(&r.code),
                guest = e(&r.guest_name),
                phone = e(&r.guest_phone),
                unit = e(names.get(&r.unit_id).map(String::as_str).unwrap_or("?")),
                ci = html::date(r.stay.check_in),
                co = html::date(r.stay.check_out),
                badge = html::status_badge(r.status),
                total = html::money(r.total),
                balance = e(&balance_cell(r)),
                channel = html::channel_label(r.channel),
                created = html::time(r.created_at, tz),
            );
        }
        body += "</tbody></table></div>";
    }
    let pages = (total + PER_PAGE - 1) / PER_PAGE;
    if pages > 1 {
        body += r#"<nav class="pager" aria-label="Páginas">"#;
        if page_no > 1 {
            let _ = write!(
                body,
                r#"<a href="/admin/reservas?{}" rel="prev">‹ Anterior</a>"#,
                e(&query_string(&q, Some(page_no - 1)))
            );
        }
        let _ = write!(body, " <span>Página {page_no} de {pages}</span> ");
        if page_no < pages {
            let _ = write!(
                body,
                r#"<a href="/admin/reservas?{}" rel="next">Siguiente ›</a>"#,
                e(&query_string(&q, Some(page_no + 1)))
            );
        }
        body += "</nav>";
    }
    body += "</section>";
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Reservas, "Reservas", q.ok.as_deref(), &body)))
        .into_response())
}

/// One CSV cell: quoted, and never a spreadsheet formula.
fn csv_cell(text: &str) -> String {
    let t = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() };
    format!("\"{}\"", t.replace('"', "\"\""))
}

/// GET /admin/reservas.csv — the same filters, every page.
pub async fn csv(State(s): State<AppState>, _sess: Session, Query(q): Query<ListQuery>) -> UiResult<Response> {
    let mut errors = Errors::new();
    let mut filter = filter_from(&q, &mut errors);
    if !errors.is_empty() {
        return Err(UiError::NotFound);
    }
    let names = unit_names(&s).await?;
    let tz = s.config.timezone;
    let mut out = String::from(
        "codigo,cabana,entrada,salida,huespedes,estado,canal,nombre,telefono,email,total,sena,marcas,creada\r\n",
    );
    filter.limit = 500;
    filter.offset = 0;
    loop {
        let (items, total) = s.store.list_reservations(&filter).await?;
        for r in &items {
            let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
            let row = [
                r.code.clone(),
                names.get(&r.unit_id).cloned().unwrap_or_default(),
                r.stay.check_in.to_string(),
                r.stay.check_out.to_string(),
                r.guests.to_string(),
                r.status.as_str().to_string(),
                r.channel.as_str().to_string(),
                r.guest_name.clone(),
                r.guest_phone.clone(),
                r.guest_email.clone().unwrap_or_default(),
                r.total.to_string(),
                r.deposit.to_string(),
                flags.join(" "),
                r.created_at.with_timezone(&tz).to_rfc3339(),
            ];
            out += &row.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
            out += "\r\n";
        }
        filter.offset += filter.limit;
        if items.is_empty() || filter.offset >= total || filter.offset >= 50_000 {
            break;
        }
    }
    let mut r = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    r.headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"reservas.csv\""));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

async fn load(s: &AppState, code: &str) -> UiResult<Reservation> {
    match s.store.get_reservation(&code.trim().to_uppercase()).await {
        Ok(r) => Ok(r),
        Err(StoreError::NotFound) => Err(UiError::NotFound),
        Err(other) => Err(UiError::from(other)),
    }
}

/// GET /admin/reservas/{code}
pub async fn detail(
    State(s): State<AppState>,
    sess: Session,
    Path(code): Path<String>,
    q: Query<OkQuery>,
) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    detail_page(&s, &sess, r, &Errors::new(), &HashMap::new(), q.ok.as_deref(), StatusCode::OK).await
}

fn action_allowed(r: &Reservation, action: &str) -> bool {
    match action {
        "confirmar" => matches!(r.status, ReservationStatus::PreReserved | ReservationStatus::Expired),
        "cancelar" => r.status.can_become(ReservationStatus::Cancelled),
        "cambiar" => r.status.can_change_stay(),
        _ => false,
    }
}

async fn detail_page(
    s: &AppState,
    sess: &Session,
    r: Reservation,
    errors: &Errors,
    values: &HashMap<String, String>,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let tz = s.config.timezone;
    let units = s.store.list_units(true).await?;
    let unit = units.iter().find(|u| u.id == r.unit_id);
    let unit_name = unit.map(|u| u.name.as_str()).unwrap_or("?");
    let val = |k: &str, default: String| values.get(k).cloned().unwrap_or(default);
    let code = e(&r.code).to_string();
    let mut b = format!(
        r#"<p><a href="/admin/reservas">‹ Reservas</a></p><h1>Reserva {code} {}</h1>"#,
        html::status_badge(r.status)
    );
    b += &err(errors, "general");
    b += &super::calendar::in_the_way(errors);
    b += r#"<div class="grid"><section class="card" id="datos" data-live><h2>Datos</h2><dl class="kv">"#;
    let flags: Vec<&str> = r.flags.iter().map(|f| html::flag_label(*f)).collect();
    let rows: Vec<(&str, String)> = vec![
        ("Cabaña", unit_name.to_string()),
        ("Entrada", html::date(r.stay.check_in)),
        ("Salida", html::date(r.stay.check_out)),
        ("Noches", r.stay.nights().to_string()),
        ("Huéspedes", r.guests.to_string()),
        ("Estado", html::status_label(r.status).to_string()),
        ("Canal", html::channel_label(r.channel).to_string()),
        ("Nombre", r.guest_name.clone()),
        ("Teléfono", r.guest_phone.clone()),
        ("E-mail", r.guest_email.clone().unwrap_or_else(|| "—".into())),
        ("Total", html::money(r.total)),
        ("Marcas", if flags.is_empty() { "—".into() } else { flags.join(", ") }),
        ("Creada", html::time(r.created_at, tz)),
        ("Actualizada", html::time(r.updated_at, tz)),
        ("Confirmada", r.confirmed_at.map(|t| html::time(t, tz)).unwrap_or_else(|| "—".into())),
        ("Cancelada", r.cancelled_at.map(|t| html::time(t, tz)).unwrap_or_else(|| "—".into())),
    ];
    let mut rows = rows;
    // The money at a glance: what was paid and what is still to collect.
    rows.splice(11..11, money_rows(&r, tz));
    // Only a live hold has a deadline: a paid (or cancelled) reservation has none.
    if r.status == ReservationStatus::PreReserved
        && let Some(t) = r.hold_expires_at
    {
        rows.insert(11, ("Pre-reserva vence", html::time(t, tz)));
    }
    for (k, v) in rows {
        let _ = write!(b, "<dt>{k}</dt><dd>{}</dd>", e(&v));
    }
    b += "</dl>";
    if !r.notes.is_empty() {
        let _ = write!(b, r#"<h3>Notas</h3><pre class="notes">{}</pre>"#, e(&html::notes_local(&r.notes, tz)));
    }
    b += "</section>";
    b += &payments_section(s, sess, &r, errors).await?;
    b += &super::messages::timeline(s, sess, &r).await?;

    // Actions.
    let from_chat = s.chat.contact_of(&r).await.is_some();
    b += r#"<section class="card" id="acciones"><h2>Acciones</h2>"#;
    let csrf = sess.csrf_field();
    if action_allowed(&r, "confirmar") {
        let late = if r.status == ReservationStatus::Expired {
            "<p class=\"muted\">La pre-reserva venció: se confirma solo si las noches siguen libres.</p>"
        } else {
            ""
        };
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/reservas/{code}/confirmar" class="action" id="form-confirmar">{csrf}<h3>Confirmar a mano</h3>{late}
<label for="confirm-note">Nota (cómo pagó, p. ej. «efectivo»)</label><input id="confirm-note" name="note" value="{v}"{i}>{er}
<button type="submit" class="primary" id="btn-confirmar">Confirmar</button></form>"#,
            v = e(&val("confirm_note", String::new())),
            i = inv(errors, "confirm_note"),
            er = err(errors, "confirm_note"),
        );
    }
    if action_allowed(&r, "cancelar") {
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/reservas/{code}/cancelar" class="action" id="form-cancelar">{csrf}<h3>Cancelar</h3>
<label for="cancel-reason">Motivo (queda en el historial)</label><input id="cancel-reason" name="reason" value="{v}"{i}>{er}{notice}
<button type="submit" class="danger" id="btn-cancelar">Cancelar la reserva</button></form>"#,
            notice = if from_chat {
                r#"<p class="muted">La reserva vino de un chat: le avisamos al huésped por ese mismo chat.</p>"#
            } else {
                ""
            },
            v = e(&val("reason", String::new())),
            i = inv(errors, "reason"),
            er = err(errors, "reason"),
        );
    }
    if action_allowed(&r, "cambiar") {
        let current_unit = val("unit", r.unit_id.to_string());
        let mut opts = String::new();
        for u in units.iter().filter(|u| u.active || u.id == r.unit_id) {
            let sel = if u.id.to_string() == current_unit { " selected" } else { "" };
            let _ = write!(opts, r#"<option value="{}"{sel}>{}</option>"#, u.id, e(&u.name));
        }
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/reservas/{code}/cambiar" class="action" id="form-cambiar">{csrf}<h3>Cambiar fechas o cabaña</h3>
<label for="ch-unit">Cabaña</label><select id="ch-unit" name="unit"{iu}>{opts}</select>{eu}
<div class="row"><div><label for="ch-in">Entrada</label><input id="ch-in" type="date" name="check_in" value="{ci}"{ii}>{ei}</div>
<div><label for="ch-out">Salida</label><input id="ch-out" type="date" name="check_out" value="{co}"{io}>{eo}</div></div>
<label for="ch-note">Nota</label><input id="ch-note" name="note" value="{note}">
<button type="submit" id="btn-cambiar">Guardar el cambio</button></form>"#,
            iu = inv(errors, "unit"),
            eu = err(errors, "unit"),
            ci = e(&val("check_in", r.stay.check_in.to_string())),
            ii = inv(errors, "check_in"),
            ei = err(errors, "check_in"),
            co = e(&val("check_out", r.stay.check_out.to_string())),
            io = inv(errors, "check_out"),
            eo = err(errors, "check_out"),
            note = e(&val("note", String::new())),
        );
    }
    for f in &r.flags {
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/reservas/{code}/marca" class="action">{csrf}<h3>Quitar marca: {label}</h3><input type="hidden" name="flag" value="{flag}">
<label for="flag-note-{flag}">Nota (qué se hizo)</label><input id="flag-note-{flag}" name="note"{i}>{er}
<button type="submit">Quitar la marca</button></form>"#,
            label = html::flag_label(*f),
            flag = f.as_str(),
            i = if values.get("flag").map(String::as_str) == Some(f.as_str()) { inv(errors, "flag_note") } else { "" },
            er = if values.get("flag").map(String::as_str) == Some(f.as_str()) {
                err(errors, "flag_note")
            } else {
                String::new()
            },
        );
    }
    if !action_allowed(&r, "confirmar")
        && !action_allowed(&r, "cancelar")
        && !action_allowed(&r, "cambiar")
        && r.flags.is_empty()
    {
        b += r#"<p class="muted">No hay acciones para una reserva en este estado.</p>"#;
    }
    b += "</section>";

    // Nightly breakdown at today's rates.
    if let Some(u) = unit
        && r.status != ReservationStatus::Blocked
        && let Ok(quote) = s.booking.quote(u, r.stay).await
    {
        b += r#"<section class="card"><h2>Desglose por noche</h2><p class="muted">Con las tarifas actuales; el total cobrado es el de arriba.</p><table class="list"><tbody>"#;
        for n in &quote.nights {
            let mut tags = Vec::new();
            if n.weekend {
                tags.push("fin de semana".to_string());
            }
            if n.holiday_eve {
                tags.push("víspera de feriado".to_string());
            }
            if let Some(rule) = &n.rule {
                tags.push(rule.clone());
            }
            let _ = write!(
                b,
                r#"<tr><td>{}</td><td class="muted">{}</td><td class="num">{}</td></tr>"#,
                html::date(n.date),
                e(&tags.join(" · ")),
                html::money(n.price)
            );
        }
        let _ = write!(
            b,
            r#"<tr><th colspan="2">Total</th><th class="num">{}</th></tr></tbody></table></section>"#,
            html::money(quote.total)
        );
    }

    // Audit timeline.
    let audit = s.store.audit_for(r.id).await?;
    b += r#"<section class="card" id="historial" data-live><h2>Historial</h2><ol class="timeline">"#;
    for a in audit.iter().rev() {
        let _ = write!(
            b,
            r#"<li><span class="muted">{}</span> <strong>{}</strong> · {}{}</li>"#,
            html::time(a.created_at, tz),
            e(&audit_label(&a.action)),
            e(&html::actor_label(&a.actor)),
            if a.note.is_empty() { String::new() } else { format!(" — {}", e(&a.note)) }
        );
    }
    b += "</ol></section></div>";
    let title = format!("Reserva {}", r.code);
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Reservas, &title, ok, &b))).into_response())
}

/// What is still to collect from the guest: what is pending of a confirmed reservation (from
/// its current total, after the seña and whatever was received of the balance, by hand or
/// through a balance link); a hold's balance; nothing for a stay that will not happen.
pub fn balance_due(r: &Reservation) -> Option<domain::Money> {
    match r.status {
        ReservationStatus::Confirmed => Some(r.balance_due()),
        ReservationStatus::PreReserved => Some(r.total - r.deposit),
        _ => None,
    }
}

fn balance_cell(r: &Reservation) -> String {
    match (r.status, balance_due(r)) {
        (ReservationStatus::Confirmed, Some(b)) if b.0 > 0 => html::money(b),
        (ReservationStatus::Confirmed, _) => "pagado".into(),
        (ReservationStatus::PreReserved, _) => "falta la seña".into(),
        _ => "—".into(),
    }
}

/// Seña, saldo, pagado and pendiente as rows of the reservation's data (the same figures as the
/// API's `money` object).
fn money_rows(r: &Reservation, tz: chrono_tz::Tz) -> Vec<(&'static str, String)> {
    let m = r.money();
    match r.status {
        ReservationStatus::Confirmed => vec![
            ("Seña pagada", html::money(m.deposit)),
            ("Saldo", html::money(m.balance)),
            ("Pagado", html::money(m.paid)),
            (
                "Saldo a cobrar",
                Some(m.pending).filter(|b| b.0 > 0).map(html::money).unwrap_or_else(|| balance_paid_words(r, tz)),
            ),
        ],
        ReservationStatus::PreReserved => vec![
            ("Seña a pagar", format!("{} (todavía no se pagó)", html::money(r.deposit))),
            ("Saldo al llegar", html::money(m.balance)),
        ],
        ReservationStatus::Blocked => vec![],
        _ => vec![("Seña", html::money(r.deposit))],
    }
}

/// "cobrado, transferencia (07/12/2026 18:30)", or "nada" when there was none to collect.
fn balance_paid_words(r: &Reservation, tz: chrono_tz::Tz) -> String {
    match r.balance_paid {
        Some(b) => format!("cobrado, {} ({})", b.method.label(), html::time(b.at, tz)),
        None => "nada".into(),
    }
}

/// One sentence for the payments card.
fn money_line(r: &Reservation, tz: chrono_tz::Tz) -> String {
    let m = r.money();
    match r.status {
        ReservationStatus::Confirmed => match Some(m.pending).filter(|b| b.0 > 0) {
            Some(b) => format!(
                "Seña: {}. Saldo: {}. Pagado: {}. Pendiente: {}.",
                html::money(m.deposit),
                html::money(m.balance),
                html::money(m.paid),
                html::money(b)
            ),
            None => format!(
                "Seña: {}. Saldo: {}. Pagado: {}. Pendiente: nada (saldo {}).",
                html::money(m.deposit),
                html::money(m.balance),
                html::money(m.paid),
                balance_paid_words(r, tz)
            ),
        },
        ReservationStatus::PreReserved => format!(
            "Seña de {} todavía sin pagar; al llegar se cobran {}.",
            html::money(r.deposit),
            html::money(m.balance)
        ),
        _ => "No hay nada por cobrar.".into(),
    }
}

pub fn audit_label(action: &str) -> String {
    match action {
        "created" => "Creada".into(),
        "confirmed" => "Confirmada".into(),
        "cancelled" => "Cancelada".into(),
        "expired" => "Venció".into(),
        "stay_changed" => "Cambio de fechas o cabaña".into(),
        "flag_set" => "Marca puesta".into(),
        "flag_cleared" => "Marca quitada".into(),
        "guest_notified" => "Aviso al huésped".into(),
        "payment_link_resent" => "Link de pago reenviado".into(),
        "payment_link_requested" => "Link de pago pedido".into(),
        "balance_paid" => "Saldo cobrado".into(),
        "balance_link_sent" => "Link de saldo enviado".into(),
        "balance_link_requested" => "Link de saldo pedido".into(),
        "refund_proposed" => "Devolución calculada".into(),
        "refund_approved" => "Devolución aprobada".into(),
        "refund_done" => "Devolución hecha".into(),
        "refund_failed" => "Devolución rechazada".into(),
        "refund_declined" => "Sin devolución".into(),
        "stay_message_now" => "Mensaje automático enviado a mano".into(),
        "stay_message_skipped" => "Mensaje automático salteado".into(),
        other => other.to_string(),
    }
}

async fn refused(
    s: &AppState,
    form: &CsrfForm,
    code: &str,
    field: &'static str,
    message: String,
) -> UiResult<Response> {
    refused_with(s, form, code, vec![(field, message)]).await
}

async fn refused_with(
    s: &AppState,
    form: &CsrfForm,
    code: &str,
    messages: Vec<(&'static str, String)>,
) -> UiResult<Response> {
    let r = load(s, code).await?;
    let mut errors = Errors::new();
    let field = messages.first().map(|(f, _)| *f).unwrap_or("general");
    for (f, m) in messages {
        errors.insert(f, m);
    }
    let mut values = form.fields.clone();
    values.remove("csrf");
    if field == "confirm_note" {
        values.insert("confirm_note".into(), form.get("note").to_string());
    }
    detail_page(s, &form.session, r, &errors, &values, None, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// POST /admin/reservas/{code}/confirmar
pub async fn confirm(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    let note = form.get("note");
    if note.is_empty() {
        return refused(&s, &form, &code, "confirm_note", "Escribí una nota (por ejemplo, cómo pagó).".into()).await;
    }
    if note.chars().count() > 500 {
        return refused(&s, &form, &code, "confirm_note", "La nota puede tener hasta 500 caracteres.".into()).await;
    }
    let late = r.status == ReservationStatus::Expired;
    match s.booking.confirm(&r.code, &form.session.email, note, late).await {
        Ok(_) => Ok(done(&format!("/admin/reservas/{}", r.code), "confirmada")),
        Err(err) => refused(&s, &form, &code, "general", booking_message(err)?).await,
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// POST /admin/reservas/{code}/saldo — the guest paid the balance (cash, transfer, Mercado Pago).
pub async fn balance_paid(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    let Some(method) = domain::BalanceMethod::parse(form.get("method")) else {
        return refused(&s, &form, &code, "method", "Elegí cómo pagó: efectivo, transferencia o Mercado Pago.".into())
            .await;
    };
    let extra = form.get("note");
    if extra.chars().count() > 500 {
        return refused(&s, &form, &code, "method", "La nota puede tener hasta 500 caracteres.".into()).await;
    }
    let due = balance_due(&r).unwrap_or_default();
    let mut note = format!("Saldo de {} cobrado: {}", due.to_ars_spaced(), method.label());
    if !extra.is_empty() {
        note = format!("{note} ({extra})");
    }
    let change = store::Change { actor: form.session.email.clone(), note, allow_expired: false };
    match s.store.record_balance_paid(&r.code, method, &change, s.clock.now()).await {
        Ok(paid) => {
            // The balance reminder is not sent any more (the worker checks again before sending).
            if let Err(e) = s.booking.schedule_stay_messages(&paid).await {
                tracing::warn!(code = %paid.code, error = %e, "could not plan the stay's messages");
            }
            Ok(done(&format!("/admin/reservas/{}", r.code), "saldo"))
        }
        Err(store::StoreError::Duplicate(_)) => {
            refused(&s, &form, &code, "general", "El saldo de esta reserva ya estaba registrado como cobrado.".into())
                .await
        }
        Err(store::StoreError::NotActive(_)) => {
            refused(&s, &form, &code, "general", "Solo se registra el saldo de una reserva confirmada.".into()).await
        }
        Err(other) => Err(other.into()),
    }
}

/// POST /admin/reservas/{code}/cancelar
pub async fn cancel(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    let reason = form.get("reason");
    if reason.is_empty() {
        return refused(&s, &form, &code, "reason", "Escribí el motivo de la cancelación.".into()).await;
    }
    if reason.chars().count() > 500 {
        return refused(&s, &form, &code, "reason", "El motivo puede tener hasta 500 caracteres.".into()).await;
    }
    let cancelled = match s.booking.cancel(&r.code, &form.session.email, reason).await {
        Ok(c) => c,
        Err(err) => return refused(&s, &form, &code, "general", booking_message(err)?).await,
    };
    // A paid reservation: the refund its policy gives, waiting on this page for approval
    // (or already on its way when the owner chose automatic refunds).
    if let Err(err) = s.payments.propose_refund(&cancelled, &form.session.email).await {
        tracing::error!(error = %err, code = %cancelled.code, "could not propose the refund");
    }
    // A reservation that came from a chat: the guest hears it there and the chat waits for a
    // person (Conversaciones); the bot knows it if the guest asks later.
    let Some(contact) = s.chat.contact_of(&cancelled).await else {
        return Ok(done(&format!("/admin/reservas/{}", r.code), "cancelada"));
    };
    if let Err(err) = s.chat.owner_cancelled(&cancelled).await {
        tracing::error!(error = %err, code = %cancelled.code, "could not queue the cancellation notice");
        return Ok(done(&format!("/admin/reservas/{}", r.code), "cancelada"));
    }
    let note = format!("aviso de cancelación por {} ({})", contact.channel, contact.address);
    s.store.record_audit(Some(cancelled.id), &form.session.email, "guest_notified", &note, s.clock.now()).await?;
    Ok(done(&format!("/admin/reservas/{}", r.code), "cancelada_avisada"))
}

fn payment_status_label(status: &str) -> &str {
    match status {
        "approved" => "Aprobado",
        "pending" => "Pendiente",
        "in_process" => "En proceso",
        "authorized" => "Autorizado",
        "rejected" => "Rechazado",
        "cancelled" => "Cancelado",
        "in_mediation" => "En disputa",
        "refunded" => "Devuelto",
        "charged_back" => "Contracargo",
        other => other,
    }
}

/// Whether a link can be (re)sent: a live hold and a payment provider.
fn link_allowed(s: &AppState, r: &Reservation) -> bool {
    s.config.payments.provider != crate::config::PaymentProvider::None
        && r.status == ReservationStatus::PreReserved
        && r.occupies_at(s.clock.now())
}

/// Payments, the hold's payment link and "Reenviar link de pago".
async fn payments_section(s: &AppState, sess: &Session, r: &Reservation, errors: &Errors) -> UiResult<String> {
    let tz = s.config.timezone;
    let payments = s.store.payments_for(r.id).await?;
    let link = s.store.payment_link(r.id).await?;
    if r.status == ReservationStatus::Blocked && payments.is_empty() && link.is_none() {
        return Ok(String::new());
    }
    let mut b = String::from(r#"<section class="card" id="pagos" data-live><h2>Pagos</h2>"#);
    b += &err(errors, "link");
    // Once paid (or over), the link is history: showing it invites paying twice.
    let link = link.filter(|_| r.status == ReservationStatus::PreReserved);
    match &link {
        Some(l) => {
            let expires = l.expires_at.map(|t| format!(" · vence {}", html::time(t, tz))).unwrap_or_default();
            let _ = write!(
                b,
                r#"<label for="pay-link">Link de pago de la seña ({amount}{expires})</label>
<div class="copyrow"><input id="pay-link" readonly value="{url}"><button type="button" data-copy="pay-link">Copiar</button></div>"#,
                amount = html::money(l.amount),
                expires = e(&expires),
                url = e(&l.url),
            );
        }
        None if r.status == ReservationStatus::PreReserved => {
            b += r#"<p class="muted">Esta pre-reserva todavía no tiene link de pago.</p>"#;
        }
        None => {}
    }
    let _ = write!(b, r#"<p class="money" id="saldo">{}</p>"#, e(&money_line(r, tz)));
    if payments.is_empty() {
        b += r#"<p class="muted">Todavía no hay pagos registrados.</p>"#;
    } else {
        b += r#"<div class="scroll"><table class="list" id="lista-pagos"><thead><tr><th>Fecha</th><th>Concepto</th><th>Estado</th><th class="num">Monto</th><th>Medio</th><th>Id del pago</th></tr></thead><tbody>"#;
        for p in &payments {
            let detail = if p.status_detail.is_empty() {
                String::new()
            } else {
                format!(r#"<br><span class="muted">{}</span>"#, e(&html::payment_detail_label(&p.status_detail)))
            };
            let _ = write!(
                b,
                r#"<tr><td>{when}</td><td>{purpose}</td><td><span class="pay st-{cls}">{label}</span>{detail}</td><td class="num">{amount} {currency}</td><td>{provider}</td><td><code>{id}</code></td></tr>"#,
                when = html::time(p.updated_at, tz),
                purpose = if p.purpose == store::PaymentPurpose::Balance { "Saldo" } else { "Seña" },
                cls = e(&p.status),
                label = e(payment_status_label(&p.status)),
                amount = html::money(p.amount),
                currency = e(&p.currency),
                provider =
                    e(crate::config::PaymentProvider::parse(&p.provider).map_or(p.provider.as_str(), |k| k.label())),
                id = e(&p.provider_payment_id),
            );
        }
        b += "</tbody></table></div>";
    }
    b += &refund_block(sess, r, &payments, s.store.refund_for(r.id).await?.as_ref(), errors);
    b += &balance_link_block(s, sess, r).await?;
    // The balance is paid at the door: the owner or staff records how.
    if r.status == ReservationStatus::Confirmed && balance_due(r).is_some_and(|due| due.0 > 0) {
        let mut opts = String::new();
        for m in domain::BalanceMethod::ALL {
            let _ = write!(opts, r#"<option value="{}">{}</option>"#, m.as_str(), capitalized(m.label()));
        }
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/reservas/{code}/saldo" class="action" id="form-saldo">{csrf}<h3>Registrar el saldo cobrado</h3>
<label for="saldo-medio">Cómo pagó los {due}</label><select id="saldo-medio" name="method"{i}>{opts}</select>{er}
<label for="saldo-nota">Nota (opcional)</label><input id="saldo-nota" name="note">
<button type="submit" class="primary" id="btn-saldo">Saldo cobrado</button></form>"#,
            code = e(&r.code),
            csrf = sess.csrf_field(),
            due = html::money(balance_due(r).unwrap_or_default()),
            i = inv(errors, "method"),
            er = err(errors, "method"),
        );
    }
    if link_allowed(s, r) {
        let from_chat = s.chat.contact_of(r).await.is_some();
        let (label, help) = match (&link, from_chat) {
            (Some(_), true) => {
                ("Reenviar link de pago", "Se lo mandamos al huésped por el chat de donde vino la reserva.")
            }
            (Some(_), false) => ("", "La reserva no vino de un chat: copiá el link y mandáselo vos."),
            (None, true) => ("Crear y enviar link de pago", "Se crea el link y se lo mandamos al huésped por el chat."),
            (None, false) => ("Crear link de pago", "Se crea el link; después copialo y mandáselo vos."),
        };
        let _ = write!(b, r#"<p class="muted">{help}</p>"#);
        if !label.is_empty() {
            let _ = write!(
                b,
                r#"<form method="post" action="/admin/reservas/{code}/link" class="inline" id="form-link">{csrf}<button type="submit" id="btn-link">{label}</button></form>"#,
                code = e(&r.code),
                csrf = sess.csrf_field(),
            );
        }
    }
    b += "</section>";
    Ok(b)
}

/// The balance link for what is pending (when a provider is configured and arrival has not
/// come): the stored link for this amount to copy, and «Enviar link de saldo», which asks the
/// balance-link job to create or reuse it and send it to the guest's chat.
async fn balance_link_block(s: &AppState, sess: &Session, r: &Reservation) -> UiResult<String> {
    if s.payments.provider().is_none() {
        return Ok(String::new());
    }
    let Some((due, deadline)) = s.payments.balance_link_terms(r) else { return Ok(String::new()) };
    let tz = s.config.timezone;
    let mut b = String::from(r#"<div id="link-saldo">"#);
    match s.store.balance_link(r.id, due, deadline).await? {
        Some(l) => {
            let _ = write!(
                b,
                r#"<label for="pay-link-saldo">Link de pago del saldo ({amount} · vence {expires})</label>
<div class="copyrow"><input id="pay-link-saldo" readonly value="{url}"><button type="button" data-copy="pay-link-saldo">Copiar</button></div>"#,
                amount = html::money(l.amount),
                expires = e(&html::time(l.expires_at, tz)),
                url = e(&l.url),
            );
        }
        None => {
            let _ = write!(
                b,
                r#"<p class="muted">El link del saldo ({}) sirve hasta el día anterior a la llegada.</p>"#,
                html::money(due)
            );
        }
    }
    let (label, help) = if s.chat.contact_of(r).await.is_some() {
        (
            "Enviar link de saldo",
            "Se crea (o se reusa) el link por lo pendiente y se lo mandamos al huésped por su chat.",
        )
    } else {
        ("Crear link de saldo", "La reserva no vino de un chat: se crea el link; después copialo y mandáselo vos.")
    };
    let _ = write!(
        b,
        r#"<p class="muted">{help}</p><form method="post" action="/admin/reservas/{code}/link-saldo" class="inline" id="form-link-saldo">{csrf}<button type="submit" id="btn-link-saldo">{label}</button></form></div>"#,
        code = e(&r.code),
        csrf = sess.csrf_field(),
    );
    Ok(b)
}

/// POST /admin/reservas/{code}/link-saldo — queues the balance-link job (create or reuse the
/// link for what is pending, and send it to the guest's chat); never calls the provider here.
pub async fn send_balance_link(
    State(s): State<AppState>,
    Path(code): Path<String>,
    form: CsrfForm,
) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    if s.payments.provider().is_none() {
        return refused(&s, &form, &code, "link", "Los pagos en línea no están configurados.".into()).await;
    }
    if s.payments.balance_link_terms(&r).is_none() {
        let why = if r.status != ReservationStatus::Confirmed {
            "Solo una reserva confirmada tiene link de saldo."
        } else if r.balance_due() == domain::Money::ZERO {
            "Esta reserva no tiene saldo pendiente."
        } else {
            "El link del saldo sirve hasta el día anterior a la llegada: cobralo en efectivo o por transferencia."
        };
        return refused(&s, &form, &code, "link", why.into()).await;
    }
    let now = s.clock.now();
    let who = &form.session.email;
    s.store.enqueue_job(&crate::payments::balance::link_job(&r.code, who, now), now).await?;
    s.store.record_audit(Some(r.id), who, "balance_link_requested", "", now).await?;
    s.wake.notify_one();
    Ok(done(&format!("/admin/reservas/{}", r.code), "link_saldo"))
}

/// Seña, pagado, devuelto, and the refund waiting for the owner's approval.
fn refund_block(
    sess: &Session,
    r: &Reservation,
    payments: &[store::Payment],
    refund: Option<&store::RefundRecord>,
    errors: &Errors,
) -> String {
    use domain::RefundStatus;
    let paid: i64 = payments
        .iter()
        .filter(|p| matches!(p.status.as_str(), "approved" | "refunded" | "in_mediation" | "charged_back"))
        .map(|p| p.amount.0)
        .sum();
    if refund.is_none() && (r.status != ReservationStatus::Cancelled || paid == 0) {
        return String::new();
    }
    let returned = refund.filter(|f| f.status == RefundStatus::Done).map(|f| f.amount).unwrap_or_default();
    let mut b = format!(
        r#"<div id="devolucion"><h3>Devolución</h3><dl class="kv"><dt>Seña</dt><dd>{}</dd><dt>Pagado</dt><dd>{}</dd><dt>Devuelto</dt><dd id="devuelto">{}</dd>"#,
        html::money(r.deposit),
        html::money(domain::Money(paid)),
        html::money(returned)
    );
    b += &err(errors, "refund");
    let Some(f) = refund else {
        // The cancellation committed but its refund was never proposed (the process stopped in
        // between, or it was cancelled before refunds existed): the owner computes it here.
        b += r#"</dl><p class="muted">La reserva está cancelada y tiene pagos, pero no hay devolución calculada.</p>"#;
        if sess.is_owner() {
            let _ = write!(
                b,
                r#"<form method="post" action="/admin/reservas/{code}/devolucion" class="inline" id="form-calcular-devolucion">{csrf}<button type="submit" name="action" value="calcular" id="btn-calcular-devolucion">Calcular la devolución según la política</button></form>"#,
                code = e(&r.code),
                csrf = sess.csrf_field(),
            );
        }
        b += "</div>";
        return b;
    };
    let _ = write!(
        b,
        r#"<dt>Estado</dt><dd id="devolucion-estado">{} · {} ({} % de {})</dd>"#,
        e(f.status.label()),
        html::money(f.amount),
        f.percent,
        html::money(f.paid)
    );
    if f.status == RefundStatus::Failed && !f.error.is_empty() {
        let _ = write!(b, r#"<dt>Motivo</dt><dd class="err">{}</dd>"#, e(&f.error));
    }
    b += "</dl>";
    if f.status == RefundStatus::Pending && sess.is_owner() {
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/reservas/{code}/devolucion" class="action" id="form-devolucion">{csrf}<p class="muted">Se devuelve por Mercado Pago, al mismo medio con que pagó el huésped, y le avisamos por su chat.</p>
<label for="devolucion-monto">Monto a devolver (pesos; como mucho {max})</label><input id="devolucion-monto" name="amount" inputmode="decimal" value="{amount}"{i}>
<button type="submit" class="primary" name="action" value="aprobar" id="btn-aprobar-devolucion">Aprobar la devolución</button>
<button type="submit" name="action" value="no_devolver" id="btn-no-devolver">No devolver</button></form>"#,
            code = e(&r.code),
            csrf = sess.csrf_field(),
            max = html::money(f.paid),
            amount = f.amount.0 as f64 / 100.0,
            i = inv(errors, "refund"),
        );
    }
    b += "</div>";
    b
}

/// POST /admin/reservas/{code}/devolucion — the owner approves (maybe another amount) or
/// declines the cancelled reservation's refund.
pub async fn refund(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let r = load(&s, &code).await?;
    if form.get("action") == "calcular" && s.store.refund_for(r.id).await?.is_none() {
        return match s.payments.propose_refund(&r, &form.session.email).await.map_err(UiError::internal)? {
            Some(_) => Ok(done(&format!("/admin/reservas/{}", r.code), "devolucion_calculada")),
            None => {
                let why = "No hay un pago por Mercado Pago de esta reserva cancelada para devolver.";
                refused(&s, &form, &code, "general", why.into()).await
            }
        };
    }
    let Some(pending) = s.store.refund_for(r.id).await? else {
        return refused(&s, &form, &code, "general", "Esta reserva no tiene una devolución para aprobar.".into()).await;
    };
    let who = form.session.email.clone();
    let result = match form.get("action") {
        "aprobar" => {
            let raw = form.get("amount").trim().replace(',', ".");
            let amount = if raw.is_empty() { Some(pending.amount) } else { domain::Money::parse(&raw) };
            match amount {
                Some(a) if a.0 > 0 && a <= pending.paid => s.payments.approve_refund(pending.id, Some(a), &who).await,
                _ => {
                    let msg = format!("Escribí un monto mayor que cero y de hasta {}.", html::money(pending.paid));
                    return refused(&s, &form, &code, "refund", msg).await;
                }
            }
        }
        "no_devolver" => s.payments.decline_refund(pending.id, &who, "El dueño decidió no devolver la seña.").await,
        _ => return refused(&s, &form, &code, "refund", "Elegí aprobar o no devolver.".into()).await,
    };
    match result {
        Ok(f) if f.status == domain::RefundStatus::Approved => {
            s.wake.notify_one();
            Ok(done(&format!("/admin/reservas/{}", r.code), "devolucion_aprobada"))
        }
        Ok(_) => Ok(done(&format!("/admin/reservas/{}", r.code), "devolucion_no")),
        Err(StoreError::Invalid(_)) => {
            refused(&s, &form, &code, "refund", "Esta devolución ya no está pendiente (recargá la página).".into())
                .await
        }
        Err(other) => Err(other.into()),
    }
}

/// POST /admin/reservas/{code}/link — resend the stored link through the chat, or ask the
/// payment-link job to create it (the job sends it to the chat itself).
pub async fn resend_link(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    if !link_allowed(&s, &r) {
        let why = if s.config.payments.provider == crate::config::PaymentProvider::None {
            "Los pagos en línea no están configurados."
        } else {
            "Solo una pre-reserva vigente tiene link de pago."
        };
        return refused(&s, &form, &code, "link", why.into()).await;
    }
    let now = s.clock.now();
    let who = &form.session.email;
    match (s.store.payment_link(r.id).await?, s.chat.contact_of(&r).await) {
        (Some(link), Some(contact)) => {
            let expires = r
                .hold_expires_at
                .map(|t| format!(" Tenés tiempo hasta las {}.", t.with_timezone(&s.config.timezone).format("%H:%M")))
                .unwrap_or_default();
            let text = format!(
                "Te reenvío el link para pagar la seña de tu reserva *{}* ({}): {}{expires}",
                r.code,
                html::money(link.amount),
                link.url
            );
            s.chat.notify(contact.id, &text, None).await.map_err(UiError::internal)?;
            let note = format!("por {} ({})", contact.channel, contact.address);
            s.store.record_audit(Some(r.id), who, "payment_link_resent", &note, now).await?;
            Ok(done(&format!("/admin/reservas/{}", r.code), "link"))
        }
        (Some(_), None) => {
            refused(&s, &form, &code, "link", "La reserva no vino de un chat: copiá el link y mandáselo vos.".into())
                .await
        }
        (None, _) => {
            let job = store::NewJob {
                kind: crate::payments::LINK_JOB.into(),
                payload: serde_json::json!({"code": r.code}),
                dedupe_key: None,
                run_at: now,
                max_attempts: 20,
            };
            s.store.enqueue_job(&job, now).await?;
            s.store.record_audit(Some(r.id), who, "payment_link_requested", "", now).await?;
            Ok(done(&format!("/admin/reservas/{}", r.code), "link_creando"))
        }
    }
}

/// POST /admin/reservas/{code}/cambiar
pub async fn change(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    let Ok(unit_id) = form.get("unit").parse::<i64>() else {
        return refused(&s, &form, &code, "unit", "Elegí una cabaña.".into()).await;
    };
    let Some(check_in) = parse_date(form.get("check_in")) else {
        return refused(&s, &form, &code, "check_in", "Elegí la fecha de entrada.".into()).await;
    };
    let Some(check_out) = parse_date(form.get("check_out")) else {
        return refused(&s, &form, &code, "check_out", "Elegí la fecha de salida.".into()).await;
    };
    let stay = match Stay::new(check_in, check_out) {
        Ok(st) => st,
        Err(err) => return refused(&s, &form, &code, "check_out", booking_message(err.into())?).await,
    };
    match s.booking.change_stay(&r.code, unit_id, stay, &form.session.email, form.get("note")).await {
        Ok(_) => Ok(done(&format!("/admin/reservas/{}", r.code), "cambiada")),
        Err(err) => {
            let overlap = matches!(err, BookingError::Store(StoreError::Overlap));
            let message = booking_message(err)?;
            let mut errors = vec![("general", message)];
            if overlap {
                let codes = super::calendar::in_the_way_codes(&s, unit_id, stay, Some(&r.code)).await?;
                errors.push((super::calendar::IN_THE_WAY, codes));
            }
            refused_with(&s, &form, &code, errors).await
        }
    }
}

/// POST /admin/reservas/{code}/marca
pub async fn clear_flag(State(s): State<AppState>, Path(code): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let r = load(&s, &code).await?;
    let Some(flag) = AttentionFlag::parse(form.get("flag")) else {
        return refused(&s, &form, &code, "general", "Marca desconocida.".into()).await;
    };
    let note = form.get("note");
    if note.is_empty() {
        return refused(&s, &form, &code, "flag_note", "Contá en una nota qué se hizo.".into()).await;
    }
    let change =
        Change { actor: form.session.email.clone(), note: note.chars().take(500).collect(), allow_expired: false };
    s.store.set_flag(&r.code, flag, false, &change, s.clock.now()).await?;
    Ok(done(&format!("/admin/reservas/{}", r.code), "marca"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(super::csv_cell("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::csv_cell("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(super::csv_cell("+54 9 294"), "\"'+54 9 294\"");
    }
}
