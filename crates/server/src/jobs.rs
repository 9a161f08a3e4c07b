//! The worker for the one durable job queue (`jobs` table). Every later capability — outbox
//! sends, feed polls, payment links, reminders — registers a handler here instead of building
//! its own queue. Jobs are claimed with a lease (so several instances can run workers), run
//! outside the claiming transaction, retried with exponential backoff and jitter, and recorded
//! as failed for good when they run out of attempts.

use crate::metrics as m;
use crate::state::AppState;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use store::{Job, NewJob};
use tokio::sync::watch;

/// What a handler says about a job it ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// A recurring job: run again at this time.
    Again(DateTime<Utc>),
    /// A transient failure: retry with backoff while attempts remain.
    Retry(String),
    /// A permanent failure: record it and stop.
    Fail(String),
}

#[async_trait]
pub trait Handler: Send + Sync {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome;
}

pub const HOLD_SWEEPER: &str = "hold_sweeper";
pub const MAINTENANCE: &str = "maintenance";
const SWEEP_EVERY_S: i64 = 30;
const MAINTENANCE_EVERY_S: i64 = 3600;
/// Jobs claimed at once by `run_once` (tests); the running worker uses `POSADA_WORKER_JOBS`.
const BATCH: u32 = 32;

/// Delay before retry `attempt` (1-based): 2 s doubling, capped at 10 min, ±20 % jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base_ms = 2_000f64 * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let capped = base_ms.min(600_000.0);
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    Duration::milliseconds((capped * jitter) as i64)
}

pub struct Worker {
    id: String,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    state: AppState,
}

impl Worker {
    pub fn new(state: AppState) -> Worker {
        let id = format!("{}-{:08x}", hostname(), rand::random::<u32>());
        let mut w = Worker { id, handlers: HashMap::new(), state };
        w.register(HOLD_SWEEPER, Arc::new(HoldSweeper));
        w.register(MAINTENANCE, Arc::new(Maintenance));
        w.register(crate::ical_sync::import::POLL_JOB, Arc::new(FeedPoll));
        w.register(crate::ical_sync::import::OWNER_ALERT_JOB, Arc::new(OwnerAlert));
        w.register(crate::chat::PROCESS_INBOUND, Arc::new(ProcessInbound));
        w.register(crate::chat::SEND_MESSAGE, Arc::new(SendMessage));
        w.register(crate::chat::HOLD_REMINDER, Arc::new(HoldTimer));
        w.register(crate::chat::HOLD_EXPIRED, Arc::new(HoldTimer));
        w.register(crate::payments::LINK_JOB, Arc::new(PaymentLinkJob));
        w.register(crate::payments::PROCESS_JOB, Arc::new(ProcessPayment));
        w.register(crate::payments::REJECTED_NOTICE_JOB, Arc::new(RejectedNotice));
        w.register(crate::payments::balance::BALANCE_LINK_JOB, Arc::new(BalanceLinkJob));
        w.register(crate::payments::balance::BALANCE_NOTICE_JOB, Arc::new(BalanceNotice));
        w.register(crate::payments::refunds::REFUND_JOB, Arc::new(RefundJob));
        w.register(crate::payments::refunds::REFUND_NOTICE_JOB, Arc::new(RefundNotice));
        w.register(crate::payments::refunds::PROPOSE_JOB, Arc::new(ProposeRefund));
        w.register(crate::chat::email::POLL_JOB, Arc::new(EmailPoll));
        w.register(crate::backup::DAILY_JOB, Arc::new(DailyBackup));
        w.register(crate::stay_messages::JOB, Arc::new(StayMessage));
        w
    }

    pub fn register(&mut self, kind: &'static str, handler: Arc<dyn Handler>) {
        self.handlers.insert(kind, handler);
    }

