//! The owner's side of conversations (JSON, JWT): hand-offs, threads, replying, releasing.

use super::admin::parse_id;
use super::extract::ApiJson;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

fn contact_json(c: &store::Contact) -> Value {
    json!({
        "id": c.id,
        "channel": c.channel.as_str(),
        "address": c.address,
        "name": c.name,
        "handed_off": c.handed_off,
        "last_inbound_at": c.last_inbound_at.map(|t| t.to_rfc3339()),
        "updated_at": c.updated_at.to_rfc3339(),
    })
}

/// Chats waiting for a person first, then the most recent.
pub async fn contacts(State(s): State<AppState>, _admin: Admin) -> ApiResult<Json<Value>> {
    let list = s.store.list_contacts(200).await?;
    Ok(Json(json!({"items": list.iter().map(contact_json).collect::<Vec<_>>()})))
}

pub async fn handoffs(State(s): State<AppState>, _admin: Admin) -> ApiResult<Json<Value>> {
    let list = s.store.list_contacts(200).await?;
    Ok(Json(json!({"items": list.iter().filter(|c| c.handed_off).map(contact_json).collect::<Vec<_>>()})))
}

pub async fn thread(State(s): State<AppState>, _admin: Admin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let contact = s.store.get_contact(parse_id(&id)?).await?;
    let messages = s.store.list_messages(contact.id, 0, 1000).await?;
    Ok(Json(json!({"contact": contact_json(&contact), "messages": messages})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    text: String,
}

pub async fn reply(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReplyBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let text = b.text.trim();
    if text.is_empty() || text.chars().count() > 4096 {
        return Err(ApiError::unprocessable("invalid_text", "El mensaje debe tener entre 1 y 4096 caracteres."));
    }
    let contact = s.store.get_contact(parse_id(&id)?).await?;
    s.chat.owner_reply(contact.id, text).await.map_err(ApiError::internal)?;
    tracing::info!(contact = contact.id, by = %admin.email, "owner replied");
    Ok((StatusCode::ACCEPTED, Json(json!({"queued": true}))))
}

pub async fn release(State(s): State<AppState>, admin: Admin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let contact = s.store.get_contact(parse_id(&id)?).await?;
    s.chat.release(contact.id).await.map_err(ApiError::internal)?;
    tracing::info!(contact = contact.id, by = %admin.email, "chat handed back to the bot");
    Ok(Json(json!({"handed_off": false})))
}
