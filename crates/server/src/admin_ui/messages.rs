//! "Mensajes automáticos" (owner edits; staff can read): each of a stay's automatic messages
//! on or off, when it goes, its text with placeholders, and a preview with a real (or example)
//! reservation; the quiet hours and the review link. On a reservation's page, its timeline:
//! what was sent, what is due, with "Enviar ahora" and "Saltear". See docs/mensajes.md.

use super::html::{self, Errors, Nav, e, err, inv};
use super::reservations::OkQuery;
use super::session::{CsrfForm, Session};
use super::{UiError, UiResult, done, page};
use crate::property::PropertySettings;
use crate::state::AppState;
use crate::stay_messages as sm;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::stay_messages::{Anchor, MAX_DAYS, validate};
use domain::{ReservationStatus, StayMessageKind, StayMessageStatus};
use std::collections::BTreeMap;
use std::fmt::Write;
use store::{Reservation, Unit};

/// Longest text a message may have.
const MAX_TEXT: usize = 1500;

fn when_words(kind: StayMessageKind, days: i32, at: &str) -> String {
    let anchor = match kind.anchor() {
        Anchor::CheckIn => "la llegada",
        Anchor::CheckOut => "la salida",
    };
    let day = match days {
        0 => format!("el día de {anchor}"),
        -1 => format!("el día antes de {anchor}"),
        1 => format!("el día después de {anchor}"),
        d if d < 0 => format!("{} días antes de {anchor}", -d),
        d => format!("{d} días después de {anchor}"),
    };
    format!("{day}, a las {at}")
}

/// The reservation the preview uses: the next confirmed stay, else an example.
async fn example(s: &AppState) -> UiResult<(Reservation, Unit)> {
    let today = s.booking.today();
    let filter = store::ReservationFilter {
        status: Some(ReservationStatus::Confirmed),
        from: Some(today),
        limit: 1,
        ..Default::default()
    };
    let units = s.store.list_units(false).await?;
    if let Some(r) = s.store.list_reservations(&filter).await?.0.into_iter().next()
        && let Some(u) = units.iter().find(|u| u.id == r.unit_id)
    {
        return Ok((r, u.clone()));
    }
    let Some(unit) = units.into_iter().next() else { return Err(UiError::NotFound) };
    let stay =
        domain::Stay { check_in: today + chrono::Duration::days(10), check_out: today + chrono::Duration::days(13) };
    let now = s.clock.now();
    let r = Reservation {
        id: 0,
        code: "R7K2Q9".into(),
        unit_id: unit.id,
        stay,
        guests: 2,
        status: ReservationStatus::Confirmed,
        channel: domain::Channel::Whatsapp,
        guest_name: "Juana Pérez".into(),
        guest_phone: String::new(),
        guest_email: None,
        total: domain::Money(unit.base_price.0 * 3),
        deposit: domain::Money((unit.base_price.0 * 3) * 30 / 100),
        hold_expires_at: None,
        flags: Default::default(),
        notes: String::new(),
        created_at: now,
        updated_at: now,
        confirmed_at: Some(now),
        cancelled_at: None,
        balance_paid: None,
        balance_received: domain::Money::ZERO,
    };
    Ok((r, unit))
}

/// The form's values: what was saved (or the defaults), or what was just typed.
fn saved_values(p: &PropertySettings) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    for kind in StayMessageKind::ALL {
        let m = sm::message_settings(p, kind);
        v.insert(sm::key(kind, "on"), if m.on { "on" } else { "off" }.to_string());
        v.insert(sm::key(kind, "days"), m.timing.days.to_string());
        v.insert(sm::key(kind, "at"), m.timing.at.format("%H:%M").to_string());
        v.insert(sm::key(kind, "text"), m.text);
    }
    let q = sm::quiet_hours(p);
    v.insert("stay.quiet_from".into(), q.from.format("%H:%M").to_string());
    v.insert("stay.quiet_until".into(), q.until.format("%H:%M").to_string());
    v.insert("review_url".into(), p.get("review_url").to_string());
    v
}

