//! A stay is the half-open range of nights `[check_in, check_out)`: the guest sleeps the night
//! of `check_in` and leaves on the morning of `check_out`, so back-to-back stays do not overlap.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Longest stay we accept in one reservation.
pub const MAX_NIGHTS: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stay {
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
}

/// Why a requested stay cannot be booked. Each variant has its own stable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StayError {
    #[error("la fecha de salida debe ser posterior a la de entrada")]
    CheckOutNotAfterCheckIn,
    #[error("la estadía no puede superar {max} noches")]
    TooLong { max: u32 },
    #[error("la fecha de entrada ya pasó")]
    CheckInPast,
    #[error("la cantidad de huéspedes debe estar entre 1 y {capacity}")]
    Guests { capacity: u32 },
    #[error("la estadía mínima es de {min} noches")]
    MinNights { min: u32 },
    /// The stay ends after the booking horizon: the calendar is not open that far ahead.
    #[error("solo tomamos reservas hasta {days} días adelante")]
    BeyondHorizon { days: u32 },
}

impl StayError {
    pub fn code(&self) -> &'static str {
        match self {
            StayError::CheckOutNotAfterCheckIn => "invalid_dates",
            StayError::TooLong { .. } => "stay_too_long",
            StayError::CheckInPast => "check_in_past",
            StayError::Guests { .. } => "invalid_guests",
            StayError::MinNights { .. } => "min_nights",
            StayError::BeyondHorizon { .. } => "beyond_horizon",
        }
    }
}

impl Stay {
    /// A well-formed stay: at least one night and at most [`MAX_NIGHTS`].
    pub fn new(check_in: NaiveDate, check_out: NaiveDate) -> Result<Stay, StayError> {
        if check_out <= check_in {
            return Err(StayError::CheckOutNotAfterCheckIn);
        }
        let stay = Stay { check_in, check_out };
        if stay.nights() > MAX_NIGHTS {
            return Err(StayError::TooLong { max: MAX_NIGHTS });
        }
        Ok(stay)
    }

    pub fn nights(&self) -> u32 {
        (self.check_out - self.check_in).num_days().max(0) as u32
    }

