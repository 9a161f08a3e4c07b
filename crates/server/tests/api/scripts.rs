//! The dialogue scripts of `crates/conversation/tests/scripts`, replayed end to end against
//! the real binary: signed webhooks in, a fake Graph API out, real availability and holds. The
//! pure harness checks the exact replies; here, for every script without timers, each guest
//! line must be answered (or, after a hand-off, left to the person) within WhatsApp's limits,
//! and a script that never holds in the snapshot must not hold through the binary either.

use crate::helpers::*;
use crate::whatsapp::{APP_SECRET, sent};
use serde_json::{Value, json};
use std::sync::Arc;

/// One guest line: text, button id, and whether the snapshot answers it.
struct Line {
    text: String,
    button: Option<String>,
    answered: bool,
}

struct Script {
    name: String,
    lines: Vec<Line>,
    /// No guest line could be a yes to an offer: no hold may appear, whatever the binary's
    /// cabins and prices make of the rest.
    never_yes: bool,
}

/// Scripts driven by timers, the clock, outside events or reservations that only the pure
/// harness sets up cannot be replayed by a guest alone.
fn replayable(source: &str) -> bool {
    !source.lines().any(|l| {
        l.starts_with("! ")
            || l.starts_with("= advance")
            || l.starts_with("= reservation")
            || l.starts_with("= booked")
            || l.starts_with("= hold-fails")
            || l.starts_with(">voice")
            || l == ">other"
    })
}

/// A line that may book: a reserve tap, or words that start with a yes, pick an option or
/// say "reservo" (the same reading as the conversation's property test).
fn could_book(line: &Line) -> bool {
    if let Some(id) = &line.button {
        return id.starts_with("reserve:") || id.starts_with("group:");
    }
    let n = line.text.to_lowercase();
    let first = n.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("");
    [
        "si", "sí", "sii", "sip", "dale", "ok", "oka", "okay", "okey", "oki", "listo", "perfecto", "correcto",
        "exacto", "claro", "obvio", "genial", "buenísimo", "buenisimo", "joya", "bárbaro", "barbaro", "bueno",
        "confirmo", "va", "reservo", "reservala", "reservalo", "reserva", "de", "por",
    ]
    .contains(&first)
        || ["reserv", "quedo con", "quedamos con", "quiero la", "quiero el", "elijo", "vamos con", "tomo"]
            .iter()
            .any(|w| n.contains(w))
        // A number or an ordinal picks an option only when it is (nearly) the whole message.
        || (n.split_whitespace().count() <= 3
            && (n.chars().any(|c| c.is_ascii_digit())
                || ["primera", "segunda", "tercera", "uno", "dos", "tres", "otra"].iter().any(|w| n.contains(w))))
}

fn parse(name: &str, source: &str) -> Script {
    let mut lines: Vec<Line> = Vec::new();
    for l in source.lines() {
        if let Some(rest) = l.strip_prefix(">btn ").or_else(|| l.strip_prefix(">row ")) {
            let (id, title) = rest.split_once(" | ").unwrap_or((rest, ""));
            lines.push(Line { text: title.trim().into(), button: Some(id.trim().into()), answered: false });
        } else if let Some(t) = l.strip_prefix("> ") {
            lines.push(Line { text: t.into(), button: None, answered: false });
        } else if l.starts_with('<')
            && let Some(last) = lines.last_mut()
        {
            last.answered = true;
        }
    }
    let never_yes = !lines.iter().any(could_book);
    Script { name: name.into(), lines, never_yes }
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
        // Scripts hold a lot of cabins; the per-contact limit is for strangers, not this test.
        ("POSADA_MAX_HOLDS_PER_CONTACT", "0".to_string()),
    ];
    let bin = Binary::start(&["serve"], &env);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conversation/tests/scripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "txt"));
    files.sort();
    let scripts: Vec<Script> = files
        .iter()
        .filter_map(|p| {
            let source = std::fs::read_to_string(p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            replayable(&source).then(|| parse(&name, &source))
        })
        .collect();
    assert!(scripts.len() >= 70, "only {} replayable scripts", scripts.len());
    let readme = std::fs::read_to_string(dir.join("../../README.md")).unwrap();
    let said = format!("pre-set reservations ({})", scripts.len());
    assert!(readme.contains(&said), "conversation/README.md should say {said:?}");
    let graph = Arc::new(graph);
    let gate = Arc::new(tokio::sync::Semaphore::new(6));
    let mut tasks = Vec::new();
    for (n, script) in scripts.into_iter().enumerate() {
        let (base, graph, gate) = (bin.address.clone(), graph.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            let guest = format!("54929440{n:05}");
            let client = reqwest::Client::new();
            let to_guest = |g: &FakeUpstream| sent(g).iter().filter(|m| m["to"] == guest.as_str()).count();
            let mut problems = Vec::new();
            for (i, line) in script.lines.iter().enumerate() {
                let before = to_guest(&graph);
                let raw =
                    serde_json::to_vec(&webhook(&guest, &format!("wamid.{n}.{i}"), &line.text, line.button.as_deref()))
                        .unwrap();
                let r = client
                    .post(format!("{base}/api/v1/webhooks/whatsapp"))
                    .header("x-hub-signature-256", server::channels::whatsapp::sign(APP_SECRET, &raw))
                    .header("content-type", "application/json")
                    .body(raw)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}: {}", script.name, line.text);
                let wait = if line.answered { 150 } else { 15 };
                let mut got = false;
                for _ in 0..wait {
                    if to_guest(&graph) > before {
                        got = true;
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                if got != line.answered {
                    let what = if line.answered { "no answer to" } else { "an answer while handed off to" };
                    problems.push(format!("{}: {what} {:?}", script.name, line.text));
                }
                // Let the rest of this turn's replies go out before the next line.
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            (script.name, script.never_yes, guest, problems)
        }));
    }
    let mut problems = Vec::new();
    let mut never_hold = Vec::new();
    for t in tasks {
        let (name, never_yes, guest, found) = t.await.unwrap();
        problems.extend(found);
        if never_yes {
            never_hold.push((name, guest));
        }
    }
    // Conversations without a yes placed no hold through the binary.
    for (name, guest) in &never_hold {
        let filter = store::ReservationFilter { contact: Some(guest.clone()), limit: 5, ..Default::default() };
        let (list, _) = store.list_reservations(&filter).await.unwrap();
        if !list.is_empty() {
            problems.push(format!("{name}: a hold through the binary ({})", list[0].code));
        }
    }
    assert!(never_hold.len() >= 20, "{} scripts without a yes", never_hold.len());
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
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
