//! Reservations: holds, state changes, stays moved, flags, the balance, expiry, each change
//! audited in its own transaction; the no-overlap rule is the database's.
//!
//! One capability trait, implemented for both engines by `reservations_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::HoldLimits;
use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{AttentionFlag, Money, ReservationStatus, Stay};

#[async_trait]
#[allow(clippy::too_many_arguments)]
pub trait ReservationStore: Send + Sync {
    /// In one write transaction: lock the unit, expire its stale holds, check the contact's
    /// hold limit, insert. An overlap with another active stay is [`crate::StoreError::Overlap`].
    async fn create_reservation(
        &self,
        new: &NewReservation,
        limits: HoldLimits,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    async fn get_reservation(&self, code: &str) -> Result<Reservation>;
    async fn get_reservation_by_id(&self, id: i64) -> Result<Reservation>;
    /// The page and the total count.
    async fn list_reservations(&self, filter: &ReservationFilter) -> Result<(Vec<Reservation>, i64)>;
    /// Active stays (any unit when `None`) with a night in `[from, to)`.
    async fn active_stays(&self, unit_id: Option<i64>, from: NaiveDate, to: NaiveDate) -> Result<Vec<StayRow>>;
    /// A state change checked against the domain's transitions. Confirming a hold whose time is
    /// up expires it first and then needs `change.allow_expired`.
    async fn transition(
        &self,
        code: &str,
        to: ReservationStatus,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Moves an active reservation to other dates or another unit (the overlap rules apply).
    async fn change_stay(
        &self,
        code: &str,
        unit_id: i64,
        stay: Stay,
        total: Money,
        deposit: Money,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Moves a guest's hold or booking (cabin, dates, party) in ONE transaction, under the same
    /// rules as a hold: the new nights are locked like a hold's, a night another active stay or
    /// an imported event has is [`crate::StoreError::Overlap`] and changes nothing, and the old
    /// nights are free for others only when it commits. Only a live hold or a confirmed booking
    /// moves ([`crate::StoreError::NotActive`] otherwise). Moving to where it already is changes
    /// nothing (a turn run again after a crash). Audited as `moved`.
    async fn move_reservation(
        &self,
        code: &str,
        to: &MoveTo,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    async fn set_flag(
        &self,
        code: &str,
        flag: AttentionFlag,
        on: bool,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Records that the guest of a confirmed reservation paid the balance, and how, with an
    /// audit row (`balance_paid`): the whole balance counts as received. Once: with nothing
    /// pending it is `Duplicate` (a total raised since makes it due again); any other state is
    /// `NotActive`.
    async fn record_balance_paid(
        &self,
        code: &str,
        method: domain::BalanceMethod,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Marks every hold whose time is up as expired; returns their codes.
    async fn expire_stale_holds(&self, now: DateTime<Utc>) -> Result<Vec<String>>;
    async fn audit_for(&self, reservation_id: i64) -> Result<Vec<AuditEntry>>;
}

/// A guest's reservations, by phone or e-mail (`{}` is the argument): what the conversation
/// reads on every message it answers. Both columns are indexed, so this never reads the whole
/// table (it did: two full scans per message, the main cost of answering one). Public for the
/// plan check in the store's tests.
#[doc(hidden)]
pub const CONTACT_CLAUSE: &str = "(guest_phone = {} OR guest_email = {})";

macro_rules! reservations_impl {
    ($Store:ty) => {
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

            /// Locks the cabin's row (writes to the cabin itself, such as adding a feed). Writes to
            /// its stays take `lock_stay` instead, which lets stays on different nights run side
            /// by side.
            async fn lock_unit(conn: &mut Conn, unit_id: i64) -> Result<()> {
                let sql = format!("SELECT id FROM units WHERE id = $1{}", Self::FOR_UPDATE);
                let found: Option<(i64,)> = sqlx::query_as(&sql)
                    .bind(unit_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                found.map(|_| ()).ok_or(StoreError::NotFound)
            }

            /// Whether an active stay of ours, or (unless `ours_only`) an imported event that is
            /// not an echo of ours, covers one of these nights. Asked once the nights are locked,
            /// so a hold that cannot win says so at once instead of writing and being refused by
            /// the constraint (which stays the authority).
            async fn nights_taken(conn: &mut Conn, unit_id: i64, stay: Stay, ours_only: bool) -> Result<bool> {
                let (taken,): (bool,) = sqlx::query_as(
                    "SELECT EXISTS (SELECT 1 FROM reservations WHERE unit_id = $1 \
                       AND status IN ('pre_reserved', 'confirmed', 'blocked') AND check_in < $3 AND check_out > $2) \
                     OR (NOT $4 AND EXISTS (SELECT 1 FROM external_blocks WHERE unit_id = $1 AND echo_of IS NULL \
                       AND check_in < $3 AND check_out > $2))",
                )
                .bind(unit_id)
                .bind(stay.check_in)
                .bind(stay.check_out)
                .bind(ours_only)
                .fetch_one(&mut *conn)
                .await
                .map_err(Self::map_err)?;
                Ok(taken)
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
                // Two statements rather than `$2 IS NULL OR unit_id = $2`: each keeps one plan
                // that reads only the holds whose time is up.
                let expired: Vec<(i64, String)> = match unit_id {
                    Some(unit_id) => sqlx::query_as(
                        "UPDATE reservations SET status = 'expired', updated_at = $1 \
                         WHERE status = 'pre_reserved' AND hold_expires_at <= $1 AND unit_id = $2 RETURNING id, code",
                    )
                    .bind(now)
                    .bind(unit_id),
                    None => sqlx::query_as(
                        "UPDATE reservations SET status = 'expired', updated_at = $1 \
                         WHERE status = 'pre_reserved' AND hold_expires_at <= $1 RETURNING id, code",
                    )
                    .bind(now),
                }
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
                Self::lock_stay(&mut w.tx, new.unit_id, new.stay).await?;
                // The constraint cannot look at the clock: stale holds must stop being active first.
                Self::expire_in_tx(&mut w.tx, Some(new.unit_id), now).await?;
                // Nights an OTA has taken are not ours to sell (an owner may still block them).
                if Self::nights_taken(&mut w.tx, new.unit_id, new.stay, new.status == ReservationStatus::Blocked).await? {
                    return Err(StoreError::Overlap);
                }
                if let (ReservationStatus::PreReserved, Some(max)) = (new.status, limits.max_holds_per_contact) {
                    // The guest is known by phone, or (e-mail guests) by address. One equality
                    // per statement: an `OR` of both let a cached plan read every live hold.
                    let (key, sql) = if new.guest_phone.is_empty() {
                        (
                            new.guest_email.clone().unwrap_or_default(),
                            "SELECT COUNT(*) FROM reservations WHERE guest_email = $1 AND guest_phone = '' \
                             AND status = 'pre_reserved' AND (hold_expires_at IS NULL OR hold_expires_at > $2)",
                        )
                    } else {
                        (
                            new.guest_phone.clone(),
                            "SELECT COUNT(*) FROM reservations WHERE guest_phone = $1 \
                             AND status = 'pre_reserved' AND (hold_expires_at IS NULL OR hold_expires_at > $2)",
                        )
                    };
                    if !key.is_empty() {
                        Self::lock_contact(&mut w.tx, &key).await?;
                        let (holds,): (i64,) = sqlx::query_as(sql)
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
                if from == ReservationStatus::Expired {
                    Self::lock_stay(conn, current.unit_id, current.stay).await?;
                }
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

            /// The owner's change (`change_stay`, blocks too, the party kept) and the guest's move
            /// (`move_reservation`, `guests` set): one statement for both.
            #[allow(clippy::too_many_arguments)]
            async fn move_once(
                &self,
                code: &str,
                unit_id: i64,
                stay: Stay,
                guests: Option<u32>,
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
                let guest_move = guests.is_some();
                if guest_move {
                    if current.status == ReservationStatus::Blocked {
                        return Err(StoreError::NotActive(current.status));
                    }
                    let already = current.unit_id == unit_id
                        && current.stay == stay
                        && Some(current.guests) == guests
                        && current.total == total;
                    if already {
                        return Ok(current);
                    }
                }
                Self::lock_stay(&mut w.tx, unit_id, stay).await?;
                Self::expire_in_tx(&mut w.tx, Some(unit_id), now).await?;
                if current.status != ReservationStatus::Blocked && Self::externally_taken(&mut w.tx, unit_id, stay).await? {
                    return Err(StoreError::Overlap);
                }
                let notes = append_note(&current.notes, &change.note, &change.actor, now);
                let sql = format!(
                    "UPDATE reservations SET unit_id = $2, check_in = $3, check_out = $4, total = $5, deposit = $6, \
                     notes = $7, updated_at = $8, guests = COALESCE($9, guests) WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
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
                    .bind(guests.map(i64::from))
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let updated: Reservation = row.try_into()?;
                let action = if guest_move { "moved" } else { "stay_changed" };
                Self::audit(&mut w.tx, Some(updated.id), &change.actor, action, Some(audit_snapshot(&current)), Some(audit_snapshot(&updated)), &change.note, now)
                    .await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(updated)
            }
        }

        #[async_trait::async_trait]
        impl $crate::ReservationStore for $Store {
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
                    add(&mut clauses, &mut args, $crate::reservations::CONTACT_CLAUSE, Arg::Text(c.clone()));
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
                let (total,): (i64,) = bind_args!(sqlx::query_as(&count_sql), args.iter().cloned())
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
                retry_on_deadlock(|| self.move_once(code, unit_id, stay, None, total, deposit, change, now)).await
            }

            async fn move_reservation(
                &self,
                code: &str,
                to: &MoveTo,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<Reservation> {
                $crate::text::check(&[("note", &change.note), ("actor", &change.actor)])?;
                retry_on_deadlock(|| {
                    self.move_once(code, to.unit_id, to.stay, Some(to.guests), to.total, to.deposit, change, now)
                })
                .await
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
                // Paid up: nothing to record. A total raised after it was paid is due again.
                if current.balance_due() == Money::ZERO {
                    return Err(StoreError::Duplicate("balance_paid"));
                }
                let notes = append_note(&current.notes, &change.note, &change.actor, now);
                let sql = format!(
                    "UPDATE reservations SET balance_paid_at = $2, balance_method = $3, notes = $4, updated_at = $2, \
                     balance_received = $5 WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                );
                // The owner records the whole balance as paid, however much came before.
                let received = current.money().balance;
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(current.id)
                    .bind(now)
                    .bind(method.as_str())
                    .bind(&notes)
                    .bind(received.0)
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
        }
    };
}
pub(crate) use reservations_impl;
