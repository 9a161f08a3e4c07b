//! The queries both backends share, stamped out once per backend by [`store_impl!`].
//!
//! Placeholders are `$1, $2, …`, which PostgreSQL and SQLite both accept. What differs — how a
//! write transaction starts, row locks, error codes, schema introspection — lives in each
//! backend's module as inherent items with the same names (`write`, `FOR_UPDATE`,
//! `SKIP_LOCKED`, `LIKE`, `lock_contact`, `map_err`, `schema_query`).

use chrono::{DateTime, NaiveDate, Utc};

/// A dynamically bound argument, for queries whose filters vary.
pub enum Arg {
    I64(i64),
    Text(String),
    Date(NaiveDate),
    #[allow(dead_code)]
    Ts(DateTime<Utc>),
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::common::Arg::I64(v) => q.bind(v),
                $crate::common::Arg::Text(v) => q.bind(v),
                $crate::common::Arg::Date(v) => q.bind(v),
                $crate::common::Arg::Ts(v) => q.bind(v),
            };
        }
        q
    }};
}
pub(crate) use bind_args;

macro_rules! store_impl {
    ($Store:ty, $DB:ty, $backend:expr) => {
        use $crate::common::{bind_args, Arg};
        use $crate::error::{Result, StoreError};
        use $crate::model::*;
        use $crate::rows::*;
        use $crate::{Backend, HoldLimits, Store};
        use chrono::{DateTime, NaiveDate, Utc};
        use domain::{AttentionFlag, Money, RateRule, ReservationCode, ReservationStatus, Stay};
        use sqlx::types::Json;
        use sqlx::Acquire;
        use std::collections::{BTreeMap, BTreeSet};
        use std::time::Duration;

        type Conn = <$DB as sqlx::Database>::Connection;

        impl $Store {
            async fn reservation_for_update(conn: &mut Conn, code: &str) -> Result<Reservation> {
                let sql = format!(
                    "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE code = $1{}",
                    Self::FOR_UPDATE
                );
                let row: Option<ReservationRow> = sqlx::query_as(&sql)
                    .bind(code)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            /// Serialises writers of one unit's stays. `FOR SHARE` would let the exclusion
            /// constraint order our rows, but two conflicting inserts then wait on each other
            /// inside PostgreSQL's exclusion check and one dies of a deadlock under load;
            /// `FOR UPDATE` queues them instead (different units still run in parallel).
            async fn lock_unit(conn: &mut Conn, unit_id: i64) -> Result<()> {
                let sql = format!("SELECT id FROM units WHERE id = $1{}", Self::FOR_UPDATE);
                let found: Option<(i64,)> = sqlx::query_as(&sql)
                    .bind(unit_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                found.map(|_| ()).ok_or(StoreError::NotFound)
            }

            /// Whether an imported event (not an echo of ours) covers one of these nights.
            async fn externally_taken(conn: &mut Conn, unit_id: i64, stay: Stay) -> Result<bool> {
                let hit: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM external_blocks WHERE unit_id = $1 AND echo_of IS NULL \
                     AND check_in < $3 AND check_out > $2 LIMIT 1",
                )
                .bind(unit_id)
                .bind(stay.check_in)
                .bind(stay.check_out)
                .fetch_optional(&mut *conn)
                .await
                .map_err(Self::map_err)?;
                Ok(hit.is_some())
            }

            /// Expires the holds whose time is up (of one unit, or all), with audit rows.
            async fn expire_in_tx(conn: &mut Conn, unit_id: Option<i64>, now: DateTime<Utc>) -> Result<Vec<String>> {
                let expired: Vec<(i64, String)> = sqlx::query_as(
                    "UPDATE reservations SET status = 'expired', updated_at = $1 \
                     WHERE status = 'pre_reserved' AND hold_expires_at <= $1 \
                       AND ($2 IS NULL OR unit_id = $2) RETURNING id, code",
                )
                .bind(now)
                .bind(unit_id)
                .fetch_all(&mut *conn)
                .await
                .map_err(Self::map_err)?;
                for (id, _) in &expired {
                    Self::audit(
                        conn,
                        Some(*id),
                        "system",
                        "expired",
                        Some(serde_json::json!({"status": "pre_reserved"})),
                        Some(serde_json::json!({"status": "expired"})),
                        "",
                        now,
                    )
                    .await?;
                }
                Ok(expired.into_iter().map(|(_, code)| code).collect())
            }

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
                    Some((channel, address, name)) => Some(Self::upsert_contact_in(&mut w.tx, channel, address, name, Some(now), now).await?.id),
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
                        .bind("received")
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
                        .bind("queued")
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

            async fn create_reservation_once(
                &self,
                new: &NewReservation,
                limits: HoldLimits,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                let mut w = self.write().await?;
                if let Some(key) = &new.request_key {
                    let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE request_key = $1");
                    let done: Option<ReservationRow> =
                        sqlx::query_as(&sql).bind(key).fetch_optional(&mut *w.tx).await.map_err(Self::map_err)?;
                    if let Some(row) = done {
                        return row.try_into();
                    }
                }
                Self::lock_unit(&mut w.tx, new.unit_id).await?;
                // The constraint cannot look at the clock: stale holds must stop being active first.
                Self::expire_in_tx(&mut w.tx, Some(new.unit_id), now).await?;
                // Nights an OTA has taken are not ours to sell (an owner may still block them).
                if new.status != ReservationStatus::Blocked && Self::externally_taken(&mut w.tx, new.unit_id, new.stay).await? {
                    return Err(StoreError::Overlap);
                }
                if let (ReservationStatus::PreReserved, Some(max)) = (new.status, limits.max_holds_per_contact) {
                    // The guest is known by phone, or (e-mail guests) by address.
                    let key = if new.guest_phone.is_empty() { new.guest_email.clone().unwrap_or_default() } else { new.guest_phone.clone() };
                    if !key.is_empty() {
                        Self::lock_contact(&mut w.tx, &key).await?;
                        let (holds,): (i64,) = sqlx::query_as(
                            "SELECT COUNT(*) FROM reservations WHERE (guest_phone = $1 OR (guest_phone = '' AND guest_email = $1)) \
                             AND status = 'pre_reserved' AND (hold_expires_at IS NULL OR hold_expires_at > $2)",
                        )
                        .bind(&key)
                        .bind(now)
                        .fetch_one(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                        if holds >= max as i64 {
                            return Err(StoreError::TooManyHolds(max));
                        }
                    }
                }
                if let (ReservationStatus::PreReserved, Some(max), Some(address)) =
                    (new.status, limits.max_holds_per_address, new.client_address.as_deref())
                {
                    Self::lock_contact(&mut w.tx, &format!("address:{address}")).await?;
                    let (holds,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM reservations WHERE client_address = $1 \
                         AND status = 'pre_reserved' AND (hold_expires_at IS NULL OR hold_expires_at > $2)",
                    )
                    .bind(address)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                    if holds >= max as i64 {
                        return Err(StoreError::TooManyAddressHolds(max));
                    }
                }
                let code = loop {
                    let code = ReservationCode::generate(&mut rand::thread_rng()).to_string();
                    let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM reservations WHERE code = $1")
                        .bind(&code)
                        .fetch_optional(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                    if taken.is_none() {
                        break code;
                    }
                };
                let confirmed_at = (new.status == ReservationStatus::Confirmed).then_some(now);
                let sql = format!(
                    "INSERT INTO reservations (code, unit_id, check_in, check_out, guests, status, channel, \
                     guest_name, guest_phone, guest_email, total, deposit, hold_expires_at, flags, notes, \
                     created_at, updated_at, confirmed_at, request_key, client_address) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '', $14, $15, $15, $16, $17, $18) \
                     RETURNING {RESERVATION_COLUMNS}"
                );
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(&code)
                    .bind(new.unit_id)
                    .bind(new.stay.check_in)
                    .bind(new.stay.check_out)
                    .bind(new.guests as i64)
                    .bind(new.status.as_str())
                    .bind(new.channel.as_str())
                    .bind(&new.guest_name)
                    .bind(&new.guest_phone)
                    .bind(&new.guest_email)
                    .bind(new.total.0)
                    .bind(new.deposit.0)
                    .bind(new.hold_expires_at)
                    .bind(&new.notes)
                    .bind(now)
                    .bind(confirmed_at)
                    .bind(&new.request_key)
                    .bind(&new.client_address)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let created: Reservation = row.try_into()?;
                Self::audit(&mut w.tx, Some(created.id), &new.actor, "created", None, Some(audit_snapshot(&created)), &new.notes, now)
                    .await?;
                for job in &new.jobs {
                    let mut job = job.clone();
                    job.dedupe_key = job.dedupe_key.map(|k| k.replace("{code}", &created.code));
                    job.payload = serde_json::from_str(&job.payload.to_string().replace("{code}", &created.code))
                        .unwrap_or(job.payload);
                    Self::enqueue_in(&mut w.tx, &job, now).await?;
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(created)
            }

            async fn transition_once(
                &self,
                code: &str,
                to: ReservationStatus,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                let mut w = self.write().await?;
                match Self::transition_in(&mut w.tx, code, to, change, now).await {
                    Ok(r) => {
                        w.tx.commit().await.map_err(Self::map_err)?;
                        Ok(r)
                    }
                    // The lapse was recorded before refusing: keep that.
                    Err(StoreError::HoldExpired) => {
                        w.tx.commit().await.map_err(Self::map_err)?;
                        Err(StoreError::HoldExpired)
                    }
                    Err(e) => Err(e),
                }
            }

            /// A state change inside the caller's transaction.
            async fn transition_in(
                conn: &mut Conn,
                code: &str,
                to: ReservationStatus,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                let current = Self::reservation_for_update(conn, code).await?;
                let mut from = current.status;
                let time_up = from == ReservationStatus::PreReserved
                    && current.hold_expires_at.is_some_and(|t| t <= now);
                if time_up && to == ReservationStatus::Confirmed {
                    // The hold ran out before the sweeper saw it: record that first.
                    Self::expire_in_tx(conn, Some(current.unit_id), now).await?;
                    from = ReservationStatus::Expired;
                    if !change.allow_expired {
                        return Err(StoreError::HoldExpired);
                    }
                }
                if from == ReservationStatus::Expired && to == ReservationStatus::Confirmed && !change.allow_expired {
                    return Err(StoreError::HoldExpired);
                }
                from.transition(to)?;
                // Reviving a lapsed hold: the nights must still be free of OTA bookings too.
                if from == ReservationStatus::Expired && Self::externally_taken(conn, current.unit_id, current.stay).await? {
                    return Err(StoreError::Overlap);
                }
                let notes = append_note(&current.notes, &change.note, &change.actor, now);
                let sql = format!(
                    "UPDATE reservations SET status = $2, updated_at = $3, notes = $4, \
                     confirmed_at = CASE WHEN $2 = 'confirmed' THEN $3 ELSE confirmed_at END, \
                     cancelled_at = CASE WHEN $2 = 'cancelled' THEN $3 ELSE cancelled_at END \
                     WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                );
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(current.id)
                    .bind(to.as_str())
                    .bind(now)
                    .bind(&notes)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                let updated: Reservation = row.try_into()?;
                let mut before = audit_snapshot(&current);
                before["status"] = serde_json::json!(from.as_str());
                Self::audit(conn, Some(updated.id), &change.actor, to.as_str(), Some(before), Some(audit_snapshot(&updated)), &change.note, now)
                    .await?;
                Ok(updated)
            }

            #[allow(clippy::too_many_arguments)]
            async fn change_stay_once(
                &self,
                code: &str,
                unit_id: i64,
                stay: Stay,
                total: Money,
                deposit: Money,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                let mut w = self.write().await?;
                let current = Self::reservation_for_update(&mut w.tx, code).await?;
                if !current.occupies_at(now) {
                    return Err(StoreError::NotActive(current.status));
                }
                Self::lock_unit(&mut w.tx, unit_id).await?;
                Self::expire_in_tx(&mut w.tx, Some(unit_id), now).await?;
                if current.status != ReservationStatus::Blocked && Self::externally_taken(&mut w.tx, unit_id, stay).await? {
                    return Err(StoreError::Overlap);
                }
                let notes = append_note(&current.notes, &change.note, &change.actor, now);
                let sql = format!(
                    "UPDATE reservations SET unit_id = $2, check_in = $3, check_out = $4, total = $5, deposit = $6, \
                     notes = $7, updated_at = $8 WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                );
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(current.id)
                    .bind(unit_id)
                    .bind(stay.check_in)
                    .bind(stay.check_out)
                    .bind(total.0)
                    .bind(deposit.0)
                    .bind(&notes)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let updated: Reservation = row.try_into()?;
                Self::audit(&mut w.tx, Some(updated.id), &change.actor, "stay_changed", Some(audit_snapshot(&current)), Some(audit_snapshot(&updated)), &change.note, now)
                    .await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(updated)
            }

            async fn apply_feed_once(
                &self,
                id: i64,
                events: &[IncomingEvent],
                etag: Option<&str>,
                last_modified: Option<&str>,
                rules: ApplyRules,
                now: DateTime<Utc>,
            ) -> Result<FeedChanges> {
                let mut w = self.write().await?;
                let sql = format!("SELECT {FEED_COLUMNS} FROM ical_feeds WHERE id = $1");
                let feed: Feed = sqlx::query_as::<_, FeedRow>(&sql)
                    .bind(id)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?
                    .ok_or(StoreError::NotFound)?
                    .into();
                // Holds on this unit wait for us, and we for them: no hold slips in between.
                let lock = format!("SELECT id FROM units WHERE id = $1{}", Self::FOR_UPDATE);
                sqlx::query(&lock).bind(feed.unit_id).execute(&mut *w.tx).await.map_err(Self::map_err)?;
                let sql = format!("SELECT {BLOCK_COLUMNS} FROM external_blocks WHERE feed_id = $1");
                let existing: Vec<ExternalBlock> = sqlx::query_as::<_, BlockRow>(&sql)
                    .bind(id)
                    .fetch_all(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?
                    .into_iter()
                    .map(ExternalBlock::from)
                    .collect();
                let ours: Vec<StayRow> = sqlx::query_as::<_, StayRowRaw>(
                    "SELECT id, code, unit_id, check_in, check_out, status, hold_expires_at, created_at, updated_at \
                     FROM reservations WHERE unit_id = $1 AND status IN ('pre_reserved', 'confirmed', 'blocked')",
                )
                .bind(feed.unit_id)
                .fetch_all(&mut *w.tx)
                .await
                .map_err(Self::map_err)?
                .into_iter()
                .map(StayRow::try_from)
                .collect::<Result<_>>()?;
                // An anonymous block inside one of our exported stays, first seen after that stay
                // existed, is the OTA sending our own stay back. OTA bookings are never echoes.
                let echo_of = |kind: &str, stay: Stay, first_seen: DateTime<Utc>| {
                    (kind == "block")
                        .then(|| {
                            ours.iter().find(|r| {
                                r.occupies_at(now)
                                    && r.stay.check_in <= stay.check_in
                                    && stay.check_out <= r.stay.check_out
                                    && r.created_at < first_seen
                            })
                        })
                        .flatten()
                        .map(|r| r.reservation_id)
                };
                let mut changes = FeedChanges::default();
                let mut seen: BTreeSet<&str> = BTreeSet::new();
                for e in events {
                    if !seen.insert(e.uid.as_str()) {
                        continue;
                    }
                    match existing.iter().find(|b| b.uid == e.uid) {
                        None => {
                            let echo = echo_of(&e.kind, e.stay, now);
                            sqlx::query(
                                "INSERT INTO external_blocks (feed_id, unit_id, uid, check_in, check_out, kind, summary, \
                                 reference, echo_of, first_seen_at, last_seen_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                            )
                            .bind(id)
                            .bind(feed.unit_id)
                            .bind(&e.uid)
                            .bind(e.stay.check_in)
                            .bind(e.stay.check_out)
                            .bind(&e.kind)
                            .bind(&e.summary)
                            .bind(&e.reference)
                            .bind(echo)
                            .bind(now)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                            changes.added += 1;
                            changes.echoes += echo.is_some() as u32;
                        }
                        Some(b) => {
                            let changed = b.stay != e.stay || b.kind != e.kind || b.summary != e.summary || b.reference != e.reference;
                            let echo = if changed { echo_of(&e.kind, e.stay, b.first_seen_at) } else { b.echo_of };
                            sqlx::query(
                                "UPDATE external_blocks SET check_in = $2, check_out = $3, kind = $4, summary = $5, \
                                 reference = $6, echo_of = $7, last_seen_at = $8, missing_since = NULL, missing_count = 0 \
                                 WHERE id = $1",
                            )
                            .bind(b.id)
                            .bind(e.stay.check_in)
                            .bind(e.stay.check_out)
                            .bind(&e.kind)
                            .bind(&e.summary)
                            .bind(&e.reference)
                            .bind(echo)
                            .bind(now)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                            changes.updated += changed as u32;
                        }
                    }
                }
                for b in existing.iter().filter(|b| !seen.contains(b.uid.as_str())) {
                    let missing_count = b.missing_count + 1;
                    let missing_since = b.missing_since.unwrap_or(now);
                    let gone = (rules.replace_blocks_wholesale && b.kind == "block")
                        || (missing_count >= 2 && now - missing_since >= rules.missing_grace);
                    if gone {
                        sqlx::query("DELETE FROM external_blocks WHERE id = $1")
                            .bind(b.id)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                        changes.removed += 1;
                    } else {
                        // Vrbo deletes instead of cancelling and rotates UIDs: keep blocking a while.
                        sqlx::query("UPDATE external_blocks SET missing_count = $2, missing_since = $3 WHERE id = $1")
                            .bind(b.id)
                            .bind(missing_count as i64)
                            .bind(missing_since)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(Self::map_err)?;
                        changes.missing += 1;
                    }
                }
                // Conflicts: what this feed still blocks, over our held or confirmed stays.
                let sql = format!("SELECT {BLOCK_COLUMNS} FROM external_blocks WHERE feed_id = $1 AND echo_of IS NULL");
                let current: Vec<ExternalBlock> = sqlx::query_as::<_, BlockRow>(&sql)
                    .bind(id)
                    .fetch_all(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?
                    .into_iter()
                    .map(ExternalBlock::from)
                    .collect();
                for b in &current {
                    for r in ours.iter().filter(|r| {
                        r.status != ReservationStatus::Blocked && r.occupies_at(now) && r.stay.overlaps(&b.stay)
                    }) {
                        let inserted: Option<(i64,)> = sqlx::query_as(
                            "INSERT INTO conflicts (reservation_id, feed_id, uid, source, summary, check_in, check_out, detected_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
                        )
                        .bind(r.reservation_id)
                        .bind(id)
                        .bind(&b.uid)
                        .bind(&feed.source)
                        .bind(&b.summary)
                        .bind(b.stay.check_in)
                        .bind(b.stay.check_out)
                        .bind(now)
                        .fetch_optional(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                        let Some((conflict_id,)) = inserted else { continue };
                        let current = Self::reservation_for_update(&mut w.tx, &r.code).await?;
                        if !current.flags.contains(&AttentionFlag::Conflict) {
                            let mut flags = current.flags.clone();
                            flags.insert(AttentionFlag::Conflict);
                            sqlx::query("UPDATE reservations SET flags = $2, updated_at = $3 WHERE id = $1")
                                .bind(current.id)
                                .bind(flags_str(&flags))
                                .bind(now)
                                .execute(&mut *w.tx)
                                .await
                                .map_err(Self::map_err)?;
                            let mut after = audit_snapshot(&current);
                            after["flags"] = serde_json::json!(flags_str(&flags));
                            let note = format!(
                                "{} ({}) ocupa {} → {}",
                                feed.source, b.summary, b.stay.check_in, b.stay.check_out
                            );
                            Self::audit(&mut w.tx, Some(current.id), "ical", "flag_set", Some(audit_snapshot(&current)), Some(after), &note, now)
                                .await?;
                        }
                        changes.new_conflicts.push(Conflict {
                            id: conflict_id,
                            reservation_id: r.reservation_id,
                            reservation_code: r.code.clone(),
                            unit_id: feed.unit_id,
                            feed_id: id,
                            uid: b.uid.clone(),
                            source: feed.source.clone(),
                            summary: b.summary.clone(),
                            stay: b.stay,
                            detected_at: now,
                        });
                    }
                }
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM external_blocks WHERE feed_id = $1")
                    .bind(id)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                sqlx::query(
                    "UPDATE ical_feeds SET etag = $2, last_modified = $3, last_attempt_at = $4, last_success_at = $4, \
                     last_error = NULL, consecutive_failures = 0, events_count = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(etag)
                .bind(last_modified)
                .bind(now)
                .bind(count)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(changes)
            }

            async fn upsert_contact_in(
                conn: &mut Conn,
                channel: &str,
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
                    .bind(channel)
                    .bind($crate::text::clean(address))
                    .bind($crate::text::clean(name.trim()))
                    .bind(inbound_at)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                Ok(row.into())
            }

            async fn enqueue_in(conn: &mut Conn, job: &NewJob, now: DateTime<Utc>) -> Result<Option<i64>> {
                let id: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO jobs (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(&job.kind)
                .bind(Json(&job.payload))
                .bind(&job.dedupe_key)
                .bind(job.max_attempts.max(1) as i64)
                .bind(job.run_at)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map_err(Self::map_err)?;
                Ok(id.map(|(id,)| id))
            }

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

            async fn rule_by_id(&self, id: i64) -> Result<RateRule> {
                let sql = format!("SELECT {RULE_COLUMNS} FROM rate_rules WHERE id = $1");
                let row: Option<RuleRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }
        }

        /// Runs a write transaction again when PostgreSQL broke a deadlock by aborting it.
        async fn retry_on_deadlock<T, F, Fut>(mut attempt: F) -> Result<T>
        where
            F: FnMut() -> Fut,
            Fut: std::future::Future<Output = Result<T>>,
        {
            let mut tries = 0;
            loop {
                match attempt().await {
                    Err(StoreError::Retry(_)) if tries < 8 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (5 * tries))).await;
                    }
                    other => return other,
                }
            }
        }

        fn append_note(notes: &str, note: &str, actor: &str, now: DateTime<Utc>) -> String {
            if note.trim().is_empty() {
                return notes.to_string();
            }
            let line = format!("[{} {}] {}", now.format("%Y-%m-%d %H:%M"), actor, note.trim());
            if notes.is_empty() { line } else { format!("{notes}\n{line}") }
        }

        #[async_trait::async_trait]
        impl Store for $Store {
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

            async fn list_units(&self, include_inactive: bool) -> Result<Vec<Unit>> {
                let sql = format!(
                    "SELECT {UNIT_COLUMNS} FROM units WHERE active OR $1 ORDER BY id"
                );
                let rows: Vec<UnitRow> = sqlx::query_as(&sql)
                    .bind(include_inactive)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(rows.into_iter().map(Unit::from).collect())
            }

            async fn get_unit(&self, id: i64) -> Result<Unit> {
                let sql = format!("SELECT {UNIT_COLUMNS} FROM units WHERE id = $1");
                let row: Option<UnitRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn get_unit_by_slug(&self, slug: &str) -> Result<Unit> {
                $crate::text::findable(slug)?;
                let sql = format!("SELECT {UNIT_COLUMNS} FROM units WHERE slug = $1");
                let row: Option<UnitRow> =
                    sqlx::query_as(&sql).bind(slug).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn create_unit(&self, u: &UnitInput, ical_token: &str, now: DateTime<Utc>) -> Result<Unit> {
                $crate::text::check_unit(u)?;
                let sql = format!(
                    "INSERT INTO units (slug, name, capacity, base_price, weekend_multiplier_bp, min_nights, \
                     description, amenities, photos, ical_token, active, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {UNIT_COLUMNS}"
                );
                let mut w = self.write().await?;
                let row: UnitRow = sqlx::query_as(&sql)
                    .bind(&u.slug)
                    .bind(&u.name)
                    .bind(u.capacity as i64)
                    .bind(u.base_price.0)
                    .bind(u.weekend_multiplier.0 as i64)
                    .bind(u.min_nights as i64)
                    .bind(&u.description)
                    .bind(Json(&u.amenities))
                    .bind(Json(&u.photos))
                    .bind(ical_token)
                    .bind(u.active)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(|e| Self::map_unique(e, "slug"))?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(row.into())
            }

            async fn update_unit(&self, id: i64, u: &UnitInput, now: DateTime<Utc>) -> Result<Unit> {
                $crate::text::check_unit(u)?;
                let sql = format!(
                    "UPDATE units SET slug = $2, name = $3, capacity = $4, base_price = $5, \
                     weekend_multiplier_bp = $6, min_nights = $7, description = $8, amenities = $9, \
                     photos = $10, active = $11, updated_at = $12 WHERE id = $1 RETURNING {UNIT_COLUMNS}"
                );
                let mut w = self.write().await?;
                let row: Option<UnitRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .bind(&u.slug)
                    .bind(&u.name)
                    .bind(u.capacity as i64)
                    .bind(u.base_price.0)
                    .bind(u.weekend_multiplier.0 as i64)
                    .bind(u.min_nights as i64)
                    .bind(&u.description)
                    .bind(Json(&u.amenities))
                    .bind(Json(&u.photos))
                    .bind(u.active)
                    .bind(now)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(|e| Self::map_unique(e, "slug"))?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn set_unit_ical_token(&self, id: i64, token: &str, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.write().await?;
                let done = sqlx::query("UPDATE units SET ical_token = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(token)
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn list_rate_rules(&self) -> Result<Vec<RateRule>> {
                let sql = format!("SELECT {RULE_COLUMNS} FROM rate_rules ORDER BY id");
                let rows: Vec<RuleRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                rows.into_iter().map(RateRule::try_from).collect()
            }

            async fn create_rate_rule(&self, r: &RateRuleInput, now: DateTime<Utc>) -> Result<RateRule> {
                $crate::text::check(&[("name", &r.name)])?;
                let (price, mult) = effect_columns(r.effect);
                let mut w = self.write().await?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO rate_rules (unit_id, name, start_date, end_date, scope, nightly_price, \
                     multiplier_bp, min_nights, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                )
                .bind(r.unit_id)
                .bind(&r.name)
                .bind(r.start)
                .bind(r.end)
                .bind(scope_str(r.scope))
                .bind(price)
                .bind(mult)
                .bind(r.min_nights.map(|m| m as i64))
                .bind(now)
                .fetch_one(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                self.rule_by_id(id).await
            }

            async fn update_rate_rule(&self, id: i64, r: &RateRuleInput, now: DateTime<Utc>) -> Result<RateRule> {
                $crate::text::check(&[("name", &r.name)])?;
                let (price, mult) = effect_columns(r.effect);
                let mut w = self.write().await?;
                let done = sqlx::query(
                    "UPDATE rate_rules SET unit_id = $2, name = $3, start_date = $4, end_date = $5, scope = $6, \
                     nightly_price = $7, multiplier_bp = $8, min_nights = $9, updated_at = $10 WHERE id = $1",
                )
                .bind(id)
                .bind(r.unit_id)
                .bind(&r.name)
                .bind(r.start)
                .bind(r.end)
                .bind(scope_str(r.scope))
                .bind(price)
                .bind(mult)
                .bind(r.min_nights.map(|m| m as i64))
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                self.rule_by_id(id).await
            }

            async fn delete_rate_rule(&self, id: i64) -> Result<()> {
                let mut w = self.write().await?;
                let done = sqlx::query("DELETE FROM rate_rules WHERE id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn create_reservation(
                &self,
                new: &NewReservation,
                limits: HoldLimits,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                $crate::text::check(&[
                    ("guest_name", &new.guest_name),
                    ("guest_phone", &new.guest_phone),
                    ("guest_email", new.guest_email.as_deref().unwrap_or("")),
                    ("notes", &new.notes),
                    ("actor", &new.actor),
                ])?;
                retry_on_deadlock(|| self.create_reservation_once(new, limits, now)).await
            }

            async fn get_reservation(&self, code: &str) -> Result<Reservation> {
                $crate::text::findable(code)?;
                let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE code = $1");
                let row: Option<ReservationRow> =
                    sqlx::query_as(&sql).bind(code).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            async fn get_reservation_by_id(&self, id: i64) -> Result<Reservation> {
                let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1");
                let row: Option<ReservationRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }

            async fn list_reservations(&self, f: &ReservationFilter) -> Result<(Vec<Reservation>, i64)> {
                // No stored text holds a control character: such a search matches nothing.
                let searched = [f.text.as_deref(), f.contact.as_deref()];
                if searched.into_iter().flatten().any(domain::text::has_forbidden) {
                    return Ok((Vec::new(), 0));
                }
                let mut clauses: Vec<String> = Vec::new();
                let mut args: Vec<Arg> = Vec::new();
                // Each condition names its argument by position: `{}` becomes `$n`.
                fn add(clauses: &mut Vec<String>, args: &mut Vec<Arg>, clause: &str, arg: Arg) {
                    args.push(arg);
                    clauses.push(clause.replace("{}", &format!("${}", args.len())));
                }
                if let Some(s) = f.status {
                    add(&mut clauses, &mut args, "status = {}", Arg::Text(s.as_str().into()));
                }
                if let Some(u) = f.unit_id {
                    add(&mut clauses, &mut args, "unit_id = {}", Arg::I64(u));
                }
                if let Some(d) = f.from {
                    add(&mut clauses, &mut args, "check_out > {}", Arg::Date(d));
                }
                if let Some(d) = f.to {
                    add(&mut clauses, &mut args, "check_in < {}", Arg::Date(d));
                }
                if let Some(c) = f.channel {
                    add(&mut clauses, &mut args, "channel = {}", Arg::Text(c.as_str().to_string()));
                }
                if let Some(c) = &f.contact {
                    add(&mut clauses, &mut args, "(guest_phone = {} OR guest_email = {})", Arg::Text(c.clone()));
                }
                if let Some(flag) = f.flag {
                    add(&mut clauses, &mut args, "(',' || flags || ',') LIKE {}", Arg::Text(format!("%,{},%", flag.as_str())));
                }
                if let Some(t) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    let escaped = t.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    add(
                        &mut clauses,
                        &mut args,
                        "(LOWER(code) LIKE {} ESCAPE '\\' OR LOWER(guest_name) LIKE {} ESCAPE '\\' \
                         OR LOWER(guest_phone) LIKE {} ESCAPE '\\' OR LOWER(COALESCE(guest_email, '')) LIKE {} ESCAPE '\\')",
                        Arg::Text(format!("%{escaped}%")),
                    );
                }
                let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
                let count_sql = format!("SELECT COUNT(*) FROM reservations{filter}");
                let (total,): (i64,) = bind_args!(sqlx::query_as(&count_sql), args.iter().map(clone_arg))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                let n = args.len();
                let page_sql = format!(
                    "SELECT {RESERVATION_COLUMNS} FROM reservations{filter} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                );
                let rows: Vec<ReservationRow> = bind_args!(sqlx::query_as(&page_sql), args.into_iter())
                    .bind(f.limit.clamp(1, 500))
                    .bind(f.offset.max(0))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                let list = rows.into_iter().map(Reservation::try_from).collect::<Result<Vec<_>>>()?;
                Ok((list, total))
            }

            async fn active_stays(&self, unit_id: Option<i64>, from: NaiveDate, to: NaiveDate) -> Result<Vec<StayRow>> {
                let rows: Vec<StayRowRaw> = sqlx::query_as(
                    "SELECT id, code, unit_id, check_in, check_out, status, hold_expires_at, created_at, updated_at FROM reservations \
                     WHERE status IN ('pre_reserved', 'confirmed', 'blocked') AND check_in < $2 AND check_out > $1 \
                       AND ($3 IS NULL OR unit_id = $3) ORDER BY unit_id, check_in",
                )
                .bind(from)
                .bind(to)
                .bind(unit_id)
                .fetch_all(&self.pool)
                .await
                .map_err(Self::map_err)?;
                rows.into_iter().map(StayRow::try_from).collect()
            }

            async fn transition(
                &self,
                code: &str,
                to: ReservationStatus,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                $crate::text::check(&[("note", &change.note), ("actor", &change.actor)])?;
                retry_on_deadlock(|| self.transition_once(code, to, change, now)).await
            }

            async fn change_stay(
                &self,
                code: &str,
                unit_id: i64,
                stay: Stay,
                total: Money,
                deposit: Money,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                $crate::text::check(&[("note", &change.note), ("actor", &change.actor)])?;
                retry_on_deadlock(|| self.change_stay_once(code, unit_id, stay, total, deposit, change, now)).await
            }

            async fn set_flag(
                &self,
                code: &str,
                flag: AttentionFlag,
                on: bool,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                $crate::text::check(&[("note", &change.note), ("actor", &change.actor)])?;
                let mut w = self.write().await?;
                let current = Self::reservation_for_update(&mut w.tx, code).await?;
                let mut flags: BTreeSet<AttentionFlag> = current.flags.clone();
                let changed = if on { flags.insert(flag) } else { flags.remove(&flag) };
                if !changed {
                    return Ok(current);
                }
                let notes = append_note(&current.notes, &change.note, &change.actor, now);
                let sql = format!(
                    "UPDATE reservations SET flags = $2, notes = $3, updated_at = $4 WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                );
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(current.id)
                    .bind(flags_str(&flags))
                    .bind(&notes)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let updated: Reservation = row.try_into()?;
                let action = if on { "flag_set" } else { "flag_cleared" };
                Self::audit(&mut w.tx, Some(updated.id), &change.actor, action, Some(audit_snapshot(&current)), Some(audit_snapshot(&updated)), &change.note, now)
                    .await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(updated)
            }

            async fn record_balance_paid(
                &self,
                code: &str,
                method: domain::BalanceMethod,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                $crate::text::check(&[("note", &change.note), ("actor", &change.actor)])?;
                let mut w = self.write().await?;
                let current = Self::reservation_for_update(&mut w.tx, code).await?;
                if current.status != ReservationStatus::Confirmed {
                    return Err(StoreError::NotActive(current.status));
                }
                if current.balance_paid.is_some() {
                    return Err(StoreError::Duplicate("balance_paid"));
                }
                let notes = append_note(&current.notes, &change.note, &change.actor, now);
                let sql = format!(
                    "UPDATE reservations SET balance_paid_at = $2, balance_method = $3, notes = $4, updated_at = $2 \
                     WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                );
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(current.id)
                    .bind(now)
                    .bind(method.as_str())
                    .bind(&notes)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let updated: Reservation = row.try_into()?;
                Self::audit(&mut w.tx, Some(updated.id), &change.actor, "balance_paid", Some(audit_snapshot(&current)), Some(audit_snapshot(&updated)), &change.note, now)
                    .await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(updated)
            }

            async fn expire_stale_holds(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
                let mut w = self.write().await?;
                let codes = Self::expire_in_tx(&mut w.tx, None, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(codes)
            }

            async fn audit_for(&self, reservation_id: i64) -> Result<Vec<AuditEntry>> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT id, reservation_id, actor, action, before, after, note, created_at FROM audit_log \
                     WHERE reservation_id = $1 ORDER BY id",
                )
                .bind(reservation_id)
                .fetch_all(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(rows.into_iter().map(AuditEntry::from).collect())
            }

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

            async fn enqueue_job(&self, job: &NewJob, now: DateTime<Utc>) -> Result<Option<i64>> {
                let id: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO jobs (kind, payload, dedupe_key, status, attempts, max_attempts, run_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(&job.kind)
                .bind(Json(&job.payload))
                .bind(&job.dedupe_key)
                .bind(job.max_attempts.max(1) as i64)
                .bind(job.run_at)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(id.map(|(id,)| id))
            }

            async fn claim_jobs(&self, worker: &str, now: DateTime<Utc>, lease: Duration, limit: u32) -> Result<Vec<Job>> {
                let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
                let mut w = self.write().await?;
                // A job whose last allowed attempt died with its worker is not tried again.
                sqlx::query(
                    "UPDATE jobs SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1, \
                     last_error = COALESCE(last_error, 'worker lost during the last attempt') \
                     WHERE status = 'running' AND lease_expires_at < $1 AND attempts >= max_attempts",
                )
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let sql = format!(
                    "UPDATE jobs SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
                     attempts = attempts + 1, updated_at = $3 \
                     WHERE id IN (SELECT id FROM jobs WHERE (status = 'pending' AND run_at <= $3) \
                       OR (status = 'running' AND lease_expires_at < $3) ORDER BY run_at, id LIMIT $4{}) \
                     RETURNING {JOB_COLUMNS}",
                    Self::SKIP_LOCKED
                );
                let rows: Vec<JobRow> = sqlx::query_as(&sql)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit as i64)
                    .fetch_all(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                let mut jobs: Vec<Job> = rows.into_iter().map(Job::from).collect();
                jobs.sort_by_key(|j| (j.run_at, j.id));
                Ok(jobs)
            }

            async fn complete_job(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE jobs SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = $3 \
                     WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(worker)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn reschedule_job(&self, id: i64, worker: &str, run_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $3, last_error = NULL, \
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $4 \
                     WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(worker)
                .bind(run_at)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn fail_job(
                &self,
                id: i64,
                worker: &str,
                error: &str,
                retry_at: Option<DateTime<Utc>>,
                now: DateTime<Utc>,
            ) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE jobs SET last_error = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = $5, \
                     status = CASE WHEN $4 IS NOT NULL AND attempts < max_attempts THEN 'pending' ELSE 'failed' END, \
                     run_at = COALESCE($4, run_at) \
                     WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(worker)
                .bind(error)
                .bind(retry_at)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn release_leases(&self, worker: &str, now: DateTime<Utc>) -> Result<u64> {
                // The interrupted attempt does not count against the job.
                let done = sqlx::query(
                    "UPDATE jobs SET status = 'pending', attempts = MAX_FN(attempts - 1, 0), lease_owner = NULL, \
                     lease_expires_at = NULL, updated_at = $2 WHERE lease_owner = $1 AND status = 'running'"
                        .replace("MAX_FN", Self::GREATEST)
                        .as_str(),
                )
                .bind(worker)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(done.rows_affected())
            }

            async fn job_stats(&self, now: DateTime<Utc>) -> Result<JobStats> {
                let (backlog, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(run_at) FROM jobs \
                     WHERE (status = 'pending' AND run_at <= $1) OR status = 'running'",
                )
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(Self::map_err)?;
                let (failed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE status = 'failed'")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                let oldest_age_s = oldest.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0).unwrap_or(0.0);
                Ok(JobStats { backlog, oldest_age_s, failed })
            }

            async fn get_job(&self, id: i64) -> Result<(Job, String)> {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
                let row: Option<JobRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                let row = row.ok_or(StoreError::NotFound)?;
                let status = row.status.clone();
                Ok((row.into(), status))
            }

            async fn list_feeds(&self, unit_id: Option<i64>) -> Result<Vec<Feed>> {
                let sql = format!("SELECT {FEED_COLUMNS} FROM ical_feeds WHERE ($1 IS NULL OR unit_id = $1) ORDER BY id");
                let rows: Vec<FeedRow> =
                    sqlx::query_as(&sql).bind(unit_id).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                Ok(rows.into_iter().map(Feed::from).collect())
            }

            async fn get_feed(&self, id: i64) -> Result<Feed> {
                let sql = format!("SELECT {FEED_COLUMNS} FROM ical_feeds WHERE id = $1");
                let row: Option<FeedRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn add_feed(&self, unit_id: i64, url: &str, source: &str, now: DateTime<Utc>) -> Result<Feed> {
                $crate::text::check(&[("url", url), ("source", source)])?;
                let sql = format!(
                    "INSERT INTO ical_feeds (unit_id, url, source, created_at) VALUES ($1, $2, $3, $4) RETURNING {FEED_COLUMNS}"
                );
                let mut w = self.write().await?;
                Self::lock_unit(&mut w.tx, unit_id).await?;
                let row: FeedRow = sqlx::query_as(&sql)
                    .bind(unit_id)
                    .bind(url)
                    .bind(source)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(|e| Self::map_unique(e, "feed"))?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(row.into())
            }

            async fn delete_feed(&self, id: i64) -> Result<()> {
                let mut w = self.write().await?;
                sqlx::query("DELETE FROM external_blocks WHERE feed_id = $1").bind(id).execute(&mut *w.tx).await.map_err(Self::map_err)?;
                let done =
                    sqlx::query("DELETE FROM ical_feeds WHERE id = $1").bind(id).execute(&mut *w.tx).await.map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
            }

            async fn record_feed_attempt(
                &self,
                id: i64,
                outcome: std::result::Result<(), String>,
                now: DateTime<Utc>,
            ) -> Result<()> {
                let mut w = self.write().await?;
                match outcome {
                    Ok(()) => sqlx::query(
                        "UPDATE ical_feeds SET last_attempt_at = $2, last_success_at = $2, last_error = NULL, \
                         consecutive_failures = 0 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?,
                    Err(message) => sqlx::query(
                        "UPDATE ical_feeds SET last_attempt_at = $2, last_error = $3, \
                         consecutive_failures = consecutive_failures + 1 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now)
                    .bind(message)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?,
                };
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(())
            }

            async fn apply_feed(
                &self,
                id: i64,
                events: &[IncomingEvent],
                etag: Option<&str>,
                last_modified: Option<&str>,
                rules: ApplyRules,
                now: DateTime<Utc>,
            ) -> Result<FeedChanges> {
                retry_on_deadlock(|| self.apply_feed_once(id, events, etag, last_modified, rules, now)).await
            }

            async fn external_blocks(&self, unit_id: Option<i64>, from: NaiveDate, to: NaiveDate) -> Result<Vec<ExternalBlock>> {
                let sql = format!(
                    "SELECT {BLOCK_COLUMNS} FROM external_blocks WHERE ($1 IS NULL OR unit_id = $1) \
                     AND check_in < $3 AND check_out > $2 ORDER BY unit_id, check_in"
                );
                let rows: Vec<BlockRow> = sqlx::query_as(&sql)
                    .bind(unit_id)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(rows.into_iter().map(ExternalBlock::from).collect())
            }

            async fn list_conflicts(&self, unit_id: Option<i64>) -> Result<Vec<Conflict>> {
                let sql = format!(
                    "SELECT {CONFLICT_COLUMNS} FROM conflicts c JOIN reservations r ON r.id = c.reservation_id \
                     WHERE ($1 IS NULL OR r.unit_id = $1) ORDER BY c.id DESC"
                );
                let rows: Vec<ConflictRow> =
                    sqlx::query_as(&sql).bind(unit_id).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                Ok(rows.into_iter().map(Conflict::from).collect())
            }

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

            async fn upsert_contact(&self, channel: &str, address: &str, name: &str, now: DateTime<Utc>) -> Result<Contact> {
                let mut w = self.write().await?;
                let c = Self::upsert_contact_in(&mut w.tx, channel, address, name, None, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(c)
            }

            async fn get_contact(&self, id: i64) -> Result<Contact> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1");
                let row: Option<ContactRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn find_contact(&self, channel: &str, address: &str) -> Result<Contact> {
                $crate::text::findable(address)?;
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE channel = $1 AND address = $2");
                let row: Option<ContactRow> = sqlx::query_as(&sql)
                    .bind(channel)
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn list_contacts(&self, limit: i64) -> Result<Vec<Contact>> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts ORDER BY handed_off DESC, updated_at DESC, id DESC LIMIT $1");
                let rows: Vec<ContactRow> =
                    sqlx::query_as(&sql).bind(limit.clamp(1, 1000)).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                Ok(rows.into_iter().map(Contact::from).collect())
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
                Ok(row.ok_or(StoreError::NotFound)?.into())
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
                Ok(rows.into_iter().map(Message::from).collect())
            }

            async fn last_inbound_message(&self, contact_id: i64) -> Result<Option<Message>> {
                let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE contact_id = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1");
                let row: Option<MessageRow> =
                    sqlx::query_as(&sql).bind(contact_id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.map(Message::from))
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
                status: &str,
                provider_message_id: Option<&str>,
                error: Option<&str>,
                now: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE messages SET status = $2, provider_message_id = COALESCE($3, provider_message_id), \
                     error = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(status)
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
                status: &str,
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
                .bind(status)
                .bind(error)
                .bind(now)
                .bind(status_rank(status))
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

            async fn payment_link(&self, reservation_id: i64) -> Result<Option<PaymentLink>> {
                let sql = format!("SELECT {LINK_COLUMNS} FROM payment_links WHERE reservation_id = $1");
                let row: Option<LinkRow> =
                    sqlx::query_as(&sql).bind(reservation_id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.map(PaymentLink::from))
            }

            async fn payment_link_by_preference(&self, preference_id: &str) -> Result<PaymentLink> {
                $crate::text::findable(preference_id)?;
                let sql = format!("SELECT {LINK_COLUMNS} FROM payment_links WHERE preference_id = $1");
                let row: Option<LinkRow> =
                    sqlx::query_as(&sql).bind(preference_id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                Ok(row.ok_or(StoreError::NotFound)?.into())
            }

            async fn save_payment_link(&self, link: &PaymentLink, now: DateTime<Utc>) -> Result<PaymentLink> {
                let mut w = self.write().await?;
                sqlx::query(
                    "INSERT INTO payment_links (reservation_id, provider, preference_id, url, amount, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reservation_id) DO NOTHING",
                )
                .bind(link.reservation_id)
                .bind(&link.provider)
                .bind(&link.preference_id)
                .bind(&link.url)
                .bind(link.amount.0)
                .bind(link.expires_at)
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let sql = format!("SELECT {LINK_COLUMNS} FROM payment_links WHERE reservation_id = $1");
                let row: LinkRow = sqlx::query_as(&sql).bind(link.reservation_id).fetch_one(&mut *w.tx).await.map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(row.into())
            }

            async fn record_payment(
                &self,
                p: &PaymentRecord,
                confirm: Option<(&str, &Change)>,
                now: DateTime<Utc>,
            ) -> Result<PaymentOutcome> {
                let mut w = self.write().await?;
                let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider = $1 AND provider_payment_id = $2");
                let existing: Option<PaymentRow> = sqlx::query_as(&format!("{sql}{}", Self::FOR_UPDATE))
                    .bind(&p.provider)
                    .bind(&p.provider_payment_id)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let status_changed = match &existing {
                    None => {
                        sqlx::query(
                            "INSERT INTO payments (provider, provider_payment_id, reservation_id, status, status_detail, amount, \
                             currency, external_reference, raw, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                        )
                        .bind(&p.provider)
                        .bind(&p.provider_payment_id)
                        .bind(p.reservation_id)
                        .bind(&p.status)
                        .bind(&p.status_detail)
                        .bind(p.amount.0)
                        .bind(&p.currency)
                        .bind(&p.external_reference)
                        .bind(Json(&p.raw))
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                        true
                    }
                    Some(old) if payment_status_rank(&p.status) > payment_status_rank(&old.status) => {
                        sqlx::query(
                            "UPDATE payments SET status = $3, status_detail = $4, amount = $5, currency = $6, raw = $7, \
                             reservation_id = COALESCE(reservation_id, $8), updated_at = $9 \
                             WHERE provider = $1 AND provider_payment_id = $2",
                        )
                        .bind(&p.provider)
                        .bind(&p.provider_payment_id)
                        .bind(&p.status)
                        .bind(&p.status_detail)
                        .bind(p.amount.0)
                        .bind(&p.currency)
                        .bind(Json(&p.raw))
                        .bind(p.reservation_id)
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(Self::map_err)?;
                        true
                    }
                    Some(_) => false,
                };
                let confirmation = match confirm {
                    None => None,
                    Some((code, change)) => {
                        let current = Self::reservation_for_update(&mut w.tx, code).await?;
                        if current.status == ReservationStatus::Confirmed {
                            Some(Ok(current))
                        } else {
                            // A savepoint: a refused confirmation must not undo the payment row.
                            let mut inner = w.tx.begin().await.map_err(Self::map_err)?;
                            match Self::transition_in(&mut inner, code, ReservationStatus::Confirmed, change, now).await {
                                Ok(r) => {
                                    inner.commit().await.map_err(Self::map_err)?;
                                    Some(Ok(r))
                                }
                                Err(e) => {
                                    inner.rollback().await.map_err(Self::map_err)?;
                                    Some(Err(e))
                                }
                            }
                        }
                    }
                };
                let row: PaymentRow = sqlx::query_as(&sql)
                    .bind(&p.provider)
                    .bind(&p.provider_payment_id)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(PaymentOutcome { payment: row.into(), status_changed, confirmation })
            }

            async fn payments_for(&self, reservation_id: i64) -> Result<Vec<Payment>> {
                let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE reservation_id = $1 ORDER BY id");
                let rows: Vec<PaymentRow> =
                    sqlx::query_as(&sql).bind(reservation_id).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                Ok(rows.into_iter().map(Payment::from).collect())
            }

            async fn funnel(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<$crate::Funnel> {
                // Holds from the bot's conversations, and apart the ones from websites and API
                // clients, which never went through a conversation.
                let (conversations, quoted, holds, paid, direct_holds, direct_paid): (i64, i64, i64, i64, i64, i64) =
                    sqlx::query_as(
                        "SELECT \
                     (SELECT COUNT(DISTINCT contact_id) FROM messages WHERE direction = 'in' AND created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(DISTINCT contact_id) FROM quotes WHERE created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(*) FROM reservations WHERE channel IN ('whatsapp', 'email', 'sandbox') \
                        AND status <> 'blocked' AND created_at >= $1 AND created_at < $2), \
                     (SELECT COUNT(*) FROM reservations WHERE channel IN ('whatsapp', 'email', 'sandbox') \
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
                let (tables,): (i64,) = sqlx::query_as(Self::MIGRATIONS_TABLE_QUERY)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
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

        fn clone_arg(a: &Arg) -> Arg {
            match a {
                Arg::I64(v) => Arg::I64(*v),
                Arg::Text(v) => Arg::Text(v.clone()),
                Arg::Date(v) => Arg::Date(*v),
                Arg::Ts(v) => Arg::Ts(*v),
            }
        }
    };
}
pub(crate) use store_impl;
