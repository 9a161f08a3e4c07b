//! Configuration from `POSADA_*` environment variables, optionally layered over a TOML file
//! (`POSADA_CONFIG_FILE`, keys are the variable names without the prefix, lower-case).
//! Secrets are `SecretString`: they never show in `Debug` or logs.

use chrono::Weekday;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Every variable the service reads. README.md and .env.example must list each (a test checks).
pub const ENV_VARS: &[&str] = &[
    "POSADA_CONFIG_FILE",
    "POSADA_DATABASE_URL",
    "POSADA_DB_MAX_CONNECTIONS",
    "POSADA_DATA_DIR",
    "POSADA_BIND",
    "POSADA_PUBLIC_URL",
    "POSADA_METRICS_BIND",
    "POSADA_METRICS_TOKEN",
    "POSADA_JWT_SECRET",
    "POSADA_ADMIN_EMAIL",
    "POSADA_ADMIN_PASSWORD",
    "POSADA_ADMIN_PASSWORD_HASH",
    "POSADA_HOLD_MINUTES",
    "POSADA_DEPOSIT_PERCENT",
    "POSADA_WEEKEND_NIGHTS",
    "POSADA_MAX_HOLDS_PER_CONTACT",
    "POSADA_MAX_HOLDS_PER_ADDRESS",
    "POSADA_BOOKING_HORIZON_DAYS",
    "POSADA_PUBLIC_API_KEY",
    "POSADA_TIMEZONE",
    "POSADA_LOG",
    "POSADA_LOG_FORMAT",
    "POSADA_RATE_LIMIT_PER_MIN",
    "POSADA_RATE_LIMIT_BURST",
    "POSADA_LOGIN_CONCURRENCY",
    "POSADA_LOGIN_QUEUE_WAIT_MS",
    "POSADA_LOGIN_FREE_FAILURES",
    "POSADA_LOGIN_MAX_DELAY_S",
    "POSADA_LOGIN_ACCOUNT_MAX_FAILURES",
    "POSADA_LOGIN_ADDRESS_MAX_FAILURES",
    "POSADA_LOGIN_WINDOW_MIN",
    "POSADA_TRUSTED_PROXIES",
    "POSADA_CORS_ORIGINS",
    "POSADA_HEALTH_DB_SLOW_MS",
    "POSADA_HEALTH_JOBS_MAX_AGE_S",
    "POSADA_HEALTH_OUTBOX_MAX_AGE_S",
    "POSADA_SHUTDOWN_GRACE_S",
    "POSADA_JOB_LEASE_S",
    "POSADA_WORKER_JOBS",
    "POSADA_ICAL_POLL_MINUTES",
    "POSADA_ICAL_FETCH_TIMEOUT_S",
    "POSADA_ICAL_MAX_BYTES",
    "POSADA_ICAL_MISSING_GRACE_HOURS",
    "POSADA_ICAL_STALE_DEGRADED_MIN",
    "POSADA_ICAL_STALE_UNHEALTHY_MIN",
    "POSADA_WHATSAPP_VERIFY_TOKEN",
    "POSADA_WHATSAPP_APP_SECRET",
    "POSADA_WHATSAPP_ACCESS_TOKEN",
    "POSADA_WHATSAPP_PHONE_NUMBER_ID",
    "POSADA_WHATSAPP_API_BASE",
    "POSADA_WHATSAPP_API_VERSION",
    "POSADA_WHATSAPP_TEMPLATE_LANGUAGE",
    "POSADA_WHATSAPP_TEMPLATE_REMINDER",
    "POSADA_WHATSAPP_TEMPLATE_CONFIRMATION",
    "POSADA_WHATSAPP_TEMPLATE_ALERT",
    "POSADA_WHATSAPP_TEMPLATE_STAY",
    "POSADA_OWNER_PHONE",
    "POSADA_PAYMENT_PROVIDER",
    "POSADA_MERCADOPAGO_ACCESS_TOKEN",
    "POSADA_MERCADOPAGO_WEBHOOK_SECRET",
    "POSADA_MERCADOPAGO_API_BASE",
    "POSADA_MERCADOPAGO_SIGNATURE_MAX_AGE_S",
    "POSADA_STT_API_BASE",
    "POSADA_STT_API_KEY",
    "POSADA_STT_MODEL",
    "POSADA_SANDBOX",
    "POSADA_PROPERTY_NAME",
    "POSADA_PROPERTY_LOCATION",
    "POSADA_PROPERTY_MAP_URL",
    "POSADA_PROPERTY_POLICIES",
    "POSADA_CHECK_IN_FROM",
    "POSADA_CHECK_OUT_UNTIL",
    "POSADA_IMAP_HOST",
    "POSADA_IMAP_PORT",
    "POSADA_IMAP_TLS",
    "POSADA_IMAP_USER",
    "POSADA_IMAP_PASSWORD",
    "POSADA_IMAP_MAILBOX",
    "POSADA_SMTP_HOST",
    "POSADA_SMTP_PORT",
    "POSADA_SMTP_TLS",
    "POSADA_SMTP_USER",
    "POSADA_SMTP_PASSWORD",
    "POSADA_EMAIL_FROM",
    "POSADA_EMAIL_POLL_SECONDS",
    "POSADA_EMAIL_COPY_WHATSAPP",
    "POSADA_EMAIL_CA_FILE",
    "POSADA_OWNER_EMAIL",
    "POSADA_WHATSAPP_BUSINESS_ACCOUNT_ID",
    "POSADA_INSTAGRAM_VERIFY_TOKEN",
    "POSADA_INSTAGRAM_APP_SECRET",
    "POSADA_INSTAGRAM_ACCESS_TOKEN",
    "POSADA_INSTAGRAM_ACCOUNT_ID",
    "POSADA_INSTAGRAM_API_BASE",
    "POSADA_INSTAGRAM_API_VERSION",
    "POSADA_MESSENGER_VERIFY_TOKEN",
    "POSADA_MESSENGER_APP_SECRET",
    "POSADA_MESSENGER_ACCESS_TOKEN",
    "POSADA_MESSENGER_PAGE_ID",
    "POSADA_MESSENGER_API_BASE",
    "POSADA_MESSENGER_API_VERSION",
    "POSADA_BACKUP_DIR",
    "POSADA_BACKUP_KEEP",
    "POSADA_BACKUP_DAILY_AT",
    "POSADA_PG_BIN_DIR",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("cannot read {path}: {message}")]
    File { path: String, message: String },
}

