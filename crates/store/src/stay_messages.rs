//! A confirmed stay's automatic messages: one row per reservation and kind, with the time it is
//! due and where it has got to. Planning writes the rows and their jobs in one transaction;
//! sending marks a row sent in the transaction that queues its outbox message, so a crash on
//! either side of it neither loses the message nor sends it twice.
//!
//! One capability trait, implemented for both engines by `stay_messages_impl!` (stamped out
//! inside [`crate::common`]'s `store_impl!`) and proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub use domain::{StayMessageKind, StayMessageStatus};

/// What planning wants of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StayPlan {
    /// Due at this time (a new row, or a due or cancelled one moved there), with its job.
    At(DateTime<Utc>),
    /// Not to be sent: a due row is closed with this status and note. An absent row is written
    /// only as `Skipped` (too late to send: the timeline says so); `Cancelled` writes nothing.
    Close(StayMessageStatus, String),
}

#[async_trait]
pub trait StayMessageStore: Send + Sync {
    /// Plans a reservation's messages in one transaction (see [`StayPlan`]). Rows already sent,
    /// skipped or failed are left as they are. Each due row gets a job of `job_kind` for its
    /// time, deduplicated by row and time, so planning again adds nothing. Returns the rows.
    async fn plan_stay_messages(
        &self,
        reservation_id: i64,
        plan: &[(StayMessageKind, StayPlan)],
        job_kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<StayMessage>>;
    /// A reservation's rows, in the order they are due.
    async fn stay_messages(&self, reservation_id: i64) -> Result<Vec<StayMessage>>;
    async fn get_stay_message(&self, id: i64) -> Result<StayMessage>;
    /// In one transaction: marks a due row sent, on `channel`, and queues `message` to
    /// `contact_id` in the outbox with its send job. `false`, writing nothing, when the row is
    /// not due any more (sent by an earlier run, skipped, cancelled).
    async fn send_stay_message(
        &self,
        id: i64,
        contact_id: i64,
        channel: domain::Channel,
        message: &NewMessage,
        send_job_kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Closes a due row (skipped, cancelled, failed) with a note; `false` when it was not due.
    async fn close_stay_message(
        &self,
        id: i64,
        status: StayMessageStatus,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// The owner's "send now": the row is due now whatever it was, with a job of `job_kind`
    /// marked `forced` (sent without waiting for its time or the quiet hours).
    async fn stay_message_now(&self, id: i64, job_kind: &str, now: DateTime<Utc>) -> Result<StayMessage>;
}

/// The job that sends row `id` at `due_at` (one per row and time).
pub fn stay_job(job_kind: &str, id: i64, due_at: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: job_kind.to_string(),
        payload: serde_json::json!({"id": id}),
        dedupe_key: Some(format!("stay_msg:{id}:{}", due_at.timestamp_micros())),
        run_at: due_at,
        max_attempts: 50,
    }
}

macro_rules! stay_messages_impl {
    ($Store:ty) => {
        impl $Store {
            async fn stay_rows_in(conn: &mut Conn, reservation_id: i64) -> Result<Vec<StayMessage>> {
                let sql = format!(
                    "SELECT {STAY_MESSAGE_COLUMNS} FROM stay_messages WHERE reservation_id = $1 ORDER BY due_at, id"
                );
                let rows: Vec<StayMessageRow> =
                    sqlx::query_as(&sql).bind(reservation_id).fetch_all(&mut *conn).await.map_err(Self::map_err)?;
                rows.into_iter().map(StayMessage::try_from).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::stay_messages::StayMessageStore for $Store {
            async fn plan_stay_messages(
                &self,
                reservation_id: i64,
                plan: &[($crate::stay_messages::StayMessageKind, $crate::stay_messages::StayPlan)],
                job_kind: &str,
                now: DateTime<Utc>,
            ) -> Result<Vec<StayMessage>> {
                use $crate::stay_messages::{StayMessageStatus as S, StayPlan};
                let mut w = self.write().await?;
                let existing = Self::stay_rows_in(&mut w.tx, reservation_id).await?;
                for (kind, wanted) in plan {
                    let row = existing.iter().find(|r| r.kind == *kind);
                    match (wanted, row) {
                        (StayPlan::At(at), None) => {
                            let (id,): (i64,) = sqlx::query_as(
                                "INSERT INTO stay_messages (reservation_id, kind, due_at, status, note, created_at, updated_at) \
                                 VALUES ($1, $2, $3, 'due', '', $4, $4) RETURNING id",
                            )
                            .bind(reservation_id)
                            .bind(kind.as_str())
                            .bind(at)
                            .bind(now)
                            .fetch_one(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                            Self::enqueue_in(&mut w.tx, &$crate::stay_messages::stay_job(job_kind, id, *at), now).await?;
                        }
                        (StayPlan::At(at), Some(r)) if matches!(r.status, S::Due | S::Cancelled) => {
                            if r.status == S::Due && r.due_at == *at {
                                continue;
                            }
                            // Only while still due or cancelled: a send that committed since the
                            // read above (PostgreSQL runs them side by side) stays sent.
                            let moved = sqlx::query(
                                "UPDATE stay_messages SET due_at = $2, status = 'due', note = '', updated_at = $3 \
                                 WHERE id = $1 AND status IN ('due', 'cancelled')",
                            )
                            .bind(r.id)
                            .bind(at)
                            .bind(now)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                            if moved.rows_affected() == 0 {
                                continue;
                            }
                            Self::enqueue_in(&mut w.tx, &$crate::stay_messages::stay_job(job_kind, r.id, *at), now).await?;
                        }
                        (StayPlan::Close(status, note), Some(r)) if r.status == S::Due => {
                            sqlx::query(
                                "UPDATE stay_messages SET status = $2, note = $3, updated_at = $4 WHERE id = $1 AND status = 'due'",
                            )
                                .bind(r.id)
                                .bind(status.as_str())
                                .bind(note)
                                .bind(now)
                                .execute(&mut *w.tx)
                                .await
                                .map_err(Self::map_err)?;
                        }
                        (StayPlan::Close(S::Skipped, note), None) => {
                            sqlx::query(
                                "INSERT INTO stay_messages (reservation_id, kind, due_at, status, note, created_at, updated_at) \
                                 VALUES ($1, $2, $3, 'skipped', $4, $3, $3)",
                            )
                            .bind(reservation_id)
                            .bind(kind.as_str())
                            .bind(now)
                            .bind(note)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                        }
                        _ => {}
                    }
                }
                let rows = Self::stay_rows_in(&mut w.tx, reservation_id).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(rows)
            }

            async fn stay_messages(&self, reservation_id: i64) -> Result<Vec<StayMessage>> {
                let mut conn = self.pool.acquire().await.map_err(Self::map_err)?;
                Self::stay_rows_in(&mut conn, reservation_id).await
            }

            async fn get_stay_message(&self, id: i64) -> Result<StayMessage> {
                let sql = format!("SELECT {STAY_MESSAGE_COLUMNS} FROM stay_messages WHERE id = $1");
                let row: Option<StayMessageRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                StayMessage::try_from(row.ok_or(StoreError::NotFound)?)
            }

            async fn send_stay_message(
                &self,
                id: i64,
                contact_id: i64,
                channel: domain::Channel,
                message: &NewMessage,
                send_job_kind: &str,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let mut w = self.write().await?;
                let (message_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO messages (contact_id, direction, kind, body, payload, inbound_event_id, status, created_at, updated_at) \
                     VALUES ($1, 'out', $2, $3, $4, NULL, $5, $6, $6) RETURNING id",
                )
                .bind(contact_id)
                .bind(&message.kind)
                .bind($crate::text::clean(&message.body))
                .bind(Json($crate::text::clean_json(&message.payload)))
                .bind(domain::MessageStatus::Queued.as_str())
                .bind(now)
                .fetch_one(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let marked = sqlx::query(
                    "UPDATE stay_messages SET status = 'sent', channel = $2, message_id = $3, sent_at = $4, note = '', \
                     updated_at = $4 WHERE id = $1 AND status = 'due'",
                )
                .bind(id)
                .bind(channel.as_str())
                .bind(message_id)
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                if marked.rows_affected() == 0 {
                    // Sent already (or closed): the message row goes with the rollback.
                    return Ok(false);
                }
                let job = NewJob {
                    kind: send_job_kind.to_string(),
                    payload: serde_json::json!({"message_id": message_id}),
                    dedupe_key: Some(format!("send:{message_id}")),
                    run_at: now,
                    max_attempts: 100_000,
                };
                Self::enqueue_in(&mut w.tx, &job, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(true)
            }

            async fn close_stay_message(
                &self,
                id: i64,
                status: $crate::stay_messages::StayMessageStatus,
                note: &str,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE stay_messages SET status = $2, note = $3, updated_at = $4 WHERE id = $1 AND status = 'due'",
                )
                .bind(id)
                .bind(status.as_str())
                .bind($crate::text::clean(note))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn stay_message_now(&self, id: i64, job_kind: &str, now: DateTime<Utc>) -> Result<StayMessage> {
                let mut w = self.write().await?;
                let done = sqlx::query(
                    "UPDATE stay_messages SET status = 'due', due_at = $2, note = '', updated_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                // Forced: sent at once, whatever its planned time or the quiet hours.
                let mut job = $crate::stay_messages::stay_job(job_kind, id, now);
                job.payload["forced"] = serde_json::json!(true);
                Self::enqueue_in(&mut w.tx, &job, now).await?;
                let sql = format!("SELECT {STAY_MESSAGE_COLUMNS} FROM stay_messages WHERE id = $1");
                let row: StayMessageRow = sqlx::query_as(&sql).bind(id).fetch_one(&mut *w.tx).await.map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                StayMessage::try_from(row)
            }
        }
    };
}
pub(crate) use stay_messages_impl;
