//! The balance (#17 step 2): a second checkout preference for what is still due on a confirmed
//! reservation, through the same [`PaymentProvider`], and its payment applied on the verified
//! webhook.
//!
//! - **Bound and told apart.** Its reference is `{code}-SALDO` (a deposit's is the bare code):
//!   a deposit payment can never settle a balance, nor a balance payment confirm a hold.
//! - **Before arrival.** It expires at 00:00 of the check-in day in the property's time zone
//!   ([`balance_deadline`]); from then on the balance is collected at the door.
//! - **One link per amount.** Links are stored by (reservation, amount, deadline): asking again
//!   reuses the link; a total changed by a date change, a partial payment or new dates make a
//!   new preference for the new amount — an old link is never handed out for another amount.
//! - **Created by jobs.** [`BALANCE_LINK_JOB`] (the owner's «Enviar link de saldo») or the
//!   caller's own job ([`Payments::balance_link`], the scheduled reminders' `{link_pago}`);
//!   never inside a request.
//! - **Paid.** The payment is fetched from the provider; the store applies it in one
//!   transaction (`record_balance_payment`): the whole balance → paid by Mercado Pago; less →
//!   flagged for the owner with the amounts; nothing due → flagged for a refund; a repeated
//!   notification → nothing. The guest's thanks and the owner's line go through the outbox once
//!   ([`BALANCE_NOTICE_JOB`], queued in that transaction, deduplicated by payment id, its message
//!   committed under a once-key).

use super::Payments;
use super::provider::{LinkRequest, PaymentProvider, PaymentStatus, ProviderPayment, ReturnUrls};
use crate::channels::SendError;
use crate::jobs::Outcome;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::{Money, ReservationStatus};
use serde_json::{Value, json};
use store::{BalanceEffect, BalanceLink, NewJob, PaymentPurpose, PaymentRecord, Reservation, StoreError};

/// Creates (or reuses) a reservation's balance link and sends it to the guest's chat.
pub const BALANCE_LINK_JOB: &str = "balance_link";
/// Thanks the guest (and tells the owner) after a balance payment.
pub const BALANCE_NOTICE_JOB: &str = "balance_payment_notice";

/// What follows the code in a balance link's reference.
const BALANCE_SUFFIX: &str = "-SALDO";

/// What a payment's reference binds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    Deposit(&'a str),
    Balance(&'a str),
}

impl<'a> Reference<'a> {
    pub fn parse(text: &'a str) -> Reference<'a> {
        match text.strip_suffix(BALANCE_SUFFIX) {
            Some(code) => Reference::Balance(code),
            None => Reference::Deposit(text),
        }
    }

    pub fn code(self) -> &'a str {
        match self {
            Reference::Deposit(c) | Reference::Balance(c) => c,
        }
    }

    pub fn purpose(self) -> PaymentPurpose {
        match self {
            Reference::Deposit(_) => PaymentPurpose::Deposit,
            Reference::Balance(_) => PaymentPurpose::Balance,
        }
    }
}

/// The reference a link of `purpose` carries for reservation `code`.
pub fn reference(purpose: PaymentPurpose, code: &str) -> String {
    match purpose {
        PaymentPurpose::Deposit => code.to_string(),
        PaymentPurpose::Balance => format!("{code}{BALANCE_SUFFIX}"),
    }
}

/// When a balance link stops taking payments: 00:00 of the check-in day in the property's time
/// zone (the end of the day before arrival), whatever the UTC date is then.
pub fn balance_deadline(check_in: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let midnight = check_in.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // A zone that skips midnight (DST): the first instant of the day.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| midnight.and_utc()),
    }
}

/// The job that creates (or reuses) the balance link and sends it to the guest; `actor` is who
/// asked (audited).
pub fn link_job(code: &str, actor: &str, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: BALANCE_LINK_JOB.into(),
        payload: json!({"code": code, "actor": actor}),
        dedupe_key: None,
        run_at: now,
        max_attempts: 20,
    }
}

fn notice_job(now: DateTime<Utc>) -> NewJob {
    NewJob { kind: BALANCE_NOTICE_JOB.into(), payload: json!({}), dedupe_key: None, run_at: now, max_attempts: 20 }
}

