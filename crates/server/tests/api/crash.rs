//! Crash tests: the real binary aborts at a fault point (like a power cut), restarts, and
//! every guest message is still answered exactly once.

use crate::helpers::*;
use crate::whatsapp::{APP_SECRET, GUEST, envelope, sent, text};
use serde_json::json;

const POINTS: [&str; 3] = ["after_inbox_insert", "before_turn_commit", "after_outbox_insert"];

fn env(db: &TestDatabase, graph: &FakeUpstream, fault: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".to_string()),
        ("POSADA_JWT_SECRET", JWT_SECRET.to_string()),
        ("POSADA_LOG", "info".to_string()),
        ("POSADA_JOB_LEASE_S", "1".to_string()),
        ("POSADA_WHATSAPP_VERIFY_TOKEN", "v".to_string()),
        ("POSADA_WHATSAPP_APP_SECRET", APP_SECRET.to_string()),
        ("POSADA_WHATSAPP_ACCESS_TOKEN", "graph-token".to_string()),
        ("POSADA_WHATSAPP_PHONE_NUMBER_ID", "1555".to_string()),
        ("POSADA_WHATSAPP_API_BASE", graph.address.clone()),
    ];
    if let Some(point) = fault {
        env.push(("POSADA_FAULT", point.to_string()));
    }
    env
}

