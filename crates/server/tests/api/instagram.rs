//! Instagram Direct and Facebook Messenger (issue 16, step 6): the same dialogue through the
//! Messenger Platform adapter — signed webhooks in, a local fake of the Send API out.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use crate::whatsapp::{date_words, drain};
use serde_json::{Value, json};

const APP_SECRET: &str = "ig-app-secret-41c9";
const PSID: &str = "17841400000000001";

async fn ig_app(engine: Engine, graph: &FakeUpstream) -> TestApp {
    graph.respond_always(Canned::json(200, json!({"recipient_id": PSID, "message_id": "mid.out"})));
    let env = vec![
        ("POSADA_INSTAGRAM_VERIFY_TOKEN", "ig-verify".to_string()),
        ("POSADA_INSTAGRAM_APP_SECRET", APP_SECRET.to_string()),
        ("POSADA_INSTAGRAM_ACCESS_TOKEN", "page-token".to_string()),
        ("POSADA_INSTAGRAM_ACCOUNT_ID", "9001".to_string()),
        ("POSADA_INSTAGRAM_API_BASE", graph.address.clone()),
        ("POSADA_MESSENGER_VERIFY_TOKEN", "fb-verify".to_string()),
        ("POSADA_MESSENGER_APP_SECRET", APP_SECRET.to_string()),
        ("POSADA_MESSENGER_ACCESS_TOKEN", "page-token".to_string()),
        ("POSADA_MESSENGER_PAGE_ID", "9002".to_string()),
        ("POSADA_MESSENGER_API_BASE", graph.address.clone()),
        ("POSADA_PAYMENT_PROVIDER", "sandbox".to_string()),
    ];
    spawn_app_with(engine, Options { env, ..Default::default() }).await
}

fn hook(object: &str, events: Vec<Value>) -> Value {
    json!({"object": object, "entry": [{"id": "9001", "time": 1, "messaging": events}]})
}

fn said(mid: &str, text: &str) -> Value {
    json!({"sender": {"id": PSID}, "recipient": {"id": "9001"}, "timestamp": 1, "message": {"mid": mid, "text": text}})
}

fn tapped(mid: &str, payload: &str, title: &str) -> Value {
    json!({"sender": {"id": PSID}, "recipient": {"id": "9001"}, "timestamp": 2,
           "message": {"mid": mid, "text": title, "quick_reply": {"payload": payload}}})
}

async fn post(app: &TestApp, path: &str, body: &Value, secret: &str) -> reqwest::Response {
    let raw = serde_json::to_vec(body).unwrap();
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", server::channels::whatsapp::sign(secret, &raw))
        .body(raw)
        .send()
        .await
        .unwrap()
}

