//! Row shapes shared by both backends and their conversion to model types.

use crate::error::{Result, StoreError};
use crate::model::*;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{AttentionFlag, Money, Multiplier, RateRule, ReservationStatus, RuleEffect, RuleScope, Stay};
use sqlx::types::Json;
use std::collections::BTreeSet;

pub const UNIT_COLUMNS: &str = "id, slug, name, capacity, base_price, weekend_multiplier_bp, min_nights, \
     description, amenities, photos, ical_token, active, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct UnitRow {
    id: i64,
    slug: String,
    name: String,
    capacity: i64,
    base_price: i64,
    weekend_multiplier_bp: i64,
    min_nights: i64,
    description: String,
    amenities: Json<Vec<String>>,
    photos: Json<Vec<Photo>>,
    ical_token: String,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UnitRow> for Unit {
    fn from(r: UnitRow) -> Unit {
        Unit {
            id: r.id,
            slug: r.slug,
            name: r.name,
            capacity: r.capacity as u32,
            base_price: Money(r.base_price),
            weekend_multiplier: Multiplier(r.weekend_multiplier_bp as u32),
            min_nights: r.min_nights as u32,
            description: r.description,
            amenities: r.amenities.0,
            photos: r.photos.0,
            ical_token: r.ical_token,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub const RULE_COLUMNS: &str =
    "id, unit_id, name, start_date, end_date, scope, nightly_price, multiplier_bp, min_nights";

#[derive(sqlx::FromRow)]
pub struct RuleRow {
    id: i64,
    unit_id: Option<i64>,
    name: String,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    scope: String,
    nightly_price: Option<i64>,
    multiplier_bp: Option<i64>,
    min_nights: Option<i64>,
}

impl TryFrom<RuleRow> for RateRule {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<RateRule> {
        let effect = match (r.nightly_price, r.multiplier_bp) {
            (Some(p), None) => RuleEffect::NightlyPrice(Money(p)),
            (None, Some(m)) => RuleEffect::Multiplier(Multiplier(m as u32)),
            _ => {
                return Err(StoreError::Corrupt(format!("rate rule {} has no single effect", r.id)));
            }
        };
        Ok(RateRule {
            id: r.id,
            unit_id: r.unit_id,
            name: r.name,
            start: r.start_date,
            end: r.end_date,
            scope: scope_parse(&r.scope),
            effect,
            min_nights: r.min_nights.map(|m| m as u32),
        })
    }
}

pub fn scope_str(scope: RuleScope) -> &'static str {
    match scope {
        RuleScope::AllNights => "all_nights",
        RuleScope::HolidayEves => "holiday_eves",
    }
}

fn scope_parse(text: &str) -> RuleScope {
    if text == "holiday_eves" { RuleScope::HolidayEves } else { RuleScope::AllNights }
}

pub fn effect_columns(effect: RuleEffect) -> (Option<i64>, Option<i64>) {
    match effect {
        RuleEffect::NightlyPrice(p) => (Some(p.0), None),
        RuleEffect::Multiplier(m) => (None, Some(m.0 as i64)),
    }
}

pub const RESERVATION_COLUMNS: &str = "id, code, unit_id, check_in, check_out, guests, status, channel, \
     guest_name, guest_phone, guest_email, total, deposit, hold_expires_at, flags, notes, created_at, \
     updated_at, confirmed_at, cancelled_at, balance_paid_at, balance_method, balance_received";

#[derive(sqlx::FromRow)]
pub struct ReservationRow {
    id: i64,
    code: String,
    unit_id: i64,
    check_in: NaiveDate,
    check_out: NaiveDate,
    guests: i64,
    status: String,
    channel: String,
    guest_name: String,
    guest_phone: String,
    guest_email: Option<String>,
    total: i64,
    deposit: i64,
    hold_expires_at: Option<DateTime<Utc>>,
    flags: String,
    notes: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    balance_paid_at: Option<DateTime<Utc>>,
    balance_method: Option<String>,
    balance_received: i64,
}

pub fn status_parse(text: &str) -> Result<ReservationStatus> {
    ReservationStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown status {text}")))
}

pub fn flags_parse(text: &str) -> BTreeSet<AttentionFlag> {
    text.split(',').filter_map(AttentionFlag::parse).collect()
}

pub fn flags_str(flags: &BTreeSet<AttentionFlag>) -> String {
    flags.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
}

impl TryFrom<ReservationRow> for Reservation {
    type Error = StoreError;
    fn try_from(r: ReservationRow) -> Result<Reservation> {
        Ok(Reservation {
            id: r.id,
            code: r.code,
            unit_id: r.unit_id,
            stay: Stay { check_in: r.check_in, check_out: r.check_out },
            guests: r.guests as u32,
            status: status_parse(&r.status)?,
            channel: domain::Channel::parse(&r.channel)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown channel {}", r.channel)))?,
            guest_name: r.guest_name,
            guest_phone: r.guest_phone,
            guest_email: r.guest_email,
            total: Money(r.total),
            deposit: Money(r.deposit),
            hold_expires_at: r.hold_expires_at,
            flags: flags_parse(&r.flags),
            notes: r.notes,
            created_at: r.created_at,
            updated_at: r.updated_at,
            confirmed_at: r.confirmed_at,
            cancelled_at: r.cancelled_at,
            balance_paid: match (r.balance_paid_at, r.balance_method) {
                (Some(at), Some(m)) => Some(crate::BalancePaid {
                    at,
                    method: domain::BalanceMethod::parse(&m)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown balance method {m}")))?,
                }),
                _ => None,
            },
            balance_received: Money(r.balance_received),
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct StayRowRaw {
    id: i64,
    code: String,
    unit_id: i64,
    check_in: NaiveDate,
    check_out: NaiveDate,
    status: String,
    hold_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<StayRowRaw> for StayRow {
    type Error = StoreError;
    fn try_from(r: StayRowRaw) -> Result<StayRow> {
        Ok(StayRow {
            reservation_id: r.id,
            code: r.code,
            unit_id: r.unit_id,
            stay: Stay { check_in: r.check_in, check_out: r.check_out },
            status: status_parse(&r.status)?,
            hold_expires_at: r.hold_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub const FEED_COLUMNS: &str = "id, unit_id, url, source, etag, last_modified, last_attempt_at, last_success_at, \
     last_error, consecutive_failures, events_count, created_at";

#[derive(sqlx::FromRow)]
pub struct FeedRow {
    id: i64,
    unit_id: i64,
    url: String,
    source: String,
    etag: Option<String>,
    last_modified: Option<String>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    consecutive_failures: i64,
    events_count: i64,
    created_at: DateTime<Utc>,
}

impl From<FeedRow> for Feed {
    fn from(r: FeedRow) -> Feed {
        Feed {
            id: r.id,
            unit_id: r.unit_id,
            url: r.url,
            source: r.source,
            etag: r.etag,
            last_modified: r.last_modified,
            last_attempt_at: r.last_attempt_at,
            last_success_at: r.last_success_at,
            last_error: r.last_error,
            consecutive_failures: r.consecutive_failures as u32,
            events_count: r.events_count as u32,
            created_at: r.created_at,
        }
    }
}

pub const BLOCK_COLUMNS: &str = "id, feed_id, unit_id, uid, check_in, check_out, kind, summary, reference, echo_of, \
     first_seen_at, last_seen_at, missing_since, missing_count";

#[derive(sqlx::FromRow)]
pub struct BlockRow {
    id: i64,
    feed_id: i64,
    unit_id: i64,
    uid: String,
    check_in: NaiveDate,
    check_out: NaiveDate,
    kind: String,
    summary: String,
    reference: Option<String>,
    echo_of: Option<i64>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    missing_since: Option<DateTime<Utc>>,
    missing_count: i64,
}

impl From<BlockRow> for ExternalBlock {
    fn from(r: BlockRow) -> ExternalBlock {
        ExternalBlock {
            id: r.id,
            feed_id: r.feed_id,
            unit_id: r.unit_id,
            uid: r.uid,
            stay: Stay { check_in: r.check_in, check_out: r.check_out },
            kind: r.kind,
            summary: r.summary,
            reference: r.reference,
            echo_of: r.echo_of,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            missing_since: r.missing_since,
            missing_count: r.missing_count as u32,
        }
    }
}

pub const CONFLICT_COLUMNS: &str = "c.id, c.reservation_id, r.code, r.unit_id, c.feed_id, c.uid, c.source, c.summary, \
     c.check_in, c.check_out, c.detected_at";

#[derive(sqlx::FromRow)]
pub struct ConflictRow {
    id: i64,
    reservation_id: i64,
    code: String,
    unit_id: i64,
    feed_id: i64,
    uid: String,
    source: String,
    summary: String,
    check_in: NaiveDate,
    check_out: NaiveDate,
    detected_at: DateTime<Utc>,
}

impl From<ConflictRow> for Conflict {
    fn from(r: ConflictRow) -> Conflict {
        Conflict {
            id: r.id,
            reservation_id: r.reservation_id,
            reservation_code: r.code,
            unit_id: r.unit_id,
            feed_id: r.feed_id,
            uid: r.uid,
            source: r.source,
            summary: r.summary,
            stay: Stay { check_in: r.check_in, check_out: r.check_out },
            detected_at: r.detected_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: i64,
    reservation_id: Option<i64>,
    actor: String,
    action: String,
    before: Option<Json<serde_json::Value>>,
    after: Option<Json<serde_json::Value>>,
    note: String,
    created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            reservation_id: r.reservation_id,
            actor: r.actor,
            action: r.action,
            before: r.before.map(|j| j.0),
            after: r.after.map(|j| j.0),
            note: r.note,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct AdminRow {
    pub id: i64,
    email: String,
    password_hash: String,
    role: String,
    active: bool,
    pub token_version: i64,
}

impl TryFrom<AdminRow> for AdminUser {
    type Error = StoreError;
    fn try_from(r: AdminRow) -> Result<AdminUser> {
        Ok(AdminUser {
            id: r.id,
            email: r.email,
            password_hash: r.password_hash,
            role: Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("role {}", r.role)))?,
            active: r.active,
            token_version: r.token_version,
        })
    }
}

pub const JOB_COLUMNS: &str = "id, kind, payload, dedupe_key, attempts, max_attempts, run_at, last_error, status";

#[derive(sqlx::FromRow)]
pub struct JobRow {
    id: i64,
    kind: String,
    payload: Json<serde_json::Value>,
    dedupe_key: Option<String>,
    attempts: i64,
    max_attempts: i64,
    run_at: DateTime<Utc>,
    last_error: Option<String>,
    pub status: String,
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Job {
        Job {
            id: r.id,
            kind: r.kind,
            payload: r.payload.0,
            dedupe_key: r.dedupe_key,
            attempts: r.attempts as u32,
            max_attempts: r.max_attempts as u32,
            run_at: r.run_at,
            last_error: r.last_error,
        }
    }
}

/// What the audit log keeps of a reservation (no guest data).
pub fn audit_snapshot(r: &Reservation) -> serde_json::Value {
    serde_json::json!({
        "status": r.status.as_str(),
        "unit_id": r.unit_id,
        "check_in": r.stay.check_in,
        "check_out": r.stay.check_out,
        "guests": r.guests,
        "total": r.total.0,
        "deposit": r.deposit.0,
        "flags": flags_str(&r.flags),
        "balance_method": r.balance_paid.map(|b| b.method.as_str()),
        "balance_received": r.balance_received.0,
    })
}

pub const CONTACT_COLUMNS: &str = "id, channel, address, name, last_inbound_at, handed_off, updated_at";

#[derive(sqlx::FromRow)]
pub struct ContactRow {
    id: i64,
    channel: String,
    address: String,
    name: String,
    last_inbound_at: Option<DateTime<Utc>>,
    handed_off: bool,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;

    fn try_from(r: ContactRow) -> Result<Contact, StoreError> {
        Ok(Contact {
            id: r.id,
            // The table's CHECK keeps it to the conversation channels; one place parses it.
            channel: domain::Channel::parse(&r.channel)
                .filter(|c| c.is_conversation())
                .ok_or_else(|| StoreError::Corrupt(format!("unknown contact channel {}", r.channel)))?,
            address: r.address,
            name: r.name,
            last_inbound_at: r.last_inbound_at,
            handed_off: r.handed_off,
            updated_at: r.updated_at,
        })
    }
}

pub const INBOUND_COLUMNS: &str = "id, provider, provider_id, contact_id, kind, payload, received_at, processed_at";

#[derive(sqlx::FromRow)]
pub struct InboundRow {
    id: i64,
    provider: String,
    provider_id: String,
    contact_id: Option<i64>,
    kind: String,
    payload: Json<serde_json::Value>,
    received_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
}

impl From<InboundRow> for InboundEvent {
    fn from(r: InboundRow) -> InboundEvent {
        InboundEvent {
            id: r.id,
            provider: r.provider,
            provider_id: r.provider_id,
            contact_id: r.contact_id,
            kind: r.kind,
            payload: r.payload.0,
            received_at: r.received_at,
            processed_at: r.processed_at,
        }
    }
}

pub const MESSAGE_COLUMNS: &str =
    "id, contact_id, direction, kind, body, payload, provider_message_id, status, error, created_at";

#[derive(sqlx::FromRow)]
pub struct MessageRow {
    id: i64,
    contact_id: i64,
    direction: String,
    kind: String,
    body: String,
    payload: Json<serde_json::Value>,
    provider_message_id: Option<String>,
    status: String,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> Result<Message, StoreError> {
        Ok(Message {
            id: r.id,
            contact_id: r.contact_id,
            direction: r.direction,
            kind: r.kind,
            body: r.body,
            payload: r.payload.0,
            provider_message_id: r.provider_message_id,
            status: domain::MessageStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown message status {}", r.status)))?,
            error: r.error,
            created_at: r.created_at,
        })
    }
}

pub const LINK_COLUMNS: &str = "id, reservation_id, provider, preference_id, url, amount, expires_at, created_at";

#[derive(sqlx::FromRow)]
pub struct LinkRow {
    id: i64,
    reservation_id: i64,
    provider: String,
    preference_id: String,
    url: String,
    amount: i64,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<LinkRow> for PaymentLink {
    fn from(r: LinkRow) -> PaymentLink {
        PaymentLink {
            id: r.id,
            reservation_id: r.reservation_id,
            provider: r.provider,
            preference_id: r.preference_id,
            url: r.url,
            amount: Money(r.amount),
            expires_at: r.expires_at,
            created_at: r.created_at,
        }
    }
}

pub const BALANCE_LINK_COLUMNS: &str =
    "id, reservation_id, provider, preference_id, url, amount, expires_at, created_at";

#[derive(sqlx::FromRow)]
pub struct BalanceLinkRow {
    id: i64,
    reservation_id: i64,
    provider: String,
    preference_id: String,
    url: String,
    amount: i64,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl From<BalanceLinkRow> for BalanceLink {
    fn from(r: BalanceLinkRow) -> BalanceLink {
        BalanceLink {
            id: r.id,
            reservation_id: r.reservation_id,
            provider: r.provider,
            preference_id: r.preference_id,
            url: r.url,
            amount: Money(r.amount),
            expires_at: r.expires_at,
            created_at: r.created_at,
        }
    }
}

pub const PAYMENT_COLUMNS: &str = "id, purpose, provider, provider_payment_id, reservation_id, status, status_detail, amount, \
     currency, external_reference, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct PaymentRow {
    id: i64,
    purpose: String,
    provider: String,
    provider_payment_id: String,
    reservation_id: Option<i64>,
    pub status: String,
    status_detail: String,
    amount: i64,
    currency: String,
    external_reference: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<PaymentRow> for Payment {
    fn from(r: PaymentRow) -> Payment {
        Payment {
            id: r.id,
            // The column's CHECK allows only the two.
            purpose: PaymentPurpose::parse(&r.purpose).unwrap_or_default(),
            provider: r.provider,
            provider_payment_id: r.provider_payment_id,
            reservation_id: r.reservation_id,
            status: r.status,
            status_detail: r.status_detail,
            amount: Money(r.amount),
            currency: r.currency,
            external_reference: r.external_reference,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub const REFUND_COLUMNS: &str = "id, reservation_id, provider, provider_payment_id, paid, amount, percent, status, \
     provider_refund_id, error, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct RefundRow {
    id: i64,
    reservation_id: i64,
    provider: String,
    provider_payment_id: String,
    paid: i64,
    amount: i64,
    percent: i32,
    status: String,
    provider_refund_id: Option<String>,
    error: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<RefundRow> for RefundRecord {
    type Error = StoreError;
    fn try_from(r: RefundRow) -> Result<RefundRecord, StoreError> {
        Ok(RefundRecord {
            id: r.id,
            reservation_id: r.reservation_id,
            provider: r.provider,
            provider_payment_id: r.provider_payment_id,
            paid: Money(r.paid),
            amount: Money(r.amount),
            percent: u32::try_from(r.percent)
                .map_err(|_| StoreError::Corrupt(format!("refund percent {}", r.percent)))?,
            status: domain::RefundStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("refund status {:?}", r.status)))?,
            provider_refund_id: r.provider_refund_id,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct BackupRow {
    id: i64,
    created_at: DateTime<Utc>,
    file: String,
    bytes: i64,
    trigger: String,
    took_ms: i64,
}

impl TryFrom<BackupRow> for Backup {
    type Error = StoreError;
    fn try_from(r: BackupRow) -> Result<Backup, StoreError> {
        Ok(Backup {
            id: r.id,
            created_at: r.created_at,
            file: r.file,
            bytes: r.bytes,
            trigger: BackupTrigger::parse(&r.trigger)
                .ok_or_else(|| StoreError::Corrupt(format!("backup trigger {:?}", r.trigger)))?,
            took_ms: r.took_ms,
        })
    }
}

pub const STAY_MESSAGE_COLUMNS: &str =
    "id, reservation_id, kind, due_at, status, channel, message_id, note, sent_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub struct StayMessageRow {
    id: i64,
    reservation_id: i64,
    kind: String,
    due_at: DateTime<Utc>,
    status: String,
    channel: Option<String>,
    message_id: Option<i64>,
    note: String,
    sent_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<StayMessageRow> for StayMessage {
    type Error = StoreError;
    fn try_from(r: StayMessageRow) -> Result<StayMessage, StoreError> {
        Ok(StayMessage {
            id: r.id,
            reservation_id: r.reservation_id,
            kind: domain::StayMessageKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("stay message kind {:?}", r.kind)))?,
            due_at: r.due_at,
            status: domain::StayMessageStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("stay message status {:?}", r.status)))?,
            channel: r.channel.as_deref().and_then(domain::Channel::parse),
            message_id: r.message_id,
            note: r.note,
            sent_at: r.sent_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}