impl Config {
    pub const DEFAULT_MAX_HOLDS_PER_ADDRESS: u32 = 3;
}

/// An optional secret; empty counts as unset.
fn secret(source: &Source, var: &str) -> Option<SecretString> {
    source.get(var).filter(|v| !v.is_empty()).map(|v| SecretString::from(v.to_string()))
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, message: message.into() }
}

/// A network or address that may set `X-Forwarded-For`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<IpNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = text.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// `POSADA_DATABASE_URL` was not set: the SQLite file in the data directory.
    pub database_url_defaulted: bool,
    pub db_max_connections: u32,
    /// `POSADA_DATA_DIR`, else `$XDG_DATA_HOME/posada` or `~/.local/share/posada`: the default
    /// database, demo secrets and backups live here, for every command alike.
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub public_url: String,
    /// `POSADA_PUBLIC_URL` was not set: follow the address actually bound (port 0 in tests).
    pub public_url_defaulted: bool,
    /// `/metrics` on its own listener (then not on the main port at all).
    pub metrics_bind: Option<SocketAddr>,
    /// Without `metrics_bind`: `/metrics` on the main port needs `Authorization: Bearer <this>`
    /// (absent: 404 there, except in the demo, which keeps it open on its loopback address).
    pub metrics_token: Option<SecretString>,
    pub jwt_secret: SecretString,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub admin_password_hash: Option<SecretString>,
    pub hold_minutes: u32,
    pub deposit_percent: u32,
    pub weekend_nights: Vec<Weekday>,
    pub max_holds_per_contact: u32,
    /// Live holds one client address may have through the public API (0 = no limit).
    pub max_holds_per_address: u32,
    /// How many days ahead a stay may end (`beyond_horizon` after that).
    pub booking_horizon_days: u32,
    /// When set, the public pre-reserve route needs `X-Api-Key: <this>` (docs/decisions.md).
    pub public_api_key: Option<SecretString>,
    pub timezone: chrono_tz::Tz,
    pub log: String,
    pub log_format: LogFormat,
    pub rate_limit_per_min: u32,
    pub rate_limit_burst: u32,
    /// Password checks and failed-login throttling, for both logins.
    pub login: LoginConfig,
    pub trusted_proxies: Vec<IpNet>,
    pub cors_origins: Vec<String>,
    pub health_db_slow_ms: u64,
    pub health_jobs_max_age_s: u64,
    /// The outbox is degraded when its oldest queued reply is older than this.
    pub health_outbox_max_age_s: u64,
    pub shutdown_grace_s: u64,
    /// How long a claimed job stays with its worker; a crashed worker's jobs run again after it.
    pub job_lease_s: u64,
    /// Jobs one worker runs at once (claimed in batches of half that).
    pub worker_jobs: u32,
    pub ical: IcalConfig,
    /// Enabled iff all four required WhatsApp variables are set.
    pub whatsapp: Option<WhatsAppConfig>,
    /// Instagram Direct: enabled iff all four `POSADA_INSTAGRAM_*` credentials are set.
    pub instagram: Option<channels::meta::MetaConfig>,
    /// Facebook Messenger: enabled iff all four `POSADA_MESSENGER_*` credentials are set.
    pub messenger: Option<channels::meta::MetaConfig>,
    /// Voice notes are transcribed iff `POSADA_STT_API_BASE` is set.
    pub stt: Option<SttConfig>,
    /// The owner's WhatsApp number (alerts, hand-offs).
    pub owner_phone: Option<String>,
    /// Enabled iff every required IMAP and SMTP variable is set.
    pub email: Option<EmailConfig>,
    /// The owner's e-mail address: alerts go there too when the e-mail channel is on.
    pub owner_email: Option<String>,
    /// The sandbox chat (`/sandbox/chat`, `posada chat`); on in `posada demo`.
    pub sandbox: bool,
    pub property: PropertyConfig,
    pub payments: PaymentsConfig,
    pub backup: BackupConfig,
}

/// `posada backup` and the optional daily job.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Default `{data_dir}/backups`.
    pub dir: PathBuf,
    /// How many backup files to keep in `dir` (the newest; 0 keeps all).
    pub keep: u32,
    /// A backup every day at this time in the property's zone (`None`: no daily job).
    pub daily_at: Option<chrono::NaiveTime>,
    /// Where `pg_dump`/`pg_restore` are (default: the `PATH`).
    pub pg_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentProvider {
    /// No payment links (an owner who collects deposits by hand).
    None,
    /// A local fake checkout that drives the real code path (demo).
    Sandbox,
    MercadoPago,
}

impl PaymentProvider {
    pub const ALL: [PaymentProvider; 3] =
        [PaymentProvider::None, PaymentProvider::Sandbox, PaymentProvider::MercadoPago];

    /// The name in `POSADA_PAYMENT_PROVIDER` and the one links and payments are stored under.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProvider::None => "none",
            PaymentProvider::Sandbox => "sandbox",
            PaymentProvider::MercadoPago => "mercadopago",
        }
    }

    /// The inverse of [`as_str`](Self::as_str), case-insensitive.
    pub fn parse(name: &str) -> Option<PaymentProvider> {
        PaymentProvider::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(name))
    }

    /// As the owner reads it in the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            PaymentProvider::None => "Sin pagos en línea",
            PaymentProvider::Sandbox => "Pago de prueba (sandbox)",
            PaymentProvider::MercadoPago => "Mercado Pago",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    pub provider: PaymentProvider,
    pub access_token: SecretString,
    /// Signs Mercado Pago's notifications (`x-signature`). The sandbox makes one up.
    pub webhook_secret: SecretString,
    /// Mercado Pago's API, or for the sandbox our own fake of it (set at start-up).
    pub api_base: String,
    /// 0 = no freshness check on the signature's `ts` (Mercado Pago may keep `ts` on retries).
    pub signature_max_age_s: u64,
}