async fn render(
    s: &AppState,
    sess: &Session,
    values: &BTreeMap<String, String>,
    errors: &Errors,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let readonly = !sess.is_owner();
    let dis = if readonly { " disabled" } else { "" };
    let get = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    // The preview renders the texts on the page with the saved settings' other values.
    let mut preview_map: BTreeMap<String, String> = s.store.settings().await?;
    for (k, v) in values {
        preview_map.insert(k.clone(), v.clone());
    }
    let preview_settings = PropertySettings::from_map(preview_map);
    let (example_r, example_unit) = example(s).await?;
    let mut b = String::from(
        r#"<p><a href="/admin/alojamiento">‹ Tu alojamiento</a></p><h1>Mensajes automáticos</h1><p class="muted">Lo que le llega solo al huésped de una reserva confirmada, en su mismo chat (o por e-mail si WhatsApp no lo permite). Los horarios son los de tu zona; nunca se manda nada en el horario de silencio: lo que caiga ahí sale cuando termina.</p>"#,
    );
    if readonly {
        b += r#"<p class="notice">Solo el dueño de la cuenta puede cambiar estos mensajes.</p>"#;
    }
    if !errors.is_empty() {
        b += r#"<p class="err" role="alert" id="err-general">Revisá los campos marcados: no se guardó nada.</p>"#;
    }
    let _ = write!(
        b,
        r#"<form method="post" action="/admin/mensajes" id="form-mensajes">{}<section class="card" id="mensajes-general"><h2>Para todos</h2><div class="row">"#,
        sess.csrf_field()
    );
    for (key, label) in [("stay.quiet_from", "Silencio desde"), ("stay.quiet_until", "Silencio hasta")] {
        let id = key.replace('.', "-");
        let _ = write!(
            b,
            r#"<div class="field"><label for="{id}">{label}</label><input id="{id}" name="{key}" type="time" value="{v}"{dis}{i}>{er}</div>"#,
            v = e(get(key)),
            i = inv(errors, key),
            er = err(errors, key),
        );
    }
    let _ = write!(
        b,
        r#"</div><div class="field"><label for="review_url">Link para dejar una reseña (Google, Booking…)</label><input id="review_url" name="review_url" type="url" maxlength="500" value="{v}" placeholder="https://g.page/r/…/review"{dis}{i}>{er}</div>"#,
        v = e(get("review_url")),
        i = inv(errors, "review_url"),
        er = err(errors, "review_url"),
    );
    let _ = write!(
        b,
        r#"<p class="muted">Marcadores que podés usar en los textos: {}. Una línea cuyos marcadores quedan vacíos (por ejemplo, sin Wi-Fi cargado) no se manda. La llave y el Wi-Fi se cargan en cada cabaña.</p></section>"#,
        e(&domain::stay_messages::PLACEHOLDERS
            .iter()
            .map(|(p, what)| format!("{{{p}}} ({what})"))
            .collect::<Vec<_>>()
            .join(", "))
    );
    for kind in StayMessageKind::ALL {
        let k = kind.as_str();
        let (on_key, days_key, at_key, text_key) =
            (sm::key(kind, "on"), sm::key(kind, "days"), sm::key(kind, "at"), sm::key(kind, "text"));
        let on = get(&on_key) != "off";
        let days: i32 = get(&days_key).parse().unwrap_or(kind.default_timing().days);
        // The link the reminder would carry: an example one when payments are on.
        let link = s.payments.provider().map(|_| "https://www.mercadopago.com.ar/checkout/v1/redirect?pref_id=ejemplo");
        let preview = match sm::render(&preview_settings, kind, &example_r, &example_unit, link) {
            Ok(t) => format!(r#"<pre class="notes preview" id="preview-{k}">{}</pre>"#, e(&t)),
            Err(x) => format!(r#"<p class="err" id="preview-{k}">{}</p>"#, e(&x.to_string())),
        };
        let _ = write!(
            b,
            r#"<section class="card" id="mensaje-{k}"><h2>{label}</h2><p class="muted">Se manda {when}.</p><div class="row">
<div class="field"><label for="{k}-on">¿Se manda?</label><select id="{k}-on" name="{on_key}"{dis}><option value="on"{s1}>Sí</option><option value="off"{s2}>No</option></select></div>
<div class="field"><label for="{k}-days">Días (respecto de {anchor}; negativo: antes)</label><input id="{k}-days" name="{days_key}" type="number" min="-{MAX_DAYS}" max="{MAX_DAYS}" step="1" inputmode="numeric" value="{dv}"{dis}{di}>{de}</div>
<div class="field"><label for="{k}-at">Hora</label><input id="{k}-at" name="{at_key}" type="time" value="{av}"{dis}{ai}>{ae}</div></div>
<div class="field"><label for="{k}-text">Texto</label><textarea id="{k}-text" name="{text_key}" rows="6" maxlength="{MAX_TEXT}"{dis}{ti}>{tv}</textarea>{te}</div>
<h3>Vista previa</h3>{preview}</section>"#,
            label = e(kind.label()),
            when = e(&when_words(kind, days, get(&at_key))),
            anchor = if kind.anchor() == Anchor::CheckIn { "la llegada" } else { "la salida" },
            s1 = if on { " selected" } else { "" },
            s2 = if on { "" } else { " selected" },
            dv = e(get(&days_key)),
            di = inv(errors, &days_key),
            de = err(errors, &days_key),
            av = e(get(&at_key)),
            ai = inv(errors, &at_key),
            ae = err(errors, &at_key),
            tv = e(get(&text_key)),
            ti = inv(errors, &text_key),
            te = err(errors, &text_key),
        );
    }
    let _ = write!(
        b,
        r#"<p class="muted">La vista previa usa la reserva {} ({}, {}).</p>"#,
        e(&example_r.code),
        e(&example_unit.name),
        e(&sm::day(example_r.stay.check_in))
    );
    if !readonly {
        b += r#"<div class="row"><button type="submit" name="accion" value="vista" id="btn-vista-mensajes">Ver la vista previa</button><button type="submit" class="primary" name="accion" value="guardar" id="btn-guardar-mensajes">Guardar</button></div>"#;
    }
    b += "</form>";
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Alojamiento, "Mensajes automáticos", ok, &b)))
        .into_response())
}

