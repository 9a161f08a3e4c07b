//! "Conversaciones": the guest chats (WhatsApp, e-mail, Instagram, Messenger, sandbox), each with
//! its channel's icon. Chats in hand-off first, then
//! the recent ones; a thread shows the conversation as the guest saw it, and a person (owner or
//! staff) answers through the outbox (`Chat::owner_reply`), takes the chat over or gives it back
//! to the bot (`Chat::release`). Every action writes an audit row with the user's e-mail.

use super::html::{self, Errors, Nav, e, err, inv};
use super::reservations::OkQuery;
use super::session::{CsrfForm, Session};
use super::{UiError, UiResult, done, page};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use std::fmt::Write;
use store::{Contact, Message, ReservationFilter};

/// How many messages a thread page shows (the most recent).
const THREAD_LIMIT: usize = 300;
pub const MAX_REPLY: usize = 4096;

pub fn contact_name(c: &Contact) -> String {
    if c.name.trim().is_empty() { c.address.clone() } else { c.name.clone() }
}

/// One chat in a list: a link to its thread.
pub fn item(c: &Contact, tz: Tz) -> String {
    let when = c.last_inbound_at.map(|t| format!("último mensaje {}", html::time(t, tz))).unwrap_or_default();
    let badge = if c.handed_off { r#" <span class="badge handoff">Espera a una persona</span>"# } else { "" };
    format!(
        r#"<li><a href="/admin/conversaciones/{id}">{channel} <strong>{name}</strong> · {addr}</a>{badge} <span class="muted">{when}</span></li>"#,
        id = c.id,
        name = e(&contact_name(c)),
        channel = html::channel_badge(c.channel),
        addr = e(&c.address),
        when = e(&when),
    )
}

/// GET /admin/conversaciones
pub async fn list(State(s): State<AppState>, sess: Session, q: Query<OkQuery>) -> UiResult<Response> {
    let tz = s.config.timezone;
    let contacts = s.store.list_contacts(200).await?;
    let owner = s.config.owner_phone.as_deref();
    let (waiting, recent): (Vec<&Contact>, Vec<&Contact>) = contacts
        .iter()
        .filter(|c| !(c.channel == domain::Channel::Whatsapp && Some(c.address.as_str()) == owner))
        .partition(|c| c.handed_off);
    let mut b = String::from("<h1>Conversaciones</h1>");
    let _ = write!(
        b,
        r#"<section class="card" id="chats-espera" data-live><h2>Esperando a una persona <span class="count">{}</span></h2>"#,
        waiting.len()
    );
    if waiting.is_empty() {
        b += r#"<p class="muted">Ningún chat espera a una persona: el bot está atendiendo.</p>"#;
    } else {
        b += r#"<ul class="items">"#;
        for c in &waiting {
            b += &item(c, tz);
        }
        b += "</ul>";
    }
    b += "</section>";
    let _ = write!(
        b,
        r#"<section class="card" id="chats-recientes" data-live><h2>Recientes <span class="count">{}</span></h2>"#,
        recent.len()
    );
    if recent.is_empty() {
        b += r#"<p class="muted">Todavía no hay conversaciones. Cuando un huésped escriba por WhatsApp (o en el sandbox), aparece acá.</p>"#;
    } else {
        b += r#"<ul class="items">"#;
        for c in &recent {
            b += &item(c, tz);
        }
        b += "</ul>";
    }
    b += "</section>";
    Ok(page(html::layout(Some(&sess.viewer()), Nav::Conversaciones, "Conversaciones", q.ok.as_deref(), &b)))
}

fn status_tick(m: &Message) -> String {
    use domain::MessageStatus as S;
    let (mark, label) = match m.status {
        S::Queued => ("🕓", "en cola"),
        S::Sent => ("✓", "enviado"),
        S::Delivered => ("✓✓", "entregado"),
        S::Read => ("✓✓", "leído"),
        S::Failed => ("⚠", "no se pudo enviar"),
        S::Received => return String::new(),
    };
    let class = m.status.as_str();
    let mut out = format!(r#"<span class="tick {class}" title="{label}" aria-label="{label}">{mark}</span>"#);
    if m.status == S::Failed {
        let why = m.error.as_deref().map(|x| format!(": {x}")).unwrap_or_default();
        let _ = write!(out, r#" <span class="bad">No se pudo enviar{}</span>"#, e(&why));
    }
    out
}

/// Text as the guest read it: escaped, line breaks kept by the stylesheet, and WhatsApp's
/// `*bold*` shown bold.
fn text_block(text: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    let lines: Vec<String> = text.split('\n').map(bold_line).collect();
    format!(r#"<p class="text">{}</p>"#, lines.join("\n"))
}

/// One line, escaped; pairs of `*` around non-blank text become `<strong>`.
fn bold_line(line: &str) -> String {
    let parts: Vec<&str> = line.split('*').collect();
    if parts.len() < 3 || parts.len().is_multiple_of(2) {
        return e(line).to_string();
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && !part.trim().is_empty() && part.trim() == *part {
            let _ = write!(out, "<strong>{}</strong>", e(part));
        } else if i % 2 == 1 {
            let _ = write!(out, "*{}*", e(part));
        } else {
            let _ = write!(out, "{}", e(part));
        }
    }
    out
}

/// One message as the guest saw it.
pub fn bubble(m: &Message, tz: Tz) -> String {
    let p = &m.payload;
    let content = match (m.direction.as_str(), m.kind.as_str()) {
        (_, "photo") => {
            let url = p["url"].as_str().unwrap_or("");
            let caption = p["caption"].as_str().unwrap_or(&m.body);
            let img = if url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/') {
                let alt = caption.replace('*', "");
                format!(
                    r#"<img src="{}" alt="{}" loading="lazy">"#,
                    e(url),
                    e(if alt.is_empty() { "foto" } else { &alt })
                )
            } else {
                r#"<p class="muted">📷 foto</p>"#.to_string()
            };
            format!("{img}{}", text_block(caption))
        }
        (_, "choices") => {
            let text = p["text"].as_str().map(String::from).unwrap_or_else(|| m.body.clone());
            let mut out = text_block(&text);
            let options: Vec<&serde_json::Value> =
                p["options"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if !options.is_empty() {
                out += r#"<div class="choices">"#;
                for o in options {
                    let title = o["title"].as_str().unwrap_or("");
                    let desc = o["description"].as_str().unwrap_or("");
                    let _ = write!(
                        out,
                        r#"<button type="button" class="choice" disabled title="{d}">{t}</button>"#,
                        t = e(title),
                        d = e(desc)
                    );
                }
                out += "</div>";
            }
            out
        }
        ("in", "voice") => {
            let heard = if m.body.trim().is_empty() {
                r#"<p class="muted">No se pudo transcribir; el bot le pidió que escriba.</p>"#.to_string()
            } else {
                text_block(&m.body)
            };
            format!(r#"<p class="voice">🎤 nota de voz (transcripta)</p>{heard}"#)
        }
        ("in", "button") => {
            format!(
                r#"<p class="tapped muted">Tocó el botón</p><button type="button" class="choice" disabled>{}</button>"#,
                e(&m.body)
            )
        }
        ("in", "text") | ("out", "text") => text_block(&m.body),
        ("in", other) => {
            format!(r#"<p class="muted">📎 {}</p>{}"#, e(other), text_block(&m.body))
        }
        (_, _) => text_block(&m.body),
    };
    let dir = if m.direction == "in" { "in" } else { "out" };
    let tick = if dir == "out" { status_tick(m) } else { String::new() };
    format!(
        r#"<li class="msg {dir}" id="m-{id}"><div class="bubble">{content}<p class="meta">{time} {tick}</p></div></li>"#,
        id = m.id,
        time = e(&html::time(m.created_at, tz)),
    )
}

async fn load(s: &AppState, id: &str) -> UiResult<Contact> {
    let id: i64 = id.parse().map_err(|_| UiError::NotFound)?;
    Ok(s.store.get_contact(id).await?)
}

/// GET /admin/conversaciones/{id}
pub async fn thread(
    State(s): State<AppState>,
    sess: Session,
    Path(id): Path<String>,
    q: Query<OkQuery>,
) -> UiResult<Response> {
    let c = load(&s, &id).await?;
    thread_page(&s, &sess, &c, &Errors::new(), "", q.ok.as_deref(), StatusCode::OK).await
}

async fn thread_page(
    s: &AppState,
    sess: &Session,
    c: &Contact,
    errors: &Errors,
    draft: &str,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let tz = s.config.timezone;
    let name = contact_name(c);
    let mut messages = s.store.list_messages(c.id, 0, 1000).await?;
    let hidden = messages.len().saturating_sub(THREAD_LIMIT);
    messages.drain(..hidden);
    let mut b = format!(
        r#"<p><a href="/admin/conversaciones">‹ Conversaciones</a></p><h1>{} <span class="muted">{} · {}</span></h1>"#,
        e(&name),
        html::channel_badge(c.channel),
        e(&c.address)
    );
    let csrf = sess.csrf_field();
    b += r#"<section class="card" id="hilo" data-live><h2>Conversación</h2>"#;
    if hidden > 0 {
        let _ = write!(b, r#"<p class="muted">Se muestran los últimos {THREAD_LIMIT} mensajes.</p>"#);
    }
    if messages.is_empty() {
        b += r#"<p class="muted">Todavía no hay mensajes.</p>"#;
    } else {
        b += r#"<ol class="thread" id="thread">"#;
        for m in &messages {
            b += &bubble(m, tz);
        }
        b += "</ol>";
    }
    b += "</section>";
    let window = if c.channel == domain::Channel::Whatsapp
        && c.last_inbound_at.is_none_or(|t| s.clock.now() - t > chrono::Duration::hours(24))
    {
        r#"<p class="muted">Pasaron más de 24 horas desde su último mensaje: WhatsApp puede no entregar un texto libre.</p>"#
    } else {
        ""
    };
    let _ = write!(
        b,
        r#"<section class="card" id="responder"><h2>Responder</h2>{window}{takes}
<form method="post" action="/admin/conversaciones/{id}/responder" id="form-responder">{csrf}
<label for="reply-text">Mensaje para {name}</label><textarea id="reply-text" name="text" maxlength="{MAX_REPLY}" required{i}>{draft}</textarea>{er}
<button type="submit" class="primary" id="btn-responder">Enviar</button></form></section>"#,
        id = c.id,
        name = e(&name),
        i = inv(errors, "text"),
        er = err(errors, "text"),
        draft = e(draft),
        takes = if c.handed_off {
            ""
        } else {
            r#"<p class="muted" id="responder-toma">Al responder tomás el chat: el bot deja de contestarle hasta que lo devuelvas.</p>"#
        },
    );
    // Who is answering, and the action that changes it.
    let mut st = String::from(r#"<section class="card" id="estado-chat" data-live>"#);
    if c.handed_off {
        let _ = write!(
            st,
            r#"<p><span class="badge handoff">Espera a una persona</span> El bot está en silencio: respondé vos y, cuando termines, devolvéselo.</p>
<form method="post" action="/admin/conversaciones/{id}/devolver" class="inline" id="form-devolver">{csrf}<button type="submit" id="btn-devolver">Devolver al bot</button></form>"#,
            id = c.id
        );
    } else {
        let _ = write!(
            st,
            r#"<p><span class="badge bot">Atiende el bot</span> Si querés atender vos, tomá el chat: el bot deja de responder hasta que lo devuelvas.</p>
<form method="post" action="/admin/conversaciones/{id}/tomar" class="inline" id="form-tomar">{csrf}<button type="submit" id="btn-tomar">Tomar el chat</button></form>"#,
            id = c.id
        );
    }
    // The guest's reservations, when the chat has any.
    let filter = ReservationFilter { contact: Some(c.address.clone()), limit: 10, ..Default::default() };
    if !c.address.is_empty() {
        let (res, _) = s.store.list_reservations(&filter).await?;
        if !res.is_empty() {
            st += r#"<p class="muted">Reservas:"#;
            for r in &res {
                let _ = write!(
                    st,
                    r#" <a href="/admin/reservas/{code}">{code}</a> {}"#,
                    html::status_badge(r.status),
                    code = e(&r.code)
                );
            }
            st += "</p>";
        }
    }
    st += "</section>";
    b += &st;
    let title = format!("Chat con {name}");
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Conversaciones, &title, ok, &b))).into_response())
}

fn note(c: &Contact, extra: &str) -> String {
    let mut n = format!("chat {} ({} {})", c.id, c.channel, c.address);
    if !extra.is_empty() {
        n.push_str(": ");
        n.extend(extra.chars().take(200));
    }
    n
}

/// POST /admin/conversaciones/{id}/responder
pub async fn reply(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let c = load(&s, &id).await?;
    let text = form.get("text");
    let problem = if text.is_empty() {
        Some("Escribí el mensaje.")
    } else if text.chars().count() > MAX_REPLY {
        Some("El mensaje puede tener hasta 4096 caracteres.")
    } else {
        None
    };
    if let Some(p) = problem {
        let mut errors = Errors::new();
        errors.insert("text", p.into());
        return thread_page(&s, &form.session, &c, &errors, text, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let who = &form.session.email;
    // A person answering while the bot keeps talking would give the guest two voices: replying
    // takes the chat over (the page says so beforehand), until the owner hands it back.
    let took = !c.handed_off;
    if took {
        s.store.set_handed_off(c.id, true, s.clock.now()).await?;
        s.store.record_audit(None, who, "chat_taken", &note(&c, "al responder"), s.clock.now()).await?;
    }
    s.chat.owner_reply(c.id, text).await.map_err(UiError::internal)?;
    s.store.record_audit(None, who, "chat_reply", &note(&c, text), s.clock.now()).await?;
    tracing::info!(contact = c.id, by = %who, took, "owner replied from the dashboard");
    let ok = if took { "respondido_tomado" } else { "respondido" };
    Ok(done(&format!("/admin/conversaciones/{}#responder", c.id), ok))
}

/// POST /admin/conversaciones/{id}/devolver
pub async fn release(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let c = load(&s, &id).await?;
    s.chat.release(c.id).await.map_err(UiError::internal)?;
    let who = &form.session.email;
    s.store.record_audit(None, who, "chat_released", &note(&c, ""), s.clock.now()).await?;
    tracing::info!(contact = c.id, by = %who, "chat handed back to the bot from the dashboard");
    Ok(done(&format!("/admin/conversaciones/{}", c.id), "devuelto"))
}

/// POST /admin/conversaciones/{id}/tomar
pub async fn take_over(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    let c = load(&s, &id).await?;
    s.store.set_handed_off(c.id, true, s.clock.now()).await?;
    let who = &form.session.email;
    s.store.record_audit(None, who, "chat_taken", &note(&c, ""), s.clock.now()).await?;
    tracing::info!(contact = c.id, by = %who, "chat taken over from the dashboard");
    Ok(done(&format!("/admin/conversaciones/{}#responder", c.id), "tomado"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn whatsapp_bold_is_bold_and_everything_is_escaped() {
        assert_eq!(super::bold_line("*Coihue* · 3 noches"), "<strong>Coihue</strong> · 3 noches");
        assert_eq!(super::bold_line("*<b>*"), "<strong>&lt;b&gt;</strong>");
        assert_eq!(super::bold_line("2 * 3 = 6"), "2 * 3 = 6");
        assert_eq!(super::bold_line("a * b * c"), "a * b * c");
        assert_eq!(super::text_block("*A*\n<x>"), "<p class=\"text\"><strong>A</strong>\n&lt;x&gt;</p>");
    }
}
