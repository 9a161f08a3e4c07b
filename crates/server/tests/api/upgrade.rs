//! Upgrades: the previous release's database, with a season's data in it (made by v0.1.0 itself:
//! `tests/fixtures/v0.1.0/make.sh`), is migrated forward by this build and everything in it is
//! still there. Migrations are forward-only: the ones the old release applied are unchanged
//! (same checksums) and every new one comes after them.

use crate::both_engines;
use crate::helpers::*;
use crate::tools::{posada_in, temp_dir};
use serde_json::{Value, json};
use std::path::PathBuf;

both_engines!(the_previous_release_upgrades_with_its_data_intact);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1.0").join(name)
}

async fn the_previous_release_upgrades_with_its_data_intact(engine: Engine) {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(fixture("manifest.json")).unwrap()).unwrap();
    let expected = &manifest[match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    }];
    let dir = temp_dir("upgrade");
    let pg = match engine {
        Engine::Postgres => Some(TestDatabase::new(Engine::Postgres).await),
        Engine::Sqlite => None,
    };
    let url = match &pg {
        Some(db) => {
            let out = std::process::Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(fixture("postgres.sql"))
                .arg(&db.url)
                .output()
                .expect("psql (postgresql-client) loads the fixture");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            db.url.clone()
        }
        None => {
            std::fs::copy(fixture("posada.db"), dir.join("posada.db")).unwrap();
            format!("sqlite://{}", dir.join("posada.db").display())
        }
    };
    // What the upgrade will run: only migrations newer than the release's, none of its own edited.
    let old = store::inspect(&url).await.unwrap();
    let old_version = old.schema_version().expect("the fixture has a schema");
    let out = posada_in(&dir).env("POSADA_DATABASE_URL", &url).args(["migrate", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["changed"], json!([]), "a migration that v0.1.0 applied was edited: {plan}");
    assert_eq!(plan["schema_version"].as_i64(), Some(old_version));
    let known = store::migrations::known(store::Backend::Sqlite);
    let newer: Vec<i64> = known.iter().map(|m| m.version).filter(|v| *v > old_version).collect();
    let pending: Vec<i64> =
        plan["pending"].as_array().unwrap().iter().map(|m| m["version"].as_i64().unwrap()).collect();
    assert_eq!(pending, newer, "exactly the migrations after v0.1.0's, in order: {plan}");
    assert_eq!(store::inspect(&url).await.unwrap(), old, "--dry-run changed nothing");

    // The upgrade itself: the new service starts on the old database and migrates it.
    let env = vec![
        ("POSADA_DATABASE_URL", url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".into()),
        ("POSADA_JWT_SECRET", JWT_SECRET.into()),
        ("POSADA_LOG", "info".into()),
        ("POSADA_RATE_LIMIT_PER_MIN", "0".into()),
        ("POSADA_PAYMENT_PROVIDER", "sandbox".into()),
    ];
    let server = Binary::start(&["serve"], &env);
    let client = reqwest::Client::new();
    let ready: Value =
        client.get(format!("{}/api/v1/readyz", server.address)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["schema_version"].as_i64(), Some(store::migrations::latest_version()));
    // The owner made by v0.1.0 still logs in with the same password.
    let login = client
        .post(format!("{}/api/v1/admin/login", server.address))
        .json(&json!({"email": "duena@posada.test", "password": "fixture-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    for r in expected["reservations"].as_array().unwrap() {
        let code = r["code"].as_str().unwrap();
        let v: Value = client
            .get(format!("{}/api/v1/reservations/{code}", server.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (was, is) = (r["status"].as_str().unwrap(), v["status"].as_str().unwrap_or("missing"));
        // A hold of back then has lapsed by now: the sweeper expires it, nothing else changes.
        assert!(is == was || (was == "pre_reserved" && is == "expired"), "{code}: {was} → {is}");
    }
    let contacts: Value = client
        .get(format!("{}/api/v1/admin/contacts", server.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contacts = contacts["items"].as_array().unwrap();
    assert_eq!(contacts.len() as i64, expected["contacts"].as_i64().unwrap());
    let mut messages = 0;
    for c in contacts {
        let thread: Value = client
            .get(format!("{}/api/v1/admin/contacts/{}/messages", server.address, c["id"]))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        messages += thread["messages"].as_array().unwrap().len() as i64;
    }
    assert_eq!(messages, expected["messages"].as_i64().unwrap(), "every message of v0.1.0's chats");
    let (status, logs) = server.terminate();
    assert!(status.success(), "{logs}");

    let store = store::open_existing(&url, 2).await.unwrap();
    let status = store.migration_status().await.unwrap();
    assert!(status.up_to_date() && status.schema_version() == Some(store::migrations::latest_version()), "{status:?}");
    for code in expected["paid"].as_array().unwrap() {
        let r = store.get_reservation(code.as_str().unwrap()).await.unwrap();
        let payments = store.payments_for(r.id).await.unwrap();
        assert!(payments.iter().any(|p| p.status == "approved"), "{code}: {payments:?}");
    }
    let feeds = store.list_feeds(None).await.unwrap();
    assert_eq!(feeds.len(), 1, "the imported Airbnb calendar");
    let today = property_today();
    let blocks = store
        .external_blocks(None, today - chrono::Duration::days(400), today + chrono::Duration::days(800))
        .await
        .unwrap();
    assert_eq!(blocks.len(), 1, "its event");
    assert!(store.schema().await.unwrap().contains_key("backups"), "new tables exist after the upgrade");
    store.close().await;
    let out = posada_in(&dir).env("POSADA_DATABASE_URL", &url).args(["migrate", "--dry-run"]).output().unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["pending"], json!([]), "{plan}");
    std::fs::remove_dir_all(dir).ok();
}
