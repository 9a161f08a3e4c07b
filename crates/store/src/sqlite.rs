//! SQLite: one writer at a time. Every write transaction starts with `BEGIN IMMEDIATE` (a
//! deferred one fails with "busy" when it upgrades to a writer under concurrency), behind an
//! in-process gate so our own writers queue instead of spinning on the busy timeout. Triggers
//! guard overlaps, which is race-free because writers are serialised.

use crate::common::store_impl;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    gate: Arc<Mutex<()>>,
}

pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _gate: OwnedMutexGuard<()>,
}

impl SqliteStore {
    /// `sqlite://path/to/file.db` (created when missing), migrated.
    pub async fn connect(url: &str) -> crate::Result<SqliteStore> {
        let store = SqliteStore::open(url, true).await?;
        MIGRATOR.run(&store.pool).await?;
        Ok(store)
    }

    /// An existing database file as it is: never created, never migrated (the CLI's tools).
    pub async fn open_existing(url: &str) -> crate::Result<SqliteStore> {
        SqliteStore::open(url, false).await
    }

    /// A file opened read-only (a backup being checked): nothing is written, not even a journal.
    pub async fn open_read_only(path: &std::path::Path) -> crate::Result<SqliteStore> {
        if !path.exists() {
            return Err(crate::StoreError::NoDatabase(path.display().to_string()));
        }
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        Ok(SqliteStore { pool, gate: Arc::new(Mutex::new(())) })
    }

    /// `PRAGMA quick_check`: the file's structure is sound.
    pub async fn quick_check(&self) -> crate::Result<()> {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA quick_check").fetch_all(&self.pool).await?;
        match rows.as_slice() {
            [(ok,)] if ok == "ok" => Ok(()),
            _ => Err(crate::StoreError::Corrupt(rows.into_iter().map(|r| r.0).take(5).collect::<Vec<_>>().join("; "))),
        }
    }

    async fn open(url: &str, create: bool) -> crate::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:");
        if !create && !in_memory && !file.exists() {
            return Err(crate::StoreError::NoDatabase(file.display().to_string()));
        }
        let options = options
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(15))
            .foreign_keys(true)
            // 1 MiB of page cache per connection (SQLite's default is 2 MiB): the whole
            // database of a small lodging fits, and eight connections stay light on memory.
            .pragma("cache_size", "-1024");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(15))
            // When a write meets a full disk (or another I/O error) SQLite rolls the transaction
            // back by itself; sqlx's own rollback then fails and the connection still counts
            // itself inside a transaction, refusing every later BEGIN. Such a connection is
            // dropped here and a fresh one opened, so writes resume as soon as there is room.
            .before_acquire(|conn, _| {
                Box::pin(async move {
                    if conn.is_in_transaction() {
                        // A rollback queued when the last user dropped its transaction lands
                        // before this ping: only a connection still inside one after it is stuck.
                        conn.ping().await?;
                    }
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool, gate: Arc::new(Mutex::new(())) })
    }

    pub(crate) fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// `VACUUM INTO` reads one snapshot (WAL: writers carry on) and writes a compact copy; the
    /// file must not exist yet.
    async fn copy_to_file_impl(&self, path: &std::path::Path) -> crate::Result<()> {
        let path = path.to_str().ok_or(crate::StoreError::Unsupported("a backup path that is not UTF-8"))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await.map_err(Self::map_err)?;
        Ok(())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    const GREATEST: &'static str = "MAX";
    const SCHEMA_QUERY: &'static str = "SELECT m.name, p.name FROM sqlite_master m \
         JOIN pragma_table_info(m.name) p WHERE m.type = 'table'";
    const ENGINE_QUERY: &'static str = "SELECT sqlite_version(), CAST(NULL AS TEXT)";
    const MIGRATIONS_TABLE_QUERY: &'static str =
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";

    async fn write(&self) -> crate::Result<WriteTx> {
        let gate = self.gate.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(Self::map_err)?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// Writers are already serialised: only check that the cabin exists.
    async fn lock_stay(conn: &mut sqlx::SqliteConnection, unit_id: i64, _stay: domain::Stay) -> crate::Result<()> {
        let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM units WHERE id = $1")
            .bind(unit_id)
            .fetch_optional(conn)
            .await
            .map_err(Self::map_err)?;
        found.map(|_| ()).ok_or(crate::StoreError::NotFound)
    }

    /// Writers are already serialised.
    async fn lock_unit_stays(_conn: &mut sqlx::SqliteConnection, _unit_id: i64) -> crate::Result<()> {
        Ok(())
    }

    /// Writers are already serialised.
    async fn lock_contact(_conn: &mut sqlx::SqliteConnection, _phone: &str) -> crate::Result<()> {
        Ok(())
    }

    fn map_err(e: sqlx::Error) -> crate::StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.message().contains("reservations_no_overlap")
        {
            return crate::StoreError::Overlap;
        }
        crate::StoreError::Database(e)
    }

    fn map_unique(e: sqlx::Error, what: &'static str) -> crate::StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.message().contains("UNIQUE constraint failed")
        {
            return crate::StoreError::Duplicate(what);
        }
        Self::map_err(e)
    }
}

pub(crate) fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

crate::settings::settings_impl!(SqliteStore);
crate::reviews::reviews_impl!(SqliteStore);
store_impl!(SqliteStore, sqlx::Sqlite, Backend::Sqlite);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserStore;
    use sqlx::Executor;

    /// Caps the file at a few pages more than it has, on every connection of the pool (SQLite's
    /// page limit is per connection): the next writes fail with SQLITE_FULL, like a full disk.
    async fn cap_pages(store: &SqliteStore, extra: i64) {
        let mut conns = Vec::new();
        for _ in 0..8 {
            conns.push(store.pool().acquire().await.unwrap());
        }
        for c in &mut conns {
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut **c).await.unwrap();
            c.execute(format!("PRAGMA max_page_count = {}", pages + extra).as_str()).await.unwrap();
        }
    }

    /// SQLite rolls a transaction back by itself when a write meets a full disk; sqlx's
    /// rollback on drop then fails and its connection believes it is still inside the
    /// transaction, so every later `BEGIN IMMEDIATE` on it failed — until a restart, long after
    /// the disk had room again (found by `chaos/disk_full.py`).
    #[tokio::test]
    async fn a_full_disk_does_not_poison_the_pool() {
        let path = std::env::temp_dir().join(format!("posada-full-{:016x}.db", rand::random::<u64>()));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let now = chrono::Utc::now();
        cap_pages(&store, 4).await;
        let mut full = 0;
        for _ in 0..200 {
            match store.record_audit(None, "duena@example.com", "nota", &"y".repeat(3000), now).await {
                Ok(()) => {}
                Err(e) if e.unavailable() == Some(crate::Unavailable::StorageFull) => full += 1,
                Err(e) => panic!("a full disk is reported as such, not as {e}"),
            }
        }
        assert!(full > 0, "the capped file filled up");
        cap_pages(&store, 100_000).await; // room again
        for i in 0..20 {
            store
                .record_audit(None, "duena@example.com", "nota", "con lugar otra vez", now)
                .await
                .unwrap_or_else(|e| panic!("write {i} after the disk had room again: {e}"));
        }
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }
}