/// GET /admin/mensajes
pub async fn show(State(s): State<AppState>, sess: Session, q: Query<OkQuery>) -> UiResult<Response> {
    let p = crate::property::load(s.store.as_ref()).await?;
    render(&s, &sess, &saved_values(&p), &Errors::new(), q.ok.as_deref(), StatusCode::OK).await
}

/// Checks the form: every field first, nothing saved unless all are fine. Returns the values
/// to store (a text equal to its default is stored empty, so a better default reaches it).
fn check(form: &CsrfForm, errors: &mut Errors) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let time = |key: &'static str, errors: &mut Errors, out: &mut BTreeMap<String, String>| {
        let v = form.get(key).trim().to_string();
        if sm::parse_time(&v).is_none() {
            errors.insert(key, "Escribí una hora como 09:00.".into());
        }
        out.insert(key.to_string(), v);
    };
    time("stay.quiet_from", errors, &mut out);
    time("stay.quiet_until", errors, &mut out);
    let review = form.get("review_url").trim().to_string();
    let is_link = review.starts_with("https://") || review.starts_with("http://");
    if !(review.is_empty() || is_link) || review.len() > 500 {
        errors.insert("review_url", "Pegá el link completo, que empiece con https://".into());
    }
    out.insert("review_url".into(), review);
    for kind in StayMessageKind::ALL {
        let on = if form.get(&sm::key(kind, "on")) == "off" { "off" } else { "on" };
        out.insert(sm::key(kind, "on"), on.into());
        let days_key = sm::key(kind, "days");
        let days = form.get(&days_key).trim().to_string();
        if !days.parse::<i32>().is_ok_and(|d| (-MAX_DAYS..=MAX_DAYS).contains(&d)) {
            errors.insert(leak(&days_key), format!("Un número de días entre -{MAX_DAYS} y {MAX_DAYS}."));
        }
        out.insert(days_key, days);
        let at_key = sm::key(kind, "at");
        let at = form.get(&at_key).trim().to_string();
        if sm::parse_time(&at).is_none() {
            errors.insert(leak(&at_key), "Escribí una hora como 18:00.".into());
        }
        out.insert(at_key, at);
        let text_key = sm::key(kind, "text");
        let text = form.get(&text_key).replace("\r\n", "\n");
        if text.chars().count() > MAX_TEXT {
            errors.insert(leak(&text_key), format!("El texto puede tener hasta {MAX_TEXT} caracteres."));
        } else if let Err(x) = validate(&text) {
            errors.insert(leak(&text_key), x.to_string());
        }
        out.insert(text_key, text);
    }
    out
}

