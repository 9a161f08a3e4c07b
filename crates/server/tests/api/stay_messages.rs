//! A confirmed stay's automatic messages, in accelerated time with the injected clock: the
//! balance reminder, check-in instructions, welcome, checkout reminder and thank-you, each once,
//! at its local time, never in the quiet hours, on the guest's channel (WhatsApp inside and
//! outside the 24-hour window, e-mail, the sandbox); cancelled with the reservation, moved with
//! its dates; crashes around the send neither lose one nor send one twice.

use crate::both_engines;
use crate::email::MailServers;
use crate::helpers::*;
use crate::ui::{owner_ui, staff_ui};
use crate::whatsapp::{GUEST, envelope, post_signed, sent, text};
use chrono::{DateTime, Duration, Utc};
use domain::{StayMessageKind as K, StayMessageStatus as S};
use serde_json::{Value, json};
use server::booking::{HoldOrigin, HoldRequest};

both_engines!(
    the_whole_stay_on_whatsapp_inside_and_outside_the_window,
    without_a_template_a_whatsapp_guest_outside_the_window_gets_it_by_email_or_it_is_recorded,
    the_sandbox_chat_gets_every_message_once,
    cancelled_or_moved_stays_and_the_quiet_hours,
    crashes_around_the_send_lose_nothing_and_repeat_nothing,
    a_paid_deposit_plans_the_stay,
    the_owner_edits_the_texts_with_a_preview_and_sees_the_timeline,
    the_real_binary_aborted_around_the_send_sends_each_message_once,
);

