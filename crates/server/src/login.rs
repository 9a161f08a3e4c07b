//! Password logins, the JSON API's and the dashboard's alike: one throttle for failed attempts
//! and one gate for the password checks themselves.
//!
//! - The throttle is keyed by account *and* address: an address that keeps failing on an account
//!   waits longer and longer (1 s, 2 s, 4 s… up to a cap), and an account that fails too often
//!   from everywhere refuses only the addresses that failed on it, so nobody can lock the owner
//!   out from a place where they have not failed. An address failing on many accounts is
//!   refused too. Per instance, in memory, like the rate limit.
//! - The gate bounds argon2 checks running at once (each takes ~19 MiB): the rest wait briefly,
//!   then get 429 with `Retry-After`, so a burst of logins cannot exhaust memory.

use crate::config::LoginConfig;
use crate::metrics as m;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{AdminUser, StoreError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Both halves, shared by both logins of an instance.
pub struct Login {
    pub gate: PasswordGate,
    pub throttle: LoginThrottle,
}

impl Login {
    pub fn new(config: &LoginConfig) -> Login {
        Login { gate: PasswordGate::new(config.concurrency, config.queue_wait), throttle: LoginThrottle::new(config) }
    }
}

/// Which login an attempt came through (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Api,
    Dashboard,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Api => "api",
            Door::Dashboard => "dashboard",
        }
    }
}

/// Why an attempt was refused before its password was checked; each carries seconds to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This address failed on this account several times just now.
    Delay(u64),
    /// This account failed too often from everywhere, and this address is one that failed.
    Account(u64),
    /// This address failed on too many accounts.
    Address(u64),
    /// Every password check is taken: a moment later there will be room.
    Busy(u64),
}

impl Refusal {
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::Delay(s) | Refusal::Account(s) | Refusal::Address(s) | Refusal::Busy(s) => s.max(1),
        }
    }

    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Delay(_) => "delay",
            Refusal::Account(_) => "account",
            Refusal::Address(_) => "address",
            Refusal::Busy(_) => "busy",
        }
    }

    pub fn message(self) -> String {
        let wait = wait_in_words(self.retry_after());
        match self {
            Refusal::Delay(_) => format!("Demasiados intentos fallidos. Esperá {wait} y probá de nuevo."),
            Refusal::Account(_) => {
                format!("Demasiados intentos fallidos para esta cuenta. Esperá {wait} y probá de nuevo.")
            }
            Refusal::Address(_) => {
                format!("Demasiados intentos fallidos desde esta conexión. Esperá {wait} y probá de nuevo.")
            }
            Refusal::Busy(_) => "Hay muchos ingresos al mismo tiempo. Probá de nuevo en unos segundos.".to_string(),
        }
    }

    /// Counted and logged (the account as typed and the address; never the password).
    pub fn record(self, door: Door, account: &str, ip: IpAddr) {
        metrics::counter!(m::LOGIN_THROTTLED, "login" => door.as_str(), "reason" => self.reason()).increment(1);
        tracing::warn!(
            login = door.as_str(),
            reason = self.reason(),
            account = ?account,
            %ip,
            retry_after = self.retry_after(),
            "login throttled"
        );
    }
}

fn wait_in_words(secs: u64) -> String {
    match secs {
        0 | 1 => "1 segundo".to_string(),
        2..=59 => format!("{secs} segundos"),
        _ => match secs.div_ceil(60) {
            1 => "1 minuto".to_string(),
            m => format!("{m} minutos"),
        },
    }
}

/// Beyond this many remembered keys per kind, the ones not holding anybody back are forgotten.
const MAX_KEYS: usize = 100_000;

struct Pair {
    failures: u32,
    last: DateTime<Utc>,
}

#[derive(Default)]
struct Fails {
    pairs: HashMap<(String, IpAddr), Pair>,
    /// The newest failures per account (at most the ceiling's worth).
    accounts: HashMap<String, VecDeque<DateTime<Utc>>>,
    addresses: HashMap<IpAddr, VecDeque<DateTime<Utc>>>,
}

pub struct LoginThrottle {
    free_failures: u32,
    max_delay_s: u64,
    account_max: u32,
    address_max: u32,
    window: chrono::Duration,
    fails: Mutex<Fails>,
}

