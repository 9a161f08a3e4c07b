//! Prometheus metrics. Every name here is listed in docs/metrics.md (a test checks).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const RESERVATIONS_CREATED: &str = "reservations_created_total";
pub const RESERVATION_CONFLICTS: &str = "reservations_conflicts_total";
pub const RESERVATIONS_CONFIRMED: &str = "reservations_confirmed_total";
pub const RESERVATIONS_CANCELLED: &str = "reservations_cancelled_total";
pub const RESERVATIONS_EXPIRED: &str = "reservations_expired_total";
pub const JOBS_PROCESSED: &str = "jobs_processed_total";
pub const JOB_DURATION: &str = "job_duration_seconds";
pub const JOBS_BACKLOG: &str = "jobs_backlog";
pub const JOBS_OLDEST_AGE: &str = "jobs_oldest_age_seconds";
pub const JOBS_FAILED: &str = "jobs_failed";
pub const RATE_LIMITED: &str = "http_rate_limited_total";
pub const IDEMPOTENT_REPLAYS: &str = "idempotency_replays_total";
pub const DB_PING: &str = "db_ping_seconds";
pub const ICAL_SYNC: &str = "ical_sync_total";
pub const ICAL_SYNC_ERRORS: &str = "ical_sync_errors_total";
pub const ICAL_LAST_SUCCESS_AGE: &str = "ical_last_success_age_seconds";
pub const ICAL_EVENTS_IMPORTED: &str = "ical_events_imported";
pub const ICAL_CONFLICTS: &str = "ical_conflicts_total";
pub const ICAL_EXPORTS: &str = "ical_exports_total";
pub const INBOUND_MESSAGES: &str = "inbound_messages_total";
pub const MESSAGE_PROCESSING: &str = "message_processing_seconds";
pub const OUTBOX_SENT: &str = "outbox_sent_total";
pub const OUTBOX_FAILED: &str = "outbox_failed_total";
pub const OUTBOX_RETRIED: &str = "outbox_retried_total";
pub const OUTBOX_BACKLOG_AGE: &str = "outbox_oldest_queued_age_seconds";
/// Reported by the breakers themselves (crates/channels).
pub const BREAKER_STATE: &str = channels::breaker::BREAKER_STATE;
pub const WEBHOOKS: &str = "webhooks_total";
pub const PREFERENCES: &str = "payment_preferences_total";
pub const PAYMENTS: &str = "payments_total";
pub const PAYMENT_CONFIRMATIONS: &str = "payment_confirmations_total";
pub const LATE_PAYMENTS: &str = "late_payments_total";
pub const AMOUNT_MISMATCHES: &str = "payment_amount_mismatches_total";
pub const EMAILS_RECEIVED: &str = "emails_received_total";
pub const EMAILS_IGNORED: &str = "emails_ignored_total";
pub const EMAILS_SENT: &str = channels::email::EMAILS_SENT;
pub const EMAILS_FAILED: &str = channels::email::EMAILS_FAILED;
pub const EMAIL_POLLS: &str = "email_polls_total";
pub const EMAIL_IDLE: &str = "email_idle_connected";
pub const BACKUP_LAST_SUCCESS: &str = "backup_last_success_timestamp_seconds";
pub const BACKUPS: &str = "backups_total";
pub const DISK_FREE: &str = "disk_free_bytes";
pub const DISK_SIZE: &str = "disk_size_bytes";
pub const HEALTH_STATUS: &str = "health_status";
pub const LOGIN_THROTTLED: &str = "login_throttled_total";
pub const REVIEWS: &str = "reviews_total";
pub const LOGIN_CHECKS_RUNNING: &str = "login_checks_running";