/// What the fake Send API received for one account.
fn sent(graph: &FakeUpstream, account: &str) -> Vec<Value> {
    let path = format!("/v21.0/{account}/messages");
    graph.requests().into_iter().filter(|r| r.path == path).map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

both_engines!(
    an_instagram_guest_goes_from_hello_to_a_paid_booking,
    messenger_webhooks_are_verified_and_echoes_ignored,
    each_meta_channel_has_its_breaker_in_health_and_its_label_in_metrics,
    messenger_deliveries_mark_our_messages_delivered,
    the_sandbox_chat_plays_instagram_and_messenger_when_they_are_not_connected,
);

async fn an_instagram_guest_goes_from_hello_to_a_paid_booking(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = ig_app(engine, &graph).await;
    let ask = format!("hola! tienen lugar del {} al {} para 4?", date_words(30), date_words(33));
    let first = hook("instagram", vec![said("mid.A", &ask)]);
    assert_eq!(post(&app, "/api/v1/webhooks/instagram", &first, APP_SECRET).await.status(), 200);
    // A redelivery is acknowledged and not answered twice (deduplicated by `mid`).
    assert_eq!(post(&app, "/api/v1/webhooks/instagram", &first, APP_SECRET).await.status(), 200);
    drain(&app).await;
    let out = sent(&graph, "9001");
    assert!(!out.is_empty(), "answered on Instagram");
    let req = graph.requests().into_iter().find(|r| r.path == "/v21.0/9001/messages").unwrap();
    assert_eq!(req.headers["authorization"], "Bearer page-token");
    assert!(out.iter().all(|m| m["recipient"]["id"] == PSID && m["messaging_type"] == "RESPONSE"), "{out:?}");
    assert!(out.iter().any(|m| m["message"]["attachment"]["type"] == "image"), "the cabins' photos: {out:?}");
    let choices = out.iter().find(|m| m["message"]["quick_replies"].is_array()).expect("quick replies");
    let options = choices["message"]["quick_replies"].as_array().unwrap();
    assert!(options.len() <= 13);
    let reserve = options.iter().find(|o| o["payload"].as_str().unwrap().starts_with("reserve:")).expect("reservar");
    let tap = tapped("mid.B", reserve["payload"].as_str().unwrap(), reserve["title"].as_str().unwrap());
    post(&app, "/api/v1/webhooks/instagram", &hook("instagram", vec![tap]), APP_SECRET).await;
    drain(&app).await;
    // Instagram's webhook carries no name: the bot asks for one before holding.
    let asked = sent(&graph, "9001");
    assert!(
        asked[out.len()..].iter().any(|m| m["message"]["text"].as_str().unwrap_or("").contains("nombre")),
        "{asked:?}"
    );
    post(&app, "/api/v1/webhooks/instagram", &hook("instagram", vec![said("mid.C", "Juana Pérez")]), APP_SECRET).await;
    drain(&app).await;
    let filter = store::ReservationFilter { contact: Some(PSID.into()), limit: 5, ..Default::default() };
    let list = app.state.store.list_reservations(&filter).await.unwrap().0;
    assert_eq!(list.len(), 1, "one hold: {:?}", &sent(&graph, "9001")[asked.len()..]);
    let hold = &list[0];
    assert_eq!((hold.channel, hold.guest_name.as_str(), hold.guests), (domain::Channel::Instagram, "Juana Pérez", 4));
    // The payment link, paid on the sandbox checkout: the booking is confirmed, and the guest
    // hears it on Instagram.
    let r: Value = app.get(&format!("/api/v1/reservations/{}", hold.code)).await.json().await.unwrap();
    let link = r["payment_link"].as_str().expect("a payment link").to_string();
    let before = sent(&graph, "9001").len();
    let pref = link.rsplit('/').next().unwrap();
    assert!(
        app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap().status().is_success()
    );
    drain(&app).await;
    let paid = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(paid.status, domain::ReservationStatus::Confirmed);
    let after = sent(&graph, "9001");
    let told: String = after[before..].iter().filter_map(|m| m["message"]["text"].as_str()).collect();
    assert!(told.contains(&hold.code), "the confirmation names the code: {told}");
    // The conversation shows in Conversaciones with the channel's label.
    let contact = app.state.store.find_contact(domain::Channel::Instagram, PSID).await.unwrap();
    let ui = owner_ui(&app).await;
    let list = ui.page("/admin/conversaciones").await;
    assert!(list.contains(&format!("/admin/conversaciones/{}", contact.id)) && list.contains("Instagram"), "{list}");
    assert!(sent(&graph, "9002").is_empty(), "nothing went to Messenger");
}

async fn messenger_webhooks_are_verified_and_echoes_ignored(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = ig_app(engine, &graph).await;
    let r = app.get("/api/v1/webhooks/messenger?hub.mode=subscribe&hub.verify_token=fb-verify&hub.challenge=77").await;
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "77".to_string()));
    let wrong = "/api/v1/webhooks/messenger?hub.mode=subscribe&hub.verify_token=ig-verify&hub.challenge=1";
    assert_eq!(app.get(wrong).await.status(), 403, "each channel its own token");
    let body = hook("page", vec![said("mid.M1", "hola")]);
    assert_eq!(post(&app, "/api/v1/webhooks/messenger", &body, "other-secret").await.status(), 401);
    let echo = json!({"sender": {"id": "9002"}, "recipient": {"id": PSID}, "timestamp": 3,
                      "message": {"mid": "mid.E", "text": "eco", "is_echo": true}});
    let read = json!({"sender": {"id": PSID}, "recipient": {"id": "9002"}, "timestamp": 4, "read": {"watermark": 4}});
    let r =
        post(&app, "/api/v1/webhooks/messenger", &hook("page", vec![said("mid.M1", "hola"), echo, read]), APP_SECRET)
            .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["received"], 1, "the echo and the read receipt are not messages");
    drain(&app).await;
    let out = sent(&graph, "9002");
    assert!(!out.is_empty() && out.iter().all(|m| m["recipient"]["id"] == PSID), "{out:?}");
    assert!(app.state.store.find_contact(domain::Channel::Messenger, PSID).await.is_ok());
    // Without the variables the webhooks do not exist.
    let plain = spawn_app(engine).await;
    assert_eq!(plain.get("/api/v1/webhooks/instagram?hub.mode=subscribe").await.status(), 404);
}

