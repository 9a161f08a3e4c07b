//! One circuit breaker per provider per process: opens after 5 consecutive failures, lets one
//! probe through at a time after 60 s (half-open), closes after 2 successful probes. While open,
//! and while a probe is out, nothing else is sent.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// For the `breaker_state` gauge.
    pub fn as_f64(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// The gauge every breaker reports to (label `provider`): 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "breaker_state";

pub struct Breaker {
    name: &'static str,
    failure_threshold: u32,
    open_for: Duration,
    close_after: u32,
    inner: Mutex<Inner>,
}

struct Inner {
    failures: u32,
    opened_at: Option<Instant>,
    half_open_successes: u32,
    /// When the half-open probe now out was let through. A caller that never reports back
    /// (a cancelled request) frees the slot after [`PROBE_LEASE`].
    probe_since: Option<Instant>,
}

/// Longer than any provider call's timeout.
const PROBE_LEASE: Duration = Duration::from_secs(30);
/// What a caller that finds the probe slot taken is told to wait.
const PROBE_BUSY_WAIT: Duration = Duration::from_secs(1);

impl Breaker {
    pub fn new(name: &'static str) -> Breaker {
        Breaker::with(name, 5, Duration::from_secs(60), 2)
    }

    /// The provider it guards (`whatsapp`, `instagram`…), as the metrics label it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn with(name: &'static str, failure_threshold: u32, open_for: Duration, close_after: u32) -> Breaker {
        Breaker {
            name,
            failure_threshold,
            open_for,
            close_after,
            inner: Mutex::new(Inner { failures: 0, opened_at: None, half_open_successes: 0, probe_since: None }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        let inner = self.lock();
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if now.duration_since(at) < self.open_for => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// `Ok` when a call may go out: always while closed; while half-open only for the one
    /// probe (the caller must then report [`success`](Self::success) or
    /// [`failure`](Self::failure)). `Err(wait)` otherwise.
    pub fn allow(&self, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        match inner.opened_at {
            None => Ok(()),
            Some(at) if now.saturating_duration_since(at) < self.open_for => {
                Err(self.open_for - now.saturating_duration_since(at))
            }
            Some(_) => match inner.probe_since {
                Some(since) if now.saturating_duration_since(since) < PROBE_LEASE => Err(PROBE_BUSY_WAIT),
                _ => {
                    inner.probe_since = Some(now);
                    Ok(())
                }
            },
        }
    }

    /// How long a caller refused by [`allow`](Self::allow) should wait, without taking the probe.
    pub fn wait(&self, now: Instant) -> Duration {
        let inner = self.lock();
        match inner.opened_at {
            Some(at) if now.saturating_duration_since(at) < self.open_for => {
                self.open_for - now.saturating_duration_since(at)
            }
            Some(_) if inner.probe_since.is_some() => PROBE_BUSY_WAIT,
            _ => Duration::ZERO,
        }
    }

    pub fn success(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.probe_since = None;
        if inner.opened_at.is_some() {
            inner.half_open_successes += 1;
            if inner.half_open_successes >= self.close_after {
                inner.opened_at = None;
                inner.half_open_successes = 0;
                tracing::info!(breaker = self.name, "circuit breaker closed");
            }
        }
        metrics::gauge!(BREAKER_STATE, "provider" => self.name).set(self.state_locked(&inner).as_f64());
    }

    pub fn failure(&self, now: Instant) {
        let mut inner = self.lock();
        inner.failures += 1;
        inner.probe_since = None;
        let half_open = inner.opened_at.is_some();
        if half_open || inner.failures >= self.failure_threshold {
            if !half_open {
                tracing::warn!(breaker = self.name, failures = inner.failures, "circuit breaker opened");
            }
            inner.opened_at = Some(now);
            inner.half_open_successes = 0;
        }
        metrics::gauge!(BREAKER_STATE, "provider" => self.name).set(self.state_locked(&inner).as_f64());
    }

    fn state_locked(&self, inner: &Inner) -> BreakerState {
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() < self.open_for => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_five_failures_half_opens_then_closes_after_two_successes() {
        let b = Breaker::new("test");
        let t0 = Instant::now();
        for _ in 0..4 {
            b.failure(t0);
            assert!(b.allow(t0).is_ok());
        }
        b.failure(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(b.allow(t0 + Duration::from_secs(59)).is_err());
        let later = t0 + Duration::from_secs(61);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert!(b.allow(later).is_ok());
        b.success();
        assert_ne!(b.state(later), BreakerState::Closed, "one success is not enough");
        b.success();
        assert_eq!(b.state(later), BreakerState::Closed);
    }

    /// Issue 13: the half-open breaker let 4, then 2 probes through at once.
    #[test]
    fn half_open_lets_exactly_one_probe_through_however_many_ask_at_once() {
        let b = std::sync::Arc::new(Breaker::with("test", 1, Duration::from_millis(10), 2));
        let t0 = Instant::now();
        b.failure(t0);
        let later = t0 + Duration::from_millis(20);
        let gate = std::sync::Arc::new(std::sync::Barrier::new(64));
        let admitted: usize = (0..64)
            .map(|_| {
                let (b, gate) = (b.clone(), gate.clone());
                std::thread::spawn(move || {
                    gate.wait();
                    b.allow(later).is_ok() as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 1);
        assert_eq!(b.wait(later), PROBE_BUSY_WAIT);
        // The probe succeeds: the next probe (one again) may go; a second success closes it.
        b.success();
        assert!(b.allow(later).is_ok());
        assert!(b.allow(later).is_err(), "the second probe is out");
        b.success();
        assert_eq!(b.state(later), BreakerState::Closed);
        assert!((0..10).all(|_| b.allow(later).is_ok()), "closed: everything goes");
    }

    #[test]
    fn a_probe_that_never_reports_frees_its_slot_after_the_lease() {
        let b = Breaker::with("test", 1, Duration::from_millis(10), 2);
        let t0 = Instant::now();
        b.failure(t0);
        let later = t0 + Duration::from_millis(20);
        assert!(b.allow(later).is_ok());
        assert!(b.allow(later + Duration::from_secs(29)).is_err());
        assert!(b.allow(later + PROBE_LEASE).is_ok());
    }

    #[test]
    fn a_failure_while_half_open_opens_again() {
        let b = Breaker::with("test", 1, Duration::from_millis(10), 2);
        let t0 = Instant::now();
        b.failure(t0);
        let later = t0 + Duration::from_millis(20);
        assert!(b.allow(later).is_ok());
        b.failure(later);
        assert!(b.allow(later + Duration::from_millis(1)).is_err());
    }
}