impl Payments {
    /// The link for what is still due on `r`, for the balance reminders' `{link_pago}` and the
    /// owner's «Enviar link de saldo». Call it from a job: it may ask the provider.
    ///
    /// - `Ok(None)`: no provider configured, `r` is not confirmed, nothing is pending (paid by
    ///   hand or through a link), or arrival has come (the deadline, 00:00 of the check-in day
    ///   in the property's zone, passed by the injected clock).
    /// - `Ok(Some(url))`: the stored link for exactly the pending amount and this deadline, or
    ///   a new preference for it, stored before it is returned (a second call returns the same
    ///   URL; a changed total gets a new one).
    /// - `Err`: the provider or the database failed (retry later; nothing was sent).
    pub async fn balance_link(&self, r: &Reservation) -> anyhow::Result<Option<String>> {
        match self.ensure_balance_link(r).await {
            Ok(link) => Ok(link.map(|l| l.url)),
            Err(e) => Err(anyhow::anyhow!("balance link for {}: {}", r.code, send_error_text(&e))),
        }
    }

    /// The deadline and amount a balance link for `r` would have now; `None` when none is due.
    pub fn balance_link_terms(&self, r: &Reservation) -> Option<(Money, DateTime<Utc>)> {
        let due = r.balance_due();
        let deadline = balance_deadline(r.stay.check_in, self.config.timezone);
        (r.status == ReservationStatus::Confirmed && due > Money::ZERO && self.now() < deadline)
            .then_some((due, deadline))
    }

    async fn ensure_balance_link(&self, r: &Reservation) -> Result<Option<BalanceLink>, SendError> {
        let Some(provider) = &self.provider else { return Ok(None) };
        let Some((due, deadline)) = self.balance_link_terms(r) else { return Ok(None) };
        let db = |e: StoreError| SendError::Retryable(e.to_string());
        if let Some(link) = self.store.balance_link(r.id, due, deadline).await.map_err(db)? {
            return Ok(Some(link));
        }
        let unit = self.store.get_unit(r.unit_id).await.map(|u| u.name).unwrap_or_default();
        let request = self.balance_request(provider.as_ref(), r, &unit, due, deadline);
        let created = provider.create_link(&request).await?;
        metrics::counter!(crate::metrics::PREFERENCES, "result" => "created").increment(1);
        // A crash here leaves a preference nobody was given; the retry makes another one.
        crate::fault::point("balance_link_after_create");
        let link = BalanceLink {
            id: 0,
            reservation_id: r.id,
            provider: provider.kind().as_str().into(),
            preference_id: created.link_id,
            url: created.url,
            amount: due,
            expires_at: deadline,
            created_at: self.now(),
        };
        Ok(Some(self.store.save_balance_link(&link, self.now()).await.map_err(db)?))
    }