/// Seconds until the oldest of the newest `max` failures leaves the window, when there are `max`.
fn over_ceiling(
    list: Option<&VecDeque<DateTime<Utc>>>,
    max: u32,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Option<u64> {
    let list = list?;
    if max == 0 || list.len() < max as usize {
        return None;
    }
    let oldest = list[list.len() - max as usize];
    let left = (oldest + window - now).num_seconds();
    (left > 0).then_some(left as u64)
}

fn remember(list: &mut VecDeque<DateTime<Utc>>, now: DateTime<Utc>, max: u32) {
    list.push_back(now);
    while list.len() > (max as usize).max(1) {
        list.pop_front();
    }
}

impl LoginThrottle {
    pub fn new(c: &LoginConfig) -> LoginThrottle {
        LoginThrottle {
            free_failures: c.free_failures,
            max_delay_s: c.max_delay_s,
            account_max: c.account_max_failures,
            address_max: c.address_max_failures,
            window: chrono::Duration::from_std(c.window).unwrap_or(chrono::Duration::minutes(15)),
            fails: Mutex::new(Fails::default()),
        }
    }

    /// The wait after `failures` failures of one address on one account.
    fn delay(&self, failures: u32) -> u64 {
        if self.max_delay_s == 0 || failures < self.free_failures.max(1) {
            return 0;
        }
        let doublings = (failures - self.free_failures.max(1)).min(30);
        (1u64 << doublings).min(self.max_delay_s)
    }

    /// Whether `ip` may try a password on `account` now.
    pub fn check(&self, account: &str, ip: IpAddr, now: DateTime<Utc>) -> Result<(), Refusal> {
        let fails = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        let pair = fails.pairs.get(&(account.to_string(), ip)).filter(|p| now - p.last < self.window);
        if let Some(p) = pair {
            let ready = p.last + chrono::Duration::seconds(self.delay(p.failures) as i64);
            if ready > now {
                return Err(Refusal::Delay(((ready - now).num_milliseconds().max(0) as u64).div_ceil(1000)));
            }
        }
        if let Some(wait) = over_ceiling(fails.addresses.get(&ip), self.address_max, self.window, now) {
            return Err(Refusal::Address(wait));
        }
        // Only addresses that failed on this account: the owner elsewhere still gets in.
        if pair.is_some()
            && let Some(wait) = over_ceiling(fails.accounts.get(account), self.account_max, self.window, now)
        {
            return Err(Refusal::Account(wait));
        }
        Ok(())
    }

    pub fn failed(&self, account: &str, ip: IpAddr, now: DateTime<Utc>) {
        let mut fails = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.window;
        if fails.pairs.len() >= MAX_KEYS {
            let free = self.free_failures;
            fails.pairs.retain(|_, p| now - p.last < window);
            if fails.pairs.len() >= MAX_KEYS {
                fails.pairs.retain(|_, p| p.failures >= free);
            }
        }
        for_key_limit(&mut fails.accounts, now, window);
        for_key_limit(&mut fails.addresses, now, window);
        let pair = fails.pairs.entry((account.to_string(), ip)).or_insert(Pair { failures: 0, last: now });
        if now - pair.last >= window {
            pair.failures = 0;
        }
        pair.failures = pair.failures.saturating_add(1);
        pair.last = now;
        remember(fails.accounts.entry(account.to_string()).or_default(), now, self.account_max);
        remember(fails.addresses.entry(ip).or_default(), now, self.address_max);
    }

    /// The right password: this address starts afresh on this account (the account's and the
    /// address's counts stay, they are about others too).
    pub fn succeeded(&self, account: &str, ip: IpAddr) {
        self.fails.lock().unwrap_or_else(|p| p.into_inner()).pairs.remove(&(account.to_string(), ip));
    }
}

fn for_key_limit<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, VecDeque<DateTime<Utc>>>,
    now: DateTime<Utc>,
    window: chrono::Duration,
) {
    if map.len() >= MAX_KEYS {
        map.retain(|_, l| l.back().is_some_and(|t| now - *t < window));
    }
    if map.len() >= MAX_KEYS {
        // Still full of live keys: forget the half that failed least.
        let mut sizes: Vec<usize> = map.values().map(VecDeque::len).collect();
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        map.retain(|_, l| l.len() > median);
    }
}

/// At most `size` password checks at once; each runs off the async runtime and keeps its place
/// until it is done, even if the caller went away.
pub struct PasswordGate {
    permits: Arc<Semaphore>,
    wait: Duration,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// A place at the gate: [`Turn::verify`] uses it; dropped, it lets the next login in.
pub struct Turn {
    permit: Option<OwnedSemaphorePermit>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl PasswordGate {
    pub fn new(size: usize, wait: Duration) -> PasswordGate {
        PasswordGate {
            permits: Arc::new(Semaphore::new(size.max(1))),
            wait,
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits up to the configured time for a place.
    pub async fn enter(&self) -> Result<Turn, Refusal> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Turn { permit: Some(permit), running: self.running.clone(), peak: self.peak.clone() }),
            _ => Err(Refusal::Busy(1)),
        }
    }

    /// The most checks that ran at once since this instance started.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Turn {
    /// [`crate::auth::verify_password`] holding this place. The place goes into the blocking
    /// task and comes back with the answer: if the caller went away meanwhile, it is freed only
    /// when the check is done.
    pub async fn verify(&mut self, password: SecretString, hash: String) -> bool {
        let (permit, running, peak) = (self.permit.take(), self.running.clone(), self.peak.clone());
        let done = tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            metrics::gauge!(m::LOGIN_CHECKS_RUNNING).set(now as f64);
            let ok = crate::auth::verify_password_now(&password, &hash);
            let left = running.fetch_sub(1, Ordering::SeqCst) - 1;
            metrics::gauge!(m::LOGIN_CHECKS_RUNNING).set(left as f64);
            (ok, permit)
        })
        .await;
        match done {
            Ok((ok, permit)) => {
                self.permit = permit;
                ok
            }
            Err(_) => false,
        }
    }
}