    /// Makes sure the recurring jobs exist (one row each, whatever the number of instances).
    pub async fn ensure_recurring(&self) -> anyhow::Result<()> {
        let now = self.state.clock.now();
        let email = self.state.config.email.is_some().then_some(crate::chat::email::POLL_JOB);
        for kind in [HOLD_SWEEPER, MAINTENANCE].into_iter().chain(email) {
            let job = NewJob {
                kind: kind.into(),
                payload: serde_json::json!({}),
                dedupe_key: Some(format!("recurring:{kind}")),
                run_at: now,
                max_attempts: 1_000_000,
            };
            self.state.store.enqueue_job(&job, now).await?;
        }
        self.state.booking.importer().ensure_poll_jobs().await?;
        if let Some(at) = self.state.config.backup.daily_at {
            let job = NewJob {
                kind: crate::backup::DAILY_JOB.into(),
                payload: serde_json::json!({}),
                dedupe_key: Some(format!("recurring:{}", crate::backup::DAILY_JOB)),
                run_at: crate::backup::next_daily(now, at, self.state.config.timezone),
                max_attempts: 1_000_000,
            };
            self.state.store.enqueue_job(&job, now).await?;
        }
        Ok(())
    }

    /// Claims and runs due jobs once; returns how many ran.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let store = &self.state.store;
        let lease = std::time::Duration::from_secs(self.state.config.job_lease_s);
        let jobs = store.claim_jobs(&self.id, self.state.clock.now(), lease, BATCH).await?;
        let n = jobs.len();
        let runs = jobs.iter().map(|job| self.run_job(job));
        futures_join_all(runs).await;
        Ok(n)
    }

    async fn run_job(&self, job: &Job) {
        let started = std::time::Instant::now();
        let outcome = match self.handlers.get(job.kind.as_str()) {
            Some(h) => h.run(job, &self.state).await,
            None => Outcome::Fail(format!("no handler for job kind {:?}", job.kind)),
        };
        metrics::histogram!(m::JOB_DURATION, "kind" => job.kind.clone()).record(started.elapsed().as_secs_f64());
        let now = self.state.clock.now();
        let store = &self.state.store;
        let (result, recorded) = match &outcome {
            Outcome::Done => ("done", store.complete_job(job.id, &self.id, now).await),
            Outcome::Again(at) => ("done", store.reschedule_job(job.id, &self.id, *at, now).await),
            Outcome::Retry(e) => {
                let retry_at = (job.attempts < job.max_attempts).then(|| now + backoff(job.attempts));
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed, will retry");
                let result = if retry_at.is_some() { "retried" } else { "failed" };
                (result, store.fail_job(job.id, &self.id, e, retry_at, now).await)
            }
            Outcome::Fail(e) => {
                tracing::error!(job = job.id, kind = %job.kind, error = %e, "job failed for good");
                ("failed", store.fail_job(job.id, &self.id, e, None, now).await)
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(job = job.id, error = %e, "could not record job outcome (lease lost?)");
        }
        metrics::counter!(m::JOBS_PROCESSED, "kind" => job.kind.clone(), "result" => result).increment(1);
    }

    async fn update_gauges(&self) {
        if let Ok(o) = self.state.store.outbox_stats(self.state.clock.now()).await {
            metrics::gauge!(m::OUTBOX_BACKLOG_AGE).set(o.oldest_queued_age_s);
        }
        if let Ok(stats) = self.state.store.job_stats(self.state.clock.now()).await {
            metrics::gauge!(m::JOBS_BACKLOG).set(stats.backlog as f64);
            metrics::gauge!(m::JOBS_OLDEST_AGE).set(stats.oldest_age_s);
            metrics::gauge!(m::JOBS_FAILED).set(stats.failed as f64);
        }
        crate::backup::update_gauges(&self.state).await;
    }

    /// Runs jobs until `shutdown` turns true: up to `POSADA_WORKER_JOBS` at once, claiming more as soon as
    /// one finishes or new work is signalled (`AppState::wake`), else every 500 ms. On shutdown
    /// the jobs in hand are finished, then leases are released.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = self.ensure_recurring().await {
            tracing::error!(error = %e, "could not enqueue recurring jobs");
        }
        let this = Arc::new(self);
        let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut last_gauges = std::time::Instant::now() - std::time::Duration::from_secs(60);
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Claim in batches (half the slots free, or idle): a claim per finished job would
            // double the database work under load.
            // One contact's messages keep their order whatever the concurrency: the inbox and
            // outbox handlers wait for older ones.
            let most = this.state.config.worker_jobs;
            let free = most.saturating_sub(running.len() as u32);
            if free >= most.div_ceil(2) || running.is_empty() {
                let lease = std::time::Duration::from_secs(this.state.config.job_lease_s);
                match this.state.store.claim_jobs(&this.id, this.state.clock.now(), lease, free).await {
                    Ok(jobs) => {
                        for job in jobs {
                            let worker = this.clone();
                            running.spawn(async move { worker.run_job(&job).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "job claim failed"),
                }
            }
            if last_gauges.elapsed() >= std::time::Duration::from_secs(5) {
                this.update_gauges().await;
                last_gauges = std::time::Instant::now();
            }
            tokio::select! {
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = this.state.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
        while running.join_next().await.is_some() {}
        match this.state.store.release_leases(&this.id, this.state.clock.now()).await {
            Ok(n) if n > 0 => tracing::info!(released = n, "released job leases"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not release job leases"),
        }
        tracing::info!("worker stopped");
    }
}

/// Runs futures concurrently on this task (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "posada".into())
}

/// Expires holds whose time is up, every 30 s. Safe in several instances: one row, one lease.
struct HoldSweeper;

#[async_trait]
impl Handler for HoldSweeper {
    async fn run(&self, _job: &Job, state: &AppState) -> Outcome {
        match state.booking.expire_stale_holds().await {
            Ok(codes) if !codes.is_empty() => {
                tracing::info!(count = codes.len(), "expired stale holds")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "hold sweep failed"),
        }
        Outcome::Again(state.clock.now() + Duration::seconds(SWEEP_EVERY_S))
    }
}

/// Hourly housekeeping: forget idempotency keys older than 48 h; plan every upcoming stay's
/// automatic messages again (a crash between a confirmation and its plan loses nothing).
struct Maintenance;

#[async_trait]
impl Handler for Maintenance {
    async fn run(&self, _job: &Job, state: &AppState) -> Outcome {
        let cutoff = state.clock.now() - Duration::hours(crate::http::idempotency::KEEP_HOURS);
        if let Err(e) = state.store.purge_idempotency(cutoff).await {
            tracing::warn!(error = %e, "idempotency purge failed");
        }
        if let Err(e) = state.booking.schedule_upcoming_stay_messages().await {
            tracing::warn!(error = %e, "planning the stays' messages failed");
        }
        Outcome::Again(state.clock.now() + Duration::seconds(MAINTENANCE_EVERY_S))
    }
}

/// Polls one imported calendar, then schedules its next poll (interval ± jitter). A feed that was
/// removed ends its job.
struct FeedPoll;

#[async_trait]
impl Handler for FeedPoll {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        let Some(feed_id) = job.payload.get("feed_id").and_then(|v| v.as_i64()) else {
            return Outcome::Fail("payload without feed_id".into());
        };
        let feed = match state.store.get_feed(feed_id).await {
            Ok(f) => f,
            Err(store::StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let importer = state.booking.importer();
        importer.sync_feed(&feed, importer.fetch_timeout()).await;
        Outcome::Again(importer.next_poll())
    }
}

/// Tells the owner something needs a human: a WhatsApp message to the owner's phone and an
/// e-mail to the owner's address through the outbox, or the log when neither is configured.
struct OwnerAlert;

#[async_trait]
impl Handler for OwnerAlert {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        let text = job.payload.get("text").and_then(|v| v.as_str()).unwrap_or("");
        state.chat.alert_owner(text, job.payload.get("only").and_then(|v| v.as_str())).await
    }
}

/// The inbox: one stored provider event → one committed turn.
struct ProcessInbound;

#[async_trait]
impl Handler for ProcessInbound {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("event_id").and_then(|v| v.as_i64()) {
            Some(id) => state.chat.process_inbound(id).await,
            None => Outcome::Fail("payload without event_id".into()),
        }
    }
}

/// The outbox: sends one message.
struct SendMessage;

#[async_trait]
impl Handler for SendMessage {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("message_id").and_then(|v| v.as_i64()) {
            Some(id) => state.chat.send(id).await,
            None => Outcome::Fail("payload without message_id".into()),
        }
    }
}

