//! The sandbox checkout (payment provider `sandbox`, used by `posada demo`): a page with
//! "Pagar" / "Rechazar" for a preference, a local fake of Mercado Pago's preferences and
//! payments API (refunds included), and a correctly signed webhook to our own endpoint — so a
//! new user sees the whole journey confirm through the real code path, without accounts.

use crate::config::PaymentProvider;
use crate::error::{ApiError, ApiResult};
use crate::payments::mercadopago;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Preferences and payments the fake remembers, each: the oldest are forgotten first. Its routes
/// are public in a sandbox install, so what they keep must be bounded (a hold's link lives an
/// hour; a demo makes a few dozen).
pub const SANDBOX_KEEP: usize = 2_000;

#[derive(Default)]
pub struct FakeMercadoPago {
    preferences: Mutex<Recent<String>>,
    payments: Mutex<Recent<String>>,
    /// Refunds by (payment id, `X-Idempotency-Key`): a repeated key gets the first answer.
    refunds: Mutex<Recent<(String, String)>>,
}

/// A map that keeps only the [`SANDBOX_KEEP`] most recent entries.
struct Recent<K> {
    map: HashMap<K, Value>,
    order: VecDeque<K>,
}

impl<K> Default for Recent<K> {
    fn default() -> Self {
        Recent { map: HashMap::new(), order: VecDeque::new() }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Recent<K> {
    fn insert(&mut self, key: K, value: Value) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > SANDBOX_KEEP {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, key: &K) -> Option<&Value> {
        self.map.get(key)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut Value> {
        self.map.get_mut(key)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

impl FakeMercadoPago {
    /// How many preferences and payments it holds now.
    pub fn sizes(&self) -> (usize, usize) {
        let lock = |m: &Mutex<Recent<String>>| m.lock().unwrap_or_else(|p| p.into_inner()).len();
        (lock(&self.preferences), lock(&self.payments))
    }
}

/// What the checkout page and the payment need of a preference, nothing more (a body may be up
/// to the 1 MiB every route accepts).
fn kept(pref: &Value) -> Value {
    let item = &pref["items"][0];
    let title: String = item["title"].as_str().unwrap_or("").chars().take(200).collect();
    let reference: String = pref["external_reference"].as_str().unwrap_or("").chars().take(100).collect();
    json!({
        "items": [{"title": title, "unit_price": item["unit_price"].as_f64(), "currency_id": item["currency_id"].as_str().map(|c| c.chars().take(3).collect::<String>())}],
        "external_reference": reference,
    })
}

fn enabled(s: &AppState) -> ApiResult<()> {
    if s.config.payments.provider == PaymentProvider::Sandbox { Ok(()) } else { Err(ApiError::not_found("No existe.")) }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// `POST /sandbox/mp/checkout/preferences`: Mercado Pago's shape, stored in memory.
pub async fn create_preference(
    State(s): State<AppState>,
    Json(body): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    enabled(&s)?;
    let id = format!("SBX-{:016x}", rand::random::<u64>());
    let init_point = format!("{}/sandbox/pay/{id}", s.config.public_url);
    let mut pref = body.clone();
    pref["id"] = json!(id);
    pref["init_point"] = json!(init_point);
    s.sandbox_mp.preferences.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), kept(&pref));
    Ok((StatusCode::CREATED, Json(pref)))
}

/// `GET /sandbox/mp/v1/payments/{id}`.
pub async fn get_payment(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    enabled(&s)?;
    let payments = s.sandbox_mp.payments.lock().unwrap_or_else(|p| p.into_inner());
    payments.get(&id).cloned().map(Json).ok_or_else(|| ApiError::not_found("Payment not found"))
}

/// Mercado Pago's error shape.
fn mp_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"status": status.as_u16(), "error": error, "message": message, "cause": []}))).into_response()
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

