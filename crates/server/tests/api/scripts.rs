//! The dialogue scripts of `crates/conversation/tests/scripts`, replayed end to end against
//! the real binary: signed webhooks in, a fake Graph API out. The pure harness checks the exact
//! replies; here every guest line must be answered (and within WhatsApp's limits) by the whole
//! pipeline, with real availability and holds.

use crate::helpers::*;
use crate::whatsapp::{APP_SECRET, sent};
use serde_json::{Value, json};
use std::sync::Arc;

/// Scripts whose every guest line expects an answer (no hand-off silence, no timers).
const SCRIPTS: &[&str] = &[
    "01_greeting.txt",
    "02_info.txt",
    "04_price.txt",
    "05_availability_buttons.txt",
    "08_missing_slots.txt",
    "10_confirm_yes.txt",
    "16_reserve_words.txt",
    "21_cancel_hold.txt",
];

/// `(text, Some(button id))` for every guest line of a script.
fn guest_lines(script: &str) -> Vec<(String, Option<String>)> {
    script
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix(">btn ") {
                let (id, title) = rest.split_once(" | ").unwrap_or((rest, ""));
                Some((title.trim().to_string(), Some(id.trim().to_string())))
            } else {
                l.strip_prefix("> ").map(|t| (t.to_string(), None))
            }
        })
        .collect()
}

fn webhook(from: &str, id: &str, text: &str, button: Option<&str>) -> Value {
    let message = match button {
        Some(b) => json!({"from": from, "id": id, "timestamp": "1", "type": "interactive",
                          "interactive": {"type": "button_reply", "button_reply": {"id": b, "title": text}}}),
        None => json!({"from": from, "id": id, "timestamp": "1", "type": "text", "text": {"body": text}}),
    };
    json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
        "contacts": [{"profile": {"name": "Juana Pérez"}, "wa_id": from}], "messages": [message]}}]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_guest_line_of_the_scripts_is_answered_through_the_binary() {
    let db = TestDatabase::new(Engine::Sqlite).await;
    let store = store::connect(&db.url, 2).await.unwrap();
    server::demo::seed(store.as_ref(), chrono::Utc::now()).await.unwrap();
    let graph = FakeUpstream::start().await;
    graph.respond_always(Canned::json(200, json!({"messages": [{"id": "wamid.out"}]})));
    let env = vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".to_string()),
        ("POSADA_JWT_SECRET", JWT_SECRET.to_string()),
        ("POSADA_WHATSAPP_VERIFY_TOKEN", "v".to_string()),
        ("POSADA_WHATSAPP_APP_SECRET", APP_SECRET.to_string()),
        ("POSADA_WHATSAPP_ACCESS_TOKEN", "graph-token".to_string()),
        ("POSADA_WHATSAPP_PHONE_NUMBER_ID", "1555".to_string()),
        ("POSADA_WHATSAPP_API_BASE", graph.address.clone()),
        ("POSADA_RATE_LIMIT_PER_MIN", "0".to_string()),
    ];
    let bin = Binary::start(&["serve"], &env);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conversation/tests/scripts");
    let graph = Arc::new(graph);
    let mut tasks = Vec::new();
    for (n, name) in SCRIPTS.iter().enumerate() {
        let script = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (base, graph) = (bin.address.clone(), graph.clone());
        tasks.push(tokio::spawn(async move {
            let guest = format!("54929440{n:05}");
            let client = reqwest::Client::new();
            for (i, (text, button)) in guest_lines(&script).into_iter().enumerate() {
                let to_guest = |g: &FakeUpstream| sent(g).iter().filter(|m| m["to"] == guest.as_str()).count();
                let before = to_guest(&graph);
                let raw =
                    serde_json::to_vec(&webhook(&guest, &format!("wamid.{n}.{i}"), &text, button.as_deref())).unwrap();
                let r = client
                    .post(format!("{base}/api/v1/webhooks/whatsapp"))
                    .header("x-hub-signature-256", server::channels::whatsapp::sign(APP_SECRET, &raw))
                    .header("content-type", "application/json")
                    .body(raw)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{name}: {text}");
                let mut answered = false;
                for _ in 0..100 {
                    if to_guest(&graph) > before {
                        answered = true;
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                assert!(answered, "{name}: no answer to {text:?}");
                // Let the rest of this turn's replies go out before the next line.
                tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every message the Graph API got respects WhatsApp's limits.
    for m in sent(&graph) {
        if let Some(buttons) = m["interactive"]["action"]["buttons"].as_array() {
            assert!(
                buttons.len() <= 3
                    && buttons.iter().all(|b| b["reply"]["title"].as_str().unwrap().chars().count() <= 20),
                "{m}"
            );
        }
        if let Some(body) = m["interactive"]["body"]["text"].as_str() {
            assert!(body.chars().count() <= 1024);
        }
    }
    store.close().await;
    let (status, logs) = bin.terminate();
    assert!(status.success(), "{logs}");
    assert!(!logs.contains("\"level\":\"ERROR\""), "{logs}");
}
