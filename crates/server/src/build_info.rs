//! What this binary is: its version, the commit it was built from and the schema version it
//! brings a database to (`posada --version`, `/api/v1/readyz`, `posada doctor`).

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The full commit hash (`unknown` when built outside git without `POSADA_GIT_COMMIT`).
pub const COMMIT: &str = env!("POSADA_GIT_COMMIT");

/// The newest migration this build carries.
pub fn schema_version() -> i64 {
    store::migrations::latest_version()
}

/// The commit's first 12 characters.
pub fn short_commit() -> &'static str {
    COMMIT.get(..12).unwrap_or(COMMIT)
}

/// `0.1.0 (commit 1abcce4a5b6c, schema 20261128000000)`.
pub fn describe() -> String {
    format!("{VERSION} (commit {}, schema {})", short_commit(), schema_version())
}
