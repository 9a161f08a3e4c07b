use crate::both_engines;
use crate::helpers::*;
use axum::http::Method;
use serde_json::{Value, json};

both_engines!(
    accommodations_are_listed_on_both_paths,
    availability_quotes_each_cabin,
    a_hold_is_placed_and_its_nights_are_taken,
    bad_requests_get_clear_errors_and_change_nothing,
    a_contact_may_hold_only_two_at_once,
    the_public_view_has_no_guest_data,
    confirm_and_cancel_need_a_token_and_follow_the_rules,
    expired_holds_are_swept_and_free_their_nights,
);

async fn cabin(app: &TestApp, slug: &str) -> Value {
    let units: Value = app.get("/api/v1/accommodations").await.json().await.unwrap();
    units.as_array().unwrap().iter().find(|u| u["slug"] == slug).unwrap().clone()
}

async fn accommodations_are_listed_on_both_paths(engine: Engine) {
    let app = spawn_app(engine).await;
    let a: Value = app.get("/api/v1/accommodations").await.json().await.unwrap();
    let b: Value = app.get("/api/v1/reservations/accommodations").await.json().await.unwrap();
    assert_eq!(a, b);
    let list = a.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let caps: Vec<i64> = list.iter().map(|u| u["capacity"].as_i64().unwrap()).collect();
    assert_eq!(caps, vec![2, 4, 6]);
    assert!(list.iter().all(|u| u["min_nights"].as_i64().unwrap() <= 2 && !u["photos"].as_array().unwrap().is_empty()));
    assert_eq!(list[0]["base_price"], "45000.00");
}

async fn availability_quotes_each_cabin(engine: Engine) {
    let app = spawn_app(engine).await;
    let monday = app.monday_in(3);
    let (a, b) = (monday - chrono::Duration::days(3), monday); // Fri → Mon
    let v: Value =
        app.get(&format!("/api/v1/availability?check_in={a}&check_out={b}&guests=3")).await.json().await.unwrap();
    assert_eq!(v["nights"], 3);
    let list = v["accommodations"].as_array().unwrap();
    let coihue = list.iter().find(|u| u["slug"] == "coihue").unwrap();
    assert_eq!((coihue["available"].as_bool(), coihue["reason"].as_str()), (Some(false), Some("too_many_guests")));
    let arrayan = list.iter().find(|u| u["slug"] == "arrayan").unwrap();
    assert_eq!(arrayan["available"], true);
    // Fri and Sat nights ×1.2 (unless a holiday rule exists: there are none).
    assert_eq!(arrayan["total_price"], "221000.00", "{arrayan}");
    assert_eq!(arrayan["deposit_amount"], "66300.00");
    assert_eq!(arrayan["nightly"].as_array().unwrap().len(), 3);
    // Hold it: the same query now says the nights are taken.
    let id = arrayan["accommodation_id"].as_i64().unwrap();
    let r = app.pre_reserve(&app.hold_body(id, &a.to_string(), &b.to_string(), "+5491100000001")).await;
    assert_eq!(r.status(), 201);
    let v: Value =
        app.get(&format!("/api/v1/availability?check_in={a}&check_out={b}&guests=3")).await.json().await.unwrap();
    let arrayan = v["accommodations"].as_array().unwrap().iter().find(|u| u["slug"] == "arrayan").unwrap().clone();
    assert_eq!(arrayan["reason"], "dates_unavailable");
    let r = app.get("/api/v1/availability?check_in=2020-01-01&check_out=2020-01-03").await;
    assert_eq!(r.status(), 422);
    let r = app.get("/api/v1/availability?check_in=nope&check_out=2020-01-03").await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_date");
}