/// Creates a hold's payment link.
struct PaymentLinkJob;

#[async_trait]
impl Handler for PaymentLinkJob {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("code").and_then(|v| v.as_str()) {
            Some(code) => state.payments.create_link(code).await,
            None => Outcome::Fail("payload without code".into()),
        }
    }
}

/// Creates (or reuses) a reservation's balance link and sends it to the guest.
struct BalanceLinkJob;

#[async_trait]
impl Handler for BalanceLinkJob {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        state.payments.balance_link_job(job.id, &job.payload).await
    }
}

/// Thanks the guest for a balance payment (and tells the owner), once.
struct BalanceNotice;

#[async_trait]
impl Handler for BalanceNotice {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        state.payments.balance_notice(&job.payload).await
    }
}

/// A cancelled reservation's approved refund, through the provider.
struct RefundJob;

#[async_trait]
impl Handler for RefundJob {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("refund_id").and_then(|v| v.as_i64()) {
            Some(id) => state.payments.run_refund(id).await,
            None => Outcome::Fail("payload without refund_id".into()),
        }
    }
}

/// A guest cancelled a paid booking in the chat: its refund, by the policy.
struct ProposeRefund;

#[async_trait]
impl Handler for ProposeRefund {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        let actor = job.payload.get("actor").and_then(|v| v.as_str()).unwrap_or("guest");
        match job.payload.get("code").and_then(|v| v.as_str()) {
            Some(code) => state.payments.propose_refund_job(code, actor).await,
            None => Outcome::Fail("payload without code".into()),
        }
    }
}

