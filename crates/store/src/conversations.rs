//! Conversations: contacts, the inbox of provider events, turns, the outbox, and the funnel
//! they lead to.
//!
//! One capability trait, implemented for both engines by `conversations_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::Funnel;
use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait ConversationStore: Send + Sync {
    // Conversations: contacts, the inbox, turns, the outbox
    /// Stores a provider event (and the job that processes it) in one transaction, unless an
    /// event with the same provider id exists. `Some(id)` when it is new.
    async fn store_inbound(&self, event: &NewInbound, now: DateTime<Utc>) -> Result<Option<i64>>;
    async fn get_inbound(&self, id: i64) -> Result<InboundEvent>;
    /// Whether an older event of this contact still waits (events are answered in order).
    async fn has_earlier_unprocessed(&self, contact_id: i64, id: i64) -> Result<bool>;
    async fn upsert_contact(
        &self,
        channel: domain::Channel,
        address: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Contact>;
    async fn get_contact(&self, id: i64) -> Result<Contact>;
    async fn find_contact(&self, channel: domain::Channel, address: &str) -> Result<Contact>;
    /// Handed-off contacts first, then the most recent.
    async fn list_contacts(&self, limit: i64) -> Result<Vec<Contact>>;
    async fn conversation_state(&self, contact_id: i64) -> Result<Option<serde_json::Value>>;
    async fn set_handed_off(&self, contact_id: i64, on: bool, now: DateTime<Utc>) -> Result<()>;
    /// Writes a turn in one transaction. `None` when its event was already processed or its
    /// `once` key was already used (the turn is dropped: nothing is done twice); otherwise the
    /// ids of the outbound messages.
    async fn commit_turn(&self, turn: &Turn, now: DateTime<Utc>) -> Result<Option<Vec<i64>>>;
    async fn get_message(&self, id: i64) -> Result<Message>;
    async fn list_messages(&self, contact_id: i64, after_id: i64, limit: i64) -> Result<Vec<Message>>;
    /// The contact's latest message from them (e-mail threading: the one a reply answers).
    async fn last_inbound_message(&self, contact_id: i64) -> Result<Option<Message>>;
    /// `None` when no older outbound message of this contact is still queued; otherwise when
    /// the oldest of them is next tried (its send job's `run_at`): sends stay in order, and a
    /// later one waits for that moment instead of asking again and again during an outage.
    async fn earlier_queued_due(&self, contact_id: i64, message_id: i64) -> Result<Option<DateTime<Utc>>>;
    async fn mark_message(
        &self,
        id: i64,
        status: domain::MessageStatus,
        provider_message_id: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// A provider status (sent, delivered, read, failed) moves a message forward only.
    async fn message_status_from_provider(
        &self,
        provider_message_id: &str,
        status: domain::MessageStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats>;
    /// Marks an inbox event handled when handling it wrote nothing else (payments).
    async fn mark_inbound_processed(&self, id: i64, now: DateTime<Utc>) -> Result<bool>;
    /// Funnel counts for what happened in `[from, to)`.
    async fn funnel(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Funnel>;
}

macro_rules! conversations_impl {
    ($Store:ty) => {
        impl $Store {
            async fn store_inbound_once(&self, event: &NewInbound, now: DateTime<Utc>) -> Result<Option<i64>> {
                // A provider's odd bytes are removed, never refused: the event must be stored.
                let cleaned;
                let event = if domain::text::has_forbidden(&event.provider_id) {
                    cleaned = NewInbound { provider_id: $crate::text::clean(&event.provider_id), ..event.clone() };
                    &cleaned
                } else {
                    event
                };
                // A redelivery of a stored event is the common duplicate: answered from a plain
                // read, without locking the contact that a turn commit may be holding.
                let seen: Option<(i64,)> = sqlx::query_as("SELECT id FROM inbound_events WHERE provider = $1 AND provider_id = $2")
                    .bind(&event.provider)
                    .bind(&event.provider_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                if seen.is_some() {
                    return Ok(None);
                }
                let mut w = self.write().await?;
                let contact_id = match &event.contact {
                    Some((channel, address, name)) => Some(Self::upsert_contact_in(&mut w.tx, *channel, address, name, Some(now), now).await?.id),
                    None => None,
                };
                let payload = $crate::text::clean_json(&event.payload);
                let id: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO inbound_events (provider, provider_id, contact_id, kind, payload, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(&event.provider)
                .bind(&event.provider_id)
                .bind(contact_id)
                .bind($crate::text::clean(&event.kind))
                .bind(Json(&payload))
                .bind(now)
                .fetch_optional(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let Some((id,)) = id else {
                    // A redelivery: acknowledged, ignored.
                    return Ok(None);
                };
                let job = NewJob {
                    kind: event.job_kind.clone(),
                    payload: serde_json::json!({"event_id": id}),
                    dedupe_key: Some(format!("inbound:{id}")),
                    run_at: now,
                    max_attempts: 20,
                };
                Self::enqueue_in(&mut w.tx, &job, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(Some(id))
            }

            async fn commit_turn_once(&self, turn: &Turn, now: DateTime<Utc>) -> Result<Option<Vec<i64>>> {
                let mut w = self.write().await?;
                if let Some(event_id) = turn.event_id {
                    let claimed = sqlx::query("UPDATE inbound_events SET processed_at = $2 WHERE id = $1 AND processed_at IS NULL")
                        .bind(event_id)
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                    if claimed.rows_affected() == 0 {
                        return Ok(None);
                    }
                }
                if let Some(key) = &turn.once {
                    let claimed = sqlx::query("INSERT INTO turn_keys (key, created_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                        .bind(key)
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                    if claimed.rows_affected() == 0 {
                        return Ok(None);
                    }
                }
                sqlx::query(
                    "INSERT INTO conversations (contact_id, state, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (contact_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                )
                .bind(turn.contact_id)
                .bind(Json($crate::text::clean_json(&turn.state)))
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                sqlx::query(
                    "UPDATE contacts SET handed_off = COALESCE($2, handed_off), updated_at = $3 WHERE id = $1",
                )
                .bind(turn.contact_id)
                .bind(turn.handed_off)
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let insert = "INSERT INTO messages (contact_id, direction, kind, body, payload, inbound_event_id, status, created_at, updated_at) \
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id";
                if let Some(m) = &turn.inbound {
                    sqlx::query(insert)
                        .bind(turn.contact_id)
                        .bind("in")
                        .bind(&m.kind)
                        .bind($crate::text::clean(&m.body))
                        .bind(Json($crate::text::clean_json(&m.payload)))
                        .bind(turn.event_id)
                        .bind(domain::MessageStatus::Received.as_str())
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                }
                let mut ids = Vec::with_capacity(turn.outbound.len());
                for m in &turn.outbound {
                    let (id,): (i64,) = sqlx::query_as(insert)
                        .bind(turn.contact_id)
                        .bind("out")
                        .bind(&m.kind)
                        .bind($crate::text::clean(&m.body))
                        .bind(Json($crate::text::clean_json(&m.payload)))
                        .bind(turn.event_id)
                        .bind(domain::MessageStatus::Queued.as_str())
                        .bind(now)
                        .fetch_one(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                    let job = NewJob {
                        kind: turn.send_job_kind.clone(),
                        payload: serde_json::json!({"message_id": id}),
                        dedupe_key: Some(format!("send:{id}")),
                        run_at: now,
                        max_attempts: 100_000,
                    };
                    Self::enqueue_in(&mut w.tx, &job, now).await?;
                    ids.push(id);
                }
                for (unit_id, stay, total) in &turn.quotes {
                    sqlx::query(
                        "INSERT INTO quotes (contact_id, unit_id, check_in, check_out, total, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(turn.contact_id)
                    .bind(unit_id)
                    .bind(stay.check_in)
                    .bind(stay.check_out)
                    .bind(total.0)
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                }
                for job in &turn.jobs {
                    Self::enqueue_in(&mut w.tx, job, now).await?;
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(Some(ids))
            }

            async fn upsert_contact_in(
                conn: &mut Conn,
                channel: domain::Channel,
                address: &str,
                name: &str,
                inbound_at: Option<DateTime<Utc>>,
                now: DateTime<Utc>,
            ) -> Result<Contact> {
                let sql = format!(
                    "INSERT INTO contacts (channel, address, name, last_inbound_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (channel, address) DO UPDATE SET \
                     name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE contacts.name END, \
                     last_inbound_at = COALESCE(excluded.last_inbound_at, contacts.last_inbound_at), \
                     updated_at = excluded.updated_at RETURNING {CONTACT_COLUMNS}"
                );
                let row: ContactRow = sqlx::query_as(&sql)
                    .bind(channel.as_str())
                    .bind($crate::text::clean(address))
                    .bind($crate::text::clean(name.trim()))
                    .bind(inbound_at)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                row.try_into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::ConversationStore for $Store {
            async fn store_inbound(&self, event: &NewInbound, now: DateTime<Utc>) -> Result<Option<i64>> {
                // A webhook's contact upsert can cross a turn commit of the same contact.
                retry_on_deadlock(|| self.store_inbound_once(event, now)).await
            }

            async fn get_inbound(&self, id: i64) -> Result<InboundEvent> {
                let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound_events WHERE id = $1");
                let row: Option<InboundRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn has_earlier_unprocessed(&self, contact_id: i64, id: i64) -> Result<bool> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM inbound_events WHERE contact_id = $1 AND id < $2 AND processed_at IS NULL LIMIT 1",
                )
                .bind(contact_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(row.is_some())
            }

            async fn upsert_contact(&self, channel: domain::Channel, address: &str, name: &str, now: DateTime<Utc>) -> Result<Contact> {
                let mut w = self.write().await?;
                let c = Self::upsert_contact_in(&mut w.tx, channel, address, name, None, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(c)
            }

            async fn get_contact(&self, id: i64) -> Result<Contact> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1");
                let row: Option<ContactRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            async fn find_contact(&self, channel: domain::Channel, address: &str) -> Result<Contact> {
                $crate::text::findable(address)?;
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE channel = $1 AND address = $2");
                let row: Option<ContactRow> = sqlx::query_as(&sql)
                    .bind(channel.as_str())
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            async fn list_contacts(&self, limit: i64) -> Result<Vec<Contact>> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts ORDER BY handed_off DESC, updated_at DESC, id DESC LIMIT $1");
                let rows: Vec<ContactRow> =
                    sqlx::query_as(&sql).bind(limit.clamp(1, 1000)).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                rows.into_iter().map(Contact::try_from).collect()
            }

            async fn conversation_state(&self, contact_id: i64) -> Result<Option<serde_json::Value>> {
                let row: Option<(Json<serde_json::Value>,)> = sqlx::query_as("SELECT state FROM conversations WHERE contact_id = $1")
                    .bind(contact_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(row.map(|(j,)| j.0))
            }

            async fn set_handed_off(&self, contact_id: i64, on: bool, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.write().await?;
                let done = sqlx::query("UPDATE contacts SET handed_off = $2, updated_at = $3 WHERE id = $1")
                    .bind(contact_id)
                    .bind(on)
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn commit_turn(&self, turn: &Turn, now: DateTime<Utc>) -> Result<Option<Vec<i64>>> {
                retry_on_deadlock(|| self.commit_turn_once(turn, now)).await
            }

            async fn mark_inbound_processed(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
                let done = sqlx::query("UPDATE inbound_events SET processed_at = $2 WHERE id = $1 AND processed_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn get_message(&self, id: i64) -> Result<Message> {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
                let row: Option<MessageRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            async fn list_messages(&self, contact_id: i64, after_id: i64, limit: i64) -> Result<Vec<Message>> {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE contact_id = $1 AND id > $2 ORDER BY id LIMIT $3");
                let rows: Vec<MessageRow> = sqlx::query_as(&sql)
                    .bind(contact_id)
                    .bind(after_id)
                    .bind(limit.clamp(1, 1000))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                rows.into_iter().map(Message::try_from).collect()
            }

            async fn last_inbound_message(&self, contact_id: i64) -> Result<Option<Message>> {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE contact_id = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1");
                let row: Option<MessageRow> =
                    sqlx::query_as(&sql).bind(contact_id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.map(Message::try_from).transpose()
            }

            async fn earlier_queued_due(&self, contact_id: i64, message_id: i64) -> Result<Option<DateTime<Utc>>> {
                // A queued message without its job (never expected) counts as due now.
                let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
                    "SELECT COALESCE(j.run_at, m.created_at) FROM messages m \
                     LEFT JOIN jobs j ON j.dedupe_key = 'send:' || m.id \
                     WHERE m.contact_id = $1 AND m.id < $2 AND m.direction = 'out' AND m.status = 'queued' \
                     ORDER BY m.id LIMIT 1",
                )
                .bind(contact_id)
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(row.map(|r| r.0))
            }

            async fn mark_message(
                &self,
                id: i64,
                status: domain::MessageStatus,
                provider_message_id: Option<&str>,
                error: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE messages SET status = $2, provider_message_id = COALESCE($3, provider_message_id), \
                     error = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(status.as_str())
                .bind(provider_message_id)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(())
            }

            async fn message_status_from_provider(
                &self,
                provider_message_id: &str,
                status: domain::MessageStatus,
                error: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                if domain::text::has_forbidden(provider_message_id) {
                    return Ok(false);
                }
                let error = error.map($crate::text::clean);
                let done = sqlx::query(
                    "UPDATE messages SET status = $2, error = COALESCE($3, error), updated_at = $4 \
                     WHERE provider_message_id = $1 AND (CASE status WHEN 'sent' THEN 1 WHEN 'failed' THEN 2 \
                     WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE 0 END) < $5",
                )
                .bind(provider_message_id)
                .bind(status.as_str())
                .bind(error)
                .bind(now)
                .bind(status.rank())
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats> {
                let (queued, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(created_at) FROM messages WHERE status = 'queued' AND direction = 'out'",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(Self::map_err)?;
                let oldest_queued_age_s = oldest.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0).unwrap_or(0.0);
                Ok(OutboxStats { queued, oldest_queued_age_s })
            }

            async fn funnel(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<$crate::Funnel> {
                // Holds from the bot's conversations, and apart the ones from websites and API
                // clients, which never went through a conversation.
                let (conversations, quoted, holds, paid, direct_holds, direct_paid): (i64, i64, i64, i64, i64, i64) =
                    sqlx::query_as(
                        "SELECT \
                     (SELECT COUNT(DISTINCT contact_id) FROM messages WHERE direction = 'in' AND created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(DISTINCT contact_id) FROM quotes WHERE created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(*) FROM reservations WHERE channel IN ('whatsapp', 'email', 'instagram', 'messenger', 'sandbox') \
                        AND status <> 'blocked' AND created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(*) FROM reservations WHERE channel IN ('whatsapp', 'email', 'instagram', 'messenger', 'sandbox') \
                        AND status <> 'blocked' AND created_at >= $1 AND created_at < $2 AND confirmed_at IS NOT NULL), \
                     (SELECT COUNT(*) FROM reservations WHERE channel IN ('web', 'api') \
                        AND status <> 'blocked' AND created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(*) FROM reservations WHERE channel IN ('web', 'api') \
                        AND status <> 'blocked' AND created_at >= $1 AND created_at < $2 AND confirmed_at IS NOT NULL)",
                    )
                    .bind(from)
                    .bind(to)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok($crate::Funnel { conversations, quoted, holds, paid, direct_holds, direct_paid })
            }
        }
    };
}
pub(crate) use conversations_impl;