async fn post(base: &str, body: &serde_json::Value) -> Option<u16> {
    let raw = serde_json::to_vec(body).unwrap();
    let sig = server::channels::whatsapp::sign(APP_SECRET, &raw);
    reqwest::Client::new()
        .post(format!("{base}/api/v1/webhooks/whatsapp"))
        .header("x-hub-signature-256", sig)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn crash_and_recover(engine: Engine, rounds: usize) {
    let db = TestDatabase::new(engine).await;
    let graph = FakeUpstream::start().await;
    graph.respond_always(Canned::json(200, json!({"messages": [{"id": "wamid.out"}]})));
    for round in 0..rounds {
        let point = POINTS[round % POINTS.len()];
        let message = envelope(vec![text(&format!("wamid.crash.{round}"), "hola")], "Juana");
        // 1. A process that dies at the fault point.
        let mut doomed = Binary::start(&["serve"], &env(&db, &graph, Some(point)));
        let status = post(&doomed.address, &message).await;
        let child = &mut doomed.child;
        wait_for(|| child.try_wait().unwrap().is_some(), &format!("the crash at {point}")).await;
        assert!(point != "after_inbox_insert" || status.is_none(), "the webhook never answered 200 before dying");
        // 2. A healthy process; Meta redelivers what it never got a 200 for.
        let healthy = Binary::start(&["serve"], &env(&db, &graph, None));
        if status != Some(200) {
            assert_eq!(post(&healthy.address, &message).await, Some(200));
        }
        let store = store::connect(&db.url, 2).await.unwrap();
        let expected_inbound = round + 1;
        let mut settled = false;
        for _ in 0..200 {
            let contact = store.find_contact(domain::Channel::Whatsapp, GUEST).await.ok();
            if let Some(c) = contact {
                let thread = store.list_messages(c.id, 0, 1000).await.unwrap();
                let inbound = thread.iter().filter(|m| m.direction == "in").count();
                let queued = thread.iter().filter(|m| m.status == domain::MessageStatus::Queued).count();
                if inbound == expected_inbound && queued == 0 {
                    settled = true;
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(settled, "round {round} ({point}) did not settle:\n{}", healthy.logs());
        let c = store.find_contact(domain::Channel::Whatsapp, GUEST).await.unwrap();
        let thread = store.list_messages(c.id, 0, 1000).await.unwrap();
        let inbound: Vec<_> = thread.iter().filter(|m| m.direction == "in").collect();
        let outbound: Vec<_> = thread.iter().filter(|m| m.direction == "out").collect();
        assert_eq!(inbound.len(), round + 1, "every message stored exactly once");
        assert!(outbound.len() > round, "every message answered");
        assert!(outbound.iter().all(|m| m.status == domain::MessageStatus::Sent), "{outbound:?}");
        assert_eq!(sent(&graph).len(), outbound.len(), "each reply reached WhatsApp exactly once");
        store.close().await;
        healthy.terminate();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_crashes_anywhere_lose_nothing_and_repeat_nothing_20_times() {
    crash_and_recover(Engine::Sqlite, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_crashes_anywhere_lose_nothing_and_repeat_nothing() {
    crash_and_recover(Engine::Postgres, 6).await;
}

/// Instagram Direct and Messenger: the same crash points through the Messenger Platform adapter;
/// Meta redelivers a batch it got no 200 for, with the same `mid`, and that is the dedup key.
const META_SECRET: &str = "meta-crash-secret";
const PSID: &str = "17841400000000077";

fn meta_env(db: &TestDatabase, graph: &FakeUpstream, fault: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".to_string()),
        ("POSADA_JWT_SECRET", JWT_SECRET.to_string()),
        ("POSADA_LOG", "info".to_string()),
        ("POSADA_JOB_LEASE_S", "1".to_string()),
        ("POSADA_INSTAGRAM_VERIFY_TOKEN", "v".to_string()),
        ("POSADA_INSTAGRAM_APP_SECRET", META_SECRET.to_string()),
        ("POSADA_INSTAGRAM_ACCESS_TOKEN", "page-token".to_string()),
        ("POSADA_INSTAGRAM_ACCOUNT_ID", "9001".to_string()),
        ("POSADA_INSTAGRAM_API_BASE", graph.address.clone()),
        ("POSADA_MESSENGER_VERIFY_TOKEN", "v".to_string()),
        ("POSADA_MESSENGER_APP_SECRET", META_SECRET.to_string()),
        ("POSADA_MESSENGER_ACCESS_TOKEN", "page-token".to_string()),
        ("POSADA_MESSENGER_PAGE_ID", "9002".to_string()),
        ("POSADA_MESSENGER_API_BASE", graph.address.clone()),
    ];
    if let Some(point) = fault {
        env.push(("POSADA_FAULT", point.to_string()));
    }
    env
}

async fn meta_post(base: &str, channel: domain::Channel, body: &serde_json::Value) -> Option<u16> {
    let raw = serde_json::to_vec(body).unwrap();
    reqwest::Client::new()
        .post(format!("{base}/api/v1/webhooks/{}", channel.as_str()))
        .header("x-hub-signature-256", server::channels::whatsapp::sign(META_SECRET, &raw))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn meta_crash_and_recover(engine: Engine, channel: domain::Channel, rounds: usize) {
    let (object, account) =
        if channel == domain::Channel::Instagram { ("instagram", "9001") } else { ("page", "9002") };
    let db = TestDatabase::new(engine).await;
    let graph = FakeUpstream::start().await;
    graph.respond_always(Canned::json(200, json!({"recipient_id": PSID, "message_id": "mid.out"})));
    let sends = |graph: &FakeUpstream| {
        graph.requests().into_iter().filter(|r| r.path == format!("/v21.0/{account}/messages")).count()
    };
    for round in 0..rounds {
        let point = POINTS[round % POINTS.len()];
        let message = json!({"object": object, "entry": [{"id": account, "time": 1, "messaging": [
            {"sender": {"id": PSID}, "recipient": {"id": account}, "timestamp": 1,
             "message": {"mid": format!("mid.crash.{round}"), "text": "hola"}}]}]});
        let mut doomed = Binary::start(&["serve"], &meta_env(&db, &graph, Some(point)));
        let status = meta_post(&doomed.address, channel, &message).await;
        let child = &mut doomed.child;
        wait_for(|| child.try_wait().unwrap().is_some(), &format!("the crash at {point}")).await;
        assert!(point != "after_inbox_insert" || status.is_none(), "the webhook never answered 200 before dying");
        let healthy = Binary::start(&["serve"], &meta_env(&db, &graph, None));
        // Meta redelivers what it got no 200 for, and sometimes what it did: the same mid twice.
        assert_eq!(meta_post(&healthy.address, channel, &message).await, Some(200));
        let store = store::connect(&db.url, 2).await.unwrap();
        let mut settled = false;
        for _ in 0..200 {
            if let Ok(c) = store.find_contact(channel, PSID).await {
                let thread = store.list_messages(c.id, 0, 1000).await.unwrap();
                let inbound = thread.iter().filter(|m| m.direction == "in").count();
                let queued = thread.iter().filter(|m| m.status == domain::MessageStatus::Queued).count();
                if inbound == round + 1 && queued == 0 {
                    settled = true;
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(settled, "{channel:?} round {round} ({point}) did not settle:\n{}", healthy.logs());
        let c = store.find_contact(channel, PSID).await.unwrap();
        let thread = store.list_messages(c.id, 0, 1000).await.unwrap();
        let inbound = thread.iter().filter(|m| m.direction == "in").count();
        let outbound: Vec<_> = thread.iter().filter(|m| m.direction == "out").collect();
        assert_eq!(inbound, round + 1, "every message stored exactly once");
        assert!(outbound.len() > round, "every message answered");
        assert!(outbound.iter().all(|m| m.status == domain::MessageStatus::Sent), "{outbound:?}");
        assert_eq!(sends(&graph), outbound.len(), "each reply reached the Send API exactly once");
        store.close().await;
        healthy.terminate();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_instagram_crashes_anywhere_lose_nothing_and_repeat_nothing() {
    meta_crash_and_recover(Engine::Sqlite, domain::Channel::Instagram, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_instagram_crashes_anywhere_lose_nothing_and_repeat_nothing() {
    meta_crash_and_recover(Engine::Postgres, domain::Channel::Instagram, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_messenger_crashes_anywhere_lose_nothing_and_repeat_nothing() {
    meta_crash_and_recover(Engine::Sqlite, domain::Channel::Messenger, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_messenger_crashes_anywhere_lose_nothing_and_repeat_nothing() {
    meta_crash_and_recover(Engine::Postgres, domain::Channel::Messenger, 3).await;
}

/// The balance (#17 step 2): the process dies around each send — after the provider created the
/// link, before and after the link went to the outbox, after a balance payment was recorded,
/// after the thanks was queued — and a healthy one finishes the work: the guest gets one link,
/// one thanks; the balance is counted once.
const BALANCE_POINTS: [&str; 5] = [
    "balance_link_after_create",
    "balance_link_before_send",
    "balance_link_after_send",
    "balance_payment_after_record",
    "balance_notice_after_send",
];
const MP_SECRET: &str = "mp-crash-secret";

fn balance_env(
    db: &TestDatabase,
    graph: &FakeUpstream,
    mp: &FakeUpstream,
    fault: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut env = env(db, graph, fault);
    env.extend([
        ("POSADA_OWNER_PHONE", crate::whatsapp::OWNER.to_string()),
        ("POSADA_WHATSAPP_TEMPLATE_STAY", "estadia".to_string()),
        ("POSADA_PAYMENT_PROVIDER", "mercadopago".to_string()),
        ("POSADA_MERCADOPAGO_ACCESS_TOKEN", "APP_USR-test".to_string()),
        ("POSADA_MERCADOPAGO_WEBHOOK_SECRET", MP_SECRET.to_string()),
        ("POSADA_MERCADOPAGO_API_BASE", mp.address.clone()),
    ]);
    env
}

async fn notify_payment(base: &str, id: &str, request_id: &str) -> Option<u16> {
    let ts = chrono::Utc::now().timestamp_millis().to_string();
    let manifest = server::payments::mercadopago::manifest(Some(id), Some(request_id), &ts);
    let v1 = server::payments::mercadopago::sign(MP_SECRET, &manifest);
    reqwest::Client::new()
        .post(format!("{base}/api/v1/webhooks/mercadopago?data.id={id}&type=payment"))
        .header("x-request-id", request_id)
        .header("x-signature", format!("ts={ts},v1={v1}"))
        .json(&json!({"action": "payment.updated", "type": "payment", "data": {"id": id}}))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Waits (real time) until `done` holds for the store, then a little more for anything extra.
async fn settle<F, Fut>(store: &std::sync::Arc<dyn store::Store>, done: F, what: &str, logs: impl Fn() -> String)
where
    F: Fn(std::sync::Arc<dyn store::Store>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // A minute: the whole suite runs beside it on a small machine.
    for _ in 0..600 {
        if done(store.clone()).await {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not settle:\n{}", logs());
}

async fn balance_crash_and_recover(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    graph.respond_always(Canned::json(200, json!({"messages": [{"id": "wamid.out"}]})));
    let store = store::connect(&db.url, 2).await.unwrap();
    let now = chrono::Utc::now();
    server::demo::seed(store.as_ref(), now).await.unwrap();
    let contact_id = store.upsert_contact(domain::Channel::Whatsapp, GUEST, "Juana", now).await.unwrap().id;
    let guest_texts = |graph: &FakeUpstream, needle: &str| {
        sent(graph)
            .iter()
            // Outside the 24-hour window the text goes as the stay template's parameter.
            .filter(|m| m["to"] == GUEST && m.to_string().contains(needle))
            .count()
    };
    for (round, point) in BALANCE_POINTS.iter().enumerate() {
        let check_in = (now + chrono::Duration::days(40 + 5 * round as i64)).date_naive();
        let booking = store::NewReservation {
            unit_id: 1,
            stay: domain::Stay::new(check_in, check_in + chrono::Duration::days(2)).unwrap(),
            guests: 2,
            status: domain::ReservationStatus::Confirmed,
            channel: domain::Channel::Whatsapp,
            guest_name: "Juana".into(),
            guest_phone: GUEST.into(),
            guest_email: None,
            total: domain::Money::from_pesos(100_000),
            deposit: domain::Money::from_pesos(30_000),
            hold_expires_at: None,
            notes: String::new(),
            actor: "owner@x".into(),
            request_key: None,
            client_address: None,
            jobs: Vec::new(),
        };
        let r = store.create_reservation(&booking, store::HoldLimits::default(), now).await.unwrap();
        let balance = r.total - r.deposit;
        let pref = format!("PREF-C{round}");
        mp.respond_at(
            "/checkout/preferences",
            Canned::json(201, json!({"id": pref, "init_point": format!("https://mp.test/{pref}")})),
        );
        let payment_id = format!("77{round}");
        mp.respond_at(
            &format!("/v1/payments/{payment_id}"),
            Canned::json(
                200,
                json!({"id": payment_id, "status": "approved", "status_detail": "accredited",
                "transaction_amount": balance.0 as f64 / 100.0, "currency_id": "ARS",
                "external_reference": format!("{}-SALDO", r.code)}),
            ),
        );
        // 1. The owner asks for the link; a process dies at the point (or lives, for the
        //    payment points, which the webhook below reaches).
        let mut doomed = Binary::start(&["serve"], &balance_env(&db, &graph, &mp, Some(point)));
        let job = server::payments::balance::link_job(&r.code, "owner@x", chrono::Utc::now());
        store.enqueue_job(&job, chrono::Utc::now()).await.unwrap();
        let link_point = point.starts_with("balance_link");
        if !link_point {
            // The link goes out; then the guest pays and Mercado Pago notifies.
            let (g, u) = (graph.clone(), pref.clone());
            settle(
                &store,
                move |_| {
                    let g = g.clone();
                    let u = u.clone();
                    async move { guest_texts(&g, &u) == 1 }
                },
                "the link",
                || doomed.logs(),
            )
            .await;
            notify_payment(&doomed.address, &payment_id, &format!("req-{round}")).await;
        }
        let child = &mut doomed.child;
        wait_for(|| child.try_wait().unwrap().is_some(), &format!("the crash at {point}")).await;
        // 2. A healthy process; Mercado Pago notifies again (it retries, and sends several).
        let healthy = Binary::start(&["serve"], &balance_env(&db, &graph, &mp, None));
        let (g, u) = (graph.clone(), pref.clone());
        settle(
            &store,
            move |_| {
                let g = g.clone();
                let u = u.clone();
                async move { guest_texts(&g, &u) >= 1 }
            },
            "the link",
            || healthy.logs(),
        )
        .await;
        assert_eq!(notify_payment(&healthy.address, &payment_id, &format!("req-{round}")).await, Some(200));
        assert_eq!(notify_payment(&healthy.address, &payment_id, &format!("req-{round}-b")).await, Some(200));
        let (code, g) = (r.code.clone(), graph.clone());
        settle(
            &store,
            move |s| {
                let (code, g) = (code.clone(), g.clone());
                async move {
                    let paid = s.get_reservation(&code).await.unwrap().balance_paid.is_some();
                    let thread = s.list_messages(contact_id, 0, 1000).await.unwrap();
                    let told = sent(&g).iter().any(|m| {
                        m["to"] == crate::whatsapp::OWNER && m.to_string().contains(&format!("reserva {code}"))
                    });
                    paid && told && thread.iter().all(|m| m.status != domain::MessageStatus::Queued)
                }
            },
            "the payment",
            || healthy.logs(),
        )
        .await;
        // Exactly once, whatever the point.
        assert_eq!(guest_texts(&graph, &pref), 1, "{point}: one link sent:\n{}", healthy.logs());
        assert_eq!(store.balance_links(r.id).await.unwrap().len(), 1, "{point}: one link stored");
        let thanks = format!("Recibimos el pago del saldo de tu reserva *{}*", r.code);
        assert_eq!(guest_texts(&graph, &thanks), 1, "{point}: one thanks:\n{}", healthy.logs());
        let owner = sent(&graph)
            .iter()
            .filter(|m| m["to"] == crate::whatsapp::OWNER && m.to_string().contains(&format!("reserva {}", r.code)))
            .count();
        assert_eq!(owner, 1, "{point}: one owner alert");
        let after = store.get_reservation(&r.code).await.unwrap();
        assert_eq!((after.balance_received, after.money().pending), (balance, domain::Money::ZERO), "{point}");
        let audit = store.audit_for(r.id).await.unwrap();
        assert_eq!(audit.iter().filter(|a| a.action == "balance_paid").count(), 1, "{point}");
        // Nothing left for the next round's doomed process: a notification still queued here
        // (the second one above) would otherwise trip its fault point before its own link (seen
        // in CI: the next round's process died at `balance_payment_after_record` on this one).
        settle(
            &store,
            |s| async move { s.job_stats(chrono::Utc::now()).await.map(|j| j.backlog == 0).unwrap_or(false) },
            "the queue",
            || healthy.logs(),
        )
        .await;
        healthy.terminate();
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_balance_crashes_around_every_send_lose_nothing_and_repeat_nothing() {
    balance_crash_and_recover(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_balance_crashes_around_every_send_lose_nothing_and_repeat_nothing() {
    balance_crash_and_recover(Engine::Postgres).await;
}

/// The deposit's confirmation (found while reading the payment path): the process dies right
/// after the payment confirmed the reservation and before anyone was told. The retried
/// notification finds the reservation confirmed — by this very payment — and tells the guest and
/// the owner then, once each, however often Mercado Pago notifies.
async fn deposit_crash_and_recover(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    graph.respond_always(Canned::json(200, json!({"messages": [{"id": "wamid.out"}]})));
    let store = store::connect(&db.url, 2).await.unwrap();
    let now = chrono::Utc::now();
    server::demo::seed(store.as_ref(), now).await.unwrap();
    store.upsert_contact(domain::Channel::Whatsapp, GUEST, "Juana", now).await.unwrap();
    let check_in = (now + chrono::Duration::days(60)).date_naive();
    let hold = store::NewReservation {
        unit_id: 1,
        stay: domain::Stay::new(check_in, check_in + chrono::Duration::days(2)).unwrap(),
        guests: 2,
        status: domain::ReservationStatus::PreReserved,
        channel: domain::Channel::Whatsapp,
        guest_name: "Juana".into(),
        guest_phone: GUEST.into(),
        guest_email: None,
        total: domain::Money::from_pesos(100_000),
        deposit: domain::Money::from_pesos(30_000),
        hold_expires_at: Some(now + chrono::Duration::hours(2)),
        notes: String::new(),
        actor: "test".into(),
        request_key: None,
        client_address: None,
        jobs: Vec::new(),
    };
    let r = store.create_reservation(&hold, store::HoldLimits::default(), now).await.unwrap();
    let payment_id = "8801";
    mp.respond_at(
        &format!("/v1/payments/{payment_id}"),
        Canned::json(
            200,
            json!({"id": payment_id, "status": "approved", "status_detail": "accredited",
            "transaction_amount": r.deposit.0 as f64 / 100.0, "currency_id": "ARS", "external_reference": r.code}),
        ),
    );
    let mut doomed = Binary::start(&["serve"], &balance_env(&db, &graph, &mp, Some("deposit_after_confirm")));
    notify_payment(&doomed.address, payment_id, "req-d1").await;
    let child = &mut doomed.child;
    wait_for(|| child.try_wait().unwrap().is_some(), "the crash at deposit_after_confirm").await;
    assert_eq!(store.get_reservation(&r.code).await.unwrap().status, domain::ReservationStatus::Confirmed);
    let to = |who: &str, needle: &str| {
        sent(&graph).iter().filter(|m| m["to"] == who && m.to_string().contains(needle)).count()
    };
    assert_eq!(to(GUEST, &r.code), 0, "nobody was told before the crash");
    let healthy = Binary::start(&["serve"], &balance_env(&db, &graph, &mp, None));
    for request in ["req-d1", "req-d2", "req-d3"] {
        assert_eq!(notify_payment(&healthy.address, payment_id, request).await, Some(200));
    }
    let (g, code) = (graph.clone(), r.code.clone());
    settle(
        &store,
        move |_| {
            let (g, code) = (g.clone(), code.clone());
            async move {
                let count =
                    |who: &str| sent(&g).iter().filter(|m| m["to"] == who && m.to_string().contains(&code)).count();
                count(GUEST) >= 1 && count(crate::whatsapp::OWNER) >= 1
            }
        },
        "the confirmation",
        || healthy.logs(),
    )
    .await;
    assert_eq!(to(GUEST, &r.code), 1, "the guest hears it once:\n{}", healthy.logs());
    assert_eq!(to(crate::whatsapp::OWNER, &format!("Seña recibida: {}", r.code)), 1, "one owner alert");
    healthy.terminate();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_crash_after_the_deposit_confirmed_still_tells_the_guest_once() {
    deposit_crash_and_recover(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_crash_after_the_deposit_confirmed_still_tells_the_guest_once() {
    deposit_crash_and_recover(Engine::Postgres).await;
}

/// A guest's move (#17 step 3) with the process dying right after the move committed and
/// before the turn did: the restarted process answers the "sí" again, the move finds itself
/// done (no second move, no second audit row) and the guest hears it once.
async fn a_move_then_a_crash_moves_once_and_says_it_once(engine: Engine) {
    use chrono::Duration;
    let db = TestDatabase::new(engine).await;
    let graph = FakeUpstream::start().await;
    graph.respond_always(Canned::json(200, json!({"messages": [{"id": "wamid.out"}]})));
    let store = store::connect(&db.url, 2).await.unwrap();
    let now = chrono::Utc::now();
    let today = now.with_timezone(&chrono_tz::America::Argentina::Buenos_Aires).date_naive();
    let arrayan = server::demo::demo_cabins().into_iter().find(|c| c.slug == "arrayan").unwrap();
    let unit = store.create_unit(&arrayan, "tok-arrayan", now).await.unwrap();
    let stay = domain::Stay::new(today + Duration::days(10), today + Duration::days(13)).unwrap();
    let booked = store
        .create_reservation(
            &store::NewReservation {
                unit_id: unit.id,
                stay,
                guests: 2,
                status: domain::ReservationStatus::Confirmed,
                channel: domain::Channel::Whatsapp,
                guest_name: "Juana".into(),
                guest_phone: GUEST.into(),
                guest_email: None,
                total: domain::Money::from_pesos(195_000),
                deposit: domain::Money::from_pesos(58_500),
                hold_expires_at: None,
                notes: String::new(),
                actor: "test".into(),
                request_key: None,
                client_address: None,
                jobs: Vec::new(),
            },
            store::HoldLimits::default(),
            now,
        )
        .await
        .unwrap();
    let settled = |n: usize| {
        let store = store.clone();
        async move {
            for _ in 0..200 {
                if let Ok(c) = store.find_contact(domain::Channel::Whatsapp, GUEST).await {
                    let thread = store.list_messages(c.id, 0, 1000).await.unwrap();
                    let inbound = thread.iter().filter(|m| m.direction == "in").count();
                    let queued = thread.iter().filter(|m| m.status == domain::MessageStatus::Queued).count();
                    if inbound == n && queued == 0 {
                        return thread;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("{n} messages did not settle");
        }
    };
    let healthy = Binary::start(&["serve"], &env(&db, &graph, None));
    let ask = envelope(vec![text("wamid.move.1", "¿podemos llegar un día antes?")], "Juana");
    assert_eq!(post(&healthy.address, &ask).await, Some(200));
    let thread = settled(1).await;
    assert!(thread.iter().any(|m| m.body.contains("¿La cambio?")), "{thread:?}");
    healthy.terminate();

    let yes = envelope(vec![text("wamid.move.2", "sí")], "Juana");
    let mut doomed = Binary::start(&["serve"], &env(&db, &graph, Some("after_move_commit")));
    let status = post(&doomed.address, &yes).await;
    let child = &mut doomed.child;
    wait_for(|| child.try_wait().unwrap().is_some(), "the crash after the move").await;
    let moved = store.get_reservation(&booked.code).await.unwrap();
    assert_eq!(moved.stay.check_in, stay.check_in - Duration::days(1), "the move had committed");

    let healthy = Binary::start(&["serve"], &env(&db, &graph, None));
    if status != Some(200) {
        assert_eq!(post(&healthy.address, &yes).await, Some(200));
    }
    let thread = settled(2).await;
    let told: Vec<_> = thread.iter().filter(|m| m.body.contains("Cambié tu reserva")).collect();
    assert_eq!(told.len(), 1, "said once: {thread:?}");
    let audit = store.audit_for(booked.id).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "moved").count(), 1, "moved once: {audit:?}");
    assert_eq!(store.get_reservation(&booked.code).await.unwrap().stay, moved.stay);
    store.close().await;
    healthy.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_move_then_a_crash_moves_once_and_says_it_once() {
    a_move_then_a_crash_moves_once_and_says_it_once(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_move_then_a_crash_moves_once_and_says_it_once() {
    a_move_then_a_crash_moves_once_and_says_it_once(Engine::Postgres).await;
}
