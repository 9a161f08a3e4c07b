//! Backups that restore: `posada backup` of a running server under write load (holds, payments,
//! chats), `posada restore` into a new place, and the restored server finds everything that was
//! committed before the backup began — on both engines, with the real binary.

use crate::both_engines;
use crate::helpers::*;
use crate::tools::{posada_in, temp_dir};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use store::Store;

both_engines!(
    a_backup_under_write_load_restores_every_reservation_message_and_payment,
    restore_never_overwrites_a_database,
    the_daily_job_backs_up_at_the_set_time_once
);

fn serve_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POSADA_DATABASE_URL", url.to_string()),
        ("POSADA_BIND", "127.0.0.1:0".into()),
        ("POSADA_JWT_SECRET", JWT_SECRET.into()),
        ("POSADA_ADMIN_EMAIL", OWNER_EMAIL.into()),
        ("POSADA_ADMIN_PASSWORD", OWNER_PASSWORD.into()),
        ("POSADA_LOG", "info".into()),
        ("POSADA_RATE_LIMIT_PER_MIN", "0".into()),
        ("POSADA_MAX_HOLDS_PER_ADDRESS", "100000".into()),
        ("POSADA_PAYMENT_PROVIDER", "sandbox".into()),
        ("POSADA_SANDBOX", "true".into()),
    ]
}

/// Everything a business cannot lose, by id.
#[derive(Debug, Default, PartialEq)]
struct Snapshot {
    reservations: BTreeMap<i64, String>,
    messages: BTreeSet<i64>,
    payments: BTreeSet<i64>,
}

async fn snapshot(store: &dyn Store) -> Snapshot {
    let mut s = Snapshot::default();
    let filter = store::ReservationFilter { limit: 100_000, ..Default::default() };
    for r in store.list_reservations(&filter).await.unwrap().0 {
        for p in store.payments_for(r.id).await.unwrap() {
            s.payments.insert(p.id);
        }
        s.reservations.insert(r.id, r.code);
    }
    for c in store.list_contacts(100_000).await.unwrap() {
        for m in store.list_messages(c.id, 0, 100_000).await.unwrap() {
            s.messages.insert(m.id);
        }
    }
    s
}