async fn a_hold_is_placed_and_its_nights_are_taken(engine: Engine) {
    let app = spawn_app(engine).await;
    let unit = cabin(&app, "arrayan").await["id"].as_i64().unwrap();
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(30), &app.in_days(33), "+5491100000001")).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    for field in [
        "code",
        "expires_at",
        "deposit_amount",
        "total_price",
        "nights",
        "status",
        "accommodation_id",
        "check_in",
        "check_out",
    ] {
        assert!(!v[field].is_null(), "missing {field}: {v}");
    }
    assert_eq!(v["status"], "pre_reserved");
    assert_eq!(v["nights"], 3);
    assert_eq!(v["code"].as_str().unwrap().len(), 6);
    assert!(v["total_price"].as_str().unwrap().ends_with(".00"));
    // Overlap → 409; back-to-back on both sides → 201.
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(32), &app.in_days(34), "+5491100000002")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "dates_unavailable");
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(33), &app.in_days(35), "+5491100000003")).await;
    assert_eq!(r.status(), 201);
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(28), &app.in_days(30), "+5491100000004")).await;
    assert_eq!(r.status(), 201);
}

async fn bad_requests_get_clear_errors_and_change_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let unit = cabin(&app, "coihue").await["id"].as_i64().unwrap();
    let cases: Vec<(Value, u16, &str)> = vec![
        (app.hold_body(unit, &app.in_days(10), &app.in_days(10), "+5491100000101"), 422, "invalid_dates"),
        (app.hold_body(unit, &app.in_days(10), &app.in_days(9), "+5491100000101"), 422, "invalid_dates"),
        (app.hold_body(unit, &app.in_days(10), &app.in_days(71), "+5491100000101"), 422, "stay_too_long"),
        (app.hold_body(unit, &app.in_days(-3), &app.in_days(2), "+5491100000101"), 422, "check_in_past"),
        (app.hold_body(unit, &app.in_days(10), &app.in_days(11), "+5491100000101"), 422, "min_nights"),
        (app.hold_body(999, &app.in_days(10), &app.in_days(12), "+5491100000101"), 422, "accommodation_not_found"),
        (
            json!({"accommodation_id": unit, "check_in": "2027-02-30", "check_out": "2027-03-02", "guests": 2, "contact_name": "A", "contact_phone": "1"}),
            422,
            "invalid_date",
        ),
        (
            json!({"accommodation_id": unit, "check_in": app.in_days(10), "check_out": app.in_days(12), "guests": 2, "contact_phone": "1"}),
            422,
            "missing_field",
        ),
        (
            json!({"accommodation_id": unit, "check_in": app.in_days(10), "check_out": app.in_days(12), "guests": -1, "contact_name": "A", "contact_phone": "1"}),
            422,
            "invalid_value",
        ),
        (
            json!({"accommodation_id": unit, "check_in": app.in_days(10), "check_out": app.in_days(12), "guests": 2, "contact_name": " ", "contact_phone": "1"}),
            422,
            "invalid_contact",
        ),
    ];
    for (body, status, code) in cases {
        let r = app.pre_reserve(&body).await;
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body} → {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let mut guests = app.hold_body(unit, &app.in_days(10), &app.in_days(12), "+5491100000101");
    guests["guests"] = json!(3);
    let v: Value = app.pre_reserve(&guests).await.json().await.unwrap();
    assert_eq!((v["error"]["code"].as_str(), v["error"]["capacity"].as_i64()), (Some("invalid_guests"), Some(2)));
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &app.in_days(10), &app.in_days(11), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["min_nights"], 2, "the minimum is in the body");
    let r = app
        .client
        .post(app.url("/api/v1/reservations/pre-reserve"))
        .header("content-type", "application/json")
        .body("{\"accommodation_id\": 1,")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    let (_, total) =
        app.state.store.list_reservations(&store::ReservationFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(total, 0, "nothing was stored");
}

async fn a_contact_may_hold_only_two_at_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let unit = cabin(&app, "cabana-grande").await["id"].as_i64().unwrap();
    for i in 0..2 {
        let r = app
            .pre_reserve(&app.hold_body(unit, &app.in_days(40 + i * 2), &app.in_days(41 + i * 2), "+5491155555555"))
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(50), &app.in_days(51), "+5491155555555")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "too_many_holds");
}

