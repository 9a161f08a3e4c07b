//! Issue 13, finding 2: anyone could hold the whole calendar (21 anonymous holds from one
//! address, 60-night stays, phones like `fake-1234`). Now: phones are validated and normalised
//! before the per-contact limit, stays end within the booking horizon (and the iCal export
//! reaches past it), one address has a bounded number of live anonymous holds, and the public
//! route can require an API key.

use crate::both_engines;
use crate::helpers::*;
use axum::http::Method;
use serde_json::{Value, json};

both_engines!(
    phones_are_validated_and_normalised_before_the_contact_limit,
    stays_beyond_the_horizon_get_422_and_the_export_covers_the_horizon,
    one_address_has_only_so_many_live_anonymous_holds,
    the_public_route_can_require_an_api_key,
);

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.unwrap()["error"].clone())
}

async fn phones_are_validated_and_normalised_before_the_contact_limit(engine: Engine) {
    let app = spawn_app(engine).await;
    for phone in ["fake-1234", "1234", "+54 9 294 412 3456 int 2", "", "0294 4123456"] {
        let (status, e) =
            error_of(app.pre_reserve(&app.hold_body(1, &app.in_days(10), &app.in_days(12), phone)).await).await;
        assert_eq!(
            (status, e["code"].as_str(), e["field"].as_str()),
            (422, Some("invalid_contact"), Some("contact_phone")),
            "{phone:?}: {e}"
        );
        assert!(e["message"].as_str().unwrap().starts_with("Revisá el teléfono"), "{e}");
    }
    // One phone written three ways is one contact: the third hold is over the limit of 2.
    let r = app.pre_reserve(&app.hold_body(1, &app.in_days(10), &app.in_days(12), "+54 9 294 412-3456")).await;
    assert_eq!(r.status(), 201);
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    assert_eq!(app.state.store.get_reservation(&code).await.unwrap().guest_phone, "+5492944123456");
    let r = app.pre_reserve(&app.hold_body(2, &app.in_days(10), &app.in_days(12), "5492944123456")).await;
    assert_eq!(r.status(), 201);
    let (status, e) =
        error_of(app.pre_reserve(&app.hold_body(3, &app.in_days(10), &app.in_days(12), "0054 9 (294) 412.3456")).await)
            .await;
    assert_eq!((status, e["code"].as_str()), (409, Some("too_many_holds")), "{e}");
}

async fn stays_beyond_the_horizon_get_422_and_the_export_covers_the_horizon(engine: Engine) {
    let app = spawn_app(engine).await;
    let before = app.state.store.counts().await.unwrap();
    for (a, b) in [
        (app.in_days(539), app.in_days(541)),
        ("9999-01-01".to_string(), "9999-01-03".to_string()),
        ("+262142-01-01".to_string(), "+262142-01-03".to_string()),
    ] {
        let (status, e) = error_of(app.pre_reserve(&app.hold_body(1, &a, &b, "+5491100000001")).await).await;
        assert_eq!(status, 422, "{a}: {e}");
        assert!(["beyond_horizon", "invalid_date"].contains(&e["code"].as_str().unwrap()), "{a}: {e}");
        let r = app.get(&format!("/api/v1/availability?check_in={a}&check_out={b}")).await;
        assert_eq!(r.status(), 422, "availability {a}");
    }
    let (_, e) =
        error_of(app.pre_reserve(&app.hold_body(1, &app.in_days(539), &app.in_days(541), "+5491100000001")).await)
            .await;
    assert_eq!((e["code"].as_str(), e["horizon_days"].as_u64()), (Some("beyond_horizon"), Some(540)), "{e}");
    let token = app.owner_token().await;
    let block =
        json!({"accommodation_id": 1, "check_in": app.in_days(600), "check_out": app.in_days(602), "kind": "block"});
    let r = app.admin_send(Method::POST, "/api/v1/admin/reservations", &token, Some(&block)).await;
    assert_eq!(error_of(r).await.1["code"], "beyond_horizon", "the owner's calendar has the same horizon");
    assert_eq!(app.state.store.counts().await.unwrap(), before, "nothing written");
    // The last stay the horizon allows is taken, and the OTAs see it.
    let r = app.pre_reserve(&app.hold_body(1, &app.in_days(538), &app.in_days(540), "+5491100000001")).await;
    assert_eq!(r.status(), 201);
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    assert!(export(&app, &token, 1).await.contains(&format!("UID:{code}@posada")));

    // A longer horizon than the export's usual three years: the export follows it.
    let far = spawn_app_with(
        engine,
        Options { env: vec![("POSADA_BOOKING_HORIZON_DAYS", "1500".into())], ..Default::default() },
    )
    .await;
    let r = far.pre_reserve(&far.hold_body(1, &far.in_days(1490), &far.in_days(1492), "+5491100000001")).await;
    assert_eq!(r.status(), 201);
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    let token = far.owner_token().await;
    assert!(export(&far, &token, 1).await.contains(&format!("UID:{code}@posada")), "a hold 4 years ahead is exported");
}

