//! The e-mail channel's clients: SMTP out (`lettre`, rustls) behind a breaker, IMAP in
//! (`async-imap`, rustls or STARTTLS or plain on loopback).

pub mod channel;
pub mod read;
pub mod write;

use super::SendError;
use super::breaker::Breaker;
use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// Per SMTP command; a whole send stays well under a job lease.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Connecting, and each IMAP round trip.
const IMAP_TIMEOUT: Duration = Duration::from_secs(20);
/// E-mails the SMTP server accepted.
pub const EMAILS_SENT: &str = "emails_sent_total";
/// E-mails that did not go, by `result` (`retry`, `permanent`).
pub const EMAILS_FAILED: &str = "emails_failed_total";
/// Larger messages are not downloaded (marked seen and counted as ignored).
pub const MAX_MESSAGE_BYTES: u32 = 25 * 1024 * 1024;

/// How a mail server connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain, then `STARTTLS` (required: no credentials go out unencrypted).
    StartTls,
    /// No encryption at all: only for a server on the same machine (and the tests).
    None,
}

#[derive(Debug, Clone)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    pub tls: MailTls,
    pub user: String,
    pub password: SecretString,
    /// Trusted besides the public web roots.
    pub extra_roots: TrustedRoots,
}

/// Certificates trusted for the mail servers besides the public web roots
/// (`POSADA_EMAIL_CA_FILE`: a private CA or a self-signed server, PEM).
#[derive(Clone, Default)]
pub struct TrustedRoots(pub Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>);

impl std::fmt::Debug for TrustedRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedRoots({} extra)", self.0.len())
    }
}

impl TrustedRoots {
    /// Every certificate in a PEM file; none at all is an error (a wrong file, surely).
    pub fn from_pem_file(path: &str) -> Result<TrustedRoots, String> {
        use tokio_rustls::rustls::pki_types::{CertificateDer, pem::PemObject};
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{path} is not PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err(format!("{path} holds no certificate (expected -----BEGIN CERTIFICATE-----)"));
        }
        Ok(TrustedRoots(certs))
    }
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    pub breaker: Arc<Breaker>,
}

impl Mailer {
    /// `from_address` is ours: its domain is the name we greet the server with.
    pub fn new(s: &MailServer, from_address: &str) -> Result<Mailer, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
            .port(s.port)
            .timeout(Some(SMTP_TIMEOUT))
            .credentials(Credentials::new(s.user.clone(), s.password.expose_secret().to_string()))
            .hello_name(ClientId::Domain(from_address.rsplit('@').next().unwrap_or("localhost").to_string()));
        let params = || {
            let mut params = TlsParameters::builder(s.host.clone());
            for der in &s.extra_roots.0 {
                let cert = Certificate::from_der(der.to_vec()).map_err(|e| format!("POSADA_EMAIL_CA_FILE: {e}"))?;
                params = params.add_root_certificate(cert);
            }
            params.build().map_err(|e| format!("SMTP TLS for {}: {e}", s.host))
        };
        builder = match s.tls {
            MailTls::Tls => builder.tls(Tls::Wrapper(params()?)),
            MailTls::StartTls => builder.tls(Tls::Required(params()?)),
            MailTls::None => builder.tls(Tls::None),
        };
        Ok(Mailer { transport: builder.build(), breaker: Arc::new(Breaker::new("smtp")) })
    }

    /// Connects, negotiates TLS and logs in, then says goodbye (`posada doctor`).
    pub async fn check_login(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("el servidor SMTP cortó la conexión".into()),
            Err(e) => Err(format!("SMTP: {e}")),
        }
    }

    /// Sends one e-mail. 5xx answers are permanent; connection trouble, timeouts and 4xx are retried.
    pub async fn send(&self, message: lettre::Message) -> Result<(), SendError> {
        if self.breaker.allow(Instant::now()).is_err() {
            return Err(SendError::BreakerOpen);
        }
        let outcome = match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => {
                Err(SendError::Retryable(if e.is_timeout() { "SMTP timeout".into() } else { format!("SMTP: {e}") }))
            }
        };
        match &outcome {
            Err(SendError::Retryable(_)) => self.breaker.failure(Instant::now()),
            _ => self.breaker.success(),
        }
        outcome
    }
}

/// Any stream IMAP can run over (TCP, or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// A logged-in IMAP session with the guests' mailbox selected.
pub struct Inbox {
    session: Session<Box<dyn Io>>,
}

fn imap_err(what: &str, e: impl std::fmt::Display) -> String {
    format!("IMAP {what}: {e}")
}

async fn timed<T, E: std::fmt::Display>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(IMAP_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(imap_err(what, e)),
        Err(_) => Err(imap_err(what, "timed out")),
    }
}

fn tls_connector(extra: &TrustedRoots) -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    // A certificate the store cannot take (not a CA, say) simply verifies nothing.
    roots.add_parsable_certificates(extra.0.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn wrap_tls(server: &MailServer, tcp: tokio::net::TcpStream) -> Result<Box<dyn Io>, String> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(server.host.clone())
        .map_err(|e| imap_err("server name", e))?;
    let tls = timed("TLS handshake", tls_connector(&server.extra_roots).connect(name, tcp)).await?;
    Ok(Box::new(tls))
}

