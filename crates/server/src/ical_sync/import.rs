//! The importer: fetch each feed (conditional GET, timeout, size limit) outside any
//! transaction, parse it tolerantly, then apply it in one short transaction. A failed or
//! non-iCal fetch changes nothing; one failing feed never stops the others.

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics as m;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use store::{ApplyRules, Feed, FeedChanges, IncomingEvent, NewJob, Store};

pub const POLL_JOB: &str = "ical_poll";
pub const OWNER_ALERT_JOB: &str = "owner_alert";

#[derive(Clone)]
pub struct Importer {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    http: reqwest::Client,
    clock: Clock,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub feed_id: i64,
    pub unit_id: i64,
    pub source: String,
    /// `updated`, `not_modified` or `error`.
    pub result: &'static str,
    pub error_type: Option<&'static str>,
    pub error: Option<String>,
    pub changes: Option<FeedChanges>,
}

enum Fetched {
    NotModified,
    Body { text: String, etag: Option<String>, last_modified: Option<String> },
}

#[derive(Debug)]
struct FetchError {
    kind: &'static str,
    message: String,
}

impl Importer {
    pub fn new(store: Arc<dyn Store>, config: Arc<Config>, clock: Clock) -> Importer {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Posada/", env!("CARGO_PKG_VERSION"), " (calendar sync)"))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("HTTP client");
        Importer { store, config, http, clock }
    }

    pub fn fetch_timeout(&self) -> Duration {
        Duration::from_secs(self.config.ical.fetch_timeout_s)
    }

    /// One round over every feed.
    pub async fn sync_all(&self) -> store::StoreResult<Vec<SyncReport>> {
        let feeds = self.store.list_feeds(None).await?;
        let mut reports = Vec::with_capacity(feeds.len());
        for feed in &feeds {
            reports.push(self.sync_feed(feed, self.fetch_timeout()).await);
        }
        Ok(reports)
    }

    /// The feeds of one cabin, e.g. right before a hold is confirmed.
    pub async fn sync_unit(&self, unit_id: i64, timeout: Duration) -> store::StoreResult<Vec<SyncReport>> {
        let feeds = self.store.list_feeds(Some(unit_id)).await?;
        let mut reports = Vec::with_capacity(feeds.len());
        for feed in &feeds {
            reports.push(self.sync_feed(feed, timeout).await);
        }
        Ok(reports)
    }

    pub async fn sync_feed(&self, feed: &Feed, timeout: Duration) -> SyncReport {
        let mut report = SyncReport {
            feed_id: feed.id,
            unit_id: feed.unit_id,
            source: feed.source.clone(),
            result: "error",
            error_type: None,
            error: None,
            changes: None,
        };
        match self.fetch_and_apply(feed, timeout).await {
            Ok(None) => report.result = "not_modified",
            Ok(Some(changes)) => {
                report.result = "updated";
                metrics::counter!(m::ICAL_EVENTS_IMPORTED).increment(changes.added as u64);
                self.on_conflicts(feed, &changes).await;
                report.changes = Some(changes);
            }
            Err(e) => {
                // The feed's events stay as they were; only its status records the failure.
                metrics::counter!(m::ICAL_SYNC_ERRORS, "error_type" => e.kind).increment(1);
                tracing::warn!(feed = feed.id, unit = feed.unit_id, error_type = e.kind, error = %e.message, "feed sync failed");
                let status = Err(format!("{}: {}", e.kind, e.message));
                if let Err(store_error) = self.store.record_feed_attempt(feed.id, status, self.clock.now()).await {
                    tracing::error!(feed = feed.id, error = %store_error, "could not record the feed's failure");
                }
                report.error_type = Some(e.kind);
                report.error = Some(e.message);
            }
        }
        if report.result != "error" {
            metrics::gauge!(m::ICAL_LAST_SUCCESS_AGE, "unit" => feed.unit_id.to_string()).set(0.0);
        }
        metrics::counter!(m::ICAL_SYNC, "result" => report.result).increment(1);
        report
    }

    /// `Ok(None)` for 304 Not Modified, `Ok(Some(changes))` for an applied feed.
    async fn fetch_and_apply(&self, feed: &Feed, timeout: Duration) -> Result<Option<FeedChanges>, FetchError> {
        let store_error = |e: store::StoreError| FetchError { kind: "store", message: e.to_string() };
        let (text, etag, last_modified) = match self.fetch(feed, timeout).await? {
            Fetched::NotModified => {
                self.store.record_feed_attempt(feed.id, Ok(()), self.clock.now()).await.map_err(store_error)?;
                return Ok(None);
            }
            Fetched::Body { text, etag, last_modified } => (text, etag, last_modified),
        };
        let events = ical::parse_feed(&text, self.config.timezone)
            .map_err(|e| FetchError { kind: "not_ical", message: e.to_string() })?;
        let incoming: Vec<IncomingEvent> = events
            .into_iter()
            .filter_map(|e| {
                domain::Stay::new(e.check_in, e.check_out).ok().map(|stay| IncomingEvent {
                    uid: e.uid,
                    stay,
                    kind: e.kind.as_str().to_string(),
                    summary: e.summary,
                    reference: e.reference,
                })
            })
            .collect();
        let rules = ApplyRules {
            replace_blocks_wholesale: feed.source == "airbnb",
            missing_grace: chrono::Duration::hours(self.config.ical.missing_grace_hours as i64),
        };
        let changes = self
            .store
            .apply_feed(feed.id, &incoming, etag.as_deref(), last_modified.as_deref(), rules, self.clock.now())
            .await
            .map_err(store_error)?;
        Ok(Some(changes))
    }

