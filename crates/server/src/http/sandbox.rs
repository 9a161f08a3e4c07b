//! The sandbox channel: chat with the bot as a guest in the browser (or with `posada chat`),
//! through the same inbox, engine and outbox as WhatsApp. On in `posada demo`; 404 otherwise.

use super::extract::{ApiJson, ApiQuery};
use crate::chat::PROCESS_INBOUND;
use crate::error::{ApiError, ApiResult};
use crate::metrics as m;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{NewInbound, StoreError};

fn enabled(s: &AppState) -> ApiResult<()> {
    if s.config.sandbox { Ok(()) } else { Err(ApiError::not_found("No existe.")) }
}

fn valid_session(session: &str) -> ApiResult<()> {
    if (4..=64).contains(&session.len()) && session.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(ApiError::unprocessable("invalid_session", "La sesión debe tener de 4 a 64 letras, números o guiones."))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    session: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    button_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

pub async fn send(State(s): State<AppState>, ApiJson(b): ApiJson<SendBody>) -> ApiResult<(StatusCode, Json<Value>)> {
    enabled(&s)?;
    valid_session(&b.session)?;
    let payload = match (&b.text, &b.button_id) {
        (Some(t), None) if !t.trim().is_empty() && t.chars().count() <= 4096 => json!({"text": t}),
        (None, Some(id)) if id.len() <= 256 => json!({"button_id": id, "title": b.title.clone().unwrap_or_default()}),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_message",
                "Mandá un texto (hasta 4096 caracteres) o un botón.",
            ));
        }
    };
    let event = NewInbound {
        provider: "sandbox".into(),
        provider_id: format!("{}-{:032x}", b.session, rand::random::<u128>()),
        contact: Some(("sandbox".into(), b.session.clone(), b.name.clone().unwrap_or_default())),
        kind: if b.button_id.is_some() { "button".into() } else { "text".into() },
        payload,
        job_kind: PROCESS_INBOUND.into(),
    };
    let id = s.store.store_inbound(&event, s.clock.now()).await?;
    s.wake.notify_one();
    metrics::counter!(m::INBOUND_MESSAGES, "channel" => "sandbox", "type" => event.kind.clone()).increment(1);
    Ok((StatusCode::ACCEPTED, Json(json!({"event_id": id}))))
}

#[derive(Deserialize)]
pub struct ListQuery {
    session: String,
    #[serde(default)]
    after: i64,
}

pub async fn messages(State(s): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<Value>> {
    enabled(&s)?;
    valid_session(&q.session)?;
    let contact = match s.store.find_contact("sandbox", &q.session).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(Json(json!({"messages": []}))),
        Err(e) => return Err(e.into()),
    };
    let list = s.store.list_messages(contact.id, q.after, 200).await?;
    let items: Vec<Value> = list
        .iter()
        // Replies appear once the outbox has delivered them, as on a phone.
        .filter(|m| m.direction == "in" || m.status != "queued")
        .map(|m| json!({"id": m.id, "direction": m.direction, "kind": m.kind, "body": m.body, "payload": m.payload, "status": m.status}))
        .collect();
    Ok(Json(json!({"messages": items, "handed_off": contact.handed_off})))
}

pub async fn page(State(s): State<AppState>) -> ApiResult<Response> {
    enabled(&s)?;
    Ok((
        [(header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src * data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'")],
        Html(PAGE),
    )
        .into_response())
}

const PAGE: &str = include_str!("sandbox.html");
