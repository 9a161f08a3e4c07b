use crate::booking::Booking;
use crate::chat::Chat;
use crate::clock::Clock;
use crate::config::Config;
use crate::http::ratelimit::RateLimiter;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use store::Store;

/// Shared by every handler and worker.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub booking: Booking,
    pub chat: Chat,
    /// Wakes the job worker when new work was queued (an inbound message).
    pub wake: Arc<tokio::sync::Notify>,
    /// Rendered iCal exports per cabin, by calendar version.
    pub export_cache: Arc<crate::ical_sync::ExportCache>,
    pub payments: crate::payments::Payments,
    /// The sandbox checkout's fake of Mercado Pago (demo only).
    pub sandbox_mp: Arc<crate::http::sandbox_pay::FakeMercadoPago>,
    pub clock: Clock,
    pub metrics: PrometheusHandle,
    pub limiter: Arc<RateLimiter>,
    /// Failed webhook signatures, per address.
    pub bad_signatures: Arc<RateLimiter>,
    /// Both logins' throttle and password-check gate (per instance).
    pub login: Arc<crate::login::Login>,
    /// The dashboard's per-instance state (live updates).
    pub ui: Arc<crate::admin_ui::UiState>,
    /// The last deep health check, shared by every caller for a moment (health is cheap to ask).
    pub health: Arc<crate::http::health::HealthCache>,
    /// Turns on when the instance starts shutting down: open streams (SSE, long polls) end.
    pub stopping: Stopping,
}

/// Shutdown as seen by long-lived responses: a stream selects on [`Stopping::wait`] and ends, so
/// graceful shutdown never waits on a client that keeps a connection open.
#[derive(Clone)]
pub struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    pub fn new(rx: tokio::sync::watch::Receiver<bool>) -> Stopping {
        Stopping(rx)
    }

    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown began (at once if it already did).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        // A dropped sender means the application is gone: stop too.
        let _ = rx.wait_for(|stopping| *stopping).await;
    }
}
