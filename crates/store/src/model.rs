//! What the store reads and writes, in domain terms.

use chrono::{DateTime, NaiveDate, Utc};
use domain::{AttentionFlag, Money, Multiplier, ReservationStatus, Stay, UnitPricing};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    pub url: String,
    #[serde(default)]
    pub caption: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub capacity: u32,
    pub base_price: Money,
    pub weekend_multiplier: Multiplier,
    pub min_nights: u32,
    pub description: String,
    pub amenities: Vec<String>,
    /// In display order.
    pub photos: Vec<Photo>,
    #[serde(skip)]
    pub ical_token: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Unit {
    pub fn pricing(&self) -> UnitPricing {
        UnitPricing {
            unit_id: self.id,
            base_price: self.base_price,
            weekend_multiplier: self.weekend_multiplier,
            min_nights: self.min_nights,
        }
    }
}

/// Everything an owner sets on a unit (create and full update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitInput {
    pub slug: String,
    pub name: String,
    pub capacity: u32,
    pub base_price: Money,
    pub weekend_multiplier: Multiplier,
    pub min_nights: u32,
    pub description: String,
    pub amenities: Vec<String>,
    pub photos: Vec<Photo>,
    pub active: bool,
}

/// A rate rule as the owner writes it (the id comes from the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRuleInput {
    pub unit_id: Option<i64>,
    pub name: String,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    pub scope: domain::RuleScope,
    pub effect: domain::RuleEffect,
    pub min_nights: Option<u32>,
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub id: i64,
    pub code: String,
    pub unit_id: i64,
    pub stay: Stay,
    pub guests: u32,
    pub status: ReservationStatus,
    pub channel: domain::Channel,
    pub guest_name: String,
    pub guest_phone: String,
    pub guest_email: Option<String>,
    pub total: Money,
    pub deposit: Money,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub flags: BTreeSet<AttentionFlag>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The balance was paid in full (the owner's record, or the provider's payments): when, how.
    pub balance_paid: Option<BalancePaid>,
    /// Balance money that reached us: the owner's record counts the whole balance then due, each
    /// approved balance payment through the provider its amount. See [`Reservation::money`].
    pub balance_received: Money,
}

/// When and how the balance was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BalancePaid {
    pub at: DateTime<Utc>,
    pub method: domain::BalanceMethod,
}

/// Keeps guest data out of logs: a phone shows its last 4 digits only.
impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("id", &self.id)
            .field("code", &self.code)
            .field("unit_id", &self.unit_id)
            .field("stay", &self.stay)
            .field("guests", &self.guests)
            .field("status", &self.status)
            .field("channel", &self.channel)
            .field("guest_phone", &mask_phone(&self.guest_phone))
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

/// "+5492944123456" → "*********3456".
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let keep = chars.len().min(4);
    let hidden = chars.len() - keep;
    "*".repeat(hidden) + &chars[hidden..].iter().collect::<String>()
}

/// A reservation's money at a glance: seña, saldo, pagado, pendiente (dashboard, API, payments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MoneySummary {
    /// The deposit (seña) the reservation was priced with.
    pub deposit: Money,
    /// Total − seña, from the current total.
    pub balance: Money,
    /// What reached us: the seña once confirmed, plus the balance received.
    pub paid: Money,
    /// What is still to collect (never negative; nothing for a stay that will not happen).
    pub pending: Money,
}

impl Reservation {
    /// Seña, saldo, pagado and pendiente, from the current total: a date change that raises the
    /// total raises what is pending, whatever was paid before. A confirmed reservation's deposit
    /// counts as paid (by the provider, or by hand when the owner confirmed it).
    pub fn money(&self) -> MoneySummary {
        let balance = if self.total > self.deposit { self.total - self.deposit } else { Money::ZERO };
        let deposit_paid = if self.status == ReservationStatus::Confirmed { self.deposit } else { Money::ZERO };
        let paid = deposit_paid + self.balance_received;
        let pending = match self.status {
            ReservationStatus::Confirmed if self.total > paid => self.total - paid,
            ReservationStatus::PreReserved => self.total,
            _ => Money::ZERO,
        };
        MoneySummary { deposit: self.deposit, balance, paid, pending }
    }

    /// The balance still due on a confirmed reservation (zero for any other state).
    pub fn balance_due(&self) -> Money {
        if self.status == ReservationStatus::Confirmed { self.money().pending } else { Money::ZERO }
    }

    /// A hold whose time is up counts as free even before the sweeper marks it expired.
    pub fn occupies_at(&self, now: DateTime<Utc>) -> bool {
        self.status.is_active()
            && !(self.status == ReservationStatus::PreReserved && self.hold_expires_at.is_some_and(|t| t <= now))
    }
}

