//! The sandbox chat's clients stay within the rate limit and never lose what the guest typed:
//! replies come by long polling (one waiting request, not three a second), a message carries
//! its own id (a retry is stored once), and `posada chat` waits out a 429 instead of exiting.
//! The web chat's retries are proven in the browser (`browser::the_sandbox_chat_*`).

use crate::both_engines;
use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

both_engines!(replies_arrive_by_long_polling, a_retried_message_is_stored_once);

pub async fn sandbox_worker_app(engine: Engine, extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = vec![("POSADA_SANDBOX", "true".to_string())];
    env.extend(extra);
    spawn_app_with(engine, Options { env, worker: true, ..Default::default() }).await
}

async fn poll(app: &TestApp, session: &str, after: i64, wait: u64) -> Value {
    let r = app.get(&format!("/sandbox/api/messages?session={session}&after={after}&wait={wait}")).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn replies_arrive_by_long_polling(engine: Engine) {
    let app = sandbox_worker_app(engine, vec![]).await;
    // Nothing yet: the poll waits the time asked for, then answers empty.
    let started = Instant::now();
    assert_eq!(poll(&app, "long-1", 0, 1).await["messages"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited ({:?})", started.elapsed());
    // A poll waiting when the guest writes returns with the reply, long before its 20 s.
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/sandbox/api/messages?session=long-1&after=0&wait=20"));
        tokio::spawn(async move {
            let started = Instant::now();
            let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            (v, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = app.post_json("/sandbox/api/messages", &json!({"session": "long-1", "name": "Ana", "text": "hola"})).await;
    assert_eq!(r.status(), 202);
    let (v, took) = waiting.await.unwrap();
    assert!(took < Duration::from_secs(15), "answered when the news came ({took:?})");
    let mut seen = v["messages"].as_array().unwrap().clone();
    // The guest's own message may come first; the reply follows on the next poll at the latest.
    let mut after = seen.iter().filter_map(|m| m["id"].as_i64()).max().unwrap_or(0);
    for _ in 0..3 {
        if seen.iter().any(|m| m["direction"] == "out") {
            break;
        }
        let more = poll(&app, "long-1", after, 10).await;
        seen.extend(more["messages"].as_array().unwrap().iter().cloned());
        after = seen.iter().filter_map(|m| m["id"].as_i64()).max().unwrap_or(after);
    }
    assert!(
        seen.iter().any(|m| m["direction"] == "out" && m["body"].as_str().unwrap().contains("Ana")),
        "the bot's greeting came through the long poll: {seen:?}"
    );
    // Waits are bounded: 31 s or more is cut to 30 s; garbage is a clear 422.
    let r = app.get("/sandbox/api/messages?session=long-1&wait=abc").await;
    assert_eq!(r.status(), 422);
    // A waiting poll answers at once when the server stops.
    let waiting = {
        let (client, url) =
            (app.client.clone(), app.url(&format!("/sandbox/api/messages?session=long-1&after={after}&wait=30")));
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client.get(url).send().await;
            (r.map(|r| r.status().as_u16()).unwrap_or(0), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("the server stopped with a poll waiting");
    assert!(stopped.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopped.elapsed());
    let (status, took) = waiting.await.unwrap();
    assert!(took < Duration::from_secs(10), "the waiting poll ended at shutdown ({status}, {took:?})");
}

async fn a_retried_message_is_stored_once(engine: Engine) {
    let app = sandbox_worker_app(engine, vec![]).await;
    let body = json!({"session": "retry-1", "name": "Ana", "text": "hola", "client_id": "m1"});
    let first = app.post_json("/sandbox/api/messages", &body).await;
    assert_eq!(first.status(), 202);
    // The answer was lost on the way: the client sends the same message again.
    let again = app.post_json("/sandbox/api/messages", &body).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
    let other = json!({"session": "retry-1", "text": "somos 2", "client_id": "m2"});
    assert_eq!(app.post_json("/sandbox/api/messages", &other).await.status(), 202);
    let bad = json!({"session": "retry-1", "text": "x", "client_id": "no spaces allowed"});
    assert_eq!(app.post_json("/sandbox/api/messages", &bad).await.status(), 422);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = poll(&app, "retry-1", 0, 0).await;
        let ins: Vec<String> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "in")
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect();
        if ins.len() >= 2 {
            assert_eq!(ins, vec!["hola", "somos 2"], "each message once, in order");
            break;
        }
        assert!(Instant::now() < deadline, "the messages were answered: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// Spends the address's whole burst (the test and the clients share 127.0.0.1).
pub async fn exhaust_rate_limit(app: &TestApp) {
    for _ in 0..50 {
        if app.get("/api/v1/accommodations").await.status() == 429 {
            return;
        }
    }
    panic!("the rate limit never answered 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_terminal_chat_waits_out_a_429_and_loses_no_line() {
    // 30 requests a minute (one every 2 s), 4 at once: the old client (a poll every 300 ms, exit
    // on the first refused send) lost the guest's message within seconds.
    let app = sandbox_worker_app(
        Engine::Sqlite,
        vec![("POSADA_RATE_LIMIT_PER_MIN", "30".into()), ("POSADA_RATE_LIMIT_BURST", "4".into())],
    )
    .await;
    exhaust_rate_limit(&app).await;
    let mut chat = Command::new(env!("CARGO_BIN_EXE_posada"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["chat", "--url", &app.address, "--name", "Ana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = ["hola", "quiero hablar con una persona"];
    chat.stdin.take().unwrap().write_all(format!("{}\n", lines.join("\n")).as_bytes()).unwrap();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || chat.wait_with_output()).await.unwrap().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the client kept going: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(90), "took {:?}", started.elapsed());
    assert!(stderr.contains("demasiados pedidos seguidos"), "it said why it waited: {stderr}");
    let contact = app.state.store.find_contact(domain::Channel::Sandbox, &session_of(&app).await).await.unwrap();
    let ins: Vec<String> = app
        .state
        .store
        .list_messages(contact.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == "in")
        .map(|m| m.body)
        .collect();
    assert_eq!(ins, lines, "every line reached the server once, in order");
    assert!(stdout.contains("Ana"), "the bot's greeting was printed: {stdout}");
    assert!(contact.handed_off, "the second line was understood too");
    app.stop().await;
}

/// The terminal client's session (the only sandbox contact of the app).
async fn session_of(app: &TestApp) -> String {
    let list = app.state.store.list_contacts(10).await.unwrap();
    let c = list.iter().find(|c| c.channel == domain::Channel::Sandbox).expect("a sandbox chat");
    c.address.clone()
}

/// The web chat in Chromium: a button tapped and a line typed while the server answers 429 are
/// kept, shown as waiting, sent when the limit allows — once each —, and the bot's reply shows
/// its *bold* code in bold and the payment link as a link.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_chat_keeps_what_the_guest_tapped_and_typed_through_a_429() {
    use crate::webdriver::Driver;
    use crate::whatsapp::date_words;
    let Some(d) = Driver::start(390, 800).await else { return };
    let app = sandbox_worker_app(
        Engine::Sqlite,
        vec![
            ("POSADA_RATE_LIMIT_PER_MIN", "30".into()),
            ("POSADA_RATE_LIMIT_BURST", "8".into()),
            ("POSADA_PAYMENT_PROVIDER", "sandbox".into()),
        ],
    )
    .await;
    d.goto(&app.url("/sandbox/chat")).await;
    d.find("#t").await;
    let ask = format!("hola, ¿tienen lugar del {} al {} para 2?", date_words(30), date_words(32));
    d.type_into("#t", &ask).await;
    d.click("form button").await;
    // The bot offers the cabins as buttons.
    d.wait_text("#log", "Reservar", Duration::from_secs(20)).await;
    let button = "#log .choices button";
    d.find(button).await;
    let title = d.text(button).await;
    // Now the address is over its limit: the tap waits, visibly, and goes through later. The
    // limit is kept exhausted until the page shows the notice: on a busy machine the click can
    // take longer than the 2 s a new token needs, and the tap would simply go through.
    exhaust_rate_limit(&app).await;
    let hammer = {
        let (http, url) = (reqwest::Client::new(), app.url("/api/v1/accommodations"));
        tokio::spawn(async move {
            loop {
                let _ = http.get(&url).send().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    d.click(button).await;
    d.wait_text("#status", "Demasiados mensajes seguidos", Duration::from_secs(10)).await;
    hammer.abort();
    d.type_into("#t", "¿aceptan mascotas?").await;
    d.click("form button").await;
    // The web chat has no profile name: the bot asks once for the name on the reservation.
    d.wait_text("#log", "A nombre de quién", Duration::from_secs(40)).await;
    d.type_into("#t", "Lucía Gómez").await;
    d.click("form button").await;
    // The reply with the hold: its code in bold, its payment link clickable.
    d.wait_text("#log", "/sandbox/pay/", Duration::from_secs(30)).await;
    let link =
        d.script("var a = document.querySelector('#log a[href*=\"/sandbox/pay/\"]'); return a ? a.href : ''").await;
    assert!(link.as_str().unwrap().starts_with(&app.address), "the payment link is a link: {link}");
    let bold = d
        .script(
            "return Array.from(document.querySelectorAll('#log strong')).map(function (b) { return b.textContent; })",
        )
        .await;
    let holds = app
        .state
        .store
        .list_reservations(&store::ReservationFilter { limit: 10, ..Default::default() })
        .await
        .unwrap()
        .0;
    assert_eq!(holds.len(), 1, "one hold from one tap");
    assert!(bold.as_array().unwrap().iter().any(|b| b == holds[0].code.as_str()), "the code in bold: {bold}");
    assert!(!d.text("#log").await.contains(&format!("*{}*", holds[0].code)), "no asterisks shown");
    // Both waited messages arrived, once each, in order.
    d.wait_text("#log", "mascotas", Duration::from_secs(10)).await;
    let contact = app
        .state
        .store
        .list_contacts(10)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.channel == domain::Channel::Sandbox)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ins: Vec<String> = app
            .state
            .store
            .list_messages(contact.id, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.direction == "in")
            .map(|m| m.body)
            .collect();
        if ins.len() >= 4 {
            let want = vec![ask.clone(), title.clone(), "¿aceptan mascotas?".to_string(), "Lucía Gómez".to_string()];
            assert_eq!(ins, want);
            break;
        }
        assert!(Instant::now() < deadline, "the waiting messages were sent: {ins:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while d.script("return document.getElementById('status').className").await != "" {
        assert!(Instant::now() < deadline, "the notice went away once the limit allowed again");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Nothing typed waits after a reload.
    let left = d.script("return localStorage['posadaPending:' + localStorage.posadaSession] || '[]'").await;
    assert_eq!(left, "[]");
    d.quit().await;
    app.stop().await;
}
