//! Issue 13, finding 7: smaller edges — JSON routes refuse other content types (415), photos
//! are only web addresses, the sandbox's routes do not exist when it is off, and a Mercado
//! Pago notification's unsigned body never decides which payment is read.

use crate::both_engines;
use crate::helpers::*;
use crate::payments::{MP_SECRET, mp_app, payment};
use axum::http::Method;
use serde_json::{Value, json};

both_engines!(
    json_routes_refuse_other_content_types_with_415,
    photo_urls_are_only_http_or_https,
    the_sandbox_routes_are_404_when_it_is_off,
    a_mercado_pago_id_only_in_the_unsigned_body_is_a_hint_the_signed_one_wins,
);

async fn json_routes_refuse_other_content_types_with_415(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let hold = app.hold_body(1, &app.in_days(10), &app.in_days(12), "+5491100000001").to_string();
    for (path, body, auth) in [
        ("/api/v1/reservations/pre-reserve", hold.clone(), false),
        ("/api/v1/nlu/analyze", json!({"text": "hola"}).to_string(), false),
        ("/api/v1/admin/login", json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD}).to_string(), false),
        ("/api/v1/admin/accommodations", json!({"name": "X", "capacity": 2, "base_price": 1}).to_string(), true),
    ] {
        for ct in ["text/plain", "application/x-www-form-urlencoded", "text/plain; charset=utf-8"] {
            let mut req = app.client.post(app.url(path)).header("content-type", ct).body(body.clone());
            if auth {
                req = req.bearer_auth(&token);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 415, "{path} as {ct}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["error"]["code"], "unsupported_media_type");
            assert!(e["error"]["message"].as_str().unwrap().contains("application/json"), "{e}");
        }
    }
    assert_eq!(app.state.store.counts().await.unwrap()["reservations"], 0);
    // JSON with a charset, or a +json type, is JSON.
    let r = app
        .client
        .post(app.url("/api/v1/reservations/pre-reserve"))
        .header("content-type", "application/json; charset=utf-8")
        .body(hold)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

async fn photo_urls_are_only_http_or_https(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    for url in [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "file:///etc/passwd",
        "//evil.test/a.jpg",
        "https://",
        "https://a.test/x y.jpg",
        "ftp://a.test/a.jpg",
    ] {
        let body = json!({"name": "Coihue", "capacity": 2, "base_price": "50000", "photos": [{"url": "https://ok.test/1.jpg"}, {"url": url}]});
        let r = app.admin_send(Method::PUT, "/api/v1/admin/accommodations/1", &token, Some(&body)).await;
        assert_eq!(r.status(), 422, "{url}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(
            (e["error"]["code"].as_str(), e["error"]["field"].as_str()),
            (Some("invalid_photo_url"), Some("photos[1].url")),
            "{url}"
        );
    }
    let body = json!({"name": "Coihue", "capacity": 2, "base_price": "50000", "photos": [{"url": "HTTPS://img.test/1.jpg", "caption": "Frente"}, {"url": "http://img.test/2.jpg"}]});
    let r = app.admin_send(Method::PUT, "/api/v1/admin/accommodations/1", &token, Some(&body)).await;
    assert_eq!(r.status(), 200);
}

async fn the_sandbox_routes_are_404_when_it_is_off(engine: Engine) {
    let app = spawn_app(engine).await;
    for (method, path, body) in [
        (Method::POST, "/sandbox/api/messages", "not json"),
        (Method::POST, "/sandbox/api/messages", "{}"),
        (Method::GET, "/sandbox/api/messages?session=x", ""),
        (Method::GET, "/sandbox/api/messages", ""),
        (Method::GET, "/sandbox/chat", ""),
        (Method::POST, "/sandbox/mp/checkout/preferences", "{}"),
        (Method::POST, "/sandbox/mp/v1/payments/1/refunds", "{}"),
        (Method::GET, "/sandbox/pay/PREF-1", ""),
    ] {
        let r = app
            .client
            .request(method.clone(), app.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    let on =
        spawn_app_with(engine, Options { env: vec![("POSADA_SANDBOX", "true".into())], ..Default::default() }).await;
    assert_eq!(on.get("/sandbox/api/messages").await.status(), 422, "on: the route is there and wants a session");
}

/// Mercado Pago signs `data.id` from the query string. A notification without it is still
/// valid (its manifest drops the part), and its body's id is only a hint: the payment is read
/// from the API and only what the API says counts. When both are there, the signed one wins.
async fn a_mercado_pago_id_only_in_the_unsigned_body_is_a_hint_the_signed_one_wins(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = mp_app(engine, &graph, &mp).await;
    let body = app.hold_body(3, &app.in_days(30), &app.in_days(33), "+5491100000001");
    let hold: Value = app.pre_reserve(&body).await.json().await.unwrap();
    let code = hold["code"].as_str().unwrap().to_string();
    let deposit: f64 = hold["deposit_amount"].as_str().unwrap().parse().unwrap();
    mp.respond_at("/v1/payments/555", payment(555, "approved", deposit, &code));
    mp.respond_at("/v1/payments/999", payment(999, "approved", deposit, &code));
    let send =
        |query: &'static str, request_id: &'static str, signed_id: Option<&'static str>, body_id: &'static str| {
            let ts = chrono::Utc::now().timestamp().to_string();
            let v1 = server::payments::mercadopago::sign(
                MP_SECRET,
                &server::payments::mercadopago::manifest(signed_id, Some(request_id), &ts),
            );
            let req = app
                .client
                .post(app.url(&format!("/api/v1/webhooks/mercadopago{query}")))
                .header("x-request-id", request_id)
                .header("x-signature", format!("ts={ts},v1={v1}"))
                .json(&json!({"action": "payment.updated", "type": "payment", "data": {"id": body_id}}));
            async move { req.send().await.unwrap().status().as_u16() }
        };
    // Signed 555 in the query, 999 in the body: only 555 is read.
    assert_eq!(send("?data.id=555&type=payment", "req-a", Some("555"), "999").await, 200);
    // The body's id with a signature claiming another query id: refused.
    assert_eq!(send("?data.id=999&type=payment", "req-b", Some("555"), "999").await, 401);
    crate::whatsapp::drain(&app).await;
    let read: Vec<String> =
        mp.requests().into_iter().filter(|r| r.path.starts_with("/v1/payments/")).map(|r| r.path).collect();
    assert_eq!(read, ["/v1/payments/555"]);
    assert_eq!(app.state.store.get_reservation(&code).await.unwrap().status, domain::ReservationStatus::Confirmed);
    // No id in the query: accepted (Mercado Pago drops absent parts from the manifest) and the
    // body's id is read from the API — it decides nothing by itself.
    mp.respond_at("/v1/payments/777", payment(777, "rejected", deposit, &code));
    assert_eq!(send("?type=payment", "req-c", None, "777").await, 200);
    crate::whatsapp::drain(&app).await;
    assert!(mp.requests().iter().any(|r| r.path == "/v1/payments/777"));
    assert_eq!(app.state.store.get_reservation(&code).await.unwrap().status, domain::ReservationStatus::Confirmed);
}
