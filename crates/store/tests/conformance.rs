//! One suite, both engines: every test body runs against SQLite and PostgreSQL
//! (`POSADA_TEST_DATABASE_URL`, a fresh database per test).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::{AttentionFlag, Money, Multiplier, ReservationStatus, RuleEffect, RuleScope, Stay};
use std::sync::Arc;
use store::testing::{Engine, TestDatabase};
use store::*;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Engine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Engine::Postgres).await })*
        }
    };
}

conformance!(
    both_schemas_have_the_same_tables_and_columns,
    a_stay_is_rated_once_and_the_first_answer_counts,
    overlapping_holds_conflict_and_back_to_back_stays_do_not,
    the_database_itself_rejects_an_overlapping_row,
    cancelled_and_expired_stays_free_their_nights,
    a_stale_hold_is_expired_inside_the_next_hold,
    a_contact_may_hold_only_so_many,
    a_client_address_may_hold_only_so_many,
    transitions_follow_the_domain_rules,
    a_late_payment_confirms_only_free_nights,
    changing_dates_keeps_the_no_overlap_rule,
    flags_are_set_and_cleared_with_audit,
    reservations_filter_and_search,
    units_and_rate_rules_round_trip,
    admin_users_upsert,
    idempotency_keys_replay_and_refuse_other_bodies,
    jobs_are_leased_retried_and_deduplicated,
    concurrent_workers_never_share_a_job,
    many_concurrent_holds_on_the_same_nights_yield_one_winner,
    random_concurrent_holds_never_overlap,
    a_feed_upserts_ages_out_and_replaces_airbnb_blocks,
    imported_events_refuse_holds_but_echoes_do_not,
    conflicts_are_recorded_once_and_flag_the_reservation,
    the_inbox_deduplicates_and_a_turn_commits_once,
    redeliveries_racing_turn_commits_of_the_same_contact_never_fail,
    message_statuses_only_move_forward,
    a_hold_with_a_request_key_is_placed_once,
    admin_sessions_live_expire_and_end,
    the_audit_log_reads_as_a_feed,
    the_funnel_counts_conversations_quotes_holds_and_paid,
    backups_are_recorded_and_the_newest_is_found,
    migration_status_compares_the_database_with_this_build,
    control_characters_are_refused_or_removed_the_same_on_both_engines,
    the_balance_is_recorded_once_on_a_confirmed_reservation,
    balance_links_are_one_per_amount_and_deadline,
    a_balance_payment_applies_once_full_partial_or_not_due,
    a_turn_with_a_once_key_commits_once,
    a_refund_is_proposed_once_and_moves_only_from_the_expected_status,
    a_guest_move_is_one_transaction_refused_on_taken_nights,
    a_move_and_competing_holds_never_overlap,
    stay_messages_are_planned_idempotently_and_sent_once,
);

fn inbound(id: &str) -> NewInbound {
    NewInbound {
        provider: "whatsapp".into(),
        provider_id: id.into(),
        contact: Some((domain::Channel::Whatsapp, "5492944123456".into(), "Juana".into())),
        kind: "text".into(),
        payload: serde_json::json!({"text": "hola"}),
        job_kind: "process_inbound".into(),
    }
}

async fn the_inbox_deduplicates_and_a_turn_commits_once(engine: Engine) {
    let (_db, store) = open(engine).await;
    let first = store.store_inbound(&inbound("wamid.1"), now()).await.unwrap().unwrap();
    assert_eq!(store.store_inbound(&inbound("wamid.1"), now()).await.unwrap(), None, "a redelivery is ignored");
    let second = store.store_inbound(&inbound("wamid.2"), now()).await.unwrap().unwrap();
    let ev = store.get_inbound(first).await.unwrap();
    let contact = store.get_contact(ev.contact_id.unwrap()).await.unwrap();
    assert_eq!((contact.name.as_str(), contact.last_inbound_at), ("Juana", Some(now())));
    assert!(store.has_earlier_unprocessed(contact.id, second).await.unwrap());
    // One job per new event, deduplicated by event.
    let jobs = store.claim_jobs("w", now(), std::time::Duration::from_secs(30), 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    let turn = Turn {
        event_id: Some(first),
        contact_id: contact.id,
        state: serde_json::json!({"stage": "idle"}),
        handed_off: None,
        inbound: Some(NewMessage { kind: "text".into(), body: "hola".into(), payload: serde_json::json!({}) }),
        outbound: vec![
            NewMessage { kind: "text".into(), body: "¡Hola!".into(), payload: serde_json::json!({"type": "text"}) },
            NewMessage {
                kind: "text".into(),
                body: "¿Qué fechas?".into(),
                payload: serde_json::json!({"type": "text"}),
            },
        ],
        send_job_kind: "send_message".into(),
        quotes: vec![(1, Stay::new(d("2027-01-01"), d("2027-01-03")).unwrap(), Money(100))],
        jobs: vec![],
        once: None,
    };
    let ids = store.commit_turn(&turn, now()).await.unwrap().unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(store.commit_turn(&turn, now()).await.unwrap(), None, "a turn commits once");
    assert!(!store.has_earlier_unprocessed(contact.id, second).await.unwrap());
    let messages = store.list_messages(contact.id, 0, 10).await.unwrap();
    assert_eq!(messages.iter().map(|m| m.direction.as_str()).collect::<Vec<_>>(), vec!["in", "out", "out"]);
    // The second reply waits for the first one's send job (due now).
    assert_eq!(store.earlier_queued_due(contact.id, ids[1]).await.unwrap(), Some(now()));
    assert_eq!(store.earlier_queued_due(contact.id, ids[0]).await.unwrap(), None);
    assert_eq!(store.outbox_stats(now() + Duration::seconds(3)).await.unwrap().queued, 2);
    assert_eq!(store.conversation_state(contact.id).await.unwrap().unwrap()["stage"], "idle");
    let sends = store.claim_jobs("w", now(), std::time::Duration::from_secs(30), 10).await.unwrap();
    assert_eq!(sends.iter().filter(|j| j.kind == "send_message").count(), 2);
}

/// A webhook redelivery crossing the turn commit of the same event: the redelivery is answered
/// without locking the contact (a contact upsert before the inbox insert, against the commit's
/// event row then contact, deadlocked on PostgreSQL and cost a second each), and a transaction
/// PostgreSQL still aborts is run again: neither side sees an error.
async fn redeliveries_racing_turn_commits_of_the_same_contact_never_fail(engine: Engine) {
    let (_db, store) = open(engine).await;
    for round in 0..20 {
        let id = format!("wamid.race{round}");
        let event = store.store_inbound(&inbound(&id), now()).await.unwrap().unwrap();
        let contact_id = store.get_inbound(event).await.unwrap().contact_id.unwrap();
        let turn = Turn {
            event_id: Some(event),
            contact_id,
            state: serde_json::json!({"stage": "idle", "round": round}),
            handed_off: None,
            inbound: Some(NewMessage { kind: "text".into(), body: "hola".into(), payload: serde_json::json!({}) }),
            outbound: vec![NewMessage {
                kind: "text".into(),
                body: "¡Hola!".into(),
                payload: serde_json::json!({"type": "text"}),
            }],
            send_job_kind: "send_message".into(),
            quotes: vec![],
            jobs: vec![],
            once: None,
        };
        let redeliveries = (0..4).map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.store_inbound(&inbound(&id), now()).await })
        });
        let redeliveries: Vec<_> = redeliveries.collect();
        let committed = store.commit_turn(&turn, now()).await;
        assert!(matches!(committed, Ok(Some(_))), "round {round}: {committed:?}");
        for r in redeliveries {
            assert_eq!(r.await.unwrap().unwrap(), None, "round {round}: a redelivery is acknowledged and ignored");
        }
    }
}

async fn message_statuses_only_move_forward(engine: Engine) {
    let (_db, store) = open(engine).await;
    let c = store.upsert_contact(domain::Channel::Whatsapp, "549111", "", now()).await.unwrap();
    let turn = Turn {
        contact_id: c.id,
        state: serde_json::json!({}),
        outbound: vec![NewMessage { kind: "text".into(), body: "x".into(), payload: serde_json::json!({}) }],
        send_job_kind: "send_message".into(),
        ..Default::default()
    };
    let id = store.commit_turn(&turn, now()).await.unwrap().unwrap()[0];
    store.mark_message(id, domain::MessageStatus::Sent, Some("wamid.out1"), None, now()).await.unwrap();
    assert!(store.message_status_from_provider("wamid.out1", domain::MessageStatus::Read, None, now()).await.unwrap());
    assert!(
        !store.message_status_from_provider("wamid.out1", domain::MessageStatus::Delivered, None, now()).await.unwrap(),
        "late delivered"
    );
    assert!(!store.message_status_from_provider("wamid.out1", domain::MessageStatus::Sent, None, now()).await.unwrap());
    assert_eq!(store.get_message(id).await.unwrap().status, domain::MessageStatus::Read);
    assert!(
        !store.message_status_from_provider("wamid.unknown", domain::MessageStatus::Read, None, now()).await.unwrap()
    );
}

