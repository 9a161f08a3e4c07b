//! Cancellations with the owner's policy and refunds through the provider (#17 step 4), against
//! the sandbox's fake of Mercado Pago: a paid chat booking cancelled in the dashboard, the
//! refund computed by the policy band, approved by the owner (or automatically), made once
//! even when a first attempt reached Mercado Pago and its answer was lost, recorded on the
//! reservation, told to the guest; a refusal flags the reservation; our own refund notified
//! back is no alert.

use crate::both_engines;
use crate::conversation::{chat_hold, replies_after, say};
use crate::dashboard_chat::{guest_sees, sandbox_app};
use crate::helpers::*;
use crate::ui::*;
use crate::whatsapp::drain;
use domain::{AttentionFlag, Money, RefundStatus, ReservationStatus};
use serde_json::{Value, json};
use server::payments::provider::RefundRequest;

both_engines!(
    a_cancellation_in_the_fifty_percent_band_is_refunded_once_after_approval,
    automatic_refunds_need_no_click_and_our_refund_notified_back_is_no_alert,
    a_cancellation_without_money_back_or_for_credit_refunds_nothing,
    a_refund_mercado_pago_refuses_flags_the_reservation,
    a_guest_asks_the_policy_and_cancels_a_paid_booking_only_on_yes,
    the_admin_api_cancels_the_same_way_and_a_missing_refund_is_computed_on_the_page,
);

/// A sandbox app with Mercado Pago's fake and the owner's policy.
async fn app_with(engine: Engine, policy: &str, auto: bool) -> TestApp {
    let app = sandbox_app(engine, vec![("POSADA_PAYMENT_PROVIDER", "sandbox".into())]).await;
    let settings = vec![
        ("policy.refunds".to_string(), Some(policy.to_string())),
        ("policy.refunds.auto".to_string(), Some(if auto { "on" } else { "off" }.to_string())),
    ];
    app.state.store.save_settings(&settings, "test", app.clock.now()).await.unwrap();
    app
}

/// A chat booking (check-in in 20 days) paid through the sandbox checkout; returns its code and
/// the provider's payment id.
async fn paid_booking(app: &TestApp, session: &str) -> (String, String) {
    let code = chat_hold(app, session).await;
    drain(app).await;
    let r: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
    let link = r["payment_link"].as_str().expect("a payment link").to_string();
    let pref = link.rsplit('/').next().unwrap();
    let page = app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    assert!(page.status().is_success());
    drain(app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.status, ReservationStatus::Confirmed);
    let id = app.state.store.payments_for(r.id).await.unwrap()[0].provider_payment_id.clone();
    (code, id)
}

/// How many refunds the fake Mercado Pago made of a payment.
async fn refunds_made(app: &TestApp, payment_id: &str) -> usize {
    let p = app.state.payments.provider().unwrap().payment(payment_id).await.unwrap();
    p.raw["refunds"].as_array().map(Vec::len).unwrap_or(0)
}

