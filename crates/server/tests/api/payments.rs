//! Deposits end to end against a local fake Mercado Pago (preferences, payment lookup, refunds).

use crate::both_engines;
use crate::helpers::*;
use crate::whatsapp::{GUEST, date_words, drain, envelope, guest_reservations, post_signed, sent, text, wa_app};
use serde_json::{Value, json};

pub const MP_SECRET: &str = "mp-webhook-secret-123";

pub async fn mp_app(engine: Engine, graph: &FakeUpstream, mp: &FakeUpstream) -> TestApp {
    mp.respond_at(
        "/checkout/preferences",
        Canned::json(201, json!({"id": "PREF-1", "init_point": "https://mp.test/checkout?pref_id=PREF-1"})),
    );
    wa_app(
        engine,
        graph,
        vec![
            ("POSADA_PAYMENT_PROVIDER", "mercadopago".into()),
            ("POSADA_MERCADOPAGO_ACCESS_TOKEN", "APP_USR-test".into()),
            ("POSADA_MERCADOPAGO_WEBHOOK_SECRET", MP_SECRET.into()),
            ("POSADA_MERCADOPAGO_API_BASE", mp.address.clone()),
        ],
    )
    .await
}

pub fn payment(id: i64, status: &str, amount: f64, reference: &str) -> Canned {
    Canned::json(
        200,
        json!({"id": id, "status": status, "status_detail": "accredited", "transaction_amount": amount,
                             "currency_id": "ARS", "external_reference": reference}),
    )
}

