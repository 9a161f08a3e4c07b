//! Logins on the open internet (issue 13, findings 1 and 3): one throttle for the JSON login and
//! the dashboard's, keyed by account and address with growing waits, a per-account ceiling that
//! never locks the owner out from an address that did not fail, and a bound on password checks
//! running at once so a burst of logins cannot exhaust memory.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::{cookie_pair, input_value, set_cookies};
use serde_json::{Value, json};
use std::sync::Arc;

both_engines!(
    both_logins_share_one_throttle_with_growing_waits,
    the_account_ceiling_never_locks_the_owner_out_from_a_clean_address,
    an_address_guessing_many_accounts_is_refused,
    simultaneous_wrong_logins_get_401_or_429_and_few_checks_run_at_once,
);

/// Behind a trusted proxy, so each test can speak from many addresses.
async fn app_behind_proxy(engine: Engine, extra: &[(&'static str, &str)]) -> TestApp {
    let mut env = vec![("POSADA_TRUSTED_PROXIES", "127.0.0.1".to_string())];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    spawn_app_with(engine, Options { env, ..Default::default() }).await
}

async fn api_login(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/admin/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn form_login(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    let form = app.client.get(app.url("/admin/login")).header("x-forwarded-for", ip).send().await.unwrap();
    let login_cookie = cookie_pair(set_cookies(&form).iter().find(|c| c.starts_with("posada_login=")).unwrap());
    let csrf = input_value(&form.text().await.unwrap(), "csrf").unwrap();
    app.client
        .post(app.url("/admin/login"))
        .header("cookie", login_cookie)
        .header("x-forwarded-for", ip)
        .form(&[("csrf", csrf.as_str()), ("email", email), ("password", password), ("next", "/admin")])
        .send()
        .await
        .unwrap()
}

/// A 429 from the JSON login: its Retry-After and message.
async fn throttled(r: reqwest::Response) -> (u64, String) {
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "login_throttled", "{e}");
    (retry, e["error"]["message"].as_str().unwrap().to_string())
}

async fn both_logins_share_one_throttle_with_growing_waits(engine: Engine) {
    let app = app_behind_proxy(engine, &[]).await;
    let ip = "203.0.113.5";
    // Three failures, through either door, are free.
    assert_eq!(api_login(&app, ip, OWNER_EMAIL, "guess-1").await.status(), 401);
    assert_eq!(form_login(&app, ip, OWNER_EMAIL, "guess-2").await.status(), 401);
    assert_eq!(api_login(&app, ip, OWNER_EMAIL, "guess-3").await.status(), 401);
    // Then each next try waits, longer every time, on both logins alike.
    let (wait, message) = throttled(api_login(&app, ip, OWNER_EMAIL, "guess-4").await).await;
    assert_eq!((wait, message.as_str()), (1, "Demasiados intentos fallidos. Esperá 1 segundo y probá de nuevo."));
    let r = form_login(&app, ip, OWNER_EMAIL, "guess-4").await;
    assert_eq!((r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()), (429, "1"));
    assert!(r.text().await.unwrap().contains("Esperá 1 segundo"));
    // Even the right password waits its turn: a guesser cannot tell.
    assert_eq!(throttled(api_login(&app, ip, OWNER_EMAIL, OWNER_PASSWORD).await).await.0, 1);
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(form_login(&app, ip, OWNER_EMAIL, "guess-5").await.status(), 401);
    assert_eq!(throttled(api_login(&app, ip, OWNER_EMAIL, "guess-6").await).await.0, 2);
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(api_login(&app, ip, OWNER_EMAIL, "guess-6").await.status(), 401);
    let (wait, message) = throttled(api_login(&app, ip, OWNER_EMAIL, "guess-7").await).await;
    assert_eq!((wait, message.as_str()), (4, "Demasiados intentos fallidos. Esperá 4 segundos y probá de nuevo."));

    // Meanwhile the owner, from home, gets in at once through either door.
    assert_eq!(api_login(&app, "198.51.100.20", OWNER_EMAIL, OWNER_PASSWORD).await.status(), 200);
    assert_eq!(form_login(&app, "198.51.100.21", OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
    // And after the wait, the right password from the guessing address works too, and starts it
    // afresh.
    app.clock.advance(chrono::Duration::seconds(4));
    assert_eq!(api_login(&app, ip, OWNER_EMAIL, OWNER_PASSWORD).await.status(), 200);
    assert_eq!(api_login(&app, ip, OWNER_EMAIL, "typo").await.status(), 401);

    // Counted in the metric, by login and reason.
    let metrics = app.metrics().await.text().await.unwrap();
    for line in [
        r#"login_throttled_total{login="api",reason="delay"}"#,
        r#"login_throttled_total{login="dashboard",reason="delay"}"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
}

async fn the_account_ceiling_never_locks_the_owner_out_from_a_clean_address(engine: Engine) {
    let app = app_behind_proxy(engine, &[]).await;
    // Twenty addresses, one guess each (never slowed down one by one): the account's ceiling.
    for i in 1..=20 {
        let ip = format!("198.51.100.{i}");
        let r = if i % 2 == 0 {
            form_login(&app, &ip, OWNER_EMAIL, "summer2026").await
        } else {
            api_login(&app, &ip, OWNER_EMAIL, "summer2026").await
        };
        assert_eq!(r.status(), 401, "{ip}");
    }
    // Every address that guessed now waits out the window, even with the right password...
    let (wait, message) = throttled(api_login(&app, "198.51.100.1", OWNER_EMAIL, OWNER_PASSWORD).await).await;
    assert!((14 * 60..=15 * 60).contains(&wait), "{wait}");
    assert_eq!(message, "Demasiados intentos fallidos para esta cuenta. Esperá 15 minutos y probá de nuevo.");
    let r = form_login(&app, "198.51.100.2", OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(r.status(), 429);
    // ...but the owner, from an address that did not fail, is never locked out (the dashboard's
    // old five-failure lock-out let anyone do exactly that).
    assert_eq!(api_login(&app, "192.0.2.77", OWNER_EMAIL, OWNER_PASSWORD).await.status(), 200);
    assert_eq!(form_login(&app, "192.0.2.78", OWNER_EMAIL, OWNER_PASSWORD).await.status(), 303);
    // Other accounts are untouched from the guessing addresses.
    let hash = server::auth::hash_password(secrecy::SecretString::from("staff-password".to_string())).await.unwrap();
    app.state.store.upsert_admin_user("staff@posada.test", &hash, store::Role::Staff, app.clock.now()).await.unwrap();
    assert_eq!(api_login(&app, "198.51.100.1", "staff@posada.test", "staff-password").await.status(), 200);
    // The window passes: the guessing addresses may try again.
    app.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(api_login(&app, "198.51.100.1", OWNER_EMAIL, OWNER_PASSWORD).await.status(), 200);
}

async fn an_address_guessing_many_accounts_is_refused(engine: Engine) {
    let app = app_behind_proxy(engine, &[("POSADA_LOGIN_ADDRESS_MAX_FAILURES", "10")]).await;
    let ip = "203.0.113.66";
    for i in 0..10 {
        assert_eq!(api_login(&app, ip, &format!("user{i}@posada.test"), "123456").await.status(), 401);
    }
    let (_, message) = throttled(api_login(&app, ip, OWNER_EMAIL, OWNER_PASSWORD).await).await;
    assert!(message.contains("desde esta conexión"), "{message}");
    let r = form_login(&app, ip, OWNER_EMAIL, OWNER_PASSWORD).await;
    assert!(r.text().await.unwrap().contains("desde esta conexión"));
    assert_eq!(api_login(&app, "203.0.113.67", OWNER_EMAIL, OWNER_PASSWORD).await.status(), 200);
}

/// 200 wrong logins at once: only 401 and 429 (never a 5xx or a hang), every 429 says when to
/// come back, and never more password checks at once than configured.
async fn simultaneous_wrong_logins_get_401_or_429_and_few_checks_run_at_once(engine: Engine) {
    async fn burst(app: &TestApp, n: usize, email: impl Fn(usize) -> String) -> Vec<(u16, Option<String>)> {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let mut tasks = Vec::new();
        for i in 0..n {
            let (client, barrier, url, email) =
                (client.clone(), barrier.clone(), app.url("/api/v1/admin/login"), email(i));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = client.post(url).json(&json!({"email": email, "password": "wrong"})).send().await.unwrap();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                (r.status().as_u16(), retry)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    // The gate alone (throttle off): two checks at a time, the rest wait 300 ms at most.
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![
                ("POSADA_LOGIN_CONCURRENCY", "2".into()),
                ("POSADA_LOGIN_QUEUE_WAIT_MS", "300".into()),
                ("POSADA_LOGIN_MAX_DELAY_S", "0".into()),
                ("POSADA_LOGIN_ACCOUNT_MAX_FAILURES", "0".into()),
                ("POSADA_LOGIN_ADDRESS_MAX_FAILURES", "0".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let answers = burst(&app, 200, |i| format!("user{i}@posada.test")).await;
    let refused = answers.iter().filter(|(s, _)| *s == 401).count();
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(refused + busy.len(), 200, "only 401 and 429: {answers:?}");
    assert!(refused >= 2 && !busy.is_empty(), "{refused} checked, {} busy", busy.len());
    assert!(busy.iter().all(|(_, retry)| retry.as_deref() == Some("1")), "{busy:?}");
    assert_eq!(app.state.login.gate.peak(), 2, "password checks at once");
    let r = app.post_json("/api/v1/admin/login", &json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD})).await;
    assert_eq!(r.status(), 200, "the gate lets the owner in once the burst is over");

    // With the throttle (defaults): guesses queued behind the gate stop as soon as the first
    // failures land, so only a handful of checks run at all.
    let app = spawn_app(engine).await;
    let answers = burst(&app, 200, |_| OWNER_EMAIL.to_string()).await;
    let refused = answers.iter().filter(|(s, _)| *s == 401).count();
    assert!(answers.iter().all(|(s, retry)| *s == 401 || (*s == 429 && retry.is_some())), "{answers:?}");
    assert!(refused <= 3 + 2, "{refused} passwords checked; the throttle allows 3 (+2 already at the gate)");
    assert!(app.state.login.gate.peak() <= 2);
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The finding as it was reproduced, against the real binary: 200 simultaneous wrong logins
/// from one address took it to a 3.9 GB peak. Now the peak stays far below 128 MiB and the
/// attempts are logged without the password.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_wrong_logins_keep_the_real_binary_small() {
    let db = TestDatabase::new(Engine::Sqlite).await;
    let env = binary_env(&db);
    let bin = Binary::start(&["serve"], &env);
    let pid = bin.child.id();
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, barrier, url) = (client.clone(), barrier.clone(), format!("{}/api/v1/admin/login", bin.address));
        // Half on the owner (the throttle stops those early), half on made-up accounts (only
        // the gate bounds those).
        let email = if i % 2 == 0 { OWNER_EMAIL.to_string() } else { format!("nadie{i}@posada.test") };
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let body = json!({"email": email, "password": "una-clave-equivocada"});
            client.post(url).json(&body).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    let peak_kib = status_kib(pid, "VmHWM:");
    assert!(codes.iter().all(|c| *c == 401 || *c == 429), "{codes:?}");
    assert!(peak_kib < 128 * 1024, "peak RSS {} MiB", peak_kib / 1024);
    // Memory went back: what stays is far below a single burst's worth of argon2 buffers.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let now_kib = status_kib(pid, "VmRSS:");
    assert!(now_kib < 96 * 1024, "RSS after the burst {} MiB", now_kib / 1024);
    let logs = bin.logs();
    assert!(logs.contains("login throttled"), "{logs}");
    assert!(!logs.contains("una-clave-equivocada"), "a password in the logs");
}
