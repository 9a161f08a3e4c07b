//! The command line: demo, migrate, admin add-user, ical, chat.

use crate::helpers::*;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn posada() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_posada"));
    c.env_clear();
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            c.env(var, v);
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_add_user_and_ical_commands_print_json_on_stdout() {
    let db = TestDatabase::new(Engine::Sqlite).await;
    let out = posada().env("POSADA_DATABASE_URL", &db.url).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["migrated"].as_bool(), v["backend"].as_str()), (Some(true), Some("sqlite")));
    let mut child = posada()
        .env("POSADA_DATABASE_URL", &db.url)
        .args(["admin", "add-user", "--email", "Staff@Example.test", "--role", "staff"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"una-clave-larga\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["email"].as_str(), v["role"].as_str()), (Some("staff@example.test"), Some("staff")));
    let store = store::connect(&db.url, 2).await.unwrap();
    let user = store.get_admin_user("staff@example.test").await.unwrap();
    assert!(
        server::auth::verify_password(secrecy::SecretString::from("una-clave-larga".to_string()), user.password_hash)
            .await
    );
    // A short password is refused.
    let mut child = posada()
        .env("POSADA_DATABASE_URL", &db.url)
        .args(["admin", "add-user", "--email", "x@y.z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"corta\n").unwrap();
    assert!(!child.wait_with_output().unwrap().status.success());
    // ical: export, rotate, sync.
    server::demo::seed(store.as_ref(), chrono::Utc::now()).await.unwrap();
    let out = posada().env("POSADA_DATABASE_URL", &db.url).args(["ical", "export", "coihue"]).output().unwrap();
    let body = String::from_utf8(out.stdout).unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.contains("X-WR-CALNAME:Coihue"), "{body}");
    let before = store.get_unit_by_slug("coihue").await.unwrap().ical_token;
    let out = posada().env("POSADA_DATABASE_URL", &db.url).args(["ical", "rotate-token", "1"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let after = store.get_unit_by_slug("coihue").await.unwrap().ical_token;
    assert_ne!(before, after);
    assert!(v["export_url"].as_str().unwrap().ends_with(&format!("/ical/coihue/{after}.ics")));
    let out = posada().env("POSADA_DATABASE_URL", &db.url).args(["ical", "sync"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["feeds"], serde_json::json!([]));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_its_url_and_login_and_chat_talks_to_it() {
    let dir = std::env::temp_dir().join(format!("posada-demo-{:x}", rand::random::<u64>()));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("stderr.log");
    let mut demo = posada()
        .env("POSADA_DATA_DIR", &dir)
        .env("POSADA_BIND", format!("127.0.0.1:{port}"))
        .env_remove("POSADA_LOG")
        .env_remove("POSADA_LOG_FORMAT")
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    let mut stdout = demo.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let mut text = String::new();
        while !text.contains("Try:") {
            let n = stdout.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    });
    let printed = reader.join().unwrap();
    assert!(printed.contains(&format!("http://127.0.0.1:{port}")), "{printed}");
    assert!(printed.contains("Admin login: admin@posada.local / "), "{printed}");
    assert!(printed.contains("Seeded 3 demo cabins"), "{printed}");
    assert!(printed.contains(&format!("Dashboard: http://127.0.0.1:{port}/admin")), "{printed}");
    let password =
        printed.lines().find_map(|l| l.strip_prefix("Admin login: admin@posada.local / ")).unwrap().trim().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{base}/api/v1/admin/login"))
        .json(&serde_json::json!({"email": "admin@posada.local", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the printed login works");
    // posada chat: a guest in the terminal, through the demo's sandbox.
    let mut chat = posada()
        .args(["chat", "--url", &base, "--name", "Ana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    chat.stdin.take().unwrap().write_all("hola\n".as_bytes()).unwrap();
    let out = chat.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Ana"), "the bot greeted the guest: {text}");
    // The demo's photos are served by the demo itself (offline), as images.
    let cabins: Value = client.get(format!("{base}/api/v1/accommodations")).send().await.unwrap().json().await.unwrap();
    let photos: Vec<&str> = cabins
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["photos"].as_array().unwrap())
        .filter_map(|p| p["url"].as_str())
        .collect();
    assert_eq!(photos.len(), 6, "{cabins}");
    for url in photos {
        assert!(url.starts_with("/fotos/demo/"), "no internet image service: {url}");
        let r = client.get(format!("{base}{url}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
    }
    // Quiet by default: after start-up, a login, a chat and seven requests, no log line was
    // written (warnings and errors only), and none is a JSON line.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.lines().any(|l| l.starts_with('{')), "the demo logs for a person, not JSON: {log}");
    assert!(log.lines().count() < 5, "the demo's terminal is not buried in logs: {log}");
    let _ = demo.kill();
    let _ = demo.wait();
    std::fs::remove_dir_all(&dir).ok();
}
