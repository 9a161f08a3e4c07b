//! The database itself: engine, health, backups, migrations, schema (`posada doctor`, `backup`,
//! `migrate`).
//!
//! One capability trait, implemented for both engines by `maintenance_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use crate::{Backend, EngineDetails, MigrationStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    fn backend(&self) -> Backend;
    async fn ping(&self) -> Result<()>;
    /// Closes the pool (graceful shutdown).
    async fn close(&self);

    // Backups
    /// Writes a consistent copy of the whole database to `path` while it is in use (SQLite's
    /// `VACUUM INTO`); [`crate::StoreError::Unsupported`] on PostgreSQL, which `pg_dump` copies.
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

macro_rules! maintenance_impl {
    ($Store:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::MaintenanceStore for $Store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(Self::map_err)?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn copy_to_file(&self, path: &std::path::Path) -> Result<()> {
                self.copy_to_file_impl(path).await
            }

            async fn record_backup(&self, backup: &NewBackup, now: DateTime<Utc>) -> Result<Backup> {
                let mut w = self.write().await?;
                let row: BackupRow = sqlx::query_as(
                    "INSERT INTO backups (created_at, file, bytes, trigger, took_ms) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, created_at, file, bytes, trigger, took_ms",
                )
                .bind(now)
                .bind(&backup.file)
                .bind(backup.bytes)
                .bind(backup.trigger.as_str())
                .bind(backup.took_ms)
                .fetch_one(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                row.try_into()
            }

            async fn last_backup(&self) -> Result<Option<Backup>> {
                let row: Option<BackupRow> = sqlx::query_as(
                    "SELECT id, created_at, file, bytes, trigger, took_ms FROM backups \
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                row.map(TryInto::try_into).transpose()
            }

            async fn counts(&self) -> Result<BTreeMap<String, i64>> {
                const TABLES: [&str; 7] =
                    ["units", "reservations", "payments", "contacts", "messages", "audit_log", "ical_feeds"];
                let mut out = BTreeMap::new();
                for table in TABLES {
                    let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::map_err)?;
                    out.insert(table.to_string(), n);
                }
                Ok(out)
            }

            async fn engine_details(&self) -> Result<$crate::EngineDetails> {
                let (version, btree_gist): (String, Option<String>) =
                    sqlx::query_as(Self::ENGINE_QUERY).fetch_one(&self.pool).await.map_err(Self::map_err)?;
                Ok($crate::EngineDetails { version, btree_gist })
            }

            async fn migration_status(&self) -> Result<$crate::MigrationStatus> {
                let (tables,): (i64,) =
                    sqlx::query_as(Self::MIGRATIONS_TABLE_QUERY).fetch_one(&self.pool).await.map_err(Self::map_err)?;
                let recorded: Vec<(i64, String, bool, Vec<u8>)> = if tables > 0 {
                    sqlx::query_as(
                        "SELECT version, description, success, checksum FROM _sqlx_migrations ORDER BY version",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?
                } else {
                    Vec::new()
                };
                Ok($crate::MigrationStatus::compare(Self::migrator(), recorded))
            }

            async fn migrate(&self) -> Result<()> {
                Self::migrator().run(&self.pool).await?;
                Ok(())
            }

            async fn schema(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
                let rows: Vec<(String, String)> =
                    sqlx::query_as(Self::SCHEMA_QUERY).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for (table, column) in rows {
                    if table.starts_with("_sqlx") || table.starts_with("sqlite_") {
                        continue;
                    }
                    out.entry(table).or_default().insert(column);
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use maintenance_impl;