/// Thursday 10 December 2026, 12:00 in Argentina (15:00 UTC).
fn start() -> DateTime<Utc> {
    utc("2026-12-10T15:00:00Z")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const TEMPLATE: &str = "aviso_estadia";

async fn app_with(engine: Engine, mut env: Vec<(&'static str, String)>, graph: Option<&FakeUpstream>) -> TestApp {
    if let Some(graph) = graph {
        graph.respond_always(Canned::json(
            200,
            serde_json::json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.out"}]}),
        ));
        env.extend([
            ("POSADA_WHATSAPP_VERIFY_TOKEN", "verify-me".to_string()),
            ("POSADA_WHATSAPP_APP_SECRET", crate::whatsapp::APP_SECRET.to_string()),
            ("POSADA_WHATSAPP_ACCESS_TOKEN", "graph-token".to_string()),
            ("POSADA_WHATSAPP_PHONE_NUMBER_ID", "1555".to_string()),
            ("POSADA_WHATSAPP_API_BASE", graph.address.clone()),
        ]);
    }
    let app = spawn_app_with(engine, Options { env, now: Some(start()), ..Default::default() }).await;
    let settings = [
        ("address", "Ruta 40 km 2, Villa La Angostura"),
        ("map_url", "https://maps.example/lago"),
        ("review_url", "https://g.page/r/lago/review"),
        ("unit.1.key_code", "Caja junto a la puerta, código 4821"),
        ("unit.1.wifi", "LagoWifi / clave lago2026"),
    ];
    let changes: Vec<(String, Option<String>)> =
        settings.iter().map(|(k, v)| (k.to_string(), Some(v.to_string()))).collect();
    app.state.store.save_settings(&changes, "test", app.clock.now()).await.unwrap();
    app
}

/// A confirmed booking of cabin 1 from 20 to 23 December on `channel`, reached at `address`.
async fn booked(app: &TestApp, channel: domain::Channel, address: &str, email: Option<&str>) -> store::Reservation {
    let req = HoldRequest {
        unit_id: 1,
        check_in: "2026-12-20".parse().unwrap(),
        check_out: "2026-12-23".parse().unwrap(),
        guests: 2,
        channel,
        guest_name: "Juana Pérez".into(),
        guest_phone: address.into(),
        guest_email: email.map(String::from),
        actor: "test".into(),
        request_key: None,
        origin: HoldOrigin::Conversation,
    };
    let (hold, _, _) = app.state.booking.place_hold(&req).await.unwrap();
    app.state.booking.confirm(&hold.code, "owner@posada.test", "seña", false).await.unwrap()
}

/// Moves the app's clock to `t` (never back) and runs the queue until it settles.
async fn at(app: &TestApp, t: DateTime<Utc>) {
    let d = t - app.clock.now();
    if d > Duration::zero() {
        app.clock.advance(d);
    }
    for _ in 0..6 {
        app.run_jobs().await;
        app.clock.advance(Duration::seconds(1));
    }
}

async fn rows(app: &TestApp, r: &store::Reservation) -> Vec<store::StayMessage> {
    app.state.store.stay_messages(r.id).await.unwrap()
}

fn row(rows: &[store::StayMessage], kind: K) -> store::StayMessage {
    rows.iter().find(|m| m.kind == kind).unwrap_or_else(|| panic!("no {kind:?} in {rows:?}")).clone()
}

/// The stay messages WhatsApp got after `from`: (type, text or the template's parameter).
fn wa_after(graph: &FakeUpstream, from: usize) -> Vec<(String, String)> {
    sent(graph)[from..]
        .iter()
        .filter(|m| m["to"] == GUEST)
        .map(|m| match m["type"].as_str().unwrap_or("") {
            "template" => {
                assert_eq!(m["template"]["name"], TEMPLATE, "{m}");
                let p = m["template"]["components"][0]["parameters"][0]["text"].as_str().unwrap_or("");
                ("template".to_string(), p.to_string())
            }
            t => (t.to_string(), m["text"]["body"].as_str().unwrap_or("").to_string()),
        })
        .collect()
}

/// The guest writes on WhatsApp (the 24-hour window opens); the bot's answer is drained.
async fn guest_writes(app: &TestApp, id: &str, body: &str) {
    post_signed(app, &envelope(vec![text(id, body)], "Juana")).await;
    for _ in 0..4 {
        app.run_jobs().await;
        app.clock.advance(Duration::seconds(1));
    }
}

fn local_hour(t: DateTime<Utc>) -> u32 {
    use chrono::Timelike;
    t.with_timezone(&chrono_tz::America::Argentina::Buenos_Aires).hour()
}

async fn the_whole_stay_on_whatsapp_inside_and_outside_the_window(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = app_with(engine, vec![("POSADA_WHATSAPP_TEMPLATE_STAY", TEMPLATE.into())], Some(&graph)).await;
    guest_writes(&app, "wamid.S1", "hola").await;
    let r = booked(&app, domain::Channel::Whatsapp, GUEST, None).await;
    // Confirmed: five messages planned at their local times (UTC is three hours ahead).
    let plan = rows(&app, &r).await;
    let due: Vec<(K, S, DateTime<Utc>)> = plan.iter().map(|m| (m.kind, m.status, m.due_at)).collect();
    assert_eq!(
        due,
        vec![
            (K::Balance, S::Due, utc("2026-12-17T13:00:00Z")),
            (K::CheckIn, S::Due, utc("2026-12-19T21:00:00Z")),
            (K::Welcome, S::Due, utc("2026-12-20T19:00:00Z")),
            (K::Checkout, S::Due, utc("2026-12-22T23:00:00Z")),
            (K::Thanks, S::Due, utc("2026-12-23T15:00:00Z")),
        ]
    );
    // Planning again (an hourly maintenance, a second confirmation path) changes nothing.
    app.state.booking.schedule_stay_messages(&r).await.unwrap();
    assert_eq!(rows(&app, &r).await, plan);
    let mut seen = sent(&graph).len();
    // A minute early: nothing. On time: the balance reminder, outside the window → template.
    at(&app, utc("2026-12-17T12:59:00Z")).await;
    assert_eq!(wa_after(&graph, seen), vec![]);
    at(&app, utc("2026-12-17T13:00:00Z")).await;
    let got = wa_after(&graph, seen);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "template");
    assert!(got[0].1.contains("Queda un saldo de $") && got[0].1.contains("Se abona al llegar"), "{got:?}");
    assert!(!got[0].1.contains('\n'), "a template parameter is one line");
    seen = sent(&graph).len();
    // Paid at the counter: recorded in the dashboard; nothing changes for what is left.
    let change = store::Change { actor: "owner@posada.test".into(), note: "saldo".into(), allow_expired: false };
    let paid = app
        .state
        .store
        .record_balance_paid(&r.code, domain::BalanceMethod::Cash, &change, app.clock.now())
        .await
        .unwrap();
    app.state.booking.schedule_stay_messages(&paid).await.unwrap();
    // The guest writes the morning before: inside the window the instructions go as text.
    at(&app, utc("2026-12-19T13:00:00Z")).await;
    guest_writes(&app, "wamid.S2", "mañana llegamos!").await;
    seen = seen.max(sent(&graph).len());
    at(&app, utc("2026-12-19T21:00:00Z")).await;
    let got = wa_after(&graph, seen);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "text");
    let instructions = &got[0].1;
    for part in
        ["¡Hola Juana!", "Check-in desde las 14:00", "Ruta 40 km 2", "https://maps.example/lago", "4821", "LagoWifi"]
    {
        assert!(instructions.contains(part), "{part} in {instructions}");
    }
    assert!(!instructions.contains("Cómo llegar:"), "an empty line is left out: {instructions}");
    seen = sent(&graph).len();
    // Welcome (the window closed at 13:00 UTC): a template again; then the checkout reminder.
    at(&app, utc("2026-12-20T19:00:00Z")).await;
    let got = wa_after(&graph, seen);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0 == "template" && got[0].1.contains("Bienvenidos"), "{got:?}");
    seen = sent(&graph).len();
    at(&app, utc("2026-12-22T23:00:00Z")).await;
    let got = wa_after(&graph, seen);
    assert!(got.len() == 1 && got[0].1.contains("check-out es hasta las 10:00"), "{got:?}");
    seen = sent(&graph).len();
    at(&app, utc("2026-12-23T15:00:00Z")).await;
    let got = wa_after(&graph, seen);
    assert!(got.len() == 1 && got[0].1.contains("https://g.page/r/lago/review"), "{got:?}");
    // A week later: nothing more, each message sent once, never in the quiet hours.
    seen = sent(&graph).len();
    at(&app, utc("2026-12-30T15:00:00Z")).await;
    assert_eq!(wa_after(&graph, seen), vec![]);
    let done = rows(&app, &r).await;
    for m in &done {
        assert_eq!((m.status, m.channel), (S::Sent, Some(domain::Channel::Whatsapp)), "{m:?}");
        let h = local_hour(m.sent_at.unwrap());
        assert!((9..22).contains(&h), "{m:?} at {h} h");
    }
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
    let outbox = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    let ours: Vec<i64> = done.iter().filter_map(|m| m.message_id).collect();
    assert_eq!(outbox.iter().filter(|m| ours.contains(&m.id)).count(), 5);
    assert!(outbox.iter().filter(|m| ours.contains(&m.id)).all(|m| m.status == domain::MessageStatus::Sent));
}

