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
