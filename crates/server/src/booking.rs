//! The one availability / hold / confirm service. The HTTP API, the bot, payments and the
//! dashboard all go through it, so every rule (validation, pricing, no-overlap, holds per
//! contact, audit) applies the same way everywhere.

use crate::clock::Clock;
use crate::config::Config;
use crate::ical_sync::Importer;
use crate::metrics as m;
use chrono::{DateTime, NaiveDate, Utc};
use domain::pricing::{self, Quote};
use domain::{Money, ReservationStatus, Stay, StayError};
use std::sync::Arc;
use store::{Change, HoldLimits, NewReservation, Reservation, Store, StoreError, Unit};

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("unit not found or inactive")]
    UnitNotFound,
    #[error(transparent)]
    Stay(#[from] StayError),
    #[error("invalid contact: {0}")]
    InvalidContact(&'static str),
    #[error("invalid phone: {0}")]
    InvalidPhone(#[from] domain::PhoneError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type BookingResult<T> = Result<T, BookingError>;

/// A guest's request for a hold.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub unit_id: i64,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub guests: u32,
    pub channel: domain::Channel,
    pub guest_name: String,
    pub guest_phone: String,
    pub guest_email: Option<String>,
    pub actor: String,
    /// Makes the hold idempotent (e.g. `inbound:{event_id}` from the bot).
    pub request_key: Option<String>,
    pub origin: HoldOrigin,
}

/// Who asks for a hold, which decides the limits that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldOrigin {
    /// The public API: anonymous, known by its client address (behind the trusted-proxy rules)
    /// and by a phone that must be a real-looking number. Holds per address are limited.
    Public { client: std::net::IpAddr },
    /// A conversation (WhatsApp, e-mail, sandbox): the contact is the channel's own address.
    Conversation,
}

/// The guest's name and phone as a hold stores them (trimmed; a public hold's phone normalised),
/// or which contact field is wrong. Pure: the last checks of [`Booking::place_hold`].
pub fn check_contact(req: &HoldRequest) -> BookingResult<(String, String)> {
    let name = req.guest_name.trim();
    let phone = req.guest_phone.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(BookingError::InvalidContact("contact_name"));
    }
    // An e-mail guest is reached by e-mail: the address stands in for the phone.
    let reachable_by_email = req.channel == domain::Channel::Email && req.guest_email.is_some();
    let phone = match req.origin {
        // Normalised first, so "+54 9 294 …" and "549294…" count as one contact.
        HoldOrigin::Public { .. } => domain::Phone::parse(phone)?.to_string(),
        HoldOrigin::Conversation if (phone.is_empty() && !reachable_by_email) || phone.len() > 40 => {
            return Err(BookingError::InvalidContact("contact_phone"));
        }
        HoldOrigin::Conversation => phone.to_string(),
    };
    if req.guest_email.as_deref().is_some_and(|e| e.len() > 254 || !e.contains('@')) {
        return Err(BookingError::InvalidContact("contact_email"));
    }
    Ok((name.to_string(), phone))
}

/// Why a unit cannot take a stay, or its quote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnitAvailability {
    pub unit: Unit,
    pub available: bool,
    pub reason: Option<Unavailability>,
    pub quote: Quote,
}

/// Why a unit cannot take a stay (the public API shows it as `dates_unavailable`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailability {
    /// A reservation, a hold or an imported block has those nights.
    DatesUnavailable,
    TooManyGuests,
    /// Fewer nights than the unit (or the season) asks for.
    MinNights,
}

/// Owner actions that create a reservation directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualKind {
    Block,
    Confirmed,
}

#[derive(Clone)]
pub struct Booking {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: Clock,
    importer: Importer,
}