/// The value of one Prometheus sample (`name{labels} value`) whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, ""));
        (n == name && labels.iter().all(|want| rest.split(',').any(|have| have.trim_end_matches('}') == *want)))
            .then(|| value.parse().ok())
            .flatten()
    })
}

async fn each_meta_channel_has_its_breaker_in_health_and_its_label_in_metrics(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = ig_app(engine, &graph).await;
    let v: Value = app.get("/api/v1/healthz").await.json().await.unwrap();
    assert_eq!(v["checks"]["breakers"]["instagram"], "closed", "{v}");
    assert_eq!(v["checks"]["breakers"]["messenger"], "closed", "{v}");
    // One guest on each channel: the counters carry the channel, not a shared total.
    assert_eq!(
        post(&app, "/api/v1/webhooks/instagram", &hook("instagram", vec![said("mid.I1", "hola")]), APP_SECRET)
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&app, "/api/v1/webhooks/messenger", &hook("page", vec![said("mid.M1", "hola")]), APP_SECRET)
            .await
            .status(),
        200
    );
    drain(&app).await;
    let text = app.metrics().await.text().await.unwrap();
    for channel in ["instagram", "messenger"] {
        let label = format!("channel=\"{channel}\"");
        let inbound = sample(&text, "inbound_messages_total", &[&label, "type=\"text\""]);
        assert_eq!(inbound, Some(1.0), "{channel} inbound:\n{text}");
        let sent = sample(&text, "outbox_sent_total", &[&label]);
        assert!(sent.is_some_and(|n| n >= 1.0), "{channel} sent:\n{text}");
        let provider = format!("provider=\"{channel}\"");
        assert_eq!(sample(&text, "breaker_state", &[&provider]), Some(0.0), "{channel} breaker closed:\n{text}");
        assert!(sample(&text, "webhooks_total", &[&provider, "result=\"accepted\""]).is_some(), "{text}");
    }
    // A Send API that keeps failing opens Instagram's breaker only, and health says which.
    let adapter = app.state.chat.adapter(domain::Channel::Instagram);
    let breaker = adapter.breaker().expect("a configured channel has a breaker");
    for _ in 0..5 {
        breaker.failure(std::time::Instant::now());
    }
    app.clock.advance(chrono::Duration::seconds(3));
    let v: Value = app.get("/api/v1/healthz").await.json().await.unwrap();
    assert_eq!(
        (v["checks"]["breakers"]["instagram"].as_str(), v["status"].as_str()),
        (Some("open"), Some("degraded")),
        "{v}"
    );
    assert_eq!(v["checks"]["breakers"]["messenger"], "closed", "{v}");
}

