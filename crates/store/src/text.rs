//! The store's own guard on text: both engines must agree, and PostgreSQL refuses a NUL byte
//! (in `text` and in `jsonb`) where SQLite keeps it. What people type through our own edges is
//! refused ([`StoreError::Invalid`]); what a provider sent is stored with those characters
//! removed, so one odd message never blocks the inbox.

use crate::error::{Result, StoreError};
use domain::text;
use serde_json::Value;

/// Refuses the write when any of `fields` holds a control character (tab and newlines aside).
pub fn check(fields: &[(&'static str, &str)]) -> Result<()> {
    match fields.iter().find(|(_, v)| text::has_forbidden(v)) {
        Some((name, _)) => Err(StoreError::Invalid(format!("{name}: control character"))),
        None => Ok(()),
    }
}

/// A copy of `v` whose strings (and keys) have their control characters removed.
pub fn clean_json(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(text::strip(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(clean_json).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (text::strip(k).into_owned(), clean_json(v))).collect())
        }
        other => other.clone(),
    }
}

pub fn clean(s: &str) -> String {
    text::strip(s).into_owned()
}

pub fn check_unit(u: &crate::model::UnitInput) -> Result<()> {
    check(&[("slug", &u.slug), ("name", &u.name), ("description", &u.description)])?;
    for a in &u.amenities {
        check(&[("amenities", a)])?;
    }
    for p in &u.photos {
        check(&[("photos.url", &p.url), ("photos.caption", &p.caption)])?;
    }
    Ok(())
}

/// A lookup by a key holding a control character finds nothing (no stored key holds one).
pub fn findable(key: &str) -> Result<()> {
    if text::has_forbidden(key) { Err(StoreError::NotFound) } else { Ok(()) }
}
