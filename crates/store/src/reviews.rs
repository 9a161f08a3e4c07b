//! Guests' ratings of their stays (issue 17, step 5): one per reservation, given in the chat
//! after checkout and shown in Estadísticas.
//!
//! A capability of its own (one small trait), implemented for both engines by [`reviews_impl!`]
//! and proven by the same conformance tests.

use crate::error::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Longest comment kept (a chat line, not an essay: the rest is in the conversation).
pub const MAX_COMMENT_CHARS: usize = 1000;

/// One guest's rating of one stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub reservation_id: i64,
    pub code: String,
    pub unit_id: i64,
    pub guest_name: String,
    /// 1 to 5.
    pub stars: u8,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Records the rating of a reservation with an audit row; `false` (nothing changed) when it
    /// already has one. Stars outside 1–5 are [`crate::StoreError::Invalid`]; an unknown
    /// reservation is `NotFound`. The comment is cut to [`MAX_COMMENT_CHARS`].
    async fn record_review(
        &self,
        reservation_id: i64,
        stars: u8,
        comment: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Which of these reservations already have a rating.
    async fn reviewed(&self, reservation_ids: &[i64]) -> Result<Vec<i64>>;

    /// The ratings given in `[from, to)`, newest first.
    async fn reviews_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Review>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReviewRow {
    reservation_id: i64,
    code: String,
    unit_id: i64,
    guest_name: String,
    stars: i32,
    comment: String,
    created_at: DateTime<Utc>,
}

impl From<ReviewRow> for Review {
    fn from(r: ReviewRow) -> Review {
        Review {
            reservation_id: r.reservation_id,
            code: r.code,
            unit_id: r.unit_id,
            guest_name: r.guest_name,
            stars: r.stars.clamp(1, 5) as u8,
            comment: r.comment,
            created_at: r.created_at,
        }
    }
}

/// [`ReviewStore`] for a backend that has `write()`, `map_err` and `audit`.
macro_rules! reviews_impl {
    ($Store:ty) => {
        #[async_trait::async_trait]
        impl $crate::reviews::ReviewStore for $Store {
            async fn record_review(
                &self,
                reservation_id: i64,
                stars: u8,
                comment: &str,
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                if !(1..=5).contains(&stars) || comment.contains('\0') {
                    return Err($crate::StoreError::Invalid(format!("{stars} stars")));
                }
                let comment: String = comment.trim().chars().take($crate::reviews::MAX_COMMENT_CHARS).collect();
                let mut w = self.write().await?;
                let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM reservations WHERE id = $1")
                    .bind(reservation_id)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(Self::map_err)?;
                if exists.is_none() {
                    return Err($crate::StoreError::NotFound);
                }
                let done = sqlx::query(
                    "INSERT INTO reviews (reservation_id, stars, comment, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (reservation_id) DO NOTHING",
                )
                .bind(reservation_id)
                .bind(i32::from(stars))
                .bind(&comment)
                .bind(now)
                .execute(&mut *w.tx)
                .await
                .map_err(Self::map_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let note = if comment.is_empty() { format!("{stars}/5") } else { format!("{stars}/5: {comment}") };
                Self::audit(&mut w.tx, Some(reservation_id), actor, "reviewed", None, None, &note, now).await?;
                w.tx.commit().await.map_err(Self::map_err)?;
                Ok(true)
            }

            async fn reviewed(&self, reservation_ids: &[i64]) -> $crate::Result<Vec<i64>> {
                let mut out = Vec::new();
                // A guest has a handful of reservations: one indexed lookup each.
                for id in reservation_ids {
                    let row: Option<(i64,)> = sqlx::query_as("SELECT reservation_id FROM reviews WHERE reservation_id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(Self::map_err)?;
                    out.extend(row.map(|r| r.0));
                }
                Ok(out)
            }

            async fn reviews_between(
                &self,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Vec<$crate::reviews::Review>> {
                let rows: Vec<$crate::reviews::ReviewRow> = sqlx::query_as(
                    "SELECT v.reservation_id, r.code, r.unit_id, r.guest_name, v.stars, v.comment, v.created_at \
                     FROM reviews v JOIN reservations r ON r.id = v.reservation_id \
                     WHERE v.created_at >= $1 AND v.created_at < $2 ORDER BY v.created_at DESC, v.reservation_id DESC",
                )
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await
                .map_err(Self::map_err)?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}
pub(crate) use reviews_impl;