async fn the_public_view_has_no_guest_data(engine: Engine) {
    let app = spawn_app(engine).await;
    let unit = cabin(&app, "arrayan").await["id"].as_i64().unwrap();
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &app.in_days(30), &app.in_days(33), "+5492944987654"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap();
    let r = app.get(&format!("/api/v1/reservations/{code}")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for secret in ["Ana", "987654", "ana@example.test", "guest_name", "guest_phone"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["reservation_status"], "pre_reserved");
    assert_eq!(v["guests_count"], 2);
    assert_eq!(v["total_price"].as_str().unwrap().split('.').nth(1).unwrap().len(), 2);
    assert!(v["expires_at"].is_string());
    let token = app.owner_token().await;
    let v: Value = app.admin_get(&format!("/api/v1/admin/reservations/{code}"), &token).await.json().await.unwrap();
    assert_eq!(v["guest_phone"], "+5492944987654");
    assert_eq!(v["audit"][0]["action"], "created");
    assert_eq!(app.get("/api/v1/reservations/ZZZZZZ").await.status(), 404);
    assert_eq!(app.get("/api/v1/reservations/not-a-code").await.status(), 404);
}

async fn confirm_and_cancel_need_a_token_and_follow_the_rules(engine: Engine) {
    let app = spawn_app(engine).await;
    let unit = cabin(&app, "arrayan").await["id"].as_i64().unwrap();
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &app.in_days(30), &app.in_days(33), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    let path = format!("/api/v1/reservations/{code}/confirm");
    assert_eq!(app.client.post(app.url(&path)).send().await.unwrap().status(), 401);
    let token = app.owner_token().await;
    let r = app.admin_send(Method::POST, &path, &token, Some(&json!({"note": "pagó en efectivo"}))).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "confirmed");
    // Confirmed → confirmed is not a transition.
    let r = app.admin_send(Method::POST, &path, &token, None).await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["error"]["code"].as_str(), v["error"]["status"].as_str()),
        (Some("invalid_transition"), Some("confirmed"))
    );
    let cancel = format!("/api/v1/reservations/{code}/cancel");
    let r = app.admin_send(Method::POST, &cancel, &token, Some(&json!({"reason": "cambio de planes"}))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "cancelled");
    let r = app.admin_send(Method::POST, &cancel, &token, Some(&json!({}))).await;
    assert_eq!(r.status(), 409);
    let r = app.admin_send(Method::POST, "/api/v1/reservations/ZZZZZZ/cancel", &token, None).await;
    assert_eq!(r.status(), 404);
    let audit: Value = app.admin_get(&format!("/api/v1/admin/reservations/{code}"), &token).await.json().await.unwrap();
    let actions: Vec<&str> = audit["audit"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["created", "confirmed", "cancelled"]);
    assert_eq!(audit["audit"][1]["actor"], OWNER_EMAIL);
}

async fn expired_holds_are_swept_and_free_their_nights(engine: Engine) {
    let app = spawn_app(engine).await;
    let unit = cabin(&app, "arrayan").await["id"].as_i64().unwrap();
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &app.in_days(30), &app.in_days(33), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::minutes(61));
    // Before any sweep, the nights already count as free…
    let v: Value = app
        .get(&format!("/api/v1/availability?check_in={}&check_out={}", app.in_days(30), app.in_days(33)))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["accommodations"].as_array().unwrap().iter().any(|u| u["accommodation_id"] == unit && u["available"] == true)
    );
    // …and an admin cannot confirm the lapsed hold.
    let token = app.owner_token().await;
    let r = app.admin_send(Method::POST, &format!("/api/v1/reservations/{code}/confirm"), &token, None).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "hold_expired");
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &app.in_days(30), &app.in_days(33), "+5491100000102"))
        .await
        .json()
        .await
        .unwrap();
    let second = v["code"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::minutes(61));
    assert!(app.run_jobs().await >= 1);
    let v: Value = app.get(&format!("/api/v1/reservations/{second}")).await.json().await.unwrap();
    assert_eq!(v["reservation_status"], "expired");
}
