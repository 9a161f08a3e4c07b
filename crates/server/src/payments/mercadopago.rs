//! Mercado Pago behind [`PaymentProvider`]: checkout preferences, the `x-signature` check on
//! notifications, payment lookup, refunds and the account probe. Every Mercado Pago field name
//! is read and written here and nowhere else in the service (a test keeps it so); the sandbox
//! is this same client pointed at our local fake of the API (`http/sandbox_pay.rs`).

use super::provider::{
    AccountCheck, AccountProbe, CreatedLink, LinkRequest, Notification, NotificationEvent, PaymentProvider,
    PaymentStatus, ProviderPayment, Refund, RefundRequest, WebhookRejection, WebhookRequest,
};
use crate::channels::breaker::Breaker;
use crate::channels::{SendError, classify_reqwest, classify_status};
use crate::config::{PaymentProvider as ProviderKind, PaymentsConfig};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use domain::Money;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct MercadoPago {
    kind: ProviderKind,
    api_base: String,
    token: SecretString,
    webhook_secret: SecretString,
    signature_max_age_s: u64,
    http: reqwest::Client,
    breaker: Arc<Breaker>,
}

pub const TIMEOUT: Duration = Duration::from_secs(10);

impl MercadoPago {
    /// The client for `config` (for the sandbox, `config.api_base` is our fake of the API).
    pub fn new(config: &PaymentsConfig) -> MercadoPago {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().expect("HTTP client");
        MercadoPago {
            kind: config.provider,
            api_base: config.api_base.trim_end_matches('/').to_string(),
            token: config.access_token.clone(),
            webhook_secret: config.webhook_secret.clone(),
            signature_max_age_s: config.signature_max_age_s,
            http,
            breaker: Arc::new(Breaker::new("mercadopago")),
        }
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, SendError> {
        if self.breaker.allow(Instant::now()).is_err() {
            return Err(SendError::BreakerOpen);
        }
        let outcome = match req.bearer_auth(self.token.expose_secret()).timeout(TIMEOUT).send().await {
            Err(e) => Err(classify_reqwest(&e)),
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    serde_json::from_str(&text)
                        .map_err(|e| SendError::Retryable(format!("bad JSON from Mercado Pago: {e}")))
                } else {
                    Err(classify_status(status, &text))
                }
            }
        };
        match &outcome {
            Ok(_) | Err(SendError::Permanent(_)) => self.breaker.success(),
            Err(_) => self.breaker.failure(Instant::now()),
        }
        outcome
    }
}

