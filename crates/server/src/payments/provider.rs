//! The seam between the deposit rules (`payments/mod.rs`) and a payment provider's wire format.
//!
//! A provider turns typed requests into its API calls and its answers back into typed values;
//! everything it returns is already checked and parsed, so the rules never read a provider's
//! JSON. To add a provider: implement [`PaymentProvider`] in its own module (see
//! `mercadopago.rs`), add a variant to `config::PaymentProvider` with its `as_str` name, and
//! build it in [`super::provider_for`] (docs/payments.md).

use crate::channels::SendError;
use crate::channels::breaker::Breaker;
use crate::config::PaymentProvider as ProviderKind;
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Utc};
use domain::Money;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A payment link: a hold's deposit, or a confirmed reservation's balance.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    /// The reservation code (the item's id).
    pub code: String,
    /// What the provider gives back as the payment's [`ProviderPayment::reference`]: the code
    /// for a deposit, `{code}-SALDO` for the balance (`payments::reference`).
    pub reference: String,
    pub amount: Money,
    pub title: String,
    /// From now until the hold lapses (a balance: until the day before arrival), in the
    /// property's offset (what the guest's checkout shows).
    pub valid_from: DateTime<FixedOffset>,
    pub expires_at: DateTime<FixedOffset>,
    /// The guest as far as we know them (never a made-up name).
    pub payer_name: Option<String>,
    pub payer_email: Option<String>,
    /// Where the provider must post its notifications.
    pub notification_url: String,
    /// Where the guest's browser goes back after paying, failing, or leaving it pending.
    pub return_urls: ReturnUrls,
    /// What the guest's card statement shows.
    pub statement_descriptor: String,
}

#[derive(Debug, Clone)]
pub struct ReturnUrls {
    pub approved: String,
    pub rejected: String,
    pub pending: String,
}

/// A created link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLink {
    pub link_id: String,
    pub url: String,
}

/// A webhook call as it arrived, headers by lower-case name.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub headers: &'a axum::http::HeaderMap,
    pub query: &'a HashMap<String, String>,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
}

/// A verified notification, ready for the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The provider's id for this delivery: the inbox deduplicates on it.
    pub delivery_id: String,
    /// What it is about, as the provider names it (`payment`, `merchant_order`, …).
    pub kind: String,
    /// What the inbox stores; read back with [`PaymentProvider::notification_event`].
    pub payload: Value,
}

/// Why a webhook call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookRejection {
    /// Not from the provider (401, and counted against the caller's address).
    BadSignature,
    /// Signed, but the body cannot be read (400).
    Malformed(String),
    /// Signed, but without the id that deduplicates deliveries (400).
    MissingDeliveryId,
}

/// What a stored notification asks us to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationEvent {
    /// Read this payment from the API. `signed`: the id came from the signed part of the call;
    /// an unsigned id is only a hint, harmless because only the API's answer counts.
    Payment { id: String, signed: bool },
    /// Anything else (orders, test pings, a payment notification without an id).
    Other,
}

/// A payment's state, in the provider-neutral words the rules use (the provider's own word is
/// [`ProviderPayment::status_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Approved,
    /// Not decided yet (pending, in process, authorized but not captured).
    Pending,
    /// Refused or abandoned: no money moved.
    Rejected,
    /// The money went back to the payer: refunded, charged back, or held in a dispute.
    MoneyBack,
    /// A status this version does not know (recorded as it came).
    Other,
}

/// The authoritative payment, as the provider's API tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderPayment {
    pub id: String,
    pub status: PaymentStatus,
    /// The status word as the provider wrote it (stored and shown to the owner).
    pub status_name: String,
    pub status_detail: String,
    pub amount: Money,
    /// ISO 4217, as the provider wrote it.
    pub currency: String,
    /// The link's reference as given back (empty when the payment carries none): read with
    /// `payments::Reference::parse`.
    pub reference: String,
    /// The provider's whole document, kept with the payment for the record.
    pub raw: Value,
}

/// Money back to the payer. The same `idempotency_key` always means the same refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub payment_id: String,
    /// `None`: whatever is left of the payment.
    pub amount: Option<Money>,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub amount: Money,
    pub status: String,
}

/// Whose account the credentials open (`posada doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCheck {
    Ok {
        account: String,
        /// Whether it can charge in Argentine pesos.
        argentine: bool,
        /// Test credentials: no real money moves.
        test_credentials: bool,
    },
    /// The provider refused the credentials (its words).
    Refused(String),
    /// Any other answer (status, its words).
    Failed(u16, String),
}

pub struct AccountProbe {
    pub check: AccountCheck,
    /// The provider's clock (the doctor compares ours with it).
    pub date: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Which configured provider this is: the name links and payments are recorded under.
    fn kind(&self) -> ProviderKind;

    /// The wire protocol it speaks: the webhook route (`/api/v1/webhooks/{api_name}`), the
    /// inbox's provider, the health check's breaker. The sandbox speaks Mercado Pago's.
    fn api_name(&self) -> &'static str;

    fn breaker(&self) -> Arc<Breaker>;

    async fn create_link(&self, request: &LinkRequest) -> Result<CreatedLink, SendError>;

    /// Checks a webhook call's signature and reads what to store. Pure (no I/O).
    fn verify_webhook(&self, request: WebhookRequest<'_>) -> Result<Notification, WebhookRejection>;

    /// Reads a stored [`Notification::payload`] back (also ones stored by older versions). Pure.
    fn notification_event(&self, payload: &Value) -> NotificationEvent;

    /// The truth about a payment (never the webhook's body).
    async fn payment(&self, id: &str) -> Result<ProviderPayment, SendError>;

    async fn refund(&self, request: &RefundRequest) -> Result<Refund, SendError>;

    /// Whose account the credentials open; `Err` only when no answer came.
    async fn probe(&self) -> Result<AccountProbe, String>;
}