async fn a_hold_with_a_request_key_is_placed_once(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let mut n = hold(u.id, "2027-02-01", "2027-02-03", "549111");
    n.request_key = Some("inbound:7".into());
    let a = store.create_reservation(&n, HoldLimits::default(), now()).await.unwrap();
    let b = store.create_reservation(&n, HoldLimits::default(), now()).await.unwrap();
    assert_eq!(a.code, b.code, "processing the event again finds the same hold");
    let (_, total) = store
        .list_reservations(&ReservationFilter { contact: Some("549111".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(total, 1);
}

fn ev(uid: &str, a: &str, b: &str, kind: &str) -> IncomingEvent {
    IncomingEvent {
        uid: uid.into(),
        stay: Stay::new(d(a), d(b)).unwrap(),
        kind: kind.into(),
        summary: format!("s-{uid}"),
        reference: None,
    }
}

fn rules(wholesale: bool) -> ApplyRules {
    ApplyRules { replace_blocks_wholesale: wholesale, missing_grace: Duration::hours(24) }
}

async fn a_feed_upserts_ages_out_and_replaces_airbnb_blocks(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let airbnb = store.add_feed(u.id, "https://airbnb.test/a.ics", "airbnb", now()).await.unwrap();
    let dup = store.add_feed(u.id, "https://airbnb.test/a.ics", "airbnb", now()).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");
    let first = vec![ev("r1", "2027-01-10", "2027-01-12", "booking"), ev("na1", "2027-03-01", "2027-04-01", "block")];
    let c = store.apply_feed(airbnb.id, &first, Some("\"v1\""), None, rules(true), now()).await.unwrap();
    assert_eq!((c.added, c.updated, c.removed), (2, 0, 0));
    let feed = store.get_feed(airbnb.id).await.unwrap();
    assert_eq!((feed.etag.as_deref(), feed.events_count, feed.last_success_at), (Some("\"v1\""), 2, Some(now())));
    // The block moved (Airbnb's rolling window) and the booking vanished once.
    let t1 = now() + Duration::minutes(10);
    let second = vec![ev("na2", "2027-03-02", "2027-04-02", "block")];
    let c = store.apply_feed(airbnb.id, &second, None, None, rules(true), t1).await.unwrap();
    assert_eq!((c.added, c.removed, c.missing), (1, 1, 1), "old block replaced at once, booking kept");
    let blocks = store.external_blocks(Some(u.id), d("2027-01-01"), d("2028-01-01")).await.unwrap();
    assert_eq!(blocks.iter().map(|b| b.uid.as_str()).collect::<Vec<_>>(), vec!["r1", "na2"]);
    // A failed fetch changes nothing.
    store.record_feed_attempt(airbnb.id, Err("timeout".into()), t1).await.unwrap();
    let feed = store.get_feed(airbnb.id).await.unwrap();
    assert_eq!((feed.consecutive_failures, feed.last_error.as_deref()), (1, Some("timeout")));
    assert_eq!(store.external_blocks(Some(u.id), d("2027-01-01"), d("2028-01-01")).await.unwrap().len(), 2);
    // Missing twice but not yet 24 h: still there. Back again: reset. Gone twice over 24 h: removed.
    let t2 = t1 + Duration::hours(1);
    store.apply_feed(airbnb.id, &second, None, None, rules(true), t2).await.unwrap();
    assert!(
        store
            .external_blocks(Some(u.id), d("2027-01-10"), d("2027-01-11"))
            .await
            .unwrap()
            .iter()
            .any(|b| b.uid == "r1")
    );
    let back = vec![second[0].clone(), first[0].clone()];
    store.apply_feed(airbnb.id, &back, None, None, rules(true), t2 + Duration::hours(1)).await.unwrap();
    let r1 = store.external_blocks(Some(u.id), d("2027-01-10"), d("2027-01-11")).await.unwrap();
    assert_eq!((r1[0].missing_count, r1[0].missing_since), (0, None));
    let t3 = t2 + Duration::hours(2);
    store.apply_feed(airbnb.id, &second, None, None, rules(true), t3).await.unwrap();
    store.apply_feed(airbnb.id, &second, None, None, rules(true), t3 + Duration::hours(25)).await.unwrap();
    assert!(store.external_blocks(Some(u.id), d("2027-01-10"), d("2027-01-11")).await.unwrap().is_empty());
    // Booking's CLOSED blocks use the grace rule, not wholesale replacement.
    let booking = store.add_feed(u.id, "https://booking.test/b.ics", "booking", now()).await.unwrap();
    store
        .apply_feed(booking.id, &[ev("c1", "2027-05-01", "2027-05-03", "block")], None, None, rules(false), now())
        .await
        .unwrap();
    let c = store.apply_feed(booking.id, &[], None, None, rules(false), t1).await.unwrap();
    assert_eq!((c.missing, c.removed), (1, 0));
    store.delete_feed(booking.id).await.unwrap();
    assert_eq!(store.list_feeds(Some(u.id)).await.unwrap().len(), 1);
}

async fn imported_events_refuse_holds_but_echoes_do_not(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let ours = store
        .create_reservation(&hold(u.id, "2027-02-10", "2027-02-14", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    let feed = store.add_feed(u.id, "https://booking.test/b.ics", "booking", now()).await.unwrap();
    let later = now() + Duration::minutes(30);
    // Booking mirrors our stay back (inside it, first seen after it existed) plus a real closure.
    let events = vec![ev("echo", "2027-02-10", "2027-02-14", "block"), ev("real", "2027-03-01", "2027-03-05", "block")];
    let c = store.apply_feed(feed.id, &events, None, None, rules(false), later).await.unwrap();
    assert_eq!((c.added, c.echoes), (2, 1));
    assert!(c.new_conflicts.is_empty(), "an echo is not a conflict");
    let blocks = store.external_blocks(Some(u.id), d("2027-01-01"), d("2028-01-01")).await.unwrap();
    assert_eq!(blocks.iter().find(|b| b.uid == "echo").unwrap().echo_of, Some(ours.id));
    // The real closure refuses holds; the echo never does (cancel ours and rebook those nights).
    let err = store
        .create_reservation(&hold(u.id, "2027-03-04", "2027-03-06", "2"), HoldLimits::default(), later)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Overlap), "{err:?}");
    store.transition(&ours.code, ReservationStatus::Cancelled, &by("guest"), later).await.unwrap();
    store.create_reservation(&hold(u.id, "2027-02-10", "2027-02-12", "3"), HoldLimits::default(), later).await.unwrap();
    // Owner blocks may cover OTA-blocked nights.
    let mut block = hold(u.id, "2027-03-01", "2027-03-03", "");
    block.status = ReservationStatus::Blocked;
    block.hold_expires_at = None;
    store.create_reservation(&block, HoldLimits::default(), later).await.unwrap();
    // Moving a stay onto OTA nights is refused too.
    let r = store
        .create_reservation(&hold(u.id, "2027-04-01", "2027-04-03", "4"), HoldLimits::default(), later)
        .await
        .unwrap();
    let err = store
        .change_stay(
            &r.code,
            u.id,
            Stay::new(d("2027-03-03"), d("2027-03-05")).unwrap(),
            Money(1),
            Money(1),
            &by("o"),
            later,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Overlap), "{err:?}");
}

async fn conflicts_are_recorded_once_and_flag_the_reservation(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let ours = store
        .create_reservation(&hold(u.id, "2027-02-10", "2027-02-14", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    store.transition(&ours.code, ReservationStatus::Confirmed, &by("owner"), now()).await.unwrap();
    let feed = store.add_feed(u.id, "https://airbnb.test/a.ics", "airbnb", now()).await.unwrap();
    // An Airbnb *booking* over our stay is never an echo: a double booking happened there.
    let events = vec![ev("HM1", "2027-02-12", "2027-02-15", "booking")];
    let later = now() + Duration::minutes(5);
    let c = store.apply_feed(feed.id, &events, None, None, rules(true), later).await.unwrap();
    assert_eq!(c.new_conflicts.len(), 1);
    assert_eq!(c.new_conflicts[0].reservation_code, ours.code);
    let r = store.get_reservation(&ours.code).await.unwrap();
    assert!(r.flags.contains(&AttentionFlag::Conflict));
    assert_eq!(r.status, ReservationStatus::Confirmed, "our reservation is never changed");
    let c = store.apply_feed(feed.id, &events, None, None, rules(true), later + Duration::minutes(10)).await.unwrap();
    assert!(c.new_conflicts.is_empty(), "recorded once");
    assert_eq!(store.list_conflicts(Some(u.id)).await.unwrap().len(), 1);
    let audit = store.audit_for(r.id).await.unwrap();
    assert_eq!(audit.last().unwrap().actor, "ical");
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    "2026-11-23T15:00:00Z".parse().unwrap()
}

async fn open(engine: Engine) -> (TestDatabase, Arc<dyn Store>) {
    let db = TestDatabase::new(engine).await;
    let store = store::connect(&db.url, 32).await.expect("connect and migrate");
    (db, store)
}

fn unit_input(slug: &str, capacity: u32) -> UnitInput {
    UnitInput {
        slug: slug.into(),
        name: format!("Cabaña {slug}"),
        capacity,
        base_price: Money::from_pesos(40_000),
        weekend_multiplier: Multiplier(12_000),
        min_nights: 1,
        description: "Vista al lago".into(),
        amenities: vec!["wifi".into(), "parrilla".into()],
        photos: vec![Photo { url: "https://example.test/a.jpg".into(), caption: "Frente".into() }],
        active: true,
    }
}

async fn unit(store: &Arc<dyn Store>, slug: &str) -> Unit {
    store.create_unit(&unit_input(slug, 4), &format!("tok-{slug}"), now()).await.unwrap()
}

fn hold(unit_id: i64, from: &str, to: &str, phone: &str) -> NewReservation {
    NewReservation {
        unit_id,
        stay: Stay::new(d(from), d(to)).unwrap(),
        guests: 2,
        status: ReservationStatus::PreReserved,
        channel: domain::Channel::Api,
        guest_name: "Ana Pérez".into(),
        guest_phone: phone.into(),
        guest_email: Some("ana@example.test".into()),
        total: Money::from_pesos(100_000),
        deposit: Money::from_pesos(30_000),
        hold_expires_at: Some(now() + Duration::minutes(60)),
        notes: String::new(),
        actor: "test".into(),
        request_key: None,
        client_address: None,
        jobs: Vec::new(),
    }
}

fn by(actor: &str) -> Change {
    Change { actor: actor.into(), note: String::new(), allow_expired: false }
}

async fn both_schemas_have_the_same_tables_and_columns(_: Engine) {
    let (_a, sqlite) = open(Engine::Sqlite).await;
    let (_b, pg) = open(Engine::Postgres).await;
    let s = sqlite.schema().await.unwrap();
    let p = pg.schema().await.unwrap();
    assert!(s.contains_key("reservations") && s.contains_key("jobs"), "{s:?}");
    assert_eq!(s, p, "SQLite and PostgreSQL schemas differ");
}

async fn overlapping_holds_conflict_and_back_to_back_stays_do_not(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "coihue").await;
    let other = unit(&store, "arrayan").await;
    let first = store
        .create_reservation(&hold(u.id, "2027-01-10", "2027-01-15", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    assert_eq!(first.status, ReservationStatus::PreReserved);
    assert_eq!(first.code.len(), 6);
    for (a, b) in [
        ("2027-01-14", "2027-01-16"),
        ("2027-01-08", "2027-01-11"),
        ("2027-01-11", "2027-01-12"),
        ("2027-01-01", "2027-02-01"),
    ] {
        let err = store.create_reservation(&hold(u.id, a, b, "2"), HoldLimits::default(), now()).await.unwrap_err();
        assert!(matches!(err, StoreError::Overlap), "{a}..{b}: {err:?}");
    }
    store.create_reservation(&hold(u.id, "2027-01-15", "2027-01-18", "3"), HoldLimits::default(), now()).await.unwrap();
    store.create_reservation(&hold(u.id, "2027-01-05", "2027-01-10", "4"), HoldLimits::default(), now()).await.unwrap();
    store
        .create_reservation(&hold(other.id, "2027-01-10", "2027-01-15", "5"), HoldLimits::default(), now())
        .await
        .unwrap();
    let err = store
        .create_reservation(&hold(999, "2027-03-01", "2027-03-02", "6"), HoldLimits::default(), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let audit = store.audit_for(first.id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "created");
}

async fn the_database_itself_rejects_an_overlapping_row(engine: Engine) {
    let db = TestDatabase::new(engine).await;
    let insert = "INSERT INTO reservations (code, unit_id, check_in, check_out, guests, status, channel, total, deposit, created_at, updated_at) \
                  VALUES ($1, $2, $3, $4, 2, $5, 'admin', 0, 0, $6, $6)";
    let u;
    match engine {
        Engine::Sqlite => {
            let s = SqliteStore::connect(&db.url).await.unwrap();
            u = s.create_unit(&unit_input("a", 2), "t", now()).await.unwrap();
            let q = |code: &str, a: &str, b: &str, st: &str| {
                sqlx::query(insert)
                    .bind(code.to_string())
                    .bind(u.id)
                    .bind(d(a))
                    .bind(d(b))
                    .bind(st.to_string())
                    .bind(now())
            };
            q("AAAAAA", "2027-01-10", "2027-01-12", "confirmed").execute(s.pool()).await.unwrap();
            let e = q("BBBBBB", "2027-01-11", "2027-01-13", "blocked").execute(s.pool()).await.unwrap_err();
            assert!(e.to_string().contains("reservations_no_overlap"), "{e}");
            q("CCCCCC", "2027-01-11", "2027-01-13", "cancelled").execute(s.pool()).await.unwrap();
            // Re-activating the cancelled row would overlap: the update trigger refuses.
            let e = sqlx::query("UPDATE reservations SET status = 'confirmed' WHERE code = 'CCCCCC'")
                .execute(s.pool())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("reservations_no_overlap"), "{e}");
            // A channel outside domain::Channel is refused by the database itself.
            let e = sqlx::query(&insert.replace("'admin'", "'telegram'"))
                .bind("DDDDDD")
                .bind(u.id)
                .bind(d("2027-02-10"))
                .bind(d("2027-02-12"))
                .bind("confirmed")
                .bind(now())
                .execute(s.pool())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("reservations_channel_known"), "{e}");
        }
        Engine::Postgres => {
            let s = PgStore::connect(&db.url, 4).await.unwrap();
            u = s.create_unit(&unit_input("a", 2), "t", now()).await.unwrap();
            let q = |code: &str, a: &str, b: &str, st: &str| {
                sqlx::query(insert)
                    .bind(code.to_string())
                    .bind(u.id)
                    .bind(d(a))
                    .bind(d(b))
                    .bind(st.to_string())
                    .bind(now())
            };
            q("AAAAAA", "2027-01-10", "2027-01-12", "confirmed").execute(s.pool()).await.unwrap();
            let e = q("BBBBBB", "2027-01-11", "2027-01-13", "blocked").execute(s.pool()).await.unwrap_err();
            assert!(e.to_string().contains("reservations_no_overlap"), "{e}");
            q("CCCCCC", "2027-01-11", "2027-01-13", "cancelled").execute(s.pool()).await.unwrap();
            let e = sqlx::query("UPDATE reservations SET status = 'confirmed' WHERE code = 'CCCCCC'")
                .execute(s.pool())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("reservations_no_overlap"), "{e}");
            // A channel outside domain::Channel is refused by the database itself.
            let e = sqlx::query(&insert.replace("'admin'", "'telegram'"))
                .bind("DDDDDD")
                .bind(u.id)
                .bind(d("2027-02-10"))
                .bind(d("2027-02-12"))
                .bind("confirmed")
                .bind(now())
                .execute(s.pool())
                .await
                .unwrap_err();
            assert!(e.to_string().contains("reservations_channel_known"), "{e}");
        }
    }
}

async fn cancelled_and_expired_stays_free_their_nights(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-02-01", "2027-02-05", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    store.transition(&r.code, ReservationStatus::Cancelled, &by("owner"), now()).await.unwrap();
    let r2 = store
        .create_reservation(&hold(u.id, "2027-02-01", "2027-02-05", "2"), HoldLimits::default(), now())
        .await
        .unwrap();
    store.transition(&r2.code, ReservationStatus::Expired, &by("system"), now()).await.unwrap();
    store.create_reservation(&hold(u.id, "2027-02-02", "2027-02-03", "3"), HoldLimits::default(), now()).await.unwrap();
    let stays = store.active_stays(Some(u.id), d("2027-01-01"), d("2027-03-01")).await.unwrap();
    assert_eq!(stays.len(), 1);
}

async fn a_stale_hold_is_expired_inside_the_next_hold(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let mut old = hold(u.id, "2027-02-01", "2027-02-05", "1");
    old.hold_expires_at = Some(now() - Duration::minutes(1));
    let old = store.create_reservation(&old, HoldLimits::default(), now() - Duration::minutes(61)).await.unwrap();
    // No sweeper ran: the next hold on those nights expires it and wins.
    store.create_reservation(&hold(u.id, "2027-02-03", "2027-02-06", "2"), HoldLimits::default(), now()).await.unwrap();
    let old = store.get_reservation(&old.code).await.unwrap();
    assert_eq!(old.status, ReservationStatus::Expired);
    let actions: Vec<String> = store.audit_for(old.id).await.unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(actions, vec!["created", "expired"]);
    // The sweeper finds nothing else to do, then finds the next one when its time is up.
    assert!(store.expire_stale_holds(now()).await.unwrap().is_empty());
    assert_eq!(store.expire_stale_holds(now() + Duration::minutes(61)).await.unwrap().len(), 1);
}

async fn a_contact_may_hold_only_so_many(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let limits = HoldLimits { max_holds_per_contact: Some(2), ..Default::default() };
    store.create_reservation(&hold(u.id, "2027-03-01", "2027-03-02", "+5491111"), limits, now()).await.unwrap();
    store.create_reservation(&hold(u.id, "2027-03-02", "2027-03-03", "+5491111"), limits, now()).await.unwrap();
    let err =
        store.create_reservation(&hold(u.id, "2027-03-03", "2027-03-04", "+5491111"), limits, now()).await.unwrap_err();
    assert!(matches!(err, StoreError::TooManyHolds(2)), "{err:?}");
    store.create_reservation(&hold(u.id, "2027-03-03", "2027-03-04", "+5492222"), limits, now()).await.unwrap();
    // An owner block is not a hold.
    let mut block = hold(u.id, "2027-03-10", "2027-03-12", "+5491111");
    block.status = ReservationStatus::Blocked;
    block.hold_expires_at = None;
    store.create_reservation(&block, limits, now()).await.unwrap();
}

/// Anonymous holds from one client address: at most so many live at once, whatever phones
/// they give; an expired or cancelled one frees its place; other addresses are not affected.
async fn a_client_address_may_hold_only_so_many(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let limits = HoldLimits { max_holds_per_address: Some(2), ..Default::default() };
    let from = |addr: &str, day: u32, phone: &str| {
        let mut n = hold(u.id, &format!("2027-03-{day:02}"), &format!("2027-03-{:02}", day + 1), phone);
        n.client_address = Some(addr.into());
        n
    };
    let first = store.create_reservation(&from("203.0.113.7", 1, "+5491100000001"), limits, now()).await.unwrap();
    store.create_reservation(&from("203.0.113.7", 2, "+5491100000002"), limits, now()).await.unwrap();
    let err = store.create_reservation(&from("203.0.113.7", 3, "+5491100000003"), limits, now()).await.unwrap_err();
    assert!(matches!(err, StoreError::TooManyAddressHolds(2)), "{err:?}");
    store.create_reservation(&from("198.51.100.9", 3, "+5491100000003"), limits, now()).await.unwrap();
    // Without an address (a conversation's hold) the limit does not apply.
    store.create_reservation(&hold(u.id, "2027-03-05", "2027-03-06", "+5491100000005"), limits, now()).await.unwrap();
    store.transition(&first.code, ReservationStatus::Cancelled, &by("owner"), now()).await.unwrap();
    store.create_reservation(&from("203.0.113.7", 7, "+5491100000007"), limits, now()).await.unwrap();
    let err = store.create_reservation(&from("203.0.113.7", 8, "+5491100000008"), limits, now()).await.unwrap_err();
    assert!(matches!(err, StoreError::TooManyAddressHolds(2)), "{err:?}");
    // Expired holds do not count.
    let later = now() + Duration::minutes(61);
    store.create_reservation(&from("203.0.113.7", 8, "+5491100000008"), limits, later).await.unwrap();
}

async fn transitions_follow_the_domain_rules(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-04-01", "2027-04-03", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    let c = store
        .transition(
            &r.code,
            ReservationStatus::Confirmed,
            &Change { note: "pagó en efectivo".into(), ..by("owner@x") },
            now(),
        )
        .await
        .unwrap();
    assert_eq!(c.status, ReservationStatus::Confirmed);
    assert_eq!(c.confirmed_at, Some(now()));
    assert!(c.notes.contains("pagó en efectivo"));
    let err = store.transition(&r.code, ReservationStatus::Expired, &by("x"), now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err:?}");
    let x = store.transition(&r.code, ReservationStatus::Cancelled, &by("owner@x"), now()).await.unwrap();
    assert_eq!(x.cancelled_at, Some(now()));
    let err = store.transition(&r.code, ReservationStatus::Confirmed, &by("x"), now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err:?}");
    let err = store.transition("ZZZZZZ", ReservationStatus::Confirmed, &by("x"), now()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    let audit = store.audit_for(r.id).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, vec!["created", "confirmed", "cancelled"]);
    assert_eq!(audit[1].actor, "owner@x");
    assert_eq!(audit[1].before.as_ref().unwrap()["status"], "pre_reserved");
    assert_eq!(audit[1].after.as_ref().unwrap()["status"], "confirmed");
    // A hold whose time ran out cannot be confirmed by an admin...
    let r = store
        .create_reservation(&hold(u.id, "2027-05-01", "2027-05-03", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    let later = now() + Duration::minutes(61);
    let err = store.transition(&r.code, ReservationStatus::Confirmed, &by("owner"), later).await.unwrap_err();
    assert!(matches!(err, StoreError::HoldExpired), "{err:?}");
    assert_eq!(store.get_reservation(&r.code).await.unwrap().status, ReservationStatus::Expired);
}

async fn a_late_payment_confirms_only_free_nights(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let late = Change { allow_expired: true, ..by("payment") };
    let later = now() + Duration::minutes(90);
    let a = store
        .create_reservation(&hold(u.id, "2027-05-01", "2027-05-03", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    let ok = store.transition(&a.code, ReservationStatus::Confirmed, &late, later).await.unwrap();
    assert_eq!(ok.status, ReservationStatus::Confirmed);
    let b = store
        .create_reservation(&hold(u.id, "2027-06-01", "2027-06-03", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    store.expire_stale_holds(later).await.unwrap();
    store.create_reservation(&hold(u.id, "2027-06-02", "2027-06-04", "2"), HoldLimits::default(), later).await.unwrap();
    let err = store.transition(&b.code, ReservationStatus::Confirmed, &late, later).await.unwrap_err();
    assert!(matches!(err, StoreError::Overlap), "{err:?}");
    assert_eq!(store.get_reservation(&b.code).await.unwrap().status, ReservationStatus::Expired);
}

async fn changing_dates_keeps_the_no_overlap_rule(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let v = unit(&store, "b").await;
    let a = store
        .create_reservation(&hold(u.id, "2027-07-01", "2027-07-05", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    store.create_reservation(&hold(u.id, "2027-07-10", "2027-07-12", "2"), HoldLimits::default(), now()).await.unwrap();
    let s = |a: &str, b: &str| Stay::new(d(a), d(b)).unwrap();
    let err = store
        .change_stay(&a.code, u.id, s("2027-07-08", "2027-07-11"), Money(1), Money(1), &by("o"), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Overlap), "{err:?}");
    let moved = store
        .change_stay(&a.code, u.id, s("2027-07-03", "2027-07-10"), Money(700), Money(210), &by("o"), now())
        .await
        .unwrap();
    assert_eq!(moved.stay, s("2027-07-03", "2027-07-10"));
    let moved = store
        .change_stay(&a.code, v.id, s("2027-07-10", "2027-07-12"), Money(200), Money(60), &by("o"), now())
        .await
        .unwrap();
    assert_eq!(moved.unit_id, v.id);
    store.transition(&a.code, ReservationStatus::Cancelled, &by("o"), now()).await.unwrap();
    let err = store
        .change_stay(&a.code, v.id, s("2027-08-01", "2027-08-02"), Money(1), Money(1), &by("o"), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotActive(ReservationStatus::Cancelled)), "{err:?}");
}

async fn flags_are_set_and_cleared_with_audit(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-07-01", "2027-07-05", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    let f = store.set_flag(&r.code, AttentionFlag::Conflict, true, &by("ical"), now()).await.unwrap();
    let f = store.set_flag(&f.code, AttentionFlag::StaleSync, true, &by("ical"), now()).await.unwrap();
    assert_eq!(f.flags.len(), 2);
    let (found, n) = store
        .list_reservations(&ReservationFilter { flag: Some(AttentionFlag::Conflict), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!((found.len(), n), (1, 1));
    let f = store
        .set_flag(&r.code, AttentionFlag::Conflict, false, &Change { note: "revisado".into(), ..by("owner") }, now())
        .await
        .unwrap();
    assert_eq!(f.flags.into_iter().collect::<Vec<_>>(), vec![AttentionFlag::StaleSync]);
    let actions: Vec<String> = store.audit_for(r.id).await.unwrap().into_iter().map(|a| a.action).collect();
    assert_eq!(actions, vec!["created", "flag_set", "flag_set", "flag_cleared"]);
}

async fn reservations_filter_and_search(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let v = unit(&store, "b").await;
    let mut n = hold(u.id, "2027-01-01", "2027-01-03", "+5492944111111");
    n.guest_name = "María Gómez".into();
    let a = store.create_reservation(&n, HoldLimits::default(), now()).await.unwrap();
    let mut n = hold(v.id, "2027-02-01", "2027-02-03", "+5492944222222");
    n.channel = domain::Channel::Whatsapp;
    n.guest_name = "Juan_100%".into();
    store.create_reservation(&n, HoldLimits::default(), now() + Duration::seconds(1)).await.unwrap();
    let list = |f: ReservationFilter| {
        let store = store.clone();
        async move { store.list_reservations(&ReservationFilter { limit: 50, ..f }).await.unwrap() }
    };
    assert_eq!(list(Default::default()).await.1, 2);
    assert_eq!(list(ReservationFilter { unit_id: Some(u.id), ..Default::default() }).await.0[0].code, a.code);
    assert_eq!(list(ReservationFilter { channel: Some(domain::Channel::Whatsapp), ..Default::default() }).await.1, 1);
    assert_eq!(list(ReservationFilter { text: Some("maría".into()), ..Default::default() }).await.1, 1);
    assert_eq!(list(ReservationFilter { text: Some(a.code.to_lowercase()), ..Default::default() }).await.1, 1);
    assert_eq!(list(ReservationFilter { text: Some("222222".into()), ..Default::default() }).await.1, 1);
    assert_eq!(list(ReservationFilter { text: Some("100%".into()), ..Default::default() }).await.1, 1);
    assert_eq!(list(ReservationFilter { text: Some("%".into()), ..Default::default() }).await.1, 1, "% is literal");
    assert_eq!(
        list(ReservationFilter { from: Some(d("2027-01-02")), to: Some(d("2027-01-31")), ..Default::default() })
            .await
            .1,
        1
    );
    assert_eq!(list(ReservationFilter { status: Some(ReservationStatus::Confirmed), ..Default::default() }).await.1, 0);
    let (page, total) = list(ReservationFilter { limit: 1, offset: 1, ..Default::default() }).await;
    assert_eq!((page.len(), total), (1, 2));
    assert_eq!(page[0].code, a.code, "newest first");
}

async fn units_and_rate_rules_round_trip(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "coihue").await;
    assert_eq!(u.amenities, vec!["wifi", "parrilla"]);
    assert_eq!(u.photos[0].caption, "Frente");
    assert_eq!(store.get_unit_by_slug("coihue").await.unwrap().id, u.id);
    let err = store.create_unit(&unit_input("coihue", 2), "t2", now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("slug")), "{err:?}");
    let mut input = unit_input("coihue", 6);
    input.active = false;
    let updated = store.update_unit(u.id, &input, now()).await.unwrap();
    assert_eq!((updated.capacity, updated.active), (6, false));
    assert!(store.list_units(false).await.unwrap().is_empty());
    assert_eq!(store.list_units(true).await.unwrap().len(), 1);
    store.set_unit_ical_token(u.id, "new", now()).await.unwrap();
    assert_eq!(store.get_unit(u.id).await.unwrap().ical_token, "new");

    let rule = RateRuleInput {
        unit_id: Some(u.id),
        name: "Temporada alta".into(),
        start: Some(d("2027-01-01")),
        end: Some(d("2027-03-01")),
        scope: RuleScope::AllNights,
        effect: RuleEffect::Multiplier(Multiplier(15_000)),
        min_nights: Some(3),
    };
    let r = store.create_rate_rule(&rule, now()).await.unwrap();
    assert_eq!(r.effect, RuleEffect::Multiplier(Multiplier(15_000)));
    let holiday = RateRuleInput {
        unit_id: None,
        start: None,
        end: None,
        scope: RuleScope::HolidayEves,
        effect: RuleEffect::NightlyPrice(Money::from_pesos(90_000)),
        ..rule.clone()
    };
    let r2 = store.update_rate_rule(r.id, &holiday, now()).await.unwrap();
    assert_eq!(
        (r2.unit_id, r2.scope, r2.effect),
        (None, RuleScope::HolidayEves, RuleEffect::NightlyPrice(Money::from_pesos(90_000)))
    );
    assert_eq!(store.list_rate_rules().await.unwrap().len(), 1);
    store.delete_rate_rule(r.id).await.unwrap();
    assert!(matches!(store.delete_rate_rule(r.id).await.unwrap_err(), StoreError::NotFound));
}

async fn admin_users_upsert(engine: Engine) {
    let (_db, store) = open(engine).await;
    let a = store.upsert_admin_user("Owner@Example.test ", "hash1", Role::Owner, now()).await.unwrap();
    assert_eq!(a.email, "owner@example.test");
    let b = store.upsert_admin_user("owner@example.test", "hash2", Role::Staff, now()).await.unwrap();
    assert_eq!((a.id, b.password_hash.as_str(), b.role), (b.id, "hash2", Role::Staff));
    assert!(!format!("{b:?}").contains("hash2"), "Debug must not print the hash");
    assert!(matches!(store.get_admin_user("nobody@x").await.unwrap_err(), StoreError::NotFound));
}

async fn idempotency_keys_replay_and_refuse_other_bodies(engine: Engine) {
    let (_db, store) = open(engine).await;
    assert_eq!(store.claim_idempotency("pre", "k1", "h1", now()).await.unwrap(), IdempotencyClaim::New);
    assert_eq!(store.claim_idempotency("pre", "k1", "h1", now()).await.unwrap(), IdempotencyClaim::InProgress);
    assert_eq!(store.claim_idempotency("pre", "k1", "h2", now()).await.unwrap(), IdempotencyClaim::Mismatch);
    store.finish_idempotency("pre", "k1", 201, "{\"ok\":1}").await.unwrap();
    assert_eq!(
        store.claim_idempotency("pre", "k1", "h1", now()).await.unwrap(),
        IdempotencyClaim::Replay { status: 201, body: "{\"ok\":1}".into() }
    );
    assert_eq!(
        store.claim_idempotency("cancel", "k1", "h9", now()).await.unwrap(),
        IdempotencyClaim::New,
        "keys are per scope"
    );
    // A claim abandoned by a dead process can be taken over after a minute.
    assert_eq!(store.claim_idempotency("pre", "k2", "h1", now()).await.unwrap(), IdempotencyClaim::New);
    assert_eq!(
        store.claim_idempotency("pre", "k2", "h1", now() + Duration::seconds(61)).await.unwrap(),
        IdempotencyClaim::New
    );
    store.release_idempotency("pre", "k2").await.unwrap();
    assert_eq!(store.claim_idempotency("pre", "k2", "h3", now()).await.unwrap(), IdempotencyClaim::New);
    assert_eq!(store.purge_idempotency(now() + Duration::hours(49)).await.unwrap(), 3);
}

async fn jobs_are_leased_retried_and_deduplicated(engine: Engine) {
    let (_db, store) = open(engine).await;
    let job = |key: Option<&str>, at: DateTime<Utc>| NewJob {
        kind: "test".into(),
        payload: serde_json::json!({"n": 1}),
        dedupe_key: key.map(String::from),
        run_at: at,
        max_attempts: 2,
    };
    let id = store.enqueue_job(&job(Some("once"), now()), now()).await.unwrap().unwrap();
    assert_eq!(store.enqueue_job(&job(Some("once"), now()), now()).await.unwrap(), None, "deduplicated");
    store.enqueue_job(&job(None, now() + Duration::hours(1)), now()).await.unwrap().unwrap();
    let lease = std::time::Duration::from_secs(30);
    let got = store.claim_jobs("w1", now(), lease, 10).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id], "only due jobs");
    assert_eq!(got[0].attempts, 1);
    assert_eq!(got[0].payload["n"], 1);
    assert!(store.claim_jobs("w2", now(), lease, 10).await.unwrap().is_empty(), "leased");
    let stats = store.job_stats(now() + Duration::seconds(5)).await.unwrap();
    assert_eq!(stats.backlog, 1);
    // w1 fails with a retry; w2 cannot report on w1's lease.
    assert!(matches!(store.fail_job(id, "w2", "nope", None, now()).await.unwrap_err(), StoreError::NotFound));
    store.fail_job(id, "w1", "timeout", Some(now() + Duration::seconds(2)), now()).await.unwrap();
    assert!(store.claim_jobs("w2", now(), lease, 10).await.unwrap().is_empty(), "not due yet");
    let got = store.claim_jobs("w2", now() + Duration::seconds(2), lease, 10).await.unwrap();
    assert_eq!((got[0].attempts, got[0].last_error.as_deref()), (2, Some("timeout")));
    // Out of attempts: failed for good.
    store.fail_job(id, "w2", "timeout again", Some(now() + Duration::seconds(10)), now()).await.unwrap();
    assert_eq!(store.get_job(id).await.unwrap().1, "failed");
    assert_eq!(store.job_stats(now()).await.unwrap().failed, 1);
    // A worker that dies leaves a lease that runs out; another worker takes the job.
    let r = store.enqueue_job(&job(Some("recurring"), now()), now()).await.unwrap().unwrap();
    store.claim_jobs("dead", now(), lease, 10).await.unwrap();
    let got = store.claim_jobs("w3", now() + Duration::seconds(31), lease, 10).await.unwrap();
    assert_eq!(got[0].id, r);
    store.reschedule_job(r, "w3", now() + Duration::seconds(60), now()).await.unwrap();
    assert_eq!(store.get_job(r).await.unwrap().1, "pending");
    let got = store.claim_jobs("w4", now() + Duration::seconds(60), lease, 10).await.unwrap();
    assert_eq!(got[0].attempts, 1, "a reschedule starts the count again");
    assert_eq!(store.release_leases("w4", now()).await.unwrap(), 1);
    let got = store.claim_jobs("w5", now() + Duration::seconds(60), lease, 10).await.unwrap();
    assert_eq!(got[0].attempts, 1, "a released attempt does not count");
    store.complete_job(r, "w5", now()).await.unwrap();
    assert_eq!(store.get_job(r).await.unwrap().1, "done");
    assert_eq!(store.job_stats(now() + Duration::hours(2)).await.unwrap().backlog, 1);
}

async fn concurrent_workers_never_share_a_job(engine: Engine) {
    let (_db, store) = open(engine).await;
    for i in 0..60 {
        store
            .enqueue_job(
                &NewJob {
                    kind: "t".into(),
                    payload: serde_json::json!(i),
                    dedupe_key: None,
                    run_at: now(),
                    max_attempts: 3,
                },
                now(),
            )
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got =
                    store.claim_jobs(&format!("w{w}"), now(), std::time::Duration::from_secs(60), 3).await.unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!((before, all.len()), (60, 60), "every job claimed exactly once");
}

async fn many_concurrent_holds_on_the_same_nights_yield_one_winner(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_reservation(
                    &hold(u.id, "2027-01-15", "2027-01-20", &format!("{i}")),
                    HoldLimits::default(),
                    now(),
                )
                .await
        }));
    }
    let (mut won, mut overlap) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Overlap) => overlap += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((won, overlap), (1, 99));
}

async fn random_concurrent_holds_never_overlap(engine: Engine) {
    let (_db, store) = open(engine).await;
    let units = [unit(&store, "a").await.id, unit(&store, "b").await.id];
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Deterministic pseudo-random spread over 40 days, 1–4 nights.
            let x = i.wrapping_mul(2_654_435_761) % 1_000_003;
            let start = d("2027-01-01") + Duration::days((x % 40) as i64);
            let len = 1 + (x / 40 % 4) as i64;
            let mut n = hold(units[(x % 2) as usize], "2027-01-01", "2027-01-02", &i.to_string());
            n.stay = Stay::new(start, start + Duration::days(len)).unwrap();
            store.create_reservation(&n, HoldLimits::default(), now()).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Overlap) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    let stays = store.active_stays(None, d("2026-12-01"), d("2027-03-01")).await.unwrap();
    assert_eq!(stays.len(), won);
    for a in &stays {
        for b in &stays {
            if a.reservation_id != b.reservation_id && a.unit_id == b.unit_id {
                assert!(!a.stay.overlaps(&b.stay), "{a:?} overlaps {b:?}");
            }
        }
    }
    // Back-to-back stays were accepted: some stay starts the day another one ends.
    assert!(
        stays.iter().any(|a| { stays.iter().any(|b| a.unit_id == b.unit_id && a.stay.check_out == b.stay.check_in) })
    );
}

async fn admin_sessions_live_expire_and_end(engine: Engine) {
    let (_db, store) = open(engine).await;
    let user = store.upsert_admin_user("staff@example.test", "hash", Role::Staff, now()).await.unwrap();
    let new = |hash: &str, ttl: i64| NewAdminSession {
        token_hash: hash.into(),
        user_id: user.id,
        csrf_token: format!("csrf-{hash}"),
        ip: Some("10.0.0.1".into()),
        user_agent: Some("test".into()),
        expires_at: now() + Duration::hours(ttl),
    };
    store.create_admin_session(&new("h1", 12), now()).await.unwrap();
    store.create_admin_session(&new("h2", 1), now()).await.unwrap();
    let dup = store.create_admin_session(&new("h1", 12), now()).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");
    let s = store.get_admin_session("h1", now()).await.unwrap();
    assert_eq!((s.email.as_str(), s.role, s.csrf_token.as_str()), ("staff@example.test", Role::Staff, "csrf-h1"));
    assert_eq!((s.created_at, s.expires_at), (now(), now() + Duration::hours(12)));
    assert!(!format!("{s:?}").contains("csrf-h1"), "Debug must not print the CSRF token");
    assert!(matches!(store.get_admin_session("nope", now()).await.unwrap_err(), StoreError::NotFound));
    // Expired: no longer found, and purged.
    let later = now() + Duration::hours(2);
    assert!(matches!(store.get_admin_session("h2", later).await.unwrap_err(), StoreError::NotFound));
    assert_eq!(store.purge_admin_sessions(later).await.unwrap(), 1);
    assert!(store.get_admin_session("h1", later).await.is_ok());
    // Log out.
    store.delete_admin_session("h1").await.unwrap();
    assert!(matches!(store.get_admin_session("h1", now()).await.unwrap_err(), StoreError::NotFound));
    // A role change applies to live sessions at once.
    store.create_admin_session(&new("h3", 12), now()).await.unwrap();
    let promoted = store.upsert_admin_user("staff@example.test", "hash", Role::Owner, now()).await.unwrap();
    assert_eq!(store.get_admin_session("h3", now()).await.unwrap().role, Role::Owner);
    // Token versions: another role moves it, the same password and role again do not, a new
    // password moves it and ends the sessions, a removal ends everything.
    assert_eq!(promoted.token_version, user.token_version + 1);
    let same = store.upsert_admin_user("staff@example.test", "hash", Role::Owner, now()).await.unwrap();
    assert_eq!(same.token_version, promoted.token_version);
    let demoted = store.set_admin_role("staff@example.test", Role::Staff, now()).await.unwrap();
    assert_eq!((demoted.role, demoted.token_version), (Role::Staff, promoted.token_version + 1));
    assert_eq!(
        store.set_admin_role("staff@example.test", Role::Staff, now()).await.unwrap().token_version,
        demoted.token_version
    );
    let reset = store.upsert_admin_user("staff@example.test", "new-hash", Role::Staff, now()).await.unwrap();
    assert_eq!(reset.token_version, demoted.token_version + 1);
    assert!(matches!(store.get_admin_session("h3", now()).await.unwrap_err(), StoreError::NotFound));
    store.create_admin_session(&new("h4", 12), now()).await.unwrap();
    store.remove_admin_user("Staff@Example.test").await.unwrap();
    assert!(matches!(store.get_admin_user("staff@example.test").await.unwrap_err(), StoreError::NotFound));
    assert!(matches!(store.get_admin_session("h4", now()).await.unwrap_err(), StoreError::NotFound));
    assert!(matches!(store.remove_admin_user("staff@example.test").await.unwrap_err(), StoreError::NotFound));
    assert!(matches!(
        store.set_admin_role("nobody@example.test", Role::Owner, now()).await.unwrap_err(),
        StoreError::NotFound
    ));
}

async fn the_audit_log_reads_as_a_feed(engine: Engine) {
    let (_db, store) = open(engine).await;
    assert_eq!(store.latest_audit_id().await.unwrap(), 0);
    let u = unit(&store, "a").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-02-10", "2027-02-14", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    let first = store.latest_audit_id().await.unwrap();
    assert!(first > 0);
    let change = Change { actor: "owner@x".into(), note: "efectivo".into(), allow_expired: false };
    store.transition(&r.code, ReservationStatus::Confirmed, &change, now()).await.unwrap();
    store.record_audit(None, "owner@x", "unit_updated", "Cabaña a", now()).await.unwrap();
    let feed = store.audit_after(first, 10).await.unwrap();
    assert_eq!(
        feed.iter().map(|e| (e.action.as_str(), e.actor.as_str(), e.reservation_id)).collect::<Vec<_>>(),
        vec![("confirmed", "owner@x", Some(r.id)), ("unit_updated", "owner@x", None)]
    );
    assert_eq!(store.latest_audit_id().await.unwrap(), feed[1].id);
    assert_eq!(store.audit_after(0, 1).await.unwrap().len(), 1);
    assert!(store.audit_after(feed[1].id, 10).await.unwrap().is_empty());
}

async fn the_funnel_counts_conversations_quotes_holds_and_paid(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let (from, to) = (now() - Duration::hours(1), now() + Duration::hours(1));
    assert_eq!(store.funnel(from, to).await.unwrap(), Funnel::default());
    // Two guests write; one is quoted twice; one hold from the chat is paid, one is not; a
    // hold placed through the API and an owner block are not part of the funnel.
    for (n, phone) in ["549111", "549222"].iter().enumerate() {
        let c = store.upsert_contact(domain::Channel::Whatsapp, phone, "", now()).await.unwrap();
        let stay = Stay::new(d("2027-03-01"), d("2027-03-03")).unwrap();
        let turn = Turn {
            contact_id: c.id,
            state: serde_json::json!({}),
            inbound: Some(NewMessage { kind: "text".into(), body: "hola".into(), payload: serde_json::json!({}) }),
            send_job_kind: "send_message".into(),
            quotes: if n == 0 { vec![(u.id, stay, Money(100)), (u.id, stay, Money(100))] } else { vec![] },
            ..Default::default()
        };
        store.commit_turn(&turn, now()).await.unwrap();
    }
    let mut a = hold(u.id, "2027-03-01", "2027-03-03", "549111");
    a.channel = domain::Channel::Whatsapp;
    let a = store.create_reservation(&a, HoldLimits::default(), now()).await.unwrap();
    let mut b = hold(u.id, "2027-03-05", "2027-03-07", "549111");
    b.channel = domain::Channel::Sandbox;
    store.create_reservation(&b, HoldLimits::default(), now()).await.unwrap();
    store
        .create_reservation(&hold(u.id, "2027-03-10", "2027-03-12", "549333"), HoldLimits::default(), now())
        .await
        .unwrap();
    let mut block = hold(u.id, "2027-03-20", "2027-03-22", "");
    block.status = ReservationStatus::Blocked;
    block.channel = domain::Channel::Whatsapp;
    block.hold_expires_at = None;
    store.create_reservation(&block, HoldLimits::default(), now()).await.unwrap();
    store.transition(&a.code, ReservationStatus::Confirmed, &by("payment"), now()).await.unwrap();
    let f = store.funnel(from, to).await.unwrap();
    assert_eq!(
        f,
        Funnel { conversations: 2, quoted: 1, holds: 2, paid: 1, direct_holds: 1, direct_paid: 0 },
        "the API hold is counted apart"
    );
    // Outside the period, nothing.
    assert_eq!(store.funnel(to, to + Duration::hours(1)).await.unwrap(), Funnel::default());
}

async fn backups_are_recorded_and_the_newest_is_found(engine: Engine) {
    let (_db, store) = open(engine).await;
    assert_eq!(store.last_backup().await.unwrap(), None);
    let new = |file: &str, trigger| NewBackup { file: file.into(), bytes: 4096, trigger, took_ms: 12 };
    let first = store.record_backup(&new("/b/posada-1.db", BackupTrigger::Manual), now()).await.unwrap();
    assert_eq!((first.file.as_str(), first.trigger, first.bytes), ("/b/posada-1.db", BackupTrigger::Manual, 4096));
    store.record_backup(&new("/b/posada-2.db", BackupTrigger::Daily), now() + Duration::hours(24)).await.unwrap();
    // An older row recorded later (a restored file) does not hide the newest.
    store.record_backup(&new("/b/posada-0.db", BackupTrigger::Restored), now() - Duration::hours(5)).await.unwrap();
    let last = store.last_backup().await.unwrap().unwrap();
    assert_eq!((last.file.as_str(), last.trigger), ("/b/posada-2.db", BackupTrigger::Daily));
    assert_eq!(last.created_at, now() + Duration::hours(24));
    // The engine's own online copy: SQLite writes one, PostgreSQL leaves it to pg_dump.
    let path = std::env::temp_dir().join(format!("posada-copy-{:016x}.db", rand::random::<u64>()));
    match (engine, store.copy_to_file(&path).await) {
        (Engine::Sqlite, Ok(())) => {
            let copy = store::connect(&format!("sqlite://{}", path.display()), 1).await.unwrap();
            assert_eq!(copy.last_backup().await.unwrap().unwrap().file, "/b/posada-2.db");
            copy.close().await;
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
            }
        }
        (Engine::Postgres, Err(StoreError::Unsupported(_))) => assert!(!path.exists()),
        (engine, other) => panic!("{engine:?}: {other:?}"),
    }
}

async fn migration_status_compares_the_database_with_this_build(engine: Engine) {
    let (_db, store) = open(engine).await;
    let status = store.migration_status().await.unwrap();
    assert!(status.up_to_date(), "{status:?}");
    assert_eq!(status.schema_version(), Some(store::migrations::latest_version()));
    assert_eq!(status.applied, store::migrations::known(store.backend()));
}

/// PostgreSQL refuses a NUL byte where SQLite keeps it: the store decides first, the same way on
/// both. Our own input with a control character is refused and writes nothing; a search or a
/// lookup with one finds nothing; a provider's event is stored with those characters removed.
async fn control_characters_are_refused_or_removed_the_same_on_both_engines(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    for bad in ["Ana\0Pérez", "Ana\u{1}", "Ana\u{7f}"] {
        let mut n = hold(u.id, "2027-01-01", "2027-01-03", "+5492944111111");
        n.guest_name = bad.into();
        let e = store.create_reservation(&n, HoldLimits::default(), now()).await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{bad:?}: {e:?}");
        let mut n = hold(u.id, "2027-01-01", "2027-01-03", bad);
        n.guest_name = "Ana".into();
        assert!(matches!(
            store.create_reservation(&n, HoldLimits::default(), now()).await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(store.list_reservations(&ReservationFilter { limit: 50, ..Default::default() }).await.unwrap().1, 0);
    let mut bad_unit = unit_input("b", 4);
    bad_unit.name = "Cabaña\0".into();
    assert!(matches!(store.create_unit(&bad_unit, "tok-b", now()).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.update_unit(u.id, &bad_unit, now()).await, Err(StoreError::Invalid(_))));
    let mut bad_unit = unit_input("b", 4);
    bad_unit.photos[0].caption = "a\0".into();
    assert!(matches!(store.create_unit(&bad_unit, "tok-b", now()).await, Err(StoreError::Invalid(_))));
    // A newline is text (notes and descriptions have lines).
    let mut n = hold(u.id, "2027-01-01", "2027-01-03", "+5492944111111");
    n.notes = "línea 1\nlínea 2\tfin".into();
    let r = store.create_reservation(&n, HoldLimits::default(), now()).await.unwrap();
    assert_eq!(r.notes, "línea 1\nlínea 2\tfin");
    let bad_change = Change { actor: "owner".into(), note: "x\0".into(), allow_expired: false };
    assert!(matches!(
        store.transition(&r.code, ReservationStatus::Cancelled, &bad_change, now()).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.get_reservation(&r.code).await.unwrap().status, ReservationStatus::PreReserved);
    // Searches and lookups: nothing found, never an error.
    for text in ["\0", "Ana\0", "\u{1b}[31m"] {
        let f = ReservationFilter { text: Some(text.into()), limit: 50, ..Default::default() };
        assert_eq!(store.list_reservations(&f).await.unwrap().1, 0, "{text:?}");
        let f = ReservationFilter { contact: Some(text.into()), limit: 50, ..Default::default() };
        assert_eq!(store.list_reservations(&f).await.unwrap().1, 0, "{text:?}");
    }
    assert!(matches!(store.get_unit_by_slug("a\0").await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_reservation("R\0").await, Err(StoreError::NotFound)));
    assert!(matches!(store.get_admin_user("o\0@x.test").await, Err(StoreError::NotFound)));
    assert!(!store.message_status_from_provider("wamid\0", domain::MessageStatus::Read, None, now()).await.unwrap());
    // A provider's event: stored, its text without the control characters.
    let mut ev = inbound("wamid.nul");
    ev.contact = Some((domain::Channel::Whatsapp, "5492944123456".into(), "Jua\0na".into()));
    ev.payload = serde_json::json!({"text": {"body": "hola\0 che\u{1}"}, "k\0": ["a\0"]});
    let id = store.store_inbound(&ev, now()).await.unwrap().expect("stored");
    let stored = store.get_inbound(id).await.unwrap();
    assert_eq!(stored.payload, serde_json::json!({"text": {"body": "hola che"}, "k": ["a"]}));
    assert_eq!(store.get_contact(stored.contact_id.unwrap()).await.unwrap().name, "Juana");
    assert_eq!(store.store_inbound(&ev, now()).await.unwrap(), None, "a redelivery is still a duplicate");
}

async fn the_balance_is_recorded_once_on_a_confirmed_reservation(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "saldo").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-05-01", "2027-05-03", "549111"), HoldLimits::default(), now())
        .await
        .unwrap();
    assert_eq!(r.balance_paid, None);
    let paid = |n: &str| Change { actor: "owner@x".into(), note: n.into(), allow_expired: false };
    let e =
        store.record_balance_paid(&r.code, domain::BalanceMethod::Cash, &paid("efectivo"), now()).await.unwrap_err();
    assert!(matches!(e, StoreError::NotActive(ReservationStatus::PreReserved)), "{e:?}");
    store.transition(&r.code, ReservationStatus::Confirmed, &by("payment"), now()).await.unwrap();
    let at = now() + Duration::hours(30);
    let done =
        store.record_balance_paid(&r.code, domain::BalanceMethod::Transfer, &paid("transferencia"), at).await.unwrap();
    let expected = Some(store::BalancePaid { at, method: domain::BalanceMethod::Transfer });
    assert_eq!(done.balance_paid, expected);
    assert_eq!(store.get_reservation(&r.code).await.unwrap().balance_paid, expected, "read back");
    let audit = store.audit_for(r.id).await.unwrap();
    let row = audit.iter().find(|a| a.action == "balance_paid").expect("audited");
    assert_eq!((row.actor.as_str(), row.note.as_str()), ("owner@x", "transferencia"));
    assert_eq!(row.after.as_ref().unwrap()["balance_method"], "transfer");
    let e = store.record_balance_paid(&r.code, domain::BalanceMethod::Cash, &paid("otra vez"), at).await.unwrap_err();
    assert!(matches!(e, StoreError::Duplicate(_)), "{e:?}");
    assert_eq!(store.get_reservation(&r.code).await.unwrap().balance_paid, expected, "unchanged");
}

/// PostgreSQL runs writers side by side (SQLite has one writer at a time by design): two holds
/// on one cabin wait for each other only when they share a night, so a busy cabin's back-to-back
/// stays do not queue behind each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_holds_on_other_nights_of_a_cabin_do_not_wait() {
    use sqlx::Connection;
    let (db, store) = open(Engine::Postgres).await;
    let u = unit(&store, "a").await;
    let limits = HoldLimits { max_holds_per_contact: Some(5), ..Default::default() };
    // Another session holds the per-guest lock of hold A: A stops midway, its nights taken.
    let mut blocker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('+5491100000001'))").execute(&mut blocker).await.unwrap();
    let spawn_hold = |from: &'static str, to: &'static str, phone: &'static str| {
        let store = store.clone();
        tokio::spawn(async move { store.create_reservation(&hold(u.id, from, to, phone), limits, now()).await })
    };
    let a = spawn_hold("2027-01-10", "2027-01-12", "+5491100000001");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!a.is_finished(), "hold A should be waiting for the blocker");
    // Other nights of the same cabin go through at once…
    let b = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.create_reservation(&hold(u.id, "2027-01-12", "2027-01-14", "+5491100000002"), limits, now()),
    )
    .await
    .expect("a hold on other nights waited for hold A");
    b.unwrap();
    // …while one that shares a night with A waits for it, then loses.
    let c = spawn_hold("2027-01-11", "2027-01-12", "+5491100000003");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!c.is_finished(), "a hold sharing a night with A must wait for A");
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    a.await.unwrap().unwrap();
    assert!(matches!(c.await.unwrap(), Err(StoreError::Overlap)));
}