#[async_trait]
impl PaymentProvider for MercadoPago {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn api_name(&self) -> &'static str {
        "mercadopago"
    }

    fn breaker(&self) -> Arc<Breaker> {
        self.breaker.clone()
    }

    /// `POST /checkout/preferences` → (preference id, init_point).
    async fn create_link(&self, request: &LinkRequest) -> Result<CreatedLink, SendError> {
        let body = preference(request);
        let v = self.call(self.http.post(format!("{}/checkout/preferences", self.api_base)).json(&body)).await?;
        match (v["id"].as_str(), v["init_point"].as_str()) {
            (Some(id), Some(url)) => Ok(CreatedLink { link_id: id.to_string(), url: url.to_string() }),
            _ => Err(SendError::Retryable("preference without id or init_point".into())),
        }
    }

    /// `x-signature` over the manifest (`data.id` from the query string), and `x-request-id` as
    /// the delivery id: several legitimate `payment.updated` arrive for one payment.
    fn verify_webhook(&self, request: WebhookRequest<'_>) -> Result<Notification, WebhookRejection> {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = header("x-request-id");
        let ok = signature_valid(
            self.webhook_secret.expose_secret(),
            header("x-signature"),
            request_id,
            request.query.get("data.id").map(String::as_str),
            self.signature_max_age_s,
            request.now.timestamp(),
        );
        if !ok {
            return Err(WebhookRejection::BadSignature);
        }
        let (kind, payload) = event(request.query, request.body).map_err(WebhookRejection::Malformed)?;
        let Some(request_id) = request_id.filter(|r| !r.is_empty() && r.len() <= 200) else {
            return Err(WebhookRejection::MissingDeliveryId);
        };
        Ok(Notification { delivery_id: request_id.to_string(), kind, payload })
    }

    fn notification_event(&self, payload: &Value) -> NotificationEvent {
        notification_event(payload)
    }

    /// `GET /v1/payments/{id}`.
    async fn payment(&self, id: &str) -> Result<ProviderPayment, SendError> {
        check_id(id)?;
        let v = self.call(self.http.get(format!("{}/v1/payments/{id}", self.api_base))).await?;
        Ok(parse_payment(id, v))
    }

    /// `POST /v1/payments/{id}/refunds` with `X-Idempotency-Key` (Mercado Pago answers a
    /// repeated key with the first refund) and `{"amount": …}` for a partial one; no body
    /// refunds what is left.
    async fn refund(&self, request: &RefundRequest) -> Result<Refund, SendError> {
        check_id(&request.payment_id)?;
        let key = &request.idempotency_key;
        if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SendError::Permanent(format!("bad idempotency key {key:?}")));
        }
        let mut req = self
            .http
            .post(format!("{}/v1/payments/{}/refunds", self.api_base, request.payment_id))
            .header("X-Idempotency-Key", key);
        if let Some(amount) = request.amount {
            req = req.json(&json!({"amount": pesos(amount)}));
        }
        let v = self.call(req).await?;
        let id = id_text(&v["id"]).ok_or_else(|| SendError::Retryable("refund without id".into()))?;
        Ok(Refund {
            id,
            payment_id: id_text(&v["payment_id"]).unwrap_or_else(|| request.payment_id.clone()),
            amount: v["amount"].as_f64().map(cents).unwrap_or(Money::ZERO),
            status: v["status"].as_str().unwrap_or("unknown").to_string(),
        })
    }

    /// `GET /users/me`: whose account the token opens.
    async fn probe(&self) -> Result<AccountProbe, String> {
        let req = self.http.get(format!("{}/users/me", self.api_base)).bearer_auth(self.token.expose_secret());
        let probe = crate::channels::probe(req).await?;
        let message = || probe.body["message"].as_str().unwrap_or("").to_string();
        let check = match probe.status {
            200 => AccountCheck::Ok {
                account: format!(
                    "{} ({})",
                    probe.body["nickname"].as_str().unwrap_or("?"),
                    probe.body["site_id"].as_str().unwrap_or("?")
                ),
                argentine: probe.body["site_id"] == "MLA",
                test_credentials: self.token.expose_secret().starts_with("TEST-"),
            },
            401 | 403 => AccountCheck::Refused(message()),
            status => AccountCheck::Failed(status, message()),
        };
        Ok(AccountProbe { check, date: probe.date })
    }
}

/// The preference for a hold's deposit or a reservation's balance: the amount in pesos, binary
/// mode (approved or rejected, never pending), no cash methods (a ticket paid days later would
/// land after the deadline), expiring with the hold (the balance: before arrival), the
/// request's reference as `external_reference`.
pub fn preference(r: &LinkRequest) -> Value {
    let mut body = json!({
        "items": [{"id": r.code, "title": r.title, "quantity": 1, "unit_price": pesos(r.amount), "currency_id": "ARS"}],
        "external_reference": r.reference,
        "notification_url": r.notification_url,
        "back_urls": {
            "success": r.return_urls.approved,
            "failure": r.return_urls.rejected,
            "pending": r.return_urls.pending,
        },
        "auto_return": "approved",
        "binary_mode": true,
        "payment_methods": {"excluded_payment_types": [{"id": "ticket"}, {"id": "atm"}]},
        "expires": true,
        "expiration_date_from": stamp(r.valid_from),
        "expiration_date_to": stamp(r.expires_at),
        "statement_descriptor": r.statement_descriptor.chars().take(22).collect::<String>(),
    });
    let mut payer = serde_json::Map::new();
    if let Some(name) = &r.payer_name {
        payer.insert("name".into(), json!(name));
    }
    if let Some(email) = &r.payer_email {
        payer.insert("email".into(), json!(email));
    }
    if !payer.is_empty() {
        body["payer"] = Value::Object(payer);
    }
    body
}

/// Mercado Pago wants "-03:00"-style offsets.
fn stamp(t: DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

fn pesos(m: Money) -> f64 {
    m.0 as f64 / 100.0
}

fn cents(pesos: f64) -> Money {
    Money((pesos * 100.0).round() as i64)
}

/// Ids come as numbers or strings.
fn id_text(v: &Value) -> Option<String> {
    v.as_str().map(String::from).or_else(|| v.as_i64().map(|i| i.to_string())).filter(|s| !s.is_empty())
}

fn check_id(id: &str) -> Result<(), SendError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(SendError::Permanent(format!("bad payment id {id:?}")));
    }
    Ok(())
}

