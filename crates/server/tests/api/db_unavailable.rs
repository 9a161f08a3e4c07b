//! A database that cannot answer (restarting, unreachable, locked) is the service's trouble, not
//! the request's: 503 with `Retry-After` and a Spanish message, never 500, nothing half-written,
//! and the service recovers by itself when the database is back.

use crate::helpers::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A TCP relay in front of PostgreSQL that can be cut (every open connection dropped, new ones
/// closed on arrival) and restored: what a database restart or a network blip looks like.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                open2.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `scheme://user@host:port/db?q` → (`host:port`, a function putting another port in its place).
fn authority(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let auth = rest.split(['/', '?']).next().unwrap();
    let host_port = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
    if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:5432") }
}

async fn assert_503(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 503, "{what}");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry), "{what}: Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Probá de nuevo"), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_unreachable_answers_503_and_recovers() {
    let upstream = authority(&store::testing::postgres_base_url());
    let relay = Relay::start(upstream.clone()).await;
    let port = relay.port;
    let app = spawn_app_with(
        Engine::Postgres,
        Options {
            database_url: Some(Box::new(move |url| url.replacen(&upstream, &format!("127.0.0.1:{port}"), 1))),
            ..Default::default()
        },
    )
    .await;
    let token = app.owner_token().await;
    let dashboard = crate::ui::owner_ui(&app).await;
    let (from, to) = (app.in_days(20), app.in_days(22));
    assert_eq!(app.pre_reserve(&app.hold_body(1, &from, &to, "+5492944000001")).await.status(), 201);

    relay.cut();
    let started = Instant::now();
    assert_503(app.pre_reserve(&app.hold_body(2, &from, &to, "+5492944000002")).await, "a hold").await;
    assert_503(app.get(&format!("/api/v1/availability?check_in={from}&check_out={to}&guests=2")).await, "availability")
        .await;
    assert_503(app.admin_get("/api/v1/admin/reservations", &token).await, "admin list").await;
    // The dashboard says the same in a page, and keeps the owner logged in.
    let page = dashboard.get("/admin/reservas").await;
    assert_eq!(page.status(), 503, "dashboard page");
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("no se guardó ningún cambio"));
    assert!(started.elapsed() < Duration::from_secs(40), "answered in {:?}", started.elapsed());

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let r = app.pre_reserve(&app.hold_body(2, &from, &to, "+5492944000002")).await;
        if r.status() != 503 || Instant::now() > deadline {
            break r.status();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 201, "the service recovered by itself once the database was back");
    // Nothing was half-written while it was down: exactly the two holds that got a 201.
    let r: Value = app.admin_get("/api/v1/admin/reservations", &token).await.json().await.unwrap();
    let phones: Vec<&str> = r["items"].as_array().unwrap().iter().filter_map(|x| x["guest_phone"].as_str()).collect();
    assert_eq!(phones.iter().filter(|p| p.starts_with("+549294400000")).count(), 2, "{r}");
    app.stop().await;
}

/// Another process holds SQLite's write lock past the busy timeout (a backup tool, a shell left
/// in a transaction): the write answers 503 and reads carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_locked_answers_503_and_reads_carry_on() {
    use sqlx::{Connection, Executor};
    let app = spawn_app(Engine::Sqlite).await;
    let (from, to) = (app.in_days(20), app.in_days(22));
    let mut holder = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
    holder.execute("BEGIN EXCLUSIVE").await.unwrap();

    let r = app.get(&format!("/api/v1/availability?check_in={from}&check_out={to}&guests=2")).await;
    assert_eq!(r.status(), 200, "reads do not wait for the writer (WAL)");
    assert_503(app.pre_reserve(&app.hold_body(1, &from, &to, "+5492944000003")).await, "a hold on a locked file").await;

    holder.execute("ROLLBACK").await.unwrap();
    assert_eq!(app.pre_reserve(&app.hold_body(1, &from, &to, "+5492944000003")).await.status(), 201);
    app.stop().await;
}
