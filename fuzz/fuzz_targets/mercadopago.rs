//! Fuzz Mercado Pago's notifications: the `x-signature` header check with any header, ids and
//! clock (never a panic; what we sign always verifies), the signed notification read into what
//! the inbox stores (`payments::mercadopago::event`) and the stored payload read back into the
//! payment to fetch (`payments::mercadopago::notification_event`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::payments::mercadopago::{event, manifest, notification_event, sign, signature_valid};
use server::payments::provider::NotificationEvent;
use std::collections::HashMap;

const SECRET: &str = "fuzz-webhook-secret";

fuzz_target!(|data: &[u8]| {
    // Lines: x-signature, x-request-id, the query string, then the body.
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let text = |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).into_owned();
    let (header, request_id, query) = (text(parts.next()), text(parts.next()), text(parts.next()));
    let body = parts.next().unwrap_or_default();
    let query: HashMap<String, String> = form_pairs(&query);
    let data_id = query.get("data.id").map(String::as_str);

    let now = i64::from_le_bytes(data.iter().copied().chain([0; 8]).take(8).collect::<Vec<_>>().try_into().unwrap());
    for max_age in [0, 300] {
        let _ = signature_valid(SECRET, Some(&header), Some(&request_id), data_id, max_age, now);
    }
    // What we sign verifies, whatever the ids (a ts is digits: Mercado Pago's are).
    let ts = (now.unsigned_abs() % 10_000_000_000_000).to_string();
    let good = format!("ts={ts},v1={}", sign(SECRET, &manifest(data_id, Some(&request_id), &ts)));
    assert!(signature_valid(SECRET, Some(&good), Some(&request_id), data_id, 0, now));
    assert!(!signature_valid("another-secret", Some(&good), Some(&request_id), data_id, 0, now));

    match event(&query, body) {
        Err(e) => assert!(serde_json::from_slice::<serde_json::Value>(body).is_err(), "{e}"),
        Ok((kind, payload)) => {
            if let Some(k) = query.get("type").or(query.get("topic")) {
                assert_eq!(&kind, k);
            }
            match notification_event(&payload) {
                NotificationEvent::Payment { id, signed } => {
                    assert_eq!(signed, data_id.is_some());
                    if let Some(data_id) = data_id {
                        assert_eq!(id, data_id);
                    }
                }
                NotificationEvent::Other => assert!(kind != "payment" || data_id.is_none()),
            }
        }
    }
    // Any stored payload (e.g. written by an older version) reads without a panic.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = notification_event(&v);
    }
});

/// `a=1&b=2` the way axum's `Query<HashMap<…>>` reads it (the last value of a name wins).
fn form_pairs(query: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default().into_iter().collect()
}
