//! Fuzz the WhatsApp webhook: the signature check on any body and header, and the parser of a
//! signed body (`channels::whatsapp::parse_webhook`) into inbound messages and statuses: never a
//! panic, `Err` only for what is not JSON, no control character in what is stored as columns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::channels::whatsapp::{parse_webhook, sign, signature_valid};

const SECRET: &str = "fuzz-app-secret";

fuzz_target!(|data: &[u8]| {
    // The first line is tried as the X-Hub-Signature-256 header over the rest.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(0);
    let (header, body) = (&data[..split], &data[(split + 1).min(data.len())..]);
    let header = String::from_utf8_lossy(header);
    let _ = signature_valid(SECRET, body, Some(&header));
    assert!(signature_valid(SECRET, body, Some(&sign(SECRET, body))));

    let parsed = parse_webhook(body);
    assert_eq!(parsed.is_ok(), serde_json::from_slice::<serde_json::Value>(body).is_ok());
    let Ok((messages, statuses)) = parsed else { return };
    for m in &messages {
        for s in [&m.id, &m.from, &m.profile_name, &m.kind] {
            assert!(!domain::text::has_forbidden(s), "a control character left in {s:?}");
        }
        assert!(m.raw.is_object());
    }
    for s in &statuses {
        assert!(s.error.as_deref().is_none_or(|e| e == e.trim()));
    }
});