/// Where a guest's reservation moves to ([`crate::ReservationStore::move_reservation`]): the
/// caller prices it (the booking service, with the same pricing as a hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveTo {
    pub unit_id: i64,
    pub stay: Stay,
    pub guests: u32,
    pub total: Money,
    /// A paid booking keeps the deposit it paid; a hold takes the new quote's.
    pub deposit: Money,
}

#[derive(Clone, PartialEq)]
pub struct NewReservation {
    pub unit_id: i64,
    pub stay: Stay,
    pub guests: u32,
    /// `PreReserved` (a hold) or `Blocked` (owner block) or `Confirmed` (manual booking).
    pub status: ReservationStatus,
    pub channel: domain::Channel,
    pub guest_name: String,
    pub guest_phone: String,
    pub guest_email: Option<String>,
    pub total: Money,
    pub deposit: Money,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub notes: String,
    pub actor: String,
    /// Idempotency for holds placed while processing an inbound event: a second create with
    /// the same key returns the first reservation.
    pub request_key: Option<String>,
    /// The client address of an anonymous hold from the public API (the per-address limit
    /// counts these); `None` for holds from a conversation and for the owner's bookings.
    pub client_address: Option<String>,
    /// Work that must follow this reservation (e.g. creating its payment link), queued in the
    /// same transaction. `{code}` in a job's payload strings and dedupe key is replaced by the
    /// new reservation's code.
    pub jobs: Vec<NewJob>,
}

impl fmt::Debug for NewReservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewReservation")
            .field("unit_id", &self.unit_id)
            .field("stay", &self.stay)
            .field("status", &self.status)
            .field("guest_phone", &mask_phone(&self.guest_phone))
            .finish_non_exhaustive()
    }
}

/// Occupied nights of one unit, for availability and calendars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StayRow {
    pub reservation_id: i64,
    pub code: String,
    pub unit_id: i64,
    pub stay: Stay,
    pub status: ReservationStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StayRow {
    pub fn occupies_at(&self, now: DateTime<Utc>) -> bool {
        self.status.is_active()
            && !(self.status == ReservationStatus::PreReserved && self.hold_expires_at.is_some_and(|t| t <= now))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservationFilter {
    pub status: Option<ReservationStatus>,
    pub unit_id: Option<i64>,
    /// Stays that have a night on or after this date.
    pub from: Option<NaiveDate>,
    /// Stays that have a night before this date.
    pub to: Option<NaiveDate>,
    pub channel: Option<domain::Channel>,
    /// Substring of code, guest name, phone or e-mail (case-insensitive).
    pub text: Option<String>,
    pub flag: Option<AttentionFlag>,
    /// Exactly this guest phone or e-mail (a contact's own reservations).
    pub contact: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A state change, with who asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub actor: String,
    pub note: String,
    /// Allow `expired → confirmed` (a late payment); the overlap rules still apply.
    pub allow_expired: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub reservation_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Staff => "staff",
        }
    }
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub active: bool,
    /// Moves on with every password change, change of role or removal; a bearer token issued
    /// under an older version is refused.
    pub token_version: i64,
}

impl fmt::Debug for AdminUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("token_version", &self.token_version)
            .finish_non_exhaustive()
    }
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: go ahead, then store the response.
    New,
    /// Same key, same request: here is the stored response.
    Replay { status: u16, body: String },
    /// Same key, same request, still being processed elsewhere.
    InProgress,
    /// Same key, another request body.
    Mismatch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// At most one job with this key ever exists (outbox dedupe, singleton recurring jobs).
    pub dedupe_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    /// Including the current one.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStats {
    /// Due or running jobs.
    pub backlog: i64,
    /// Age of the oldest due job, in seconds.
    pub oldest_age_s: f64,
    pub failed: i64,
}

/// An imported calendar (Airbnb, Booking, Vrbo…) of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feed {
    pub id: i64,
    pub unit_id: i64,
    pub url: String,
    /// `airbnb`, `booking`, `vrbo` or `other`.
    pub source: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub events_count: u32,
    pub created_at: DateTime<Utc>,
}

/// One event of a fetched feed, as the importer hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingEvent {
    pub uid: String,
    pub stay: Stay,
    /// `booking` (an OTA reservation) or `block`.
    pub kind: String,
    pub summary: String,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalBlock {
    pub id: i64,
    pub feed_id: i64,
    pub unit_id: i64,
    pub uid: String,
    pub stay: Stay,
    pub kind: String,
    pub summary: String,
    pub reference: Option<String>,
    /// Our own reservation echoed back by the OTA: not a conflict, blocks nothing.
    pub echo_of: Option<i64>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub missing_since: Option<DateTime<Utc>>,
    pub missing_count: u32,
}

