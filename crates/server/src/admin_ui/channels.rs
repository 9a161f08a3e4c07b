//! "Canales" (owner only): per cabin the live iCal export URL (copy, rotate), the imported
//! feeds (add, remove, last success and error, events, sync now) and the conflicts found.

use super::html::{self, Errors, Nav, e, err, inv};
use super::reservations::{OkQuery, unit_names};
use super::session::{CsrfForm, Session};
use super::{UiError, UiResult, done, page};
use crate::http::admin::new_ical_token;
use crate::ical_sync::{self, import::poll_job};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write;
use store::StoreError;

/// GET /admin/canales
pub async fn page_handler(
    s: &AppState,
    sess: &Session,
    errors: &Errors,
    err_unit: Option<i64>,
    values: &HashMap<String, String>,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let tz = s.config.timezone;
    let units = s.store.list_units(true).await?;
    let feeds = s.store.list_feeds(None).await?;
    let conflicts = s.store.list_conflicts(None).await?;
    let names = unit_names(s).await?;
    let csrf = sess.csrf_field();
    let mut b = format!(
        r#"<h1>Canales</h1><form method="post" action="/admin/canales/sincronizar" class="inline">{csrf}<button type="submit" id="btn-sync">Sincronizar ahora</button> <span class="muted">Lee ya mismo todos los calendarios importados.</span></form>"#
    );
    for u in &units {
        let export = format!("{}/ical/{}/{}.ics", s.config.public_url, u.slug, u.ical_token);
        let _ = write!(
            b,
            r#"<section class="card" id="unit-{id}"><h2>{name}{inactive}</h2>
<label for="export-{id}">Dirección para exportar (pegala en Airbnb, Booking o Vrbo)</label>
<div class="copyrow"><input id="export-{id}" readonly value="{export}"><button type="button" data-copy="export-{id}">Copiar</button></div>
<form method="post" action="/admin/canales/{id}/rotar" class="inline">{csrf}<button type="submit" class="link danger" data-confirm="La dirección actual dejará de funcionar. ¿Seguro?">Generar una dirección nueva</button></form>
<h3>Calendarios importados</h3>"#,
            id = u.id,
            name = e(&u.name),
            inactive = if u.active { "" } else { " <span class=\"muted\">(inactiva)</span>" },
            export = e(&export),
        );
        let mine: Vec<_> = feeds.iter().filter(|f| f.unit_id == u.id).collect();
        if mine.is_empty() {
            b += r#"<p class="muted">Esta cabaña no importa ningún calendario.</p>"#;
        } else {
            b += r#"<div class="scroll"><table class="list"><thead><tr><th>Canal</th><th>Dirección</th><th>Última lectura</th><th>Eventos</th><th>Estado</th><th></th></tr></thead><tbody>"#;
            for f in mine {
                let state = match (&f.last_error, f.last_success_at) {
                    (Some(er), _) => format!(r#"<span class="bad">{}</span>"#, e(&html::feed_problem(er))),
                    (None, Some(_)) => r#"<span class="good">Al día</span>"#.to_string(),
                    (None, None) => r#"<span class="muted">Pendiente</span>"#.to_string(),
                };
                let _ = write!(
                    b,
                    r#"<tr><td>{src}</td><td class="url">{url}</td><td>{last}</td><td class="num">{events}</td><td>{state}</td><td><form method="post" action="/admin/canales/{uid}/feeds/{fid}/borrar" class="inline">{csrf}<button type="submit" class="link danger">Quitar</button></form></td></tr>"#,
                    src = html::source_label(&f.source),
                    url = e(&f.url),
                    last = f.last_success_at.map(|t| html::time(t, tz)).unwrap_or_else(|| "nunca".into()),
                    events = f.events_count,
                    uid = u.id,
                    fid = f.id,
                );
            }
            b += "</tbody></table></div>";
        }
        let here = err_unit == Some(u.id);
        let no = Errors::new();
        let er = if here { errors } else { &no };
        let url_v = if here { values.get("url").cloned().unwrap_or_default() } else { String::new() };
        let src_v = if here { values.get("source").cloned().unwrap_or_default() } else { String::new() };
        let mut opts = String::from(r#"<option value="">Detectar por la dirección</option>"#);
        for src in ical_sync::SOURCES {
            let sel = if *src == src_v { " selected" } else { "" };
            let _ = write!(opts, r#"<option value="{src}"{sel}>{}</option>"#, html::source_label(src));
        }
        let _ = write!(
            b,
            r#"<form method="post" action="/admin/canales/{id}/feeds" class="addfeed">{csrf}
<div class="row"><div class="field grow"><label for="feed-url-{id}">Agregar un calendario (dirección .ics)</label><input id="feed-url-{id}" name="url" type="url" placeholder="https://www.airbnb.com/calendar/ical/….ics" value="{url}"{iu}>{eu}</div>
<div class="field"><label for="feed-src-{id}">Canal</label><select id="feed-src-{id}" name="source">{opts}</select>{es}</div></div>
<button type="submit">Agregar</button></form></section>"#,
            id = u.id,
            url = e(&url_v),
            iu = inv(er, "url"),
            eu = err(er, "url"),
            es = err(er, "source"),
        );
    }
    b += r#"<section class="card" id="conflictos" data-live><h2>Conflictos</h2>"#;
    if conflicts.is_empty() {
        b += r#"<p class="muted">No hay conflictos: ningún calendario importado pisa una reserva nuestra.</p>"#;
    } else {
        b += "<ul class=\"items\">";
        for c in &conflicts {
            let _ = write!(
                b,
                r#"<li><a href="/admin/reservas/{code}"><strong>{code}</strong></a> · {unit} · {src}: {summary} ({a} → {z}) <span class="muted">detectado {when}</span></li>"#,
                code = e(&c.reservation_code),
                unit = e(names.get(&c.unit_id).map(String::as_str).unwrap_or("?")),
                src = html::source_label(&c.source),
                summary = e(&c.summary),
                a = html::date(c.stay.check_in),
                z = html::date(c.stay.check_out),
                when = html::time(c.detected_at, tz),
            );
        }
        b += "</ul>";
    }
    b += "</section>";
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Canales, "Canales", ok, &b))).into_response())
}