/// A claim reads due jobs through the index in claim order, whatever the backlog: with one `OR`
/// over due jobs and lost leases PostgreSQL sorted every queued job on every claim (34 ms with
/// 50,000 queued), which stretched a burst's drain into minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_claims_do_not_sort_the_backlog() {
    let (db, store) = open(Engine::Postgres).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
         SELECT 'send_message', '{}', CASE WHEN g % 5 = 0 THEN 'done' ELSE 'pending' END, 0, 5, \
           $1 - g * interval '1 ms', $1, $1 FROM generate_series(1, 20000) AS g",
    )
    .bind(now())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE jobs").execute(&pool).await.unwrap();
    let sql = format!("EXPLAIN {}", store::jobs::claimable_sql(" FOR UPDATE SKIP LOCKED"));
    let plan: Vec<(String,)> =
        sqlx::query_as(&sql).bind(now()).bind(now()).bind(now()).bind(32i64).fetch_all(&pool).await.unwrap();
    let plan = plan.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n");
    assert!(!plan.contains("Sort"), "the claim sorts the backlog:\n{plan}");
    assert!(plan.contains("jobs_due"), "the claim does not walk the due-jobs index:\n{plan}");
    // And it claims the oldest first.
    let jobs = store.claim_jobs("w", now(), std::time::Duration::from_secs(60), 32).await.unwrap();
    assert_eq!(jobs.len(), 32);
    assert!(jobs.windows(2).all(|w| w[0].run_at <= w[1].run_at));
    let (oldest,): (DateTime<Utc>,) =
        sqlx::query_as("SELECT MIN(run_at) FROM jobs WHERE status = 'running'").fetch_one(&pool).await.unwrap();
    assert_eq!(oldest, now() - Duration::milliseconds(19999));
}

