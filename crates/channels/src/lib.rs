//! Posada's channels to guests: the WhatsApp Cloud API, e-mail (SMTP, IMAP) and speech-to-text
//! clients and the circuit breaker they share. Each client takes its own small config struct (the
//! server maps its configuration into it) and this crate never imports the server or the store.
//! Every base URL comes from configuration so tests point them at local fakes. Metrics go through
//! the `metrics` facade under the names the server describes and the tests read.

pub mod adapter;
pub mod breaker;
pub mod email;
pub mod meta;
pub mod sandbox;
pub mod stt;
pub mod whatsapp;

/// WhatsApp's `*bold*` runs in `s`, each replaced by `wrap(inner)` (a lone or spaced `*` is not
/// formatting): e-mail makes them `<strong>`, Instagram and Messenger plain words.
pub fn map_bold(s: &str, wrap: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('*') {
        let after = &rest[start + 1..];
        match after.find('*') {
            Some(end) if end > 0 && !after[..end].starts_with(' ') && !after[..end].ends_with(' ') => {
                out.push_str(&rest[..start]);
                out.push_str(&wrap(&after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub use adapter::{Adapter, Adapters};

/// Why a send did not go through, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Timeouts, 5xx, 429: try again later.
    Retryable(String),
    /// Other 4xx: retrying will not help.
    Permanent(String),
    /// The provider's breaker is open: nothing was sent.
    BreakerOpen,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retryable(m) => write!(f, "retryable: {m}"),
            SendError::Permanent(m) => write!(f, "permanent: {m}"),
            SendError::BreakerOpen => f.write_str("circuit breaker open"),
        }
    }
}

/// A provider's answer to a read-only check (`posada doctor`): whatever the status, the JSON
/// body (`Null` when it was not JSON) and the `Date` header (for the clock-skew check).
#[derive(Debug, Clone)]
pub struct Probe {
    pub status: u16,
    pub body: serde_json::Value,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
}

/// Sends a check request; `Err` only when no HTTP answer came (unreachable, timeout, TLS).
pub async fn probe(req: reqwest::RequestBuilder) -> Result<Probe, String> {
    let r = req.timeout(std::time::Duration::from_secs(10)).send().await.map_err(|e| {
        if e.is_timeout() {
            "no contestó en 10 segundos".to_string()
        } else {
            let mut text = e.without_url_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                text = format!("{text}: {inner}");
                source = inner.source();
            }
            text
        }
    })?;
    let status = r.status().as_u16();
    let date = r
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    Ok(Probe { status, body, date })
}

/// Classifies an HTTP status from a provider.
pub fn classify_status(status: u16, body: &str) -> SendError {
    let short: String = body.chars().take(300).collect();
    if status == 429 || status >= 500 || status == 408 {
        SendError::Retryable(format!("HTTP {status}: {short}"))
    } else {
        SendError::Permanent(format!("HTTP {status}: {short}"))
    }
}

pub fn classify_reqwest(e: &reqwest::Error) -> SendError {
    SendError::Retryable(if e.is_timeout() { "timeout".to_string() } else { e.without_url_string() })
}

trait WithoutUrl {
    fn without_url_string(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_string(&self) -> String {
        let mut s = self.to_string();
        if let Some(url) = self.url() {
            s = s.replace(url.as_str(), "<url>");
        }
        s
    }
}