pub const ALL: &[&str] = &[
    HTTP_REQUESTS,
    HTTP_DURATION,
    RESERVATIONS_CREATED,
    RESERVATION_CONFLICTS,
    RESERVATIONS_CONFIRMED,
    RESERVATIONS_CANCELLED,
    RESERVATIONS_EXPIRED,
    JOBS_PROCESSED,
    JOB_DURATION,
    JOBS_BACKLOG,
    JOBS_OLDEST_AGE,
    JOBS_FAILED,
    RATE_LIMITED,
    IDEMPOTENT_REPLAYS,
    DB_PING,
    ICAL_SYNC,
    ICAL_SYNC_ERRORS,
    ICAL_LAST_SUCCESS_AGE,
    ICAL_EVENTS_IMPORTED,
    ICAL_CONFLICTS,
    ICAL_EXPORTS,
    INBOUND_MESSAGES,
    MESSAGE_PROCESSING,
    OUTBOX_SENT,
    OUTBOX_FAILED,
    OUTBOX_RETRIED,
    OUTBOX_BACKLOG_AGE,
    BREAKER_STATE,
    WEBHOOKS,
    PREFERENCES,
    PAYMENTS,
    PAYMENT_CONFIRMATIONS,
    LATE_PAYMENTS,
    AMOUNT_MISMATCHES,
    EMAILS_RECEIVED,
    EMAILS_IGNORED,
    EMAILS_SENT,
    EMAILS_FAILED,
    EMAIL_POLLS,
    EMAIL_IDLE,
    BACKUP_LAST_SUCCESS,
    BACKUPS,
    DISK_FREE,
    DISK_SIZE,
    HEALTH_STATUS,
    LOGIN_THROTTLED,
    LOGIN_CHECKS_RUNNING,
    REVIEWS,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (tests start many apps in one process).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; keep ours for render.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    metrics::describe_histogram!(HTTP_DURATION, "HTTP request latency by method and route");
    metrics::describe_counter!(RESERVATIONS_CREATED, "Reservations created, by channel and status");
    metrics::describe_counter!(RESERVATION_CONFLICTS, "Holds refused because the nights were taken, by channel");
    metrics::describe_counter!(RESERVATIONS_CONFIRMED, "Reservations confirmed, by channel");
    metrics::describe_counter!(RESERVATIONS_CANCELLED, "Reservations cancelled, by channel");
    metrics::describe_counter!(RESERVATIONS_EXPIRED, "Holds expired by the sweeper");
    metrics::describe_counter!(JOBS_PROCESSED, "Background jobs run, by kind and result");
    metrics::describe_histogram!(JOB_DURATION, "Background job run time by kind");
    metrics::describe_gauge!(JOBS_BACKLOG, "Jobs due or running");
    metrics::describe_gauge!(JOBS_OLDEST_AGE, "Age of the oldest due job");
    metrics::describe_gauge!(JOBS_FAILED, "Jobs that failed for good");
    metrics::describe_counter!(RATE_LIMITED, "Requests refused by the per-IP rate limit");
    metrics::describe_counter!(IDEMPOTENT_REPLAYS, "Responses replayed for a repeated Idempotency-Key");
    metrics::describe_histogram!(DB_PING, "Database round trip measured by the health check");
    metrics::describe_counter!(ICAL_SYNC, "Feed fetches by result (updated, not_modified, error)");
    metrics::describe_counter!(ICAL_SYNC_ERRORS, "Failed feed fetches by error type");
    metrics::describe_gauge!(ICAL_LAST_SUCCESS_AGE, "Seconds since each cabin's oldest feed last synced");
    metrics::describe_counter!(ICAL_EVENTS_IMPORTED, "Imported calendar events first seen");
    metrics::describe_counter!(ICAL_CONFLICTS, "Double bookings found in imported calendars");
    metrics::describe_counter!(ICAL_EXPORTS, "Calendar exports served, by result (200, 304)");
    metrics::describe_counter!(INBOUND_MESSAGES, "Guest messages stored in the inbox, by channel and type");
    metrics::describe_histogram!(MESSAGE_PROCESSING, "From receipt to reply rows in the outbox, by message type");
    metrics::describe_counter!(OUTBOX_SENT, "Outbound messages sent, by channel");
    metrics::describe_counter!(OUTBOX_FAILED, "Outbound messages that failed for good, by channel");
    metrics::describe_counter!(OUTBOX_RETRIED, "Outbound send attempts that will be retried, by channel");
    metrics::describe_gauge!(OUTBOX_BACKLOG_AGE, "Age of the oldest queued outbound message");
    metrics::describe_gauge!(BREAKER_STATE, "Circuit breaker per provider: 0 closed, 1 half-open, 2 open");
    metrics::describe_counter!(WEBHOOKS, "Webhook deliveries by provider and result");
    metrics::describe_counter!(PREFERENCES, "Payment links (checkout preferences) by result");
    metrics::describe_counter!(PAYMENTS, "Payments fetched from the provider, by status");
    metrics::describe_counter!(
        PAYMENT_CONFIRMATIONS,
        "Reservations confirmed by a payment (late = after the hold lapsed)"
    );
    metrics::describe_counter!(LATE_PAYMENTS, "Payments after the hold lapsed whose nights were taken (refund)");
    metrics::describe_counter!(AMOUNT_MISMATCHES, "Approved payments that do not match their reservation");
    metrics::describe_counter!(EMAILS_RECEIVED, "Guest e-mails stored in the inbox (duplicates not counted)");
    metrics::describe_counter!(EMAILS_IGNORED, "E-mails read and never answered, by reason");
    metrics::describe_counter!(EMAILS_SENT, "E-mails accepted by the SMTP server");
    metrics::describe_counter!(EMAILS_FAILED, "E-mail send attempts that failed, by result (retry, permanent)");
    metrics::describe_counter!(
        EMAIL_POLLS,
        "Mailbox reads by result (ok, error: the poll job; idle: after an IDLE notice; idle_error: the IDLE connection lost)"
    );
    metrics::describe_gauge!(EMAIL_IDLE, "1 while this instance waits for new mail with IMAP IDLE");
    metrics::describe_gauge!(BACKUP_LAST_SUCCESS, "Unix time of the newest recorded backup (0: none yet)");
    metrics::describe_counter!(BACKUPS, "Daily backup job runs, by result (ok, error)");
    metrics::describe_gauge!(
        DISK_FREE,
        "Bytes available to the service on the file system of each directory (data, backups)"
    );
    metrics::describe_gauge!(HEALTH_STATUS, "What /api/v1/healthz says: 0 healthy, 1 degraded, 2 unhealthy");
    metrics::describe_counter!(
        LOGIN_THROTTLED,
        "Login attempts refused before the password was checked, by login (api, dashboard) and reason (delay, account, address, busy)"
    );
    metrics::describe_counter!(REVIEWS, "Stays rated by their guests in the chat, by stars");
    metrics::describe_gauge!(LOGIN_CHECKS_RUNNING, "Password checks (argon2) running now in this instance");
    metrics::describe_gauge!(DISK_SIZE, "Size of the file system of each directory (data, backups)");
}
