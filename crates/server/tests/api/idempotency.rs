use crate::both_engines;
use crate::helpers::*;
use serde_json::Value;

both_engines!(a_repeated_key_replays_and_a_reused_key_is_refused, confirm_with_a_key_runs_once);

async fn a_repeated_key_replays_and_a_reused_key_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let body = app.hold_body(2, &app.in_days(30), &app.in_days(33), "+5491100000001");
    let send = |b: &Value, key: &str| {
        app.client.post(app.url("/api/v1/reservations/pre-reserve")).header("Idempotency-Key", key).json(b).send()
    };
    let first = send(&body, "key-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(&body, "key-1").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "the stored response, not a second hold");
    let (_, total) =
        app.state.store.list_reservations(&store::ReservationFilter { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(total, 1);
    let mut other = body.clone();
    other["guests"] = serde_json::json!(3);
    let r = send(&other, "key-1").await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "idempotency_key_reused");
    // A refused request is replayed as refused too.
    let conflict = send(&body, "key-2").await.unwrap();
    assert_eq!(conflict.status(), 409);
    assert_eq!(send(&body, "key-2").await.unwrap().status(), 409);
}

async fn confirm_with_a_key_runs_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let v: Value = app
        .pre_reserve(&app.hold_body(2, &app.in_days(30), &app.in_days(33), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap();
    let token = app.owner_token().await;
    let confirm = || {
        app.client
            .post(app.url(&format!("/api/v1/reservations/{code}/confirm")))
            .bearer_auth(&token)
            .header("Idempotency-Key", "confirm-1")
            .send()
    };
    let a = confirm().await.unwrap();
    assert_eq!(a.status(), 200);
    let b = confirm().await.unwrap();
    assert_eq!(b.status(), 200, "a retried confirm gets the first answer, not a 409");
    let audit = app.state.store.audit_for(app.state.store.get_reservation(code).await.unwrap().id).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "confirmed").count(), 1);
}
