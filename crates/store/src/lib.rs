//! Posada's persistence: one [`Store`] trait with a PostgreSQL and a SQLite implementation.
//!
//! Both keep the same meaning: the same tables and columns, the no-overlap rule enforced by the
//! database (an exclusion constraint on PostgreSQL, triggers on SQLite), every write transaction
//! short and free of network I/O, every reservation state change written to `audit_log` in the
//! same transaction. The conformance suite in `tests/` runs every test against both.

mod common;
pub mod error;
pub mod migrations;
pub mod model;
mod postgres;
mod rows;
pub mod settings;
mod sqlite;
pub mod testing;
mod text;

pub use error::{Result, Result as StoreResult, StoreError, Unavailable};
pub use migrations::{Migration, MigrationStatus};
pub use model::*;
pub use postgres::PgStore;
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{AttentionFlag, Money, RateRule, ReservationStatus, Stay};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

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

#[async_trait]
#[allow(clippy::too_many_arguments)]
pub trait Store: SettingsStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;
    async fn ping(&self) -> Result<()>;
    /// Closes the pool (graceful shutdown).
    async fn close(&self);

    // Units
    async fn list_units(&self, include_inactive: bool) -> Result<Vec<Unit>>;
    async fn get_unit(&self, id: i64) -> Result<Unit>;
    async fn get_unit_by_slug(&self, slug: &str) -> Result<Unit>;
    async fn create_unit(&self, input: &UnitInput, ical_token: &str, now: DateTime<Utc>) -> Result<Unit>;
    async fn update_unit(&self, id: i64, input: &UnitInput, now: DateTime<Utc>) -> Result<Unit>;
    async fn set_unit_ical_token(&self, id: i64, token: &str, now: DateTime<Utc>) -> Result<()>;

    // Rate rules
    async fn list_rate_rules(&self) -> Result<Vec<RateRule>>;
    async fn create_rate_rule(&self, rule: &RateRuleInput, now: DateTime<Utc>) -> Result<RateRule>;
    async fn update_rate_rule(&self, id: i64, rule: &RateRuleInput, now: DateTime<Utc>) -> Result<RateRule>;
    async fn delete_rate_rule(&self, id: i64) -> Result<()>;

    // Reservations
    /// In one write transaction: lock the unit, expire its stale holds, check the contact's
    /// hold limit, insert. An overlap with another active stay is [`StoreError::Overlap`].
    async fn create_reservation(
        &self,
        new: &NewReservation,
        limits: HoldLimits,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    async fn get_reservation(&self, code: &str) -> Result<Reservation>;
    async fn get_reservation_by_id(&self, id: i64) -> Result<Reservation>;
    /// The page and the total count.
    async fn list_reservations(&self, filter: &ReservationFilter) -> Result<(Vec<Reservation>, i64)>;
    /// Active stays (any unit when `None`) with a night in `[from, to)`.
    async fn active_stays(&self, unit_id: Option<i64>, from: NaiveDate, to: NaiveDate) -> Result<Vec<StayRow>>;
    /// A state change checked against the domain's transitions. Confirming a hold whose time is
    /// up expires it first and then needs `change.allow_expired`.
    async fn transition(
        &self,
        code: &str,
        to: ReservationStatus,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Moves an active reservation to other dates or another unit (the overlap rules apply).
    async fn change_stay(
        &self,
        code: &str,
        unit_id: i64,
        stay: Stay,
        total: Money,
        deposit: Money,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    async fn set_flag(
        &self,
        code: &str,
        flag: AttentionFlag,
        on: bool,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Records that the guest of a confirmed reservation paid the balance, and how, with an
    /// audit row (`balance_paid`). Once: a second time is `Duplicate`; any other state is
    /// `NotActive`.
    async fn record_balance_paid(
        &self,
        code: &str,
        method: domain::BalanceMethod,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Marks every hold whose time is up as expired; returns their codes.
    async fn expire_stale_holds(&self, now: DateTime<Utc>) -> Result<Vec<String>>;
    async fn audit_for(&self, reservation_id: i64) -> Result<Vec<AuditEntry>>;

    // Admin users
    /// Creates the user or replaces its password and role. A new password, another role or a
    /// reactivation moves its token version on; a new password also ends its dashboard sessions.
    async fn upsert_admin_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<AdminUser>;
    /// Changes a user's role (a change moves its token version on); [`StoreError::NotFound`]
    /// when there is no such user.
    async fn set_admin_role(&self, email: &str, role: Role, now: DateTime<Utc>) -> Result<AdminUser>;
    /// Removes a user and its dashboard sessions; [`StoreError::NotFound`] when there is none.
    async fn remove_admin_user(&self, email: &str) -> Result<()>;
    async fn get_admin_user(&self, email: &str) -> Result<AdminUser>;
    async fn list_admin_users(&self) -> Result<Vec<AdminUser>>;

    // Dashboard sessions (the cookie's token is stored only as its hash)
    async fn create_admin_session(&self, session: &NewAdminSession, now: DateTime<Utc>) -> Result<()>;
    /// The live session with its user; [`StoreError::NotFound`] when unknown, expired or the
    /// user was deactivated.
    async fn get_admin_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<AdminSession>;
    async fn delete_admin_session(&self, token_hash: &str) -> Result<()>;
    /// Removes expired sessions; returns how many.
    async fn purge_admin_sessions(&self, now: DateTime<Utc>) -> Result<u64>;

    // Audit log as a feed (the dashboard's live updates poll it; works across instances)
    /// Entries with an id above `after_id`, oldest first.
    async fn audit_after(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>>;
    /// The newest audit id (0 when empty).
    async fn latest_audit_id(&self) -> Result<i64>;
    /// An audit row for an owner action that is not a reservation state change (cabins, prices,
    /// feeds); `reservation_id` may be `None`.
    async fn record_audit(
        &self,
        reservation_id: Option<i64>,
        actor: &str,
        action: &str,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;

    // Idempotency keys
    async fn claim_idempotency(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim>;
    async fn finish_idempotency(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<()>;
    /// Forgets a claim whose request failed without a response worth replaying.
    async fn release_idempotency(&self, scope: &str, key: &str) -> Result<()>;
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64>;

    // Job queue
    /// `None` when a job with the same dedupe key already exists.
    async fn enqueue_job(&self, job: &NewJob, now: DateTime<Utc>) -> Result<Option<i64>>;
    /// Leases up to `limit` due jobs (or jobs whose lease ran out) to `worker`.
    async fn claim_jobs(&self, worker: &str, now: DateTime<Utc>, lease: Duration, limit: u32) -> Result<Vec<Job>>;
    async fn complete_job(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()>;
    /// Puts a recurring job back in the queue for its next run.
    async fn reschedule_job(&self, id: i64, worker: &str, run_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()>;
    /// Records a failure: retried at `retry_at`, or failed for good when `None` or out of attempts.
    async fn fail_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Hands this worker's leased jobs back (shutdown).
    async fn release_leases(&self, worker: &str, now: DateTime<Utc>) -> Result<u64>;
    async fn job_stats(&self, now: DateTime<Utc>) -> Result<JobStats>;
    async fn get_job(&self, id: i64) -> Result<(Job, String)>;

    // iCal feeds
    async fn list_feeds(&self, unit_id: Option<i64>) -> Result<Vec<Feed>>;
    async fn get_feed(&self, id: i64) -> Result<Feed>;
    /// [`StoreError::Duplicate`] when the unit already imports this URL.
    async fn add_feed(&self, unit_id: i64, url: &str, source: &str, now: DateTime<Utc>) -> Result<Feed>;
    async fn delete_feed(&self, id: i64) -> Result<()>;
    /// A fetch that changed nothing: `Ok` for 304 Not Modified, `Err(message)` for a failure.
    /// A failure never touches the feed's events.
    async fn record_feed_attempt(
        &self,
        id: i64,
        outcome: std::result::Result<(), String>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Applies a successful fetch in one short transaction that takes the unit `FOR UPDATE`:
    /// upserts events, ages out missing ones, recognises echoes of our own stays, records
    /// conflicts (and flags the reservations).
    async fn apply_feed(
        &self,
        id: i64,
        events: &[IncomingEvent],
        etag: Option<&str>,
        last_modified: Option<&str>,
        rules: ApplyRules,
        now: DateTime<Utc>,
    ) -> Result<FeedChanges>;
    /// Imported events with a night in `[from, to)` (echoes included; they block nothing).
    async fn external_blocks(&self, unit_id: Option<i64>, from: NaiveDate, to: NaiveDate)
    -> Result<Vec<ExternalBlock>>;
    async fn list_conflicts(&self, unit_id: Option<i64>) -> Result<Vec<Conflict>>;

    // Conversations: contacts, the inbox, turns, the outbox
    /// Stores a provider event (and the job that processes it) in one transaction, unless an
    /// event with the same provider id exists. `Some(id)` when it is new.
    async fn store_inbound(&self, event: &NewInbound, now: DateTime<Utc>) -> Result<Option<i64>>;
    async fn get_inbound(&self, id: i64) -> Result<InboundEvent>;
    /// Whether an older event of this contact still waits (events are answered in order).
    async fn has_earlier_unprocessed(&self, contact_id: i64, id: i64) -> Result<bool>;
    async fn upsert_contact(&self, channel: &str, address: &str, name: &str, now: DateTime<Utc>) -> Result<Contact>;
    async fn get_contact(&self, id: i64) -> Result<Contact>;
    async fn find_contact(&self, channel: &str, address: &str) -> Result<Contact>;
    /// Handed-off contacts first, then the most recent.
    async fn list_contacts(&self, limit: i64) -> Result<Vec<Contact>>;
    async fn conversation_state(&self, contact_id: i64) -> Result<Option<serde_json::Value>>;
    async fn set_handed_off(&self, contact_id: i64, on: bool, now: DateTime<Utc>) -> Result<()>;
    /// Writes a turn in one transaction. `None` when its event was already processed (the
    /// turn is dropped: nothing is done twice); otherwise the ids of the outbound messages.
    async fn commit_turn(&self, turn: &Turn, now: DateTime<Utc>) -> Result<Option<Vec<i64>>>;
    async fn get_message(&self, id: i64) -> Result<Message>;
    async fn list_messages(&self, contact_id: i64, after_id: i64, limit: i64) -> Result<Vec<Message>>;
    /// The contact's latest message from them (e-mail threading: the one a reply answers).
    async fn last_inbound_message(&self, contact_id: i64) -> Result<Option<Message>>;
    /// `None` when no older outbound message of this contact is still queued; otherwise when
    /// the oldest of them is next tried (its send job's `run_at`): sends stay in order, and a
    /// later one waits for that moment instead of asking again and again during an outage.
    async fn earlier_queued_due(&self, contact_id: i64, message_id: i64) -> Result<Option<DateTime<Utc>>>;
    async fn mark_message(
        &self,
        id: i64,
        status: &str,
        provider_message_id: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// A provider status (sent, delivered, read, failed) moves a message forward only.
    async fn message_status_from_provider(
        &self,
        provider_message_id: &str,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats>;
    /// Marks an inbox event handled when handling it wrote nothing else (payments).
    async fn mark_inbound_processed(&self, id: i64, now: DateTime<Utc>) -> Result<bool>;

    // Payments
    async fn payment_link(&self, reservation_id: i64) -> Result<Option<PaymentLink>>;
    async fn payment_link_by_preference(&self, preference_id: &str) -> Result<PaymentLink>;
    /// Stores the hold's link unless it already has one; returns the hold's link either way.
    async fn save_payment_link(&self, link: &PaymentLink, now: DateTime<Utc>) -> Result<PaymentLink>;
    /// In one transaction: upserts the payment (its status only moves forward) and, when
    /// asked, confirms the reservation (idempotent: a confirmed one stays as it is). A refused
    /// confirmation is reported and the payment is still recorded.
    async fn record_payment(
        &self,
        payment: &PaymentRecord,
        confirm: Option<(&str, &Change)>,
        now: DateTime<Utc>,
    ) -> Result<PaymentOutcome>;
    async fn payments_for(&self, reservation_id: i64) -> Result<Vec<Payment>>;

    /// Funnel counts for what happened in `[from, to)`.
    async fn funnel(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Funnel>;

    // Backups
    /// Writes a consistent copy of the whole database to `path` while it is in use (SQLite's
    /// `VACUUM INTO`); [`StoreError::Unsupported`] on PostgreSQL, which `pg_dump` copies.
    async fn copy_to_file(&self, path: &std::path::Path) -> Result<()>;
    async fn record_backup(&self, backup: &NewBackup, now: DateTime<Utc>) -> Result<Backup>;
    async fn last_backup(&self) -> Result<Option<Backup>>;
    /// Rows of the tables a business cannot lose (`posada backup`/`restore` report them).
    async fn counts(&self) -> Result<BTreeMap<String, i64>>;

    /// The engine's version and, on PostgreSQL, the installed `btree_gist` version (`posada doctor`).
    async fn engine_details(&self) -> Result<EngineDetails>;

    /// The database's migrations against this build's.
    async fn migration_status(&self) -> Result<MigrationStatus>;
    /// Applies the pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Table → columns, to check that both schemas stay equal.
    async fn schema(&self) -> Result<BTreeMap<String, BTreeSet<String>>>;
}

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