/// The form's keys are a fixed set ([`StayMessageKind::ALL`] × four fields): the error map wants
/// `&'static str`, and these few strings are made once each.
fn leak(key: &str) -> &'static str {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        StayMessageKind::ALL
            .iter()
            .flat_map(|k| ["on", "days", "at", "text"].map(|f| &*Box::leak(sm::key(*k, f).into_boxed_str())))
            .collect()
    });
    keys.iter().find(|k| **k == key).copied().unwrap_or("general")
}

/// POST /admin/mensajes: "Ver la vista previa" shows the texts as typed, saving nothing;
/// "Guardar" saves when every field is fine.
pub async fn save(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let mut errors = Errors::new();
    let values = check(&form, &mut errors);
    if form.get("accion") == "vista" || !errors.is_empty() {
        let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        return render(&s, &form.session, &values, &errors, None, status).await;
    }
    let changes: Vec<(String, Option<String>)> = values
        .into_iter()
        .map(|(k, v)| {
            let default = StayMessageKind::ALL
                .into_iter()
                .find(|kind| sm::key(*kind, "text") == k)
                .is_some_and(|kind| v.trim() == kind.default_text());
            (k, if default || v.is_empty() { None } else { Some(v) })
        })
        .collect();
    s.store.save_settings(&changes, &form.session.email, s.clock.now()).await?;
    Ok(done("/admin/mensajes", "guardada"))
}

// ---------------------------------------------------------------------------------------------
// The reservation's timeline

/// The "Mensajes automáticos" card of a reservation's page.
pub async fn timeline(s: &AppState, sess: &Session, r: &Reservation) -> UiResult<String> {
    let rows = s.store.stay_messages(r.id).await?;
    if rows.is_empty() && r.status != ReservationStatus::Confirmed {
        return Ok(String::new());
    }
    let tz = s.config.timezone;
    let code = e(&r.code).to_string();
    let csrf = sess.csrf_field();
    let mut b = String::from(
        r#"<section class="card" id="mensajes" data-live><h2>Mensajes automáticos</h2><ol class="timeline">"#,
    );
    if let Some(t) = r.confirmed_at {
        let _ = write!(
            b,
            r#"<li><span class="muted">{}</span> <strong>Confirmación</strong> · se manda al confirmarse</li>"#,
            html::time(t, tz)
        );
    }
    for m in &rows {
        let when = match (m.status, m.sent_at) {
            (StayMessageStatus::Sent, Some(t)) => html::time(t, tz),
            _ => html::time(m.due_at, tz),
        };
        let channel = m.channel.map(|c| format!(" · por {}", html::channel_label(c))).unwrap_or_default();
        let note = if m.note.is_empty() { String::new() } else { format!(" — {}", e(&m.note)) };
        let _ = write!(
            b,
            r#"<li id="mensaje-{id}" data-status="{st}"><span class="muted">{}</span> <strong>{}</strong> · {}{}{note}"#,
            e(&when),
            e(m.kind.label()),
            e(m.status.label()),
            e(&channel),
            id = m.id,
            st = m.status.as_str(),
        );
        if r.status == ReservationStatus::Confirmed {
            let _ = write!(
                b,
                r#" <form method="post" action="/admin/reservas/{code}/mensajes/{id}/enviar" class="inline">{csrf}<button type="submit" class="link" id="btn-enviar-{id}">Enviar ahora</button></form>"#,
                id = m.id
            );
            if m.status == StayMessageStatus::Due {
                let _ = write!(
                    b,
                    r#" <form method="post" action="/admin/reservas/{code}/mensajes/{id}/saltear" class="inline">{csrf}<button type="submit" class="link" id="btn-saltear-{id}">Saltear</button></form>"#,
                    id = m.id
                );
            }
        }
        b += "</li>";
    }
    if rows.is_empty() {
        b += r#"<li class="muted">Todavía no hay mensajes programados.</li>"#;
    }
    b += r#"</ol><p class="muted"><a href="/admin/mensajes">Editar los mensajes automáticos</a></p></section>"#;
    Ok(b)
}