/// `POST /sandbox/mp/v1/payments/{id}/refunds`: `X-Idempotency-Key` required (the same key
/// answers the same refund, and refunds nothing more); `{"amount": …}` refunds part, no body
/// what is left; more than what is left is a 400, as Mercado Pago answers. A payment refunded
/// in full turns `refunded`.
pub async fn refund(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    enabled(&s)?;
    let Some(key) = headers.get("x-idempotency-key").and_then(|v| v.to_str().ok()).filter(|k| !k.is_empty()) else {
        return Ok(mp_error(StatusCode::BAD_REQUEST, "bad_request", "Header-X-Idempotency-Key-can't-be-null"));
    };
    let asked = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if v["amount"].is_null() => None,
            Ok(v) if v["amount"].is_number() => Some(cents(&v["amount"])),
            Ok(_) => return Ok(mp_error(StatusCode::BAD_REQUEST, "bad_request", "amount-attribute-must-be-numeric")),
            Err(_) => return Ok(mp_error(StatusCode::BAD_REQUEST, "bad_request", "invalid JSON")),
        }
    };
    // One lock over payments and refunds: two calls with one key cannot both refund.
    let mut payments = s.sandbox_mp.payments.lock().unwrap_or_else(|p| p.into_inner());
    let mut refunds = s.sandbox_mp.refunds.lock().unwrap_or_else(|p| p.into_inner());
    let Some(payment) = payments.get_mut(&id) else {
        return Ok(mp_error(StatusCode::NOT_FOUND, "not_found", "Payment-not-found"));
    };
    if let Some(first) = refunds.get(&(id.clone(), key.to_string())) {
        return Ok((StatusCode::CREATED, Json(first.clone())).into_response());
    }
    if payment["status"] != "approved" {
        return Ok(mp_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "The-action-requested-is-not-valid-for-the-current-payment-state",
        ));
    }
    let left = cents(&payment["transaction_amount"]) - cents(&payment["transaction_amount_refunded"]);
    let amount = asked.unwrap_or(left);
    if amount <= 0 {
        return Ok(mp_error(StatusCode::BAD_REQUEST, "bad_request", "amount-attribute-must-be-positive"));
    }
    if amount > left {
        return Ok(mp_error(StatusCode::BAD_REQUEST, "bad_request", "Invalid refund amount: more than what is left"));
    }
    let refund = json!({
        "id": 70_000_000 + rand::random::<u32>() % 9_000_000,
        "payment_id": payment["id"],
        "amount": amount as f64 / 100.0,
        "status": "approved",
        "source": {"id": "sandbox", "name": "Sandbox", "type": "collector"},
        "date_created": s.clock.now().to_rfc3339(),
        "unique_sequence_number": null,
    });
    let refunded = cents(&payment["transaction_amount_refunded"]) + amount;
    payment["transaction_amount_refunded"] = json!(refunded as f64 / 100.0);
    if refunded == cents(&payment["transaction_amount"]) {
        payment["status"] = json!("refunded");
        payment["status_detail"] = json!("refunded");
    }
    match payment["refunds"].as_array_mut() {
        Some(list) => list.push(refund.clone()),
        None => payment["refunds"] = json!([refund.clone()]),
    }
    refunds.insert((id, key.to_string()), refund.clone());
    Ok((StatusCode::CREATED, Json(refund)).into_response())
}

