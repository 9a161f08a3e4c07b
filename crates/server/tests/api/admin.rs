use crate::both_engines;
use crate::helpers::*;
use axum::http::Method;
use serde_json::{Value, json};

both_engines!(
    login_issues_tokens_and_refuses_the_rest,
    staff_cannot_change_prices,
    cabins_and_rate_rules_change_the_quote,
    reservations_are_listed_filtered_and_managed,
    the_calendar_shows_a_month,
);

async fn login_issues_tokens_and_refuses_the_rest(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.post_json("/api/v1/admin/login", &json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["token_type"].as_str(), v["expires_in"].as_i64()), (Some("bearer"), Some(43_200)));
    let token = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &token).await.status(), 200);
    for (email, password) in [(OWNER_EMAIL, "wrong"), ("nobody@x.test", OWNER_PASSWORD)] {
        let r = app.post_json("/api/v1/admin/login", &json!({"email": email, "password": password})).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    }
    assert_eq!(app.get("/api/v1/admin/reservations").await.status(), 401);
    assert_eq!(app.admin_get("/api/v1/admin/reservations", "forged.token.here").await.status(), 401);
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &tampered).await.status(), 401);
    app.clock.advance(chrono::Duration::hours(13));
    let r = app.admin_get("/api/v1/admin/reservations", &token).await;
    assert_eq!(r.status(), 401, "expired");
}

async fn staff_cannot_change_prices(engine: Engine) {
    let app = spawn_app(engine).await;
    let hash = server::auth::hash_password(secrecy::SecretString::from("staff-password".to_string())).await.unwrap();
    app.state.store.upsert_admin_user("staff@posada.test", &hash, store::Role::Staff, app.clock.now()).await.unwrap();
    let token = app.login("staff@posada.test", "staff-password").await;
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &token).await.status(), 200);
    let r = app
        .admin_send(Method::POST, "/api/v1/admin/rate-rules", &token, Some(&json!({"name": "x", "multiplier": 2.0})))
        .await;
    assert_eq!(r.status(), 403);
    let r = app.admin_send(Method::DELETE, "/api/v1/admin/accommodations/1", &token, None).await;
    assert_eq!(r.status(), 403);
}

