//! "Now" comes from here, never from `Utc::now()` elsewhere, so tests can move time forward.

use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Microsecond precision, so stored timestamps compare the same on both engines.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    pub fn today_in(&self, tz: chrono_tz::Tz) -> NaiveDate {
        self.now().with_timezone(&tz).date_naive()
    }

    /// A clock that reads `start` now and then runs at the real pace (tests pin the risky hours,
    /// e.g. 23:30 and 00:30 in the property's zone, when the UTC date and the local one differ).
    pub fn starting_at(start: DateTime<Utc>) -> Clock {
        let clock = Clock::default();
        clock.advance(start - Utc::now());
        clock
    }

    /// Test support: jump forward (or back).
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}