#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    pub verify_token: SecretString,
    pub app_secret: SecretString,
    pub access_token: SecretString,
    pub phone_number_id: String,
    pub api_base: String,
    pub api_version: String,
    pub template_language: String,
    pub template_reminder: String,
    pub template_confirmation: String,
    /// Owner alerts outside the window (one parameter: the alert text).
    pub template_alert: String,
    /// A stay's automatic messages outside the window (one parameter: the message on one
    /// line). None: such a message goes by e-mail when the guest left one, else is not sent.
    pub template_stay: Option<String>,
    /// The WhatsApp Business Account that owns the number: `posada doctor` reads its templates.
    pub business_account_id: Option<String>,
}

// The mail servers' settings are the e-mail clients' own (crates/channels).
pub use channels::email::{MailServer, MailTls, TrustedRoots};

/// The e-mail channel: a mailbox read over IMAP, replies sent over SMTP.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub imap: MailServer,
    pub smtp: MailServer,
    /// The mailbox (folder) polled for guests' messages.
    pub mailbox: String,
    /// Our address (`reservas@example.com`); replies come from it and mail from it is ignored.
    pub from_address: String,
    /// The display name in `From:` (`POSADA_EMAIL_FROM` may be `Name <address>`).
    pub from_name: String,
    pub poll_seconds: u64,
    /// A reservation made on WhatsApp that left an e-mail address also gets its confirmation by e-mail.
    pub copy_whatsapp: bool,
}

pub use channels::stt::SttConfig;

/// What the bot tells guests about the place.
#[derive(Debug, Clone)]
pub struct PropertyConfig {
    pub name: String,
    pub location: String,
    pub map_url: Option<String>,
    pub policies: Option<String>,
    pub check_in_from: String,
    pub check_out_until: String,
}

/// How password logins (the JSON API's and the dashboard's) are bounded.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// Password checks (argon2, ~19 MiB each) running at once in this instance.
    pub concurrency: usize,
    /// How long a login waits for a free check before a 429 with `Retry-After`.
    pub queue_wait: std::time::Duration,
    /// Failures one address may have on one account before each next try waits (1 s, 2 s, 4 s…).
    pub free_failures: u32,
    /// The longest such wait (0: no waits per account and address).
    pub max_delay_s: u64,
    /// Failures on one account from all addresses in the window before addresses that already
    /// failed on it are refused until the window passes (0: no ceiling).
    pub account_max_failures: u32,
    /// Failures from one address on all accounts in the window before it is refused (0: none).
    pub address_max_failures: u32,
    /// The window failures are counted in.
    pub window: std::time::Duration,
}

/// How imported calendars are polled and judged.
#[derive(Debug, Clone)]
pub struct IcalConfig {
    pub poll_minutes: u32,
    pub fetch_timeout_s: u64,
    pub max_bytes: usize,
    pub missing_grace_hours: u32,
    pub stale_degraded_min: u32,
    pub stale_unhealthy_min: u32,
}

/// Where values come from: the environment first, then the optional TOML file.
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    pub fn from_env() -> Result<Source, ConfigError> {
        Source::from_pairs(std::env::vars())
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Source, ConfigError> {
        let mut values: HashMap<String, String> = pairs.into_iter().filter(|(k, _)| k.starts_with("POSADA_")).collect();
        if let Some(path) = values.get("POSADA_CONFIG_FILE").cloned() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?;
            let table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::File { path: path.clone(), message: e.to_string() })?;
            for (key, value) in table {
                let var = format!("POSADA_{}", key.to_uppercase());
                let text = match value {
                    toml::Value::Array(items) => items.iter().map(toml_scalar).collect::<Vec<_>>().join(","),
                    other => toml_scalar(&other),
                };
                values.entry(var).or_insert(text);
            }
        }
        Ok(Source { values })
    }

    pub fn get(&self, var: &str) -> Option<&str> {
        self.values.get(var).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// `POSADA_DATA_DIR` or the default data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.get("POSADA_DATA_DIR").map(PathBuf::from).unwrap_or_else(default_data_dir)
    }

    pub fn set(&mut self, var: &str, value: impl Into<String>) {
        self.values.insert(var.to_string(), value.into());
    }

    fn parse<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|e| invalid(var, format!("{text:?}: {e}"))),
        }
    }

    fn list(&self, var: &str) -> Vec<String> {
        self.get(var)
            .map(|s| s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default()
    }
}

fn payments_config(source: &Source) -> Result<PaymentsConfig, ConfigError> {
    let provider = match source.get("POSADA_PAYMENT_PROVIDER") {
        None => PaymentProvider::None,
        Some(name) => PaymentProvider::parse(name).ok_or_else(|| {
            invalid("POSADA_PAYMENT_PROVIDER", format!("{:?} is not mercadopago, sandbox or none", name.to_lowercase()))
        })?,
    };
    let secret = |v: &str| source.get(v).map(|s| SecretString::from(s.to_string()));
    let (access_token, webhook_secret) = match provider {
        PaymentProvider::MercadoPago => (
            secret("POSADA_MERCADOPAGO_ACCESS_TOKEN").ok_or_else(|| {
                invalid("POSADA_MERCADOPAGO_ACCESS_TOKEN", "is required with POSADA_PAYMENT_PROVIDER=mercadopago")
            })?,
            secret("POSADA_MERCADOPAGO_WEBHOOK_SECRET").ok_or_else(|| {
                invalid("POSADA_MERCADOPAGO_WEBHOOK_SECRET", "is required with POSADA_PAYMENT_PROVIDER=mercadopago")
            })?,
        ),
        _ => (
            SecretString::from("sandbox-access-token".to_string()),
            secret("POSADA_MERCADOPAGO_WEBHOOK_SECRET")
                .unwrap_or_else(|| SecretString::from(format!("{:032x}", rand::random::<u128>()))),
        ),
    };
    Ok(PaymentsConfig {
        provider,
        access_token,
        webhook_secret,
        api_base: source
            .get("POSADA_MERCADOPAGO_API_BASE")
            .unwrap_or("https://api.mercadopago.com")
            .trim_end_matches('/')
            .to_string(),
        signature_max_age_s: source.parse("POSADA_MERCADOPAGO_SIGNATURE_MAX_AGE_S", 0)?,
    })
}