    fn balance_request(
        &self,
        provider: &dyn PaymentProvider,
        r: &Reservation,
        unit_name: &str,
        due: Money,
        deadline: DateTime<Utc>,
    ) -> LinkRequest {
        let public = &self.config.public_url;
        let named = !r.guest_name.is_empty() && !crate::chat::is_unnamed(&r.guest_name);
        LinkRequest {
            code: r.code.clone(),
            reference: reference(PaymentPurpose::Balance, &r.code),
            amount: due,
            title: format!(
                "Saldo · {} · {} → {} ({} noches)",
                unit_name,
                r.stay.check_in.format("%d/%m/%Y"),
                r.stay.check_out.format("%d/%m/%Y"),
                r.stay.nights()
            ),
            valid_from: self.local(self.now()),
            expires_at: self.local(deadline),
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

    /// [`BALANCE_LINK_JOB`]: the link for what is due, sent once per job to the guest's chat
    /// (a job that runs again after a crash sends nothing more).
    pub async fn balance_link_job(&self, job_id: i64, payload: &Value) -> Outcome {
        let Some(code) = payload["code"].as_str() else { return Outcome::Fail("payload without code".into()) };
        let actor = payload["actor"].as_str().unwrap_or("owner");
        let r = match self.store.get_reservation(code).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let link = match self.ensure_balance_link(&r).await {
            Ok(Some(link)) => link,
            Ok(None) => return Outcome::Done,
            Err(SendError::BreakerOpen) => return Outcome::Again(self.now() + Duration::seconds(30)),
            Err(SendError::Retryable(e)) => return Outcome::Retry(e),
            Err(SendError::Permanent(e)) => {
                self.alert(&format!("No pude crear el link del saldo de la reserva {code}: {e}")).await;
                return Outcome::Fail(e);
            }
        };
        crate::fault::point("balance_link_before_send");
        let Some(contact) = self.chat.contact_of(&r).await else { return Outcome::Done };
        let tz = self.config.timezone;
        let last_day = (link.expires_at - Duration::seconds(1)).with_timezone(&tz);
        let text = format!(
            "Te paso el link para pagar el saldo de tu reserva *{}* ({}): {}\nFunciona hasta el {} a las 23:59; si no, lo abonás al llegar.",
            r.code,
            link.amount.to_ars(),
            link.url,
            last_day.format("%d/%m"),
        );
        let note = format!("{} por {} ({})", link.amount.to_ars_spaced(), contact.channel, contact.address);
        let audit = async { self.store.record_audit(Some(r.id), actor, "balance_link_sent", &note, self.now()).await };
        match self.chat.notify_once(&contact, &text, &format!("balance_link_sent:{job_id}"), Vec::new()).await {
            Ok(true) => {
                crate::fault::point("balance_link_after_send");
                if let Err(e) = audit.await {
                    tracing::warn!(error = %e, code, "could not audit the balance link sent");
                }
                Outcome::Done
            }
            Ok(false) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// A payment whose reference is a balance link's: recorded and applied in one transaction.
    pub(super) async fn balance_payment(
        &self,
        provider: &dyn PaymentProvider,
        p: ProviderPayment,
        code: &str,
    ) -> anyhow::Result<()> {
        let reservation = match self.store.get_reservation(code).await {
            Ok(r) => Some(r),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let record = PaymentRecord {
            purpose: PaymentPurpose::Balance,
            provider: provider.kind().as_str().into(),
            provider_payment_id: p.id.clone(),
            reservation_id: reservation.as_ref().map(|r| r.id),
            status: p.status_name.clone(),
            status_detail: p.status_detail.clone(),
            amount: p.amount,
            currency: p.currency.clone(),
            external_reference: p.reference.clone(),
            raw: p.raw.clone(),
        };
        let applicable = p.currency == super::CURRENCY || p.status != PaymentStatus::Approved;
        match (&reservation, applicable) {
            (Some(r), true) => {
                let outcome = self
                    .store
                    .record_balance_payment(&record, Some(&r.code), &notice_job(self.now()), self.now())
                    .await?;
                crate::fault::point("balance_payment_after_record");
                // Paid: the stay messages are planned again (the balance reminder is dropped;
                // idempotent, and the hourly re-plan catches a crash here).
                if let (BalanceEffect::Paid { .. }, Some(paid)) = (&outcome.effect, &outcome.reservation)
                    && let Err(e) = self.booking.schedule_stay_messages(paid).await
                {
                    tracing::warn!(error = %e, code, "could not plan the stay messages again");
                }
                if p.status == PaymentStatus::MoneyBack && outcome.effect == BalanceEffect::Recorded {
                    // Refunds and chargebacks of a balance payment: the deposit's rules.
                    let ours = self
                        .our_refund_explains(
                            &record.provider,
                            &record.provider_payment_id,
                            &record.status,
                            record.amount,
                        )
                        .await;
                    if !ours {
                        self.needs_refund(r, &record, &format!("el pago del saldo pasó a {}", record.status)).await?;
                    }
                }
                Ok(())
            }
            // Unknown reservation or another currency: stored, reported, nothing applied.
            _ => self.mismatch(record, reservation.as_ref()).await,
        }
    }

    /// [`BALANCE_NOTICE_JOB`]: the guest's thanks on their channel and the owner's line, once.
    pub async fn balance_notice(&self, payload: &Value) -> Outcome {
        let (Some(code), Some(payment_id)) = (payload["code"].as_str(), payload["payment_id"].as_str()) else {
            return Outcome::Fail("payload without code or payment_id".into());
        };
        let effect: BalanceEffect = match serde_json::from_value(payload["outcome"].clone()) {
            Ok(e) => e,
            Err(e) => return Outcome::Fail(format!("bad balance outcome: {e}")),
        };
        let result = async {
            let r = self.store.get_reservation(code).await?;
            let (guest, owner) = match effect {
                BalanceEffect::Recorded => return anyhow::Ok(()),
                BalanceEffect::Paid { excess } => {
                    let mut owner = format!("✅ Saldo pagado por Mercado Pago: reserva {code} (pago {payment_id}).");
                    if excess > Money::ZERO {
                        owner.push_str(&format!(" Pagó {} de más: quedó marcada para devolver.", excess.to_ars()));
                    }
                    (
                        format!(
                            "¡Gracias! Recibimos el pago del saldo de tu reserva *{code}*. Ya está todo pago: te esperamos el {}.",
                            r.stay.check_in.format("%d/%m")
                        ),
                        owner,
                    )
                }
                BalanceEffect::Partial { amount, pending } => (
                    format!(
                        "Recibimos {} a cuenta del saldo de tu reserva *{code}*. Quedan {} por pagar; te escribimos para coordinarlo.",
                        amount.to_ars(),
                        pending.to_ars()
                    ),
                    format!(
                        "⚠️ Saldo pagado en parte: reserva {code}, {} por Mercado Pago (pago {payment_id}); faltan {}. Revisalo.",
                        amount.to_ars(),
                        pending.to_ars()
                    ),
                ),
                BalanceEffect::NotDue { amount } => (
                    format!(
                        "Recibimos un pago de {} para la reserva *{code}*, pero no tenía saldo por pagar. Lo revisamos y te escribimos.",
                        amount.to_ars()
                    ),
                    format!(
                        "💸 Reserva {code}: pago del saldo {payment_id} de {} sin saldo por cobrar. Hay que devolverlo o resolverlo.",
                        amount.to_ars()
                    ),
                ),
            };
            let key = format!("{BALANCE_NOTICE_JOB}:{payment_id}");
            let mut alert = crate::chat::alert_job(json!({"text": owner}), self.now());
            alert.dedupe_key = Some(format!("{key}:owner"));
            match self.chat.contact_of(&r).await {
                // The guest's message and the owner's alert commit together, once.
                Some(contact) => {
                    self.chat.notify_once(&contact, &guest, &key, vec![alert]).await?;
                    crate::fault::point("balance_notice_after_send");
                }
                None => {
                    self.store.enqueue_job(&alert, self.now()).await?;
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

fn send_error_text(e: &SendError) -> String {
    match e {
        SendError::BreakerOpen => "the provider's breaker is open".into(),
        SendError::Retryable(e) | SendError::Permanent(e) => e.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_tell_deposit_and_balance_apart() {
        assert_eq!(reference(PaymentPurpose::Deposit, "ABC234"), "ABC234");
        assert_eq!(reference(PaymentPurpose::Balance, "ABC234"), "ABC234-SALDO");
        assert_eq!(Reference::parse("ABC234"), Reference::Deposit("ABC234"));
        assert_eq!(Reference::parse("ABC234-SALDO"), Reference::Balance("ABC234"));
        assert_eq!(Reference::parse(""), Reference::Deposit(""));
    }

    #[test]
    fn the_deadline_is_midnight_of_arrival_in_the_property_zone() {
        let tz: chrono_tz::Tz = "America/Argentina/Buenos_Aires".parse().unwrap();
        let d = balance_deadline(NaiveDate::from_ymd_opt(2026, 12, 9).unwrap(), tz);
        // 00:00 in Argentina (UTC−3) is 03:00 UTC of the same date.
        assert_eq!(d.to_rfc3339(), "2026-12-09T03:00:00+00:00");
    }
}