async fn cabins_and_rate_rules_change_the_quote(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let r = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/accommodations",
            &token,
            Some(&json!({"name": "Ñire del Lago", "capacity": 5, "base_price": "70000.50", "weekend_multiplier": 1.5, "min_nights": 2, "amenities": ["wifi"]})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let unit: Value = r.json().await.unwrap();
    assert_eq!((unit["slug"].as_str(), unit["base_price"].as_str()), (Some("nire-del-lago"), Some("70000.50")));
    let id = unit["id"].as_i64().unwrap();
    let dup = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/accommodations",
            &token,
            Some(&json!({"name": "Ñire del lago", "capacity": 2, "base_price": 1})),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let bad = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/accommodations",
            &token,
            Some(&json!({"name": "X", "capacity": 0, "base_price": 1})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    // A season ×2 on this cabin from Monday for a week: a Tue→Wed night costs 140 001 (rounded).
    let monday = app.monday_in(4);
    let r = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/rate-rules",
            &token,
            Some(&json!({"accommodation_id": id, "name": "Alta", "start_date": monday, "end_date": monday + chrono::Duration::days(7), "multiplier": 2.0, "min_nights": 1})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let rule: Value = r.json().await.unwrap();
    let tue = monday + chrono::Duration::days(1);
    let wed = monday + chrono::Duration::days(2);
    let v: Value = app.get(&format!("/api/v1/availability?check_in={tue}&check_out={wed}")).await.json().await.unwrap();
    let q = v["accommodations"].as_array().unwrap().iter().find(|u| u["accommodation_id"] == id).unwrap().clone();
    assert_eq!(q["total_price"], "140001.00");
    assert_eq!(q["nightly"][0]["rule"], "Alta");
    // The cabin's own minimum (2) still applies: a rule can raise it, never lower it.
    assert_eq!((q["available"].as_bool(), q["reason"].as_str()), (Some(false), Some("min_nights")), "{q}");
    let bad = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/rate-rules",
            &token,
            Some(&json!({"name": "x", "multiplier": 2.0, "nightly_price": 5})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let rid = rule["id"].as_i64().unwrap();
    let r = app.admin_send(Method::DELETE, &format!("/api/v1/admin/rate-rules/{rid}"), &token, None).await;
    assert_eq!(r.status(), 204);
    let r = app.admin_send(Method::DELETE, &format!("/api/v1/admin/accommodations/{id}"), &token, None).await;
    assert_eq!(r.status(), 200);
    let public: Value = app.get("/api/v1/accommodations").await.json().await.unwrap();
    assert!(public.as_array().unwrap().iter().all(|u| u["id"] != id), "inactive cabins are not offered");
    let all: Value = app.admin_get("/api/v1/admin/accommodations", &token).await.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(app.admin_get("/api/v1/admin/accommodations/abc", &token).await.status(), 404);
}

async fn reservations_are_listed_filtered_and_managed(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let mut body = app.hold_body(2, &app.in_days(30), &app.in_days(33), "+5492944111111");
    body["contact_name"] = json!("María Gómez");
    body["channel"] = json!("web");
    let v: Value = app.pre_reserve(&body).await.json().await.unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    // An owner block next door, then a manual booking that overlaps it → 409.
    let r = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/reservations",
            &token,
            Some(&json!({"accommodation_id": 2, "check_in": app.in_days(33), "check_out": app.in_days(36), "kind": "block", "note": "pintura"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "blocked");
    let r = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/reservations",
            &token,
            Some(&json!({"accommodation_id": 2, "check_in": app.in_days(35), "check_out": app.in_days(37), "kind": "booking", "guests": 2, "guest_name": "Juan"})),
        )
        .await;
    assert_eq!(r.status(), 409);
    let list = |q: &str| {
        let app = &app;
        let token = token.clone();
        let q = q.to_string();
        async move { app.admin_get(&format!("/api/v1/admin/reservations{q}"), &token).await.json::<Value>().await.unwrap() }
    };
    assert_eq!(list("").await["total"], 2);
    assert_eq!(list("?status=blocked").await["total"], 1);
    assert_eq!(list("?channel=web").await["total"], 1);
    assert_eq!(list("?channel=whatsapp").await["total"], 0);
    assert_eq!(app.admin_get("/api/v1/admin/reservations?channel=telegram", &token).await.status(), 422);
    assert_eq!(list("?search=mar%C3%ADa").await["items"][0]["code"], code.as_str());
    assert_eq!(list("?search=111111").await["total"], 1);
    assert_eq!(list("?per_page=1&page=2").await["items"].as_array().unwrap().len(), 1);
    let r = app.admin_get("/api/v1/admin/reservations?status=bogus", &token).await;
    assert_eq!(r.status(), 422);
    // Moving the hold onto the block fails; moving it elsewhere works and is re-priced.
    let change = format!("/api/v1/admin/reservations/{code}/change");
    let r = app
        .admin_send(
            Method::POST,
            &change,
            &token,
            Some(&json!({"check_in": app.in_days(32), "check_out": app.in_days(34)})),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = app
        .admin_send(
            Method::POST,
            &change,
            &token,
            Some(&json!({"accommodation_id": 3, "check_in": app.in_days(32), "check_out": app.in_days(34)})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let moved: Value = r.json().await.unwrap();
    assert_eq!((moved["accommodation_id"].as_i64(), moved["nights"].as_i64()), (Some(3), Some(2)));
    let flags = format!("/api/v1/admin/reservations/{code}/flags");
    let r = app.admin_send(Method::POST, &flags, &token, Some(&json!({"flag": "conflict", "on": true}))).await;
    assert_eq!(r.json::<Value>().await.unwrap()["flags"], json!(["conflict"]));
    assert_eq!(list("?flag=conflict").await["total"], 1);
    let r = app
        .admin_send(Method::POST, &flags, &token, Some(&json!({"flag": "conflict", "on": false, "note": "revisado"})))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["flags"], json!([]));
    let r = app.admin_send(Method::POST, &flags, &token, Some(&json!({"flag": "nope", "on": true}))).await;
    assert_eq!(r.status(), 422);
}

async fn the_calendar_shows_a_month(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let v: Value = app
        .pre_reserve(&app.hold_body(2, &app.in_days(40), &app.in_days(43), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    let check_in: chrono::NaiveDate = v["check_in"].as_str().unwrap().parse().unwrap();
    use chrono::Datelike;
    let q = format!("/api/v1/admin/calendar/availability?month={}&year={}", check_in.month(), check_in.year());
    let cal: Value = app.admin_get(&q, &token).await.json().await.unwrap();
    assert!(cal["events"].as_array().unwrap().iter().any(|e| e["code"] == v["code"]));
    assert_eq!(cal["occupancy_rate"], 0.0, "a hold is not occupancy");
    let r = app.admin_get("/api/v1/admin/calendar/availability?month=13&year=2026", &token).await;
    assert_eq!(r.status(), 422);
}
