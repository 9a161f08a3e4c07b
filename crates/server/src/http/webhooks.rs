//! Provider webhooks: the chat channels' through their adapters (crates/channels), the payment
//! provider's through its `PaymentProvider` (payments/provider.rs). Each one verifies its signature over the raw bytes, stores what it
//! carries in the inbox (deduplicated by the provider's id) and answers 200 before any
//! processing. Bad signatures get 401 and store nothing; repeated failures from one address are
//! rate-limited (good ones never are).

use super::idempotency::RawBody;
use super::middleware::client_ip;
use crate::channels::Adapter;
use crate::chat::PROCESS_INBOUND;
use crate::error::{ApiError, ApiResult};
use crate::metrics as m;
use crate::payments::provider::{WebhookRejection, WebhookRequest};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use store::NewInbound;

fn disabled(channel: domain::Channel) -> ApiError {
    ApiError::not_found(format!("{} no está configurado en esta instalación.", channel.label()))
}

/// The channel's adapter when its provider is configured here.
fn configured(s: &AppState, channel: domain::Channel) -> ApiResult<&dyn Adapter> {
    let adapter = s.chat.adapter(channel);
    if adapter.channel() == channel && adapter.configured() { Ok(adapter) } else { Err(disabled(channel)) }
}

pub async fn whatsapp_verify(s: State<AppState>, q: Query<HashMap<String, String>>) -> ApiResult<Response> {
    verify(domain::Channel::Whatsapp, s, q).await
}

pub async fn whatsapp_receive(
    s: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    receive(domain::Channel::Whatsapp, s, peer, headers, body).await
}

pub async fn instagram_verify(s: State<AppState>, q: Query<HashMap<String, String>>) -> ApiResult<Response> {
    verify(domain::Channel::Instagram, s, q).await
}

pub async fn instagram_receive(
    s: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    receive(domain::Channel::Instagram, s, peer, headers, body).await
}

pub async fn messenger_verify(s: State<AppState>, q: Query<HashMap<String, String>>) -> ApiResult<Response> {
    verify(domain::Channel::Messenger, s, q).await
}

pub async fn messenger_receive(
    s: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: RawBody,
) -> ApiResult<Response> {
    receive(domain::Channel::Messenger, s, peer, headers, body).await
}

/// A provider's verification handshake: echo the challenge when the token is ours.
pub async fn verify(
    channel: domain::Channel,
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    match configured(&s, channel)?.verify_subscription(&q) {
        Some(challenge) => Ok((StatusCode::OK, [("content-type", "text/plain")], challenge).into_response()),
        None => Err(ApiError::forbidden("Token de verificación incorrecto.")),
    }
}

/// A channel's webhook: its adapter checks the signature and reads the body into messages and
/// delivery reports; this stores them.
pub async fn receive(
    channel: domain::Channel,
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let adapter = configured(&s, channel)?;
    let provider = channel.as_str();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    if !adapter.verify_signature(&header, &body) {
        metrics::counter!(m::WEBHOOKS, "provider" => provider, "result" => "bad_signature").increment(1);
        let ip = client_ip(peer.ip(), &headers, &s.config.trusted_proxies);
        if let Err(wait) = s.bad_signatures.check(ip, std::time::Instant::now()) {
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Demasiadas firmas inválidas.");
            e.retry_after = Some(wait);
            return Err(e);
        }
        return Err(ApiError::unauthorized("Firma inválida."));
    }
    let hook = adapter
        .parse_webhook(&body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("El cuerpo no es JSON: {e}")))?;
    let now = s.clock.now();
    // Each message is stored on its own: one that cannot be stored does not keep the others
    // out. If any failed (the database, not the input: text is cleaned first) the answer is 503
    // so the provider delivers the batch again; the stored ones are then duplicates.
    let mut failed = 0;
    for msg in &hook.messages {
        let event = NewInbound {
            provider: provider.into(),
            provider_id: msg.id.clone(),
            contact: Some((channel, msg.from.clone(), msg.name.clone())),
            kind: msg.kind.clone(),
            payload: msg.payload.clone(),
            job_kind: PROCESS_INBOUND.into(),
        };
        let stored = match s.store.store_inbound(&event, now).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, provider_id = %msg.id, channel = provider, "could not store a message");
                metrics::counter!(m::WEBHOOKS, "provider" => provider, "result" => "error").increment(1);
                failed += 1;
                continue;
            }
        };
        let result = if stored.is_some() { "accepted" } else { "duplicate" };
        metrics::counter!(m::WEBHOOKS, "provider" => provider, "result" => result).increment(1);
        if stored.is_some() {
            metrics::counter!(m::INBOUND_MESSAGES, "channel" => provider, "type" => msg.kind.clone()).increment(1);
            s.wake.notify_one();
        }
        crate::fault::point("after_inbox_insert");
    }
    for st in &hook.statuses {
        let error = st.error.as_deref();
        if let Err(e) = s.store.message_status_from_provider(&st.message_id, st.status, error, now).await {
            tracing::error!(error = %e, channel = provider, "could not record a delivery status");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(ApiError::unavailable("No se pudo guardar todo el lote; reintentá."));
    }
    let answer = serde_json::json!({"received": hook.messages.len(), "statuses": hook.statuses.len()});
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// A payment provider's notifications (Mercado Pago's, also sent by the sandbox checkout): the
/// provider checks the signature and reads the call; we store it by the provider's delivery id
/// and answer 200 fast. The payment itself is fetched again when processed.
pub async fn mercadopago_receive(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let Some(provider) = s.payments.provider() else {
        return Err(ApiError::not_found("Los pagos no están configurados en esta instalación."));
    };
    let name = provider.api_name();
    let request = WebhookRequest { headers: &headers, query: &query, body: &body, now: s.clock.now() };
    let notification = match provider.verify_webhook(request) {
        Ok(n) => n,
        Err(WebhookRejection::BadSignature) => {
            metrics::counter!(m::WEBHOOKS, "provider" => name, "result" => "bad_signature").increment(1);
            let ip = client_ip(peer.ip(), &headers, &s.config.trusted_proxies);
            if let Err(wait) = s.bad_signatures.check(ip, std::time::Instant::now()) {
                let mut e =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Demasiadas firmas inválidas.");
                e.retry_after = Some(wait);
                return Err(e);
            }
            return Err(ApiError::unauthorized("Firma inválida."));
        }
        Err(WebhookRejection::Malformed(e)) => {
            return Err(ApiError::bad_request("malformed_json", format!("El cuerpo no es JSON: {e}")));
        }
        Err(WebhookRejection::MissingDeliveryId) => {
            return Err(ApiError::bad_request("missing_request_id", "Falta x-request-id."));
        }
    };
    let event = NewInbound {
        provider: name.into(),
        provider_id: notification.delivery_id,
        contact: None,
        kind: notification.kind,
        payload: notification.payload,
        job_kind: crate::payments::PROCESS_JOB.into(),
    };
    let stored = s.store.store_inbound(&event, s.clock.now()).await?;
    let result = if stored.is_some() { "accepted" } else { "duplicate" };
    metrics::counter!(m::WEBHOOKS, "provider" => name, "result" => result).increment(1);
    if stored.is_some() {
        s.wake.notify_one();
    }
    Ok((StatusCode::OK, axum::Json(serde_json::json!({"received": true}))).into_response())
}
