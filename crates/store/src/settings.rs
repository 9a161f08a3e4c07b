//! Property settings: what the owner writes about the place ("Tu alojamiento": address, times,
//! payment methods, policies, what is included…) as key → text. Keys are plain dotted names
//! (`address`, `payment.transfer.alias`, later `checkin.instructions.unit.3`), so a new setting
//! needs no migration; their meaning and validation live with the server's typed view.
//!
//! A capability of its own (one small trait), implemented for both engines by
//! [`settings_impl!`] and proven by the same conformance tests.

use crate::error::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Longest key and value accepted (a value is a paragraph the bot may quote, not a document).
pub const MAX_KEY_LEN: usize = 100;
pub const MAX_VALUE_LEN: usize = 4000;

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Every stored setting, by key.
    async fn settings(&self) -> Result<BTreeMap<String, String>>;

    /// Writes the changes in one transaction (`None` deletes the key) with one audit row naming
    /// the keys that changed; returns those keys. Keys or values over the limits are
    /// [`crate::StoreError::Invalid`]; nothing is written then.
    async fn save_settings(
        &self,
        changes: &[(String, Option<String>)],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>>;

    /// First-run defaults: stores the keys that are absent, leaves the others; returns how many
    /// were written.
    async fn seed_settings(&self, defaults: &[(String, String)], now: DateTime<Utc>) -> Result<u64>;
}

pub(crate) fn check(key: &str, value: Option<&str>) -> Result<()> {
    let key_ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    let value_ok = value.is_none_or(|v| v.chars().count() <= MAX_VALUE_LEN && !v.contains('\0'));
    if key_ok && value_ok { Ok(()) } else { Err(crate::StoreError::Invalid(format!("setting {key:?}"))) }
}

/// [`SettingsStore`] for a backend that has `write()`, `map_err` and `audit` (see
/// `common::store_impl!`).
macro_rules! settings_impl {
    ($Store:ty) => {
        #[async_trait::async_trait]
        impl $crate::settings::SettingsStore for $Store {
            async fn settings(&self) -> $crate::Result<std::collections::BTreeMap<String, String>> {
                let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM property_settings")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(rows.into_iter().collect())
            }

            async fn save_settings(
                &self,
                changes: &[(String, Option<String>)],
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<String>> {
                for (k, v) in changes {
                    $crate::settings::check(k, v.as_deref())?;
                }
                // One order for every writer: two saves never wait on each other's rows.
                let mut sorted: Vec<&(String, Option<String>)> = changes.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                sorted.dedup_by(|a, b| a.0 == b.0);
                let mut w = self.write().await?;
                let mut changed = Vec::new();
                for (k, v) in sorted {
                    let before: Option<(String,)> =
                        sqlx::query_as("SELECT value FROM property_settings WHERE key = $1")
                            .bind(k)
                            .fetch_optional(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                    if before.as_ref().map(|b| &b.0) == v.as_ref() {
                        continue;
                    }
                    match v {
                        Some(v) => {
                            sqlx::query(
                                "INSERT INTO property_settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                                 updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                            )
                            .bind(k)
                            .bind(v)
                            .bind(actor)
                            .bind(now)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                        }
                        None => {
                            sqlx::query("DELETE FROM property_settings WHERE key = $1")
                                .bind(k)
                                .execute(&mut *w.tx)
                                .await
                                .map_err(Self::map_err)?;
                        }
                    }
                    changed.push(k.clone());
                }
                if !changed.is_empty() {
                    Self::audit(&mut w.tx, None, actor, "settings_changed", None, None, &changed.join(", "), now)
                        .await?;
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(changed)
            }

            async fn seed_settings(
                &self,
                defaults: &[(String, String)],
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<u64> {
                for (k, v) in defaults {
                    $crate::settings::check(k, Some(v))?;
                }
                let mut w = self.write().await?;
                let mut written = 0;
                for (k, v) in defaults {
                    let done = sqlx::query(
                        "INSERT INTO property_settings (key, value, updated_by, updated_at) VALUES ($1, $2, 'config', $3) \
                         ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(k)
                    .bind(v)
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                    written += done.rows_affected();
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(written)
            }
        }
    };
}
pub(crate) use settings_impl;
