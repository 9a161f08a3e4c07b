//! The balance through Mercado Pago (#17 step 2), against the local fake of its API: a second
//! preference for what is pending, bound to the reservation and expiring before arrival, paid
//! on the verified webhook; partial payments flagged, duplicates without effect, deposit and
//! balance payments never mistaken for each other.

use crate::both_engines;
use crate::helpers::*;
use crate::payments::{MP_SECRET, guest_texts, hold_by_chat, mp_app, notify, payment};
use crate::ui::*;
use crate::whatsapp::{OWNER, drain, sent};
use domain::{AttentionFlag, BalanceMethod, Money, ReservationStatus};
use serde_json::{Value, json};

both_engines!(
    a_balance_link_is_reused_and_paid_once_through_the_verified_webhook,
    a_short_balance_payment_is_flagged_and_a_new_total_gets_a_new_link,
    deposit_and_balance_payments_are_never_mistaken_for_each_other,
    the_balance_link_expires_before_arrival_in_the_property_zone,
    the_owner_sends_the_balance_link_to_the_guests_chat_once,
    the_sandbox_checkout_pays_the_balance_and_the_page_shows_it,
);

fn pesos(m: Money) -> f64 {
    m.0 as f64 / 100.0
}

fn preferences(mp: &FakeUpstream) -> Vec<Value> {
    mp.requests()
        .into_iter()
        .filter(|r| r.path == "/checkout/preferences")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn balance_preference(mp: &FakeUpstream, id: &str) {
    mp.respond_at(
        "/checkout/preferences",
        Canned::json(201, json!({"id": id, "init_point": format!("https://mp.test/checkout?pref_id={id}")})),
    );
}

/// A guest's hold over WhatsApp, its deposit paid through Mercado Pago: confirmed.
async fn confirmed_by_chat(app: &TestApp, graph: &FakeUpstream, mp: &FakeUpstream) -> store::Reservation {
    let hold = hold_by_chat(app, graph).await;
    mp.respond_at("/v1/payments/555", payment(555, "approved", pesos(hold.deposit), &hold.code));
    assert_eq!(notify(app, "555", "req-deposit", MP_SECRET).await, 200);
    drain(app).await;
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(r.status, ReservationStatus::Confirmed);
    r
}

async fn a_balance_link_is_reused_and_paid_once_through_the_verified_webhook(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let r = confirmed_by_chat(&app, &graph, &mp).await;
    let balance = r.total - r.deposit;
    assert_eq!(r.money().pending, balance);
    balance_preference(&mp, "PREF-S1");
    let url = app.state.payments.balance_link(&r).await.unwrap().expect("a balance link");
    assert_eq!(url, "https://mp.test/checkout?pref_id=PREF-S1");
    let prefs = preferences(&mp);
    assert_eq!(prefs.len(), 2, "the deposit's and the balance's");
    let p = &prefs[1];
    assert_eq!(p["external_reference"], format!("{}-SALDO", r.code), "bound to the reservation, not its deposit");
    assert_eq!(p["items"][0]["unit_price"].as_f64().unwrap(), pesos(balance));
    assert!(p["items"][0]["title"].as_str().unwrap().starts_with("Saldo · "), "{p}");
    assert_eq!(p["expiration_date_to"], format!("{}T00:00:00.000-03:00", r.stay.check_in), "before arrival");
    assert_eq!(p["binary_mode"], true);
    // Asked again (a reminder, the owner): the same link, no new preference.
    assert_eq!(app.state.payments.balance_link(&r).await.unwrap(), Some(url.clone()));
    assert_eq!(preferences(&mp).len(), 2);
    // Paid: the payment is fetched, the balance recorded as paid by Mercado Pago.
    let reference = format!("{}-SALDO", r.code);
    mp.respond_at("/v1/payments/900", payment(900, "approved", pesos(balance), &reference));
    let before = sent(&graph).len();
    assert_eq!(notify(&app, "900", "req-b1", MP_SECRET).await, 200);
    drain(&app).await;
    let paid = app.state.store.get_reservation(&r.code).await.unwrap();
    assert_eq!(paid.balance_paid.map(|b| b.method), Some(BalanceMethod::MercadoPago));
    assert_eq!((paid.money().paid, paid.money().pending), (paid.total, Money::ZERO));
    assert!(paid.flags.is_empty(), "{:?}", paid.flags);
    let new: Vec<Value> = sent(&graph)[before..].to_vec();
    let to_guest: Vec<&str> =
        new.iter().filter(|m| m["to"] == crate::whatsapp::GUEST).filter_map(|m| m["text"]["body"].as_str()).collect();
    assert_eq!(to_guest.len(), 1, "{to_guest:?}");
    assert!(to_guest[0].contains("Recibimos el pago del saldo") && to_guest[0].contains(&r.code), "{to_guest:?}");
    assert!(new.iter().any(|m| m["to"] == OWNER && m.to_string().contains("Saldo pagado")), "the owner was told");
    // Several payment.updated, replays: nothing more.
    let before = sent(&graph).len();
    assert_eq!(notify(&app, "900", "req-b1", MP_SECRET).await, 200);
    assert_eq!(notify(&app, "900", "req-b2", MP_SECRET).await, 200);
    drain(&app).await;
    assert_eq!(sent(&graph).len(), before, "no second thanks");
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "balance_paid").count(), 1);
    let payments = app.state.store.payments_for(r.id).await.unwrap();
    let purposes: Vec<_> = payments.iter().map(|p| p.purpose).collect();
    assert_eq!(purposes, vec![store::PaymentPurpose::Deposit, store::PaymentPurpose::Balance]);
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().balance_received, balance);
    // The API says the same as the page: paid, nothing pending.
    let v: Value = app.get(&format!("/api/v1/reservations/{}", r.code)).await.json().await.unwrap();
    let m = &v["money"];
    assert_eq!(m["deposit"], paid.deposit.to_string());
    assert_eq!(m["balance"], balance.to_string());
    assert_eq!(m["paid"], paid.total.to_string());
    assert_eq!((m["pending"].as_str(), v["balance_amount"].as_str()), (Some("0.00"), Some("0.00")));
    // Nothing due: no link.
    assert_eq!(app.state.payments.balance_link(&paid).await.unwrap(), None);
}