/// The checkout page.
pub async fn checkout(State(s): State<AppState>, Path(pref): Path<String>) -> ApiResult<Html<String>> {
    enabled(&s)?;
    let p = s.sandbox_mp.preferences.lock().unwrap_or_else(|p| p.into_inner()).get(&pref).cloned();
    let p = p.ok_or_else(|| ApiError::not_found("Ese link de pago no existe."))?;
    let item = &p["items"][0];
    let amount = item["unit_price"].as_f64().unwrap_or(0.0);
    let amount = domain::Money((amount * 100.0).round() as i64).to_ars();
    let raw_title = item["title"].as_str().unwrap_or("");
    // A balance link's item says "Saldo · …"; a hold's "Seña … · …".
    let what = if raw_title.starts_with("Saldo") { "saldo" } else { "seña" };
    let title = escape(raw_title);
    let pref = escape(&pref);
    Ok(Html(format!(
        r#"<!doctype html><html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pagar {what} · sandbox</title>
<style>body{{font-family:system-ui,sans-serif;max-width:420px;margin:40px auto;padding:0 16px}}.amount{{font-size:2em;margin:.3em 0}}
button{{font-size:1.1em;padding:.6em 1.2em;border-radius:6px;border:0;margin-right:8px;cursor:pointer}}.pay{{background:#009ee3;color:#fff}}.reject{{background:#eee}}
.note{{color:#666;font-size:.9em}}</style></head><body>
<p class="note">Checkout de prueba (sandbox): no se cobra nada.</p>
<h1>Pagar {what}</h1><p>{title}</p><p class="amount">{amount}</p>
<form method="post" action="/sandbox/pay/{pref}/approve" style="display:inline"><button class="pay" id="pay">Pagar</button></form>
<form method="post" action="/sandbox/pay/{pref}/reject" style="display:inline"><button class="reject" id="reject">Rechazar</button></form>
</body></html>"#
    )))
}

/// "Pagar" / "Rechazar": a payment in the fake API and a signed notification to our webhook.
pub async fn decide(State(s): State<AppState>, Path((pref, action)): Path<(String, String)>) -> ApiResult<Response> {
    enabled(&s)?;
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ApiError::not_found("No existe.")),
    };
    let p = s.sandbox_mp.preferences.lock().unwrap_or_else(|p| p.into_inner()).get(&pref).cloned();
    let p = p.ok_or_else(|| ApiError::not_found("Ese link de pago no existe."))?;
    let id = format!("{}", 90_000_000 + rand::random::<u32>() % 9_000_000);
    let payment = json!({
        "id": id.parse::<i64>().unwrap_or(0),
        "status": if approve { "approved" } else { "rejected" },
        "status_detail": if approve { "accredited" } else { "cc_rejected_other_reason" },
        "transaction_amount": p["items"][0]["unit_price"],
        "currency_id": p["items"][0]["currency_id"],
        "external_reference": p["external_reference"],
        "transaction_amount_refunded": 0,
        "refunds": [],
        "payment_type_id": "credit_card",
        "date_created": s.clock.now().to_rfc3339(),
    });
    s.sandbox_mp.payments.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), payment);
    // Exactly what Mercado Pago sends: data.id in the query, x-request-id, x-signature.
    let request_id = format!("{:032x}", rand::random::<u128>());
    let ts = s.clock.now().timestamp_millis().to_string();
    let v1 = mercadopago::sign(
        s.config.payments.webhook_secret.expose_secret(),
        &mercadopago::manifest(Some(&id), Some(&request_id), &ts),
    );
    let url = format!("{}/api/v1/webhooks/mercadopago?data.id={id}&type=payment", s.config.public_url);
    let body = json!({"action": "payment.updated", "api_version": "v1", "type": "payment", "data": {"id": id}});
    let sent = reqwest::Client::new()
        .post(url)
        .header("x-request-id", request_id)
        .header("x-signature", format!("ts={ts},v1={v1}"))
        .json(&body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "sandbox webhook could not be delivered");
    }
    let (title, text) = if approve {
        ("¡Pago aprobado!", "Listo: en unos segundos te llega la confirmación por el chat.")
    } else {
        ("Pago rechazado", "No se cobró nada. Podés volver a intentarlo desde el mismo link.")
    };
    Ok(Html(format!(
        r#"<!doctype html><html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:420px;margin:40px auto;padding:0 16px"><h1 id="result">{title}</h1><p>{text}</p>
<p><a href="/sandbox/chat">Volver al chat</a></p></body></html>"#
    ))
    .into_response())
}

/// Where Mercado Pago sends the guest back (`back_urls`).
pub async fn payment_return(Path(result): Path<String>) -> Html<String> {
    let (title, text) = match result.as_str() {
        "aprobado" => ("¡Gracias!", "Recibimos tu pago; en un momento te llega la confirmación por el mismo chat."),
        "pendiente" => ("Pago pendiente", "Cuando se acredite te avisamos por el chat."),
        _ => (
            "El pago no se completó",
            "No se cobró nada. Podés volver a intentarlo desde el mismo link mientras la reserva siga vigente.",
        ),
    };
    Html(format!(
        r#"<!doctype html><html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:420px;margin:40px auto;padding:0 16px"><h1>{title}</h1><p>{text}</p></body></html>"#
    ))
}
