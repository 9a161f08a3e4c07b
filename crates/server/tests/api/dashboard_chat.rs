//! The dashboard's conversations and payments, on both engines: a person (staff too) answers a
//! handed-off chat through the outbox and gives it back to the bot; the thread shows what the
//! guest saw; the reservation page lists payments and resends the payment link; cancelling a
//! reservation that came from a chat tells the guest; the funnel; hand-offs reach open pages.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use crate::whatsapp::drain;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

both_engines!(
    a_person_answers_a_chat_and_gives_it_back_to_the_bot,
    a_thread_shows_what_the_guest_saw,
    payments_and_the_payment_link_on_the_reservation_page,
    cancelling_a_reservation_from_a_chat_tells_the_guest,
    the_funnel_counts_conversations_to_paid,
    hand_offs_and_guest_messages_reach_open_pages,
    every_chat_shows_its_channel_icon_with_its_name,
);

pub async fn sandbox_app(engine: Engine, extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = vec![("POSADA_SANDBOX", "true".to_string())];
    env.extend(extra);
    spawn_app_with(engine, Options { env, ..Default::default() }).await
}

/// A guest writes in the sandbox; returns the contact after the queue ran.
pub async fn guest_says(app: &TestApp, session: &str, name: &str, text: &str) -> store::Contact {
    let r = app.post_json("/sandbox/api/messages", &json!({"session": session, "name": name, "text": text})).await;
    assert_eq!(r.status(), 202);
    drain(app).await;
    app.state.store.find_contact(domain::Channel::Sandbox, session).await.unwrap()
}

pub async fn guest_sees(app: &TestApp, session: &str) -> Vec<Value> {
    let v: Value = app.get(&format!("/sandbox/api/messages?session={session}")).await.json().await.unwrap();
    v["messages"].as_array().unwrap().clone()
}