async fn messenger_deliveries_mark_our_messages_delivered(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = ig_app(engine, &graph).await;
    assert_eq!(
        post(&app, "/api/v1/webhooks/messenger", &hook("page", vec![said("mid.D1", "hola")]), APP_SECRET)
            .await
            .status(),
        200
    );
    drain(&app).await;
    let contact = app.state.store.find_contact(domain::Channel::Messenger, PSID).await.unwrap();
    let out = |thread: Vec<store::Message>| thread.into_iter().filter(|m| m.direction == "out").collect::<Vec<_>>();
    let before = out(app.state.store.list_messages(contact.id, 0, 100).await.unwrap());
    assert!(!before.is_empty() && before.iter().all(|m| m.status == domain::MessageStatus::Sent), "{before:?}");
    // The fake Send API answers every send with message_id "mid.out".
    let delivery = json!({"sender": {"id": PSID}, "recipient": {"id": "9002"},
                          "delivery": {"mids": ["mid.out"], "watermark": 1458668856253i64}});
    let r = post(&app, "/api/v1/webhooks/messenger", &hook("page", vec![delivery]), APP_SECRET).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["received"].as_u64(), v["statuses"].as_u64()), (Some(0), Some(1)), "{v}");
    let after = out(app.state.store.list_messages(contact.id, 0, 100).await.unwrap());
    assert!(after.iter().all(|m| m.status == domain::MessageStatus::Delivered), "{after:?}");
    // A read (only a watermark, no ids) changes nothing, and a later delivery does not undo it.
    let read = json!({"sender": {"id": PSID}, "recipient": {"id": "9002"}, "timestamp": 9, "read": {"watermark": 9}});
    assert_eq!(post(&app, "/api/v1/webhooks/messenger", &hook("page", vec![read]), APP_SECRET).await.status(), 200);
    let still = out(app.state.store.list_messages(contact.id, 0, 100).await.unwrap());
    assert!(still.iter().all(|m| m.status == domain::MessageStatus::Delivered), "{still:?}");
}

/// A sandbox chat request, as the demo's page sends it.
async fn typed(app: &TestApp, channel: &str, body: Value) -> reqwest::Response {
    let mut body = body;
    body["session"] = json!("demo-ig-1");
    body["channel"] = json!(channel);
    app.post_json("/sandbox/api/messages", &body).await
}