async fn without_a_template_a_whatsapp_guest_outside_the_window_gets_it_by_email_or_it_is_recorded(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let Some(servers) = MailServers::start() else { return };
    let app = app_with(engine, servers.env(), Some(&graph)).await;
    guest_writes(&app, "wamid.E1", "hola").await;
    let with_mail = booked(&app, domain::Channel::Whatsapp, GUEST, Some("juana@guest.test")).await;
    let seen = sent(&graph).len();
    // Five days after the guest's last message, no template: the reminder goes by e-mail.
    at(&app, utc("2026-12-17T13:00:00Z")).await;
    assert_eq!(wa_after(&graph, seen), vec![]);
    let balance = row(&rows(&app, &with_mail).await, K::Balance);
    assert_eq!((balance.status, balance.channel), (S::Sent, Some(domain::Channel::Email)), "{balance:?}");
    let mut mails = Vec::new();
    for _ in 0..50 {
        mails = servers.received().into_iter().filter(|m| m.rcpt.contains("juana@guest.test")).collect();
        if !mails.is_empty() {
            break;
        }
        at(&app, app.clock.now() + Duration::seconds(2)).await;
    }
    assert_eq!(mails.len(), 1, "one e-mail");
    assert!(mails[0].subject.contains("Recordatorio del saldo"), "{}", mails[0].subject);
    assert!(mails[0].text.contains("Queda un saldo de $"), "{}", mails[0].text);
    // Another stay, no e-mail address: recorded as not sent, with why.
    let other = "5492944777777";
    app.state.store.upsert_contact(domain::Channel::Whatsapp, other, "Pedro", app.clock.now()).await.unwrap();
    let req = HoldRequest {
        unit_id: 2,
        check_in: "2026-12-20".parse().unwrap(),
        check_out: "2026-12-23".parse().unwrap(),
        guests: 2,
        channel: domain::Channel::Whatsapp,
        guest_name: "Pedro".into(),
        guest_phone: other.into(),
        guest_email: None,
        actor: "test".into(),
        request_key: None,
        origin: HoldOrigin::Conversation,
    };
    let (hold, _, _) = app.state.booking.place_hold(&req).await.unwrap();
    let r = app.state.booking.confirm(&hold.code, "owner@posada.test", "", false).await.unwrap();
    at(&app, utc("2026-12-19T21:00:00Z")).await;
    let m = row(&rows(&app, &r).await, K::CheckIn);
    assert_eq!(m.status, S::Failed, "{m:?}");
    assert!(m.note.contains("24 h") && m.note.contains("POSADA_WHATSAPP_TEMPLATE_STAY"), "{}", m.note);
}

