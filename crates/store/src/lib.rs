//! Posada's persistence: one [`Store`] with a PostgreSQL and a SQLite implementation, made of
//! one small trait per capability ([`CatalogStore`], [`ReservationStore`], [`ConversationStore`],
//! [`JobStore`], [`FeedStore`], [`PaymentStore`], [`UserStore`], [`MaintenanceStore`],
//! [`SettingsStore`], [`StayMessageStore`]), each in its own module with its SQL written once for both engines.
//!
//! Both keep the same meaning: the same tables and columns, the no-overlap rule enforced by the
//! database (an exclusion constraint on PostgreSQL, triggers on SQLite), every write transaction
//! short and free of network I/O, every reservation state change written to `audit_log` in the
//! same transaction. The conformance suite in `tests/` runs every test against both.

mod catalog;
mod common;
mod conversations;
pub mod error;
mod feeds;
pub mod jobs;
mod maintenance;
pub mod migrations;
pub mod model;
mod payments;
mod postgres;
pub mod reservations;
pub mod reviews;
mod rows;
pub mod settings;
mod sqlite;
pub mod stay_messages;
pub mod testing;
mod text;
mod users;

pub use catalog::CatalogStore;
pub use conversations::ConversationStore;
pub use error::{Result, Result as StoreResult, StoreError, Unavailable};
pub use feeds::FeedStore;
pub use jobs::JobStore;
pub use maintenance::MaintenanceStore;
pub use migrations::{Migration, MigrationStatus};
pub use model::*;
pub use payments::PaymentStore;
pub use postgres::PgStore;
pub use reservations::ReservationStore;
pub use reviews::{Review, ReviewStore};
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;
pub use stay_messages::{StayMessageStore, StayPlan};
pub use users::UserStore;

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// What the database engine is (`posada doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineDetails {
    pub version: String,
    /// PostgreSQL's extension the no-overlap constraint needs (`None` on SQLite, or missing).
    pub btree_gist: Option<String>,
}

/// Limits checked inside the hold transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldLimits {
    /// Refuse a new hold when the contact (phone) already has this many live holds.
    pub max_holds_per_contact: Option<u32>,
    /// Refuse a new hold with a client address that already has this many live holds.
    pub max_holds_per_address: Option<u32>,
}

/// The conversation funnel over a period: contacts who wrote, contacts who were quoted a price,
/// holds placed from a conversation (WhatsApp, e-mail, sandbox) and how many of those were
/// confirmed (deposit paid, or confirmed by hand).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Funnel {
    pub conversations: i64,
    pub quoted: i64,
    pub holds: i64,
    pub paid: i64,
    /// Holds placed through the public API (a website's form or another client): not part of
    /// the conversation funnel, counted apart.
    pub direct_holds: i64,
    pub direct_paid: i64,
}

/// Everything Posada stores, one capability trait per area (each in its own module, with its
/// SQL written once for both engines). Through `dyn Store` every area's methods are at hand;
/// code that needs one area can take that trait alone. [`PgStore`] and [`SqliteStore`] are both.
pub trait Store:
    MaintenanceStore
    + CatalogStore
    + ReservationStore
    + UserStore
    + JobStore
    + FeedStore
    + ConversationStore
    + PaymentStore
    + SettingsStore
    + ReviewStore
    + StayMessageStore
    + Send
    + Sync
    + 'static
{
}

impl Store for PgStore {}
impl Store for SqliteStore {}

/// Opens the database named by `url` (`postgres://…` or `sqlite://…`) and applies migrations.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>> {
    if is_postgres_url(url) {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    }
}

/// Opens an existing database without creating or migrating anything: the CLI's tools, which
/// must never leave a stray database behind ([`StoreError::NoDatabase`] for a missing SQLite file).
pub async fn open_existing(url: &str, max_connections: u32) -> Result<Arc<dyn Store>> {
    if is_postgres_url(url) {
        Ok(Arc::new(PgStore::open_existing(url, max_connections).await?))
    } else {
        Ok(Arc::new(SqliteStore::open_existing(url).await?))
    }
}

/// What `migrate` would do to the database at `url`, creating nothing: a SQLite file that does
/// not exist yet has every migration pending.
pub async fn inspect(url: &str) -> Result<MigrationStatus> {
    match open_existing(url, 1).await {
        Ok(store) => {
            let status = store.migration_status().await;
            store.close().await;
            status
        }
        Err(StoreError::NoDatabase(_)) => Ok(MigrationStatus::all_pending(sqlite::migrator())),
        Err(e) => Err(e),
    }
}

/// A SQLite file checked without changing it (a backup before it is trusted or restored):
/// `PRAGMA quick_check`, its migrations, and its row counts.
pub async fn inspect_sqlite_file(path: &std::path::Path) -> Result<(MigrationStatus, BTreeMap<String, i64>)> {
    let store = SqliteStore::open_read_only(path).await?;
    let result = async {
        store.quick_check().await?;
        let status = store.migration_status().await?;
        let counts = if status.applied.is_empty() { BTreeMap::new() } else { store.counts().await? };
        Ok((status, counts))
    }
    .await;
    store.close().await;
    result
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Whether `url` names a backend we know.
pub fn is_supported_url(url: &str) -> bool {
    ["postgres://", "postgresql://", "sqlite:"].iter().any(|p| url.starts_with(p))
}