async fn a_short_balance_payment_is_flagged_and_a_new_total_gets_a_new_link(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let r = confirmed_by_chat(&app, &graph, &mp).await;
    let balance = r.total - r.deposit;
    balance_preference(&mp, "PREF-S1");
    app.state.payments.balance_link(&r).await.unwrap().expect("a link");
    // A quarter of it arrives (a link for an older, smaller amount; a payment split by hand).
    let part = Money(balance.0 / 4);
    mp.respond_at("/v1/payments/901", payment(901, "approved", pesos(part), &format!("{}-SALDO", r.code)));
    notify(&app, "901", "req-p1", MP_SECRET).await;
    drain(&app).await;
    let after = app.state.store.get_reservation(&r.code).await.unwrap();
    assert!(after.flags.contains(&AttentionFlag::AmountMismatch), "flagged for the owner");
    assert_eq!((after.balance_received, after.balance_paid), (part, None));
    assert_eq!(after.money().pending, balance - part);
    assert!(after.notes.contains("Saldo pagado en parte"), "{}", after.notes);
    let texts = guest_texts(&graph);
    assert!(texts.contains("a cuenta del saldo"), "{texts}");
    assert!(sent(&graph).iter().any(|m| m["to"] == OWNER && m.to_string().contains("pagado en parte")));
    // The rest gets its own link: the first one is never handed out for another amount.
    balance_preference(&mp, "PREF-S2");
    let rest = app.state.payments.balance_link(&after).await.unwrap().unwrap();
    assert!(rest.ends_with("PREF-S2"), "{rest}");
    assert_eq!(preferences(&mp).last().unwrap()["items"][0]["unit_price"].as_f64().unwrap(), pesos(balance - part));
    // Dates changed for a larger total: the balance grows, and so does the link.
    let longer = domain::Stay::new(r.stay.check_in, r.stay.check_out + chrono::Duration::days(1)).unwrap();
    let extra = Money(2_000_000);
    let change = store::Change { actor: "owner@x".into(), note: "una noche más".into(), allow_expired: false };
    let changed = app
        .state
        .store
        .change_stay(&r.code, r.unit_id, longer, r.total + extra, r.deposit, &change, app.clock.now())
        .await
        .unwrap();
    assert_eq!(changed.money().pending, balance - part + extra);
    balance_preference(&mp, "PREF-S3");
    let bigger = app.state.payments.balance_link(&changed).await.unwrap().unwrap();
    assert!(bigger.ends_with("PREF-S3"), "{bigger}");
    assert_eq!(
        preferences(&mp).last().unwrap()["items"][0]["unit_price"].as_f64().unwrap(),
        pesos(balance - part + extra)
    );
    // Paying the older link now leaves the extra pending, flagged, not paid.
    mp.respond_at("/v1/payments/902", payment(902, "approved", pesos(balance - part), &format!("{}-SALDO", r.code)));
    notify(&app, "902", "req-p2", MP_SECRET).await;
    drain(&app).await;
    let now = app.state.store.get_reservation(&r.code).await.unwrap();
    assert_eq!((now.money().pending, now.balance_paid), (extra, None));
    // The owner collects the rest at the door: paid, whatever came before.
    let hand = store::Change { actor: "owner@x".into(), note: "efectivo".into(), allow_expired: false };
    let done = app.state.store.record_balance_paid(&r.code, BalanceMethod::Cash, &hand, app.clock.now()).await.unwrap();
    assert_eq!((done.money().paid, done.money().pending), (done.total, Money::ZERO));
}