/// `payment.updated` for a payment, signed as Mercado Pago signs it (what it sends after a refund).
async fn notify_updated(app: &TestApp, payment_id: &str, request_id: &str) {
    use secrecy::ExposeSecret;
    let ts = app.clock.now().timestamp_millis().to_string();
    let v1 = server::payments::mercadopago::sign(
        app.state.config.payments.webhook_secret.expose_secret(),
        &server::payments::mercadopago::manifest(Some(payment_id), Some(request_id), &ts),
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/mercadopago?data.id={payment_id}&type=payment")))
        .header("x-request-id", request_id)
        .header("x-signature", format!("ts={ts},v1={v1}"))
        .json(&json!({"action": "payment.updated", "type": "payment", "data": {"id": payment_id}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drain(app).await;
}

async fn cancel_in_dashboard(app: &TestApp, ui: &Ui<'_>, code: &str) {
    let r = ui.post(&format!("/admin/reservas/{code}/cancelar"), &[("reason", "el huésped no viaja")]).await;
    assert_eq!(r.status(), 303);
    drain(app).await;
}

async fn a_cancellation_in_the_fifty_percent_band_is_refunded_once_after_approval(engine: Engine) {
    let app = app_with(engine, "30 días 100 %, 15 días 50 %", false).await;
    let s = "refund-50";
    let (code, payment_id) = paid_booking(&app, s).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    let ui = owner_ui(&app).await;
    cancel_in_dashboard(&app, &ui, &code).await;
    // 20 days before check-in: the 50 % band of the deposit paid, waiting for the owner.
    let refund = app.state.store.refund_for(r.id).await.unwrap().expect("a proposed refund");
    assert_eq!((refund.status, refund.percent, refund.paid), (RefundStatus::Pending, 50, r.deposit));
    assert_eq!(refund.amount, r.deposit.percent(50));
    assert_eq!(refund.provider_payment_id, payment_id);
    assert_eq!(refunds_made(&app, &payment_id).await, 0, "nothing moves before the owner approves");
    let path = format!("/admin/reservas/{code}");
    let page = ui.page(&path).await;
    assert!(page.contains(r#"id="form-devolucion""#) && page.contains("a aprobar"), "{page}");
    // Staff sees it but cannot approve money going out.
    let staff = staff_ui(&app).await;
    assert!(!staff.page(&path).await.contains(r#"id="form-devolucion""#));
    assert_eq!(staff.post(&format!("{path}/devolucion"), &[("action", "aprobar")]).await.status(), 403);
    // More than paid is refused with a Spanish message.
    let too_much = format!("{}", r.deposit.0 / 100 + 1);
    let bad = ui.post(&format!("{path}/devolucion"), &[("action", "aprobar"), ("amount", &too_much)]).await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("Escribí un monto mayor que cero"));
    // A crash: a first attempt reached Mercado Pago with the record's key and its answer was
    // lost. The job after the approval asks again with the same key: still one refund.
    let provider = app.state.payments.provider().unwrap().clone();
    let ask = RefundRequest {
        payment_id: payment_id.clone(),
        amount: Some(refund.amount),
        idempotency_key: refund.idempotency_key(),
    };
    let lost = provider.refund(&ask).await.unwrap();
    assert_eq!(refunds_made(&app, &payment_id).await, 1);
    let before = guest_sees(&app, s).await.len();
    let ok = ui.post(&format!("{path}/devolucion"), &[("action", "aprobar"), ("amount", "")]).await;
    assert_eq!(location(&ok), format!("{path}?ok=devolucion_aprobada"));
    drain(&app).await;
    let done = app.state.store.refund_for(r.id).await.unwrap().unwrap();
    assert_eq!(done.status, RefundStatus::Done);
    assert_eq!(done.provider_refund_id.as_deref(), Some(lost.id.as_str()), "the same refund came back");
    assert_eq!(refunds_made(&app, &payment_id).await, 1, "never refunded twice");
    // The job again (a retry after a crash before it finished): nothing more.
    assert!(matches!(app.state.payments.run_refund(done.id).await, server::jobs::Outcome::Done));
    assert_eq!(refunds_made(&app, &payment_id).await, 1);
    // A second approval is refused: it is no longer pending.
    let again = ui.post(&format!("{path}/devolucion"), &[("action", "aprobar")]).await;
    assert_eq!(again.status(), 422);
    // The guest hears it in Spanish, on their chat, once.
    let told = replies_after(&guest_sees(&app, s).await, before);
    assert!(told.contains("Te devolvimos") && told.contains(&done.amount.to_ars()) && told.contains(&code), "{told}");
    assert_eq!(told.matches("Te devolvimos").count(), 1, "{told}");
    // The reservation shows seña, pagado, devuelto; the history says who did what.
    let page = ui.page(&path).await;
    let block = &page[page.find(r#"id="devolucion""#).expect("the refund block")..];
    assert!(block.contains("Seña") && block.contains("Pagado") && block.contains("Devuelto"), "{block}");
    assert!(block.contains(&format!(r#"<dd id="devuelto">{}</dd>"#, server::admin_ui::html::money(done.amount))));
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    for action in ["refund_proposed", "refund_approved", "refund_done"] {
        assert_eq!(audit.iter().filter(|a| a.action == action).count(), 1, "{action}");
    }
    // Mercado Pago's own payment.updated for the partial refund (the payment stays approved):
    // no "hay que devolverlo" for a cancellation whose refund we made.
    notify_updated(&app, &payment_id, "after-partial").await;
    assert!(!app.state.store.get_reservation(&code).await.unwrap().flags.contains(&AttentionFlag::NeedsRefund));
}

async fn automatic_refunds_need_no_click_and_our_refund_notified_back_is_no_alert(engine: Engine) {
    let app = app_with(engine, "15:100", true).await;
    let (code, payment_id) = paid_booking(&app, "refund-auto").await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    let ui = owner_ui(&app).await;
    cancel_in_dashboard(&app, &ui, &code).await;
    let refund = app.state.store.refund_for(r.id).await.unwrap().unwrap();
    assert_eq!((refund.status, refund.amount, refund.percent), (RefundStatus::Done, r.deposit, 100));
    assert_eq!(refunds_made(&app, &payment_id).await, 1);
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    assert!(!audit.iter().any(|a| a.action == "refund_approved"), "approved from the start, by the policy");
    // Mercado Pago tells us the payment is now refunded: it is ours, no alert, no flag.
    notify_updated(&app, &payment_id, "after-refund").await;
    let payments = app.state.store.payments_for(r.id).await.unwrap();
    assert_eq!(payments[0].status, "refunded", "the payment's new status is recorded");
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert!(!r.flags.contains(&AttentionFlag::NeedsRefund), "{:?}", r.flags);
    // Control: a payment refunded by someone else (the payer's bank, the MP panel) still is.
    let (other, other_payment) = paid_booking_on(&app, "refund-elsewhere", 40).await;
    let provider = app.state.payments.provider().unwrap().clone();
    let ask = RefundRequest { payment_id: other_payment.clone(), amount: None, idempotency_key: "panel-1".into() };
    provider.refund(&ask).await.unwrap();
    notify_updated(&app, &other_payment, "elsewhere").await;
    assert!(app.state.store.get_reservation(&other).await.unwrap().flags.contains(&AttentionFlag::NeedsRefund));
}

/// Like [`paid_booking`] with another stay (`days` from today, two nights, by the public API).
async fn paid_booking_on(app: &TestApp, phone_tail: &str, days: i64) -> (String, String) {
    let phone = format!("+54911{:08}", phone_tail.len() * 1_000_003 % 100_000_000);
    let v: Value = app
        .pre_reserve(&app.hold_body(1, &app.in_days(days), &app.in_days(days + 2), &phone))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    drain(app).await;
    let r: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
    let pref = r["payment_link"].as_str().expect("a payment link").rsplit('/').next().unwrap().to_string();
    app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    drain(app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.status, ReservationStatus::Confirmed);
    let id = app.state.store.payments_for(r.id).await.unwrap()[0].provider_payment_id.clone();
    (code, id)
}

async fn a_cancellation_without_money_back_or_for_credit_refunds_nothing(engine: Engine) {
    // 20 days before, a policy that only refunds from 30 days: nothing back, nothing asked.
    let app = app_with(engine, "30:100", false).await;
    let (code, payment_id) = paid_booking(&app, "refund-none").await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    let ui = owner_ui(&app).await;
    cancel_in_dashboard(&app, &ui, &code).await;
    let refund = app.state.store.refund_for(r.id).await.unwrap().unwrap();
    assert_eq!((refund.status, refund.amount), (RefundStatus::Declined, Money::ZERO));
    assert!(!ui.page(&format!("/admin/reservas/{code}")).await.contains(r#"id="form-devolucion""#));
    // Credit for another date: the deposit stays.
    let settings = vec![("policy.refunds".to_string(), Some("credito".to_string()))];
    app.state.store.save_settings(&settings, "test", app.clock.now()).await.unwrap();
    let (code2, payment2) = paid_booking_on(&app, "credit", 45).await;
    cancel_in_dashboard(&app, &ui, &code2).await;
    let r2 = app.state.store.get_reservation(&code2).await.unwrap();
    let refund = app.state.store.refund_for(r2.id).await.unwrap().unwrap();
    assert_eq!((refund.status, refund.amount), (RefundStatus::Declined, Money::ZERO));
    let audit = app.state.store.audit_for(r2.id).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "refund_proposed" && a.note.contains("crédito para otra fecha")));
    assert_eq!(refunds_made(&app, &payment_id).await + refunds_made(&app, &payment2).await, 0);
}

async fn a_refund_mercado_pago_refuses_flags_the_reservation(engine: Engine) {
    let app = app_with(engine, "15:100", false).await;
    let (code, payment_id) = paid_booking(&app, "refund-refused").await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    let ui = owner_ui(&app).await;
    cancel_in_dashboard(&app, &ui, &code).await;
    // Meanwhile the money went back from Mercado Pago's panel: nothing left to refund (400).
    let provider = app.state.payments.provider().unwrap().clone();
    let ask = RefundRequest { payment_id: payment_id.clone(), amount: None, idempotency_key: "panel".into() };
    provider.refund(&ask).await.unwrap();
    let path = format!("/admin/reservas/{code}");
    ui.post(&format!("{path}/devolucion"), &[("action", "aprobar")]).await;
    drain(&app).await;
    let refund = app.state.store.refund_for(r.id).await.unwrap().unwrap();
    assert_eq!(refund.status, RefundStatus::Failed);
    assert!(refund.error.contains("400"), "{}", refund.error);
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert!(r.flags.contains(&AttentionFlag::NeedsRefund));
    let page = ui.page(&path).await;
    assert!(page.contains("rechazada por el medio de pago"), "{page}");
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    assert!(audit.iter().any(|a| a.note.contains("Mercado Pago no aceptó la devolución")), "a clear Spanish note");
    assert_eq!(refunds_made(&app, &payment_id).await, 1, "only the panel's");
}

/// The guest side: "¿cuál es la política de cancelación?" is answered from the typed policy;
/// "tengo que cancelar" on a paid booking says what it gives back and asks; only a yes cancels,
/// and then the refund is proposed for the owner like an owner's cancellation.
async fn a_guest_asks_the_policy_and_cancels_a_paid_booking_only_on_yes(engine: Engine) {
    let app = app_with(engine, "30 días 100 %, 15 días 50 %", false).await;
    let s = "guest-cancel";
    let (code, _) = paid_booking(&app, s).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    let answer = say(&app, s, "¿cuál es la política de cancelación?").await;
    assert!(answer.contains("Si cancelás con 30 días o más de anticipación, te devolvemos toda la seña"), "{answer}");
    let ask = say(&app, s, "tengo que cancelar").await;
    assert!(ask.contains(&code) && ask.contains("¿La cancelo?"), "{ask}");
    assert!(ask.contains(&r.deposit.percent(50).to_ars()), "20 days before: half of the deposit: {ask}");
    let status = |app: &TestApp| {
        let (store, code) = (app.state.store.clone(), code.clone());
        async move { store.get_reservation(&code).await.unwrap().status }
    };
    assert_eq!(status(&app).await, ReservationStatus::Confirmed, "a question cancels nothing");
    let kept = say(&app, s, "no").await;
    assert!(kept.contains("la dejamos como está"), "{kept}");
    assert_eq!(status(&app).await, ReservationStatus::Confirmed);
    say(&app, s, "tengo que cancelar").await;
    let done = say(&app, s, "sí").await;
    assert!(done.contains("cancelé la reserva") && done.contains("si corresponde devolución"), "{done}");
    assert_eq!(status(&app).await, ReservationStatus::Cancelled);
    drain(&app).await;
    let refund = app.state.store.refund_for(r.id).await.unwrap().expect("the refund is proposed");
    assert_eq!((refund.status, refund.percent), (RefundStatus::Pending, 50));
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    let proposed = audit.iter().find(|a| a.action == "refund_proposed").unwrap();
    assert!(proposed.actor.starts_with("guest:"), "{}", proposed.actor);
}

/// The admin API's cancel proposes the refund like the dashboard; a cancellation whose refund
/// was never proposed (the process stopped in between) gets it from a button on the page.
async fn the_admin_api_cancels_the_same_way_and_a_missing_refund_is_computed_on_the_page(engine: Engine) {
    let app = app_with(engine, "15:100", false).await;
    let (code, _) = paid_booking(&app, "api-cancel").await;
    let token = app.owner_token().await;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/reservations/{code}/cancel")))
        .bearer_auth(&token)
        .json(&json!({"reason": "pedido por teléfono"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = app.state.store.get_reservation(&code).await.unwrap().id;
    let refund = app.state.store.refund_for(id).await.unwrap().expect("proposed by the API's cancel");
    assert_eq!((refund.status, refund.percent), (RefundStatus::Pending, 100));
    // A crash right after the cancellation: cancelled, paid, no refund.
    let (other, _) = paid_booking_on(&app, "recompute", 40).await;
    app.state.booking.cancel(&other, "owner@posada.test", "se cortó la luz").await.unwrap();
    let ui = owner_ui(&app).await;
    let path = format!("/admin/reservas/{other}");
    assert!(ui.page(&path).await.contains(r#"id="btn-calcular-devolucion""#));
    let ok = ui.post(&format!("{path}/devolucion"), &[("action", "calcular")]).await;
    assert_eq!(location(&ok), format!("{path}?ok=devolucion_calculada"));
    let other_id = app.state.store.get_reservation(&other).await.unwrap().id;
    let refund = app.state.store.refund_for(other_id).await.unwrap().expect("computed from the page");
    assert_eq!(refund.status, RefundStatus::Pending);
    assert!(!ui.page(&path).await.contains(r#"id="btn-calcular-devolucion""#));
}
