//! The test kit every capability reuses: `spawn_app` on port 0 with a fresh database of either
//! engine, a macro that runs one test body on both engines, the real `posada` binary on demand,
//! and a recording fake HTTP upstream for external APIs.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use server::app::Application;
use server::clock::Clock;
use server::config::{Config, Mode, Source};
use server::state::AppState;
use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
pub use store::testing::{Engine, TestDatabase};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";
pub const OWNER_EMAIL: &str = "owner@posada.test";
pub const OWNER_PASSWORD: &str = "owner-password-123";
pub const METRICS_TOKEN: &str = "test-metrics-token-0123";

/// Runs `async fn name(engine: Engine)` once per engine, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::helpers::Engine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name($crate::helpers::Engine::Postgres).await })*
        }
    };
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Clock,
    pub db: TestDatabase,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Turns the test database's URL into the one the app uses.
pub type UrlRewrite = Box<dyn Fn(&str) -> String + Send>;

#[derive(Default)]
pub struct Options {
    pub env: Vec<(&'static str, String)>,
    pub worker: bool,
    /// Start the app's clock here instead of at the real time (it runs on from there).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The URL the app connects with, from the test database's (e.g. through a proxy).
    pub database_url: Option<UrlRewrite>,
}

pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_app_with(engine, Options::default()).await
}

pub fn test_config(db_url: &str, extra: &[(&'static str, String)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("POSADA_DATABASE_URL".into(), db_url.into()),
        ("POSADA_BIND".into(), "127.0.0.1:0".into()),
        ("POSADA_JWT_SECRET".into(), JWT_SECRET.into()),
        ("POSADA_ADMIN_EMAIL".into(), OWNER_EMAIL.into()),
        ("POSADA_ADMIN_PASSWORD".into(), OWNER_PASSWORD.into()),
        ("POSADA_RATE_LIMIT_PER_MIN".into(), "0".into()),
        ("POSADA_DB_MAX_CONNECTIONS".into(), "16".into()),
        ("POSADA_METRICS_TOKEN".into(), METRICS_TOKEN.into()),
        // Like the rate limit: tests place many holds from 127.0.0.1 (holds_abuse sets it).
        ("POSADA_MAX_HOLDS_PER_ADDRESS".into(), "0".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v.clone()));
    }
    Config::load(&Source::from_pairs(pairs).unwrap(), Mode::Serve).expect("test config")
}

pub async fn spawn_app_with(engine: Engine, options: Options) -> TestApp {
    init_test_logs();
    let db = TestDatabase::new(engine).await;
    let url = options.database_url.as_ref().map(|f| f(&db.url)).unwrap_or_else(|| db.url.clone());
    let config = test_config(&url, &options.env);
    let clock = options.now.map(Clock::starting_at).unwrap_or_default();
    let mut app = Application::build_with_clock(config, clock.clone()).await.expect("build app");
    if !options.worker {
        app = app.without_worker();
    }
    let port = app.port();
    let state = app.state();
    server::demo::seed(state.store.as_ref(), clock.now()).await.expect("seed demo cabins");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        state,
        clock,
        db,
        stop: Some(tx),
        handle: Some(handle),
    }
}