/// Answering a message reads the guest's reservations by phone or e-mail: through the indexes,
/// not through every reservation ever made (two full scans per message were most of the cost of
/// a reply once the table had grown).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_guests_reservations_are_found_without_reading_the_table() {
    let (db, store) = open(Engine::Postgres).await;
    let u = unit(&store, "a").await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO reservations (code, unit_id, check_in, check_out, guests, status, channel, guest_name, \
           guest_phone, guest_email, total, deposit, flags, notes, created_at, updated_at) \
         SELECT 'R' || g, $1, DATE '2027-01-01' + g, DATE '2027-01-01' + g + 1, 2, 'cancelled', 'whatsapp', 'X', \
           '+549' || g, 'g' || g || '@example.test', 100, 30, '', '', $2, $2 FROM generate_series(1, 20000) AS g",
    )
    .bind(u.id)
    .bind(now())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE reservations").execute(&pool).await.unwrap();
    let clause = store::reservations::CONTACT_CLAUSE.replace("{}", "$1");
    let plan: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN SELECT COUNT(*) FROM reservations WHERE {clause}"))
        .bind("+5497")
        .fetch_all(&pool)
        .await
        .unwrap();
    let plan = plan.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n");
    assert!(!plan.contains("Seq Scan"), "a guest's reservations are read from the whole table:\n{plan}");
    let filter = ReservationFilter { contact: Some("+5497".into()), limit: 10, ..Default::default() };
    let (found, total) = store.list_reservations(&filter).await.unwrap();
    assert_eq!((found.len(), total), (1, 1));
}

