//! Bearer tokens follow the user's rights as stored now (issue 13, finding 4): a demotion, a
//! password reset or a removal ends older tokens at once; a token signed for a user that does
//! not exist is refused; staff cannot read or change the secret export URL or the feeds.

use crate::both_engines;
use crate::helpers::*;
use axum::http::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use store::Role;

both_engines!(
    a_demoted_owners_old_token_cannot_create_a_cabin,
    a_token_for_a_user_that_does_not_exist_is_refused,
    a_token_issued_before_a_password_reset_is_refused,
    staff_cannot_read_or_change_the_export_url_or_feeds,
);

async fn add_user(app: &TestApp, email: &str, password: &str, role: Role) {
    let hash = server::auth::hash_password(SecretString::from(password.to_string())).await.unwrap();
    app.state.store.upsert_admin_user(email, &hash, role, app.clock.now()).await.unwrap();
}

async fn create_cabin(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    let body = json!({"name": name, "capacity": 2, "base_price": "50000"});
    app.admin_send(Method::POST, "/api/v1/admin/accommodations", token, Some(&body)).await
}

async fn a_demoted_owners_old_token_cannot_create_a_cabin(engine: Engine) {
    let app = spawn_app(engine).await;
    add_user(&app, "socia@posada.test", "socia-password", Role::Owner).await;
    let old = app.login("socia@posada.test", "socia-password").await;
    assert_eq!(create_cabin(&app, &old, "Maitén del Token").await.status(), 201);

    app.state.store.set_admin_role("socia@posada.test", Role::Staff, app.clock.now()).await.unwrap();
    let r = create_cabin(&app, &old, "Ciprés del Token").await;
    assert_eq!(r.status(), 401, "the owner's token outlived the demotion");
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("iniciá sesión de nuevo"), "{e}");
    assert!(app.state.store.get_unit_by_slug("cipres-del-token").await.is_err(), "nothing was created");
    // Logging in again gives a staff token: reading works, owner's work does not.
    let staff = app.login("socia@posada.test", "socia-password").await;
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &staff).await.status(), 200);
    assert_eq!(create_cabin(&app, &staff, "Ciprés del Token").await.status(), 403);
    // Setting the same role again changes nothing: the staff token keeps working.
    app.state.store.set_admin_role("socia@posada.test", Role::Staff, app.clock.now()).await.unwrap();
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &staff).await.status(), 200);

    // Removed: the token finds no user.
    app.state.store.remove_admin_user("socia@posada.test").await.unwrap();
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &staff).await.status(), 401);
    // The other owner is untouched.
    let owner = app.owner_token().await;
    assert_eq!(create_cabin(&app, &owner, "Ciprés del Token").await.status(), 201);
}

async fn a_token_for_a_user_that_does_not_exist_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let secret = SecretString::from(JWT_SECRET.to_string());
    let now = app.clock.now().timestamp();
    // Rightly signed (the secret leaked, or the user was deleted), for nobody we know.
    let ghost = server::auth::issue_token(&secret, "ghost@posada.test", Role::Owner, 1, now);
    let r = app.admin_get("/api/v1/admin/reservations", &ghost).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    assert_eq!(create_cabin(&app, &ghost, "Cabaña Fantasma").await.status(), 401);
    // A real user's name with a role it does not have is refused too.
    add_user(&app, "staff@posada.test", "staff-password", Role::Staff).await;
    let promoted = server::auth::issue_token(&secret, "staff@posada.test", Role::Owner, 1, now);
    assert_eq!(create_cabin(&app, &promoted, "Cabaña Fantasma").await.status(), 401);
    // And the right claims for the real owner are fine (the check is not just "refuse all").
    let owner = server::auth::issue_token(&secret, OWNER_EMAIL, Role::Owner, 1, now);
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &owner).await.status(), 200);
}

async fn a_token_issued_before_a_password_reset_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let old = app.owner_token().await;
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &old).await.status(), 200);
    // The same password again (the owner ensured at every start) is not a reset.
    let same = app.state.store.get_admin_user(OWNER_EMAIL).await.unwrap();
    app.state.store.upsert_admin_user(OWNER_EMAIL, &same.password_hash, Role::Owner, app.clock.now()).await.unwrap();
    assert_eq!(app.admin_get("/api/v1/admin/reservations", &old).await.status(), 200);
    // A dashboard session, to see it end with the reset too.
    let session = store::NewAdminSession {
        token_hash: "h".repeat(64),
        user_id: same.id,
        csrf_token: "csrf".into(),
        ip: None,
        user_agent: None,
        expires_at: app.clock.now() + chrono::Duration::hours(1),
    };
    app.state.store.create_admin_session(&session, app.clock.now()).await.unwrap();

    add_user(&app, OWNER_EMAIL, "a-new-password-456", Role::Owner).await;
    let r = app.admin_get("/api/v1/admin/reservations", &old).await;
    assert_eq!(r.status(), 401, "a token from before the reset still worked");
    assert!(app.state.store.get_admin_session(&"h".repeat(64), app.clock.now()).await.is_err(), "session survived");
    let r = app.post_json("/api/v1/admin/login", &json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD})).await;
    assert_eq!(r.status(), 401, "the old password");
    let new = app.login(OWNER_EMAIL, "a-new-password-456").await;
    assert_eq!(create_cabin(&app, &new, "Lenga del Token").await.status(), 201);
}

async fn staff_cannot_read_or_change_the_export_url_or_feeds(engine: Engine) {
    let app = spawn_app(engine).await;
    let owner = app.owner_token().await;
    let feed = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/accommodations/1/ical-feeds",
            &owner,
            Some(&json!({"url": "https://www.airbnb.com/calendar/ical/1.ics?s=secret"})),
        )
        .await;
    assert_eq!(feed.status(), 201);
    let feed_id = feed.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let before = app.admin_get("/api/v1/admin/accommodations/1/ical", &owner).await;
    assert_eq!(before.status(), 200);
    let before: Value = before.json().await.unwrap();
    assert!(before["export_url"].as_str().unwrap().contains("/ical/"), "{before}");

    add_user(&app, "staff@posada.test", "staff-password", Role::Staff).await;
    let staff = app.login("staff@posada.test", "staff-password").await;
    let feed_path = format!("/api/v1/admin/accommodations/1/ical-feeds/{feed_id}");
    let body = json!({"url": "https://example.test/cal.ics"});
    for (method, path, body) in [
        (Method::GET, "/api/v1/admin/accommodations/1/ical", None),
        (Method::POST, "/api/v1/admin/accommodations/1/ical/rotate-token", None),
        (Method::POST, "/api/v1/admin/accommodations/1/ical-feeds", Some(&body)),
        (Method::DELETE, feed_path.as_str(), None),
        (Method::POST, "/api/v1/admin/ical/sync", None),
    ] {
        let r = app.admin_send(method.clone(), path, &staff, body).await;
        assert_eq!(r.status(), 403, "{method} {path}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["message"], "Esta acción es solo para el dueño.", "{method} {path}");
    }
    // Nothing changed: the same export URL, the one feed.
    let after: Value = app.admin_get("/api/v1/admin/accommodations/1/ical", &owner).await.json().await.unwrap();
    assert_eq!(after["export_url"], before["export_url"]);
    assert_eq!(after["feeds"].as_array().unwrap().len(), 1);
    // Staff still sees the conflicts list (no secret in it).
    assert_eq!(app.admin_get("/api/v1/admin/ical/conflicts", &staff).await.status(), 200);
}