/// A payment document from `GET /v1/payments/{id}`, in the rules' words. Pure.
pub fn parse_payment(id: &str, p: Value) -> ProviderPayment {
    let status_name = p["status"].as_str().unwrap_or("unknown").to_string();
    let status = match status_name.as_str() {
        "approved" => PaymentStatus::Approved,
        "pending" | "in_process" | "authorized" => PaymentStatus::Pending,
        "rejected" | "cancelled" => PaymentStatus::Rejected,
        "refunded" | "charged_back" | "in_mediation" => PaymentStatus::MoneyBack,
        _ => PaymentStatus::Other,
    };
    ProviderPayment {
        id: id.to_string(),
        status,
        status_name,
        status_detail: p["status_detail"].as_str().unwrap_or("").to_string(),
        amount: p["transaction_amount"].as_f64().map(cents).unwrap_or(Money::ZERO),
        currency: p["currency_id"].as_str().unwrap_or("").to_string(),
        reference: p["external_reference"].as_str().unwrap_or("").to_string(),
        raw: p,
    }
}

/// A signed notification as the inbox stores it: its kind (the query's `type` or `topic`, else
/// the body's `type`) and the payload `{"query", "body"}` (an empty body is `null`). `Err` (the
/// parser's words) when the body is neither empty nor JSON. Pure (the fuzz target in `fuzz/`
/// drives it with any query and bytes).
pub fn event(query: &HashMap<String, String>, body: &[u8]) -> Result<(String, Value), String> {
    let body: Value = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())?
    };
    let kind = query
        .get("type")
        .or(query.get("topic"))
        .cloned()
        .or_else(|| body["type"].as_str().map(String::from))
        .unwrap_or_default();
    Ok((kind, json!({"query": query, "body": body})))
}

/// Reads a stored notification payload (`{"query", "body"}`). The signature covers `data.id`
/// from the query string; the body is not signed. An id found only in the body is a hint: the
/// payment is read from the API with our token and only what the API answers (status, amount,
/// reference) counts (docs/decisions.md). Pure.
pub fn notification_event(payload: &Value) -> NotificationEvent {
    let q = &payload["query"];
    let b = &payload["body"];
    let kind = q["type"].as_str().or(q["topic"].as_str()).or(b["type"].as_str()).or(b["topic"].as_str()).unwrap_or("");
    let signed = q["data.id"].as_str().map(String::from);
    let unsigned = q["id"].as_str().map(String::from).or_else(|| id_text(&b["data"]["id"]));
    match (kind, signed.is_some(), signed.or(unsigned)) {
        ("payment", signed, Some(id)) => NotificationEvent::Payment { id, signed },
        _ => NotificationEvent::Other,
    }
}

/// `x-signature: ts=…,v1=…` over the manifest `id:{data.id};request-id:{x-request-id};ts:{ts};`
/// (absent parts left out; `data.id` from the query string, lower-cased when alphanumeric).
pub fn manifest(data_id: Option<&str>, request_id: Option<&str>, ts: &str) -> String {
    let mut m = String::new();
    if let Some(id) = data_id.filter(|s| !s.is_empty()) {
        let id = if id.bytes().all(|b| b.is_ascii_alphanumeric()) { id.to_lowercase() } else { id.to_string() };
        m.push_str(&format!("id:{id};"));
    }
    if let Some(r) = request_id.filter(|s| !s.is_empty()) {
        m.push_str(&format!("request-id:{r};"));
    }
    m.push_str(&format!("ts:{ts};"));
    m
}

pub fn sign(secret: &str, manifest: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(manifest.as_bytes());
    crate::channels::whatsapp::to_hex(&mac.finalize().into_bytes())
}