impl WhatsAppConfig {
    /// What the Cloud API client and the webhook adapter need (the templates stay ours).
    pub fn client(&self) -> channels::whatsapp::WhatsAppConfig {
        channels::whatsapp::WhatsAppConfig {
            verify_token: self.verify_token.clone(),
            app_secret: self.app_secret.clone(),
            access_token: self.access_token.clone(),
            phone_number_id: self.phone_number_id.clone(),
            api_base: self.api_base.clone(),
            api_version: self.api_version.clone(),
        }
    }

    /// How long the webhook verification token is (`posada doctor` warns on a short one).
    pub fn verify_token_len(&self) -> usize {
        self.verify_token.expose_secret().chars().count()
    }
}

/// verify token, app secret, access token, account (Page / Instagram) id; API base and version.
const INSTAGRAM_VARS: [&str; 6] = [
    "POSADA_INSTAGRAM_VERIFY_TOKEN",
    "POSADA_INSTAGRAM_APP_SECRET",
    "POSADA_INSTAGRAM_ACCESS_TOKEN",
    "POSADA_INSTAGRAM_ACCOUNT_ID",
    "POSADA_INSTAGRAM_API_BASE",
    "POSADA_INSTAGRAM_API_VERSION",
];
const MESSENGER_VARS: [&str; 6] = [
    "POSADA_MESSENGER_VERIFY_TOKEN",
    "POSADA_MESSENGER_APP_SECRET",
    "POSADA_MESSENGER_ACCESS_TOKEN",
    "POSADA_MESSENGER_PAGE_ID",
    "POSADA_MESSENGER_API_BASE",
    "POSADA_MESSENGER_API_VERSION",
];

/// A Messenger Platform channel (Instagram, Messenger): like WhatsApp, all four credentials or none.
fn meta_config(
    source: &Source,
    label: &str,
    vars: [&'static str; 6],
) -> Result<Option<channels::meta::MetaConfig>, ConfigError> {
    let required = &vars[..4];
    if required.iter().all(|v| source.get(v).is_none()) {
        return Ok(None);
    }
    if let Some(missing) = required.iter().find(|v| source.get(v).is_none()) {
        return Err(invalid(
            vars[0],
            format!("{label} needs all four of {}; {missing} is missing", required.join(", ")),
        ));
    }
    let secret = |v: &str| SecretString::from(source.get(v).unwrap_or_default().to_string());
    Ok(Some(channels::meta::MetaConfig {
        verify_token: secret(vars[0]),
        app_secret: secret(vars[1]),
        access_token: secret(vars[2]),
        account_id: source.get(vars[3]).unwrap_or_default().to_string(),
        api_base: source.get(vars[4]).unwrap_or("https://graph.facebook.com").trim_end_matches('/').to_string(),
        api_version: source.get(vars[5]).unwrap_or("v21.0").to_string(),
    }))
}

/// All four credentials or none: a partial set would accept unsigned webhooks or fail to send.
fn whatsapp_config(source: &Source) -> Result<Option<WhatsAppConfig>, ConfigError> {
    const REQUIRED: [&str; 4] = [
        "POSADA_WHATSAPP_VERIFY_TOKEN",
        "POSADA_WHATSAPP_APP_SECRET",
        "POSADA_WHATSAPP_ACCESS_TOKEN",
        "POSADA_WHATSAPP_PHONE_NUMBER_ID",
    ];
    let present: Vec<&str> = REQUIRED.iter().copied().filter(|v| source.get(v).is_some()).collect();
    if present.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = REQUIRED.iter().find(|v| source.get(v).is_none()) {
        return Err(invalid(
            "POSADA_WHATSAPP_VERIFY_TOKEN",
            format!("WhatsApp needs all four of {}; {missing} is missing", REQUIRED.join(", ")),
        ));
    }
    let secret = |v: &str| SecretString::from(source.get(v).unwrap_or_default().to_string());
    Ok(Some(WhatsAppConfig {
        verify_token: secret("POSADA_WHATSAPP_VERIFY_TOKEN"),
        app_secret: secret("POSADA_WHATSAPP_APP_SECRET"),
        access_token: secret("POSADA_WHATSAPP_ACCESS_TOKEN"),
        phone_number_id: source.get("POSADA_WHATSAPP_PHONE_NUMBER_ID").unwrap_or_default().to_string(),
        api_base: source
            .get("POSADA_WHATSAPP_API_BASE")
            .unwrap_or("https://graph.facebook.com")
            .trim_end_matches('/')
            .to_string(),
        api_version: source.get("POSADA_WHATSAPP_API_VERSION").unwrap_or("v21.0").to_string(),
        template_language: source.get("POSADA_WHATSAPP_TEMPLATE_LANGUAGE").unwrap_or("es_AR").to_string(),
        template_reminder: source
            .get("POSADA_WHATSAPP_TEMPLATE_REMINDER")
            .unwrap_or("recordatorio_reserva")
            .to_string(),
        template_confirmation: source
            .get("POSADA_WHATSAPP_TEMPLATE_CONFIRMATION")
            .unwrap_or("reserva_confirmada")
            .to_string(),
        template_alert: source.get("POSADA_WHATSAPP_TEMPLATE_ALERT").unwrap_or("alerta_posada").to_string(),
        template_stay: source.get("POSADA_WHATSAPP_TEMPLATE_STAY").map(String::from),
        business_account_id: source.get("POSADA_WHATSAPP_BUSINESS_ACCOUNT_ID").map(String::from),
    }))
}

/// Every required IMAP and SMTP variable, or none: half a mail setup would read mail it cannot
/// answer (or the reverse).
fn email_config(source: &Source) -> Result<Option<EmailConfig>, ConfigError> {
    const REQUIRED: [&str; 7] = [
        "POSADA_IMAP_HOST",
        "POSADA_IMAP_USER",
        "POSADA_IMAP_PASSWORD",
        "POSADA_SMTP_HOST",
        "POSADA_SMTP_USER",
        "POSADA_SMTP_PASSWORD",
        "POSADA_EMAIL_FROM",
    ];
    // Ports, TLS modes and the like have defaults (and sit in .env.example): they switch nothing.
    if REQUIRED.iter().all(|v| source.get(v).is_none()) {
        return Ok(None);
    }
    if let Some(missing) = REQUIRED.iter().find(|v| source.get(v).is_none()) {
        return Err(invalid(
            "POSADA_IMAP_HOST",
            format!("the e-mail channel needs all of {}; {missing} is missing", REQUIRED.join(", ")),
        ));
    }
    let tls = |var: &'static str, default: MailTls| -> Result<MailTls, ConfigError> {
        match source.get(var).map(str::to_lowercase).as_deref() {
            None => Ok(default),
            Some("tls") | Some("ssl") => Ok(MailTls::Tls),
            Some("starttls") => Ok(MailTls::StartTls),
            Some("none") | Some("plain") => Ok(MailTls::None),
            Some(other) => Err(invalid(var, format!("{other:?} is not tls, starttls or none"))),
        }
    };
    let extra_roots = match source.get("POSADA_EMAIL_CA_FILE") {
        Some(path) => TrustedRoots::from_pem_file(path).map_err(|e| invalid("POSADA_EMAIL_CA_FILE", e))?,
        None => TrustedRoots::default(),
    };
    let server =
        |prefix: &str, tls: MailTls, port_var: &'static str, default_port: u16| -> Result<MailServer, ConfigError> {
            let get = |suffix: &str| source.get(&format!("POSADA_{prefix}_{suffix}")).unwrap_or_default().to_string();
            Ok(MailServer {
                host: get("HOST"),
                port: source.parse(port_var, default_port)?,
                tls,
                user: get("USER"),
                password: SecretString::from(get("PASSWORD")),
                extra_roots: extra_roots.clone(),
            })
        };
    let imap_tls = tls("POSADA_IMAP_TLS", MailTls::Tls)?;
    let smtp_tls = tls("POSADA_SMTP_TLS", MailTls::StartTls)?;
    let imap_port = if imap_tls == MailTls::Tls { 993 } else { 143 };
    let smtp_port = match smtp_tls {
        MailTls::Tls => 465,
        MailTls::StartTls => 587,
        MailTls::None => 25,
    };
    let from = source.get("POSADA_EMAIL_FROM").unwrap_or_default();
    let (from_name, from_address) = match from.rsplit_once('<') {
        Some((name, addr)) => {
            (name.trim().trim_matches('"').to_string(), addr.trim_end_matches('>').trim().to_lowercase())
        }
        None => (String::new(), from.trim().to_lowercase()),
    };
    if !from_address.contains('@') || from_address.contains(char::is_whitespace) {
        return Err(invalid("POSADA_EMAIL_FROM", format!("{from:?} is not an e-mail address")));
    }
    Ok(Some(EmailConfig {
        imap: server("IMAP", imap_tls, "POSADA_IMAP_PORT", imap_port)?,
        smtp: server("SMTP", smtp_tls, "POSADA_SMTP_PORT", smtp_port)?,
        mailbox: source.get("POSADA_IMAP_MAILBOX").unwrap_or("INBOX").to_string(),
        from_address,
        from_name,
        poll_seconds: source.parse::<u64>("POSADA_EMAIL_POLL_SECONDS", 60)?.max(1),
        copy_whatsapp: source.parse("POSADA_EMAIL_COPY_WHATSAPP", false)?,
    }))
}