async fn row_of(s: &AppState, code: &str, id: &str) -> UiResult<(Reservation, store::StayMessage)> {
    let r = s.store.get_reservation(code).await?;
    let id: i64 = id.parse().map_err(|_| UiError::NotFound)?;
    let m = s.store.get_stay_message(id).await?;
    if m.reservation_id != r.id {
        return Err(UiError::NotFound);
    }
    Ok((r, m))
}

/// POST /admin/reservas/{code}/mensajes/{id}/enviar: sent at once (quiet hours or not: a person
/// decided), even one already sent.
pub async fn send_now(
    State(s): State<AppState>,
    Path((code, id)): Path<(String, String)>,
    form: CsrfForm,
) -> UiResult<Response> {
    let (r, m) = row_of(&s, &code, &id).await?;
    if r.status != ReservationStatus::Confirmed {
        return Err(UiError::NotFound);
    }
    let now = s.clock.now();
    s.store.stay_message_now(m.id, sm::JOB, now).await?;
    s.wake.notify_one();
    s.store.record_audit(Some(r.id), &form.session.email, "stay_message_now", m.kind.label(), now).await?;
    Ok(done(&format!("/admin/reservas/{}#mensajes", r.code), "mensaje_enviado"))
}

/// POST /admin/reservas/{code}/mensajes/{id}/saltear
pub async fn skip(
    State(s): State<AppState>,
    Path((code, id)): Path<(String, String)>,
    form: CsrfForm,
) -> UiResult<Response> {
    let (r, m) = row_of(&s, &code, &id).await?;
    let now = s.clock.now();
    let note = format!("Salteado por {}.", form.session.email);
    if s.store.close_stay_message(m.id, StayMessageStatus::Skipped, &note, now).await? {
        s.store.record_audit(Some(r.id), &form.session.email, "stay_message_skipped", m.kind.label(), now).await?;
    }
    Ok(done(&format!("/admin/reservas/{}#mensajes", r.code), "mensaje_salteado"))
}

// ---------------------------------------------------------------------------------------------
// A cabin's check-in details

/// The card on a cabin's page: what the check-in instructions say about this cabin.
pub async fn unit_card(s: &AppState, sess: &Session, unit_id: i64, errors: &Errors) -> UiResult<String> {
    let p = crate::property::load(s.store.as_ref()).await?;
    let mut b = format!(
        r#"<section class="card" id="llegada"><h2>Llegada a esta cabaña</h2><p class="muted">Van en las <a href="/admin/mensajes">instrucciones de llegada</a> ({{clave}}, {{wifi}}, {{como_llegar}}).</p><form method="post" action="/admin/cabanas/{unit_id}/llegada" id="form-llegada">{}"#,
        sess.csrf_field()
    );
    for (field, label, max) in sm::UNIT_FIELDS {
        let key = sm::unit_key(unit_id, field);
        let v = p.get(&key);
        let _ = write!(
            b,
            r#"<div class="field"><label for="llegada-{field}">{label}</label><textarea id="llegada-{field}" name="{field}" rows="2" maxlength="{max}"{i}>{v}</textarea>{er}</div>"#,
            label = e(label),
            v = e(v),
            i = inv(errors, field),
            er = err(errors, field),
        );
    }
    b += r#"<button type="submit" id="btn-guardar-llegada">Guardar la llegada</button></form></section>"#;
    Ok(b)
}

/// POST /admin/cabanas/{id}/llegada
pub async fn save_unit(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let unit = s.store.get_unit(id.parse().map_err(|_| UiError::NotFound)?).await?;
    let mut changes = Vec::new();
    for (field, label, max) in sm::UNIT_FIELDS {
        let v = form.get(field).replace("\r\n", "\n").trim().to_string();
        if v.chars().count() > *max {
            let msg = format!("«{label}» puede tener hasta {max} caracteres.");
            return Err(UiError::BadInput(msg));
        }
        changes.push((sm::unit_key(unit.id, field), if v.is_empty() { None } else { Some(v) }));
    }
    s.store.save_settings(&changes, &form.session.email, s.clock.now()).await?;
    Ok(done(&format!("/admin/cabanas/{}#llegada", unit.id), "guardada"))
}
