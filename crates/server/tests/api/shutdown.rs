//! Shutdown never waits on a client: an open dashboard page (its `/admin/events` stream), a
//! request whose body never arrives, and the real binary on SIGTERM with a stream open. The
//! browser test stops the server with a real page open too.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

both_engines!(an_open_event_stream_ends_when_the_server_stops);

/// Opens `/admin/events` with a session cookie; returns a task that reads the stream until it
/// ends and reports when.
async fn open_stream(base: &str, cookie: &str) -> tokio::task::JoinHandle<Instant> {
    let mut r = reqwest::Client::new()
        .get(format!("{base}/admin/events"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("open the event stream");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    tokio::spawn(async move {
        while let Ok(Some(_)) = r.chunk().await {}
        Instant::now()
    })
}

async fn an_open_event_stream_ends_when_the_server_stops(engine: Engine) {
    // The default grace (20 s): the stream must end at once, not when the grace runs out.
    let app = spawn_app(engine).await;
    let cookie = owner_ui(&app).await.cookie;
    let stream = open_stream(&app.address, &cookie).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stream.is_finished(), "the stream stays open while the server runs");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server did not stop within 10 s with a dashboard page open");
    let ended = tokio::time::timeout(Duration::from_secs(5), stream).await.expect("the stream ended").unwrap();
    assert!(ended.duration_since(started) < Duration::from_secs(5), "the stream ended at shutdown");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_never_finishes_is_dropped_when_the_grace_ends() {
    let app = spawn_app_with(
        Engine::Sqlite,
        Options { env: vec![("POSADA_SHUTDOWN_GRACE_S", "2".into())], ..Default::default() },
    )
    .await;
    // A body announced as 100 bytes of which 10 arrive: the request stays in flight forever.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    conn.write_all(
        b"POST /api/v1/nlu/analyze HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"text\":\"",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server did not stop within 10 s with a request stuck (grace 2 s)");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500), "the stuck request got its grace ({took:?})");
    assert!(took < Duration::from_secs(6), "stopped in {took:?}");
    drop(conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_the_binary_at_once_with_a_dashboard_stream_open() {
    let db = TestDatabase::new(Engine::Sqlite).await;
    let env = binary_env(&db);
    let bin = Binary::start(&["serve"], &env);
    let cookie = session_cookie_at(&bin.address, OWNER_EMAIL, OWNER_PASSWORD).await;
    let stream = open_stream(&bin.address, &cookie).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, logs) = tokio::task::spawn_blocking(move || bin.terminate()).await.unwrap();
    let took = started.elapsed();
    assert!(status.success(), "exit status {status}\n{logs}");
    // The default grace is 20 s: an open page must not use it up.
    assert!(took < Duration::from_secs(8), "SIGTERM took {took:?} with a stream open\n{logs}");
    tokio::time::timeout(Duration::from_secs(5), stream).await.expect("the stream ended").unwrap();
    assert!(logs.contains("\"stopped\""), "{logs}");
}
