//! Provider webhooks. Each one verifies its signature over the raw bytes, stores what it
//! carries in the inbox (deduplicated by the provider's id) and answers 200 before any
//! processing. Bad signatures get 401 and store nothing; repeated failures from one address are
//! rate-limited (good ones never are).

use super::idempotency::RawBody;
use super::middleware::client_ip;
use crate::channels::whatsapp;
use crate::chat::PROCESS_INBOUND;
use crate::error::{ApiError, ApiResult};
use crate::metrics as m;
use crate::payments::provider::{WebhookRejection, WebhookRequest};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::net::SocketAddr;
use store::NewInbound;

fn disabled() -> ApiError {
    ApiError::not_found("WhatsApp no está configurado en esta instalación.")
}

/// Meta's verification handshake: echo `hub.challenge` when the token is ours.
pub async fn whatsapp_verify(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let wa = s.config.whatsapp.as_ref().ok_or_else(disabled)?;
    let ok = q.get("hub.mode").map(String::as_str) == Some("subscribe")
        && q.get("hub.verify_token").is_some_and(|t| crate::ical_sync::same_token(t, wa.verify_token.expose_secret()));
    match (ok, q.get("hub.challenge")) {
        (true, Some(challenge)) => {
            Ok((StatusCode::OK, [("content-type", "text/plain")], challenge.clone()).into_response())
        }
        _ => Err(ApiError::forbidden("Token de verificación incorrecto.")),
    }
}

pub async fn whatsapp_receive(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let wa = s.config.whatsapp.as_ref().ok_or_else(disabled)?;
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !whatsapp::signature_valid(wa.app_secret.expose_secret(), &body, signature) {
        metrics::counter!(m::WEBHOOKS, "provider" => "whatsapp", "result" => "bad_signature").increment(1);
        let ip = client_ip(peer.ip(), &headers, &s.config.trusted_proxies);
        if let Err(wait) = s.bad_signatures.check(ip, std::time::Instant::now()) {
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Demasiadas firmas inválidas.");
            e.retry_after = Some(wait);
            return Err(e);
        }
        return Err(ApiError::unauthorized("Firma inválida."));
    }
    let (messages, statuses) = whatsapp::parse_webhook(&body)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("El cuerpo no es JSON: {e}")))?;
    let now = s.clock.now();
    // Each message is stored on its own: one that cannot be stored does not keep the others
    // out. If any failed (the database, not the input: text is cleaned first) the answer is 503
    // so Meta delivers the batch again; the stored ones are then duplicates.
    let mut failed = 0;
    for msg in &messages {
        let event = NewInbound {
            provider: "whatsapp".into(),
            provider_id: msg.id.clone(),
            contact: Some(("whatsapp".into(), msg.from.clone(), msg.profile_name.clone())),
            kind: msg.kind.clone(),
            payload: msg.raw.clone(),
            job_kind: PROCESS_INBOUND.into(),
        };
        let stored = match s.store.store_inbound(&event, now).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, provider_id = %msg.id, "could not store a WhatsApp message");
                metrics::counter!(m::WEBHOOKS, "provider" => "whatsapp", "result" => "error").increment(1);
                failed += 1;
                continue;
            }
        };
        let result = if stored.is_some() { "accepted" } else { "duplicate" };
        metrics::counter!(m::WEBHOOKS, "provider" => "whatsapp", "result" => result).increment(1);
        if stored.is_some() {
            metrics::counter!(m::INBOUND_MESSAGES, "channel" => "whatsapp", "type" => msg.kind.clone()).increment(1);
            s.wake.notify_one();
        }
        crate::fault::point("after_inbox_insert");
    }
    for st in &statuses {
        if let Err(e) = s.store.message_status_from_provider(&st.message_id, &st.status, st.error.as_deref(), now).await
        {
            tracing::error!(error = %e, "could not record a WhatsApp status");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(ApiError::unavailable("No se pudo guardar todo el lote; reintentá."));
    }
    Ok((StatusCode::OK, axum::Json(serde_json::json!({"received": messages.len(), "statuses": statuses.len()})))
        .into_response())
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