async fn the_sandbox_chat_gets_every_message_once(engine: Engine) {
    let env = vec![("POSADA_SANDBOX", "true".into()), ("POSADA_PAYMENT_PROVIDER", "sandbox".into())];
    let app = app_with(engine, env, None).await;
    let contact = app
        .state
        .store
        .upsert_contact(domain::Channel::Sandbox, "sandbox-juana", "Juana", app.clock.now())
        .await
        .unwrap();
    let r = booked(&app, domain::Channel::Sandbox, "sandbox-juana", None).await;
    // The balance reminder carries the balance's own link; the guest pays it on the checkout.
    at(&app, utc("2026-12-17T13:00:00Z")).await;
    let links = app.state.store.balance_links(r.id).await.unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].amount, r.money().pending);
    let reminder = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    let reminder = reminder.iter().rfind(|m| m.direction == "out").unwrap();
    assert!(reminder.body.contains(&format!("Podés pagarlo acá: {}", links[0].url)), "{}", reminder.body);
    let paid =
        app.client.post(app.url(&format!("/sandbox/pay/{}/approve", links[0].preference_id))).send().await.unwrap();
    assert!(paid.status().is_success());
    at(&app, app.clock.now() + Duration::seconds(5)).await;
    let after = app.state.store.get_reservation(&r.code).await.unwrap();
    assert_eq!(after.money().pending, domain::Money::ZERO, "the balance is paid: {:?}", after.money());
    for t in ["2026-12-19T21:00:00Z", "2026-12-20T19:00:00Z", "2026-12-22T23:00:00Z", "2026-12-23T15:00:00Z"] {
        at(&app, utc(t)).await;
    }
    at(&app, utc("2026-12-31T15:00:00Z")).await;
    let outbox: Vec<store::Message> = app
        .state
        .store
        .list_messages(contact.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "out")
        .collect();
    let bodies: Vec<&str> = outbox.iter().map(|m| m.body.as_str()).collect();
    // Reminder, the thanks for the balance, check-in, welcome, checkout, thank-you.
    assert_eq!(bodies.len(), 6, "{bodies:#?}");
    assert!(bodies[0].contains("saldo") && bodies[2].contains("Check-in") && bodies[3].contains("Bienvenidos"));
    assert!(bodies[4].contains("check-out") && bodies[5].contains("reseña"), "{bodies:#?}");
    assert!(rows(&app, &r).await.iter().all(|m| m.status == S::Sent && m.channel == Some(domain::Channel::Sandbox)));
    // The thank-you asks for a rating; the guest's answer is kept with the reservation (#17 step 5).
    assert!(bodies[5].contains("del 1 al 5"), "{}", bodies[5]);
    let answer = json!({"session": "sandbox-juana", "text": "un 10! volvemos seguro"});
    assert_eq!(app.post_json("/sandbox/api/messages", &answer).await.status(), 202);
    at(&app, app.clock.now() + Duration::seconds(5)).await;
    let now = app.clock.now();
    let reviews = app.state.store.reviews_between(now - Duration::days(1), now).await.unwrap();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(
        (reviews[0].code.as_str(), reviews[0].stars, reviews[0].comment.as_str()),
        (r.code.as_str(), 5, "volvemos seguro")
    );
}

