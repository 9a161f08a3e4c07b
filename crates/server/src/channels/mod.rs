//! Clients of the outside world: WhatsApp Cloud API, e-mail (SMTP, IMAP), speech-to-text, and the circuit breaker
//! they share. Every base URL comes from configuration so tests point them at local fakes.

pub mod breaker;
pub mod email;
pub mod stt;
pub mod whatsapp;

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