impl Inbox {
    pub async fn open(server: &MailServer, mailbox: &str) -> Result<Inbox, String> {
        let tcp = timed("connect", tokio::net::TcpStream::connect((server.host.as_str(), server.port))).await?;
        let client: async_imap::Client<Box<dyn Io>> = match server.tls {
            MailTls::Tls => greeted(async_imap::Client::new(wrap_tls(server, tcp).await?)).await?,
            MailTls::None => greeted(async_imap::Client::new(Box::new(tcp) as Box<dyn Io>)).await?,
            MailTls::StartTls => {
                let mut plain = greeted(async_imap::Client::new(tcp)).await?;
                timed("STARTTLS", plain.run_command_and_check_ok("STARTTLS", None)).await?;
                async_imap::Client::new(wrap_tls(server, plain.into_inner()).await?)
            }
        };
        let login = tokio::time::timeout(IMAP_TIMEOUT, client.login(&server.user, server.password.expose_secret()))
            .await
            .map_err(|_| imap_err("login", "timed out"))?;
        let mut session = login.map_err(|(e, _)| imap_err("login", e))?;
        timed("select", session.select(mailbox)).await?;
        Ok(Inbox { session })
    }

    /// Unseen messages' UIDs, oldest first, at most `limit`.
    pub async fn unseen(&mut self, limit: usize) -> Result<Vec<u32>, String> {
        let mut uids: Vec<u32> = timed("search", self.session.uid_search("UNSEEN")).await?.into_iter().collect();
        uids.sort_unstable();
        uids.truncate(limit);
        Ok(uids)
    }

    /// The message's size, then its bytes (without setting \Seen) when it is not too large.
    pub async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>, String> {
        let size = {
            let stream = timed("fetch size", self.session.uid_fetch(uid.to_string(), "(UID RFC822.SIZE)")).await?;
            let fetches: Vec<_> = timed("fetch size", stream.try_collect::<Vec<_>>()).await?;
            fetches.iter().find(|f| f.uid == Some(uid)).and_then(|f| f.size)
        };
        if size.is_some_and(|s| s > MAX_MESSAGE_BYTES) {
            return Ok(None);
        }
        let stream = timed("fetch", self.session.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")).await?;
        let fetches: Vec<_> = tokio::time::timeout(Duration::from_secs(120), stream.try_collect::<Vec<_>>())
            .await
            .map_err(|_| imap_err("fetch", "timed out"))?
            .map_err(|e| imap_err("fetch", e))?;
        Ok(fetches.iter().find(|f| f.uid == Some(uid) || f.uid.is_none()).and_then(|f| f.body().map(<[u8]>::to_vec)))
    }

    pub async fn mark_seen(&mut self, uid: u32) -> Result<(), String> {
        let stream = timed("store", self.session.uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")).await?;
        let _: Vec<_> = timed("store", stream.try_collect::<Vec<_>>()).await?;
        Ok(())
    }

    /// Whether the server announces IMAP IDLE (RFC 2177).
    pub async fn supports_idle(&mut self) -> Result<bool, String> {
        Ok(timed("capability", self.session.capabilities()).await?.has_str("IDLE"))
    }

    /// Waits in IDLE until the mailbox changes, `max` passes or `stop` turns true, then leaves
    /// IDLE (the session is usable again). Servers drop an IDLE after 30 minutes, and a
    /// connection that died silently is only noticed when we speak: keep `max` well below that.
    pub async fn idle(
        self,
        max: Duration,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(Inbox, Woken), String> {
        let mut handle = self.session.idle();
        timed("idle", handle.init()).await?;
        let woken = {
            let (wait, _interrupt) = handle.wait_with_timeout(max);
            tokio::select! {
                r = wait => match r.map_err(|e| imap_err("idle", e))? {
                    IdleResponse::NewData(_) => Woken::Changed,
                    IdleResponse::Timeout | IdleResponse::ManualInterrupt => Woken::Quiet,
                },
                _ = stop.wait_for(|s| *s) => Woken::Stopped,
            }
        };
        let session = timed("idle done", handle.done()).await?;
        // EXISTS/RECENT notices are also queued as unsolicited responses; nobody reads them.
        while session.unsolicited_responses.try_recv().is_ok() {}
        Ok((Inbox { session }, woken))
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
    }
}

/// Why an IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server told of a change (a new message, usually).
    Changed,
    /// Nothing happened for a while.
    Quiet,
    /// The service is shutting down.
    Stopped,
}

/// Reads the server's greeting.
async fn greeted<T: Io>(mut client: async_imap::Client<T>) -> Result<async_imap::Client<T>, String> {
    timed("greeting", async { client.read_response().await?.ok_or(std::io::Error::other("connection closed")) })
        .await?;
    Ok(client)
}