pub async fn index(State(s): State<AppState>, sess: Session, q: Query<OkQuery>) -> UiResult<Response> {
    sess.require_owner()?;
    page_handler(&s, &sess, &Errors::new(), None, &HashMap::new(), q.ok.as_deref(), StatusCode::OK).await
}

fn parse_id(text: &str) -> UiResult<i64> {
    text.parse().map_err(|_| UiError::NotFound)
}

/// POST /admin/canales/{id}/rotar
pub async fn rotate(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    s.store.set_unit_ical_token(unit.id, &new_ical_token(), s.clock.now()).await?;
    s.store.record_audit(None, &form.session.email, "ical_token_rotated", &unit.name, s.clock.now()).await?;
    Ok(done(&format!("/admin/canales#unit-{}", unit.id), "rotada"))
}

/// POST /admin/canales/{id}/feeds
pub async fn add_feed(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    let url = form.get("url");
    let mut errors = Errors::new();
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.contains(char::is_whitespace)
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !valid {
        errors.insert("url", "La dirección del calendario debe empezar con http:// o https://.".into());
    }
    let source = match form.get("source") {
        "" => ical_sync::guess_source(url).to_string(),
        s if ical_sync::SOURCES.contains(&s) => s.to_string(),
        _ => {
            errors.insert("source", "Canal desconocido.".into());
            String::new()
        }
    };
    if errors.is_empty() {
        let now = s.clock.now();
        match s.store.add_feed(unit.id, url, &source, now).await {
            Ok(feed) => {
                s.store.enqueue_job(&poll_job(feed.id, now), now).await?;
                s.store
                    .record_audit(None, &form.session.email, "feed_added", &format!("{} · {}", unit.name, source), now)
                    .await?;
                return Ok(done(&format!("/admin/canales#unit-{}", unit.id), "feed"));
            }
            Err(StoreError::Duplicate(_)) => {
                errors.insert("url", "Esta cabaña ya importa ese calendario.".into());
            }
            Err(other) => return Err(UiError::from(other)),
        }
    }
    let mut values = form.fields.clone();
    values.remove("csrf");
    page_handler(&s, &form.session, &errors, Some(unit.id), &values, None, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// POST /admin/canales/{id}/feeds/{feed_id}/borrar
pub async fn delete_feed(
    State(s): State<AppState>,
    Path((id, feed_id)): Path<(String, String)>,
    form: CsrfForm,
) -> UiResult<Response> {
    form.session.require_owner()?;
    let feed = s.store.get_feed(parse_id(&feed_id)?).await?;
    if feed.unit_id != parse_id(&id)? {
        return Err(UiError::NotFound);
    }
    s.store.delete_feed(feed.id).await?;
    s.store.record_audit(None, &form.session.email, "feed_removed", &feed.source, s.clock.now()).await?;
    Ok(done(&format!("/admin/canales#unit-{}", feed.unit_id), "feed_borrado"))
}

/// POST /admin/canales/sincronizar
pub async fn sync(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let reports = s.booking.importer().sync_all().await?;
    // Say honestly when a feed failed: its row below tells which and what to do.
    let failed = reports.iter().filter(|r| r.result == "error").count();
    let ok = match failed {
        0 => "sincronizado",
        n if n == reports.len() => "sincronizado_sin_lectura",
        _ => "sincronizado_con_errores",
    };
    Ok(done("/admin/canales", ok))
}