/// Logs go to the test output only when TEST_LOG is set.
fn init_test_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            server::telemetry::init("info", server::config::LogFormat::Pretty);
        }
    });
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Today in the property's zone by the app's clock: the one "today" the product uses.
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today_in(self.state.config.timezone)
    }

    /// A date `days` from the property's today, as the API wants it.
    pub fn in_days(&self, days: i64) -> String {
        (self.today() + chrono::Duration::days(days)).to_string()
    }

    /// A Monday at least `weeks` weeks after the property's today (stable weekday arithmetic for
    /// pricing).
    pub fn monday_in(&self, weeks: i64) -> chrono::NaiveDate {
        use chrono::Datelike;
        let today = self.today();
        let to_monday = (7 - today.weekday().num_days_from_monday() as i64) % 7;
        today + chrono::Duration::days(to_monday + 7 * weeks)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    /// `GET /metrics` on the main port, with the metrics token.
    pub async fn metrics(&self) -> reqwest::Response {
        self.client.get(self.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.expect("request")
    }

    pub async fn owner_token(&self) -> String {
        self.login(OWNER_EMAIL, OWNER_PASSWORD).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self.post_json("/api/v1/admin/login", &json!({"email": email, "password": password})).await;
        assert_eq!(r.status(), 200, "login of {email}");
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
    }

    pub async fn admin_get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn admin_send(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> reqwest::Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request")
    }

    /// A hold request body for a demo cabin.
    pub fn hold_body(&self, unit: i64, check_in: &str, check_out: &str, phone: &str) -> Value {
        json!({
            "accommodation_id": unit,
            "check_in": check_in,
            "check_out": check_out,
            "guests": 2,
            "channel": "api",
            "contact_name": "Ana Pérez",
            "contact_phone": phone,
            "contact_email": "ana@example.test",
        })
    }

    pub async fn pre_reserve(&self, body: &Value) -> reqwest::Response {
        self.post_json("/api/v1/reservations/pre-reserve", body).await
    }

    /// Runs due jobs synchronously (the worker is off in most tests).
    pub async fn run_jobs(&self) -> usize {
        let worker = server::jobs::Worker::new(self.state.clone());
        worker.ensure_recurring().await.unwrap();
        let mut total = 0;
        loop {
            let n = worker.run_once().await.unwrap();
            total += n;
            if n == 0 {
                break total;
            }
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// "Today" for tests that run the real binary (its clock is the system's): the property's date in
/// the default zone, never the UTC date — between 21:00 and 24:00 in Argentina they differ.
pub fn property_today() -> chrono::NaiveDate {
    Clock::system().today_in(chrono_tz::America::Argentina::Buenos_Aires)
}

/// A date `days` from the property's today (real-binary tests; `TestApp::in_days` otherwise).
pub fn property_in_days(days: i64) -> String {
    (property_today() + chrono::Duration::days(days)).to_string()
}

// ---------------------------------------------------------------------------------------------
// The real binary.

/// What `posada serve` needs to run on `db` with the test owner, on a free port.
pub fn binary_env(db: &TestDatabase) -> Vec<(&'static str, String)> {
    vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".into()),
        ("POSADA_JWT_SECRET", JWT_SECRET.into()),
        ("POSADA_ADMIN_EMAIL", OWNER_EMAIL.into()),
        ("POSADA_ADMIN_PASSWORD", OWNER_PASSWORD.into()),
        ("POSADA_LOG", "info".into()),
    ]
}

pub struct Binary {
    pub child: Child,
    pub address: String,
    pub stderr_path: std::path::PathBuf,
}

impl Binary {
    /// Starts `posada <args>` with exactly these variables (plus PATH/HOME), waits until it listens.
    pub fn start(args: &[&str], env: &[(&str, String)]) -> Binary {
        let stderr_path = std::env::temp_dir().join(format!("posada-bin-{:016x}.log", rand::random::<u64>()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_posada"));
        cmd.args(args).env_clear().stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        for var in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(var) {
                cmd.env(var, v);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        #[allow(clippy::zombie_processes)] // Binary's Drop kills and waits.
        let child = cmd.spawn().expect("start posada");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if let Some(addr) = log
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["message"] == "listening")
                .and_then(|v| v["addr"].as_str().map(String::from))
            {
                return Binary { child, address: format!("http://{addr}"), stderr_path };
            }
            assert!(std::time::Instant::now() < deadline, "posada did not start:\n{log}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let logs = self.logs();
                let _ = std::fs::remove_file(&self.stderr_path);
                return (status, logs);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("posada did not stop after SIGTERM:\n{}", self.logs());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A recording fake upstream (Graph API, Mercado Pago, OTA feeds, STT…).

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct Canned {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Wait this long before answering (to provoke timeouts).
    pub delay_ms: u64,
}

impl Canned {
    pub fn json(status: u16, body: Value) -> Canned {
        Canned {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
            delay_ms: 0,
        }
    }
    pub fn text(status: u16, content_type: &str, body: &str) -> Canned {
        Canned {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type".into(), content_type.into())],
            body: Bytes::from(body.to_string()),
            delay_ms: 0,
        }
    }
    pub fn bytes(status: u16, content_type: &str, body: &[u8]) -> Canned {
        Canned {
            status: StatusCode::from_u16(status).unwrap(),
            headers: vec![("content-type".into(), content_type.into())],
            body: Bytes::copy_from_slice(body),
            delay_ms: 0,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn delayed(mut self, ms: u64) -> Canned {
        self.delay_ms = ms;
        self
    }
}

#[derive(Clone, Default)]
pub struct FakeUpstream {
    pub address: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Answers in order; when empty, `fallback` answers.
    queue: Arc<Mutex<VecDeque<Canned>>>,
    fallback: Arc<Mutex<Option<Canned>>>,
    /// Fixed answers for some paths (checked first).
    by_path: Arc<Mutex<Vec<(String, Canned)>>>,
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeUpstream { address, ..Default::default() };
        let shared = fake.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let fake = shared.clone();
            async move {
                fake.requests.lock().unwrap().push(Recorded {
                    method,
                    path: uri.path().to_string(),
                    query: uri.query().map(String::from),
                    headers,
                    body,
                });
                let fixed = fake.by_path.lock().unwrap().iter().find(|(p, _)| *p == uri.path()).map(|(_, c)| c.clone());
                let canned = fixed
                    .or_else(|| fake.queue.lock().unwrap().pop_front())
                    .or_else(|| fake.fallback.lock().unwrap().clone())
                    .unwrap_or_else(|| Canned::json(200, json!({})));
                if canned.delay_ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(canned.delay_ms)).await;
                }
                let mut response = axum::response::Response::builder().status(canned.status);
                for (k, v) in &canned.headers {
                    response = response.header(k, v);
                }
                response.body(axum::body::Body::from(canned.body)).unwrap()
            }
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        fake
    }

    pub fn respond_next(&self, canned: Canned) {
        self.queue.lock().unwrap().push_back(canned);
    }

    /// Answers `path` with `canned` from now on (replacing an earlier answer for it).
    pub fn respond_at(&self, path: &str, canned: Canned) {
        let mut by_path = self.by_path.lock().unwrap();
        by_path.retain(|(p, _)| p != path);
        by_path.push((path.to_string(), canned));
    }

    pub fn respond_always(&self, canned: Canned) {
        *self.fallback.lock().unwrap() = Some(canned);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}