/// How a successful fetch is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyRules {
    /// Airbnb's "Not available" blocks move every day: replace them wholesale.
    pub replace_blocks_wholesale: bool,
    /// Other events disappear only after 2 consecutive fetches without them and this long.
    pub missing_grace: chrono::Duration,
}

/// A double booking that happened elsewhere: an imported event over one of our stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub id: i64,
    pub reservation_id: i64,
    pub reservation_code: String,
    pub unit_id: i64,
    pub feed_id: i64,
    pub uid: String,
    pub source: String,
    pub summary: String,
    pub stay: Stay,
    pub detected_at: DateTime<Utc>,
}

/// What one applied fetch changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedChanges {
    pub added: u32,
    pub updated: u32,
    /// Marked missing this time (kept until the grace rule lets them go).
    pub missing: u32,
    pub removed: u32,
    pub echoes: u32,
    pub new_conflicts: Vec<Conflict>,
}

/// Someone who writes to us: a WhatsApp number, an e-mail address, a sandbox session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub id: i64,
    /// A conversation channel ([`domain::Channel::is_conversation`]); stored as its `as_str()`.
    pub channel: domain::Channel,
    pub address: String,
    pub name: String,
    /// WhatsApp only lets us write freely within 24 h of the guest's last message.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// A person took over: the bot stays silent.
    pub handed_off: bool,
    pub updated_at: DateTime<Utc>,
}

/// A provider event for the inbox, stored before we acknowledge it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInbound {
    pub provider: String,
    pub provider_id: String,
    /// The contact it belongs to (created or renamed on the way in).
    /// (channel, address, name).
    pub contact: Option<(domain::Channel, String, String)>,
    pub kind: String,
    pub payload: serde_json::Value,
    /// The job that processes it (enqueued in the same transaction).
    pub job_kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundEvent {
    pub id: i64,
    pub provider: String,
    pub provider_id: String,
    pub contact_id: Option<i64>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

/// A message as the guest saw it (or wrote it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: i64,
    pub contact_id: i64,
    /// `in` or `out`.
    pub direction: String,
    /// `text`, `photo`, `choices`, `voice`, `button`, `template`…
    pub kind: String,
    /// The text shown (or heard, for a transcribed voice note).
    pub body: String,
    /// Everything needed to send or render it again.
    pub payload: serde_json::Value,
    pub provider_message_id: Option<String>,
    pub status: domain::MessageStatus,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub kind: String,
    pub body: String,
    pub payload: serde_json::Value,
}

/// Everything one processed event (or timer) changes, written in one transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    /// The inbox event this turn answers; `None` for timers. Committing twice is refused.
    pub event_id: Option<i64>,
    pub contact_id: i64,
    pub state: serde_json::Value,
    pub handed_off: Option<bool>,
    /// The guest's message as received (text, transcript…).
    pub inbound: Option<NewMessage>,
    /// Replies to send, in order; each gets a send job.
    pub outbound: Vec<NewMessage>,
    /// The job kind that sends an outbound message.
    pub send_job_kind: String,
    pub quotes: Vec<(i64, Stay, Money)>,
    /// Other work to schedule (timers, owner alerts).
    pub jobs: Vec<NewJob>,
    /// Commit this turn at most once under this key (a notice queued by a job that may run again
    /// after a crash): a second commit with the same key is dropped, like a processed event's.
    pub once: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxStats {
    pub queued: i64,
    pub oldest_queued_age_s: f64,
}

/// A hold's payment link (one checkout preference per hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentLink {
    pub id: i64,
    pub reservation_id: i64,
    pub provider: String,
    pub preference_id: String,
    pub url: String,
    pub amount: Money,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What a payment pays: its link's reference says which, so a deposit payment can never settle
/// a balance or the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentPurpose {
    #[default]
    Deposit,
    Balance,
}

impl PaymentPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentPurpose::Deposit => "deposit",
            PaymentPurpose::Balance => "balance",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentPurpose> {
        [PaymentPurpose::Deposit, PaymentPurpose::Balance].into_iter().find(|p| p.as_str() == text)
    }
}

/// A balance payment link: one checkout preference for one amount and deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceLink {
    pub id: i64,
    pub reservation_id: i64,
    pub provider: String,
    pub preference_id: String,
    pub url: String,
    pub amount: Money,
    /// Before arrival (see `payments::balance_deadline`).
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// What a balance payment did, decided under the reservation's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum BalanceEffect {
    /// Not newly approved (pending, rejected, a repeated or older notification): recorded only.
    Recorded,
    /// The balance is now paid in full; `excess` is what came above it (flagged when not zero).
    Paid { excess: Money },
    /// Approved but short: flagged for the owner. `pending` is what is still due.
    Partial { amount: Money, pending: Money },
    /// Money for a balance that was not due (already paid, or the reservation is not confirmed):
    /// flagged as needing a refund.
    NotDue { amount: Money },
}