/// What one login attempt came to.
pub enum Attempt {
    /// The right password of an active user.
    In(AdminUser),
    /// Wrong password, unknown or inactive user: the same answer for all three.
    Wrong,
    Refused(Refusal),
}

/// One attempt through either login: throttle, gate, password. `account` as typed.
pub async fn attempt(
    s: &AppState,
    door: Door,
    account: &str,
    password: SecretString,
    ip: IpAddr,
) -> Result<Attempt, StoreError> {
    let account: String = account.trim().to_lowercase().chars().take(254).collect();
    let login = &s.login;
    let refused = |r: Refusal| {
        r.record(door, &account, ip);
        Ok(Attempt::Refused(r))
    };
    if let Err(r) = login.throttle.check(&account, ip, s.clock.now()) {
        return refused(r);
    }
    // The place is kept until the outcome is recorded, so the next in line sees this failure.
    let mut turn = match login.gate.enter().await {
        Ok(turn) => turn,
        Err(r) => return refused(r),
    };
    // Failures may have landed while this one waited: a queue of guesses stops at once.
    if let Err(r) = login.throttle.check(&account, ip, s.clock.now()) {
        return refused(r);
    }
    let user = match s.store.get_admin_user(&account).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound | StoreError::Invalid(_)) => None,
        Err(e) => return Err(e),
    };
    // Unknown users cost the same check, so timing does not tell which e-mails exist.
    let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| crate::auth::DUMMY_HASH.clone());
    let ok = turn.verify(password, hash).await;
    let outcome = match user {
        Some(user) if ok && user.active => {
            login.throttle.succeeded(&account, ip);
            Ok(Attempt::In(user))
        }
        _ => {
            login.throttle.failed(&account, ip, s.clock.now());
            tracing::info!(login = door.as_str(), %ip, "login refused: wrong e-mail or password");
            Ok(Attempt::Wrong)
        }
    };
    drop(turn);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoginConfig {
        LoginConfig {
            concurrency: 2,
            queue_wait: Duration::from_millis(50),
            free_failures: 3,
            max_delay_s: 300,
            account_max_failures: 5,
            address_max_failures: 8,
            window: Duration::from_secs(15 * 60),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn waits_grow_per_account_and_address() {
        let t = LoginThrottle::new(&config());
        let now = Utc::now();
        for _ in 0..3 {
            assert_eq!(t.check("a@x", ip(1), now), Ok(()));
            t.failed("a@x", ip(1), now);
        }
        assert_eq!(t.check("a@x", ip(1), now), Err(Refusal::Delay(1)));
        let later = now + chrono::Duration::seconds(1);
        assert_eq!(t.check("a@x", ip(1), later), Ok(()));
        t.failed("a@x", ip(1), later);
        assert_eq!(t.check("a@x", ip(1), later), Err(Refusal::Delay(2)));
        t.failed("a@x", ip(1), later);
        assert_eq!(t.check("a@x", ip(1), later), Err(Refusal::Delay(4)));
        // Another address, another account: untouched.
        assert_eq!(t.check("a@x", ip(2), later), Ok(()));
        assert_eq!(t.check("b@x", ip(1), later), Ok(()));
        // Capped.
        assert_eq!(t.delay(40), 300);
        // The right password starts this address afresh.
        t.succeeded("a@x", ip(1));
        assert_eq!(t.check("a@x", ip(1), later), Ok(()));
    }

    #[test]
    fn the_account_ceiling_spares_addresses_that_did_not_fail() {
        let t = LoginThrottle::new(&config());
        let now = Utc::now();
        for i in 0..5 {
            t.failed("owner@x", ip(10 + i), now);
        }
        assert_eq!(t.check("owner@x", ip(10), now), Err(Refusal::Account(900)));
        assert_eq!(t.check("owner@x", ip(99), now), Ok(()));
        assert_eq!(t.check("owner@x", ip(10), now + chrono::Duration::minutes(15)), Ok(()));
    }

    #[test]
    fn an_address_failing_on_many_accounts_is_refused() {
        let t = LoginThrottle::new(&config());
        let now = Utc::now();
        for i in 0..8 {
            t.failed(&format!("u{i}@x"), ip(1), now);
        }
        assert_eq!(t.check("new@x", ip(1), now), Err(Refusal::Address(900)));
        assert_eq!(t.check("new@x", ip(2), now), Ok(()));
    }

    #[test]
    fn waits_read_as_spanish() {
        assert_eq!(wait_in_words(1), "1 segundo");
        assert_eq!(wait_in_words(4), "4 segundos");
        assert_eq!(wait_in_words(60), "1 minuto");
        assert_eq!(wait_in_words(900), "15 minutos");
    }

    #[tokio::test]
    async fn the_gate_bounds_checks_and_refuses_when_full() {
        let gate = PasswordGate::new(1, Duration::from_millis(20));
        let first = gate.enter().await.unwrap();
        assert_eq!(gate.enter().await.err(), Some(Refusal::Busy(1)));
        drop(first);
        assert!(gate.enter().await.is_ok());
    }
}
