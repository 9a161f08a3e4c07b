//! "Calendario": cabins × days, each night coloured by what occupies it (hold, confirmed,
//! owner block, Airbnb/Booking/Vrbo import, free). Selecting free nights fills the form that
//! creates an owner block or a manual booking through `Booking::create_manual`.

use super::html::{self, Errors, Nav, e, err, inv};
use super::reservations::{booking_message, parse_date};
use super::session::{CsrfForm, Session};
use super::{UiResult, done, page};
use crate::booking::{BookingError, ManualKind};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration, Months, NaiveDate};
use domain::{ReservationStatus, Stay};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write;
use store::{ReservationFilter, StoreError};

#[derive(Deserialize, Default)]
pub struct CalQuery {
    desde: Option<String>,
    semanas: Option<String>,
    ok: Option<String>,
}

pub const DEFAULT_WEEKS: i64 = 3;

/// GET /admin/calendario
pub async fn calendar(State(s): State<AppState>, sess: Session, Query(q): Query<CalQuery>) -> UiResult<Response> {
    let today = s.booking.today();
    let from = q.desde.as_deref().and_then(parse_date).unwrap_or(today);
    let weeks = q.semanas.as_deref().and_then(|w| w.parse::<i64>().ok()).unwrap_or(DEFAULT_WEEKS).clamp(2, 5);
    render(&s, &sess, from, weeks, &Errors::new(), &HashMap::new(), q.ok.as_deref(), StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    s: &AppState,
    sess: &Session,
    from: NaiveDate,
    weeks: i64,
    errors: &Errors,
    values: &HashMap<String, String>,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let days = weeks * 7;
    let to = from + Duration::days(days);
    let today = s.booking.today();
    let now = s.clock.now();
    let units = s.store.list_units(false).await?;
    let filter = ReservationFilter { from: Some(from), to: Some(to), limit: 5000, ..Default::default() };
    let (reservations, _) = s.store.list_reservations(&filter).await?;
    let reservations: Vec<_> = reservations.into_iter().filter(|r| r.occupies_at(now)).collect();
    let blocks = s.store.external_blocks(None, from, to).await?;
    let sources: HashMap<i64, String> = s.store.list_feeds(None).await?.into_iter().map(|f| (f.id, f.source)).collect();

    let link = |d: NaiveDate, w: i64| format!("/admin/calendario?desde={d}&amp;semanas={w}");
    let month_back = from.checked_sub_months(Months::new(1)).unwrap_or(from);
    let month_fwd = from.checked_add_months(Months::new(1)).unwrap_or(from);
    let mut b = String::from("<h1>Calendario</h1>");
    let _ = write!(
        b,
        r#"<nav class="calnav" aria-label="Moverse en el calendario"><a href="{}" title="Mes anterior">« Mes</a><a href="{}" title="Semana anterior">‹ Semana</a><a href="{}">Hoy</a><a href="{}" title="Semana siguiente">Semana ›</a><a href="{}" title="Mes siguiente">Mes »</a><span class="weeks">"#,
        link(month_back, weeks),
        link(from - Duration::days(7), weeks),
        link(today, weeks),
        link(from + Duration::days(7), weeks),
        link(month_fwd, weeks),
    );
    for w in 2..=5 {
        let cur = if w == weeks { r#" aria-current="true""# } else { "" };
        let _ = write!(b, r#"<a href="{}"{cur}>{w} sem</a>"#, link(from, w));
    }
    b += "</span></nav>";
    b += r#"<ul class="legend"><li><i class="c-free"></i>Libre</li><li><i class="c-pre_reserved"></i>Pre-reserva</li><li><i class="c-confirmed"></i>Confirmada</li><li><i class="c-blocked"></i>Bloqueo del dueño</li><li><i class="c-airbnb"></i>Airbnb</li><li><i class="c-booking"></i>Booking</li><li><i class="c-vrbo"></i>Vrbo</li><li><i class="c-other"></i>Otro calendario</li></ul>"#;

    // The grid.
    b += r#"<div class="scroll calwrap" id="calendario" data-live><table class="cal"><thead><tr><th class="unit">Cabaña</th>"#;
    for i in 0..days {
        let d = from + Duration::days(i);
        let cls = if d == today {
            " class=\"today\""
        } else if d.weekday().num_days_from_monday() >= 5 {
            " class=\"we\""
        } else {
            ""
        };
        let month =
            if i == 0 || d.day() == 1 { format!("<small>{}</small>", domain::months::short(d)) } else { String::new() };
        let _ = write!(b, "<th{cls}>{month}<span>{}</span><b>{}</b></th>", html::weekday_short(d), d.day());
    }
    b += "</tr></thead><tbody>";
    for u in &units {
        let _ = write!(b, r#"<tr><th class="unit" scope="row">{}</th>"#, e(&u.name));
        for i in 0..days {
            let d = from + Duration::days(i);
            let ours = reservations.iter().find(|r| r.unit_id == u.id && r.stay.contains_night(d));
            let theirs = blocks.iter().find(|x| x.unit_id == u.id && x.echo_of.is_none() && x.stay.contains_night(d));
            if let Some(r) = ours {
                let first = r.stay.check_in == d || i == 0;
                let who = if r.status == ReservationStatus::Blocked {
                    format!(
                        "Bloqueo {}{}",
                        r.code,
                        if r.notes.is_empty() {
                            String::new()
                        } else {
                            format!(" · {}", r.notes.lines().last().unwrap_or(""))
                        }
                    )
                } else {
                    format!("{} · {} · {} huéspedes", r.code, r.guest_name, r.guests)
                };
                let conflict = if theirs.is_some() { " conflict" } else { "" };
                let _ = write!(
                    b,
                    r#"<td class="c-{st}{conflict}{start}"><a href="/admin/reservas/{code}" title="{who}" data-info="{who}">{label}</a></td>"#,
                    st = r.status.as_str(),
                    start = if first { " start" } else { "" },
                    code = e(&r.code),
                    who = e(&who),
                    label = if first {
                        let name = if r.status == ReservationStatus::Blocked {
                            "Bloqueo"
                        } else {
                            r.guest_name.split_whitespace().next().unwrap_or(&r.code)
                        };
                        e(&bar_label(name, cells_left(r.stay.check_out, d, from, days))).to_string()
                    } else {
                        String::new()
                    },
                );
            } else if let Some(x) = theirs {
                let source = sources.get(&x.feed_id).map(String::as_str).unwrap_or("other");
                let src_class = if ["airbnb", "booking", "vrbo"].contains(&source) { source } else { "other" };
                let info = format!(
                    "{}: {} ({} – {})",
                    html::source_label(source),
                    if x.summary.is_empty() { "ocupado" } else { &x.summary },
                    x.stay.check_in.format("%d/%m"),
                    x.stay.check_out.format("%d/%m")
                );
                let first = x.stay.check_in == d || i == 0;
                let _ = write!(
                    b,
                    r#"<td class="c-{src_class}{start}" title="{info}" data-info="{info}" tabindex="0">{label}</td>"#,
                    start = if first { " start" } else { "" },
                    info = e(&info),
                    label = if first {
                        e(&bar_label(html::source_label(source), cells_left(x.stay.check_out, d, from, days)))
                            .to_string()
                    } else {
                        String::new()
                    },
                );
            } else {
                let past = if d < today { " past" } else { "" };
                let _ = write!(
                    b,
                    r#"<td class="c-free{past}" data-unit="{}" data-date="{d}" title="Libre: {}"></td>"#,
                    u.id,
                    e(&format!("{} {}", u.name, html::date(d))),
                );
            }
        }
        b += "</tr>";
    }
    b += "</tbody></table></div>";

    // The form the selection fills (usable by hand too).
    let val = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    let unit_sel = val("unit");
    let mut opts = String::from(r#"<option value="">Elegí…</option>"#);
    for u in &units {
        let sel = if u.id.to_string() == unit_sel { " selected" } else { "" };
        let _ = write!(opts, r#"<option value="{}"{sel}>{}</option>"#, u.id, e(&u.name));
    }
    let kind = if val("kind") == "booking" { "booking" } else { "block" };
    let _ = write!(
        b,
        r#"<section class="card" id="nueva"><h2>Bloquear noches o cargar una reserva</h2>
<p class="muted" id="sel-help">Tocá la primera y la última noche libres de una cabaña en el calendario, o completá las fechas a mano.</p>
{general}
<form method="post" action="/admin/calendario/nueva" id="form-nueva">{csrf}
<input type="hidden" name="desde" value="{from}"><input type="hidden" name="semanas" value="{weeks}">
<label for="n-unit">Cabaña</label><select id="n-unit" name="unit"{iu}>{opts}</select>{eu}
<div class="row"><div><label for="n-in">Entrada (primera noche)</label><input id="n-in" type="date" name="check_in" value="{ci}"{ii}>{ei}</div>
<div><label for="n-out">Salida</label><input id="n-out" type="date" name="check_out" value="{co}"{io}>{eo}</div></div>
<fieldset class="kind"><legend>Qué es</legend>
<label><input type="radio" name="kind" value="block" id="kind-block"{kb}> Bloqueo del dueño</label>
<label><input type="radio" name="kind" value="booking" id="kind-booking"{kk}> Reserva tomada a mano (confirmada)</label></fieldset>
<div class="booking-only"><label for="n-name">Nombre del huésped</label><input id="n-name" name="guest_name" value="{name}"{iname}>{ename}
<div class="row"><div><label for="n-phone">Teléfono</label><input id="n-phone" name="guest_phone" value="{phone}"></div>
<div><label for="n-guests">Huéspedes</label><input id="n-guests" type="number" min="1" max="100" name="guests" value="{guests}"{ig}>{eg}</div></div>
<label for="n-email">E-mail</label><input id="n-email" type="email" name="guest_email" value="{email}"{iemail}>{eemail}</div>
<label for="n-note">Nota</label><input id="n-note" name="note" value="{note}"{inote}>{enote}
<button type="submit" class="primary" id="btn-nueva">Guardar</button></form></section>"#,
        general = err(errors, "general") + &in_the_way(errors),
        csrf = sess.csrf_field(),
        iu = inv(errors, "unit"),
        eu = err(errors, "unit"),
        ci = e(val("check_in")),
        ii = inv(errors, "check_in"),
        ei = err(errors, "check_in"),
        co = e(val("check_out")),
        io = inv(errors, "check_out"),
        eo = err(errors, "check_out"),
        kb = if kind == "block" { " checked" } else { "" },
        kk = if kind == "booking" { " checked" } else { "" },
        name = e(val("guest_name")),
        iname = inv(errors, "guest_name"),
        ename = err(errors, "guest_name"),
        phone = e(val("guest_phone")),
        guests = e(if val("guests").is_empty() { "2" } else { val("guests") }),
        ig = inv(errors, "guests"),
        eg = err(errors, "guests"),
        email = e(val("guest_email")),
        iemail = inv(errors, "guest_email"),
        eemail = err(errors, "guest_email"),
        note = e(val("note")),
        inote = inv(errors, "note"),
        enote = err(errors, "note"),
    );
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Calendario, "Calendario", ok, &b))).into_response())
}

/// POST /admin/calendario/nueva
/// The error key that carries the codes of the stays an overlapping block or booking ran into.
pub const IN_THE_WAY: &str = "in_the_way";

/// The active stays of `unit` with a night in `stay` (but `except`), as codes for [`in_the_way`].
pub async fn in_the_way_codes(s: &AppState, unit: i64, stay: Stay, except: Option<&str>) -> UiResult<String> {
    let filter = ReservationFilter {
        unit_id: Some(unit),
        from: Some(stay.check_in),
        to: Some(stay.check_out),
        limit: 20,
        ..Default::default()
    };
    let (found, _) = s.store.list_reservations(&filter).await?;
    let codes: Vec<&str> = found
        .iter()
        .filter(|r| r.status.is_active() && Some(r.code.as_str()) != except)
        .map(|r| r.code.as_str())
        .collect();
    Ok(codes.join(" "))
}

/// Which reservations are in the way, as links (nothing when the error has none).
pub fn in_the_way(errors: &Errors) -> String {
    let codes: Vec<&str> = errors.get(IN_THE_WAY).map(|c| c.split_whitespace().collect()).unwrap_or_default();
    if codes.is_empty() {
        return String::new();
    }
    let links: Vec<String> =
        codes.iter().map(|c| format!(r#"<a href="/admin/reservas/{c}">{c}</a>"#, c = e(c))).collect();
    let what = if links.len() == 1 { "Se superpone con la reserva" } else { "Se superpone con las reservas" };
    format!(r#"<p class="err" id="err-in-the-way">{what} {}.</p>"#, links.join(", "))
}

pub async fn create(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    let today = s.booking.today();
    let from = parse_date(form.get("desde")).unwrap_or(today);
    let weeks = form.get("semanas").parse::<i64>().unwrap_or(DEFAULT_WEEKS).clamp(2, 5);
    let mut errors = Errors::new();
    let kind = if form.get("kind") == "booking" { ManualKind::Confirmed } else { ManualKind::Block };
    let unit = form.get("unit").parse::<i64>().ok();
    if unit.is_none() {
        errors.insert("unit", "Elegí una cabaña.".into());
    }
    let check_in = parse_date(form.get("check_in"));
    let check_out = parse_date(form.get("check_out"));
    if check_in.is_none() {
        errors.insert("check_in", "Elegí la fecha de entrada.".into());
    }
    if check_out.is_none() {
        errors.insert("check_out", "Elegí la fecha de salida.".into());
    }
    let mut stay = None;
    if let (Some(a), Some(b)) = (check_in, check_out) {
        match Stay::new(a, b) {
            Ok(st) if a < today => {
                let _ = st;
                errors.insert("check_in", "Esa fecha ya pasó.".into());
            }
            Ok(st) => stay = Some(st),
            Err(e) => {
                errors.insert("check_out", booking_message(e.into())?);
            }
        }
    }
    let name = form.get("guest_name");
    let email = form.get("guest_email");
    let note = form.get("note");
    let mut guests = 0;
    if kind == ManualKind::Confirmed {
        if name.is_empty() || name.chars().count() > 200 {
            errors.insert("guest_name", "Escribí el nombre del huésped.".into());
        }
        match form.get("guests").parse::<u32>() {
            Ok(g) if (1..=100).contains(&g) => guests = g,
            _ => {
                errors.insert("guests", "Cantidad de huéspedes inválida.".into());
            }
        }
        if !email.is_empty() && (!email.contains('@') || email.len() > 254) {
            errors.insert("guest_email", "Ese e-mail no parece válido.".into());
        }
    }
    if note.chars().count() > 500 {
        errors.insert("note", "La nota puede tener hasta 500 caracteres.".into());
    }
    if errors.is_empty()
        && let (Some(unit), Some(stay)) = (unit, stay)
    {
        let (name, phone, email) = if kind == ManualKind::Confirmed {
            (name, form.get("guest_phone"), (!email.is_empty()).then(|| email.to_string()))
        } else {
            ("", "", None)
        };
        match s.booking.create_manual(kind, unit, stay, guests, name, phone, email, note, &form.session.email).await {
            Ok(r) => return Ok(done(&format!("/admin/reservas/{}", r.code), "creada")),
            Err(err) => {
                let overlap = matches!(err, BookingError::Store(StoreError::Overlap));
                errors.insert("general", booking_message(err)?);
                if overlap {
                    errors.insert(IN_THE_WAY, in_the_way_codes(&s, unit, stay, None).await?);
                }
            }
        }
    }
    let mut values = form.fields.clone();
    values.remove("csrf");
    render(&s, &form.session, from, weeks, &errors, &values, None, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// How many of the calendar's cells a stay covers from `d` on (it may run past the view).
fn cells_left(check_out: chrono::NaiveDate, d: chrono::NaiveDate, from: chrono::NaiveDate, days: i64) -> usize {
    let view_end = from + Duration::days(days);
    (check_out.min(view_end) - d).num_days().max(1) as usize
}

/// A bar's label: the guest's first name, "Bloqueo" or the OTA's name, cut to what fits in the
/// bar's cells (about six characters each), so it never reads as a stray code.
fn bar_label(name: &str, cells: usize) -> String {
    let fits = cells * 6;
    if name.chars().count() <= fits {
        name.to_string()
    } else {
        name.chars().take(fits.saturating_sub(1).max(1)).collect::<String>() + "…"
    }
}
