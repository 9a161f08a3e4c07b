//! A dashboard client for tests: logs in through the form (login CSRF cookie, session cookie)
//! and posts forms with the session's CSRF token.

#![allow(dead_code)]

use crate::helpers::*;
use reqwest::StatusCode;

pub struct Ui<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
    pub csrf: String,
}

/// The value of `name="…" value="…"` in a page (first match).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!(r#"name="{name}" value=""#))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

pub fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(String::from).collect()
}

pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

/// GET /admin/login, then POST the form; returns the raw response of the POST.
pub async fn submit_login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    submit_login_at(&app.client, &app.address, email, password).await
}

/// The login form against any running server (the real binary too).
pub async fn submit_login_at(client: &reqwest::Client, base: &str, email: &str, password: &str) -> reqwest::Response {
    let form = client.get(format!("{base}/admin/login")).send().await.unwrap();
    let login_cookie = cookie_pair(set_cookies(&form).iter().find(|c| c.starts_with("posada_login=")).unwrap());
    let html = form.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    client
        .post(format!("{base}/admin/login"))
        .header("cookie", login_cookie)
        .form(&[("csrf", csrf.as_str()), ("email", email), ("password", password), ("next", "/admin")])
        .send()
        .await
        .unwrap()
}

/// A dashboard session cookie (`posada_session=…`) from any running server.
pub async fn session_cookie_at(base: &str, email: &str, password: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = submit_login_at(&client, base, email, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {email}");
    cookie_pair(set_cookies(&r).iter().find(|c| c.starts_with("posada_session=")).unwrap())
}

pub async fn ui_login<'a>(app: &'a TestApp, email: &str, password: &str) -> Ui<'a> {
    let r = submit_login(app, email, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {email}");
    let cookie = cookie_pair(set_cookies(&r).iter().find(|c| c.starts_with("posada_session=")).unwrap());
    let mut ui = Ui { app, cookie, csrf: String::new() };
    let home = ui.get("/admin").await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    let at = html.find("data-csrf=\"").unwrap() + 11;
    ui.csrf = html[at..at + html[at..].find('"').unwrap()].to_string();
    ui
}

pub async fn owner_ui(app: &TestApp) -> Ui<'_> {
    ui_login(app, OWNER_EMAIL, OWNER_PASSWORD).await
}

pub async fn staff_ui(app: &TestApp) -> Ui<'_> {
    let hash = server::auth::hash_password(secrecy::SecretString::from("staff-password".to_string())).await.unwrap();
    app.state.store.upsert_admin_user("staff@posada.test", &hash, store::Role::Staff, app.clock.now()).await.unwrap();
    ui_login(app, "staff@posada.test", "staff-password").await
}

impl Ui<'_> {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.app.client.get(self.app.url(path)).header("cookie", &self.cookie).send().await.unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    /// POSTs a form with the CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.app.client.post(self.app.url(path)).header("cookie", &self.cookie).form(fields).send().await.unwrap()
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Places a hold through the public API; returns its code.
pub async fn hold(app: &TestApp, unit: i64, from_days: i64, to_days: i64, name: &str, phone: &str) -> String {
    let mut body = app.hold_body(unit, &app.in_days(from_days), &app.in_days(to_days), phone);
    body["contact_name"] = name.into();
    let r = app.pre_reserve(&body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_string()
}

/// An imported Airbnb booking on `unit`.
pub async fn imported_block(app: &TestApp, unit: i64, from_days: i64, to_days: i64) {
    let store = &app.state.store;
    let now = app.clock.now();
    let feed = store.add_feed(unit, &format!("https://www.airbnb.test/{unit}.ics"), "airbnb", now).await.unwrap();
    let ev = store::IncomingEvent {
        uid: format!("airbnb-{unit}-{from_days}"),
        stay: domain::Stay::new(app.in_days(from_days).parse().unwrap(), app.in_days(to_days).parse().unwrap())
            .unwrap(),
        kind: "booking".into(),
        summary: "Reserved".into(),
        reference: None,
    };
    let rules = store::ApplyRules { replace_blocks_wholesale: false, missing_grace: chrono::Duration::hours(24) };
    store.apply_feed(feed.id, &[ev], None, None, rules, now).await.unwrap();
}
