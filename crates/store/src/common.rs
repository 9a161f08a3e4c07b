//! The queries both backends share, stamped out once per backend by [`store_impl!`]: it brings
//! the imports and expands each area's macro (`catalog_impl!`, `reservations_impl!`, … one
//! module per capability trait, each SQL statement written once).
//!
//! Placeholders are `$1, $2, …`, which PostgreSQL and SQLite both accept. What differs — how a
//! write transaction starts, row locks, error codes, schema introspection — lives in each
//! backend's module as inherent items with the same names (`write`, `FOR_UPDATE`,
//! `SKIP_LOCKED`, `LIKE`, `lock_contact`, `map_err`, `schema_query`).

use crate::error::{Result, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use std::time::Duration;

/// A dynamically bound argument, for queries whose filters vary.
#[derive(Clone)]
pub enum Arg {
    I64(i64),
    Text(String),
    Date(NaiveDate),
    #[allow(dead_code)]
    Ts(DateTime<Utc>),
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::common::Arg::I64(v) => q.bind(v),
                $crate::common::Arg::Text(v) => q.bind(v),
                $crate::common::Arg::Date(v) => q.bind(v),
                $crate::common::Arg::Ts(v) => q.bind(v),
            };
        }
        q
    }};
}
pub(crate) use bind_args;

/// Runs a write transaction again when PostgreSQL broke a deadlock by aborting it.
pub(crate) async fn retry_on_deadlock<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(StoreError::Retry(_)) if tries < 8 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (5 * tries))).await;
            }
            other => return other,
        }
    }
}

/// The reservation's notes with a dated, signed line added (unchanged for an empty note).
pub(crate) fn append_note(notes: &str, note: &str, actor: &str, now: DateTime<Utc>) -> String {
    if note.trim().is_empty() {
        return notes.to_string();
    }
    let line = format!("[{} {}] {}", now.format("%Y-%m-%d %H:%M"), actor, note.trim());
    if notes.is_empty() { line } else { format!("{notes}\n{line}") }
}

macro_rules! store_impl {
    ($Store:ty, $DB:ty, $backend:expr) => {
        use chrono::{DateTime, NaiveDate, Utc};
        use domain::{AttentionFlag, Money, RateRule, ReservationCode, ReservationStatus, Stay};
        use sqlx::Acquire;
        use sqlx::types::Json;
        use std::collections::{BTreeMap, BTreeSet};
        use std::time::Duration;
        use $crate::common::{Arg, append_note, bind_args, retry_on_deadlock};
        use $crate::error::{Result, StoreError};
        use $crate::model::*;
        use $crate::rows::*;
        use $crate::{Backend, HoldLimits};

        type Conn = <$DB as sqlx::Database>::Connection;

        $crate::maintenance::maintenance_impl!($Store, $backend);
        $crate::catalog::catalog_impl!($Store);
        $crate::reservations::reservations_impl!($Store);
        $crate::users::users_impl!($Store);
        $crate::jobs::jobs_impl!($Store);
        $crate::feeds::feeds_impl!($Store);
        $crate::conversations::conversations_impl!($Store);
        $crate::payments::payments_impl!($Store);
        $crate::stay_messages::stay_messages_impl!($Store);
    };
}
pub(crate) use store_impl;