/// A notification exactly as Mercado Pago signs it.
pub async fn notify(app: &TestApp, data_id: &str, request_id: &str, secret: &str) -> u16 {
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let v1 = server::payments::mercadopago::sign(
        secret,
        &server::payments::mercadopago::manifest(Some(data_id), Some(request_id), &ts),
    );
    app.client
        .post(app.url(&format!("/api/v1/webhooks/mercadopago?data.id={data_id}&type=payment")))
        .header("x-request-id", request_id)
        .header("x-signature", format!("ts={ts},v1={v1}"))
        .json(&json!({"action": "payment.updated", "type": "payment", "data": {"id": data_id}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A guest holds a cabin over WhatsApp; returns the hold.
pub async fn hold_by_chat(app: &TestApp, graph: &FakeUpstream) -> store::Reservation {
    let ask = format!("quiero reservar la cabaña grande del {} al {} para 4", date_words(30), date_words(33));
    post_signed(app, &envelope(vec![text("wamid.P1", &ask)], "Juana")).await;
    drain(app).await;
    // The offer names cabin, dates, total and deposit; the hold comes with the guest's yes.
    post_signed(app, &envelope(vec![text("wamid.P1b", "dale")], "Juana")).await;
    drain(app).await;
    let list = guest_reservations(app).await;
    assert_eq!(list.len(), 1, "{:?}", sent(graph));
    list.into_iter().next().unwrap()
}

pub fn guest_texts(graph: &FakeUpstream) -> String {
    sent(graph)
        .iter()
        .filter(|m| m["to"] == GUEST)
        .map(|m| m["text"]["body"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

both_engines!(
    the_whole_journey_confirms_on_a_verified_payment,
    forged_or_replayed_notifications_change_nothing,
    short_payments_are_flagged_and_rejections_noticed_once,
    late_payments_confirm_free_nights_and_flag_taken_ones,
    mercado_pago_down_delays_the_link_but_keeps_the_hold,
    the_sandbox_checkout_drives_the_same_path,
    the_sandbox_checkout_remembers_a_bounded_number_of_links,
    asked_how_to_pay_after_the_link_the_guest_gets_the_link,
    refunds_are_idempotent_by_key_partial_or_full_and_never_more_than_paid,
);

async fn the_whole_journey_confirms_on_a_verified_payment(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let hold = hold_by_chat(&app, &graph).await;
    // The preference: one per hold, the deposit, binary mode, no cash, expiring with the hold.
    let prefs: Vec<_> = mp.requests().into_iter().filter(|r| r.path == "/checkout/preferences").collect();
    assert_eq!(prefs.len(), 1);
    assert_eq!(prefs[0].headers["authorization"], "Bearer APP_USR-test");
    let p: Value = serde_json::from_slice(&prefs[0].body).unwrap();
    assert_eq!(p["external_reference"], hold.code.as_str());
    assert_eq!(p["items"][0]["unit_price"].as_f64().unwrap(), hold.deposit.0 as f64 / 100.0);
    assert_eq!(p["items"][0]["currency_id"], "ARS");
    assert_eq!(p["binary_mode"], true);
    assert_eq!(p["expires"], true);
    assert!(p["expiration_date_to"].as_str().unwrap().ends_with("-03:00"), "{p}");
    assert_eq!(p["payment_methods"]["excluded_payment_types"], json!([{"id": "ticket"}, {"id": "atm"}]));
    assert!(p["notification_url"].as_str().unwrap().ends_with("/api/v1/webhooks/mercadopago"));
    assert_eq!(p["auto_return"], "approved");
    assert!(guest_texts(&graph).contains("https://mp.test/checkout?pref_id=PREF-1"), "the guest got the link");
    let public: Value = app.get(&format!("/api/v1/reservations/{}", hold.code)).await.json().await.unwrap();
    assert_eq!(public["payment_link"], "https://mp.test/checkout?pref_id=PREF-1");
    // Paid: a signed notification; the payment is fetched again, the hold confirmed.
    mp.respond_at("/v1/payments/555", payment(555, "approved", hold.deposit.0 as f64 / 100.0, &hold.code));
    assert_eq!(notify(&app, "555", "req-1", MP_SECRET).await, 200);
    drain(&app).await;
    let lookups: Vec<_> = mp.requests().into_iter().filter(|r| r.path == "/v1/payments/555").collect();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].headers["authorization"], "Bearer APP_USR-test");
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(r.status, domain::ReservationStatus::Confirmed);
    let texts = guest_texts(&graph);
    assert!(texts.contains("está confirmada") && texts.contains(&hold.code) && texts.contains("saldo"), "{texts}");
    assert!(sent(&graph).iter().any(|m| m["to"] == crate::whatsapp::OWNER), "the owner was told");
    // The stay is in the cabin's export for the OTAs.
    let token = app.owner_token().await;
    let info: Value = app.admin_get("/api/v1/admin/accommodations/3/ical", &token).await.json().await.unwrap();
    let feed =
        app.get(info["export_url"].as_str().unwrap().trim_start_matches(&app.address)).await.text().await.unwrap();
    assert!(feed.contains(&format!("UID:{}@posada", hold.code)));
    // Several payment.updated for one payment, replays: nothing more happens.
    let before = sent(&graph).len();
    assert_eq!(notify(&app, "555", "req-1", MP_SECRET).await, 200);
    assert_eq!(notify(&app, "555", "req-2", MP_SECRET).await, 200);
    drain(&app).await;
    assert_eq!(sent(&graph).len(), before, "no second confirmation");
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "confirmed").count(), 1);
    assert_eq!(app.state.store.payments_for(r.id).await.unwrap().len(), 1);
}

async fn forged_or_replayed_notifications_change_nothing(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let hold = hold_by_chat(&app, &graph).await;
    mp.respond_at("/v1/payments/777", payment(777, "approved", 1e9, &hold.code));
    assert_eq!(notify(&app, "777", "req-x", "not-the-secret").await, 401);
    // A valid signature for another data.id does not cover this one.
    let ts = "1742505638";
    let v1 = server::payments::mercadopago::sign(
        MP_SECRET,
        &server::payments::mercadopago::manifest(Some("111"), Some("req-y"), ts),
    );
    let r = app
        .client
        .post(app.url("/api/v1/mercadopago/webhook?data.id=777&type=payment"))
        .header("x-request-id", "req-y")
        .header("x-signature", format!("ts={ts},v1={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.post(app.url("/api/v1/webhooks/mercadopago?data.id=777")).send().await.unwrap();
    assert_eq!(r.status(), 401, "no signature at all");
    drain(&app).await;
    assert!(mp.requests().iter().all(|r| r.path != "/v1/payments/777"), "nothing was fetched");
    assert_eq!(
        app.state.store.get_reservation(&hold.code).await.unwrap().status,
        domain::ReservationStatus::PreReserved
    );
}

async fn short_payments_are_flagged_and_rejections_noticed_once(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let hold = hold_by_chat(&app, &graph).await;
    // Rejected twice (two cards): one notice, with the same link, never "confirmada".
    mp.respond_at("/v1/payments/1", payment(1, "rejected", 10.0, &hold.code));
    mp.respond_at("/v1/payments/2", payment(2, "rejected", 10.0, &hold.code));
    let before = guest_texts(&graph);
    notify(&app, "1", "r-1", MP_SECRET).await;
    notify(&app, "2", "r-2", MP_SECRET).await;
    drain(&app).await;
    let after = guest_texts(&graph);
    let new = &after[before.len()..];
    assert_eq!(new.matches("no se aprobó").count(), 1, "{new}");
    assert!(new.contains("PREF-1") && !new.contains("confirmada"), "{new}");
    // Approved but short: stored, reservation untouched, flagged, owner told.
    mp.respond_at("/v1/payments/3", payment(3, "approved", 1.0, &hold.code));
    notify(&app, "3", "r-3", MP_SECRET).await;
    drain(&app).await;
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(r.status, domain::ReservationStatus::PreReserved);
    assert!(r.flags.contains(&domain::AttentionFlag::AmountMismatch));
    assert_eq!(app.state.store.payments_for(r.id).await.unwrap().len(), 3);
    // A payment for a reference we do not know is stored and reported.
    mp.respond_at("/v1/payments/4", payment(4, "approved", 100.0, "NOPE99"));
    notify(&app, "4", "r-4", MP_SECRET).await;
    drain(&app).await;
    let owner_msgs = sent(&graph).iter().filter(|m| m["to"] == crate::whatsapp::OWNER).count();
    assert!(owner_msgs >= 2, "owner alerted for both mismatches");
}

async fn late_payments_confirm_free_nights_and_flag_taken_ones(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let hold = hold_by_chat(&app, &graph).await;
    app.clock.advance(chrono::Duration::minutes(70));
    drain(&app).await;
    assert_eq!(app.state.store.get_reservation(&hold.code).await.unwrap().status, domain::ReservationStatus::Expired);
    // Paid late, nights still free: confirmed.
    mp.respond_at("/v1/payments/10", payment(10, "approved", hold.deposit.0 as f64 / 100.0, &hold.code));
    notify(&app, "10", "late-1", MP_SECRET).await;
    drain(&app).await;
    assert_eq!(app.state.store.get_reservation(&hold.code).await.unwrap().status, domain::ReservationStatus::Confirmed);
    // A second guest's hold lapses and someone else takes the nights; their late payment is refunded.
    let body = app.hold_body(1, &app.in_days(50), &app.in_days(52), "+5491100000077");
    let second: Value = app.pre_reserve(&body).await.json().await.unwrap();
    let code = second["code"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::minutes(70));
    app.run_jobs().await;
    let third = app.pre_reserve(&app.hold_body(1, &app.in_days(50), &app.in_days(52), "+5491100000078")).await;
    assert_eq!(third.status(), 201);
    let deposit = app.state.store.get_reservation(&code).await.unwrap().deposit;
    mp.respond_at("/v1/payments/11", payment(11, "approved", deposit.0 as f64 / 100.0, &code));
    notify(&app, "11", "late-2", MP_SECRET).await;
    drain(&app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.status, domain::ReservationStatus::Expired, "never confirmed over someone else's nights");
    assert!(r.flags.contains(&domain::AttentionFlag::NeedsRefund));
    assert_eq!(app.state.store.payments_for(r.id).await.unwrap()[0].status, "approved", "the payment is recorded");
    // A refund later only flags, never cancels.
    mp.respond_at("/v1/payments/10", payment(10, "refunded", hold.deposit.0 as f64 / 100.0, &hold.code));
    notify(&app, "10", "late-3", MP_SECRET).await;
    drain(&app).await;
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(r.status, domain::ReservationStatus::Confirmed);
    assert!(r.flags.contains(&domain::AttentionFlag::NeedsRefund));
}

/// Found by chaos/outage.py (#13): once the link was sent, "cómo pago?" (and the reminder) read
/// the hold from the database, which never carried its link, and promised it "en un momento" —
/// a link that was not coming again.
async fn asked_how_to_pay_after_the_link_the_guest_gets_the_link(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let hold = hold_by_chat(&app, &graph).await;
    let link = "https://mp.test/checkout?pref_id=PREF-1";
    assert!(guest_texts(&graph).contains(link), "the link went out with the hold");
    let before = sent(&graph).len();
    post_signed(&app, &envelope(vec![text("wamid.P1c", "cómo pago?")], "Juana")).await;
    drain(&app).await;
    let answer: Vec<String> =
        sent(&graph)[before..].iter().map(|m| m["text"]["body"].as_str().unwrap_or("").to_string()).collect();
    let answer = answer.join("\n");
    assert!(answer.contains(link) && answer.contains(&hold.code), "the link again, not a promise: {answer}");
    assert!(!answer.contains("En un momento"), "{answer}");
    // The reminder 15 minutes before the end carries it too.
    let before = sent(&graph).len();
    app.clock.advance(chrono::Duration::minutes(46));
    drain(&app).await;
    let reminder: Vec<String> =
        sent(&graph)[before..].iter().map(|m| m["text"]["body"].as_str().unwrap_or("").to_string()).collect();
    let reminder = reminder.join("\n");
    assert!(reminder.contains(&hold.code) && reminder.contains(link), "{reminder}");
}

async fn mercado_pago_down_delays_the_link_but_keeps_the_hold(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = wa_app(
        engine,
        &graph,
        vec![
            ("POSADA_PAYMENT_PROVIDER", "mercadopago".into()),
            ("POSADA_MERCADOPAGO_ACCESS_TOKEN", "APP_USR-test".into()),
            ("POSADA_MERCADOPAGO_WEBHOOK_SECRET", MP_SECRET.into()),
            ("POSADA_MERCADOPAGO_API_BASE", mp.address.clone()),
        ],
    )
    .await;
    // Down for the first two attempts (fewer than the breaker's five), then back.
    mp.respond_always(Canned::json(201, json!({"id": "PREF-9", "init_point": "https://mp.test/p/9"})));
    mp.respond_next(Canned::json(503, json!({"message": "down"})));
    mp.respond_next(Canned::json(503, json!({"message": "down"})));
    let ask = format!("quiero reservar la cabaña grande del {} al {} para 4", date_words(30), date_words(33));
    post_signed(&app, &envelope(vec![text("wamid.D1", &ask)], "Juana")).await;
    // The offer (no hold, no payment job yet) goes out completely; then the guest's yes.
    drain(&app).await;
    post_signed(&app, &envelope(vec![text("wamid.D1b", "dale")], "Juana")).await;
    app.run_jobs().await;
    let list = guest_reservations(&app).await;
    let hold = &list[0];
    assert_eq!(hold.status, domain::ReservationStatus::PreReserved, "the hold stays");
    assert!(guest_texts(&graph).is_empty() || !guest_texts(&graph).contains("mp.test"));
    let worker = server::jobs::Worker::new(app.state.clone());
    worker.run_once().await.unwrap();
    assert!(guest_texts(&graph).contains("link"), "the guest was told the link is coming");
    assert!(!guest_texts(&graph).contains("mp.test"));
    // Mercado Pago comes back: the retried job creates the link and the guest gets it.
    drain(&app).await;
    assert!(guest_texts(&graph).contains("https://mp.test/p/9"), "{}", guest_texts(&graph));
    let calls = mp.requests().iter().filter(|r| r.path == "/checkout/preferences").count();
    assert!(calls >= 2);
}

async fn the_sandbox_checkout_drives_the_same_path(engine: Engine) {
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
    let link = link.as_str().expect("a sandbox link").to_string();
    let page = app.client.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Pagar") && page.contains("Rechazar"));
    let pref = link.rsplit('/').next().unwrap();
    let r = app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("aprobado"));
    let mut status = String::new();
    for _ in 0..50 {
        let r: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
        status = r["reservation_status"].as_str().unwrap().to_string();
        if status == "confirmed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "confirmed");
    // Without the sandbox provider, the checkout does not exist.
    let plain = spawn_app(engine).await;
    assert_eq!(plain.get(&format!("/sandbox/pay/{pref}")).await.status(), 404);
}

/// A sandbox hold paid through the sandbox checkout: (app, code, provider payment id).
async fn sandbox_paid_hold(engine: Engine) -> (TestApp, String, String) {
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
    let r = app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("aprobado"));
    let id = app.state.store.get_reservation(&code).await.unwrap().id;
    for _ in 0..50 {
        if let Some(p) = app.state.store.payments_for(id).await.unwrap().first() {
            return (app, code, p.provider_payment_id.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the sandbox payment was never recorded");
}

/// The provider's refund against the local fake of Mercado Pago: a partial refund, the same key
/// again (the same refund, nothing more returned), more than what is left (refused), then the
/// rest (the payment turns refunded), then nothing left to refund.
async fn refunds_are_idempotent_by_key_partial_or_full_and_never_more_than_paid(engine: Engine) {
    use server::channels::SendError;
    use server::payments::provider::{PaymentStatus, RefundRequest};
    let (app, code, payment_id) = sandbox_paid_hold(engine).await;
    let deposit = app.state.store.get_reservation(&code).await.unwrap().deposit;
    let provider = app.state.payments.provider().expect("the sandbox provider").clone();
    let paid = provider.payment(&payment_id).await.unwrap();
    assert_eq!((paid.status, paid.amount), (PaymentStatus::Approved, deposit));
    let ask = |amount: Option<domain::Money>, key: &str| RefundRequest {
        payment_id: payment_id.clone(),
        amount,
        idempotency_key: key.to_string(),
    };
    let part = domain::Money(deposit.0 / 4);
    let first = provider.refund(&ask(Some(part), "refund-1")).await.unwrap();
    assert_eq!((first.amount, first.payment_id.as_str()), (part, payment_id.as_str()));
    // A retry with the same key (a timeout, a second click) is the same refund.
    let again = provider.refund(&ask(Some(part), "refund-1")).await.unwrap();
    assert_eq!(again, first);
    let after = provider.payment(&payment_id).await.unwrap();
    assert_eq!(after.status, PaymentStatus::Approved, "a partial refund leaves the payment approved");
    assert_eq!(after.raw["refunds"].as_array().map(Vec::len), Some(1), "one refund, not two: {}", after.raw);
    // More than what is left: Mercado Pago's 400, a permanent error (never retried).
    let left = deposit - part;
    let too_much = provider.refund(&ask(Some(left + domain::Money(1)), "refund-2")).await;
    assert!(matches!(&too_much, Err(SendError::Permanent(e)) if e.contains("400")), "{too_much:?}");
    // No amount: the rest.
    let rest = provider.refund(&ask(None, "refund-3")).await.unwrap();
    assert_eq!(rest.amount, left);
    assert_ne!(rest.id, first.id);
    let refunded = provider.payment(&payment_id).await.unwrap();
    assert_eq!((refunded.status, refunded.status_name.as_str()), (PaymentStatus::MoneyBack, "refunded"));
    let nothing_left = provider.refund(&ask(None, "refund-4")).await;
    assert!(matches!(nothing_left, Err(SendError::Permanent(_))), "{nothing_left:?}");
    // The first key still answers its refund.
    assert_eq!(provider.refund(&ask(Some(part), "refund-1")).await.unwrap(), first);
}

/// The refund call on the wire, as Mercado Pago documents it: `POST /v1/payments/{id}/refunds`
/// with the bearer token and `X-Idempotency-Key`; `{"amount": …}` in pesos for a partial refund,
/// no body for a full one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refund_request_is_what_mercado_pago_documents() {
    use server::payments::provider::RefundRequest;
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(Engine::Sqlite, &graph, &mp).await;
    let provider = app.state.payments.provider().unwrap().clone();
    mp.respond_at(
        "/v1/payments/555/refunds",
        Canned::json(201, json!({"id": 9876543210_i64, "payment_id": 555, "amount": 2500.5, "status": "approved"})),
    );
    let partial = RefundRequest {
        payment_id: "555".into(),
        amount: Some(domain::Money(250_050)),
        idempotency_key: "refund-ABC-1".into(),
    };
    let refund = provider.refund(&partial).await.unwrap();
    assert_eq!((refund.id.as_str(), refund.payment_id.as_str()), ("9876543210", "555"));
    assert_eq!(refund.amount, domain::Money(250_050));
    let full = RefundRequest { amount: None, idempotency_key: "refund-ABC-2".into(), ..partial };
    provider.refund(&full).await.unwrap();
    let calls: Vec<_> = mp.requests().into_iter().filter(|r| r.path == "/v1/payments/555/refunds").collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].headers["authorization"], "Bearer APP_USR-test");
    assert_eq!(calls[0].headers["x-idempotency-key"], "refund-ABC-1");
    assert_eq!(serde_json::from_slice::<Value>(&calls[0].body).unwrap(), json!({"amount": 2500.5}));
    assert_eq!(calls[1].headers["x-idempotency-key"], "refund-ABC-2");
    assert!(calls[1].body.is_empty(), "a full refund has no body");
    // A key that cannot be a header is refused before any call.
    let bad = RefundRequest { idempotency_key: "two\nlines".into(), ..full };
    assert!(provider.refund(&bad).await.is_err());
    assert_eq!(mp.requests().iter().filter(|r| r.path == "/v1/payments/555/refunds").count(), 2);
}

/// The fake's routes are public in a sandbox install: a flood of preferences (each as big as a
/// body may be) must not grow the process without end. It keeps the newest few thousand, and
/// only what the checkout needs of each.
async fn the_sandbox_checkout_remembers_a_bounded_number_of_links(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![("POSADA_PAYMENT_PROVIDER", "sandbox".into()), ("POSADA_SANDBOX", "true".into())],
            ..Default::default()
        },
    )
    .await;
    let keep = server::http::sandbox_pay::SANDBOX_KEEP;
    let padding = "x".repeat(20_000);
    let mut first = None;
    let mut last = None;
    for i in 0..keep + 50 {
        let body = json!({"items": [{"title": format!("Seña {i}"), "unit_price": 1000.0, "currency_id": "ARS"}],
            "external_reference": format!("R{i}"), "metadata": {"padding": padding}});
        let r = app.client.post(app.url("/sandbox/mp/checkout/preferences")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        first.get_or_insert(id.clone());
        last = Some(id);
    }
    assert_eq!(app.state.sandbox_mp.sizes().0, keep);
    let page = |id: String| app.client.get(app.url(&format!("/sandbox/pay/{id}"))).send();
    assert_eq!(page(first.unwrap()).await.unwrap().status(), 404, "the oldest link is forgotten");
    let newest = page(last.unwrap()).await.unwrap();
    assert_eq!(newest.status(), 200);
    assert!(newest.text().await.unwrap().contains(&format!("Seña {}", keep + 49)));
}
