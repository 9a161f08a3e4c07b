//! The guest conversation end to end: signed webhooks in, a local fake Graph API out.

use crate::both_engines;
use crate::helpers::*;
use axum::http::Method;
use serde_json::{Value, json};

pub const APP_SECRET: &str = "test-app-secret-7f3a";
pub const GUEST: &str = "5492944123456";
pub const OWNER: &str = "5492944000000";

pub async fn wa_app(engine: Engine, graph: &FakeUpstream, extra: Vec<(&'static str, String)>) -> TestApp {
    graph
        .respond_always(Canned::json(200, json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.out"}]})));
    let mut env = vec![
        ("POSADA_WHATSAPP_VERIFY_TOKEN", "verify-me".to_string()),
        ("POSADA_WHATSAPP_APP_SECRET", APP_SECRET.to_string()),
        ("POSADA_WHATSAPP_ACCESS_TOKEN", "graph-token".to_string()),
        ("POSADA_WHATSAPP_PHONE_NUMBER_ID", "1555".to_string()),
        ("POSADA_WHATSAPP_API_BASE", graph.address.clone()),
        ("POSADA_OWNER_PHONE", OWNER.to_string()),
    ];
    env.extend(extra);
    spawn_app_with(engine, Options { env, ..Default::default() }).await
}

pub fn envelope(messages: Vec<Value>, name: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5492944999999", "phone_number_id": "1555"},
        "contacts": [{"profile": {"name": name}, "wa_id": GUEST}],
        "messages": messages,
    }}]}]})
}

pub fn text(id: &str, body: &str) -> Value {
    json!({"from": GUEST, "id": id, "timestamp": "1781252132", "type": "text", "text": {"body": body}})
}