async fn deposit_and_balance_payments_are_never_mistaken_for_each_other(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let hold = hold_by_chat(&app, &graph).await;
    // A balance reference paid with the deposit's amount never confirms the hold.
    let balance_ref = format!("{}-SALDO", hold.code);
    mp.respond_at("/v1/payments/800", payment(800, "approved", pesos(hold.deposit), &balance_ref));
    notify(&app, "800", "req-m1", MP_SECRET).await;
    drain(&app).await;
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(r.status, ReservationStatus::PreReserved, "a balance payment is not a deposit");
    assert!(r.flags.contains(&AttentionFlag::NeedsRefund), "money with nothing due: flagged");
    assert_eq!(r.balance_received, Money::ZERO);
    // The deposit's reference confirms.
    mp.respond_at("/v1/payments/801", payment(801, "approved", pesos(hold.deposit), &hold.code));
    notify(&app, "801", "req-m2", MP_SECRET).await;
    drain(&app).await;
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!(r.status, ReservationStatus::Confirmed);
    // A deposit reference paid with the balance's amount settles no balance.
    let balance = r.total - r.deposit;
    mp.respond_at("/v1/payments/802", payment(802, "approved", pesos(balance), &hold.code));
    notify(&app, "802", "req-m3", MP_SECRET).await;
    drain(&app).await;
    let r = app.state.store.get_reservation(&hold.code).await.unwrap();
    assert_eq!((r.balance_received, r.balance_paid, r.money().pending), (Money::ZERO, None, balance));
    let purposes: Vec<_> = app
        .state
        .store
        .payments_for(r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.provider_payment_id, p.purpose))
        .collect();
    assert_eq!(
        purposes,
        vec![
            ("800".to_string(), store::PaymentPurpose::Balance),
            ("801".to_string(), store::PaymentPurpose::Deposit),
            ("802".to_string(), store::PaymentPurpose::Deposit),
        ]
    );
}

/// 01:30 UTC is 22:30 of the day before in Argentina: a stay that starts on the UTC date has not
/// arrived yet there, and its link lasts until 00:00 local (03:00 UTC).
async fn the_balance_link_expires_before_arrival_in_the_property_zone(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    graph.respond_always(Canned::json(200, json!({"messages": [{"id": "wamid.out"}]})));
    let start = chrono::DateTime::parse_from_rfc3339("2027-03-10T01:30:00Z").unwrap().to_utc();
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![
                ("POSADA_PAYMENT_PROVIDER", "mercadopago".into()),
                ("POSADA_MERCADOPAGO_ACCESS_TOKEN", "APP_USR-test".into()),
                ("POSADA_MERCADOPAGO_WEBHOOK_SECRET", MP_SECRET.into()),
                ("POSADA_MERCADOPAGO_API_BASE", mp.address.clone()),
            ],
            now: Some(start),
            ..Default::default()
        },
    )
    .await;
    mp.respond_at(
        "/checkout/preferences",
        Canned::json(201, json!({"id": "PREF-D", "init_point": "https://mp.test/d"})),
    );
    let v: Value =
        app.pre_reserve(&app.hold_body(1, "2027-03-10", "2027-03-12", "+5491100000401")).await.json().await.unwrap();
    let code = v["code"].as_str().expect("a hold for tomorrow, local time").to_string();
    let by = store::Change { actor: "owner@x".into(), note: "transferencia".into(), allow_expired: false };
    let r = app.state.store.transition(&code, ReservationStatus::Confirmed, &by, app.clock.now()).await.unwrap();
    assert_eq!(app.state.payments.balance_link(&r).await.unwrap().as_deref(), Some("https://mp.test/d"));
    let p = preferences(&mp).into_iter().find(|p| p["external_reference"] == format!("{code}-SALDO")).unwrap();
    assert_eq!(p["expiration_date_to"], "2027-03-10T00:00:00.000-03:00");
    assert!(p["expiration_date_from"].as_str().unwrap().starts_with("2027-03-09T22:"), "{p}");
    // 00:30 in Argentina: arrival day, the balance is collected at the door.
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.state.payments.balance_link(&r).await.unwrap(), None);
    let ui = owner_ui(&app).await;
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(!page.contains("btn-link-saldo"), "no balance link on arrival day");
    let refused = ui.post(&format!("/admin/reservas/{code}/link-saldo"), &[]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("hasta el día anterior a la llegada"));
}