async fn a_refund_is_proposed_once_and_moves_only_from_the_expected_status(engine: Engine) {
    use domain::RefundStatus::{Approved, Done, Pending};
    let (_db, store) = open(engine).await;
    let u = unit(&store, "devolucion").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-06-01", "2027-06-03", "549222"), HoldLimits::default(), now())
        .await
        .unwrap();
    let new = NewRefund {
        reservation_id: r.id,
        provider: "sandbox".into(),
        provider_payment_id: "77".into(),
        paid: Money(3_000_000),
        amount: Money(1_500_000),
        percent: 50,
        status: Pending,
    };
    let job = NewJob {
        kind: "refund".into(),
        payload: serde_json::json!({}),
        dedupe_key: None,
        run_at: now(),
        max_attempts: 5,
    };
    let first = store.create_refund(&new, None, &by("owner@x"), now()).await.unwrap();
    let again =
        store.create_refund(&NewRefund { amount: Money(1), ..new.clone() }, None, &by("owner@x"), now()).await.unwrap();
    assert_eq!(again, first, "one refund per reservation");
    assert_eq!(store.refund_for(r.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.refunds_of_payment("sandbox", "77").await.unwrap(), vec![first.clone()]);
    // More than was paid is refused.
    let too_much =
        RefundUpdate { status: Approved, amount: Some(Money(3_000_001)), provider_refund_id: None, error: None };
    let e = store.update_refund(first.id, &[Pending], &too_much, Some(&job), &by("o"), now()).await.unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    let approve = RefundUpdate { amount: Some(Money(1_000_000)), ..too_much };
    let approved =
        store.update_refund(first.id, &[Pending], &approve, Some(&job), &by("owner@x"), now()).await.unwrap();
    assert_eq!((approved.status, approved.amount), (Approved, Money(1_000_000)));
    // Its job was queued with the approval, keyed by the refund.
    let dup = NewJob { dedupe_key: Some(format!("refund:{}", first.id)), ..job.clone() };
    assert_eq!(store.enqueue_job(&dup, now()).await.unwrap(), None, "already queued");
    // No longer pending: a second approval is refused.
    let e = store.update_refund(first.id, &[Pending], &approve, None, &by("o"), now()).await.unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    let done = RefundUpdate { status: Done, amount: None, provider_refund_id: Some("R-1".into()), error: None };
    let done = store.update_refund(first.id, &[Approved], &done, None, &by("payment:sandbox"), now()).await.unwrap();
    assert_eq!((done.status, done.provider_refund_id.as_deref()), (Done, Some("R-1")));
    assert_eq!(done.idempotency_key(), first.idempotency_key(), "the key is the record's, whatever its state");
    let audit = store.audit_for(r.id).await.unwrap();
    for action in ["refund_proposed", "refund_approved", "refund_done"] {
        assert_eq!(audit.iter().filter(|a| a.action == action).count(), 1, "{action}");
    }
}

fn balance_payment(id: &str, status: &str, amount: i64, r: &Reservation) -> PaymentRecord {
    PaymentRecord {
        purpose: PaymentPurpose::Balance,
        provider: "mercadopago".into(),
        provider_payment_id: id.into(),
        reservation_id: Some(r.id),
        status: status.into(),
        status_detail: String::new(),
        amount: Money(amount),
        currency: "ARS".into(),
        external_reference: format!("{}-SALDO", r.code),
        raw: serde_json::json!({}),
    }
}

fn notice() -> NewJob {
    NewJob {
        kind: "balance_payment_notice".into(),
        payload: serde_json::json!({}),
        dedupe_key: None,
        run_at: now(),
        max_attempts: 5,
    }
}

async fn balance_links_are_one_per_amount_and_deadline(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "links-saldo").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-07-01", "2027-07-03", "549333"), HoldLimits::default(), now())
        .await
        .unwrap();
    let deadline = now() + Duration::days(20);
    let link = BalanceLink {
        id: 0,
        reservation_id: r.id,
        provider: "mercadopago".into(),
        preference_id: "PREF-S1".into(),
        url: "https://mp.test/s1".into(),
        amount: Money(7_000_000),
        expires_at: deadline,
        created_at: now(),
    };
    assert_eq!(store.balance_link(r.id, link.amount, deadline).await.unwrap(), None);
    let saved = store.save_balance_link(&link, now()).await.unwrap();
    assert_eq!((saved.url.as_str(), saved.amount, saved.expires_at), ("https://mp.test/s1", link.amount, deadline));
    // A retry (or a race) with another preference for the same terms keeps the first.
    let again = BalanceLink { preference_id: "PREF-S2".into(), url: "https://mp.test/s2".into(), ..link.clone() };
    assert_eq!(store.save_balance_link(&again, now()).await.unwrap(), saved);
    assert_eq!(store.balance_link(r.id, link.amount, deadline).await.unwrap(), Some(saved.clone()));
    // Another amount (the total changed) is another link; the old one is never returned for it.
    assert_eq!(store.balance_link(r.id, Money(9_000_000), deadline).await.unwrap(), None);
    let more = BalanceLink { amount: Money(9_000_000), ..again };
    let more = store.save_balance_link(&more, now()).await.unwrap();
    assert_eq!(more.url, "https://mp.test/s2");
    let all = store.balance_links(r.id).await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.amount).collect::<Vec<_>>(),
        vec![Money(9_000_000), Money(7_000_000)],
        "newest first"
    );
}

