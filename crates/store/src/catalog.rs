//! The catalog: the units (cabins) and their rate rules.
//!
//! One capability trait, implemented for both engines by `catalog_impl!` (stamped out inside
//! [`crate::common`]'s `store_impl!`, which brings the imports and the backend's own items) and
//! proven by the same conformance tests.

use crate::error::Result;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::RateRule;

#[async_trait]
pub trait CatalogStore: Send + Sync {
    // Units
    async fn list_units(&self, include_inactive: bool) -> Result<Vec<Unit>>;
    async fn get_unit(&self, id: i64) -> Result<Unit>;
    async fn get_unit_by_slug(&self, slug: &str) -> Result<Unit>;
    async fn create_unit(&self, input: &UnitInput, ical_token: &str, now: DateTime<Utc>) -> Result<Unit>;
    async fn update_unit(&self, id: i64, input: &UnitInput, now: DateTime<Utc>) -> Result<Unit>;
    async fn set_unit_ical_token(&self, id: i64, token: &str, now: DateTime<Utc>) -> Result<()>;

    // Rate rules
    async fn list_rate_rules(&self) -> Result<Vec<RateRule>>;
    async fn create_rate_rule(&self, rule: &RateRuleInput, now: DateTime<Utc>) -> Result<RateRule>;
    async fn update_rate_rule(&self, id: i64, rule: &RateRuleInput, now: DateTime<Utc>) -> Result<RateRule>;
    async fn delete_rate_rule(&self, id: i64) -> Result<()>;
}

macro_rules! catalog_impl {
    ($Store:ty) => {
        impl $Store {
            async fn rule_by_id(&self, id: i64) -> Result<RateRule> {
                let sql = format!("SELECT {RULE_COLUMNS} FROM rate_rules WHERE id = $1");
                let row: Option<RuleRow> =
                    sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await.map_err(Self::map_err)?;
                row.ok_or(StoreError::NotFound)?.try_into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::CatalogStore for $Store {
            async fn list_units(&self, include_inactive: bool) -> Result<Vec<Unit>> {
                let sql = format!("SELECT {UNIT_COLUMNS} FROM units WHERE active OR $1 ORDER BY id");
                let rows: Vec<UnitRow> =
                    sqlx::query_as(&sql).bind(include_inactive).fetch_all(&self.pool).await.map_err(Self::map_err)?;
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
        }
    };
}
pub(crate) use catalog_impl;