async fn a_person_answers_a_chat_and_gives_it_back_to_the_bot(engine: Engine) {
    let app = sandbox_app(engine, vec![]).await;
    let contact = guest_says(&app, "chat-1", "Juana <b>", "quiero hablar con una persona").await;
    assert!(contact.handed_off, "the bot handed the chat off");
    let path = format!("/admin/conversaciones/{}", contact.id);
    // Staff answers chats too.
    let staff = staff_ui(&app).await;
    let home = staff.page("/admin").await;
    let waiting = &home[home.find(r#"id="chats-handoff""#).unwrap()..];
    assert!(waiting.contains(&path) && waiting.contains("Juana &lt;b&gt;"), "Hoy lists the chat");
    let list = staff.page("/admin/conversaciones").await;
    let (first, rest) = list.split_at(list.find(r#"id="chats-recientes""#).unwrap());
    assert!(first.contains(&path) && !rest.contains(&path), "hand-offs first");
    // The channel's label comes from the enum (issue 16), the same word reservations use.
    assert!(first.contains(domain::Channel::Sandbox.label()), "{first}");
    let thread = staff.page(&path).await;
    assert!(thread.contains("quiero hablar con una persona") && thread.contains("Devolver al bot"), "{thread}");
    assert!(!thread.contains("<b>"), "names are escaped");
    // Validation next to the field, and CSRF.
    let r = staff.post(&format!("{path}/responder"), &[("text", "   ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains(r#"id="err-text""#));
    let long = "x".repeat(4097);
    let r = staff.post(&format!("{path}/responder"), &[("text", &long)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(staff.post_raw(&format!("{path}/responder"), &[("text", "hola")]).await.status(), 403);
    // The answer goes through the outbox: queued, then the guest sees it.
    let reply = "Hola Juana, soy Marta. ¿En qué te ayudo?";
    let r = staff.post(&format!("{path}/responder"), &[("text", reply)]).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("{path}?ok=respondido#responder")));
    let thread = staff.page(&path).await;
    assert!(thread.contains(reply) && thread.contains("en cola"), "{thread}");
    assert!(!guest_sees(&app, "chat-1").await.iter().any(|m| m["body"] == reply), "not before the outbox ran");
    drain(&app).await;
    assert!(guest_sees(&app, "chat-1").await.iter().any(|m| m["body"] == reply && m["direction"] == "out"));
    assert!(staff.page(&path).await.contains(r#"class="tick sent""#));
    let audit = app.state.store.audit_after(0, 100).await.unwrap();
    let row = audit.iter().find(|a| a.action == "chat_reply").unwrap();
    assert_eq!(row.actor, "staff@posada.test");
    assert!(row.note.contains(reply), "{}", row.note);
    // Back to the bot.
    let r = staff.post(&format!("{path}/devolver"), &[]).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, format!("{path}?ok=devuelto")));
    assert!(!app.state.store.get_contact(contact.id).await.unwrap().handed_off);
    let thread = staff.page(&format!("{path}?ok=devuelto")).await;
    assert!(thread.contains("el bot vuelve a atender") && thread.contains("Tomar el chat"));
    assert!(!staff.page("/admin").await.contains(&path), "no longer waiting");
    let audit = app.state.store.audit_after(0, 100).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "chat_released" && a.actor == "staff@posada.test"));
    // The bot answers again; the owner can take the chat over by hand.
    guest_says(&app, "chat-1", "", "hola").await;
    let owner = owner_ui(&app).await;
    assert_eq!(owner.post(&format!("{path}/tomar"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(app.state.store.get_contact(contact.id).await.unwrap().handed_off);
    let audit = app.state.store.audit_after(0, 100).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "chat_taken" && a.actor == OWNER_EMAIL));
    // Replying while the bot attends takes the chat over: the page says so before, and after.
    owner.post(&format!("{path}/devolver"), &[]).await;
    let thread = owner.page(&path).await;
    assert!(thread.contains(r#"id="responder-toma""#) && thread.contains("Al responder tomás el chat"), "{thread}");
    let r = owner.post(&format!("{path}/responder"), &[("text", "Hola, te escribo yo")]).await;
    assert_eq!(location(&r), format!("{path}?ok=respondido_tomado#responder"));
    assert!(app.state.store.get_contact(contact.id).await.unwrap().handed_off, "the bot stays quiet");
    let thread = owner.page(&format!("{path}?ok=respondido_tomado")).await;
    assert!(thread.contains("Tomaste el chat") && thread.contains("Devolver al bot"), "{thread}");
    assert!(!thread.contains(r#"id="responder-toma""#));
    let before = guest_sees(&app, "chat-1").await.len();
    guest_says(&app, "chat-1", "", "hola, hay lugar en marzo?").await;
    let after = guest_sees(&app, "chat-1").await;
    assert!(
        after[before..].iter().all(|m| m["direction"] == "in" || m["body"] == "Hola, te escribo yo"),
        "the bot did not answer a chat a person took: {:?}",
        &after[before..]
    );
    let audit = app.state.store.audit_after(0, 100).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "chat_taken" && a.note.contains("al responder")));
    // Unknown chats.
    for p in ["/admin/conversaciones/999999", "/admin/conversaciones/abc"] {
        assert_eq!(owner.get(p).await.status(), 404, "{p}");
    }
    assert_eq!(owner.post("/admin/conversaciones/999999/responder", &[("text", "x")]).await.status(), 404);
}

async fn a_thread_shows_what_the_guest_saw(engine: Engine) {
    let app = spawn_app(engine).await;
    let store = &app.state.store;
    let now = app.clock.now();
    let evil = r#"<script>alert(1)</script>"'><img src=x onerror=alert(2)>"#;
    let c = store.upsert_contact(domain::Channel::Whatsapp, "5492944000111", evil, now).await.unwrap();
    let turn = store::Turn {
        contact_id: c.id,
        state: json!({}),
        inbound: Some(store::NewMessage {
            kind: "voice".into(),
            body: format!("tienen lugar {evil}"),
            payload: json!({"transcript": "tienen lugar"}),
        }),
        outbound: vec![
            store::NewMessage {
                kind: "choices".into(),
                body: "Elegí\n1. Coihue".into(),
                payload: json!({"text": "Elegí una cabaña", "options": [{"id": "u1", "title": "Coihue <b>", "description": ""}, {"id": "u2", "title": "Arrayán", "description": ""}]}),
            },
            store::NewMessage {
                kind: "photo".into(),
                body: "Frente".into(),
                payload: json!({"url": "https://img.test/1.jpg", "caption": "Frente"}),
            },
            store::NewMessage { kind: "text".into(), body: evil.into(), payload: json!({"text": evil}) },
        ],
        send_job_kind: "send_message".into(),
        ..Default::default()
    };
    let ids = store.commit_turn(&turn, now).await.unwrap().unwrap();
    store.mark_message(ids[0], domain::MessageStatus::Read, Some("wamid.1"), None, now).await.unwrap();
    store.mark_message(ids[2], domain::MessageStatus::Failed, None, Some("gave up after 24 hours"), now).await.unwrap();
    let guest_button = store::Turn {
        contact_id: c.id,
        state: json!({}),
        inbound: Some(store::NewMessage { kind: "button".into(), body: "Arrayán".into(), payload: json!({}) }),
        send_job_kind: "send_message".into(),
        ..Default::default()
    };
    store.commit_turn(&guest_button, now).await.unwrap();
    let ui = owner_ui(&app).await;
    let html = ui.page(&format!("/admin/conversaciones/{}", c.id)).await;
    for part in [
        "🎤 nota de voz (transcripta)",
        "Elegí una cabaña",
        r#"class="choice" disabled title="">Coihue &lt;b&gt;</button>"#,
        r#"<img src="https://img.test/1.jpg" alt="Frente""#,
        r#"class="tick read""#,
        "No se pudo enviar: gave up after 24 hours",
        "Tocó el botón",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "Pasaron más de 24 horas",
    ] {
        assert!(html.contains(part), "{part}\n{html}");
    }
    for path in [format!("/admin/conversaciones/{}", c.id), "/admin/conversaciones".into(), "/admin".into()] {
        let html = ui.page(&path).await;
        assert!(!html.contains("<script>alert") && !html.contains("<img src=x"), "{path} is not escaped");
    }
}

async fn sandbox_hold(app: &TestApp, session: &str, unit: i64, from: i64, to: i64) -> String {
    app.state.store.upsert_contact(domain::Channel::Sandbox, session, "Ana Chat", app.clock.now()).await.unwrap();
    let req = server::booking::HoldRequest {
        unit_id: unit,
        check_in: app.in_days(from).parse().unwrap(),
        check_out: app.in_days(to).parse().unwrap(),
        guests: 2,
        channel: domain::Channel::Sandbox,
        guest_name: "Ana Chat".into(),
        guest_phone: session.into(),
        guest_email: None,
        actor: "guest:sandbox".into(),
        request_key: None,
        origin: server::booking::HoldOrigin::Conversation,
    };
    app.state.booking.place_hold(&req).await.unwrap().0.code
}

async fn payments_and_the_payment_link_on_the_reservation_page(engine: Engine) {
    let app = sandbox_app(engine, vec![("POSADA_PAYMENT_PROVIDER", "sandbox".into())]).await;
    let ui = owner_ui(&app).await;
    let code = sandbox_hold(&app, "pay-1", 2, 20, 23).await;
    let page = format!("/admin/reservas/{code}");
    drain(&app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    let link = app.state.store.payment_link(r.id).await.unwrap().expect("the link job made one");
    let html = ui.page(&page).await;
    assert!(html.contains(r#"id="pagos""#) && html.contains(&link.url) && html.contains("Reenviar link de pago"));
    assert!(html.contains("Todavía no hay pagos registrados."));
    let before = guest_sees(&app, "pay-1").await.len();
    let r2 = ui.post(&format!("{page}/link"), &[]).await;
    assert_eq!((r2.status(), location(&r2)), (StatusCode::SEE_OTHER, format!("{page}?ok=link")));
    drain(&app).await;
    let seen = guest_sees(&app, "pay-1").await;
    assert_eq!(seen.len(), before + 1);
    let last = seen.last().unwrap()["body"].as_str().unwrap().to_string();
    assert!(last.contains(&link.url) && last.contains(&code), "{last}");
    let audit = app.state.store.audit_for(r.id).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "payment_link_resent" && a.actor == OWNER_EMAIL));
    assert!(ui.page(&page).await.contains("Link de pago reenviado"), "in the timeline");
    // A payment as the provider reported it.
    let record = store::PaymentRecord {
        purpose: store::PaymentPurpose::Deposit,
        provider: "mercadopago".into(),
        provider_payment_id: "PAY-777".into(),
        reservation_id: Some(r.id),
        status: "rejected".into(),
        status_detail: "cc_rejected_insufficient_amount".into(),
        amount: r.deposit,
        currency: "ARS".into(),
        external_reference: code.clone(),
        raw: json!({}),
    };
    app.state.store.record_payment(&record, None, app.clock.now()).await.unwrap();
    let html = ui.page(&page).await;
    for part in ["PAY-777", "Rechazado", "rechazado: fondos insuficientes", "Mercado Pago", "ARS"] {
        assert!(html.contains(part), "{part}");
    }
    assert!(!html.contains("cc_rejected"), "Mercado Pago's detail is said in words");
    // A hold placed elsewhere: no chat to send it to; an API hold with no link yet asks the job.
    let api = hold(&app, 1, 30, 33, "Sin Chat", "+5491100000009").await;
    let r3 = ui.post(&format!("/admin/reservas/{api}/link"), &[]).await;
    assert_eq!(location(&r3), format!("/admin/reservas/{api}?ok=link_creando"));
    drain(&app).await;
    let html = ui.page(&format!("/admin/reservas/{api}")).await;
    assert!(html.contains("copiá el link y mandáselo vos") && !html.contains("btn-link"), "{html}");
    let r4 = ui.post(&format!("/admin/reservas/{api}/link"), &[]).await;
    assert_eq!(r4.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r4.text().await.unwrap().contains(r#"id="err-link""#));
    // Not for a confirmed reservation, nor without a payment provider.
    app.state.booking.confirm(&api, OWNER_EMAIL, "efectivo", false).await.unwrap();
    assert_eq!(ui.post(&format!("/admin/reservas/{api}/link"), &[]).await.status(), 422);
    let plain = spawn_app(engine).await;
    let plain_ui = owner_ui(&plain).await;
    let other = hold(&plain, 1, 30, 33, "Sin Pagos", "+5491100000008").await;
    let r5 = plain_ui.post(&format!("/admin/reservas/{other}/link"), &[]).await;
    assert!(r5.text().await.unwrap().contains("Los pagos en línea no están configurados."));
}

async fn cancelling_a_reservation_from_a_chat_tells_the_guest(engine: Engine) {
    let app = sandbox_app(engine, vec![]).await;
    let ui = owner_ui(&app).await;
    let code = sandbox_hold(&app, "cancel-1", 1, 10, 12).await;
    let page = format!("/admin/reservas/{code}");
    assert!(ui.page(&page).await.contains("le avisamos al huésped por ese mismo chat"));
    let r = ui.post(&format!("{page}/cancelar"), &[("reason", "pidió cancelar por teléfono")]).await;
    assert_eq!(location(&r), format!("{page}?ok=cancelada_avisada"));
    drain(&app).await;
    let seen = guest_sees(&app, "cancel-1").await;
    let last = seen.last().unwrap()["body"].as_str().unwrap().to_string();
    assert!(last.contains(&code) && last.contains("cancelarla"), "{last}");
    assert!(!last.contains("teléfono"), "the internal reason stays in the history");
    // The chat goes to a person: it waits in Conversaciones, the bot stays silent.
    let contact = app.state.store.find_contact(domain::Channel::Sandbox, "cancel-1").await.unwrap();
    assert!(contact.handed_off, "the chat is handed off");
    let list = ui.page("/admin/conversaciones").await;
    let waiting = &list[..list.find(r#"id="chats-recientes""#).unwrap()];
    assert!(waiting.contains(&format!("/admin/conversaciones/{}", contact.id)), "shown as waiting");
    let res = app.state.store.get_reservation(&code).await.unwrap();
    let audit = app.state.store.audit_for(res.id).await.unwrap();
    assert_eq!(
        audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
        vec!["created", "cancelled", "guest_notified"]
    );
    // A reservation from the API: no chat, no notice.
    let api = hold(&app, 2, 10, 12, "Api", "+5491100000001").await;
    let r = ui.post(&format!("/admin/reservas/{api}/cancelar"), &[("reason", "x")]).await;
    assert_eq!(location(&r), format!("/admin/reservas/{api}?ok=cancelada"));
}

async fn the_funnel_counts_conversations_to_paid(engine: Engine) {
    let app = sandbox_app(engine, vec![]).await;
    let ui = owner_ui(&app).await;
    assert!(ui.page("/admin/estadisticas").await.contains("Sin conversaciones en este período."));
    guest_says(&app, "funnel-1", "Ana", "hola").await;
    guest_says(&app, "funnel-2", "Beto", "hola").await;
    let paid = sandbox_hold(&app, "funnel-1", 1, 40, 42).await;
    sandbox_hold(&app, "funnel-2", 2, 40, 42).await;
    app.state.booking.confirm(&paid, OWNER_EMAIL, "transferencia", false).await.unwrap();
    let html = ui.page("/admin/estadisticas").await;
    let funnel = &html[html.find(r#"id="embudo""#).unwrap()..];
    assert!(funnel.contains("chart-embudo") && funnel.contains("Conversaciones"), "{funnel}");
    assert!(funnel.contains(">2<") && funnel.contains("1 (50%)"), "{funnel}");
}

async fn hand_offs_and_guest_messages_reach_open_pages(engine: Engine) {
    let app = sandbox_app(engine, vec![]).await;
    let ui = owner_ui(&app).await;
    let mut sse = ui.get("/admin/events").await;
    assert_eq!(sse.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Give the poller its first snapshot before the guest writes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    guest_says(&app, "live-1", "Lía", "quiero hablar con una persona").await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !seen.contains(r#""kind":"handoff""#) {
        let chunk = tokio::time::timeout_at(deadline, sse.chunk()).await.expect("a hand-off event").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("Lía pide hablar con una persona"), "{seen}");
    // A new message from a guest already waiting.
    app.post_json("/sandbox/api/messages", &json!({"session": "live-1", "text": "¿hay alguien?"})).await;
    while !seen.contains(r#""kind":"message""#) {
        let chunk = tokio::time::timeout_at(deadline, sse.chunk()).await.expect("a message event").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("Nuevo mensaje de Lía"), "{seen}");
}

async fn every_chat_shows_its_channel_icon_with_its_name(engine: Engine) {
    let app = sandbox_app(engine, vec![]).await;
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for (channel, address, name) in [
        (domain::Channel::Whatsapp, "5492944111222", "Wanda"),
        (domain::Channel::Email, "ines@example.com", "Inés"),
        (domain::Channel::Instagram, "17841400000000009", "Iris"),
        (domain::Channel::Messenger, "27000000000000009", "Mara"),
        (domain::Channel::Sandbox, "chat-9", "Sara"),
    ] {
        ids.push((channel, app.state.store.upsert_contact(channel, address, name, now).await.unwrap().id));
    }
    let ui = owner_ui(&app).await;
    let list = ui.page("/admin/conversaciones").await;
    for (channel, id) in ids {
        let badge = format!(
            r#"<span class="chan chan-{}" title="{label}"><svg class="chan-icon""#,
            channel.as_str(),
            label = channel.label()
        );
        let name = format!(r#"<span class="chan-name">{}</span>"#, channel.label());
        let row = list.split("<li>").find(|li| li.contains(&format!("/admin/conversaciones/{id}\""))).unwrap();
        assert!(row.contains(&badge) && row.contains(&name), "{channel:?}: {row}");
        assert!(row.contains(r#"aria-hidden="true""#) && !row.contains("🟢"), "the icon is decoration: {row}");
        let thread = ui.page(&format!("/admin/conversaciones/{id}")).await;
        assert!(thread.contains(&badge), "{channel:?} thread: {thread}");
    }
}
