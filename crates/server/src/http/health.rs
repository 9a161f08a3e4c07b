//! Readiness (no I/O), deep health, and Prometheus metrics.

use crate::metrics as m;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;

pub async fn readyz(State(s): State<AppState>) -> Json<serde_json::Value> {
    use crate::build_info as b;
    Json(json!({
        "status": "ready",
        "timestamp": s.clock.now().to_rfc3339(),
        "version": b::VERSION,
        "commit": b::COMMIT,
        "schema_version": b::schema_version(),
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Healthy => "healthy",
            Level::Degraded => "degraded",
            Level::Unhealthy => "unhealthy",
        }
    }
}

/// How long one deep check answers every caller. A flood of `healthz` costs at most one round
/// of queries per this long per instance.
pub const HEALTH_CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// The last deep check; the lock also makes concurrent callers wait for one check, not run many.
#[derive(Default)]
pub struct HealthCache(tokio::sync::Mutex<Option<(chrono::DateTime<chrono::Utc>, StatusCode, serde_json::Value)>>);

/// 200 when healthy or degraded, 503 when unhealthy, so `curl -f` and proxies react. The
/// answer is at most [`HEALTH_CACHE_FOR`] old (`age_s` says how old).
pub async fn healthz(State(s): State<AppState>) -> Response {
    let (code, body) = cached_health(&s).await;
    (code, Json(body)).into_response()
}

async fn cached_health(s: &AppState) -> (StatusCode, serde_json::Value) {
    let mut cache = s.health.0.lock().await;
    // The service's clock (not the wall's): what health reports moves with it.
    let now = s.clock.now();
    if let Some((at, code, body)) = cache.as_ref()
        && let Ok(age) = (now - *at).to_std()
        && age < HEALTH_CACHE_FOR
    {
        let mut body = body.clone();
        body["age_s"] = json!((age.as_secs_f64() * 1000.0).round() / 1000.0);
        return (*code, body);
    }
    let (code, mut body) = deep_health(s).await;
    *cache = Some((now, code, body.clone()));
    body["age_s"] = json!(0.0);
    (code, body)
}

async fn deep_health(s: &AppState) -> (StatusCode, serde_json::Value) {
    let now = s.clock.now();
    let mut overall = Level::Healthy;
    let started = Instant::now();
    let ping = tokio::time::timeout(std::time::Duration::from_secs(5), s.store.ping()).await;
    let latency = started.elapsed();
    metrics::histogram!(m::DB_PING).record(latency.as_secs_f64());
    let latency_ms = (latency.as_secs_f64() * 100_000.0).round() / 100.0;
    let database = match ping {
        Ok(Ok(())) if latency.as_millis() as u64 > s.config.health_db_slow_ms => {
            overall = overall.max(Level::Degraded);
            json!({"status": "slow", "latency_ms": latency_ms, "backend": s.store.backend().as_str()})
        }
        Ok(Ok(())) => {
            json!({"status": "ok", "latency_ms": latency_ms, "backend": s.store.backend().as_str()})
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: database error");
            overall = Level::Unhealthy;
            json!({"status": "error", "latency_ms": latency_ms, "error": "database unreachable"})
        }
        Err(_) => {
            overall = Level::Unhealthy;
            json!({"status": "error", "latency_ms": latency_ms, "error": "database timeout"})
        }
    };
    let mut database = database;
    if let Some(ago) = crate::error::storage_full_within(std::time::Duration::from_secs(60)) {
        // Reads and pings work on a full disk; bookings do not.
        overall = overall.max(Level::Degraded);
        database["status"] = json!("full");
        database["error"] = json!("disk full: writes fail");
        database["last_write_failure_s"] = json!(ago);
    }
    let jobs = match s.store.job_stats(now).await {
        Ok(stats) => {
            let stale = stats.oldest_age_s > s.config.health_jobs_max_age_s as f64;
            if stale {
                overall = overall.max(Level::Degraded);
            }
            json!({
                "status": if stale { "behind" } else { "ok" },
                "backlog": stats.backlog,
                "oldest_age_s": stats.oldest_age_s,
                "failed": stats.failed,
            })
        }
        Err(_) => {
            overall = Level::Unhealthy;
            json!({"status": "error"})
        }
    };
    let ical_sync = match s.store.list_feeds(None).await {
        Ok(feeds) => {
            let ic = &s.config.ical;
            // A feed that never synced counts from when it was added.
            let ages: Vec<(i64, f64)> = feeds
                .iter()
                .map(|f| (f.unit_id, (now - f.last_success_at.unwrap_or(f.created_at)).num_seconds().max(0) as f64))
                .collect();
            let mut per_unit: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
            for (unit, age) in &ages {
                let e = per_unit.entry(*unit).or_insert(0.0);
                *e = e.max(*age);
            }
            for (unit, age) in &per_unit {
                metrics::gauge!(m::ICAL_LAST_SUCCESS_AGE, "unit" => unit.to_string()).set(*age);
            }
            let oldest = ages.iter().map(|a| a.1).fold(0.0, f64::max);
            let status = if oldest > ic.stale_unhealthy_min as f64 * 60.0 {
                overall = Level::Unhealthy;
                "error"
            } else if oldest > ic.stale_degraded_min as f64 * 60.0 {
                overall = overall.max(Level::Degraded);
                "stale"
            } else {
                "ok"
            };
            json!({
                "status": status,
                "feeds": feeds.len(),
                "failing": feeds.iter().filter(|f| f.last_error.is_some()).count(),
                "oldest_success_age_s": oldest,
            })
        }
        Err(_) => json!({"status": "error"}),
    };
    let outbox = match s.store.outbox_stats(now).await {
        Ok(o) => {
            // A reply that has waited this long means guests are not hearing from us.
            let stale = o.oldest_queued_age_s > s.config.health_outbox_max_age_s as f64;
            if stale {
                overall = overall.max(Level::Degraded);
            }
            json!({
                "status": if stale { "behind" } else { "ok" },
                "queued": o.queued,
                "oldest_age_s": o.oldest_queued_age_s,
                "max_age_s": s.config.health_outbox_max_age_s,
            })
        }
        Err(_) => json!({"status": "error"}),
    };
    let mut breakers = serde_json::Map::new();
    let instant = std::time::Instant::now();
    let mut any_open = false;
    // Every provider we call has a breaker, and every one of them is here.
    let channels = s.chat.adapters.all().into_iter().map(|a| (a.channel().as_str(), a.breaker()));
    for (name, breaker) in channels.chain([
        ("stt", s.chat.stt.as_ref().map(|t| t.breaker.clone())),
        (s.payments.provider().map_or("payments", |p| p.api_name()), s.payments.provider().map(|p| p.breaker())),
    ]) {
        if let Some(b) = breaker {
            let state = b.state(instant);
            any_open |= state == crate::channels::breaker::BreakerState::Open;
            breakers.insert(name.into(), json!(format!("{state:?}").to_lowercase()));
        }
    }
    if any_open {
        overall = overall.max(Level::Degraded);
    }
    let body = json!({
        "status": overall.as_str(),
        "timestamp": now.to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"database": database, "jobs": jobs, "ical_sync": ical_sync, "outbox": outbox, "breakers": breakers},
    });
    metrics::gauge!(m::HEALTH_STATUS).set(overall as u8 as f64);
    let code = if overall == Level::Unhealthy { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (code, body)
}

/// `/metrics` on the private listener (`POSADA_METRICS_BIND`): open, nothing else is there.
pub async fn metrics(State(s): State<AppState>) -> Response {
    // Each scrape carries a recent health_status (the alert rules watch it).
    let _ = cached_health(&s).await;
    s.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render()).into_response()
}

/// `/metrics` on the main port. The counters are business data (bookings, payments), so:
/// not here at all when `POSADA_METRICS_BIND` is set; otherwise only with
/// `Authorization: Bearer $POSADA_METRICS_TOKEN`; without a token only in the demo (sandbox on).
pub async fn metrics_main(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let off = || {
        crate::error::ApiError::not_found(
            "Las métricas no se sirven en este puerto: configurá POSADA_METRICS_BIND o POSADA_METRICS_TOKEN.",
        )
        .into_response()
    };
    if s.config.metrics_bind.is_some() {
        return off();
    }
    match &s.config.metrics_token {
        Some(token) => {
            use secrecy::ExposeSecret;
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !crate::ical_sync::same_token(sent.trim(), token.expose_secret()) {
                return crate::error::ApiError::unauthorized("Las métricas piden Authorization: Bearer <token>.")
                    .into_response();
            }
        }
        None if s.config.sandbox => {}
        None => return off(),
    }
    metrics(State(s)).await
}
