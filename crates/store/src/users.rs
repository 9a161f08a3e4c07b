//! Who acts and what they did: dashboard users and sessions, the audit log (and its feed),
//! the API's idempotency keys.
//!
//! One capability trait, implemented for both engines by `users_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait UserStore: Send + Sync {
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
    /// Changes a user's role (a change moves its token version on); [`crate::StoreError::NotFound`]
    /// when there is no such user.
    async fn set_admin_role(&self, email: &str, role: Role, now: DateTime<Utc>) -> Result<AdminUser>;
    /// Removes a user and its dashboard sessions; [`crate::StoreError::NotFound`] when there is none.
    async fn remove_admin_user(&self, email: &str) -> Result<()>;
    async fn get_admin_user(&self, email: &str) -> Result<AdminUser>;
    async fn list_admin_users(&self) -> Result<Vec<AdminUser>>;

    // Dashboard sessions (the cookie's token is stored only as its hash)
    async fn create_admin_session(&self, session: &NewAdminSession, now: DateTime<Utc>) -> Result<()>;
    /// The live session with its user; [`crate::StoreError::NotFound`] when unknown, expired or the
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
}

macro_rules! users_impl {
    ($Store:ty) => {
        impl $Store {
            #[allow(clippy::too_many_arguments)]
            async fn audit(
                conn: &mut Conn,
                reservation_id: Option<i64>,
                actor: &str,
                action: &str,
                before: Option<serde_json::Value>,
                after: Option<serde_json::Value>,
                note: &str,
                now: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (reservation_id, actor, action, before, after, note, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(reservation_id)
                .bind(actor)
                .bind(action)
                .bind(before.map(Json))
                .bind(after.map(Json))
                .bind(note)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(Self::map_err)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::UserStore for $Store {
            async fn upsert_admin_user(&self, email: &str, hash: &str, role: Role, now: DateTime<Utc>) -> Result<AdminUser> {
                let mut w = self.write().await?;
                let before: Option<(String,)> = sqlx::query_as("SELECT password_hash FROM admin_users WHERE email = $1")
                    .bind(email.trim().to_lowercase())
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                // A new password, another role or a reactivation moves the token version on (older
                // bearer tokens stop working); the same password and role again (the owner ensured
                // at every start) changes nothing.
                let row: AdminRow = sqlx::query_as(
                    "INSERT INTO admin_users (email, password_hash, role, active, created_at, updated_at) \
                     VALUES ($1, $2, $3, TRUE, $4, $4) \
                     ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash, \
                       role = excluded.role, active = TRUE, updated_at = excluded.updated_at, \
                       token_version = CASE WHEN admin_users.password_hash <> excluded.password_hash \
                         OR admin_users.role <> excluded.role OR NOT admin_users.active \
                         THEN admin_users.token_version + 1 ELSE admin_users.token_version END \
                     RETURNING id, email, password_hash, role, active, token_version",
                )
                .bind(email.trim().to_lowercase())
                .bind(hash)
                .bind(role.as_str())
                .bind(now)
                .fetch_one(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                // A new password ends the dashboard sessions too (they follow the role by themselves).
                if before.is_some_and(|(old,)| old != hash) {
                    sqlx::query("DELETE FROM admin_sessions WHERE user_id = $1")
                        .bind(row.id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                row.try_into()
            }

            async fn set_admin_role(&self, email: &str, role: Role, now: DateTime<Utc>) -> Result<AdminUser> {
                $crate::text::findable(email)?;
                let mut w = self.write().await?;
                let row: Option<AdminRow> = sqlx::query_as(
                    "UPDATE admin_users SET role = $2, updated_at = $3, \
                       token_version = CASE WHEN role <> $2 THEN token_version + 1 ELSE token_version END \
                     WHERE email = $1 RETURNING id, email, password_hash, role, active, token_version",
                )
                .bind(email.trim().to_lowercase())
                .bind(role.as_str())
                .bind(now)
                .fetch_optional(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let row = row.ok_or(StoreError::NotFound)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                row.try_into()
            }

            async fn remove_admin_user(&self, email: &str) -> Result<()> {
                $crate::text::findable(email)?;
                let mut w = self.write().await?;
                // Its dashboard sessions go with it (ON DELETE CASCADE); bearer tokens find no user.
                let done = sqlx::query("DELETE FROM admin_users WHERE email = $1")
                    .bind(email.trim().to_lowercase())
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(())
            }

            async fn get_admin_user(&self, email: &str) -> Result<AdminUser> {
                $crate::text::findable(email)?;
                let row: Option<AdminRow> = sqlx::query_as(
                    "SELECT id, email, password_hash, role, active, token_version FROM admin_users WHERE email = $1",
                )
                .bind(email.trim().to_lowercase())
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            async fn list_admin_users(&self) -> Result<Vec<AdminUser>> {
                let rows: Vec<AdminRow> =
                    sqlx::query_as("SELECT id, email, password_hash, role, active, token_version FROM admin_users ORDER BY id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(Self::map_err)?;
                rows.into_iter().map(AdminUser::try_from).collect()
            }

            async fn create_admin_session(&self, n: &NewAdminSession, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.write().await?;
                sqlx::query(
                    "INSERT INTO admin_sessions (token_hash, user_id, csrf_token, ip, user_agent, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&n.token_hash)
                .bind(n.user_id)
                .bind(&n.csrf_token)
                .bind(&n.ip)
                .bind(&n.user_agent)
                .bind(now)
                .bind(n.expires_at)
                .execute(&mut *w.tx)
                .await
                .map_err(|e| Self::map_unique(e, "session"))?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(())
            }

            async fn get_admin_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<AdminSession> {
                let row: Option<(String, i64, String, String, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT s.token_hash, s.user_id, u.email, u.role, s.csrf_token, s.created_at, s.expires_at \
                     FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = TRUE",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                let (token_hash, user_id, email, role, csrf_token, created_at, expires_at) =
                    row.ok_or(StoreError::NotFound)?;
                let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
                Ok(AdminSession { token_hash, user_id, email, role, csrf_token, created_at, expires_at })
            }

            async fn delete_admin_session(&self, token_hash: &str) -> Result<()> {
                let mut w = self.write().await?;
                sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(())
            }

            async fn purge_admin_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
                let mut w = self.write().await?;
                let done = sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(done.rows_affected())
            }

            async fn audit_after(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT id, reservation_id, actor, action, before, after, note, created_at FROM audit_log \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(rows.into_iter().map(AuditEntry::from).collect())
            }

            async fn latest_audit_id(&self) -> Result<i64> {
                let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM audit_log")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(id.unwrap_or(0))
            }

            async fn record_audit(
                &self,
                reservation_id: Option<i64>,
                actor: &str,
                action: &str,
                note: &str,
                now: DateTime<Utc>,
            ) -> Result<()> {
                let (actor, note) = ($crate::text::clean(actor), $crate::text::clean(note));
                let mut w = self.write().await?;
                Self::audit(&mut w.tx, reservation_id, &actor, action, None, None, &note, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(())
            }

            async fn claim_idempotency(
                &self,
                scope: &str,
                key: &str,
                request_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<IdempotencyClaim> {
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(scope)
                .bind(key)
                .bind(request_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                if inserted.rows_affected() == 1 {
                    return Ok(IdempotencyClaim::New);
                }
                let row: Option<(String, Option<i64>, Option<String>, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT request_hash, response_status, response_body, created_at FROM idempotency_keys \
                     WHERE scope = $1 AND key = $2",
                )
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                let Some((hash, status, body, created_at)) = row else {
                    // Released between our insert and read: the caller may retry.
                    return Ok(IdempotencyClaim::InProgress);
                };
                if hash != request_hash {
                    return Ok(IdempotencyClaim::Mismatch);
                }
                if let Some(status) = status {
                    return Ok(IdempotencyClaim::Replay { status: status as u16, body: body.unwrap_or_default() });
                }
                // A claim older than a minute without a response belongs to a process that died.
                if now - created_at > chrono::Duration::seconds(60) {
                    let stolen = sqlx::query(
                        "UPDATE idempotency_keys SET created_at = $3 WHERE scope = $1 AND key = $2 \
                         AND response_status IS NULL AND created_at = $4",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(now)
                    .bind(created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                    if stolen.rows_affected() == 1 {
                        return Ok(IdempotencyClaim::New);
                    }
                }
                Ok(IdempotencyClaim::InProgress)
            }

            async fn finish_idempotency(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<()> {
                sqlx::query(
                    "UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE scope = $1 AND key = $2",
                )
                .bind(scope)
                .bind(key)
                .bind(status as i64)
                .bind(body)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(())
            }

            async fn release_idempotency(&self, scope: &str, key: &str) -> Result<()> {
                sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND response_status IS NULL")
                    .bind(scope)
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(())
            }

            async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64> {
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use users_impl;