/// Checks the header; `max_age_s` 0 = no freshness check (retries may keep the first `ts`).
/// `ts` may be seconds or milliseconds.
pub fn signature_valid(
    secret: &str,
    header: Option<&str>,
    request_id: Option<&str>,
    data_id: Option<&str>,
    max_age_s: u64,
    now_s: i64,
) -> bool {
    let Some(header) = header else { return false };
    let mut ts = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("ts", v)) => ts = Some(v.trim()),
            Some(("v1", v)) => v1 = Some(v.trim()),
            _ => {}
        }
    }
    let (Some(ts), Some(v1)) = (ts, v1) else { return false };
    if max_age_s > 0 {
        let Ok(mut t) = ts.parse::<i64>() else { return false };
        if t > 100_000_000_000 {
            t /= 1000;
        }
        if (now_s - t).unsigned_abs() > max_age_s {
            return false;
        }
    }
    let Some(given) = decode_hex(v1) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(manifest(data_id, request_id, ts).as_bytes());
    mac.verify_slice(&given).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with another tool:
    /// `printf 'id:123456abc;request-id:bb56a2f1-6aae-46ac-982e-9dcd3581d08e;ts:1742505638683;' \
    ///   | openssl dgst -sha256 -hmac 'your_secret_key_here'`
    /// (the query's data.id was "123456ABC": alphanumeric, so lower-cased).
    const OPENSSL_V1: &str = "545cc7a0a819b65518ba0c4821c961ce9995f9aa3646e98c5deb5356529f7ecf";

    #[test]
    fn a_payment_document_reads_into_the_rules_words() {
        let p = parse_payment(
            "555",
            json!({"id": 555, "status": "approved", "status_detail": "accredited", "transaction_amount": 1234.56,
                   "currency_id": "ARS", "external_reference": "ABC123"}),
        );
        assert_eq!(
            (p.id.as_str(), p.status, p.amount, p.currency.as_str(), p.reference.as_str()),
            ("555", PaymentStatus::Approved, Money(123_456), "ARS", "ABC123")
        );
        for (word, status) in [
            ("in_process", PaymentStatus::Pending),
            ("cancelled", PaymentStatus::Rejected),
            ("charged_back", PaymentStatus::MoneyBack),
            ("in_mediation", PaymentStatus::MoneyBack),
            ("something_new", PaymentStatus::Other),
        ] {
            let p = parse_payment("1", json!({"status": word}));
            assert_eq!((p.status, p.status_name.as_str(), p.amount), (status, word, Money::ZERO));
        }
        assert_eq!(parse_payment("1", json!({})).status_name, "unknown");
    }

    #[test]
    fn a_stored_notification_names_the_payment_to_read() {
        let signed = json!({"query": {"data.id": "77", "type": "payment"}, "body": {"data": {"id": "99"}}});
        assert_eq!(notification_event(&signed), NotificationEvent::Payment { id: "77".into(), signed: true });
        let hint = json!({"query": {}, "body": {"type": "payment", "data": {"id": 99}}});
        assert_eq!(notification_event(&hint), NotificationEvent::Payment { id: "99".into(), signed: false });
        let order = json!({"query": {"data.id": "5", "topic": "merchant_order"}, "body": null});
        assert_eq!(notification_event(&order), NotificationEvent::Other);
        assert_eq!(notification_event(&json!("anything")), NotificationEvent::Other);
    }

    #[test]
    fn the_manifest_follows_the_documented_shape() {
        assert_eq!(manifest(Some("123456ABC"), Some("rid"), "1"), "id:123456abc;request-id:rid;ts:1;");
        assert_eq!(manifest(Some("12-34"), None, "1"), "id:12-34;ts:1;");
        assert_eq!(manifest(None, Some("rid"), "1"), "request-id:rid;ts:1;");
    }

    #[test]
    fn an_openssl_vector_verifies() {
        let header = format!("ts=1742505638683,v1={OPENSSL_V1}");
        let rid = Some("bb56a2f1-6aae-46ac-982e-9dcd3581d08e");
        assert!(signature_valid("your_secret_key_here", Some(&header), rid, Some("123456ABC"), 0, 0));
        assert!(!signature_valid("other", Some(&header), rid, Some("123456ABC"), 0, 0));
        assert!(!signature_valid("your_secret_key_here", Some(&header), rid, Some("999"), 0, 0), "wrong data.id");
        assert!(!signature_valid("your_secret_key_here", Some(&header), None, Some("123456ABC"), 0, 0));
        assert!(!signature_valid("your_secret_key_here", None, rid, Some("123456ABC"), 0, 0));
        // Freshness: milliseconds accepted, old ones refused when the window is on.
        assert!(signature_valid("your_secret_key_here", Some(&header), rid, Some("123456ABC"), 300, 1742505638 + 100));
        assert!(!signature_valid(
            "your_secret_key_here",
            Some(&header),
            rid,
            Some("123456ABC"),
            300,
            1742505638 + 1000
        ));
    }
}
