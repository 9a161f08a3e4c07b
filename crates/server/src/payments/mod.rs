//! Deposits: a payment link bound to each hold, and confirmation on a verified payment.
//!
//! The link is created by a job after the hold commits (never inside a write transaction): one
//! link per hold, for the deposit, expiring with the hold. A notification is only a hint: the
//! payment is always fetched again from the provider, and an approved payment of at least the
//! deposit, in ARS, for a known reservation confirms it — in the same transaction that records
//! the payment, idempotently.
//!
//! This module holds only these provider-neutral rules. Each provider's wire format lives behind
//! [`PaymentProvider`] (`provider.rs`): Mercado Pago in `mercadopago.rs`; the sandbox is the same
//! client pointed at a local fake of Mercado Pago's API, so the demo drives exactly this code.

pub mod balance;
pub mod mercadopago;
pub mod provider;
pub mod refunds;

pub use provider::PaymentProvider;

use crate::booking::Booking;
use crate::channels::SendError;
use crate::chat::Chat;
use crate::clock::Clock;
use crate::config::{self, Config, PaymentsConfig};
use crate::jobs::Outcome;
use crate::metrics as m;
use chrono::{DateTime, Duration, FixedOffset, Offset, Utc};
use domain::{AttentionFlag, Money, ReservationStatus};
use provider::{LinkRequest, NotificationEvent, PaymentStatus, ReturnUrls};
use serde_json::json;
use std::sync::Arc;
use store::{Change, NewJob, PaymentLink, PaymentRecord, Reservation, Store, StoreError};

pub const LINK_JOB: &str = "payment_link";
pub const PROCESS_JOB: &str = "process_payment";
pub const REJECTED_NOTICE_JOB: &str = "payment_rejected_notice";

/// The configured provider's client; `None` when deposits are collected by hand.
pub fn provider_for(config: &PaymentsConfig) -> Option<Arc<dyn PaymentProvider>> {
    match config.provider {
        config::PaymentProvider::None => None,
        // The sandbox is not a second implementation: it is Mercado Pago's client against our
        // own fake of its API (`config.api_base` is set to it at start-up), so the demo and the
        // tests of the sandbox exercise the production parser, signature check and refunds.
        config::PaymentProvider::Sandbox | config::PaymentProvider::MercadoPago => {
            Some(Arc::new(mercadopago::MercadoPago::new(config)))
        }
    }
}

/// The only currency deposits are taken in.
const CURRENCY: &str = "ARS";

#[derive(Clone)]
pub struct Payments {
    store: Arc<dyn Store>,
    booking: Booking,
    chat: Chat,
    config: Arc<Config>,
    clock: Clock,
    provider: Option<Arc<dyn PaymentProvider>>,
}

impl Payments {
    pub fn new(store: Arc<dyn Store>, booking: Booking, chat: Chat, config: Arc<Config>, clock: Clock) -> Payments {
        let provider = provider_for(&config.payments);
        Payments { store, booking, chat, config, clock, provider }
    }

