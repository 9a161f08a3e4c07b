//! Payments: the hold's payment link and the provider's payments, confirming when paid.
//!
//! One capability trait, implemented for both engines by `payments_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
}

macro_rules! payments_impl {
    ($Store:ty) => {
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
        }
    };
}
pub(crate) use payments_impl;