fn toml_scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => String::new(),
    }
}

/// How strict start-up is about the JWT secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `serve`: a real secret of at least 32 bytes is required.
    Serve,
    /// `demo` and tools: the caller supplies a generated secret when none is set.
    Lenient,
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

impl Config {
    pub fn load(source: &Source, mode: Mode) -> Result<Config, ConfigError> {
        let bind: SocketAddr = source.parse("POSADA_BIND", DEFAULT_BIND.parse().expect("default bind"))?;
        let public_url = source
            .get("POSADA_PUBLIC_URL")
            .map(|s| s.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{bind}"));
        let jwt_secret = match source.get("POSADA_JWT_SECRET") {
            Some(s) if s.len() >= 32 => SecretString::from(s.to_string()),
            Some(_) => return Err(invalid("POSADA_JWT_SECRET", "must be at least 32 bytes")),
            None if mode == Mode::Lenient => SecretString::from(String::new()),
            None => {
                return Err(invalid("POSADA_JWT_SECRET", "is required by `posada serve` (at least 32 bytes)"));
            }
        };
        let data_dir = source.data_dir();
        let database_url = match source.get("POSADA_DATABASE_URL") {
            Some(url) => url.to_string(),
            None => format!("sqlite://{}", data_dir.join("posada.db").display()),
        };
        if !store::is_supported_url(&database_url) {
            return Err(invalid("POSADA_DATABASE_URL", "must start with postgres:// or sqlite://"));
        }
        let timezone: chrono_tz::Tz = match source.get("POSADA_TIMEZONE") {
            None => chrono_tz::America::Argentina::Buenos_Aires,
            Some(name) => {
                name.parse().map_err(|_| invalid("POSADA_TIMEZONE", format!("unknown time zone {name:?}")))?
            }
        };
        let weekend_nights = match source.get("POSADA_WEEKEND_NIGHTS") {
            None => vec![Weekday::Fri, Weekday::Sat],
            Some(_) => source
                .list("POSADA_WEEKEND_NIGHTS")
                .iter()
                .map(|d| parse_weekday(d).ok_or_else(|| invalid("POSADA_WEEKEND_NIGHTS", format!("unknown day {d:?}"))))
                .collect::<Result<_, _>>()?,
        };
        let trusted_proxies = source
            .list("POSADA_TRUSTED_PROXIES")
            .iter()
            .map(|p| IpNet::parse(p).ok_or_else(|| invalid("POSADA_TRUSTED_PROXIES", format!("bad address {p:?}"))))
            .collect::<Result<_, _>>()?;
        let log_format = match source.get("POSADA_LOG_FORMAT") {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(invalid("POSADA_LOG_FORMAT", format!("{other:?} is not json or pretty")));
            }
        };
        let deposit_percent: u32 = source.parse("POSADA_DEPOSIT_PERCENT", 30)?;
        if deposit_percent > 100 {
            return Err(invalid("POSADA_DEPOSIT_PERCENT", "must be between 0 and 100"));
        }
        let hold_minutes: u32 = source.parse("POSADA_HOLD_MINUTES", 60)?;
        if hold_minutes == 0 {
            return Err(invalid("POSADA_HOLD_MINUTES", "must be at least 1"));
        }
        let booking_horizon_days: u32 = source.parse("POSADA_BOOKING_HORIZON_DAYS", 540)?;
        if !(1..=3650).contains(&booking_horizon_days) {
            return Err(invalid("POSADA_BOOKING_HORIZON_DAYS", "must be between 1 and 3650"));
        }
        let backup = BackupConfig {
            dir: source.get("POSADA_BACKUP_DIR").map(PathBuf::from).unwrap_or_else(|| data_dir.join("backups")),
            keep: source.parse("POSADA_BACKUP_KEEP", 14)?,
            daily_at: match source.get("POSADA_BACKUP_DAILY_AT") {
                None => None,
                Some(t) => Some(
                    chrono::NaiveTime::parse_from_str(t, "%H:%M")
                        .map_err(|_| invalid("POSADA_BACKUP_DAILY_AT", format!("{t:?} is not a time like 03:30")))?,
                ),
            },
            pg_bin_dir: source.get("POSADA_PG_BIN_DIR").map(PathBuf::from),
        };
        Ok(Config {
            backup,
            database_url,
            database_url_defaulted: source.get("POSADA_DATABASE_URL").is_none(),
            db_max_connections: source.parse("POSADA_DB_MAX_CONNECTIONS", 16)?,
            data_dir,
            bind,
            public_url_defaulted: source.get("POSADA_PUBLIC_URL").is_none(),
            public_url,
            metrics_bind: match source.get("POSADA_METRICS_BIND") {
                None => None,
                Some(s) => Some(s.parse().map_err(|e| invalid("POSADA_METRICS_BIND", format!("{s:?}: {e}")))?),
            },
            metrics_token: secret(source, "POSADA_METRICS_TOKEN"),
            jwt_secret,
            admin_email: source.get("POSADA_ADMIN_EMAIL").map(|s| s.to_lowercase()),
            admin_password: source.get("POSADA_ADMIN_PASSWORD").map(|s| SecretString::from(s.to_string())),
            admin_password_hash: source.get("POSADA_ADMIN_PASSWORD_HASH").map(|s| SecretString::from(s.to_string())),
            hold_minutes,
            deposit_percent,
            weekend_nights,
            max_holds_per_contact: source.parse("POSADA_MAX_HOLDS_PER_CONTACT", 2)?,
            max_holds_per_address: source
                .parse("POSADA_MAX_HOLDS_PER_ADDRESS", Config::DEFAULT_MAX_HOLDS_PER_ADDRESS)?,
            booking_horizon_days,
            public_api_key: secret(source, "POSADA_PUBLIC_API_KEY"),
            timezone,
            log: source.get("POSADA_LOG").unwrap_or("info").to_string(),
            log_format,
            rate_limit_per_min: source.parse("POSADA_RATE_LIMIT_PER_MIN", 120)?,
            rate_limit_burst: source.parse("POSADA_RATE_LIMIT_BURST", 250)?,
            login: LoginConfig {
                concurrency: source.parse::<usize>("POSADA_LOGIN_CONCURRENCY", 2)?.clamp(1, 64),
                queue_wait: std::time::Duration::from_millis(source.parse("POSADA_LOGIN_QUEUE_WAIT_MS", 2000)?),
                free_failures: source.parse("POSADA_LOGIN_FREE_FAILURES", 3)?,
                max_delay_s: source.parse("POSADA_LOGIN_MAX_DELAY_S", 300)?,
                account_max_failures: source.parse("POSADA_LOGIN_ACCOUNT_MAX_FAILURES", 20)?,
                address_max_failures: source.parse("POSADA_LOGIN_ADDRESS_MAX_FAILURES", 30)?,
                window: std::time::Duration::from_secs(
                    60 * source.parse::<u64>("POSADA_LOGIN_WINDOW_MIN", 15)?.clamp(1, 24 * 60),
                ),
            },
            trusted_proxies,
            cors_origins: source.list("POSADA_CORS_ORIGINS"),
            health_db_slow_ms: source.parse("POSADA_HEALTH_DB_SLOW_MS", 500)?,
            health_jobs_max_age_s: source.parse("POSADA_HEALTH_JOBS_MAX_AGE_S", 300)?,
            health_outbox_max_age_s: source.parse::<u64>("POSADA_HEALTH_OUTBOX_MAX_AGE_S", 60)?.max(1),
            shutdown_grace_s: source.parse("POSADA_SHUTDOWN_GRACE_S", 20)?,
            job_lease_s: source.parse::<u64>("POSADA_JOB_LEASE_S", 120)?.max(1),
            worker_jobs: source.parse::<u32>("POSADA_WORKER_JOBS", 32)?.clamp(1, 256),
            whatsapp: whatsapp_config(source)?,
            instagram: meta_config(source, "Instagram", INSTAGRAM_VARS)?,
            messenger: meta_config(source, "Messenger", MESSENGER_VARS)?,
            stt: source.get("POSADA_STT_API_BASE").map(|base| SttConfig {
                api_base: base.trim_end_matches('/').to_string(),
                api_key: source.get("POSADA_STT_API_KEY").map(|k| SecretString::from(k.to_string())),
                model: source.get("POSADA_STT_MODEL").unwrap_or("whisper-1").to_string(),
            }),
            owner_phone: source.get("POSADA_OWNER_PHONE").map(|p| p.trim_start_matches('+').replace([' ', '-'], "")),
            email: email_config(source)?,
            owner_email: source.get("POSADA_OWNER_EMAIL").map(|e| e.to_lowercase()),
            sandbox: source.parse("POSADA_SANDBOX", false)?,
            payments: payments_config(source)?,
            property: PropertyConfig {
                name: source.get("POSADA_PROPERTY_NAME").unwrap_or("Posada").to_string(),
                location: source.get("POSADA_PROPERTY_LOCATION").unwrap_or("").to_string(),
                map_url: source.get("POSADA_PROPERTY_MAP_URL").map(String::from),
                policies: source.get("POSADA_PROPERTY_POLICIES").map(String::from),
                check_in_from: source.get("POSADA_CHECK_IN_FROM").unwrap_or("14:00").to_string(),
                check_out_until: source.get("POSADA_CHECK_OUT_UNTIL").unwrap_or("10:00").to_string(),
            },
            ical: IcalConfig {
                poll_minutes: source.parse::<u32>("POSADA_ICAL_POLL_MINUTES", 10)?.max(1),
                fetch_timeout_s: source.parse::<u64>("POSADA_ICAL_FETCH_TIMEOUT_S", 20)?.max(1),
                max_bytes: source.parse("POSADA_ICAL_MAX_BYTES", 5 * 1024 * 1024)?,
                missing_grace_hours: source.parse("POSADA_ICAL_MISSING_GRACE_HOURS", 24)?,
                stale_degraded_min: source.parse("POSADA_ICAL_STALE_DEGRADED_MIN", 30)?,
                stale_unhealthy_min: source.parse("POSADA_ICAL_STALE_UNHEALTHY_MIN", 60)?,
            },
        })
    }