    /// The provider's client (`None` when payments are off).
    pub fn provider(&self) -> Option<&Arc<dyn PaymentProvider>> {
        self.provider.as_ref()
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `t` in the property's offset at that moment (what the guest's checkout shows).
    fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        let local = t.with_timezone(&self.config.timezone);
        let offset = FixedOffset::east_opt(local.offset().fix().local_minus_utc())
            .unwrap_or(FixedOffset::west_opt(3 * 3600).unwrap());
        t.with_timezone(&offset)
    }

    /// What to ask the provider for a hold.
    pub fn link_request(&self, provider: &dyn PaymentProvider, r: &Reservation, unit_name: &str) -> LinkRequest {
        let public = &self.config.public_url;
        // The share this reservation was priced with (the owner may have changed it since).
        let percent = if r.total.0 > 0 { (r.deposit.0 * 100 + r.total.0 / 2) / r.total.0 } else { 0 };
        let title = format!(
            "Seña {} % · {} · {} → {} ({} noches)",
            percent,
            unit_name,
            r.stay.check_in.format("%d/%m/%Y"),
            r.stay.check_out.format("%d/%m/%Y"),
            r.stay.nights()
        );
        let named = !r.guest_name.is_empty() && !crate::chat::is_unnamed(&r.guest_name);
        LinkRequest {
            code: r.code.clone(),
            reference: balance::reference(store::PaymentPurpose::Deposit, &r.code),
            amount: r.deposit,
            title,
            valid_from: self.local(self.now()),
            expires_at: self.local(r.hold_expires_at.unwrap_or(self.now() + Duration::hours(1))),
            payer_name: named.then(|| r.guest_name.clone()),
            payer_email: r.guest_email.clone(),
            notification_url: format!("{public}/api/v1/webhooks/{}", provider.api_name()),
            return_urls: ReturnUrls {
                approved: format!("{public}/pago/aprobado?code={}", r.code),
                rejected: format!("{public}/pago/rechazado?code={}", r.code),
                pending: format!("{public}/pago/pendiente?code={}", r.code),
            },
            statement_descriptor: self.config.property.name.clone(),
        }
    }

    /// The link job: one link per hold; a retry or a second request gets the same link.
    pub async fn create_link(&self, code: &str) -> Outcome {
        let Some(provider) = &self.provider else { return Outcome::Done };
        let r = match self.store.get_reservation(code).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let now = self.now();
        if r.status != ReservationStatus::PreReserved || !r.occupies_at(now) {
            return Outcome::Done;
        }
        let link = match self.store.payment_link(r.id).await {
            Ok(Some(link)) => link,
            Ok(None) => {
                let unit = self.store.get_unit(r.unit_id).await.map(|u| u.name).unwrap_or_default();
                match provider.create_link(&self.link_request(provider.as_ref(), &r, &unit)).await {
                    Ok(created) => {
                        metrics::counter!(m::PREFERENCES, "result" => "created").increment(1);
                        let link = PaymentLink {
                            id: 0,
                            reservation_id: r.id,
                            provider: provider.kind().as_str().into(),
                            preference_id: created.link_id,
                            url: created.url,
                            amount: r.deposit,
                            expires_at: r.hold_expires_at,
                            created_at: now,
                        };
                        match self.store.save_payment_link(&link, now).await {
                            Ok(saved) => saved,
                            Err(e) => return Outcome::Retry(e.to_string()),
                        }
                    }
                    Err(SendError::BreakerOpen) => return Outcome::Again(now + Duration::seconds(30)),
                    Err(SendError::Retryable(e)) => {
                        metrics::counter!(m::PREFERENCES, "result" => "failed").increment(1);
                        return Outcome::Retry(e);
                    }
                    Err(SendError::Permanent(e)) => {
                        metrics::counter!(m::PREFERENCES, "result" => "failed").increment(1);
                        self.alert(&format!("No pude crear el link de pago de la reserva {code}: {e}")).await;
                        return Outcome::Fail(e);
                    }
                }
            }
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if let Some(contact) = self.chat.contact_of(&r).await {
            let event = conversation::Event::PaymentLink { code: r.code.clone(), url: link.url.clone() };
            if let Err(e) = self.chat.outside_event(contact.id, event, None).await {
                return Outcome::Retry(e.to_string());
            }
        }
        Outcome::Done
    }

    async fn alert(&self, text: &str) {
        let job = crate::chat::alert_job(json!({"text": text}), self.now());
        if let Err(e) = self.store.enqueue_job(&job, self.now()).await {
            tracing::error!(error = %e, "could not queue an owner alert");
        }
    }

    /// The notification job: fetch the payment, record it, and act on it.
    pub async fn process_notification(&self, event_id: i64) -> Outcome {
        let Some(provider) = &self.provider else { return Outcome::Done };
        let event = match self.store.get_inbound(event_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if event.processed_at.is_some() {
            return Outcome::Done;
        }
        let outcome = match provider.notification_event(&event.payload) {
            NotificationEvent::Payment { id, signed } => {
                if !signed {
                    tracing::info!(event = event.id, "payment id only in the unsigned body: read from the API");
                }
                self.handle_payment(provider.as_ref(), &id).await
            }
            NotificationEvent::Other => Outcome::Done,
        };
        if matches!(outcome, Outcome::Done) {
            // Marks the notification handled (a turn with no contact work).
            let _ = self.store.mark_inbound_processed(event.id, self.now()).await;
        }
        outcome
    }

    async fn handle_payment(&self, provider: &dyn PaymentProvider, id: &str) -> Outcome {
        let p = match provider.payment(id).await {
            Ok(p) => p,
            Err(SendError::BreakerOpen) => return Outcome::Again(self.now() + Duration::seconds(30)),
            Err(SendError::Retryable(e)) => return Outcome::Retry(e),
            Err(SendError::Permanent(e)) => return Outcome::Fail(e),
        };
        // The reference says what the payment is for: a balance link's never reaches the
        // deposit's rules (nor a deposit's the balance's).
        if let balance::Reference::Balance(code) = balance::Reference::parse(&p.reference) {
            let code = code.to_string();
            metrics::counter!(m::PAYMENTS, "status" => p.status_name.clone()).increment(1);
            return match self.balance_payment(provider, p, &code).await {
                Ok(()) => Outcome::Done,
                Err(e) => Outcome::Retry(e.to_string()),
            };
        }
        let reservation = match self.store.get_reservation(&p.reference).await {
            Ok(r) => Some(r),
            Err(StoreError::NotFound) => None,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let record = PaymentRecord {
            purpose: store::PaymentPurpose::Deposit,
            provider: provider.kind().as_str().into(),
            provider_payment_id: p.id,
            reservation_id: reservation.as_ref().map(|r| r.id),
            status: p.status_name.clone(),
            status_detail: p.status_detail,
            amount: p.amount,
            currency: p.currency.clone(),
            external_reference: p.reference,
            raw: p.raw,
        };
        metrics::counter!(m::PAYMENTS, "status" => p.status_name).increment(1);
        let result = match (p.status, &reservation) {
            (PaymentStatus::Approved, Some(r)) if p.currency == CURRENCY && p.amount >= r.deposit => {
                self.approved(record, r).await
            }
            (PaymentStatus::Approved, _) => self.mismatch(record, reservation.as_ref()).await,
            (PaymentStatus::Rejected, Some(r)) => self.rejected(record, r).await,
            (PaymentStatus::MoneyBack, Some(r)) => self.money_back(record, r).await,
            _ => self.store.record_payment(&record, None, self.now()).await.map(|_| ()).map_err(anyhow::Error::from),
        };
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn approved(&self, record: PaymentRecord, r: &Reservation) -> anyhow::Result<()> {
        if r.status == ReservationStatus::Confirmed {
            self.store.record_payment(&record, None, self.now()).await?;
            // Again after a crash between the confirmation and its plan (idempotent).
            self.booking.schedule_stay_messages(r).await?;
            // This payment confirmed it and the process died before telling anyone: tell now
            // (once: the confirmation is keyed by the reservation).
            let by_this = self.store.audit_for(r.id).await?.iter().any(|a| {
                a.action == "confirmed"
                    && a.actor == format!("payment:{}", record.provider)
                    && a.note.contains(&record.provider_payment_id)
            });
            if by_this {
                self.tell_confirmed(r, record.amount).await?;
            }
            return Ok(());
        }
        if r.status == ReservationStatus::Cancelled || r.status == ReservationStatus::Blocked {
            let outcome = self.store.record_payment(&record, None, self.now()).await?;
            // A cancellation whose refund we handle (a partial refund leaves the payment
            // approved, and Mercado Pago notifies it again): the owner already decided.
            if !self.store.refunds_of_payment(&record.provider, &record.provider_payment_id).await?.is_empty() {
                return Ok(());
            }
            self.needs_refund(r, &record, "la reserva estaba cancelada").await?;
            // The guest paid and the checkout said "te llega la confirmación": they hear what
            // happened in their chat, once, and a person takes it from there.
            if outcome.status_changed {
                self.chat.payment_needs_owner(r, record.amount, conversation::PaymentProblem::Cancelled).await?;
            }
            return Ok(());
        }
        let late = r.status == ReservationStatus::Expired || !r.occupies_at(self.now());
        // The OTAs' calendars first, outside any transaction.
        let stale = match self.booking.importer().sync_unit(r.unit_id, std::time::Duration::from_secs(5)).await {
            Ok(reports) => reports.iter().any(|rep| rep.result == "error"),
            Err(_) => true,
        };
        let change = Change {
            actor: format!("payment:{}", record.provider),
            note: format!("Pago {} aprobado por {}", record.provider_payment_id, record.amount.to_ars_spaced()),
            allow_expired: true,
        };
        let outcome = self.store.record_payment(&record, Some((&r.code, &change)), self.now()).await?;
        match outcome.confirmation {
            Some(Ok(confirmed)) => {
                metrics::counter!(m::PAYMENT_CONFIRMATIONS, "late" => if late { "true" } else { "false" }).increment(1);
                metrics::counter!(m::RESERVATIONS_CONFIRMED, "channel" => confirmed.channel.as_str()).increment(1);
                if stale {
                    let flag = Change {
                        actor: "ical".into(),
                        note: "No se pudo releer un calendario antes de confirmar.".into(),
                        allow_expired: false,
                    };
                    self.store.set_flag(&confirmed.code, AttentionFlag::StaleSync, true, &flag, self.now()).await?;
                }
                // A failure here must not cost the guest their confirmation: maintenance plans it.
                self.booking.stay_messages_changed(&confirmed).await;
                crate::fault::point("deposit_after_confirm");
                self.tell_confirmed(&confirmed, record.amount).await?;
            }
            Some(Err(StoreError::Overlap))
            | Some(Err(StoreError::Transition(_)))
            | Some(Err(StoreError::HoldExpired)) => {
                metrics::counter!(m::LATE_PAYMENTS, "result" => "refund").increment(1);
                self.needs_refund(r, &record, "las fechas ya no estaban libres").await?;
                self.chat.payment_needs_owner(r, record.amount, conversation::PaymentProblem::DatesTaken).await?;
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        Ok(())
    }

    /// The guest's confirmation on their channel, and the owner's notice.
    async fn tell_confirmed(&self, r: &Reservation, paid: Money) -> anyhow::Result<()> {
        let unit = self.store.get_unit(r.unit_id).await?;
        let balance = if r.total > paid { r.total - paid } else { Money::ZERO };
        let p = self.chat.property().await?;
        let mut text = format!(
            "🎉 ¡Pago recibido! Tu reserva *{}* está confirmada.\n{} · del {} al {} · {} noches · {} personas\nPagaste {} de seña.",
            r.code,
            unit.name,
            r.stay.check_in.format("%d/%m"),
            r.stay.check_out.format("%d/%m"),
            r.stay.nights(),
            r.guests,
            paid.to_ars()
        );
        if balance > Money::ZERO {
            text.push_str(&format!(
                "\nEl saldo de {} se abona al llegar (efectivo o transferencia).",
                balance.to_ars()
            ));
        }
        text.push_str(&format!(
            "\nCheck-in desde las {} · check-out hasta las {}.",
            p.check_in_from(),
            p.check_out_until()
        ));
        if let Some(map) = p.map_url() {
            text.push_str(&format!("\nCómo llegar: {map}"));
        }
        let alert_text = format!(
            "✅ Seña recibida: {} · {} del {} al {} · {} ({}).",
            r.code,
            unit.name,
            r.stay.check_in.format("%d/%m"),
            r.stay.check_out.format("%d/%m"),
            paid.to_ars(),
            if r.guest_name.is_empty() { "sin nombre" } else { &r.guest_name }
        );
        // Once per reservation, whatever runs this again after a crash (the payment's job
        // retried, Mercado Pago notifying again): the guest's message and the owner's alert are
        // committed together under one key; the alert alone is keyed by its job.
        let mut alert = crate::chat::alert_job(json!({"text": alert_text}), self.now());
        alert.dedupe_key = Some(format!("confirmed_alert:{}", r.code));
        let key = format!("confirmed:{}", r.code);
        match self.chat.contact_of(r).await {
            Some(contact) => {
                let mut message = crate::chat::render::text(&text);
                if let Some(wa) = &self.config.whatsapp {
                    message = crate::chat::render::with_template(
                        message,
                        &wa.template_confirmation,
                        &wa.template_language,
                        std::slice::from_ref(&r.code),
                    );
                }
                if self.chat.notify_once_as(&contact, message, &key, vec![alert]).await? {
                    self.chat.copy_by_email(r, &format!("Reserva {} confirmada", r.code), &text).await?;
                }
            }
            None => {
                self.store.enqueue_job(&alert, self.now()).await?;
            }
        }
        Ok(())
    }

    async fn mismatch(&self, record: PaymentRecord, r: Option<&Reservation>) -> anyhow::Result<()> {
        self.store.record_payment(&record, None, self.now()).await?;
        metrics::counter!(m::AMOUNT_MISMATCHES).increment(1);
        let why = match r {
            None => format!("referencia desconocida {:?}", record.external_reference),
            Some(r) if record.currency != CURRENCY => format!("moneda {} en la reserva {}", record.currency, r.code),
            Some(r) => {
                format!("{} pagado, la seña era {} (reserva {})", record.amount.to_ars(), r.deposit.to_ars(), r.code)
            }
        };
        if let Some(r) = r {
            let change =
                Change { actor: format!("payment:{}", record.provider), note: why.clone(), allow_expired: false };
            self.store.set_flag(&r.code, AttentionFlag::AmountMismatch, true, &change, self.now()).await?;
        }
        self.alert(&format!("⚠️ Pago {} que no cuadra: {why}. Revisalo.", record.provider_payment_id)).await;
        Ok(())
    }

    async fn rejected(&self, record: PaymentRecord, r: &Reservation) -> anyhow::Result<()> {
        let outcome = self.store.record_payment(&record, None, self.now()).await?;
        if !outcome.status_changed || r.status != ReservationStatus::PreReserved || !r.occupies_at(self.now()) {
            return Ok(());
        }
        // At most one notice per hold: the job's dedupe key.
        let job = NewJob {
            kind: REJECTED_NOTICE_JOB.into(),
            payload: json!({"code": r.code}),
            dedupe_key: Some(format!("payment_rejected:{}", r.code)),
            run_at: self.now(),
            max_attempts: 20,
        };
        self.store.enqueue_job(&job, self.now()).await?;
        Ok(())
    }

    /// The rejected-payment notice job.
    pub async fn rejected_notice(&self, code: &str) -> Outcome {
        let result = async {
            let r = self.store.get_reservation(code).await?;
            if r.status != ReservationStatus::PreReserved || !r.occupies_at(self.now()) {
                return anyhow::Ok(());
            }
            let link = self.store.payment_link(r.id).await?;
            if let Some(contact) = self.chat.contact_of(&r).await {
                let mut text = format!("El pago de la seña de la reserva *{}* no se aprobó.", r.code);
                if let Some(l) = link {
                    text.push_str(&format!(" Podés intentar de nuevo con otra tarjeta desde el mismo link: {}", l.url));
                }
                self.chat.notify(contact.id, &text, None).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn money_back(&self, record: PaymentRecord, r: &Reservation) -> anyhow::Result<()> {
        let outcome = self.store.record_payment(&record, None, self.now()).await?;
        // Our own refund coming back as `refunded` is no news (chargebacks and refunds made
        // elsewhere still are).
        let ours = self
            .our_refund_explains(&record.provider, &record.provider_payment_id, &record.status, record.amount)
            .await;
        if outcome.status_changed && !ours {
            self.needs_refund(r, &record, &format!("el pago pasó a {}", record.status)).await?;
        }
        Ok(())
    }

    /// Money the owner must look at; the reservation itself is never cancelled silently.
    async fn needs_refund(&self, r: &Reservation, record: &PaymentRecord, why: &str) -> anyhow::Result<()> {
        let change =
            Change { actor: format!("payment:{}", record.provider), note: why.to_string(), allow_expired: false };
        self.store.set_flag(&r.code, AttentionFlag::NeedsRefund, true, &change, self.now()).await?;
        self.alert(&format!(
            "💸 Reserva {}: pago {} de {} — {why}. Hay que devolverlo o resolverlo.",
            r.code,
            record.provider_payment_id,
            record.amount.to_ars()
        ))
        .await;
        Ok(())
    }
}