async fn a_balance_payment_applies_once_full_partial_or_not_due(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "pago-saldo").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-08-01", "2027-08-03", "549444"), HoldLimits::default(), now())
        .await
        .unwrap();
    // A hold's balance is not due: the money is flagged for a refund, nothing is received.
    let early = store
        .record_balance_payment(&balance_payment("B0", "approved", 100, &r), Some(&r.code), &notice(), now())
        .await
        .unwrap();
    assert_eq!(early.effect, BalanceEffect::NotDue { amount: Money(100) });
    let r = store.transition(&r.code, ReservationStatus::Confirmed, &by("payment"), now()).await.unwrap();
    let m = r.money();
    assert_eq!(
        (m.deposit, m.balance, m.paid, m.pending),
        (r.deposit, r.total - r.deposit, r.deposit, r.total - r.deposit)
    );
    let due = r.balance_due().0;
    assert!(due > 300);
    // Pending, then approved short: received, flagged, the notice queued once.
    let pending = store
        .record_balance_payment(&balance_payment("B1", "pending", 300, &r), Some(&r.code), &notice(), now())
        .await
        .unwrap();
    assert_eq!(pending.effect, BalanceEffect::Recorded);
    let part = store
        .record_balance_payment(&balance_payment("B1", "approved", 300, &r), Some(&r.code), &notice(), now())
        .await
        .unwrap();
    assert_eq!(part.effect, BalanceEffect::Partial { amount: Money(300), pending: Money(due - 300) });
    assert_eq!(part.payment.purpose, PaymentPurpose::Balance);
    let after = part.reservation.unwrap();
    assert!(after.flags.contains(&AttentionFlag::AmountMismatch));
    assert_eq!((after.balance_received, after.balance_paid, after.balance_due()), (Money(300), None, Money(due - 300)));
    let dup = NewJob { dedupe_key: Some("balance_payment_notice:mercadopago:B1".into()), ..notice() };
    assert_eq!(store.enqueue_job(&dup, now()).await.unwrap(), None, "its notice was queued with it");
    // The same notification again: nothing more.
    let again = store
        .record_balance_payment(&balance_payment("B1", "approved", 300, &r), Some(&r.code), &notice(), now())
        .await
        .unwrap();
    assert_eq!(again.effect, BalanceEffect::Recorded);
    assert_eq!(store.get_reservation(&r.code).await.unwrap().balance_received, Money(300));
    // The rest, and a bit more: paid by Mercado Pago, the excess flagged.
    let rest = store
        .record_balance_payment(&balance_payment("B2", "approved", due - 300 + 50, &r), Some(&r.code), &notice(), now())
        .await
        .unwrap();
    assert_eq!(rest.effect, BalanceEffect::Paid { excess: Money(50) });
    let paid = store.get_reservation(&r.code).await.unwrap();
    assert_eq!(paid.balance_paid.map(|b| b.method), Some(domain::BalanceMethod::MercadoPago));
    assert!(paid.flags.contains(&AttentionFlag::NeedsRefund));
    assert_eq!((paid.money().paid, paid.money().pending), (paid.total + Money(50), Money::ZERO));
    let audit = store.audit_for(r.id).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "balance_paid").count(), 1);
    // Paid already: another payment is money to give back; by hand it is a duplicate.
    let late = store
        .record_balance_payment(&balance_payment("B3", "approved", 10, &r), Some(&r.code), &notice(), now())
        .await
        .unwrap();
    assert_eq!(late.effect, BalanceEffect::NotDue { amount: Money(10) });
    let e = store.record_balance_paid(&r.code, domain::BalanceMethod::Cash, &by("owner@x"), now()).await.unwrap_err();
    assert!(matches!(e, StoreError::Duplicate(_)), "{e:?}");
    let purposes: Vec<_> = store.payments_for(r.id).await.unwrap().iter().map(|p| p.purpose).collect();
    assert_eq!(purposes, vec![PaymentPurpose::Balance; 4]);
}