    /// The dates whose nights the stay covers (check_in .. check_out - 1).
    pub fn night_dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.check_in.iter_days().take_while(move |d| *d < self.check_out)
    }

    pub fn overlaps(&self, other: &Stay) -> bool {
        self.check_in < other.check_out && other.check_in < self.check_out
    }

    pub fn contains_night(&self, date: NaiveDate) -> bool {
        self.check_in <= date && date < self.check_out
    }

    /// The same length starting elsewhere.
    pub fn shifted(&self, days: i64) -> Option<Stay> {
        let move_by = |d: NaiveDate| {
            if days >= 0 {
                d.checked_add_days(Days::new(days as u64))
            } else {
                d.checked_sub_days(Days::new(days.unsigned_abs()))
            }
        };
        Some(Stay { check_in: move_by(self.check_in)?, check_out: move_by(self.check_out)? })
    }

    /// Whether the stay ends within `days` of `today` (the booking horizon: what we sell must
    /// also be in the calendar the OTAs import).
    pub fn within_horizon(&self, today: NaiveDate, days: u32) -> Result<(), StayError> {
        match today.checked_add_days(Days::new(days as u64)) {
            Some(last) if self.check_out <= last => Ok(()),
            _ => Err(StayError::BeyondHorizon { days }),
        }
    }

    /// Checks a guest's request against today, the unit's capacity and the minimum nights.
    pub fn validate_request(
        &self,
        today: NaiveDate,
        guests: u32,
        capacity: u32,
        min_nights: u32,
    ) -> Result<(), StayError> {
        if self.check_in < today {
            return Err(StayError::CheckInPast);
        }
        if guests == 0 || guests > capacity {
            return Err(StayError::Guests { capacity });
        }
        if self.nights() < min_nights {
            return Err(StayError::MinNights { min: min_nights });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_horizon_counts_the_check_out_day() {
        let today = d("2026-01-01");
        let stay = |a: &str, b: &str| Stay::new(d(a), d(b)).unwrap();
        assert_eq!(stay("2026-01-08", "2026-01-11").within_horizon(today, 10), Ok(()));
        assert_eq!(
            stay("2026-01-08", "2026-01-12").within_horizon(today, 10),
            Err(StayError::BeyondHorizon { days: 10 })
        );
        assert!(stay("9999-01-01", "9999-01-03").within_horizon(today, 540).is_err());
        let far = NaiveDate::MAX;
        assert!(Stay { check_in: far.pred_opt().unwrap(), check_out: far }.within_horizon(today, 540).is_err());
        assert!(stay("2026-01-08", "2026-01-12").within_horizon(NaiveDate::MAX, 540).is_err(), "no overflow");
    }

    #[test]
    fn rejects_empty_inverted_and_long_stays() {
        assert_eq!(Stay::new(d("2026-01-10"), d("2026-01-10")), Err(StayError::CheckOutNotAfterCheckIn));
        assert_eq!(Stay::new(d("2026-01-10"), d("2026-01-09")), Err(StayError::CheckOutNotAfterCheckIn));
        // 2026-01-01 → 2026-03-02 is 60 nights, one more is too long.
        assert_eq!(Stay::new(d("2026-01-01"), d("2026-03-02")).unwrap().nights(), 60);
        let too_long = Stay::new(d("2026-01-01"), d("2026-03-03")).unwrap_err();
        assert_eq!(too_long, StayError::TooLong { max: 60 });
        assert_eq!(too_long.code(), "stay_too_long");
    }

    #[test]
    fn back_to_back_stays_do_not_overlap() {
        let a = Stay::new(d("2026-01-10"), d("2026-01-15")).unwrap();
        let b = Stay::new(d("2026-01-15"), d("2026-01-18")).unwrap();
        let c = Stay::new(d("2026-01-14"), d("2026-01-16")).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && c.overlaps(&b));
    }

    #[test]
    fn validates_requests_in_order() {
        let s = Stay::new(d("2026-01-10"), d("2026-01-11")).unwrap();
        let today = d("2026-01-05");
        assert_eq!(s.validate_request(d("2026-01-11"), 2, 4, 1), Err(StayError::CheckInPast));
        assert_eq!(s.validate_request(today, 0, 4, 1), Err(StayError::Guests { capacity: 4 }));
        assert_eq!(s.validate_request(today, 5, 4, 1), Err(StayError::Guests { capacity: 4 }));
        assert_eq!(s.validate_request(today, 4, 4, 2), Err(StayError::MinNights { min: 2 }));
        assert_eq!(s.validate_request(today, 4, 4, 1), Ok(()));
        assert_eq!(s.validate_request(d("2026-01-10"), 1, 4, 1), Ok(()));
    }

    fn any_stay() -> impl Strategy<Value = Stay> {
        (0i64..3000, 1u32..=MAX_NIGHTS).prop_map(|(start, nights)| {
            let check_in = d("2025-01-01") + chrono::Duration::days(start);
            Stay::new(check_in, check_in + chrono::Duration::days(nights as i64)).unwrap()
        })
    }

    proptest! {
        #[test]
        fn nights_match_the_dates(stay in any_stay()) {
            prop_assert_eq!(stay.night_dates().count() as u32, stay.nights());
            prop_assert!(stay.night_dates().all(|n| stay.contains_night(n)));
            prop_assert!(!stay.contains_night(stay.check_out));
        }

        #[test]
        fn overlap_means_a_shared_night(a in any_stay(), b in any_stay()) {
            let shared = a.night_dates().any(|n| b.contains_night(n));
            prop_assert_eq!(a.overlaps(&b), shared);
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        }

        #[test]
        fn shifting_keeps_the_length(stay in any_stay(), by in -400i64..400) {
            prop_assert_eq!(stay.shifted(by).unwrap().nights(), stay.nights());
        }
    }
}
