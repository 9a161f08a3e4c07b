//! Start-up and shutdown: connect and migrate, make sure the owner account exists, bind, serve
//! HTTP and run the job worker until a signal; then stop accepting, finish in-flight requests
//! and the current job, release leases and close the pool.

use crate::booking::Booking;
use crate::clock::Clock;
use crate::config::Config;
use crate::http;
use crate::http::ratelimit::RateLimiter;
use crate::jobs::Worker;
use crate::state::AppState;
use anyhow::Context;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    run_worker: bool,
    /// Turned on by the shutdown signal; `state.stopping` watches it.
    stop_tx: watch::Sender<bool>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Application::build_with_clock(config, Clock::system()).await
    }

    pub async fn build_with_clock(mut config: Config, clock: Clock) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(config.bind).await.with_context(|| format!("cannot bind {}", config.bind))?;
        if config.public_url_defaulted {
            config.public_url = format!("http://{}", listener.local_addr()?);
        }
        if config.payments.provider == crate::config::PaymentProvider::Sandbox {
            // The sandbox checkout talks to our own fake of Mercado Pago's API.
            config.payments.api_base = format!("{}/sandbox/mp", config.public_url);
        }
        let config = Arc::new(config);
        let store = store::connect(&config.database_url, config.db_max_connections)
            .await
            .with_context(|| format!("cannot open the database ({})", redact_url(&config.database_url)))?;
        let booking = Booking::new(store.clone(), config.clone(), clock.clone());
        let chat = crate::chat::Chat::new(store.clone(), booking.clone(), config.clone(), clock.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = AppState {
            stopping: crate::state::Stopping::new(stop_rx),
            payments: crate::payments::Payments::new(
                store.clone(),
                booking.clone(),
                chat.clone(),
                config.clone(),
                clock.clone(),
            ),
            sandbox_mp: Arc::new(crate::http::sandbox_pay::FakeMercadoPago::default()),
            export_cache: Default::default(),
            wake: Default::default(),
            chat,
            booking,
            limiter: Arc::new(RateLimiter::new(config.rate_limit_per_min, config.rate_limit_burst)),
            bad_signatures: Arc::new(RateLimiter::new(30, 10)),
            login: Arc::new(crate::login::Login::new(&config.login)),
            ui: Default::default(),
            health: Default::default(),
            metrics: crate::metrics::install(),
            config: config.clone(),
            store,
            clock,
        };
        ensure_owner(&state).await?;
        crate::property::seed_defaults(state.store.as_ref(), &config, state.clock.now()).await?;
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| format!("cannot bind {addr}"))?),
            None => None,
        };
        Ok(Application { listener, metrics_listener, state, run_worker: true, stop_tx })
    }

    /// Tests drive the queue by hand.
    pub fn without_worker(mut self) -> Application {
        self.run_worker = false;
        self
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then stops within `POSADA_SHUTDOWN_GRACE_S` whatever
    /// the clients do: open streams (the dashboard's SSE, the sandbox's long polls) end at once,
    /// in-flight requests and the worker's current jobs get the grace, and connections still open
    /// when it runs out are dropped.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop_tx = self.stop_tx.clone();
        let stop_rx = stop_tx.subscribe();
        let grace = std::time::Duration::from_secs(self.state.config.shutdown_grace_s);
        let worker = self.run_worker.then(|| {
            let w = Worker::new(self.state.clone());
            tokio::spawn(w.run(stop_rx.clone()))
        });
        // New mail is read at once where the IMAP server has IDLE; the poll job stays the fallback.
        let mail_watch = (self.run_worker && self.state.config.email.is_some()).then(|| {
            let chat = self.state.chat.clone();
            let (wake, stop) = (self.state.wake.clone(), stop_rx.clone());
            tokio::spawn(async move { chat.watch_mailbox(wake, stop).await })
        });
        // Histogram samples pile up in the recorder until something drains them; a scrape does,
        // but most owners run no Prometheus: drain them every few seconds whatever happens.
        {
            let (handle, mut stop) = (self.state.metrics.clone(), stop_rx.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = every.tick() => handle.run_upkeep(),
                        _ = stop.changed() => break,
                    }
                }
            });
        }
        if let Some(l) = self.metrics_listener {
            let state = self.state.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let app =
                    axum::Router::new().route("/metrics", axum::routing::get(http::health::metrics)).with_state(state);
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            });
        }
        let app = http::router(self.state.clone());
        tracing::info!(addr = %self.listener.local_addr()?, backend = self.state.store.backend().as_str(), "listening");
        // The grace runs from the signal, for everything: requests, streams and the worker.
        let signalled: Arc<std::sync::OnceLock<tokio::time::Instant>> = Default::default();
        let (signal_stop, signal_at) = (stop_tx.clone(), signalled.clone());
        let serve = axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = signal_at.set(tokio::time::Instant::now());
                tracing::info!("shutting down: no new connections, finishing in-flight requests");
                let _ = signal_stop.send(true);
            })
            .into_future();
        let stopping = self.state.stopping.clone();
        let deadline = |signalled: Arc<std::sync::OnceLock<tokio::time::Instant>>| {
            signalled.get().map(|at| *at + grace).unwrap_or_else(|| tokio::time::Instant::now() + grace)
        };
        let out_of_grace = {
            let signalled = signalled.clone();
            async move {
                stopping.wait().await;
                tokio::time::sleep_until(deadline(signalled)).await;
            }
        };
        tokio::select! {
            served = serve => served?,
            // A client that keeps a connection open cannot hold the process: it is dropped.
            _ = out_of_grace => tracing::warn!("connections still open after the grace period: closed"),
        }
        let _ = stop_tx.send(true);
        if let Some(w) = worker
            && tokio::time::timeout_at(deadline(signalled), w).await.is_err()
        {
            tracing::warn!("worker did not stop within the grace period");
        }
        if let Some(w) = mail_watch {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), w).await;
        }
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the future is
/// first polled: a signal that arrives while the app is still starting stops it cleanly too.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = wait(term) => {}, _ = wait(int) => {} }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `POSADA_ADMIN_EMAIL` with a password (or a ready hash) makes sure that owner exists.
async fn ensure_owner(state: &AppState) -> anyhow::Result<()> {
    let c = &state.config;
    let Some(email) = &c.admin_email else {
        return Ok(());
    };
    let hash = match (&c.admin_password_hash, &c.admin_password) {
        (Some(h), _) => h.expose_secret().to_string(),
        (None, Some(p)) => {
            if let Ok(existing) = state.store.get_admin_user(email).await {
                // Keep the stored hash when the password did not change (no re-hash on every start).
                if crate::auth::verify_password(p.clone(), existing.password_hash.clone()).await {
                    return Ok(());
                }
            }
            crate::auth::hash_password(p.clone()).await?
        }
        (None, None) => return Ok(()),
    };
    state.store.upsert_admin_user(email, &hash, store::Role::Owner, state.clock.now()).await?;
    tracing::info!("owner account ensured");
    Ok(())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(super::redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redact_url("sqlite://posada.db"), "sqlite://posada.db");
    }
}