async fn cancelled_or_moved_stays_and_the_quiet_hours(engine: Engine) {
    let app = app_with(engine, vec![("POSADA_SANDBOX", "true".into())], None).await;
    app.state.store.upsert_contact(domain::Channel::Sandbox, "sb-a", "Ana", app.clock.now()).await.unwrap();
    // The owner wants the instructions at 23:30: they go at 09:00 (the quiet hours end), the
    // local day after, whatever the UTC date says.
    let late = vec![("stay.check_in.at".to_string(), Some("23:30".to_string()))];
    app.state.store.save_settings(&late, "test", app.clock.now()).await.unwrap();
    let r = booked(&app, domain::Channel::Sandbox, "sb-a", None).await;
    assert_eq!(row(&rows(&app, &r).await, K::CheckIn).due_at, utc("2026-12-20T12:00:00Z"));
    // Moved a week later: every due message follows the dates, with the same rows.
    let before = rows(&app, &r).await;
    let stay = domain::Stay::new("2026-12-27".parse().unwrap(), "2026-12-30".parse().unwrap()).unwrap();
    let moved = app.state.booking.change_stay(&r.code, 1, stay, "owner@posada.test", "").await.unwrap();
    let after = rows(&app, &moved).await;
    assert_eq!(row(&after, K::Balance).due_at, utc("2026-12-24T13:00:00Z"));
    assert_eq!(row(&after, K::Thanks).due_at, utc("2026-12-30T15:00:00Z"));
    assert_eq!(row(&after, K::Balance).id, row(&before, K::Balance).id);
    // The old times pass: nothing is sent (their jobs find the new time).
    at(&app, utc("2026-12-17T13:00:00Z")).await;
    assert_eq!(row(&rows(&app, &r).await, K::Balance).status, S::Due);
    // Cancelled: what was due is cancelled and never sent.
    let cancelled = app.state.booking.cancel(&r.code, "owner@posada.test", "no viene").await.unwrap();
    assert!(rows(&app, &cancelled).await.iter().all(|m| m.status == S::Cancelled), "{:?}", rows(&app, &r).await);
    at(&app, utc("2027-01-05T15:00:00Z")).await;
    assert!(rows(&app, &r).await.iter().all(|m| m.status == S::Cancelled && m.sent_at.is_none()));
    // Turned off: planned as cancelled; a stay confirmed too late for one records it skipped.
    let off = vec![("stay.welcome.on".to_string(), Some("off".to_string()))];
    app.state.store.save_settings(&off, "test", app.clock.now()).await.unwrap();
    app.state.store.upsert_contact(domain::Channel::Sandbox, "sb-b", "Beto", app.clock.now()).await.unwrap();
    let req = HoldRequest {
        unit_id: 2,
        check_in: app.today() + Duration::days(1),
        check_out: app.today() + Duration::days(3),
        guests: 2,
        channel: domain::Channel::Sandbox,
        guest_name: "Beto".into(),
        guest_phone: "sb-b".into(),
        guest_email: None,
        actor: "test".into(),
        request_key: None,
        origin: HoldOrigin::Conversation,
    };
    let (hold, _, _) = app.state.booking.place_hold(&req).await.unwrap();
    let soon = app.state.booking.confirm(&hold.code, "owner@posada.test", "", false).await.unwrap();
    let planned = rows(&app, &soon).await;
    assert_eq!(row(&planned, K::Balance).status, S::Skipped, "{planned:?}");
    assert!(!planned.iter().any(|m| m.kind == K::Welcome), "{planned:?}");
}

async fn crashes_around_the_send_lose_nothing_and_repeat_nothing(engine: Engine) {
    let app =
        app_with(engine, vec![("POSADA_SANDBOX", "true".into()), ("POSADA_JOB_LEASE_S", "30".into())], None).await;
    let contact =
        app.state.store.upsert_contact(domain::Channel::Sandbox, "sb-c", "Juana", app.clock.now()).await.unwrap();
    let r = booked(&app, domain::Channel::Sandbox, "sb-c", None).await;
    let outbound = |app: &TestApp| {
        let store = app.state.store.clone();
        async move {
            store.list_messages(contact.id, 0, 100).await.unwrap().into_iter().filter(|m| m.direction == "out").count()
        }
    };
    let lease = std::time::Duration::from_secs(30);
    // 1. A worker dies right after claiming the balance job (before the send's commit): the
    // lease runs out and another worker sends it, once.
    app.clock.advance(utc("2026-12-17T13:00:01Z") - app.clock.now());
    let claimed = app.state.store.claim_jobs("dead-1", app.clock.now(), lease, 100).await.unwrap();
    assert!(claimed.iter().any(|j| j.kind == "stay_message"), "{claimed:?}");
    assert_eq!(outbound(&app).await, 0);
    at(&app, app.clock.now() + Duration::seconds(31)).await;
    assert_eq!(outbound(&app).await, 1);
    assert_eq!(row(&rows(&app, &r).await, K::Balance).status, S::Sent);
    // 2. A worker dies right after the send's commit (before it records the job done): the job
    // runs again and finds the message sent.
    app.clock.advance(utc("2026-12-19T21:00:01Z") - app.clock.now());
    let claimed = app.state.store.claim_jobs("dead-2", app.clock.now(), lease, 100).await.unwrap();
    let job = claimed.iter().find(|j| j.kind == "stay_message").expect("the instructions' job").clone();
    let id = job.payload["id"].as_i64().unwrap();
    assert_eq!(app.state.chat.run_stay_message(id, false, &app.state.payments).await, server::jobs::Outcome::Done);
    at(&app, app.clock.now() + Duration::seconds(31)).await;
    assert_eq!(outbound(&app).await, 2, "the instructions once");
    // 3. Two workers on the same message at once: one sends.
    app.clock.advance(utc("2026-12-20T19:00:01Z") - app.clock.now());
    let welcome = row(&rows(&app, &r).await, K::Welcome).id;
    let (a, b) = tokio::join!(
        app.state.chat.run_stay_message(welcome, false, &app.state.payments),
        app.state.chat.run_stay_message(welcome, false, &app.state.payments)
    );
    assert_eq!((a, b), (server::jobs::Outcome::Done, server::jobs::Outcome::Done));
    at(&app, app.clock.now()).await;
    assert_eq!(outbound(&app).await, 3, "the welcome once");
    // 4. The owner's "send now" sends a sent message again, on purpose, once.
    app.state.store.stay_message_now(welcome, "stay_message", app.clock.now()).await.unwrap();
    at(&app, app.clock.now()).await;
    assert_eq!(outbound(&app).await, 4);
    at(&app, utc("2026-12-22T23:00:00Z")).await;
    at(&app, utc("2026-12-23T15:00:00Z")).await;
    at(&app, utc("2026-12-31T15:00:00Z")).await;
    assert_eq!(outbound(&app).await, 6, "checkout and thanks, once each");
}

