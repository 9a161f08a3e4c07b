//! Payments: the hold's payment link and the provider's payments, confirming when paid.
//!
//! One capability trait, implemented for both engines by `payments_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Money;

#[async_trait]
pub trait PaymentStore: Send + Sync {
    async fn payment_link(&self, reservation_id: i64) -> Result<Option<PaymentLink>>;
    async fn payment_link_by_preference(&self, preference_id: &str) -> Result<PaymentLink>;
    /// Stores the hold's link unless it already has one; returns the hold's link either way.
    async fn save_payment_link(&self, link: &PaymentLink, now: DateTime<Utc>) -> Result<PaymentLink>;
    /// In one transaction: upserts the payment (its status only moves forward) and, when
    /// asked, confirms the reservation (idempotent: a confirmed one stays as it is). A refused
    /// confirmation is reported and the payment is still recorded.
    async fn record_payment(
        &self,
        payment: &PaymentRecord,
        confirm: Option<(&str, &Change)>,
        now: DateTime<Utc>,
    ) -> Result<PaymentOutcome>;
    async fn payments_for(&self, reservation_id: i64) -> Result<Vec<Payment>>;
    /// The balance link for exactly this amount and deadline, if one was made.
    async fn balance_link(
        &self,
        reservation_id: i64,
        amount: Money,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<BalanceLink>>;
    /// The reservation's balance links, newest first.
    async fn balance_links(&self, reservation_id: i64) -> Result<Vec<BalanceLink>>;
    /// Stores a balance link unless one exists for the same reservation, amount and deadline;
    /// returns the stored one either way (a race or a retry keeps the first).
    async fn save_balance_link(&self, link: &BalanceLink, now: DateTime<Utc>) -> Result<BalanceLink>;
    /// In one transaction: upserts a balance payment (its status only moves forward) and, when
    /// it is newly approved for the reservation `code`, applies it under the reservation's lock:
    /// the amount is added to `balance_received`; the whole balance due → paid by Mercado Pago
    /// (`balance_paid`, audited; any excess flags `needs_refund`); less → `amount_mismatch`
    /// with the amounts in the note; nothing due (paid already, not confirmed) → `needs_refund`.
    /// Any effect queues `notice` (its payload gets `code`, `payment_id` and the effect; its
    /// dedupe key is the payment's) in the same transaction. A repeated notification has no
    /// effect.
    async fn record_balance_payment(
        &self,
        payment: &PaymentRecord,
        code: Option<&str>,
        notice: &NewJob,
        now: DateTime<Utc>,
    ) -> Result<BalanceOutcome>;
    /// Proposes a cancelled reservation's refund (one per reservation: a second call returns the
    /// first), with an audit row and, when given, its job — in one transaction.
    async fn create_refund(
        &self,
        refund: &NewRefund,
        job: Option<&NewJob>,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<RefundRecord>;
    async fn refund_for(&self, reservation_id: i64) -> Result<Option<RefundRecord>>;
    async fn get_refund(&self, id: i64) -> Result<RefundRecord>;
    /// The refunds we made of one provider payment (to tell our own refunds from the payer's).
    async fn refunds_of_payment(&self, provider: &str, provider_payment_id: &str) -> Result<Vec<RefundRecord>>;
    /// Moves a refund that is in one of `from` (else `Invalid`), with an audit row and, when
    /// given, a job — in one transaction.
    async fn update_refund(
        &self,
        id: i64,
        from: &[domain::RefundStatus],
        update: &RefundUpdate,
        job: Option<&NewJob>,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<RefundRecord>;
}

macro_rules! payments_impl {
    ($Store:ty) => {
        impl $Store {
            /// Inserts the payment or moves its status forward; `true` when the status moved.
            async fn upsert_payment_in(conn: &mut Conn, p: &PaymentRecord, now: DateTime<Utc>) -> Result<bool> {
                let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider = $1 AND provider_payment_id = $2");
                let existing: Option<PaymentRow> = sqlx::query_as(&format!("{sql}{}", Self::FOR_UPDATE))
                    .bind(&p.provider)
                    .bind(&p.provider_payment_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                Ok(match &existing {
                    None => {
                        sqlx::query(
                            "INSERT INTO payments (provider, provider_payment_id, reservation_id, status, status_detail, amount, \
                             currency, external_reference, raw, created_at, updated_at, purpose) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)",
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
                        .bind(p.purpose.as_str())
                        .execute(&mut *conn)
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
                        .execute(&mut *conn)
                        .await
                        .map_err(Self::map_err)?;
                        true
                    }
                    Some(_) => false,
                })
            }

            /// Sets a flag inside a transaction (with its note and audit row).
            async fn flag_in(conn: &mut Conn, current: &Reservation, flag: AttentionFlag, actor: &str, note: &str, now: DateTime<Utc>) -> Result<Reservation> {
                let mut flags: BTreeSet<AttentionFlag> = current.flags.clone();
                flags.insert(flag);
                let notes = append_note(&current.notes, note, actor, now);
                let sql = format!(
                    "UPDATE reservations SET flags = $2, notes = $3, updated_at = $4 WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                );
                let row: ReservationRow = sqlx::query_as(&sql)
                    .bind(current.id)
                    .bind(flags_str(&flags))
                    .bind(&notes)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(Self::map_err)?;
                let updated: Reservation = row.try_into()?;
                Self::audit(conn, Some(updated.id), actor, "flag_set", Some(audit_snapshot(current)), Some(audit_snapshot(&updated)), note, now)
                    .await?;
                Ok(updated)
            }

            /// Queues a refund's job for that refund, once (deduplicated by kind and refund id).
            async fn enqueue_refund_job(conn: &mut Conn, job: &NewJob, refund_id: i64, now: DateTime<Utc>) -> Result<()> {
                let mut job = job.clone();
                job.payload["refund_id"] = serde_json::json!(refund_id);
                job.dedupe_key = Some(format!("{}:{}", job.kind, refund_id));
                Self::enqueue_in(conn, &job, now).await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::PaymentStore for $Store {
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
                let status_changed = Self::upsert_payment_in(&mut w.tx, p, now).await?;
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

            async fn balance_link(
                &self,
                reservation_id: i64,
                amount: Money,
                expires_at: DateTime<Utc>,
            ) -> Result<Option<BalanceLink>> {
                let sql = format!(
                    "SELECT {BALANCE_LINK_COLUMNS} FROM balance_links WHERE reservation_id = $1 AND amount = $2 AND expires_at = $3"
                );
                let row: Option<BalanceLinkRow> = sqlx::query_as(&sql)
                    .bind(reservation_id)
                    .bind(amount.0)
                    .bind(expires_at)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                Ok(row.map(BalanceLink::from))
            }

            async fn balance_links(&self, reservation_id: i64) -> Result<Vec<BalanceLink>> {
                let sql = format!("SELECT {BALANCE_LINK_COLUMNS} FROM balance_links WHERE reservation_id = $1 ORDER BY id DESC");
                let rows: Vec<BalanceLinkRow> =
                    sqlx::query_as(&sql).bind(reservation_id).fetch_all(&self.pool).await.map_err(Self::map_err)?;
                Ok(rows.into_iter().map(BalanceLink::from).collect())
            }

            async fn save_balance_link(&self, link: &BalanceLink, now: DateTime<Utc>) -> Result<BalanceLink> {
                let mut w = self.write().await?;
                sqlx::query(
                    "INSERT INTO balance_links (reservation_id, provider, preference_id, url, amount, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reservation_id, amount, expires_at) DO NOTHING",
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
                let sql = format!(
                    "SELECT {BALANCE_LINK_COLUMNS} FROM balance_links WHERE reservation_id = $1 AND amount = $2 AND expires_at = $3"
                );
                let row: BalanceLinkRow = sqlx::query_as(&sql)
                    .bind(link.reservation_id)
                    .bind(link.amount.0)
                    .bind(link.expires_at)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(row.into())
            }

            async fn record_balance_payment(
                &self,
                p: &PaymentRecord,
                code: Option<&str>,
                notice: &NewJob,
                now: DateTime<Utc>,
            ) -> Result<BalanceOutcome> {
                let mut w = self.write().await?;
                let status_changed = Self::upsert_payment_in(&mut w.tx, p, now).await?;
                let mut effect = BalanceEffect::Recorded;
                let mut reservation = None;
                if let Some(code) = code {
                    let current = Self::reservation_for_update(&mut w.tx, code).await?;
                    let actor = format!("payment:{}", p.provider);
                    let paid = p.amount.to_ars_spaced();
                    if status_changed && p.status == "approved" {
                        let due = current.balance_due();
                        let mut updated = current.clone();
                        if current.status == ReservationStatus::Confirmed {
                            // The money reached us whatever it settles: pagado shows it.
                            let fully = due > Money::ZERO && p.amount >= due;
                            let sql = format!(
                                "UPDATE reservations SET balance_received = balance_received + $2, updated_at = $3, \
                                 balance_paid_at = CASE WHEN $4 THEN $3 ELSE balance_paid_at END, \
                                 balance_method = CASE WHEN $4 THEN 'mercadopago' ELSE balance_method END \
                                 WHERE id = $1 RETURNING {RESERVATION_COLUMNS}"
                            );
                            let row: ReservationRow = sqlx::query_as(&sql)
                                .bind(current.id)
                                .bind(p.amount.0)
                                .bind(now)
                                .bind(fully)
                                .fetch_one(&mut *w.tx)
                                .await
                                .map_err(Self::map_err)?;
                            updated = row.try_into()?;
                        }
                        if due == Money::ZERO {
                            let why = if current.status == ReservationStatus::Confirmed {
                                "el saldo ya estaba pago".to_string()
                            } else {
                                format!("la reserva está {}", current.status.as_str())
                            };
                            let note = format!("Pago del saldo {} de {paid} sin saldo por cobrar ({why}): hay que devolverlo.", p.provider_payment_id);
                            updated = Self::flag_in(&mut w.tx, &updated, AttentionFlag::NeedsRefund, &actor, &note, now).await?;
                            effect = BalanceEffect::NotDue { amount: p.amount };
                        } else if p.amount >= due {
                            let excess = p.amount - due;
                            let note = format!("Saldo de {} pagado por Mercado Pago (pago {}).", due.to_ars_spaced(), p.provider_payment_id);
                            Self::audit(&mut w.tx, Some(current.id), &actor, "balance_paid", Some(audit_snapshot(&current)), Some(audit_snapshot(&updated)), &note, now)
                                .await?;
                            if excess > Money::ZERO {
                                let note = format!("Pagó {} de más con el saldo (pago {}): hay que devolverlo.", excess.to_ars_spaced(), p.provider_payment_id);
                                updated = Self::flag_in(&mut w.tx, &updated, AttentionFlag::NeedsRefund, &actor, &note, now).await?;
                            }
                            effect = BalanceEffect::Paid { excess };
                        } else {
                            let pending = due - p.amount;
                            let note = format!(
                                "Saldo pagado en parte por Mercado Pago: {paid} de {} (pago {}); faltan {}.",
                                due.to_ars_spaced(),
                                p.provider_payment_id,
                                pending.to_ars_spaced()
                            );
                            updated = Self::flag_in(&mut w.tx, &updated, AttentionFlag::AmountMismatch, &actor, &note, now).await?;
                            effect = BalanceEffect::Partial { amount: p.amount, pending };
                        }
                        let mut job = notice.clone();
                        job.payload["code"] = serde_json::json!(code);
                        job.payload["payment_id"] = serde_json::json!(p.provider_payment_id);
                        job.payload["outcome"] = serde_json::to_value(&effect).unwrap_or_default();
                        job.dedupe_key = Some(format!("{}:{}:{}", notice.kind, p.provider, p.provider_payment_id));
                        Self::enqueue_in(&mut w.tx, &job, now).await?;
                        reservation = Some(updated);
                    } else {
                        reservation = Some(current);
                    }
                }
                let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider = $1 AND provider_payment_id = $2");
                let row: PaymentRow = sqlx::query_as(&sql)
                    .bind(&p.provider)
                    .bind(&p.provider_payment_id)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(BalanceOutcome { payment: row.into(), effect, reservation })
            }

            async fn create_refund(
                &self,
                refund: &NewRefund,
                job: Option<&NewJob>,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<RefundRecord> {
                let mut w = self.write().await?;
                let inserted: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO refunds (reservation_id, provider, provider_payment_id, paid, amount, percent, status, \
                     error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, $8) \
                     ON CONFLICT (reservation_id) DO NOTHING RETURNING id",
                )
                .bind(refund.reservation_id)
                .bind(&refund.provider)
                .bind(&refund.provider_payment_id)
                .bind(refund.paid.0)
                .bind(refund.amount.0)
                .bind(refund.percent as i32)
                .bind(refund.status.as_str())
                .bind(now)
                .fetch_optional(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE reservation_id = $1");
                let row: RefundRow =
                    sqlx::query_as(&sql).bind(refund.reservation_id).fetch_one(&mut *w.tx).await.map_err(Self::map_err)?;
                let record = RefundRecord::try_from(row)?;
                if inserted.is_some() {
                    let after = serde_json::to_value(&record).ok();
                    Self::audit(&mut w.tx, Some(refund.reservation_id), &change.actor, "refund_proposed", None, after, &change.note, now)
                        .await?;
                    if let Some(job) = job {
                        Self::enqueue_refund_job(&mut w.tx, job, record.id, now).await?;
                    }
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(record)
            }

            async fn refund_for(&self, reservation_id: i64) -> Result<Option<RefundRecord>> {
                let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE reservation_id = $1");
                let row: Option<RefundRow> =
                    sqlx::query_as(&sql).bind(reservation_id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.map(RefundRecord::try_from).transpose()
            }

            async fn get_refund(&self, id: i64) -> Result<RefundRecord> {
                let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
                let row: Option<RefundRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                RefundRecord::try_from(row.ok_or(StoreError::NotFound)?)
            }

            async fn refunds_of_payment(&self, provider: &str, provider_payment_id: &str) -> Result<Vec<RefundRecord>> {
                let sql = format!(
                    "SELECT {REFUND_COLUMNS} FROM refunds WHERE provider = $1 AND provider_payment_id = $2 ORDER BY id"
                );
                let rows: Vec<RefundRow> = sqlx::query_as(&sql)
                    .bind(provider)
                    .bind(provider_payment_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::map_err)?;
                rows.into_iter().map(RefundRecord::try_from).collect()
            }

            async fn update_refund(
                &self,
                id: i64,
                from: &[domain::RefundStatus],
                update: &RefundUpdate,
                job: Option<&NewJob>,
                change: &Change,
                now: DateTime<Utc>,
            ) -> Result<RefundRecord> {
                let mut w = self.write().await?;
                let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
                let row: Option<RefundRow> = sqlx::query_as(&format!("{sql}{}", Self::FOR_UPDATE))
                    .bind(id)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                let before = RefundRecord::try_from(row.ok_or(StoreError::NotFound)?)?;
                if !from.contains(&before.status) {
                    return Err(StoreError::Invalid(format!("refund {id} is {}", before.status.as_str())));
                }
                if let Some(amount) = update.amount
                    && (amount.0 < 0 || amount > before.paid)
                {
                    return Err(StoreError::Invalid(format!("refund amount {} beyond {}", amount.0, before.paid.0)));
                }
                sqlx::query(
                    "UPDATE refunds SET status = $2, amount = COALESCE($3, amount), \
                     provider_refund_id = COALESCE($4, provider_refund_id), error = COALESCE($5, error), updated_at = $6 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(update.status.as_str())
                .bind(update.amount.map(|a| a.0))
                .bind(&update.provider_refund_id)
                .bind(&update.error)
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                let row: RefundRow = sqlx::query_as(&sql).bind(id).fetch_one(&mut *w.tx).await.map_err(Self::map_err)?;
                let after = RefundRecord::try_from(row)?;
                let action = format!("refund_{}", after.status.as_str());
                Self::audit(
                    &mut w.tx,
                    Some(after.reservation_id),
                    &change.actor,
                    &action,
                    serde_json::to_value(&before).ok(),
                    serde_json::to_value(&after).ok(),
                    &change.note,
                    now,
                )
                .await?;
                if let Some(job) = job {
                    Self::enqueue_refund_job(&mut w.tx, job, after.id, now).await?;
                }
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(after)
            }
        }
    };
}
pub(crate) use payments_impl;
