//! Issue 13, finding 5: NUL bytes and other control characters. They gave 500 on PostgreSQL
//! and 200 on SQLite; now our own input with one is 422 with a Spanish message and changes
//! nothing, a search with one is refused, and a provider's message with one is stored cleaned
//! without sinking the rest of its batch — the same on both engines.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::owner_ui;
use crate::whatsapp::{envelope, post_signed, text, wa_app};
use axum::http::Method;
use serde_json::{Value, json};

both_engines!(
    control_characters_in_our_own_input_get_422_and_change_nothing,
    searches_and_urls_with_control_characters_never_reach_the_database,
    the_dashboard_refuses_control_characters_in_forms_and_searches,
    a_nul_in_one_whatsapp_message_does_not_sink_its_batch,
);

async fn counts(app: &TestApp) -> std::collections::BTreeMap<String, i64> {
    app.state.store.counts().await.unwrap()
}

async fn assert_invalid_text(r: reqwest::Response, what: &str) {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(body["error"]["code"], "invalid_text", "{what}: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("caracteres de control"), "{what}: {body}");
}

async fn control_characters_in_our_own_input_get_422_and_change_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let before = counts(&app).await;
    for bad in ["Ana\u{0}Pérez", "Ana\u{1b}[31m", "Ana\u{7f}"] {
        let mut body = app.hold_body(1, &app.in_days(20), &app.in_days(22), "+5492944111111");
        body["contact_name"] = json!(bad);
        assert_invalid_text(app.pre_reserve(&body).await, "contact_name").await;
        let mut body = app.hold_body(1, &app.in_days(20), &app.in_days(22), "+5492944111111");
        body["contact_phone"] = json!(format!("+549294411{bad}"));
        assert_invalid_text(app.pre_reserve(&body).await, "contact_phone").await;
    }
    let cabin = json!({"name": "Coihue\u{0}", "capacity": 2, "base_price": "50000"});
    let r = app.admin_send(Method::POST, "/api/v1/admin/accommodations", &token, Some(&cabin)).await;
    assert_invalid_text(r, "cabin name").await;
    let cabin = json!({"name": "Coihue", "capacity": 2, "base_price": "50000", "amenities": ["wifi", "a\u{0}"]});
    let r = app.admin_send(Method::PUT, "/api/v1/admin/accommodations/1", &token, Some(&cabin)).await;
    assert_invalid_text(r, "amenities").await;
    let manual = json!({"accommodation_id": 2, "check_in": app.in_days(40), "check_out": app.in_days(42),
                        "kind": "booking", "guests": 2, "guest_name": "Juan\u{0}"});
    let r = app.admin_send(Method::POST, "/api/v1/admin/reservations", &token, Some(&manual)).await;
    assert_invalid_text(r, "manual booking").await;
    let r = app.post_json("/api/v1/nlu/analyze", &json!({"text": "hola\u{0}"})).await;
    assert_invalid_text(r, "nlu").await;
    // A key may carry one too.
    let mut body = app.hold_body(1, &app.in_days(20), &app.in_days(22), "+5492944111111");
    body["contact\u{0}"] = json!("x");
    assert_invalid_text(app.pre_reserve(&body).await, "key").await;
    assert_eq!(counts(&app).await, before, "nothing written");
    assert_eq!(app.state.store.get_unit(1).await.unwrap().amenities.iter().filter(|a| a.contains('\0')).count(), 0);
    // Newlines and tabs are text: a note with lines is fine.
    let block = json!({"accommodation_id": 2, "check_in": app.in_days(40), "check_out": app.in_days(42),
                       "kind": "block", "note": "pintura\n\tdos días"});
    let r = app.admin_send(Method::POST, "/api/v1/admin/reservations", &token, Some(&block)).await;
    assert_eq!(r.status(), 201);
}

async fn searches_and_urls_with_control_characters_never_reach_the_database(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    for path in [
        "/api/v1/admin/reservations?search=%00",
        "/api/v1/admin/reservations?search=Ana%00",
        "/api/v1/admin/reservations?channel=%1b",
        "/api/v1/reservations/R7K%00Q9",
        "/ical/cabana-1/%00.ics",
        "/ical/a%00b/token.ics",
        "/api/v1/ical/export/1/%00",
        "/sandbox/api/messages?session=%00",
    ] {
        let r = app.admin_get(path, &token).await;
        assert_invalid_text(r, path).await;
    }
    // A search without one still works.
    let r = app.admin_get("/api/v1/admin/reservations?search=%C3%B1and%C3%BA", &token).await;
    assert_eq!(r.status(), 200);
}

async fn the_dashboard_refuses_control_characters_in_forms_and_searches(engine: Engine) {
    let app = spawn_app(engine).await;
    let ui = owner_ui(&app).await;
    let r = ui.get("/admin/reservas?q=%00").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("caracteres de control") && html.contains("<html"), "a page, in Spanish: {html}");
    let before = app.state.store.get_unit(1).await.unwrap();
    let fields = [
        ("name", "Coihue\u{0}"),
        ("slug", "coihue"),
        ("capacity", "2"),
        ("min_nights", "2"),
        ("base_price", "50000"),
        ("weekend_multiplier", "1"),
        ("description", "Para dos."),
        ("amenities", "wifi"),
        ("photos", ""),
        ("active", "on"),
    ];
    let r = ui.post("/admin/cabanas/1", &fields).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("«name»"));
    assert_eq!(app.state.store.get_unit(1).await.unwrap(), before, "nothing changed");
}

/// Meta delivers a batch of three; the second carries a NUL. Before: 500 on every delivery, so
/// the third was never stored. Now all three are stored (the NUL removed) and answered.
async fn a_nul_in_one_whatsapp_message_does_not_sink_its_batch(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    let batch = envelope(
        vec![text("wamid.n1", "hola"), text("wamid.n2", "somos 2\u{0} personas"), text("wamid.n3", "gracias")],
        "Jua\u{0}na",
    );
    let r = post_signed(&app, &batch).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(post_signed(&app, &batch).await.status(), 200, "a redelivery too");
    crate::whatsapp::drain(&app).await;
    let contact = app.state.store.find_contact(domain::Channel::Whatsapp, crate::whatsapp::GUEST).await.unwrap();
    assert_eq!(contact.name, "Juana");
    let msgs = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    let inbound: Vec<&str> = msgs.iter().filter(|m| m.direction == "in").map(|m| m.body.as_str()).collect();
    assert_eq!(inbound, ["hola", "somos 2 personas", "gracias"]);
    assert!(msgs.iter().filter(|m| m.direction == "out").count() >= 3, "each one answered");
}