pub fn button(id: &str, button_id: &str, title: &str) -> Value {
    json!({"from": GUEST, "id": id, "timestamp": "1781252133", "type": "interactive",
           "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}})
}

pub async fn post_signed(app: &TestApp, body: &Value) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    let sig = server::channels::whatsapp::sign(APP_SECRET, &raw);
    app.client
        .post(app.url("/api/v1/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(raw)
        .send()
        .await
        .unwrap()
}

/// The WhatsApp guest's reservations, newest first.
pub async fn guest_reservations(app: &TestApp) -> Vec<store::Reservation> {
    let filter = store::ReservationFilter { contact: Some(GUEST.into()), limit: 5, ..Default::default() };
    app.state.store.list_reservations(&filter).await.unwrap().0
}

/// Runs the queue until it settles, moving the clock past short waits (order, backoff).
pub async fn drain(app: &TestApp) {
    for _ in 0..30 {
        app.run_jobs().await;
        app.clock.advance(chrono::Duration::seconds(1));
    }
}

/// What the fake Graph API received on the send endpoint.
pub fn sent(graph: &FakeUpstream) -> Vec<Value> {
    graph
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v21.0/1555/messages")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn texts(sent: &[Value]) -> String {
    sent.iter()
        .map(|m| {
            m["text"]["body"]
                .as_str()
                .or(m["interactive"]["body"]["text"].as_str())
                .or(m["image"]["caption"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

both_engines!(
    the_verification_handshake_echoes_the_challenge,
    bad_signatures_malformed_and_huge_bodies_store_nothing,
    a_guest_gets_a_quote_then_a_hold_and_redeliveries_are_ignored,
    the_outbox_retries_server_errors_and_stops_at_client_errors,
    an_open_breaker_stops_calls_to_the_graph_api,
    replies_behind_a_retrying_one_wait_with_it,
    outside_the_24_hour_window_only_templates_go_out,
    a_hand_off_silences_the_bot_until_the_owner_releases_it,
    a_voice_note_is_transcribed_and_answered,
    a_voice_note_without_speech_to_text_asks_to_write,
    one_contacts_messages_are_answered_in_order,
    a_hold_gets_a_reminder_then_an_expiry_notice,
    the_sandbox_chat_runs_the_same_pipeline,
);

async fn a_hold_gets_a_reminder_then_an_expiry_notice(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    let ask = format!("quiero reservar la cabaña grande del {} al {} para 2", date_words(30), date_words(32));
    post_signed(&app, &envelope(vec![text("wamid.T1", &ask)], "Juana")).await;
    drain(&app).await;
    post_signed(&app, &envelope(vec![text("wamid.T1b", "dale, reservala")], "Juana")).await;
    drain(&app).await;
    let list = guest_reservations(&app).await;
    assert_eq!(list.len(), 1, "{}", texts(&sent(&graph)));
    let code = list[0].code.clone();
    let before = sent(&graph).len();
    // The hold lasts 60 minutes: the reminder is due 15 minutes before the end.
    app.clock.advance(chrono::Duration::minutes(45));
    drain(&app).await;
    let reminder = texts(&sent(&graph)[before..]);
    assert!(reminder.contains(&code), "a reminder 15 minutes before: {reminder}");
    let before = sent(&graph).len();
    app.clock.advance(chrono::Duration::minutes(20));
    drain(&app).await;
    let expiry = texts(&sent(&graph)[before..]);
    assert!(!expiry.is_empty(), "an expiry notice");
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.status, domain::ReservationStatus::Expired);
}

async fn the_sandbox_chat_runs_the_same_pipeline(engine: Engine) {
    let off = spawn_app(engine).await;
    assert_eq!(off.get("/sandbox/chat").await.status(), 404, "off unless POSADA_SANDBOX");
    let app =
        spawn_app_with(engine, Options { env: vec![("POSADA_SANDBOX", "true".into())], ..Default::default() }).await;
    let page = app.get("/sandbox/chat").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/sandbox/api/messages"));
    let r = app.post_json("/sandbox/api/messages", &json!({"session": "test-1", "name": "Ana", "text": "hola"})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(app.post_json("/sandbox/api/messages", &json!({"session": "x", "text": "hola"})).await.status(), 422);
    assert_eq!(app.post_json("/sandbox/api/messages", &json!({"session": "test-1", "text": ""})).await.status(), 422);
    drain(&app).await;
    let v: Value = app.get("/sandbox/api/messages?session=test-1").await.json().await.unwrap();
    let messages = v["messages"].as_array().unwrap();
    assert_eq!(messages[0]["direction"], "in");
    assert!(messages.iter().any(|m| m["direction"] == "out" && m["body"].as_str().unwrap().contains("Ana")), "{v}");
}

const VOICE: &[u8] = include_bytes!("../fixtures/voice_note.ogg");

fn audio(id: &str, media_id: &str) -> Value {
    json!({"from": GUEST, "id": id, "timestamp": "1781252134", "type": "audio",
           "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": media_id, "voice": true}})
}

async fn a_voice_note_is_transcribed_and_answered(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let stt = FakeUpstream::start().await;
    let app = wa_app(
        engine,
        &graph,
        vec![("POSADA_STT_API_BASE", stt.address.clone()), ("POSADA_STT_API_KEY", "stt-key".into())],
    )
    .await;
    graph.respond_at(
        "/v21.0/MEDIA42",
        Canned::json(200, json!({"messaging_product": "whatsapp", "url": format!("{}/lookaside/MEDIA42", graph.address), "mime_type": "audio/ogg; codecs=opus", "file_size": VOICE.len().to_string(), "id": "MEDIA42"})),
    );
    graph.respond_at("/lookaside/MEDIA42", Canned::bytes(200, "audio/ogg", VOICE));
    let heard = format!("hola tienen lugar del {} al {} para cuatro personas", date_words(30), date_words(33));
    stt.respond_always(Canned::json(
        200,
        json!({"text": heard, "language": "es", "segments": [{"avg_logprob": -0.12, "no_speech_prob": 0.01}]}),
    ));
    post_signed(&app, &envelope(vec![audio("wamid.V", "MEDIA42")], "Juana")).await;
    drain(&app).await;
    // The media flow: metadata, then the file, both with the bearer token.
    let media: Vec<_> = graph.requests().into_iter().filter(|r| r.method == "GET").collect();
    assert_eq!(media.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), vec!["/v21.0/MEDIA42", "/lookaside/MEDIA42"]);
    assert!(media.iter().all(|r| r.headers["authorization"] == "Bearer graph-token"));
    // The transcription request: multipart with the real OGG/Opus bytes and the fields.
    let req = &stt.requests()[0];
    assert_eq!(req.path, "/v1/audio/transcriptions");
    assert_eq!(req.headers["authorization"], "Bearer stt-key");
    assert!(req.headers["content-type"].to_str().unwrap().starts_with("multipart/form-data"));
    let body = &req.body[..];
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"name=\"model\"\r\n\r\nwhisper-1"));
    assert!(has(b"name=\"language\"\r\n\r\nes"));
    assert!(has(b"name=\"response_format\"\r\n\r\nverbose_json"));
    assert!(has(b"filename=\"voice.ogg\""));
    assert!(has(VOICE), "the voice note's bytes, untouched");
    // The answer is about what was said.
    let out = sent(&graph);
    assert!(out.iter().any(|m| m["type"] == "interactive" || m["type"] == "image"), "{out:?}");
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let thread = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    let voice = thread.iter().find(|m| m.kind == "voice").unwrap();
    assert_eq!(voice.body, heard, "the transcript is stored as the guest's words, marked as voice");
}

async fn a_voice_note_without_speech_to_text_asks_to_write(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    post_signed(&app, &envelope(vec![audio("wamid.V2", "MEDIA43")], "Juana")).await;
    drain(&app).await;
    let all = texts(&sent(&graph)).to_lowercase();
    assert!(all.contains("audio") && all.contains("escrib"), "{all}");
}

async fn one_contacts_messages_are_answered_in_order(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    // Two messages in one delivery, then the same two again out of order.
    let first = text("wamid.O1", "hola");
    let second = text("wamid.O2", "quiero hablar con una persona");
    post_signed(&app, &envelope(vec![first.clone(), second.clone()], "Juana")).await;
    post_signed(&app, &envelope(vec![second, first], "Juana")).await;
    drain(&app).await;
    let to_guest: Vec<String> =
        sent(&graph).iter().filter(|m| m["to"] == GUEST).map(|m| texts(std::slice::from_ref(m))).collect();
    assert!(to_guest.len() >= 2, "{to_guest:?}");
    assert!(to_guest[0].contains("Hola") || to_guest[0].contains("hola"), "the greeting comes first: {to_guest:?}");
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let inbound: Vec<_> = app
        .state
        .store
        .list_messages(contact.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "in")
        .collect();
    assert_eq!(inbound.len(), 2);
}

async fn the_verification_handshake_echoes_the_challenge(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    let r = app
        .get("/api/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1158201444");
    let r = app.get("/api/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1").await;
    assert_eq!(r.status(), 403);
    // Without WhatsApp configured the webhook does not exist.
    let plain = spawn_app(engine).await;
    assert_eq!(
        plain
            .get("/api/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1")
            .await
            .status(),
        404
    );
}

async fn bad_signatures_malformed_and_huge_bodies_store_nothing(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    let body = serde_json::to_vec(&envelope(vec![text("wamid.1", "hola")], "Juana")).unwrap();
    let post = |sig: Option<String>, body: Vec<u8>| {
        let mut req =
            app.client.post(app.url("/api/v1/webhooks/whatsapp")).header("content-type", "application/json").body(body);
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        req.send()
    };
    assert_eq!(post(None, body.clone()).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(server::channels::whatsapp::sign("other-secret", &body)), body.clone()).await.unwrap().status(),
        401
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(post(Some(server::channels::whatsapp::sign(APP_SECRET, &body)), tampered).await.unwrap().status(), 401);
    let junk = b"{not json".to_vec();
    let r = post(Some(server::channels::whatsapp::sign(APP_SECRET, &junk)), junk).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    let huge = vec![b' '; 1024 * 1024 + 10];
    let (status, _) = crate::errors::raw_request(app.port, "POST", "/api/v1/webhooks/whatsapp", &huge, false).await;
    assert_eq!(status, 413);
    assert!(app.state.store.list_contacts(10).await.unwrap().is_empty(), "nothing stored");
    // Failed signatures are rate-limited per address; good ones never are.
    let mut last = 0;
    for _ in 0..15 {
        last = post(Some("sha256=00".into()), body.clone()).await.unwrap().status().as_u16();
    }
    assert_eq!(last, 429);
    assert_eq!(post_signed(&app, &envelope(vec![text("wamid.ok", "hola")], "Juana")).await.status(), 200);
}

async fn a_guest_gets_a_quote_then_a_hold_and_redeliveries_are_ignored(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    let ask = format!("hola! tienen lugar del {} al {} para 4?", date_words(30), date_words(33));
    let webhook = envelope(vec![text("wamid.A", &ask)], "Juana Pérez");
    let r = post_signed(&app, &webhook).await;
    assert_eq!(r.status(), 200);
    // Meta redelivers the same message: acknowledged, not answered twice.
    assert_eq!(post_signed(&app, &webhook).await.status(), 200);
    drain(&app).await;
    let out = sent(&graph);
    assert!(!out.is_empty());
    let req = graph.requests().into_iter().find(|r| r.path == "/v21.0/1555/messages").unwrap();
    assert_eq!(req.headers["authorization"], "Bearer graph-token");
    assert!(out.iter().all(|m| m["to"] == GUEST && m["messaging_product"] == "whatsapp"));
    let photos = out.iter().filter(|m| m["type"] == "image").count();
    assert!(photos >= 1, "a photo per fitting cabin: {out:?}");
    let buttons = out.iter().find(|m| m["type"] == "interactive").expect("choices as buttons or a list");
    let first = buttons["interactive"]["action"]["buttons"][0]["reply"].clone();
    let first =
        if first.is_null() { buttons["interactive"]["action"]["sections"][0]["rows"][0].clone() } else { first };
    let reserve_id = first["id"].as_str().unwrap().to_string();
    assert!(reserve_id.starts_with("reserve:"), "{reserve_id}");
    let before = out.len();
    // The guest taps "Reservar …": the hold is placed at once, with the profile name and wa_id.
    post_signed(&app, &envelope(vec![button("wamid.B", &reserve_id, first["title"].as_str().unwrap())], "Juana Pérez"))
        .await;
    drain(&app).await;
    let out = sent(&graph);
    let summary = texts(&out[before..]);
    let list = guest_reservations(&app).await;
    assert_eq!(list.len(), 1, "one hold");
    let hold = &list[0];
    assert_eq!((hold.guest_name.as_str(), hold.channel.as_str(), hold.guests), ("Juana Pérez", "whatsapp", 4));
    assert!(summary.contains(&hold.code), "the summary names the code: {summary}");
    // Statuses move our messages forward.
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.out", "status": "read", "timestamp": "1", "recipient_id": GUEST}]}}]}]});
    assert_eq!(post_signed(&app, &status).await.status(), 200);
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let thread = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    assert!(thread.iter().any(|m| m.direction == "out" && m.status == domain::MessageStatus::Read));
    assert_eq!(thread.iter().filter(|m| m.direction == "in").count(), 2, "each inbound message stored once");
    // Nothing is still queued, and the funnel saw the quotes.
    assert_eq!(app.state.store.outbox_stats(app.clock.now()).await.unwrap().queued, 0);
}

/// "15 de enero" style, so the understanding reads the dates the same way as the test.
pub fn date_words(days: i64) -> String {
    use chrono::Datelike;
    let d = property_today() + chrono::Duration::days(days);
    let months = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    format!("{} de {}", d.day(), months[d.month0() as usize])
}

async fn the_outbox_retries_server_errors_and_stops_at_client_errors(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    graph.respond_next(Canned::json(500, json!({"error": {"message": "boom"}})));
    graph.respond_next(Canned::json(429, json!({"error": {"message": "slow down"}})));
    post_signed(&app, &envelope(vec![text("wamid.R", "hola")], "Juana")).await;
    app.run_jobs().await;
    assert_eq!(sent(&graph).len(), 1, "first attempt failed with 500");
    app.clock.advance(chrono::Duration::seconds(3));
    app.run_jobs().await;
    assert_eq!(sent(&graph).len(), 2, "retried after ~2 s: 429");
    app.clock.advance(chrono::Duration::seconds(2));
    app.run_jobs().await;
    assert_eq!(sent(&graph).len(), 2, "the second backoff (~4 s) has not passed yet");
    app.clock.advance(chrono::Duration::seconds(4));
    drain(&app).await;
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let out: Vec<_> = app
        .state
        .store
        .list_messages(contact.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "out")
        .collect();
    assert!(out.iter().all(|m| m.status == domain::MessageStatus::Sent), "{out:?}");
    let attempts = sent(&graph).len();
    // A 400 is not retried: failed, error recorded.
    graph.respond_next(Canned::json(400, json!({"error": {"message": "bad param"}})));
    post_signed(&app, &envelope(vec![text("wamid.S", "gracias")], "Juana")).await;
    drain(&app).await;
    let failed: Vec<_> = app
        .state
        .store
        .list_messages(contact.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.status == domain::MessageStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.as_deref().unwrap().contains("400"));
    assert_eq!(sent(&graph).len(), attempts + 1, "no retry after a 400");
}

async fn an_open_breaker_stops_calls_to_the_graph_api(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    graph.respond_always(Canned::json(503, json!({})));
    for i in 0..3 {
        post_signed(&app, &envelope(vec![text(&format!("wamid.{i}"), "hola")], "Juana")).await;
    }
    // Retries pile up until 5 consecutive failures open the breaker…
    for _ in 0..12 {
        app.run_jobs().await;
        app.clock.advance(chrono::Duration::seconds(30));
    }
    let calls = sent(&graph).len();
    assert!(calls >= 5, "{calls}");
    let v: Value = app.get("/api/v1/healthz").await.json().await.unwrap();
    assert_eq!(v["checks"]["breakers"]["whatsapp"], "open", "{v}");
    assert_eq!(v["status"], "degraded");
    // …and while it is open (60 s of real time), nothing is sent at all.
    for _ in 0..5 {
        app.run_jobs().await;
        app.clock.advance(chrono::Duration::minutes(10));
    }
    assert_eq!(sent(&graph).len(), calls, "no call while the breaker is open");
}

/// Found by chaos/outage.py (#13): during a Graph API outage every reply queued behind one
/// that was retrying asked "is the earlier one sent?" every 50 ms — 35,000 job runs in two
/// minutes for 140 replies. They now wait until the earlier one is tried again, and still go
/// out in order, right after it, once the API is back.
async fn replies_behind_a_retrying_one_wait_with_it(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    graph.respond_always(Canned::json(503, json!({"error": {"message": "down", "code": 2}})));
    post_signed(&app, &envelope(vec![text("wamid.Q1", "hola")], "Juana")).await;
    post_signed(&app, &envelope(vec![text("wamid.Q2", "gracias")], "Juana")).await;
    app.run_jobs().await;
    assert_eq!(sent(&graph).len(), 1, "the first reply was tried and failed (retry in ~2 s)");
    app.clock.advance(chrono::Duration::milliseconds(100));
    app.run_jobs().await;
    // Under 1.5 s the first reply's backoff (2 s ± 20 %) has not passed: nothing is due.
    let mut runs = 0;
    for _ in 0..14 {
        app.clock.advance(chrono::Duration::milliseconds(100));
        runs += app.run_jobs().await;
    }
    assert_eq!(runs, 0, "the later replies wait for the first one's retry, they do not poll");
    assert_eq!(sent(&graph).len(), 1);
    graph.respond_always(Canned::json(200, json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.ok"}]})));
    drain(&app).await;
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let out: Vec<_> = app
        .state
        .store
        .list_messages(contact.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "out" && m.contact_id == contact.id)
        .collect();
    assert!(out.len() >= 2 && out.iter().all(|m| m.status == domain::MessageStatus::Sent), "{out:?}");
    let to_guest: Vec<String> =
        sent(&graph).iter().skip(1).filter(|m| m["to"] == GUEST).map(|m| texts(std::slice::from_ref(m))).collect();
    let rows: Vec<String> = out.iter().map(|m| m.payload["text"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(to_guest, rows, "each reply once, in order");
}

async fn outside_the_24_hour_window_only_templates_go_out(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    post_signed(&app, &envelope(vec![text("wamid.W", "hola")], "Juana")).await;
    drain(&app).await;
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let before = sent(&graph).len();
    app.clock.advance(chrono::Duration::hours(25));
    // A plain message now fails and the owner is told; a reminder goes as its template.
    app.state.chat.owner_reply(contact.id, "¿Seguís interesada?").await.unwrap();
    let code_hold = app
        .state
        .booking
        .place_hold(&server::booking::HoldRequest {
            unit_id: 3,
            check_in: property_today() + chrono::Duration::days(40),
            check_out: property_today() + chrono::Duration::days(42),
            guests: 2,
            channel: domain::Channel::Whatsapp,
            guest_name: "Juana".into(),
            guest_phone: GUEST.into(),
            guest_email: None,
            actor: "test".into(),
            request_key: None,
            origin: server::booking::HoldOrigin::Conversation,
        })
        .await
        .unwrap()
        .0
        .code;
    app.state
        .chat
        .outside_event(
            contact.id,
            conversation::Event::HoldReminder { code: code_hold.clone() },
            Some(vec![code_hold.clone(), "18:00".into()]),
        )
        .await
        .unwrap();
    drain(&app).await;
    let out = &sent(&graph)[before..];
    let guest: Vec<&Value> = out.iter().filter(|m| m["to"] == GUEST).collect();
    assert!(!guest.is_empty() && guest.iter().all(|m| m["type"] == "template"), "{guest:?}");
    assert_eq!(guest[0]["template"]["name"], "recordatorio_reserva");
    assert_eq!(guest[0]["template"]["components"][0]["parameters"][0]["text"], code_hold.as_str());
    let messages = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    assert!(messages.iter().any(|m| m.body == "¿Seguís interesada?" && m.status == domain::MessageStatus::Failed));
    assert!(out.iter().any(|m| m["to"] == OWNER), "the owner was alerted");
}

async fn a_hand_off_silences_the_bot_until_the_owner_releases_it(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    let token = app.owner_token().await;
    post_signed(&app, &envelope(vec![text("wamid.H1", "quiero hablar con una persona por favor")], "Juana")).await;
    drain(&app).await;
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    assert!(contact.handed_off);
    let out = sent(&graph);
    assert!(out.iter().any(|m| m["to"] == OWNER), "the owner was alerted: {out:?}");
    assert!(out.iter().any(|m| m["to"] == GUEST), "the guest was told");
    let handoffs: Value = app.admin_get("/api/v1/admin/handoffs", &token).await.json().await.unwrap();
    assert_eq!(handoffs["items"][0]["id"], contact.id);
    // The bot stays silent; the message is still stored.
    let before = sent(&graph).len();
    post_signed(&app, &envelope(vec![text("wamid.H2", "hola? hay alguien?")], "Juana")).await;
    drain(&app).await;
    assert_eq!(sent(&graph).len(), before);
    // The owner answers through the outbox, then releases the chat.
    let r = app
        .admin_send(
            Method::POST,
            &format!("/api/v1/admin/contacts/{}/reply", contact.id),
            &token,
            Some(&json!({"text": "Hola Juana, soy Marta"})),
        )
        .await;
    assert_eq!(r.status(), 202);
    drain(&app).await;
    assert!(texts(&sent(&graph)).contains("soy Marta"));
    let r = app.admin_send(Method::POST, &format!("/api/v1/admin/contacts/{}/release", contact.id), &token, None).await;
    assert_eq!(r.status(), 200);
    let before = sent(&graph).len();
    post_signed(&app, &envelope(vec![text("wamid.H3", "hola")], "Juana")).await;
    drain(&app).await;
    assert!(sent(&graph).len() > before, "the bot answers again");
    let thread: Value =
        app.admin_get(&format!("/api/v1/admin/contacts/{}/messages", contact.id), &token).await.json().await.unwrap();
    assert!(thread["messages"].as_array().unwrap().iter().any(|m| m["body"] == "hola? hay alguien?"));
}