    pub fn has_jwt_secret(&self) -> bool {
        !self.jwt_secret.expose_secret().is_empty()
    }

    pub fn pricing_policy(&self) -> domain::PricingPolicy {
        domain::PricingPolicy { weekend_nights: self.weekend_nights.clone(), deposit_percent: self.deposit_percent }
    }
}

/// Where the data lives when `POSADA_DATA_DIR` is not set (the XDG convention).
pub fn default_data_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("XDG_DATA_HOME")
        && !dir.is_empty()
    {
        return PathBuf::from(dir).join("posada");
    }
    if let Ok(home) = std::env::var("HOME")
        && !home.is_empty()
    {
        return PathBuf::from(home).join(".local/share/posada");
    }
    PathBuf::from("posada-data")
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.to_lowercase();
    let t = t.as_str();
    Some(match t {
        "mon" | "monday" | "lun" | "lunes" => Weekday::Mon,
        "tue" | "tuesday" | "mar" | "martes" => Weekday::Tue,
        "wed" | "wednesday" | "mie" | "mié" | "miercoles" | "miércoles" => Weekday::Wed,
        "thu" | "thursday" | "jue" | "jueves" => Weekday::Thu,
        "fri" | "friday" | "vie" | "viernes" => Weekday::Fri,
        "sat" | "saturday" | "sab" | "sáb" | "sabado" | "sábado" => Weekday::Sat,
        "sun" | "sunday" | "dom" | "domingo" => Weekday::Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(pairs: &[(&str, &str)]) -> Source {
        Source::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn a_payment_provider_name_reads_back_as_itself() {
        for p in PaymentProvider::ALL {
            assert_eq!(PaymentProvider::parse(p.as_str()), Some(p));
        }
        assert_eq!(PaymentProvider::parse("MercadoPago"), Some(PaymentProvider::MercadoPago));
        assert_eq!(PaymentProvider::parse("paypal"), None);
    }

    #[test]
    fn serve_needs_a_long_jwt_secret() {
        assert!(Config::load(&src(&[]), Mode::Serve).is_err());
        assert!(Config::load(&src(&[("POSADA_JWT_SECRET", "short")]), Mode::Serve).is_err());
        let c = Config::load(&src(&[("POSADA_JWT_SECRET", &"x".repeat(32))]), Mode::Serve).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.db_max_connections, 16);
        assert_eq!(c.database_url, format!("sqlite://{}", default_data_dir().join("posada.db").display()));
        assert!(c.database_url_defaulted);
        assert_eq!(c.weekend_nights, vec![Weekday::Fri, Weekday::Sat]);
    }

    #[test]
    fn the_database_defaults_to_the_data_dir_for_every_command() {
        for mode in [Mode::Serve, Mode::Lenient] {
            let c =
                Config::load(&src(&[("POSADA_DATA_DIR", "/srv/posada"), ("POSADA_JWT_SECRET", &"x".repeat(32))]), mode)
                    .unwrap();
            assert_eq!(
                (c.database_url.as_str(), c.data_dir.as_path()),
                ("sqlite:///srv/posada/posada.db", "/srv/posada".as_ref())
            );
        }
        let c = Config::load(
            &src(&[("POSADA_DATA_DIR", "/srv/posada"), ("POSADA_DATABASE_URL", "postgres://db/posada")]),
            Mode::Lenient,
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://db/posada");
        assert!(!c.database_url_defaulted);
    }

    #[test]
    fn backups_default_to_the_data_dir_and_keep_fourteen() {
        let c = Config::load(&src(&[("POSADA_DATA_DIR", "/srv/posada")]), Mode::Lenient).unwrap();
        assert_eq!(
            (c.backup.dir.as_path(), c.backup.keep, c.backup.daily_at),
            ("/srv/posada/backups".as_ref(), 14, None)
        );
        let c = Config::load(
            &src(&[
                ("POSADA_BACKUP_DIR", "/mnt/copias"),
                ("POSADA_BACKUP_KEEP", "3"),
                ("POSADA_BACKUP_DAILY_AT", "03:30"),
            ]),
            Mode::Lenient,
        )
        .unwrap();
        assert_eq!(c.backup.dir, PathBuf::from("/mnt/copias"));
        assert_eq!((c.backup.keep, c.backup.daily_at), (3, chrono::NaiveTime::from_hms_opt(3, 30, 0)));
        let err = Config::load(&src(&[("POSADA_BACKUP_DAILY_AT", "3am")]), Mode::Lenient).unwrap_err();
        assert!(err.to_string().contains("POSADA_BACKUP_DAILY_AT"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Config::load(
            &src(&[
                ("POSADA_JWT_SECRET", "sentinel-jwt-secret-0123456789abcdef"),
                ("POSADA_ADMIN_PASSWORD", "sentinel-pw"),
            ]),
            Mode::Serve,
        )
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("sentinel"), "{text}");
    }

    #[test]
    fn reads_lists_networks_and_days() {
        let c = Config::load(
            &src(&[
                ("POSADA_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
                ("POSADA_WEEKEND_NIGHTS", "sat,sun"),
                ("POSADA_BIND", "0.0.0.0:9000"),
                ("POSADA_PUBLIC_URL", "https://reservas.example.test/"),
            ]),
            Mode::Lenient,
        )
        .unwrap();
        assert!(c.trusted_proxies[0].contains("10.1.2.3".parse().unwrap()));
        assert!(!c.trusted_proxies[0].contains("11.1.2.3".parse().unwrap()));
        assert!(c.trusted_proxies[1].contains("::ffff:127.0.0.1".parse().unwrap()));
        assert_eq!(c.weekend_nights, vec![Weekday::Sat, Weekday::Sun]);
        assert_eq!(c.public_url, "https://reservas.example.test");
        assert!(Config::load(&src(&[("POSADA_TIMEZONE", "Mars/Olympus")]), Mode::Lenient).is_err());
        assert!(Config::load(&src(&[("POSADA_DATABASE_URL", "mysql://x")]), Mode::Lenient).is_err());
    }

    #[test]
    fn whatsapp_needs_all_four_credentials() {
        let c = Config::load(&src(&[]), Mode::Lenient).unwrap();
        assert!(c.whatsapp.is_none());
        let err = Config::load(&src(&[("POSADA_WHATSAPP_APP_SECRET", "s")]), Mode::Lenient).unwrap_err();
        assert!(err.to_string().contains("POSADA_WHATSAPP_VERIFY_TOKEN"), "{err}");
        let c = Config::load(
            &src(&[
                ("POSADA_WHATSAPP_VERIFY_TOKEN", "v"),
                ("POSADA_WHATSAPP_APP_SECRET", "sentinel-app-secret"),
                ("POSADA_WHATSAPP_ACCESS_TOKEN", "sentinel-access"),
                ("POSADA_WHATSAPP_PHONE_NUMBER_ID", "123"),
            ]),
            Mode::Lenient,
        )
        .unwrap();
        let w = c.whatsapp.as_ref().unwrap();
        assert_eq!((w.api_base.as_str(), w.api_version.as_str()), ("https://graph.facebook.com", "v21.0"));
        assert!(!format!("{c:?}").contains("sentinel"));
    }

    #[test]
    fn email_needs_every_imap_and_smtp_variable() {
        let full = [
            ("POSADA_IMAP_HOST", "imap.example.test"),
            ("POSADA_IMAP_USER", "reservas"),
            ("POSADA_IMAP_PASSWORD", "sentinel-imap"),
            ("POSADA_SMTP_HOST", "smtp.example.test"),
            ("POSADA_SMTP_USER", "reservas"),
            ("POSADA_SMTP_PASSWORD", "sentinel-smtp"),
            ("POSADA_EMAIL_FROM", "Cabañas del Lago <Reservas@Example.test>"),
        ];
        let c = Config::load(&src(&full), Mode::Lenient).unwrap();
        let e = c.email.as_ref().unwrap();
        assert_eq!((e.imap.port, e.imap.tls, e.smtp.port, e.smtp.tls), (993, MailTls::Tls, 587, MailTls::StartTls));
        assert_eq!((e.from_address.as_str(), e.from_name.as_str()), ("reservas@example.test", "Cabañas del Lago"));
        assert_eq!((e.mailbox.as_str(), e.poll_seconds, e.copy_whatsapp), ("INBOX", 60, false));
        assert!(!format!("{c:?}").contains("sentinel"));
        for skip in 0..full.len() {
            let partial: Vec<_> = full.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, p)| *p).collect();
            let err = Config::load(&src(&partial), Mode::Lenient).unwrap_err().to_string();
            assert!(err.contains(full[skip].0), "{err}");
        }
        assert!(Config::load(&src(&[("POSADA_SMTP_PORT", "25")]), Mode::Lenient).unwrap().email.is_none());
        let mut bad = full.to_vec();
        bad.push(("POSADA_IMAP_TLS", "maybe"));
        assert!(Config::load(&src(&bad), Mode::Lenient).is_err());
        let mut plain = full.to_vec();
        plain.extend([("POSADA_IMAP_TLS", "none"), ("POSADA_SMTP_TLS", "none")]);
        let e = Config::load(&src(&plain), Mode::Lenient).unwrap().email.unwrap();
        assert_eq!((e.imap.port, e.smtp.port), (143, 25));
        assert!(Config::load(&src(&[]), Mode::Lenient).unwrap().email.is_none());
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_stops_start_up() {
        let base = [
            ("POSADA_IMAP_HOST", "imap.example.test"),
            ("POSADA_IMAP_USER", "reservas"),
            ("POSADA_IMAP_PASSWORD", "x"),
            ("POSADA_SMTP_HOST", "smtp.example.test"),
            ("POSADA_SMTP_USER", "reservas"),
            ("POSADA_SMTP_PASSWORD", "x"),
            ("POSADA_EMAIL_FROM", "reservas@example.test"),
        ];
        let with_ca = |path: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("POSADA_EMAIL_CA_FILE", path));
            Config::load(&src(&pairs), Mode::Lenient)
        };
        let err = with_ca("/nonexistent/ca.pem").unwrap_err().to_string();
        assert!(err.contains("POSADA_EMAIL_CA_FILE") && err.contains("cannot read"), "{err}");
        let path = std::env::temp_dir().join(format!("posada-ca-{}.pem", rand::random::<u32>()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = with_ca(path.to_str().unwrap()).unwrap_err().to_string();
        std::fs::remove_file(&path).ok();
        assert!(err.contains("no certificate"), "{err}");
        let e = Config::load(&src(&base), Mode::Lenient).unwrap().email.unwrap();
        assert!(e.imap.extra_roots.0.is_empty() && e.smtp.extra_roots.0.is_empty());
    }

    #[test]
    fn a_toml_file_fills_what_the_environment_leaves_out() {
        let path = std::env::temp_dir().join(format!("posada-config-{}.toml", rand::random::<u32>()));
        std::fs::write(
            &path,
            "hold_minutes = 45\ncors_origins = [\"https://a.test\", \"https://b.test\"]\nbind = \"127.0.0.1:9999\"\n",
        )
        .unwrap();
        let c = Config::load(
            &src(&[("POSADA_CONFIG_FILE", path.to_str().unwrap()), ("POSADA_BIND", "127.0.0.1:7000")]),
            Mode::Lenient,
        )
        .unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(c.hold_minutes, 45);
        assert_eq!(c.cors_origins, vec!["https://a.test", "https://b.test"]);
        assert_eq!(c.bind.port(), 7000, "the environment wins");
    }
}