async fn the_owner_sends_the_balance_link_to_the_guests_chat_once(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let r = confirmed_by_chat(&app, &graph, &mp).await;
    balance_preference(&mp, "PREF-S1");
    let ui = owner_ui(&app).await;
    let page = ui.page(&format!("/admin/reservas/{}", r.code)).await;
    assert!(page.contains("Enviar link de saldo"), "{page}");
    for (label, value) in [("Seña pagada", r.deposit), ("Saldo", r.total - r.deposit), ("Pagado", r.deposit)] {
        assert!(page.contains(&format!("<dt>{label}</dt><dd>{}</dd>", value.to_ars_spaced())), "{label}: {page}");
    }
    let before = sent(&graph).len();
    let posted = ui.post(&format!("/admin/reservas/{}/link-saldo", r.code), &[]).await;
    assert_eq!(location(&posted), format!("/admin/reservas/{}?ok=link_saldo", r.code));
    assert_eq!(preferences(&mp).len(), 1, "not created inside the request");
    drain(&app).await;
    let new: Vec<String> = sent(&graph)[before..]
        .iter()
        .filter(|m| m["to"] == crate::whatsapp::GUEST)
        .filter_map(|m| m["text"]["body"].as_str().map(String::from))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].contains("pagar el saldo") && new[0].contains("PREF-S1") && new[0].contains(&r.code), "{new:?}");
    let page = ui.page(&format!("/admin/reservas/{}", r.code)).await;
    assert!(page.contains("https://mp.test/checkout?pref_id=PREF-S1") && page.contains("Link de saldo enviado"));
    // A second click resends the same link: no new preference.
    ui.post(&format!("/admin/reservas/{}/link-saldo", r.code), &[]).await;
    drain(&app).await;
    assert_eq!(preferences(&mp).len(), 2);
    assert!(guest_texts(&graph).matches("PREF-S1").count() == 2);
}

async fn the_sandbox_checkout_pays_the_balance_and_the_page_shows_it(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![("POSADA_SANDBOX", "true".into()), ("POSADA_PAYMENT_PROVIDER", "sandbox".into())],
            ..Default::default()
        },
    )
    .await;
    let v: Value = app
        .pre_reserve(&app.hold_body(1, &app.in_days(20), &app.in_days(22), "+5491100000402"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    drain(&app).await;
    let v: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
    let pref = v["payment_link"].as_str().expect("a deposit link").rsplit('/').next().unwrap().to_string();
    app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    drain(&app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.status, ReservationStatus::Confirmed);
    // Not from a chat: the owner creates the link and copies it.
    let ui = owner_ui(&app).await;
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(page.contains("Crear link de saldo"), "{page}");
    ui.post(&format!("/admin/reservas/{code}/link-saldo"), &[]).await;
    drain(&app).await;
    let link = app.state.store.balance_links(r.id).await.unwrap().into_iter().next().expect("a balance link");
    assert_eq!(link.amount, r.total - r.deposit);
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(page.contains(&link.url), "the link to copy");
    let checkout = app.client.get(&link.url).send().await.unwrap().text().await.unwrap();
    assert!(checkout.contains("Pagar saldo") && checkout.contains(&(r.total - r.deposit).to_ars()), "{checkout}");
    let paid = app.client.post(app.url(&format!("/sandbox/pay/{}/approve", link.preference_id))).send().await.unwrap();
    assert!(paid.status().is_success());
    drain(&app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.balance_paid.map(|b| b.method), Some(BalanceMethod::MercadoPago));
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(page.contains(&format!("<dt>Pagado</dt><dd>{}</dd>", r.total.to_ars_spaced())), "{page}");
    assert!(page.contains("<dt>Saldo a cobrar</dt><dd>cobrado, Mercado Pago ("), "{page}");
    assert!(!page.contains("btn-link-saldo") && !page.contains(r#"id="form-saldo""#), "nothing left to collect");
}