async fn a_turn_with_a_once_key_commits_once(engine: Engine) {
    let (_db, store) = open(engine).await;
    let c = store.upsert_contact(domain::Channel::Whatsapp, "549555", "Ana", now()).await.unwrap();
    let turn = Turn {
        contact_id: c.id,
        state: serde_json::json!({}),
        outbound: vec![NewMessage { kind: "text".into(), body: "¡Gracias!".into(), payload: serde_json::json!({}) }],
        send_job_kind: "send_message".into(),
        once: Some("balance_payment_notice:B1".into()),
        ..Default::default()
    };
    assert!(store.commit_turn(&turn, now()).await.unwrap().is_some());
    assert_eq!(store.commit_turn(&turn, now()).await.unwrap(), None, "the same key again is dropped");
    let other = Turn { once: Some("balance_payment_notice:B2".into()), ..turn };
    assert!(store.commit_turn(&other, now()).await.unwrap().is_some());
    assert_eq!(store.list_messages(c.id, 0, 10).await.unwrap().len(), 2);
}

async fn a_stay_is_rated_once_and_the_first_answer_counts(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "coihue").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-02-10", "2027-02-14", "549111"), HoldLimits::default(), now())
        .await
        .unwrap();
    let other = store
        .create_reservation(&hold(u.id, "2027-03-10", "2027-03-14", "549222"), HoldLimits::default(), now())
        .await
        .unwrap();
    // Bad input changes nothing.
    for stars in [0, 6] {
        assert!(matches!(
            store.record_review(r.id, stars, "", "guest:sandbox", now()).await,
            Err(StoreError::Invalid(_))
        ));
    }
    assert!(matches!(store.record_review(r.id, 4, "a\0b", "guest:sandbox", now()).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.record_review(999_999, 4, "", "guest:sandbox", now()).await, Err(StoreError::NotFound)));
    assert!(store.reviewed(&[r.id, other.id]).await.unwrap().is_empty());
    // Ten answers at once (a guest tapping twice, two instances): one is kept.
    let tries: Vec<_> = (0..10u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.record_review(r.id, 1 + i % 5, "  hermoso todo  ", "guest:sandbox", now()).await.unwrap()
            })
        })
        .collect();
    let mut kept = 0;
    for t in tries {
        kept += usize::from(t.await.unwrap());
    }
    assert_eq!(kept, 1, "exactly one rating kept");
    assert!(!store.record_review(r.id, 2, "cambié de idea", "guest:sandbox", now()).await.unwrap());
    assert_eq!(store.reviewed(&[r.id, other.id]).await.unwrap(), vec![r.id]);
    let long = "á".repeat(1500);
    assert!(store.record_review(other.id, 5, &long, "guest:whatsapp", now() + Duration::hours(1)).await.unwrap());
    let all = store.reviews_between(now() - Duration::days(1), now() + Duration::days(1)).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].code.as_str(), all[0].stars, all[0].comment.chars().count()), (other.code.as_str(), 5, 1000));
    assert_eq!(
        (all[1].code.as_str(), all[1].comment.as_str(), all[1].unit_id),
        (r.code.as_str(), "hermoso todo", u.id)
    );
    assert_eq!(all[1].guest_name, "Ana Pérez");
    assert!(store.reviews_between(now() + Duration::days(1), now() + Duration::days(2)).await.unwrap().is_empty());
    // Audited, with who answered.
    let audit = store.audit_for(r.id).await.unwrap();
    let reviewed: Vec<_> = audit.iter().filter(|a| a.action == "reviewed").collect();
    assert_eq!(reviewed.len(), 1);
    assert_eq!(reviewed[0].actor, "guest:sandbox");
    assert!(reviewed[0].note.ends_with("/5: hermoso todo"), "{:?}", reviewed[0].note);
}

