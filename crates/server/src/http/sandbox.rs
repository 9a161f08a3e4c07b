//! The sandbox channel: chat with the bot as a guest in the browser (or with `posada chat`),
//! through the same inbox, engine and outbox as WhatsApp. On in `posada demo`; 404 otherwise.
//!
//! Clients long-poll for replies (`GET …/messages?after=N&wait=25`): the request returns as soon
//! as something new is there, or empty after `wait` seconds, so an idle chat costs one request
//! every 25 s instead of three a second, and stays far below the per-address rate limit. A sent
//! message carries the client's own id, so a retry after a lost answer is stored once.

use super::extract::{ApiJson, ApiQuery};
use crate::channels::adapter::{Inbound, Outgoing};
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
use std::time::{Duration, Instant};
use store::{NewInbound, StoreError};
use tokio::sync::Semaphore;

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
    /// The client's id for this message: a retry with the same id is stored once.
    #[serde(default)]
    client_id: Option<String>,
    /// The channel the guest plays: the sandbox's own (default), or Instagram or Messenger
    /// when no account of theirs is configured.
    #[serde(default)]
    channel: Option<String>,
}

/// The channel a sandbox request plays, if the sandbox may play it here.
fn played(s: &AppState, name: Option<&str>) -> ApiResult<domain::Channel> {
    let channel = match name {
        None | Some("") => domain::Channel::Sandbox,
        Some(n) => domain::Channel::parse(n).ok_or_else(unplayable)?,
    };
    let adapter = s.chat.adapter(channel);
    if adapter.channel() == channel && adapter.sandboxed() { Ok(channel) } else { Err(unplayable()) }
}

fn unplayable() -> ApiError {
    ApiError::unprocessable(
        "invalid_channel",
        "El chat de prueba puede hacer de Instagram o Messenger sólo si esa cuenta no está conectada de verdad.",
    )
}

/// The longest a poll waits for news.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting poll looks at the database (works across instances, no extra wiring).
const WAIT_STEP: Duration = Duration::from_millis(300);
/// Polls allowed to wait at once on this instance; beyond it a poll answers at once.
const MAX_WAITING: usize = 64;
static WAITING: Semaphore = Semaphore::const_new(MAX_WAITING);

pub async fn send(State(s): State<AppState>, ApiJson(b): ApiJson<SendBody>) -> ApiResult<(StatusCode, Json<Value>)> {
    enabled(&s)?;
    valid_session(&b.session)?;
    let channel = played(&s, b.channel.as_deref())?;
    let message = match (&b.text, &b.button_id) {
        (Some(t), None) if !t.trim().is_empty() && t.chars().count() <= 4096 => Inbound::Text(t.clone()),
        (None, Some(id)) if id.len() <= 256 => {
            Inbound::Choice { id: id.clone(), title: b.title.clone().unwrap_or_default(), from_list: false }
        }
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_message",
                "Mandá un texto (hasta 4096 caracteres) o un botón.",
            ));
        }
    };
    let provider_id = match b.client_id.as_deref() {
        Some(id) if (1..=64).contains(&id.len()) && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') => {
            format!("{}-c-{id}", b.session)
        }
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_client_id",
                "El identificador del mensaje debe tener de 1 a 64 letras, números o guiones.",
            ));
        }
        None => format!("{}-{:032x}", b.session, rand::random::<u128>()),
    };
    // Stored as the channel's own webhook would store it, so the same adapter reads it back.
    let Some((kind, payload)) = s.chat.adapter(channel).sandbox_event(&provider_id, &message) else {
        return Err(unplayable());
    };
    let event = NewInbound {
        provider: channel.as_str().into(),
        provider_id,
        contact: Some((channel, b.session.clone(), b.name.clone().unwrap_or_default())),
        kind,
        payload,
        job_kind: PROCESS_INBOUND.into(),
    };
    let Some(id) = s.store.store_inbound(&event, s.clock.now()).await? else {
        // A retry of a message already stored: nothing more to do.
        return Ok((StatusCode::ACCEPTED, Json(json!({"event_id": null, "duplicate": true}))));
    };
    s.wake.notify_one();
    metrics::counter!(m::INBOUND_MESSAGES, "channel" => channel.as_str(), "type" => event.kind.clone()).increment(1);
    Ok((StatusCode::ACCEPTED, Json(json!({"event_id": id}))))
}

#[derive(Deserialize)]
pub struct ListQuery {
    session: String,
    #[serde(default)]
    after: i64,
    /// Seconds to wait for something new (0 = answer at once; at most 30).
    #[serde(default)]
    wait: u64,
    #[serde(default)]
    channel: Option<String>,
}

/// The conversation after `after`, as the guest sees it; `None` before the first message.
/// A reply carries `shown` where the channel has its own form (Instagram's quick replies).
async fn read(
    s: &AppState,
    channel: domain::Channel,
    session: &str,
    after: i64,
) -> ApiResult<Option<(Vec<Value>, bool)>> {
    let adapter = s.chat.adapter(channel);
    let contact = match s.store.find_contact(channel, session).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let list = s.store.list_messages(contact.id, after, 200).await?;
    let items: Vec<Value> = list
        .iter()
        // Replies appear once the outbox has delivered them, as on a phone.
        .filter(|m| m.direction == "in" || m.status != domain::MessageStatus::Queued)
        .map(|m| {
            let shown = (m.direction == "out")
                .then(|| adapter.preview(&Outgoing::from_stored(&m.kind, &m.body, &m.payload)))
                .flatten();
            json!({"id": m.id, "direction": m.direction, "kind": m.kind, "body": m.body, "payload": m.payload, "status": m.status.as_str(), "shown": shown})
        })
        .collect();
    Ok(Some((items, contact.handed_off)))
}

pub async fn messages(State(s): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<Value>> {
    enabled(&s)?;
    valid_session(&q.session)?;
    let channel = played(&s, q.channel.as_deref())?;
    let wait = Duration::from_secs(q.wait).min(MAX_WAIT);
    // Only so many polls wait at once; the others answer at once (the client asks again).
    let permit = if wait.is_zero() { None } else { WAITING.try_acquire().ok() };
    let deadline = Instant::now() + if permit.is_some() { wait } else { Duration::ZERO };
    loop {
        let found = read(&s, channel, &q.session, q.after).await?;
        let news = found.as_ref().is_some_and(|(items, _)| !items.is_empty());
        if news || Instant::now() >= deadline || s.stopping.is_stopping() {
            return Ok(Json(match found {
                Some((items, handed_off)) => json!({"messages": items, "handed_off": handed_off}),
                None => json!({"messages": []}),
            }));
        }
        tokio::select! {
            _ = tokio::time::sleep(WAIT_STEP.min(deadline.saturating_duration_since(Instant::now()))) => {}
            // Shutdown answers every waiting poll at once.
            _ = s.stopping.wait() => {}
        }
    }
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
