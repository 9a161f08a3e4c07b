//! Which schema a database has and what an upgrade would run. Migrations are forward-only:
//! a landed file is never edited (its checksum is recorded when applied) and both engines carry
//! the same versions, so "schema version" means the same thing everywhere.

use serde::Serialize;

/// One migration, as this build knows it or as a database recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

/// A database's migrations compared with the ones this build carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// Applied, oldest first.
    pub applied: Vec<Migration>,
    /// Known to this build and not applied yet: what `posada migrate` would run, in order.
    pub pending: Vec<Migration>,
    /// Applied by a newer build (this one does not know them): a downgrade, which we refuse.
    pub unknown: Vec<i64>,
    /// Applied with a different checksum than this build's file: a landed migration was edited.
    pub changed: Vec<i64>,
}

impl MigrationStatus {
    /// The newest applied version (`None` for an empty database).
    pub fn schema_version(&self) -> Option<i64> {
        self.applied.iter().map(|m| m.version).max()
    }

    /// Nothing to run and nothing unexpected.
    pub fn up_to_date(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.changed.is_empty()
    }

    /// Compares what a database recorded (`version, description, success, checksum`) with a build's
    /// migrator.
    pub(crate) fn compare(migrator: &sqlx::migrate::Migrator, recorded: Vec<(i64, String, bool, Vec<u8>)>) -> Self {
        let mut status = MigrationStatus::default();
        for (version, description, success, checksum) in &recorded {
            if !success {
                continue;
            }
            match migrator.iter().find(|m| m.version == *version) {
                None => status.unknown.push(*version),
                Some(m) if m.checksum.as_ref() != checksum.as_slice() => status.changed.push(*version),
                Some(_) => {}
            }
            status.applied.push(Migration { version: *version, description: description.clone() });
        }
        status.pending = migrator
            .iter()
            .filter(|m| !recorded.iter().any(|(v, _, success, _)| *v == m.version && *success))
            .map(|m| Migration { version: m.version, description: m.description.to_string() })
            .collect();
        status
    }

    /// Every migration of a build, pending (a database that does not exist yet).
    pub(crate) fn all_pending(migrator: &sqlx::migrate::Migrator) -> Self {
        MigrationStatus::compare(migrator, Vec::new())
    }
}

/// The schema version this build brings a database to (the newest migration; both engines
/// carry the same versions, a test checks).
pub fn latest_version() -> i64 {
    crate::sqlite::migrator().iter().map(|m| m.version).max().unwrap_or(0)
}

/// The migrations of each engine, for the test that keeps them in step.
pub fn known(backend: crate::Backend) -> Vec<Migration> {
    let migrator = match backend {
        crate::Backend::Postgres => crate::postgres::migrator(),
        crate::Backend::Sqlite => crate::sqlite::migrator(),
    };
    migrator.iter().map(|m| Migration { version: m.version, description: m.description.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    /// Two branches once added migrations with the same version: sqlx applied both and failed
    /// recording the second (`_sqlx_migrations_pkey`). Each version names one migration.
    #[test]
    fn every_migration_has_its_own_version() {
        for backend in [crate::Backend::Postgres, crate::Backend::Sqlite] {
            let mut versions: Vec<i64> = super::known(backend).iter().map(|m| m.version).collect();
            let all = versions.len();
            versions.sort_unstable();
            versions.dedup();
            assert_eq!(versions.len(), all, "two migrations share a version ({backend:?})");
        }
    }
}