    async fn fetch(&self, feed: &Feed, timeout: Duration) -> Result<Fetched, FetchError> {
        let mut req = self.http.get(&feed.url).timeout(timeout);
        if let Some(etag) = &feed.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &feed.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        let mut response = req.send().await.map_err(classify)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError { kind: "http_status", message: format!("HTTP {}", status.as_u16()) });
        }
        let header = |name: reqwest::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from)
        };
        let (etag, last_modified) = (header(reqwest::header::ETAG), header(reqwest::header::LAST_MODIFIED));
        let max = self.config.ical.max_bytes;
        if response.content_length().is_some_and(|n| n as usize > max) {
            return Err(FetchError { kind: "too_large", message: format!("more than {max} bytes") });
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > max {
                return Err(FetchError { kind: "too_large", message: format!("more than {max} bytes") });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { text: String::from_utf8_lossy(&body).into_owned(), etag, last_modified })
    }

    /// Fetches and parses a feed without applying anything (`posada doctor`): how many events it
    /// has, or (error type, message). An unconditional GET: a 304 would prove nothing.
    pub async fn check_feed(&self, feed: &Feed) -> Result<usize, (&'static str, String)> {
        let unconditional = Feed { etag: None, last_modified: None, ..feed.clone() };
        match self.fetch(&unconditional, self.fetch_timeout()).await {
            Ok(Fetched::Body { text, .. }) => ical::parse_feed(&text, self.config.timezone)
                .map(|events| events.len())
                .map_err(|e| ("not_ical", e.to_string())),
            Ok(Fetched::NotModified) => Ok(0),
            Err(e) => Err((e.kind, e.message)),
        }
    }

    /// A double booking happened elsewhere: say so loudly and tell the owner.
    async fn on_conflicts(&self, feed: &Feed, changes: &FeedChanges) {
        for c in &changes.new_conflicts {
            metrics::counter!(m::ICAL_CONFLICTS).increment(1);
            tracing::error!(
                reservation = %c.reservation_code,
                feed = feed.id,
                source = %c.source,
                check_in = %c.stay.check_in,
                check_out = %c.stay.check_out,
                "double booking: an imported event overlaps one of our stays"
            );
            let text = format!(
                "⚠️ Posible doble reserva: {} ocupa del {} al {} y se superpone con la reserva {}. Revisalo en el panel.",
                source_name(&c.source),
                c.stay.check_in.format("%d/%m/%Y"),
                c.stay.check_out.format("%d/%m/%Y"),
                c.reservation_code
            );
            let job = NewJob {
                kind: OWNER_ALERT_JOB.into(),
                payload: serde_json::json!({"text": text, "reservation": c.reservation_code, "conflict_id": c.id}),
                dedupe_key: Some(format!("conflict:{}", c.id)),
                run_at: self.clock.now(),
                max_attempts: 20,
            };
            if let Err(e) = self.store.enqueue_job(&job, self.clock.now()).await {
                tracing::error!(error = %e, "could not queue the owner alert");
            }
        }
    }

    /// Makes sure each feed has its polling job (one row per feed, whatever the instances).
    pub async fn ensure_poll_jobs(&self) -> store::StoreResult<()> {
        let now = self.clock.now();
        for feed in self.store.list_feeds(None).await? {
            self.store.enqueue_job(&poll_job(feed.id, now), now).await?;
        }
        Ok(())
    }

    /// When the next poll of a feed runs: the interval ± 20 %.
    pub fn next_poll(&self) -> chrono::DateTime<chrono::Utc> {
        let base = self.config.ical.poll_minutes as f64 * 60.0;
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        self.clock.now() + chrono::Duration::seconds((base * jitter) as i64)
    }
}

pub fn poll_job(feed_id: i64, now: chrono::DateTime<chrono::Utc>) -> NewJob {
    NewJob {
        kind: POLL_JOB.into(),
        payload: serde_json::json!({"feed_id": feed_id}),
        dedupe_key: Some(format!("{POLL_JOB}:{feed_id}")),
        run_at: now,
        max_attempts: 1_000_000,
    }
}

fn source_name(source: &str) -> &str {
    match source {
        "airbnb" => "Airbnb",
        "booking" => "Booking",
        "vrbo" => "Vrbo",
        _ => "Un calendario importado",
    }
}

fn classify(e: reqwest::Error) -> FetchError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else {
        "network"
    };
    FetchError { kind, message: e.without_url().to_string() }
}
