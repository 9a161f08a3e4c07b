use domain::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Another active stay of the unit already has one of these nights.
    #[error("dates unavailable")]
    Overlap,
    #[error("the contact already has {0} active holds")]
    TooManyHolds(u32),
    #[error("the client address already has {0} active holds")]
    TooManyAddressHolds(u32),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The hold's time is up and this change may not revive it.
    #[error("the hold has expired")]
    HoldExpired,
    /// Only an active stay (held, confirmed or blocked) can be moved.
    #[error("a {0} reservation cannot change")]
    NotActive(domain::ReservationStatus),
    /// A unique value (slug, e-mail) is taken.
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// A value the store refuses to write (a setting key or value out of bounds).
    #[error("invalid {0}")]
    Invalid(String),
    /// The stored row breaks an invariant of ours (a bug or a hand edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// PostgreSQL aborted the transaction to break a deadlock (two concurrent inserts can wait
    /// on each other while checking the exclusion constraint). Safe to run again.
    #[error("transaction aborted by a deadlock; retry")]
    Retry(#[source] sqlx::Error),
    /// This engine cannot do that (the caller has another way).
    #[error("not supported on this database engine: {0}")]
    Unsupported(&'static str),
    /// A tool was pointed at a SQLite file that does not exist (it is never created by accident).
    #[error("no database at {0}")]
    NoDatabase(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why the database could not do a request's work right now. The request itself was fine, so the
/// HTTP layer answers 503 with `Retry-After` (clients and proxies retry those) instead of 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Unreachable or restarting: connection refused or cut, shutting down, a read-only standby.
    Unreachable,
    /// Reachable but saturated: no free connection in time, locked, too many clients.
    Busy,
    /// The disk under the database is full: writes fail until an operator makes room.
    StorageFull,
}

impl StoreError {
    /// `Some` when the failure is the database's state, not the request's content.
    pub fn unavailable(&self) -> Option<Unavailable> {
        match self {
            StoreError::Database(e) => unavailable(e),
            // A deadlock that survived the store's own retries: the same request will succeed.
            StoreError::Retry(_) => Some(Unavailable::Busy),
            _ => None,
        }
    }
}

fn unavailable(e: &sqlx::Error) -> Option<Unavailable> {
    use Unavailable::*;
    match e {
        sqlx::Error::PoolTimedOut => Some(Busy),
        sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            Some(Unreachable)
        }
        // A connection cut mid-message shows up as an unexpected message or end of stream.
        sqlx::Error::Protocol(_) => Some(Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            // SQLite reports its (extended) result code as a number; the low byte is the primary one.
            if let Ok(n) = code.parse::<u32>() {
                return match n & 0xff {
                    5 | 6 => Some(Busy),          // SQLITE_BUSY, SQLITE_LOCKED
                    13 => Some(StorageFull),      // SQLITE_FULL
                    10 | 14 => Some(Unreachable), // SQLITE_IOERR, SQLITE_CANTOPEN
                    _ => None,
                };
            }
            // PostgreSQL SQLSTATEs.
            match code.as_ref() {
                "53100" => Some(StorageFull),    // disk_full
                "53200" | "53300" => Some(Busy), // out_of_memory, too_many_connections
                // admin_shutdown, crash_shutdown, cannot_connect_now, read_only_sql_transaction (a standby)
                "57P01" | "57P02" | "57P03" | "25006" => Some(Unreachable),
                c if c.starts_with("08") => Some(Unreachable), // connection_exception class
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Executor};

    /// A real SQLITE_FULL: a file capped at a few pages.
    #[tokio::test]
    async fn sqlite_full_is_storage_full() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        conn.execute("CREATE TABLE t (x TEXT)").await.unwrap();
        conn.execute("PRAGMA max_page_count = 3").await.unwrap();
        let mut failure = None;
        for _ in 0..100 {
            if let Err(e) = sqlx::query("INSERT INTO t VALUES (?)").bind("x".repeat(2000)).execute(&mut conn).await {
                failure = Some(e);
                break;
            }
        }
        let e = StoreError::from(failure.expect("the capped file fills up"));
        assert_eq!(e.unavailable(), Some(Unavailable::StorageFull), "{e:?}");
    }

    /// A real SQLITE_BUSY: another connection holds the write lock.
    #[tokio::test]
    async fn sqlite_locked_is_busy() {
        let path = std::env::temp_dir().join(format!("posada-busy-{:016x}.db", rand::random::<u64>()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        holder.execute("CREATE TABLE t (x INTEGER)").await.unwrap();
        holder.execute("BEGIN EXCLUSIVE").await.unwrap();
        let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
        other.execute("PRAGMA busy_timeout = 10").await.unwrap();
        let e = StoreError::from(other.execute("INSERT INTO t VALUES (1)").await.unwrap_err());
        assert_eq!(e.unavailable(), Some(Unavailable::Busy), "{e:?}");
        drop(holder);
        let _ = std::fs::remove_file(&path);
    }

    /// Nothing listens on the port: connection refused.
    #[tokio::test]
    async fn refused_connection_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = sqlx::PgConnection::connect(&format!("postgres://postgres@127.0.0.1:{port}/x")).await.unwrap_err();
        assert_eq!(StoreError::from(e).unavailable(), Some(Unavailable::Unreachable));
    }

    #[test]
    fn request_faults_are_not_unavailability() {
        assert_eq!(StoreError::NotFound.unavailable(), None);
        assert_eq!(StoreError::Overlap.unavailable(), None);
        assert_eq!(StoreError::from(sqlx::Error::RowNotFound).unavailable(), None);
    }
}