/// How long the re-fetch of a cabin's feeds before a confirmation may take.
const CONFIRM_REFETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Booking {
    pub fn new(store: Arc<dyn Store>, config: Arc<Config>, clock: Clock) -> Booking {
        let importer = Importer::new(store.clone(), config.clone(), clock.clone());
        Booking { store, config, clock, importer }
    }

    pub fn importer(&self) -> &Importer {
        &self.importer
    }

    pub fn today(&self) -> NaiveDate {
        self.clock.today_in(self.config.timezone)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn quote(&self, unit: &Unit, stay: Stay) -> BookingResult<Quote> {
        let rules = self.store.list_rate_rules().await?;
        Ok(pricing::quote(&unit.pricing(), &rules, &self.pricing_policy().await?, stay))
    }

    /// The weekend nights (configuration) and the owner's deposit share ("Tu alojamiento";
    /// `POSADA_DEPOSIT_PERCENT` only seeds it on the first run).
    pub async fn pricing_policy(&self) -> BookingResult<domain::PricingPolicy> {
        Ok(crate::property::load(self.store.as_ref()).await?.pricing_policy(&self.config))
    }

    async fn active_unit(&self, id: i64) -> BookingResult<Unit> {
        match self.store.get_unit(id).await {
            Ok(u) if u.active => Ok(u),
            Ok(_) | Err(StoreError::NotFound) => Err(BookingError::UnitNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Refuses a stay that ends past the booking horizon, before anything reads the database:
    /// what we accept must also be in the calendar the OTAs import (the export covers it).
    pub fn within_horizon(&self, stay: Stay) -> BookingResult<()> {
        Ok(stay.within_horizon(self.today(), self.config.booking_horizon_days)?)
    }

    /// Every active unit for these nights: free or why not, with its quote.
    pub async fn availability(&self, stay: Stay, guests: u32) -> BookingResult<Vec<UnitAvailability>> {
        self.availability_except(stay, guests, None).await
    }

    /// [`Booking::availability`] for moving a reservation: its own nights (`except`, a code)
    /// do not count as taken, so "¿podemos llegar un día antes?" is free when only it is there.
    pub async fn availability_except(
        &self,
        stay: Stay,
        guests: u32,
        except: Option<&str>,
    ) -> BookingResult<Vec<UnitAvailability>> {
        if stay.check_in < self.today() {
            return Err(StayError::CheckInPast.into());
        }
        self.within_horizon(stay)?;
        if guests == 0 {
            return Err(StayError::Guests { capacity: 0 }.into());
        }
        let now = self.now();
        let units = self.store.list_units(false).await?;
        let rules = self.store.list_rate_rules().await?;
        let taken = self.store.active_stays(None, stay.check_in, stay.check_out).await?;
        let imported = self.store.external_blocks(None, stay.check_in, stay.check_out).await?;
        let policy = self.pricing_policy().await?;
        Ok(units
            .into_iter()
            .map(|unit| {
                let quote = pricing::quote(&unit.pricing(), &rules, &policy, stay);
                let reason = if taken
                    .iter()
                    .any(|t| t.unit_id == unit.id && t.occupies_at(now) && Some(t.code.as_str()) != except)
                    || imported.iter().any(|b| b.unit_id == unit.id && b.echo_of.is_none())
                {
                    Some(Unavailability::DatesUnavailable)
                } else if guests > unit.capacity {
                    Some(Unavailability::TooManyGuests)
                } else if stay.nights() < quote.min_nights {
                    Some(Unavailability::MinNights)
                } else {
                    None
                };
                UnitAvailability { unit, available: reason.is_none(), reason, quote }
            })
            .collect())
    }

    /// Validates, prices and places a hold that expires after `POSADA_HOLD_MINUTES`.
    pub async fn place_hold(&self, req: &HoldRequest) -> BookingResult<(Reservation, Unit, Quote)> {
        let channel = req.channel.as_str();
        let result = self.place_hold_inner(req).await;
        match &result {
            Ok(_) => metrics::counter!(m::RESERVATIONS_CREATED, "channel" => channel, "status" => "pre_reserved")
                .increment(1),
            Err(BookingError::Store(StoreError::Overlap)) => {
                metrics::counter!(m::RESERVATION_CONFLICTS, "channel" => channel).increment(1)
            }
            Err(_) => {}
        }
        result
    }

    async fn place_hold_inner(&self, req: &HoldRequest) -> BookingResult<(Reservation, Unit, Quote)> {
        let stay = Stay::new(req.check_in, req.check_out)?;
        self.within_horizon(stay)?;
        let unit = self.active_unit(req.unit_id).await?;
        let quote = self.quote(&unit, stay).await?;
        stay.validate_request(self.today(), req.guests, unit.capacity, quote.min_nights)?;
        let (name, phone) = check_contact(req)?;
        let now = self.now();
        let new = NewReservation {
            unit_id: unit.id,
            stay,
            guests: req.guests,
            status: ReservationStatus::PreReserved,
            channel: req.channel,
            guest_name: name,
            guest_phone: phone,
            guest_email: req.guest_email.clone(),
            total: quote.total,
            deposit: quote.deposit,
            hold_expires_at: Some(now + chrono::Duration::minutes(self.config.hold_minutes as i64)),
            notes: String::new(),
            actor: req.actor.clone(),
            request_key: req.request_key.clone(),
            client_address: match req.origin {
                HoldOrigin::Public { client } => Some(client.to_string()),
                HoldOrigin::Conversation => None,
            },
            jobs: self.after_hold_jobs(now),
        };
        let limits = HoldLimits {
            max_holds_per_contact: (self.config.max_holds_per_contact > 0).then_some(self.config.max_holds_per_contact),
            max_holds_per_address: (self.config.max_holds_per_address > 0).then_some(self.config.max_holds_per_address),
        };
        let reservation = self.store.create_reservation(&new, limits, now).await?;
        Ok((reservation, unit, quote))
    }

    /// A new hold gets its payment link from a job queued with it (never inside the hold's
    /// transaction: the provider is called later, outside any transaction).
    fn after_hold_jobs(&self, now: DateTime<Utc>) -> Vec<store::NewJob> {
        if self.config.payments.provider == crate::config::PaymentProvider::None {
            return Vec::new();
        }
        vec![store::NewJob {
            kind: crate::payments::LINK_JOB.into(),
            payload: serde_json::json!({"code": "{code}"}),
            dedupe_key: Some("payment_link:{code}".into()),
            run_at: now,
            max_attempts: 10_000,
        }]
    }

    /// An owner's block or a booking taken outside the bot (phone, cash).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_manual(
        &self,
        kind: ManualKind,
        unit_id: i64,
        stay: Stay,
        guests: u32,
        guest_name: &str,
        guest_phone: &str,
        guest_email: Option<String>,
        note: &str,
        actor: &str,
    ) -> BookingResult<Reservation> {
        self.within_horizon(stay)?;
        let unit = self.active_unit(unit_id).await?;
        let (status, total, deposit) = match kind {
            ManualKind::Block => (ReservationStatus::Blocked, Money::ZERO, Money::ZERO),
            ManualKind::Confirmed => {
                if guests == 0 || guests > unit.capacity {
                    return Err(StayError::Guests { capacity: unit.capacity }.into());
                }
                let q = self.quote(&unit, stay).await?;
                (ReservationStatus::Confirmed, q.total, q.deposit)
            }
        };
        let new = NewReservation {
            unit_id,
            stay,
            guests,
            status,
            channel: domain::Channel::Admin,
            guest_name: guest_name.trim().to_string(),
            guest_phone: guest_phone.trim().to_string(),
            guest_email,
            total,
            deposit,
            hold_expires_at: None,
            notes: note.trim().to_string(),
            actor: actor.to_string(),
            request_key: None,
            client_address: None,
            jobs: Vec::new(),
        };
        let r = self.store.create_reservation(&new, HoldLimits::default(), self.now()).await?;
        metrics::counter!(m::RESERVATIONS_CREATED, "channel" => "admin", "status" => status.as_str()).increment(1);
        self.stay_messages_changed(&r).await;
        Ok(r)
    }

    /// Confirms a hold (or, for a late payment, an expired one). The cabin's OTA feeds are
    /// fetched again first, outside any transaction: a booking made there in the meantime shows
    /// up as a conflict (or, for an expired hold, refuses the nights). If a feed cannot be
    /// fetched the confirmation goes ahead with the `stale_sync` flag.
    pub async fn confirm(&self, code: &str, actor: &str, note: &str, late_payment: bool) -> BookingResult<Reservation> {
        let current = self.store.get_reservation(code).await?;
        let mut stale = false;
        if matches!(current.status, ReservationStatus::PreReserved | ReservationStatus::Expired) {
            let reports = self.importer.sync_unit(current.unit_id, CONFIRM_REFETCH_TIMEOUT).await?;
            stale = reports.iter().any(|r| r.result == "error");
        }
        let change = Change { actor: actor.into(), note: note.into(), allow_expired: late_payment };
        let mut r = self.store.transition(code, ReservationStatus::Confirmed, &change, self.now()).await?;
        metrics::counter!(m::RESERVATIONS_CONFIRMED, "channel" => r.channel.as_str()).increment(1);
        if stale {
            let flag = Change {
                actor: "ical".into(),
                note: "No se pudo releer un calendario importado antes de confirmar.".into(),
                allow_expired: false,
            };
            r = self.store.set_flag(code, domain::AttentionFlag::StaleSync, true, &flag, self.now()).await?;
        }
        self.stay_messages_changed(&r).await;
        Ok(r)
    }

    pub async fn cancel(&self, code: &str, actor: &str, reason: &str) -> BookingResult<Reservation> {
        let change = Change { actor: actor.into(), note: reason.into(), allow_expired: false };
        let r = self.store.transition(code, ReservationStatus::Cancelled, &change, self.now()).await?;
        metrics::counter!(m::RESERVATIONS_CANCELLED, "channel" => r.channel.as_str()).increment(1);
        self.stay_messages_changed(&r).await;
        Ok(r)
    }

    /// Moves a reservation; holds and bookings are re-priced, blocks stay free of charge.
    pub async fn change_stay(
        &self,
        code: &str,
        unit_id: i64,
        stay: Stay,
        actor: &str,
        note: &str,
    ) -> BookingResult<Reservation> {
        self.within_horizon(stay)?;
        let current = self.store.get_reservation(code).await?;
        let unit = self.active_unit(unit_id).await?;
        let (total, deposit) = if current.status == ReservationStatus::Blocked {
            (Money::ZERO, Money::ZERO)
        } else {
            if current.guests > unit.capacity {
                return Err(StayError::Guests { capacity: unit.capacity }.into());
            }
            let q = self.quote(&unit, stay).await?;
            (q.total, q.deposit)
        };
        let change = Change { actor: actor.into(), note: note.into(), allow_expired: false };
        let r = self.store.change_stay(code, unit_id, stay, total, deposit, &change, self.now()).await?;
        self.stay_messages_changed(&r).await;
        Ok(r)
    }

    /// Plans a reservation's automatic messages again ([`crate::stay_messages`]): call it
    /// whenever a reservation's dates or status change. Idempotent: it cancels what no longer
    /// applies (a cancelled reservation, a message turned off), moves what is due to the new
    /// dates and leaves what was sent. Each due message gets one job on the queue.
    pub async fn schedule_stay_messages(&self, r: &Reservation) -> BookingResult<Vec<store::StayMessage>> {
        use crate::stay_messages as sm;
        use domain::stay_messages::{Due, due_at};
        use domain::{StayMessageKind, StayMessageStatus};
        let p = crate::property::load(self.store.as_ref()).await?;
        let quiet = sm::quiet_hours(&p);
        let leave_by = sm::parse_time(p.check_out_until()).unwrap_or(chrono::NaiveTime::MIN);
        let existing = self.store.stay_messages(r.id).await?;
        let now = self.now();
        let mut plan = Vec::new();
        for kind in StayMessageKind::ALL {
            let settings = sm::message_settings(&p, kind);
            let previous =
                existing.iter().find(|m| m.kind == kind && m.status == StayMessageStatus::Due).map(|m| m.due_at);
            let wanted = if r.status == ReservationStatus::Cancelled {
                store::StayPlan::Close(StayMessageStatus::Cancelled, "La reserva se canceló.".into())
            } else if let Some(why) = sm::not_applicable(kind, r) {
                let status = if r.status == ReservationStatus::Confirmed {
                    StayMessageStatus::Skipped
                } else {
                    StayMessageStatus::Cancelled
                };
                store::StayPlan::Close(status, why.into())
            } else if !settings.on {
                store::StayPlan::Close(StayMessageStatus::Cancelled, "Apagado en «Mensajes automáticos».".into())
            } else {
                match due_at(kind, settings.timing, r.stay, quiet, leave_by, &self.config.timezone, now, previous) {
                    Due::At(t) => store::StayPlan::At(t),
                    Due::TooLate => {
                        store::StayPlan::Close(StayMessageStatus::Skipped, "Ya había pasado su momento.".into())
                    }
                }
            };
            plan.push((kind, wanted));
        }
        Ok(self.store.plan_stay_messages(r.id, &plan, crate::stay_messages::JOB, now).await?)
    }

    /// After a change that is already committed: a failure here must not undo it (the hourly
    /// maintenance plans every upcoming stay again).
    pub(crate) async fn stay_messages_changed(&self, r: &Reservation) {
        if let Err(e) = self.schedule_stay_messages(r).await {
            tracing::warn!(code = %r.code, error = %e, "could not plan the stay's messages (maintenance will)");
        }
    }

    /// The hourly safety net: plans again every confirmed stay that is not over (a crash
    /// between a confirmation and its plan loses nothing). Returns how many were planned.
    pub async fn schedule_upcoming_stay_messages(&self) -> BookingResult<usize> {
        let filter = store::ReservationFilter {
            status: Some(ReservationStatus::Confirmed),
            from: Some(self.today() - chrono::Duration::days(8)),
            limit: 500,
            ..Default::default()
        };
        let mut planned = 0;
        loop {
            let (page, _) = self
                .store
                .list_reservations(&store::ReservationFilter { offset: planned as i64, ..filter.clone() })
                .await?;
            for r in &page {
                self.schedule_stay_messages(r).await?;
            }
            planned += page.len();
            if page.len() < filter.limit as usize {
                return Ok(planned);
            }
        }
    }

    /// A guest moves a hold or a paid booking (#17 step 3): the new stay under the same rules as
    /// a hold (not in the past in the property's zone, the horizon, capacity, minimum nights),
    /// priced with the same pricing, and moved in one transaction under the no-overlap rule
    /// ([`store::ReservationStore::move_reservation`]). A paid booking keeps the deposit it paid
    /// and the difference goes to the balance (or is a credit); a hold takes the new deposit.
    /// Returns the reservation before and after.
    pub async fn move_reservation(
        &self,
        code: &str,
        unit_id: i64,
        stay: Stay,
        guests: u32,
        actor: &str,
    ) -> BookingResult<(Reservation, Reservation)> {
        self.within_horizon(stay)?;
        let before = self.store.get_reservation(code).await?;
        if !matches!(before.status, ReservationStatus::PreReserved | ReservationStatus::Confirmed) {
            return Err(StoreError::NotActive(before.status).into());
        }
        let unit = self.active_unit(unit_id).await?;
        let quote = self.quote(&unit, stay).await?;
        stay.validate_request(self.today(), guests, unit.capacity, quote.min_nights)?;
        let deposit = if before.status == ReservationStatus::Confirmed { before.deposit } else { quote.deposit };
        let to = store::MoveTo { unit_id, stay, guests, total: quote.total, deposit };
        let difference = quote.total - before.total;
        let note = if difference > Money::ZERO {
            format!("Cambio pedido por el huésped: {} más en el saldo.", difference.to_ars())
        } else if difference < Money::ZERO && before.status == ReservationStatus::Confirmed {
            format!(
                "Cambio pedido por el huésped: {} a favor del huésped, a resolver por el dueño.",
                (Money::ZERO - difference).to_ars()
            )
        } else {
            "Cambio pedido por el huésped.".to_string()
        };
        let change = Change { actor: actor.into(), note, allow_expired: false };
        let after = self.store.move_reservation(code, &to, &change, self.now()).await?;
        // The stay's automatic messages follow the new dates (a crash before this: the hourly
        // re-plan catches up).
        self.stay_messages_changed(&after).await;
        Ok((before, after))
    }

    /// The sweeper's work: expire holds whose time is up.
    pub async fn expire_stale_holds(&self) -> BookingResult<Vec<String>> {
        let codes = self.store.expire_stale_holds(self.now()).await?;
        if !codes.is_empty() {
            metrics::counter!(m::RESERVATIONS_EXPIRED).increment(codes.len() as u64);
        }
        Ok(codes)
    }
}