async fn a_paid_deposit_plans_the_stay(engine: Engine) {
    // The sandbox checkout confirms through the payment provider's path (not the dashboard's).
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![("POSADA_PAYMENT_PROVIDER", "sandbox".into()), ("POSADA_SANDBOX", "true".into())],
            worker: true,
            ..Default::default()
        },
    )
    .await;
    let v: Value = app
        .pre_reserve(&app.hold_body(3, &app.in_days(30), &app.in_days(32), "+5491100000001"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    let mut link = Value::Null;
    for _ in 0..50 {
        let r: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
        if !r["payment_link"].is_null() {
            link = r["payment_link"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let pref = link.as_str().expect("a sandbox link").rsplit('/').next().unwrap().to_string();
    app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    let id = app.state.store.get_reservation(&code).await.unwrap().id;
    let mut planned = Vec::new();
    for _ in 0..50 {
        planned = app.state.store.stay_messages(id).await.unwrap();
        if planned.len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(planned.len(), 5, "{planned:?}");
    assert!(planned.iter().all(|m| m.status == S::Due), "{planned:?}");
}

fn form(page: &str, name: &str) -> String {
    // The textarea or input of `name`, as the page shows it.
    let at = page.find(&format!(r#"name="{name}""#)).unwrap_or_else(|| panic!("no {name}"));
    let rest = &page[at..];
    if let Some(v) = rest.find(" value=\"").filter(|v| *v < rest.find('>').unwrap_or(0)) {
        let v = &rest[v + 8..];
        return v[..v.find('"').unwrap()].to_string();
    }
    let start = rest.find('>').unwrap() + 1;
    rest[start..start + rest[start..].find("</textarea>").unwrap()].to_string()
}

async fn the_owner_edits_the_texts_with_a_preview_and_sees_the_timeline(engine: Engine) {
    let app = app_with(engine, vec![("POSADA_SANDBOX", "true".into())], None).await;
    app.state.store.upsert_contact(domain::Channel::Sandbox, "sb-ui", "Juana", app.clock.now()).await.unwrap();
    let r = booked(&app, domain::Channel::Sandbox, "sb-ui", None).await;
    let ui = owner_ui(&app).await;
    let page = ui.page("/admin/mensajes").await;
    assert!(page.contains("Mensajes automáticos") && page.contains("Instrucciones de llegada"));
    // The preview uses the next confirmed stay: its cabin's key code is in it.
    assert!(page.contains(&r.code) && page.contains("4821"), "the preview");
    assert!(ui.page("/admin/alojamiento").await.contains(r#"href="/admin/mensajes""#));
    let mut fields: Vec<(String, String)> = Vec::new();
    for kind in K::ALL {
        for f in ["on", "days", "at", "text"] {
            let key = format!("stay.{}.{f}", kind.as_str());
            let v = if f == "on" { "on".to_string() } else { form(&page, &key) };
            fields.push((key, v.replace("&#39;", "'").replace("&quot;", "\"")));
        }
    }
    for key in ["stay.quiet_from", "stay.quiet_until", "review_url"] {
        fields.push((key.to_string(), form(&page, key)));
    }
    let set = |fields: &mut Vec<(String, String)>, key: &str, v: &str| {
        fields.iter_mut().find(|(k, _)| k == key).unwrap().1 = v.to_string();
    };
    // An unknown placeholder: a clear error naming the valid ones, nothing saved.
    set(&mut fields, "stay.welcome.text", "¡Hola {nombr}! Bienvenidos a {cabaña}.");
    let post = |fields: Vec<(String, String)>, action: &'static str| {
        let ui = &ui;
        async move {
            let mut f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            f.push(("accion", action));
            ui.post("/admin/mensajes", &f).await
        }
    };
    let refused = post(fields.clone(), "guardar").await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("No conozco el marcador {nombr}. Podés usar: {nombre}"), "the error");
    assert!(!app.state.store.settings().await.unwrap().contains_key("stay.welcome.text"), "nothing saved");
    // The preview shows the typed text without saving it.
    set(&mut fields, "stay.welcome.text", "¡Hola {nombre}! La clave del Wi-Fi: {wifi}.");
    let preview = post(fields.clone(), "vista").await;
    assert_eq!(preview.status(), 200);
    assert!(preview.text().await.unwrap().contains("¡Hola Juana! La clave del Wi-Fi: LagoWifi / clave lago2026."));
    assert!(!app.state.store.settings().await.unwrap().contains_key("stay.welcome.text"));
    // Saved (a bad hour first), and the welcome moves to 17:30 for the stay already planned.
    set(&mut fields, "stay.welcome.at", "25:99");
    assert_eq!(post(fields.clone(), "guardar").await.status(), 422);
    set(&mut fields, "stay.welcome.at", "17:30");
    let saved = post(fields.clone(), "guardar").await;
    assert_eq!(saved.status(), 303);
    let settings = app.state.store.settings().await.unwrap();
    assert_eq!(settings["stay.welcome.at"], "17:30");
    assert!(!settings.contains_key("stay.check_in.text"), "a default text is not stored");
    app.state.booking.schedule_stay_messages(&r).await.unwrap();
    assert_eq!(row(&rows(&app, &r).await, K::Welcome).due_at, utc("2026-12-20T20:30:00Z"));
    // Staff read it, cannot save it.
    let staff = staff_ui(&app).await;
    assert!(staff.page("/admin/mensajes").await.contains("Solo el dueño"));
    let mut f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    f.push(("accion", "guardar"));
    assert_eq!(staff.post("/admin/mensajes", &f).await.status(), 403);
    // The reservation's timeline: what is due, "Saltear" and "Enviar ahora".
    let detail = ui.page(&format!("/admin/reservas/{}", r.code)).await;
    assert!(detail.contains(r#"id="mensajes""#) && detail.contains("Recordatorio del saldo"));
    let balance = row(&rows(&app, &r).await, K::Balance);
    let skip = ui.post(&format!("/admin/reservas/{}/mensajes/{}/saltear", r.code, balance.id), &[]).await;
    assert_eq!(skip.status(), 303);
    assert_eq!(row(&rows(&app, &r).await, K::Balance).status, S::Skipped);
    let check_in = row(&rows(&app, &r).await, K::CheckIn);
    let now = ui.post(&format!("/admin/reservas/{}/mensajes/{}/enviar", r.code, check_in.id), &[]).await;
    assert_eq!(now.status(), 303);
    at(&app, app.clock.now()).await;
    let sent_now = row(&rows(&app, &r).await, K::CheckIn);
    assert_eq!(sent_now.status, S::Sent);
    let detail = ui.page(&format!("/admin/reservas/{}", r.code)).await;
    assert!(detail.contains(r#"data-status="sent""#) && detail.contains(r#"data-status="skipped""#));
    assert!(detail.contains("Mensaje automático salteado"), "audited");
    // Someone else's row, or a made-up one: not found.
    assert_eq!(ui.post(&format!("/admin/reservas/{}/mensajes/999999/enviar", r.code), &[]).await.status(), 404);
    // The cabin's check-in details.
    let cabin = ui.page("/admin/cabanas/1").await;
    assert!(cabin.contains(r#"id="llegada""#) && cabin.contains("4821"));
    let saved = ui
        .post(
            "/admin/cabanas/1/llegada",
            &[("key_code", "Llave en la maceta"), ("wifi", ""), ("directions", "Tranquera verde")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let settings = app.state.store.settings().await.unwrap();
    assert_eq!(settings["unit.1.key_code"], "Llave en la maceta");
    assert!(!settings.contains_key("unit.1.wifi"));
    assert_eq!(settings["unit.1.directions"], "Tranquera verde");
}

/// The real binary aborts (like a power cut) just before and just after the transaction that
/// marks a message sent and queues it; a healthy one takes over: each message reaches the guest's
/// outbox once and is sent.
async fn the_real_binary_aborted_around_the_send_sends_each_message_once(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let store = store::connect(&db.url, 2).await.unwrap();
    let now = Utc::now();
    server::demo::seed(store.as_ref(), now).await.unwrap();
    for (round, point) in ["before_stay_send_commit", "after_stay_send_commit"].into_iter().enumerate() {
        let address = format!("sb-crash-{round}");
        let contact = store.upsert_contact(domain::Channel::Sandbox, &address, "Juana", Utc::now()).await.unwrap();
        let from = chrono::Utc::now().date_naive() + Duration::days(40 + 10 * round as i64);
        let new = store::NewReservation {
            unit_id: 1,
            stay: domain::Stay::new(from, from + Duration::days(2)).unwrap(),
            guests: 2,
            status: domain::ReservationStatus::Confirmed,
            channel: domain::Channel::Sandbox,
            guest_name: "Juana".into(),
            guest_phone: address.clone(),
            guest_email: None,
            total: domain::Money::from_pesos(100_000),
            deposit: domain::Money::from_pesos(30_000),
            hold_expires_at: None,
            notes: String::new(),
            actor: "test".into(),
            request_key: None,
            client_address: None,
            jobs: Vec::new(),
        };
        let r = store.create_reservation(&new, store::HoldLimits::default(), Utc::now()).await.unwrap();
        // Planned weeks ahead, then the owner's "send now": due at once whatever the hour.
        let plan = vec![(K::CheckIn, store::StayPlan::At(Utc::now() + Duration::days(30)))];
        let rows = store.plan_stay_messages(r.id, &plan, "stay_message", Utc::now()).await.unwrap();
        store.stay_message_now(rows[0].id, "stay_message", Utc::now()).await.unwrap();
        let mut env = binary_env(&db);
        env.extend([("POSADA_SANDBOX", "true".to_string()), ("POSADA_JOB_LEASE_S", "1".to_string())]);
        let mut doomed_env = env.clone();
        doomed_env.push(("POSADA_FAULT", point.to_string()));
        // Not `Binary::start`: the worker may reach the fault point before the server listens.
        let log = std::env::temp_dir().join(format!("posada-stay-crash-{:016x}.log", rand::random::<u64>()));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_posada"));
        cmd.arg("serve").env_clear().stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        cmd.stderr(std::fs::File::create(&log).unwrap());
        for var in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(var) {
                cmd.env(var, v);
            }
        }
        cmd.envs(doomed_env.iter().map(|(k, v)| (*k, v.as_str())));
        let mut doomed = cmd.spawn().unwrap();
        let mut died = false;
        for _ in 0..400 {
            if doomed.try_wait().unwrap().is_some() {
                died = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if !died {
            let _ = doomed.kill();
            let _ = doomed.wait();
        }
        let logs = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(died && logs.contains(point), "the crash at {point}:\n{logs}");
        let healthy = Binary::start(&["serve"], &env);
        let mut settled = false;
        for _ in 0..200 {
            let out: Vec<store::Message> = store
                .list_messages(contact.id, 0, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.direction == "out")
                .collect();
            let row = store.get_stay_message(rows[0].id).await.unwrap();
            if row.status == S::Sent && out.iter().all(|m| m.status == domain::MessageStatus::Sent) && !out.is_empty() {
                assert_eq!(out.len(), 1, "{point}: once");
                assert_eq!(row.message_id, Some(out[0].id));
                settled = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(settled, "{point} did not settle:\n{}", healthy.logs());
        // Nothing more arrives later.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let out = store.list_messages(contact.id, 0, 100).await.unwrap();
        assert_eq!(out.iter().filter(|m| m.direction == "out").count(), 1, "{point}: still once");
        healthy.terminate();
    }
    store.close().await;
}