/// Tells the guest their refund is done.
struct RefundNotice;

#[async_trait]
impl Handler for RefundNotice {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("refund_id").and_then(|v| v.as_i64()) {
            Some(id) => state.payments.refund_notice(id).await,
            None => Outcome::Fail("payload without refund_id".into()),
        }
    }
}

/// A payment notification from the inbox.
struct ProcessPayment;

#[async_trait]
impl Handler for ProcessPayment {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("event_id").and_then(|v| v.as_i64()) {
            Some(id) => state.payments.process_notification(id).await,
            None => Outcome::Fail("payload without event_id".into()),
        }
    }
}

/// Tells the guest a card was rejected (once per hold).
struct RejectedNotice;

#[async_trait]
impl Handler for RejectedNotice {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        match job.payload.get("code").and_then(|v| v.as_str()) {
            Some(code) => state.payments.rejected_notice(code).await,
            None => Outcome::Fail("payload without code".into()),
        }
    }
}

/// Reads the guests' mailbox (IMAP) into the inbox, every `POSADA_EMAIL_POLL_SECONDS`.
struct EmailPoll;

#[async_trait]
impl Handler for EmailPoll {
    async fn run(&self, _job: &Job, state: &AppState) -> Outcome {
        state.chat.poll_mailbox().await
    }
}

/// The daily backup (`POSADA_BACKUP_DAILY_AT`).
struct DailyBackup;

#[async_trait]
impl Handler for DailyBackup {
    async fn run(&self, _job: &Job, state: &AppState) -> Outcome {
        crate::backup::daily(state).await
    }
}

/// One of a stay's automatic messages (`forced`: the owner's "send now").
struct StayMessage;

#[async_trait]
impl Handler for StayMessage {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        let forced = job.payload.get("forced").and_then(|v| v.as_bool()).unwrap_or(false);
        match job.payload.get("id").and_then(|v| v.as_i64()) {
            Some(id) => state.chat.run_stay_message(id, forced, &state.payments).await,
            None => Outcome::Fail("payload without id".into()),
        }
    }
}

/// A hold's reminder (15 min before) or expiry notice.
struct HoldTimer;

#[async_trait]
impl Handler for HoldTimer {
    async fn run(&self, job: &Job, state: &AppState) -> Outcome {
        state.chat.run_timer(&job.kind, &job.payload).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_with_jitter() {
        for (attempt, base) in [(1u32, 2_000i64), (2, 4_000), (3, 8_000), (12, 600_000), (40, 600_000)] {
            let d = backoff(attempt).num_milliseconds();
            assert!(d >= base * 8 / 10 && d <= base * 12 / 10, "attempt {attempt}: {d}");
        }
    }
}
