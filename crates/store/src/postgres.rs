//! PostgreSQL: an exclusion constraint guards overlaps; holds take the unit row `FOR UPDATE`;
//! the job queue claims with `FOR UPDATE SKIP LOCKED`.

use crate::common::store_impl;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// A write transaction (nothing more is needed on PostgreSQL: row locks and the constraint).
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl PgStore {
    /// Connects and migrates (the database itself must exist: we never create one).
    pub async fn connect(url: &str, max_connections: u32) -> crate::Result<PgStore> {
        let store = PgStore::open_existing(url, max_connections).await?;
        MIGRATOR.run(&store.pool).await?;
        Ok(store)
    }

    /// Connects without migrating (the CLI's tools).
    pub async fn open_existing(url: &str, max_connections: u32) -> crate::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("posada");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }

    pub(crate) fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    /// PostgreSQL is copied with `pg_dump` (the server's `backup` module).
    async fn copy_to_file_impl(&self, _path: &std::path::Path) -> crate::Result<()> {
        Err(crate::StoreError::Unsupported("use pg_dump"))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const GREATEST: &'static str = "GREATEST";
    const SCHEMA_QUERY: &'static str = "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema()";
    const ENGINE_QUERY: &'static str = "SELECT current_setting('server_version'), \
         (SELECT extversion::text FROM pg_extension WHERE extname = 'btree_gist')";
    const MIGRATIONS_TABLE_QUERY: &'static str = "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'";

    async fn write(&self) -> crate::Result<WriteTx> {
        Ok(WriteTx { tx: self.pool.begin().await.map_err(Self::map_err)? })
    }

    /// Lets writes to one cabin run side by side unless they share a night: a shared lock on the
    /// cabin (an iCal import takes it exclusively, so no hold slips past one) and then one lock per
    /// night in date order, so two stays that overlap queue here instead of meeting inside the
    /// exclusion check, where PostgreSQL can only break their wait with a deadlock after
    /// `deadlock_timeout`. A very long stay locks the whole cabin rather than hundreds of nights.
    /// `NotFound` when the cabin does not exist.
    async fn lock_stay(conn: &mut sqlx::PgConnection, unit_id: i64, stay: domain::Stay) -> crate::Result<()> {
        const MOST_NIGHT_LOCKS: i64 = 62;
        let unit = i32::try_from(unit_id).map_err(|_| crate::StoreError::NotFound)?;
        let whole = stay.nights() as i64 > MOST_NIGHT_LOCKS;
        let sql = if whole {
            "SELECT pg_advisory_xact_lock(id::int4, -1) FROM units WHERE id = $1"
        } else {
            "SELECT pg_advisory_xact_lock_shared(id::int4, -1) FROM units WHERE id = $1"
        };
        let found = sqlx::query(sql).bind(unit_id).fetch_optional(&mut *conn).await.map_err(Self::map_err)?;
        if found.is_none() {
            return Err(crate::StoreError::NotFound);
        }
        if !whole {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
            let day = |d: chrono::NaiveDate| (d - epoch).num_days() as i32;
            sqlx::query("SELECT pg_advisory_xact_lock($1, d) FROM generate_series($2::int4, $3::int4 - 1) AS d")
                .bind(unit)
                .bind(day(stay.check_in))
                .bind(day(stay.check_out))
                .execute(&mut *conn)
                .await
                .map_err(Self::map_err)?;
        }
        Ok(())
    }

    /// Waits for every write in flight on one cabin's stays and keeps new ones out (iCal import).
    async fn lock_unit_stays(conn: &mut sqlx::PgConnection, unit_id: i64) -> crate::Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1::int4, -1)")
            .bind(i32::try_from(unit_id).map_err(|_| crate::StoreError::NotFound)?)
            .execute(conn)
            .await
            .map_err(Self::map_err)?;
        Ok(())
    }

    /// Serialises the hold count of one contact across connections.
    async fn lock_contact(conn: &mut sqlx::PgConnection, phone: &str) -> crate::Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(phone)
            .execute(conn)
            .await
            .map_err(Self::map_err)?;
        Ok(())
    }

    fn map_err(e: sqlx::Error) -> crate::StoreError {
        if let sqlx::Error::Database(db) = &e {
            match db.code().as_deref() {
                // exclusion_violation: the no-overlap constraint.
                Some("23P01") => return crate::StoreError::Overlap,
                // deadlock_detected, serialization_failure: the whole transaction may run again.
                Some("40P01") | Some("40001") => return crate::StoreError::Retry(e),
                // A NUL byte in text or jsonb (the store refuses those before they get here;
                // this keeps any path we missed a 4xx instead of a 500).
                Some("22021") | Some("22P05") => {
                    return crate::StoreError::Invalid("text: a character PostgreSQL cannot store".into());
                }
                _ => {}
            }
        }
        crate::StoreError::Database(e)
    }

    fn map_unique(e: sqlx::Error, what: &'static str) -> crate::StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("23505")
        {
            return crate::StoreError::Duplicate(what);
        }
        Self::map_err(e)
    }
}

pub(crate) fn migrator() -> &'static sqlx::migrate::Migrator {
    &MIGRATOR
}

crate::settings::settings_impl!(PgStore);
crate::reviews::reviews_impl!(PgStore);
store_impl!(PgStore, sqlx::Postgres, Backend::Postgres);
