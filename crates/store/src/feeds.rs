//! Imported iCal feeds: their events, echoes of our own stays, conflicts.
//!
//! One capability trait, implemented for both engines by `feeds_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

#[async_trait]
pub trait FeedStore: Send + Sync {
    async fn list_feeds(&self, unit_id: Option<i64>) -> Result<Vec<Feed>>;
    async fn get_feed(&self, id: i64) -> Result<Feed>;
    /// [`crate::StoreError::Duplicate`] when the unit already imports this URL.
    async fn add_feed(&self, unit_id: i64, url: &str, source: &str, now: DateTime<Utc>) -> Result<Feed>;
    async fn delete_feed(&self, id: i64) -> Result<()>;
    /// A fetch that changed nothing: `Ok` for 304 Not Modified, `Err(message)` for a failure.
    /// A failure never touches the feed's events.
    async fn record_feed_attempt(
        &self,
        id: i64,
        outcome: std::result::Result<(), String>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Applies a successful fetch in one short transaction that takes the unit `FOR UPDATE`:
    /// upserts events, ages out missing ones, recognises echoes of our own stays, records
    /// conflicts (and flags the reservations).
    async fn apply_feed(
        &self,
        id: i64,
        events: &[IncomingEvent],
        etag: Option<&str>,
        last_modified: Option<&str>,
        rules: ApplyRules,
        now: DateTime<Utc>,
    ) -> Result<FeedChanges>;
    /// Imported events with a night in `[from, to)` (echoes included; they block nothing).
    async fn external_blocks(&self, unit_id: Option<i64>, from: NaiveDate, to: NaiveDate)
    -> Result<Vec<ExternalBlock>>;
    async fn list_conflicts(&self, unit_id: Option<i64>) -> Result<Vec<Conflict>>;
}

macro_rules! feeds_impl {
    ($Store:ty) => {
        impl $Store {
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
                Self::lock_unit_stays(&mut w.tx, feed.unit_id).await?;
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
        }

        #[async_trait::async_trait]
        impl $crate::FeedStore for $Store {
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
        }
    };
}
pub(crate) use feeds_impl;