async fn shown(app: &TestApp, channel: &str) -> Vec<Value> {
    let r = app.get(&format!("/sandbox/api/messages?session=demo-ig-1&channel={channel}")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["messages"].as_array().unwrap().clone()
}

/// The demo shows Instagram and Messenger without an account: the sandbox chat plays the guest,
/// the reply is rendered by the Messenger Platform adapter (quick replies ≤ 13, titles ≤ 20
/// characters) and the conversation is an Instagram one everywhere (reservation, dashboard).
async fn the_sandbox_chat_plays_instagram_and_messenger_when_they_are_not_connected(engine: Engine) {
    let env = vec![("POSADA_SANDBOX", "true".to_string()), ("POSADA_PAYMENT_PROVIDER", "sandbox".to_string())];
    let app = spawn_app_with(engine, Options { env, ..Default::default() }).await;
    let ask = format!("hola! tienen lugar del {} al {} para 4?", date_words(30), date_words(33));
    assert_eq!(typed(&app, "instagram", json!({"name": "Juana Pérez", "text": ask})).await.status(), 202);
    drain(&app).await;
    let replies = shown(&app, "instagram").await;
    let parts: Vec<Value> = replies
        .iter()
        .filter(|m| m["direction"] == "out")
        .flat_map(|m| m["shown"].as_array().unwrap().clone())
        .collect();
    assert!(parts.iter().any(|p| p["attachment"]["type"] == "image"), "the cabins' photos as attachments: {parts:?}");
    let quick = parts.iter().find_map(|p| p["quick_replies"].as_array()).expect("quick replies");
    assert!(quick.len() <= 13 && quick.iter().all(|q| q["title"].as_str().unwrap().chars().count() <= 20));
    let reserve = quick.iter().find(|q| q["payload"].as_str().unwrap().starts_with("reserve:")).expect("reservar");
    let tap = json!({"button_id": reserve["payload"], "title": reserve["title"]});
    assert_eq!(typed(&app, "instagram", tap).await.status(), 202);
    drain(&app).await;
    let filter = store::ReservationFilter { contact: Some("demo-ig-1".into()), limit: 5, ..Default::default() };
    let list = app.state.store.list_reservations(&filter).await.unwrap().0;
    assert_eq!(list.len(), 1, "one hold: {:?}", shown(&app, "instagram").await);
    assert_eq!((list[0].channel, list[0].guest_name.as_str()), (domain::Channel::Instagram, "Juana Pérez"));
    // Paid on the sandbox checkout: the confirmation comes back on "Instagram".
    let r: Value = app.get(&format!("/api/v1/reservations/{}", list[0].code)).await.json().await.unwrap();
    let pref = r["payment_link"].as_str().expect("a payment link").rsplit('/').next().unwrap().to_string();
    assert!(
        app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap().status().is_success()
    );
    drain(&app).await;
    assert_eq!(
        app.state.store.get_reservation(&list[0].code).await.unwrap().status,
        domain::ReservationStatus::Confirmed
    );
    let told: String = shown(&app, "instagram")
        .await
        .iter()
        .flat_map(|m| m["shown"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["text"].as_str().map(String::from))
        .collect();
    assert!(told.contains(&list[0].code), "the confirmation names the code: {told}");
    // One session, one contact per channel: the sandbox's own chat and Messenger start empty.
    assert_eq!(shown(&app, "").await, Vec::<Value>::new());
    assert_eq!(typed(&app, "messenger", json!({"text": "hola"})).await.status(), 202);
    drain(&app).await;
    assert!(shown(&app, "messenger").await.iter().any(|m| m["direction"] == "out"), "Messenger answered");
    // The dashboard lists it as an Instagram conversation.
    let contact = app.state.store.find_contact(domain::Channel::Instagram, "demo-ig-1").await.unwrap();
    let ui = owner_ui(&app).await;
    let page = ui.page("/admin/conversaciones").await;
    assert!(page.contains(&format!("/admin/conversaciones/{}", contact.id)) && page.contains("Instagram"), "{page}");
    // Only channels the sandbox may play; a clear Spanish 422 otherwise.
    for channel in ["whatsapp", "email", "telegram", "admin"] {
        let r = typed(&app, channel, json!({"text": "hola"})).await;
        assert_eq!(r.status(), 422, "{channel}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_channel", "{channel}: {v}");
    }
    assert_eq!(app.get("/sandbox/api/messages?session=demo-ig-1&channel=whatsapp").await.status(), 422);
    app.stop().await;

    // With Instagram connected for real its guests are real: the sandbox does not play it.
    let graph = FakeUpstream::start().await;
    graph.respond_always(Canned::json(200, json!({"recipient_id": PSID, "message_id": "mid.out"})));
    let env = vec![
        ("POSADA_SANDBOX", "true".to_string()),
        ("POSADA_INSTAGRAM_VERIFY_TOKEN", "ig-verify".to_string()),
        ("POSADA_INSTAGRAM_APP_SECRET", APP_SECRET.to_string()),
        ("POSADA_INSTAGRAM_ACCESS_TOKEN", "page-token".to_string()),
        ("POSADA_INSTAGRAM_ACCOUNT_ID", "9001".to_string()),
        ("POSADA_INSTAGRAM_API_BASE", graph.address.clone()),
    ];
    let app = spawn_app_with(engine, Options { env, ..Default::default() }).await;
    assert_eq!(typed(&app, "instagram", json!({"text": "hola"})).await.status(), 422);
    assert_eq!(typed(&app, "messenger", json!({"text": "hola"})).await.status(), 202);
}
