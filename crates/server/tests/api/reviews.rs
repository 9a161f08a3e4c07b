//! Reviews (issue 17, step 5): after checkout the guest answers the thank-you with a rating in
//! the chat; it is kept once with the reservation, a low one reaches the owner, and Estadísticas
//! shows them.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use crate::whatsapp::drain;
use domain::{Money, ReservationStatus, Stay};
use serde_json::{Value, json};

both_engines!(a_guest_rates_the_stay_in_the_chat_and_the_owner_sees_it);

/// The guest writes; what the bot answered to it (the replies after the guest's message; the
/// stay messages — the thank-you — may come in the same run of the queue).
async fn said(app: &TestApp, session: &str, text: &str) -> String {
    let r = app.post_json("/sandbox/api/messages", &json!({"session": session, "name": "Ana", "text": text})).await;
    assert_eq!(r.status(), 202);
    drain(app).await;
    let v: Value = app.get(&format!("/sandbox/api/messages?session={session}")).await.json().await.unwrap();
    let all = v["messages"].as_array().unwrap();
    let mine = all.iter().rposition(|m| m["direction"] == "in").expect("the guest's message");
    all[mine..]
        .iter()
        .filter(|m| m["direction"] == "out")
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn stayed(app: &TestApp, unit: i64, session: &str, from: i64, to: i64) -> store::Reservation {
    let today = app.today();
    let stay = Stay::new(today + chrono::Duration::days(from), today + chrono::Duration::days(to)).unwrap();
    let new = store::NewReservation {
        unit_id: unit,
        stay,
        guests: 2,
        status: ReservationStatus::Confirmed,
        channel: domain::Channel::Sandbox,
        guest_name: "Ana Gómez".into(),
        guest_phone: session.into(),
        guest_email: None,
        total: Money::from_pesos(200_000),
        deposit: Money::from_pesos(60_000),
        hold_expires_at: None,
        notes: String::new(),
        actor: "test".into(),
        request_key: None,
        client_address: None,
        jobs: Vec::new(),
    };
    app.state.store.create_reservation(&new, store::HoldLimits::default(), app.clock.now()).await.unwrap()
}

async fn a_guest_rates_the_stay_in_the_chat_and_the_owner_sees_it(engine: Engine) {
    let env = vec![("POSADA_SANDBOX", "true".to_string())];
    let app = spawn_app_with(engine, Options { env, ..Default::default() }).await;
    let units = app.state.store.list_units(false).await.unwrap();
    // Ana left yesterday; Bruno's stay ends tomorrow (nothing to rate yet).
    let ana = stayed(&app, units[0].id, "rate-ana", -3, -1).await;
    stayed(&app, units[1].id, "rate-bruno", -1, 1).await;
    let reply = said(&app, "rate-ana", "5, todo hermoso!").await;
    assert!(reply.contains("Muchas gracias por tu calificación"), "{reply}");
    let reply = said(&app, "rate-ana", "un 2").await;
    assert!(reply.contains("Ya tenemos anotada"), "the first answer counts: {reply}");
    let reply = said(&app, "rate-bruno", "4").await;
    assert!(!reply.contains("calificación"), "a stay not over is not rated: {reply}");
    let now = app.clock.now();
    let reviews = app
        .state
        .store
        .reviews_between(now - chrono::Duration::days(1), now + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(
        (reviews[0].code.as_str(), reviews[0].stars, reviews[0].comment.as_str()),
        (ana.code.as_str(), 5, "todo hermoso!")
    );
    let audit = app.state.store.audit_for(ana.id).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "reviewed" && a.actor == "guest:sandbox"), "{audit:?}");
    // A low rating reaches the owner (an alert job), with the guest's words.
    let carla = stayed(&app, units[2].id, "rate-carla", -2, 0).await;
    let reply = said(&app, "rate-carla", "⭐⭐ había mucho ruido").await;
    assert!(reply.contains("Le paso tu calificación al dueño"), "{reply}");
    let audit = app.state.store.audit_for(carla.id).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "reviewed" && a.note == "2/5: había mucho ruido"), "{audit:?}");
    // Estadísticas: the average, the stars and the latest comments.
    let ui = owner_ui(&app).await;
    let html = ui.page("/admin/estadisticas").await;
    let section = &html[html.find(r#"id="calificaciones""#).expect("a ratings section")..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains(r#"<strong id="promedio">3,5</strong> de 5 en promedio · 2 calificaciones"#), "{section}");
    assert!(section.contains("«todo hermoso!»") && section.contains("«había mucho ruido»"), "{section}");
    assert!(section.contains(&format!("/admin/reservas/{}", ana.code)), "{section}");
    // Metrics count each stay once, by stars.
    let text = app.metrics().await.text().await.unwrap();
    assert!(text.lines().any(|l| l.starts_with("reviews_total{") && l.contains(r#"stars="5""#)), "{text}");
}