fn move_to(unit_id: i64, from: &str, to: &str, guests: u32, total: i64) -> MoveTo {
    MoveTo {
        unit_id,
        stay: Stay::new(d(from), d(to)).unwrap(),
        guests,
        total: Money::from_pesos(total),
        deposit: Money::from_pesos(30_000),
    }
}

/// A guest's change of dates, cabin or party (#17 step 3): refused with a typed conflict on
/// nights someone else has (nothing changes), allowed over its own old nights ("un día
/// antes"), the party and total written with it, audited as `moved`; the same move again is
/// no second change (a turn run again after a crash); only live holds and bookings move.
async fn a_guest_move_is_one_transaction_refused_on_taken_nights(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    let v = unit(&store, "b").await;
    let a = store
        .create_reservation(&hold(u.id, "2027-07-10", "2027-07-12", "1"), HoldLimits::default(), now())
        .await
        .unwrap();
    store.transition(&a.code, ReservationStatus::Confirmed, &by("payment"), now()).await.unwrap();
    store.create_reservation(&hold(u.id, "2027-07-14", "2027-07-16", "2"), HoldLimits::default(), now()).await.unwrap();
    let err = store.move_reservation(&a.code, &move_to(u.id, "2027-07-13", "2027-07-15", 2, 1), &by("g"), now()).await;
    assert!(matches!(err, Err(StoreError::Overlap)), "{err:?}");
    let kept = store.get_reservation(&a.code).await.unwrap();
    assert_eq!((kept.stay, kept.guests, kept.total), (a.stay, a.guests, a.total), "a refused move changes nothing");
    // One day earlier: over its own nights.
    let to = move_to(u.id, "2027-07-09", "2027-07-12", 3, 150_000);
    let moved = store.move_reservation(&a.code, &to, &by("guest:whatsapp"), now()).await.unwrap();
    assert_eq!(
        (moved.stay, moved.guests, moved.total, moved.status),
        (to.stay, 3, to.total, ReservationStatus::Confirmed)
    );
    assert_eq!(moved.code, a.code, "the same reservation, the same code");
    // The old night 11→12 stays ours, 12→13 was never; another guest can take 12→14 now.
    store.create_reservation(&hold(u.id, "2027-07-12", "2027-07-14", "3"), HoldLimits::default(), now()).await.unwrap();
    let again = store.move_reservation(&a.code, &to, &by("guest:whatsapp"), now()).await.unwrap();
    assert_eq!(again.updated_at, moved.updated_at);
    let audit = store.audit_for(a.id).await.unwrap();
    let moves: Vec<&AuditEntry> = audit.iter().filter(|e| e.action == "moved").collect();
    assert_eq!(moves.len(), 1, "moved once: {audit:?}");
    assert_eq!(moves[0].before.as_ref().unwrap()["check_in"], "2027-07-10");
    assert_eq!(moves[0].after.as_ref().unwrap()["guests"], 3);
    // Another cabin, same dates.
    let other =
        store.move_reservation(&a.code, &move_to(v.id, "2027-07-09", "2027-07-12", 3, 1), &by("g"), now()).await;
    assert_eq!(other.unwrap().unit_id, v.id);
    store.transition(&a.code, ReservationStatus::Cancelled, &by("o"), now()).await.unwrap();
    let err = store.move_reservation(&a.code, &move_to(u.id, "2027-08-01", "2027-08-03", 2, 1), &by("g"), now()).await;
    assert!(matches!(err, Err(StoreError::NotActive(ReservationStatus::Cancelled))), "{err:?}");
}

/// A move and competing holds on the same nights, at once, many rounds: never an overlap; the
/// move's new nights go to one of them only; the old nights are another guest's only after
/// the move committed (a hold on them before that is refused). On PostgreSQL they really run
/// side by side (night locks + the exclusion constraint); on SQLite writers queue.
async fn a_move_and_competing_holds_never_overlap(engine: Engine) {
    let (_db, store) = open(engine).await;
    let u = unit(&store, "a").await;
    for round in 0..8i64 {
        let base = d("2027-03-01") + Duration::days(round * 10);
        let day = |n: i64| (base + Duration::days(n)).to_string();
        let mut a = hold(u.id, &day(0), &day(2), &format!("m{round}"));
        a.status = ReservationStatus::Confirmed;
        a.hold_expires_at = None;
        let a = store.create_reservation(&a, HoldLimits::default(), now()).await.unwrap();
        let mut tasks = Vec::new();
        let to = move_to(u.id, &day(4), &day(6), 2, 120_000);
        let s = store.clone();
        let code = a.code.clone();
        let mover = tokio::spawn(async move { s.move_reservation(&code, &to, &by("g"), now()).await.map(|_| ()) });
        for i in 0..12 {
            // Half on the new nights, half on the old ones.
            let (from, until) = if i % 2 == 0 { (day(3 + i % 4 / 2), day(5 + i % 4 / 2)) } else { (day(0), day(2)) };
            let s = store.clone();
            let n = hold(u.id, &from, &until, &format!("c{round}-{i}"));
            tasks.push(tokio::spawn(async move {
                s.create_reservation(&n, HoldLimits::default(), now()).await.map(|r| r.stay)
            }));
        }
        let moved = match mover.await.unwrap() {
            Ok(()) => true,
            Err(StoreError::Overlap) => false,
            Err(e) => panic!("unexpected: {e:?}"),
        };
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) | Err(StoreError::Overlap) => {}
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
        let stays = store.active_stays(Some(u.id), base, base + Duration::days(10)).await.unwrap();
        for x in &stays {
            for y in &stays {
                assert!(x.reservation_id == y.reservation_id || !x.stay.overlaps(&y.stay), "{x:?} overlaps {y:?}");
            }
        }
        let now_a = store.get_reservation(&a.code).await.unwrap();
        if moved {
            assert_eq!(now_a.stay, Stay::new(d(&day(4)), d(&day(6))).unwrap());
        } else {
            assert_eq!(now_a.stay, a.stay, "a refused move keeps the old nights");
            assert!(stays.iter().all(|x| x.reservation_id == a.id || !x.stay.overlaps(&a.stay)));
        }
    }
}

async fn stay_messages_are_planned_idempotently_and_sent_once(engine: Engine) {
    use domain::{StayMessageKind as K, StayMessageStatus as S};
    let (_db, store) = open(engine).await;
    let u = unit(&store, "avisos").await;
    let r = store
        .create_reservation(&hold(u.id, "2027-05-01", "2027-05-03", "549111"), HoldLimits::default(), now())
        .await
        .unwrap();
    let at = now() + Duration::days(5);
    let jobs_before = store.job_stats(now() + Duration::days(400)).await.unwrap().backlog;
    let plan = vec![
        (K::Balance, StayPlan::At(at)),
        (K::CheckIn, StayPlan::At(at + Duration::days(1))),
        (K::Welcome, StayPlan::Close(S::Skipped, "tarde".into())),
        (K::Thanks, StayPlan::Close(S::Cancelled, "apagado".into())),
    ];
    let rows = store.plan_stay_messages(r.id, &plan, "stay_message", now()).await.unwrap();
    assert_eq!(rows.iter().map(|m| (m.kind, m.status)).collect::<Vec<_>>().len(), 3, "{rows:?}");
    assert!(rows.iter().any(|m| m.kind == K::Welcome && m.status == S::Skipped && m.note == "tarde"));
    assert!(!rows.iter().any(|m| m.kind == K::Thanks), "a cancelled plan writes no row");
    let backlog = |s: Arc<dyn Store>| async move { s.job_stats(now() + Duration::days(400)).await.unwrap().backlog };
    assert_eq!(backlog(store.clone()).await, jobs_before + 2, "one job per due row");
    // Planning the same again changes nothing and adds no job.
    let again = store.plan_stay_messages(r.id, &plan, "stay_message", now()).await.unwrap();
    assert_eq!(again, rows);
    assert_eq!(backlog(store.clone()).await, jobs_before + 2);
    // Moved: the row keeps its id, gets the new time and one more job.
    let moved = vec![(K::Balance, StayPlan::At(at + Duration::hours(3)))];
    let rows2 = store.plan_stay_messages(r.id, &moved, "stay_message", now()).await.unwrap();
    let balance = rows2.iter().find(|m| m.kind == K::Balance).unwrap().clone();
    assert_eq!(balance.due_at, at + Duration::hours(3));
    assert_eq!(balance.id, rows.iter().find(|m| m.kind == K::Balance).unwrap().id);
    assert_eq!(backlog(store.clone()).await, jobs_before + 3);
    // Sent once: the second attempt writes nothing.
    let contact = store.upsert_contact(domain::Channel::Sandbox, "s-1", "Ana", now()).await.unwrap();
    let msg = NewMessage { kind: "text".into(), body: "Queda un saldo".into(), payload: serde_json::json!({}) };
    let sent = |s: Arc<dyn Store>, m: NewMessage| async move {
        s.send_stay_message(balance.id, contact.id, domain::Channel::Sandbox, &m, "send_message", now()).await.unwrap()
    };
    assert!(sent(store.clone(), msg.clone()).await);
    assert!(!sent(store.clone(), msg.clone()).await);
    let out = store.list_messages(contact.id, 0, 10).await.unwrap();
    assert_eq!(out.len(), 1, "one outbox row");
    let b = store.get_stay_message(balance.id).await.unwrap();
    assert_eq!((b.status, b.channel, b.message_id), (S::Sent, Some(domain::Channel::Sandbox), Some(out[0].id)));
    // A sent row is not planned again; a due one is cancelled with the reservation.
    let cancel = vec![
        (K::Balance, StayPlan::Close(S::Cancelled, "cancelada".into())),
        (K::CheckIn, StayPlan::Close(S::Cancelled, "cancelada".into())),
    ];
    let rows3 = store.plan_stay_messages(r.id, &cancel, "stay_message", now()).await.unwrap();
    let st = |k| rows3.iter().find(|m| m.kind == k).unwrap().status;
    assert_eq!((st(K::Balance), st(K::CheckIn)), (S::Sent, S::Cancelled));
    let check_in = rows3.iter().find(|m| m.kind == K::CheckIn).unwrap().id;
    assert!(!store.close_stay_message(check_in, S::Skipped, "x", now()).await.unwrap(), "only a due row closes");
    // The owner's "send now" makes any row due now, with a job.
    let now_row = store.stay_message_now(check_in, "stay_message", now()).await.unwrap();
    assert_eq!((now_row.status, now_row.due_at), (S::Due, now()));
    assert!(store.close_stay_message(check_in, S::Skipped, "salteado", now()).await.unwrap());
    assert_eq!(store.stay_messages(r.id).await.unwrap().len(), 3);
    assert!(matches!(store.get_stay_message(999_999).await, Err(StoreError::NotFound)));
}
