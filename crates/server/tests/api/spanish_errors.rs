//! Every message a person reads is Spanish and says what to do (issue 19, defect 8): the public
//! API's refusals of malformed or misshapen input, and the calendar feeds' failures in Canales.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

both_engines!(
    bad_input_is_refused_in_spanish_with_a_stable_code,
    a_placed_hold_carries_no_error_field,
    feed_failures_read_in_spanish_and_sync_says_when_one_failed,
);

/// Words of serde's, chrono's and reqwest's English that must never reach a person.
const ENGLISH: [&str; 11] = [
    "missing field",
    "invalid type",
    "invalid value",
    "expected",
    "input contains",
    "unknown field",
    "at line",
    "EOF",
    "error sending request",
    "Failed to",
    "premature",
];

fn assert_spanish(message: &str, context: &str) {
    for word in ENGLISH {
        assert!(!message.contains(word), "{context}: English ({word:?}) in {message:?}");
    }
}

async fn bad_input_is_refused_in_spanish_with_a_stable_code(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = (app.in_days(10), app.in_days(12));
    let base = app.hold_body(1, &a, &b, "+5491100000101");
    let with = |key: &str, v: Value| {
        let mut body = base.clone();
        body[key] = v;
        body
    };
    let without = |key: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    // (body, status, code, field, words the message must contain)
    let cases: Vec<(Value, u16, &str, &str, &str)> = vec![
        (without("check_in"), 422, "missing_field", "check_in", "Falta el campo check_in"),
        (
            with("check_in", json!("15/02/2027")),
            422,
            "invalid_date",
            "check_in",
            "la fecha debe tener el formato AAAA-MM-DD, por ejemplo 2027-02-15. ¿Quisiste decir 2027-02-15?",
        ),
        (with("check_out", json!("2027-02-30")), 422, "invalid_date", "check_out", "esa fecha no existe"),
        (with("check_out", json!(20270215)), 422, "invalid_date", "check_out", "AAAA-MM-DD"),
        (with("guests", json!("dos")), 422, "invalid_type", "guests", "número entero"),
        (with("guests", json!(-1)), 422, "invalid_value", "guests", "número entero positivo"),
        (with("accommodation_id", json!(null)), 422, "invalid_type", "accommodation_id", "no puede ir vacío"),
        (with("huespedes", json!(2)), 422, "unknown_field", "huespedes", "Los válidos son: accommodation_id"),
    ];
    for (body, status, code, field, words) in cases {
        let r = app.pre_reserve(&body).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        let e = &v["error"];
        assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some(code), Some(field)), "{body} → {v}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(words), "{body} → {message:?} lacks {words:?}");
        assert_spanish(message, &body.to_string());
    }
    // Broken JSON: 400, Spanish, where it broke.
    for (raw, words) in [("{\"accommodation_id\": 1,", "incompleto"), ("{\"guests\": 2,,}", "línea 1, columna")] {
        let r = app
            .client
            .post(app.url("/api/v1/reservations/pre-reserve"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{raw}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "malformed_json");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{raw} → {message}");
        assert_spanish(message, raw);
    }
    // The query string of the availability search: the same words.
    for (query, code, words) in [
        (
            "check_in=15/02/2027&check_out=2027-02-18",
            "invalid_date",
            "por ejemplo 2027-02-15. ¿Quisiste decir 2027-02-15?",
        ),
        ("check_out=2027-02-18", "missing_field", "Falta el parámetro check_in"),
        (
            "check_in=2027-02-15&check_out=2027-02-18&guests=dos",
            "invalid_value",
            "El parámetro guests debe ser un número",
        ),
    ] {
        let r = app.get(&format!("/api/v1/availability?{query}")).await;
        assert_eq!(r.status(), 422, "{query}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{query}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{query} → {message}");
        assert_spanish(message, query);
    }
    let (_, total) =
        app.state.store.list_reservations(&store::ReservationFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(total, 0, "nothing was stored");
}

async fn a_placed_hold_carries_no_error_field(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.pre_reserve(&app.hold_body(1, &app.in_days(10), &app.in_days(12), "+5491100000101")).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert!(v.get("error").is_none(), "a success says nothing about errors: {v}");
    assert_eq!(v["status"], "pre_reserved");
}

async fn feed_failures_read_in_spanish_and_sync_says_when_one_failed(engine: Engine) {
    let app = spawn_app(engine).await;
    let ui = owner_ui(&app).await;
    let ota = FakeUpstream::start().await;
    ota.respond_always(Canned::text(200, "text/calendar", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"));
    let good = format!("{}/airbnb.ics", ota.address);
    // A port nobody listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/booking.ics", closed.local_addr().unwrap());
    drop(closed);
    for (unit, url, source) in [("1", &good, "airbnb"), ("2", &dead, "booking")] {
        let r = ui.post(&format!("/admin/canales/{unit}/feeds"), &[("url", url), ("source", source)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let r = ui.post("/admin/canales/sincronizar", &[]).await;
    assert_eq!(
        (r.status(), location(&r).as_str()),
        (StatusCode::SEE_OTHER, "/admin/canales?ok=sincronizado_con_errores"),
        "one of two feeds failed: the notice must not say all were read"
    );
    let html = ui.page("/admin/canales?ok=sincronizado_con_errores").await;
    assert!(html.contains(r#"role="alert""#) && html.contains("no se pudo leer al menos un calendario"), "{html}");
    assert!(!html.contains("se leyeron todos"), "{html}");
    assert!(html.contains("No se pudo conectar con el calendario") && html.contains("Revisá la dirección"), "{html}");
    assert!(html.contains("Al día"), "the good feed is still read");
    for english in ["Error: connect", "error sending request", "connect:"] {
        assert!(!html.contains(english), "{english} in Canales");
    }
    let home = ui.page("/admin").await;
    assert!(
        home.contains("No se pudo conectar con el calendario") && !home.contains("error sending request"),
        "{home}"
    );
    // Every feed fails: the notice says none was read.
    app.state.store.delete_feed(app.state.store.list_feeds(Some(1)).await.unwrap()[0].id).await.unwrap();
    let r = ui.post("/admin/canales/sincronizar", &[]).await;
    assert_eq!(location(&r), "/admin/canales?ok=sincronizado_sin_lectura");
}
