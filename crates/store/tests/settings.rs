//! The property-settings capability, same behaviour on both engines.

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use store::testing::{Engine, TestDatabase};
use store::*;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Engine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Engine::Postgres).await })*
        }
    };
}

conformance!(
    settings_round_trip_and_deletes,
    seeding_never_overwrites_what_the_owner_wrote,
    bad_keys_and_values_change_nothing,
    concurrent_saves_leave_one_value_per_key,
);

fn now() -> DateTime<Utc> {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

async fn open(engine: Engine) -> (TestDatabase, Arc<dyn Store>) {
    let db = TestDatabase::new(engine).await;
    let store = store::connect(&db.url, 8).await.expect("connect and migrate");
    (db, store)
}

fn set(k: &str, v: &str) -> (String, Option<String>) {
    (k.to_string(), Some(v.to_string()))
}

async fn settings_round_trip_and_deletes(engine: Engine) {
    let (_db, store) = open(engine).await;
    assert!(store.settings().await.unwrap().is_empty());
    let changed = store
        .save_settings(
            &[
                set("address", "Ruta 40 km 2130 — “El Bosque”, Villa La Angostura"),
                set("payment.transfer.alias", "lago.mp"),
            ],
            "owner@example.com",
            now(),
        )
        .await
        .unwrap();
    assert_eq!(changed, vec!["address".to_string(), "payment.transfer.alias".to_string()]);
    let s = store.settings().await.unwrap();
    assert_eq!(s["address"], "Ruta 40 km 2130 — “El Bosque”, Villa La Angostura");
    assert_eq!(s["payment.transfer.alias"], "lago.mp");
    // Saving the same values changes nothing (and writes no audit row); a None deletes.
    let later = now() + Duration::minutes(5);
    assert!(
        store.save_settings(&[set("address", &s["address"])], "owner@example.com", later).await.unwrap().is_empty()
    );
    let changed =
        store.save_settings(&[("payment.transfer.alias".into(), None)], "owner@example.com", later).await.unwrap();
    assert_eq!(changed, vec!["payment.transfer.alias".to_string()]);
    assert!(!store.settings().await.unwrap().contains_key("payment.transfer.alias"));
    // The audit feed names the keys, not the values.
    let audit = store.audit_after(0, 50).await.unwrap();
    let notes: Vec<&str> = audit.iter().filter(|a| a.action == "settings_changed").map(|a| a.note.as_str()).collect();
    assert_eq!(notes, vec!["address, payment.transfer.alias", "payment.transfer.alias"]);
    // An empty text is a value ("not said" on purpose), not a deletion.
    store.save_settings(&[set("address", "")], "owner@example.com", later).await.unwrap();
    assert_eq!(store.settings().await.unwrap()["address"], "");
}

async fn seeding_never_overwrites_what_the_owner_wrote(engine: Engine) {
    let (_db, store) = open(engine).await;
    store.save_settings(&[set("check_in_from", "15:00")], "owner@example.com", now()).await.unwrap();
    let defaults =
        vec![("check_in_from".to_string(), "14:00".to_string()), ("check_out_until".to_string(), "10:00".to_string())];
    assert_eq!(store.seed_settings(&defaults, now()).await.unwrap(), 1);
    // A second start seeds nothing: the environment is a first-run default only.
    assert_eq!(store.seed_settings(&defaults, now()).await.unwrap(), 0);
    let s = store.settings().await.unwrap();
    assert_eq!((s["check_in_from"].as_str(), s["check_out_until"].as_str()), ("15:00", "10:00"));
    // A key the owner cleared stays cleared.
    store.save_settings(&[set("check_out_until", "")], "owner@example.com", now()).await.unwrap();
    store.seed_settings(&defaults, now()).await.unwrap();
    assert_eq!(store.settings().await.unwrap()["check_out_until"], "");
}

async fn bad_keys_and_values_change_nothing(engine: Engine) {
    let (_db, store) = open(engine).await;
    let long = "x".repeat(settings::MAX_VALUE_LEN + 1);
    for bad in [
        vec![set("address", "ok"), set("Bad Key", "x")],
        vec![set("address", "ok"), set("address2", &long)],
        vec![set("address", "ok"), set("nul", "a\0b")],
        vec![set("", "x")],
    ] {
        let r = store.save_settings(&bad, "owner@example.com", now()).await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
    assert!(store.settings().await.unwrap().is_empty(), "a refused batch writes nothing");
    let ok = "ñ".repeat(settings::MAX_VALUE_LEN);
    store.save_settings(&[set("nearby", &ok)], "owner@example.com", now()).await.unwrap();
    assert_eq!(store.settings().await.unwrap()["nearby"].chars().count(), settings::MAX_VALUE_LEN);
}

async fn concurrent_saves_leave_one_value_per_key(engine: Engine) {
    let (_db, store) = open(engine).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .save_settings(
                    &[set("address", &format!("calle {i}")), set("nearby", &format!("lago {i}"))],
                    "o",
                    now(),
                )
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let s = store.settings().await.unwrap();
    assert_eq!(s.len(), 2);
    assert!(s["address"].starts_with("calle "));
}