/// One cabin's loader: back-to-back 2-night holds, each paid through the sandbox checkout.
async fn book_and_pay(
    base: String,
    unit: i64,
    stop: Arc<AtomicBool>,
    spans: Arc<std::sync::Mutex<Vec<(Instant, Instant)>>>,
) {
    let client = reqwest::Client::new();
    let mut i = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let body = json!({
            "accommodation_id": unit, "check_in": property_in_days(20 + 2 * i), "check_out": property_in_days(22 + 2 * i),
            "guests": 2, "channel": "api", "contact_name": format!("Carga {unit}-{i}"),
            "contact_phone": format!("+549294{unit}{i:06}"),
        });
        i += 1;
        let Ok(r) = client.post(format!("{base}/api/v1/reservations/pre-reserve")).json(&body).send().await else {
            continue;
        };
        if r.status() != 201 {
            continue;
        }
        spans.lock().unwrap().push((started, Instant::now()));
        let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
        // The payment link comes from the worker; then "Pagar" on the sandbox checkout.
        for _ in 0..100 {
            let v: Value =
                client.get(format!("{base}/api/v1/reservations/{code}")).send().await.unwrap().json().await.unwrap();
            if let Some(link) = v["payment_link"].as_str() {
                let pref = link.rsplit('/').next().unwrap();
                let started = Instant::now();
                let paid = client.post(format!("{base}/sandbox/pay/{pref}/approve")).send().await.unwrap();
                assert_eq!(paid.status(), 200);
                spans.lock().unwrap().push((started, Instant::now()));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
    }
}

/// Guests writing in the sandbox chat.
async fn chat(base: String, stop: Arc<AtomicBool>, spans: Arc<std::sync::Mutex<Vec<(Instant, Instant)>>>) {
    let client = reqwest::Client::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let body = json!({"session": format!("carga-{}", i % 7), "name": "Carga", "text": format!("hola, tienen lugar para {} personas?", 2 + i % 3)});
        i += 1;
        if let Ok(r) = client.post(format!("{base}/sandbox/api/messages")).json(&body).send().await
            && r.status().is_success()
        {
            spans.lock().unwrap().push((started, Instant::now()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn a_backup_under_write_load_restores_every_reservation_message_and_payment(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let live = store::connect(&db.url, 2).await.unwrap();
    server::demo::seed(live.as_ref(), chrono::Utc::now()).await.unwrap();
    let server = Binary::start(&["serve"], &serve_env(&db.url));
    let stop = Arc::new(AtomicBool::new(false));
    let spans = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for unit in 1..=3 {
        load.push(tokio::spawn(book_and_pay(server.address.clone(), unit, stop.clone(), spans.clone())));
    }
    load.push(tokio::spawn(chat(server.address.clone(), stop.clone(), spans.clone())));
    // Let the load build up some of everything.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let before = loop {
        let s = snapshot(live.as_ref()).await;
        if s.payments.len() >= 6 && s.messages.len() >= 10 {
            break s;
        }
        assert!(Instant::now() < deadline, "the load did not get going: {s:?}\n{}", server.logs());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // The backup, by the real binary in its own process, while the load goes on.
    let backups = temp_dir("backups");
    let cwd = temp_dir("cwd");
    let (began, out, ended) = {
        let mut cmd = posada_in(&cwd);
        cmd.env("POSADA_DATABASE_URL", &db.url).args(["backup", "--to"]).arg(&backups);
        tokio::task::spawn_blocking(move || {
            let began = Instant::now();
            let out = cmd.output().unwrap();
            (began, out, Instant::now())
        })
        .await
        .unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let after = snapshot(live.as_ref()).await;
    let (status, logs) = server.terminate();
    assert!(status.success(), "{logs}");
    let spans = spans.lock().unwrap().clone();
    let overlapping = spans.iter().filter(|(s, e)| *s < ended && *e > began).count();
    println!(
        "{engine:?}: backup took {} ms by the clock of `posada backup` ({} ms for the whole process) while {overlapping} \
         writes were in flight; {} reservations, {} messages, {} payments before it, {} / {} / {} at the end",
        made["took_ms"],
        (ended - began).as_millis(),
        before.reservations.len(),
        before.messages.len(),
        before.payments.len(),
        after.reservations.len(),
        after.messages.len(),
        after.payments.len()
    );
    assert!(overlapping > 0, "the backup ran under write load");
    assert!(after.reservations.len() > before.reservations.len(), "writes went on during and after the backup");
    let file = made["file"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&file).starts_with(&backups), "{made}");
    assert!(made["counts"]["reservations"].as_i64().unwrap() >= before.reservations.len() as i64, "{made}");
    assert_eq!(live.last_backup().await.unwrap().unwrap().file, file, "the live database records the backup");

    // Restore into a new place: a fresh data directory (SQLite) or a new empty database.
    let new_data = temp_dir("restored");
    let new_pg = match engine {
        Engine::Postgres => Some(TestDatabase::new(Engine::Postgres).await),
        Engine::Sqlite => None,
    };
    let mut restore = posada_in(&cwd);
    match &new_pg {
        Some(pg) => restore.env("POSADA_DATABASE_URL", &pg.url),
        None => restore.env("POSADA_DATA_DIR", &new_data),
    };
    let out = restore.args(["restore", &file]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored_url = match &new_pg {
        Some(pg) => pg.url.clone(),
        None => format!("sqlite://{}", new_data.join("posada.db").display()),
    };
    let restored_store = store::open_existing(&restored_url, 2).await.unwrap();
    let restored = snapshot(restored_store.as_ref()).await;
    // Everything committed before the backup began is there...
    for (id, code) in &before.reservations {
        assert_eq!(restored.reservations.get(id), Some(code), "reservation {code} is missing");
    }
    assert!(before.messages.is_subset(&restored.messages), "messages are missing");
    assert!(before.payments.is_subset(&restored.payments), "payments are missing");
    // ...nothing that never existed, and the copy is one instant: on SQLite (one writer at a
    // time) the restored ids are exactly a prefix of what was ever committed.
    assert!(restored.reservations.keys().all(|id| after.reservations.contains_key(id)));
    assert!(restored.messages.is_subset(&after.messages) && restored.payments.is_subset(&after.payments));
    if engine == Engine::Sqlite {
        let max = *restored.reservations.keys().max().unwrap();
        let prefix: Vec<&i64> = after.reservations.keys().filter(|id| **id <= max).collect();
        assert_eq!(restored.reservations.keys().collect::<Vec<_>>(), prefix, "a consistent snapshot");
    }
    for r in store_reservations(restored_store.as_ref()).await {
        if r.status == domain::ReservationStatus::Confirmed {
            let payments = restored_store.payments_for(r.id).await.unwrap();
            assert!(payments.iter().any(|p| p.status == "approved"), "{} confirmed without its payment", r.code);
        }
    }
    let last = restored_store.last_backup().await.unwrap().unwrap();
    assert_eq!((last.file.as_str(), last.trigger), (file.as_str(), store::BackupTrigger::Restored));
    restored_store.close().await;

    // The restored service starts and answers for every reservation and conversation.
    let mut env = serve_env(&restored_url);
    if new_pg.is_none() {
        env.retain(|(k, _)| *k != "POSADA_DATABASE_URL");
        env.push(("POSADA_DATA_DIR", new_data.display().to_string()));
    }
    let restarted = Binary::start(&["serve"], &env);
    let client = reqwest::Client::new();
    for code in before.reservations.values() {
        let r = client.get(format!("{}/api/v1/reservations/{code}", restarted.address)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{code}");
    }
    let token: Value = client
        .post(format!("{}/api/v1/admin/login", restarted.address))
        .json(&json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let mut seen = BTreeSet::new();
    let contacts: Value = client
        .get(format!("{}/api/v1/admin/contacts", restarted.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for c in contacts["items"].as_array().unwrap() {
        let v: Value = client
            .get(format!("{}/api/v1/admin/contacts/{}/messages", restarted.address, c["id"]))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(v["messages"].as_array().unwrap().iter().filter_map(|m| m["id"].as_i64()));
    }
    assert!(before.messages.is_subset(&seen), "the restored service shows every message");
    let (status, logs) = restarted.terminate();
    assert!(status.success(), "{logs}");
    live.close().await;
    for dir in [backups, cwd, new_data] {
        std::fs::remove_dir_all(dir).ok();
    }
}

async fn store_reservations(store: &dyn Store) -> Vec<store::Reservation> {
    store.list_reservations(&store::ReservationFilter { limit: 100_000, ..Default::default() }).await.unwrap().0
}

async fn restore_never_overwrites_a_database(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let live = store::connect(&db.url, 2).await.unwrap();
    server::demo::seed(live.as_ref(), chrono::Utc::now()).await.unwrap();
    let cwd = temp_dir("cwd");
    let backups = temp_dir("backups");
    // Three backups with POSADA_BACKUP_KEEP=2: the oldest goes.
    let mut files = Vec::new();
    for _ in 0..3 {
        let out = posada_in(&cwd)
            .env("POSADA_DATABASE_URL", &db.url)
            .env("POSADA_BACKUP_DIR", &backups)
            .env("POSADA_BACKUP_KEEP", "2")
            .arg("backup")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        files.push(v["file"].as_str().unwrap().to_string());
        assert_eq!(v["counts"]["units"], 3, "{v}");
    }
    let kept: BTreeSet<String> =
        std::fs::read_dir(&backups).unwrap().flatten().map(|e| e.path().display().to_string()).collect();
    assert_eq!(kept, files[1..].iter().cloned().collect(), "the newest two are kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backups).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "backups hold guests' data: only the service's user reads them");
    }
    // Into the live database: refused, and nothing changes.
    let units_before = live.list_units(true).await.unwrap();
    let out = posada_in(&cwd).env("POSADA_DATABASE_URL", &db.url).args(["restore", &files[2]]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let expected = match engine {
        Engine::Sqlite => "ya hay una base de datos en",
        Engine::Postgres => "no está vacía",
    };
    assert!(stderr.contains(expected) && stderr.contains("restore nunca la pisa"), "{stderr}");
    assert_eq!(live.list_units(true).await.unwrap(), units_before);
    // The wrong kind of file, or not a backup at all: a clear refusal.
    let junk = cwd.join("junk.db");
    std::fs::write(&junk, b"not a backup at all").unwrap();
    let empty = temp_dir("empty");
    let out = posada_in(&cwd).env("POSADA_DATA_DIR", &empty).args(["restore"]).arg(&junk).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no es una copia de posada"));
    if engine == Engine::Postgres {
        let out = posada_in(&cwd).env("POSADA_DATA_DIR", &empty).args(["restore", &files[2]]).output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("es una copia de PostgreSQL y la configuración usa SQLite")
        );
    }
    assert!(!empty.join("posada.db").exists());
    live.close().await;
    for dir in [cwd, backups, empty] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hoy_shows_the_last_backup_and_warns_after_two_days() {
    let app = spawn_app(Engine::Sqlite).await;
    let ui = crate::ui::ui_login(&app, OWNER_EMAIL, OWNER_PASSWORD).await;
    let hoy = || async { ui.get("/admin").await.text().await.unwrap() };
    let page = hoy().await;
    assert!(page.contains(r#"id="copia" class="err""#) && page.contains("Todavía no hay ninguna copia"), "{page}");
    let now = app.clock.now();
    let new = |file: &str| store::NewBackup {
        file: file.into(),
        bytes: 1,
        trigger: store::BackupTrigger::Manual,
        took_ms: 1,
    };
    app.state.store.record_backup(&new("/b/viejo.db"), now - chrono::Duration::days(3)).await.unwrap();
    let page = hoy().await;
    assert!(page.contains("La última copia de seguridad es de hace 3 días"), "{page}");
    app.state.store.record_backup(&new("/b/nuevo.db"), now - chrono::Duration::hours(5)).await.unwrap();
    let page = hoy().await;
    assert!(page.contains(r#"id="copia" class="muted">Última copia de seguridad: hace 5 horas"#), "{page}");
}

async fn the_daily_job_backs_up_at_the_set_time_once(engine: Engine) {
    use chrono::TimeZone;
    let tz = chrono_tz::America::Argentina::Buenos_Aires;
    let tomorrow = property_today() + chrono::Duration::days(1);
    // 03:00 in the property's zone; the clock is moved past 03:30 by hand.
    let start = tz.from_local_datetime(&tomorrow.and_hms_opt(3, 0, 0).unwrap()).unwrap().with_timezone(&chrono::Utc);
    let dir = temp_dir("daily");
    let app = spawn_app_with(
        engine,
        Options {
            now: Some(start),
            env: vec![
                ("POSADA_BACKUP_DAILY_AT", "03:30".into()),
                ("POSADA_BACKUP_DIR", dir.display().to_string()),
                ("POSADA_BACKUP_KEEP", "3".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    app.run_jobs().await;
    assert!(app.state.store.last_backup().await.unwrap().is_none(), "not yet 03:30");
    app.clock.advance(chrono::Duration::minutes(31));
    app.run_jobs().await;
    let first = app.state.store.last_backup().await.unwrap().expect("the 03:30 backup");
    assert_eq!(first.trigger, store::BackupTrigger::Daily);
    assert!(std::path::Path::new(&first.file).starts_with(&dir) && std::path::Path::new(&first.file).exists());
    use chrono::Timelike;
    let local = first.created_at.with_timezone(&tz);
    assert_eq!((local.date_naive(), local.hour(), local.minute()), (tomorrow, 3, 31), "made when it fell due");
    // Once a day: the queue again an hour later makes none; the next day at 03:30 makes one more.
    app.clock.advance(chrono::Duration::hours(1));
    app.run_jobs().await;
    assert_eq!(app.state.store.last_backup().await.unwrap(), Some(first.clone()));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    app.clock.advance(chrono::Duration::hours(23));
    app.run_jobs().await;
    let second = app.state.store.last_backup().await.unwrap().unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    let metrics = app.metrics().await.text().await.unwrap();
    assert!(metrics.contains("backups_total{result=\"ok\"}"), "{metrics}");
    std::fs::remove_dir_all(dir).ok();
}