/// What recording a balance payment did.
#[derive(Debug)]
pub struct BalanceOutcome {
    pub payment: Payment,
    pub effect: BalanceEffect,
    /// The reservation after the payment (`None` when the reference is unknown).
    pub reservation: Option<Reservation>,
}

/// A payment as the provider reported it (re-fetched, never trusted from a webhook body).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRecord {
    pub purpose: PaymentPurpose,
    pub provider: String,
    pub provider_payment_id: String,
    pub reservation_id: Option<i64>,
    pub status: String,
    pub status_detail: String,
    pub amount: Money,
    pub currency: String,
    pub external_reference: String,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payment {
    pub id: i64,
    pub purpose: PaymentPurpose,
    pub provider: String,
    pub provider_payment_id: String,
    pub reservation_id: Option<i64>,
    pub status: String,
    pub status_detail: String,
    pub amount: Money,
    pub currency: String,
    pub external_reference: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A cancelled reservation's refund, bound to the provider's payment. Its `id` makes the
/// provider's idempotency key ([`RefundRecord::idempotency_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundRecord {
    pub id: i64,
    pub reservation_id: i64,
    pub provider: String,
    pub provider_payment_id: String,
    /// The deposit actually paid (what the percent applies to).
    pub paid: Money,
    pub amount: Money,
    pub percent: u32,
    #[serde(serialize_with = "refund_status_str")]
    pub status: domain::RefundStatus,
    pub provider_refund_id: Option<String>,
    /// The provider's words when it refused.
    pub error: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn refund_status_str<S: serde::Serializer>(s: &domain::RefundStatus, ser: S) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

impl RefundRecord {
    /// The same refund record always asks the provider with the same key: a retry after a crash
    /// (or a second approval) is never a second refund.
    pub fn idempotency_key(&self) -> String {
        format!("posada-refund-{}-{}", self.reservation_id, self.id)
    }
}

/// A refund to propose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub reservation_id: i64,
    pub provider: String,
    pub provider_payment_id: String,
    pub paid: Money,
    pub amount: Money,
    pub percent: u32,
    pub status: domain::RefundStatus,
}

/// A refund's move to another status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundUpdate {
    pub status: domain::RefundStatus,
    pub amount: Option<Money>,
    pub provider_refund_id: Option<String>,
    pub error: Option<String>,
}

/// What recording a payment did.
#[derive(Debug)]
pub struct PaymentOutcome {
    pub payment: Payment,
    /// The status moved (a repeated or older notification moves nothing).
    pub status_changed: bool,
    /// The confirmation asked for, when one was: the reservation, or why not.
    pub confirmation: Option<std::result::Result<Reservation, crate::StoreError>>,
}

/// Payment statuses only move forward; money coming back ranks last.
pub fn payment_status_rank(status: &str) -> i64 {
    match status {
        "pending" | "in_process" | "authorized" => 1,
        "rejected" | "cancelled" => 2,
        "approved" => 3,
        "in_mediation" => 4,
        "refunded" | "charged_back" => 5,
        _ => 0,
    }
}

/// A dashboard session to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAdminSession {
    /// SHA-256 (hex) of the cookie's token.
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for NewAdminSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAdminSession")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A live dashboard session with its user.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub token_hash: String,
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for AdminSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminSession")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What made a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupTrigger {
    /// `posada backup`.
    Manual,
    /// The daily job in the queue (`POSADA_BACKUP_DAILY_AT`).
    Daily,
    /// `posada restore` recorded the file it restored from.
    Restored,
}

impl BackupTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupTrigger::Manual => "manual",
            BackupTrigger::Daily => "daily",
            BackupTrigger::Restored => "restored",
        }
    }

    pub fn parse(text: &str) -> Option<BackupTrigger> {
        Some(match text {
            "manual" => BackupTrigger::Manual,
            "daily" => BackupTrigger::Daily,
            "restored" => BackupTrigger::Restored,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewBackup {
    /// The backup file's full path.
    pub file: String,
    pub bytes: i64,
    pub trigger: BackupTrigger,
    pub took_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub file: String,
    pub bytes: i64,
    pub trigger: BackupTrigger,
    pub took_ms: i64,
}

/// One automatic message of a confirmed stay ([`crate::StayMessageStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StayMessage {
    pub id: i64,
    pub reservation_id: i64,
    pub kind: domain::StayMessageKind,
    pub due_at: DateTime<Utc>,
    pub status: domain::StayMessageStatus,
    /// The channel it went on (a WhatsApp guest outside the window may get it by e-mail).
    pub channel: Option<domain::Channel>,
    /// Its outbox row, once sent.
    pub message_id: Option<i64>,
    /// Why it was skipped, cancelled or not sent.
    pub note: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