async fn export(app: &TestApp, token: &str, unit: i64) -> String {
    let info: Value =
        app.admin_get(&format!("/api/v1/admin/accommodations/{unit}/ical"), token).await.json().await.unwrap();
    let path = info["export_url"].as_str().unwrap().trim_start_matches(&app.address).to_string();
    app.get(&path).await.text().await.unwrap()
}

async fn one_address_has_only_so_many_live_anonymous_holds(engine: Engine) {
    let env = vec![
        ("POSADA_TRUSTED_PROXIES", "127.0.0.1".to_string()),
        ("POSADA_MAX_HOLDS_PER_ADDRESS", server::config::Config::DEFAULT_MAX_HOLDS_PER_ADDRESS.to_string()),
    ];
    let app = spawn_app_with(engine, Options { env, ..Default::default() }).await;
    let from = |client: &'static str, unit: i64, day: i64, phone: String| {
        let body = app.hold_body(unit, &app.in_days(day), &app.in_days(day + 2), &phone);
        let req = app.client.post(app.url("/api/v1/reservations/pre-reserve")).json(&body);
        async move { req.header("x-forwarded-for", client).send().await.unwrap() }
    };
    let mut codes = Vec::new();
    for i in 0..3 {
        let r = from("203.0.113.7", 1 + i, 10, format!("+54911000000{i:02}")).await;
        assert_eq!(r.status(), 201);
        codes.push(r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string());
    }
    let (status, e) = error_of(from("203.0.113.7", 1, 20, "+5491100000099".into()).await).await;
    assert_eq!((status, e["code"].as_str()), (429, Some("too_many_holds_from_address")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("3 pre-reservas activas"), "{e}");
    // Another client behind the same proxy has its own count.
    assert_eq!(from("198.51.100.4", 1, 20, "+5491100000098".into()).await.status(), 201);
    // A cancelled hold frees its place; an expired one too.
    let token = app.owner_token().await;
    let r = app.admin_send(Method::POST, &format!("/api/v1/reservations/{}/cancel", codes[0]), &token, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(from("203.0.113.7", 1, 30, "+5491100000097".into()).await.status(), 201);
    assert_eq!(from("203.0.113.7", 1, 40, "+5491100000096".into()).await.status(), 429);
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(from("203.0.113.7", 1, 40, "+5491100000096".into()).await.status(), 201);
}

async fn the_public_route_can_require_an_api_key(engine: Engine) {
    let env = vec![("POSADA_PUBLIC_API_KEY", "site-key-0123456789".to_string())];
    let app = spawn_app_with(engine, Options { env, ..Default::default() }).await;
    let body = app.hold_body(1, &app.in_days(10), &app.in_days(12), "+5491100000001");
    let post = |key: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/v1/reservations/pre-reserve")).json(&body);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        async move { req.send().await.unwrap() }
    };
    for key in [None, Some("wrong"), Some("")] {
        let (status, e) = error_of(post(key).await).await;
        assert_eq!((status, e["code"].as_str()), (401, Some("unauthorized")), "{key:?}");
    }
    assert_eq!(post(Some("site-key-0123456789")).await.status(), 201);
    // Reading the catalogue and availability stays open.
    assert_eq!(app.get("/api/v1/accommodations").await.status(), 200);
}
