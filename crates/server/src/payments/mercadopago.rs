//! Mercado Pago's protocol: checkout preferences, payment lookup, and the `x-signature` check.

use crate::channels::breaker::Breaker;
use crate::channels::{SendError, classify_reqwest, classify_status};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct MercadoPago {
    api_base: String,
    token: SecretString,
    http: reqwest::Client,
    pub breaker: Arc<Breaker>,
}

pub const TIMEOUT: Duration = Duration::from_secs(10);

impl MercadoPago {
    pub fn new(api_base: &str, token: SecretString) -> MercadoPago {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().expect("HTTP client");
        MercadoPago {
            api_base: api_base.trim_end_matches('/').to_string(),
            token,
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

    /// `POST /checkout/preferences` → (preference id, init_point).
    pub async fn create_preference(&self, body: &Value) -> Result<(String, String), SendError> {
        let v = self.call(self.http.post(format!("{}/checkout/preferences", self.api_base)).json(body)).await?;
        match (v["id"].as_str(), v["init_point"].as_str()) {
            (Some(id), Some(url)) => Ok((id.to_string(), url.to_string())),
            _ => Err(SendError::Retryable("preference without id or init_point".into())),
        }
    }

    /// `GET /users/me`: whose account the token opens (`posada doctor`).
    pub async fn probe_me(&self) -> Result<crate::channels::Probe, String> {
        let req = self.http.get(format!("{}/users/me", self.api_base)).bearer_auth(self.token.expose_secret());
        crate::channels::probe(req).await
    }

    /// `GET /v1/payments/{id}`: the truth about a payment (never the webhook's body).
    pub async fn payment(&self, id: &str) -> Result<Value, SendError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(SendError::Permanent(format!("bad payment id {id:?}")));
        }
        self.call(self.http.get(format!("{}/v1/payments/{id}", self.api_base))).await
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
