//! Refunds of a cancelled reservation's deposit, through the payment provider.
//!
//! Cancelling a confirmed reservation paid through the provider proposes a refund computed
//! from the owner's [`domain::CancellationPolicy`] and the deposit actually paid, bound to the
//! reservation and the provider's payment. The owner approves it on the reservation page (or it
//! is approved at once when "Aprobar las devoluciones automáticamente" is on); approval queues
//! [`REFUND_JOB`] in the same transaction. The job asks the provider with the refund record's
//! idempotency key, so a retry after a crash (the provider refunded, we never recorded it)
//! gets the same refund back instead of a second one. When it is done the guest is told on
//! their channel by [`REFUND_NOTICE_JOB`], queued with the `done` status in one transaction.

use super::Payments;
use super::provider::RefundRequest;
use crate::channels::SendError;
use crate::jobs::Outcome;
use chrono::Duration;
use domain::{AttentionFlag, Money, RefundDecision, RefundStatus, ReservationStatus};
use serde_json::json;
use store::{Change, NewJob, NewRefund, RefundRecord, RefundUpdate, Reservation, StoreError};

pub const REFUND_JOB: &str = "refund";
pub const REFUND_NOTICE_JOB: &str = "refund_notice";
/// Proposes a guest-cancelled booking's refund (the chat cannot reach `Payments`).
pub const PROPOSE_JOB: &str = "propose_refund";

pub fn propose_job(code: &str, actor: &str, now: chrono::DateTime<chrono::Utc>) -> NewJob {
    NewJob {
        kind: PROPOSE_JOB.into(),
        payload: json!({"code": code, "actor": actor}),
        dedupe_key: Some(format!("{PROPOSE_JOB}:{code}")),
        run_at: now,
        max_attempts: 20,
    }
}

/// Payment statuses that mean the money reached us (the deposit actually paid).
const PAID: &[&str] = &["approved"];

fn job(kind: &str) -> NewJob {
    NewJob {
        kind: kind.into(),
        payload: json!({}),
        dedupe_key: None,
        run_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        max_attempts: 20,
    }
}

impl Payments {
    /// After a paid reservation is cancelled: the refund its policy gives, proposed (or approved
    /// when the owner chose automatic refunds). `None` when nothing was paid through the
    /// provider (a deposit by transfer or cash is given back by hand).
    pub async fn propose_refund(&self, r: &Reservation, actor: &str) -> anyhow::Result<Option<RefundRecord>> {
        if self.provider.is_none() || r.status != ReservationStatus::Cancelled || r.confirmed_at.is_none() {
            return Ok(None);
        }
        let payments = self.store.payments_for(r.id).await?;
        // The deposit's payment: a balance paid through its own link is not what the policy
        // gives back.
        let deposit = payments.iter().filter(|p| p.purpose == store::PaymentPurpose::Deposit);
        let Some(payment) = deposit.rev().find(|p| PAID.contains(&p.status.as_str())) else {
            return Ok(None);
        };
        let settings = self.chat.property().await?;
        let today = self.now().with_timezone(&self.config.timezone).date_naive();
        let paid = payment.amount;
        let (decision, auto, why) = match settings.cancellation_policy() {
            Some(policy) => {
                let d = policy.refund(paid, r.stay.check_in, today);
                (d, settings.auto_refunds(), policy.describe())
            }
            // No typed policy: the whole deposit is proposed and always waits for the owner,
            // who can lower it or decline it.
            None => (
                RefundDecision::Money { percent: 100, amount: paid, days_before: (r.stay.check_in - today).num_days() },
                false,
                "Sin política de devolución cargada: se propone la seña entera.".into(),
            ),
        };
        let (amount, percent, status, note) = match decision {
            RefundDecision::Credit { amount, days_before } => (
                Money::ZERO,
                0,
                RefundStatus::Declined,
                format!(
                    "Cancelada con {days_before} días de anticipación: la seña de {} queda como crédito para otra fecha.",
                    amount.to_ars_spaced()
                ),
            ),
            RefundDecision::Money { amount, percent, days_before } if amount == Money::ZERO => (
                amount,
                percent,
                RefundStatus::Declined,
                format!(
                    "Cancelada con {days_before} días de anticipación: según la política no corresponde devolución. {why}"
                ),
            ),
            RefundDecision::Money { amount, percent, days_before } => (
                amount,
                percent,
                if auto { RefundStatus::Approved } else { RefundStatus::Pending },
                format!(
                    "Cancelada con {days_before} días de anticipación: corresponde devolver {} ({percent} % de {}).",
                    amount.to_ars_spaced(),
                    paid.to_ars_spaced()
                ),
            ),
        };
        let refund = NewRefund {
            reservation_id: r.id,
            provider: payment.provider.clone(),
            provider_payment_id: payment.provider_payment_id.clone(),
            paid,
            amount,
            percent,
            status,
        };
        let mut j = job(REFUND_JOB);
        j.run_at = self.now();
        let change = Change { actor: actor.into(), note, allow_expired: false };
        let record = self
            .store
            .create_refund(&refund, (status == RefundStatus::Approved).then_some(&j), &change, self.now())
            .await?;
        if record.status == RefundStatus::Pending {
            self.alert(&format!(
                "💸 Reserva {} cancelada: hay una devolución de {} para aprobar en la reserva.",
                r.code,
                record.amount.to_ars()
            ))
            .await;
        }
        Ok(Some(record))
    }

    /// The propose job.
    pub async fn propose_refund_job(&self, code: &str, actor: &str) -> Outcome {
        let result = async {
            let r = self.store.get_reservation(code).await?;
            self.propose_refund(&r, actor).await
        }
        .await;
        match result {
            Ok(_) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// The owner approves a pending refund (optionally a different amount, never more than
    /// paid): the refund job is queued in the same transaction.
    pub async fn approve_refund(
        &self,
        id: i64,
        amount: Option<Money>,
        actor: &str,
    ) -> Result<RefundRecord, StoreError> {
        let current = self.store.get_refund(id).await?;
        let amount = amount.unwrap_or(current.amount);
        let note = format!("Devolución de {} aprobada.", amount.to_ars_spaced());
        let update = RefundUpdate {
            status: RefundStatus::Approved,
            amount: Some(amount),
            provider_refund_id: None,
            error: None,
        };
        let mut j = job(REFUND_JOB);
        j.run_at = self.now();
        let change = Change { actor: actor.into(), note, allow_expired: false };
        self.store.update_refund(id, &[RefundStatus::Pending], &update, Some(&j), &change, self.now()).await
    }

    /// The owner decides not to give the money back.
    pub async fn decline_refund(&self, id: i64, actor: &str, note: &str) -> Result<RefundRecord, StoreError> {
        let update =
            RefundUpdate { status: RefundStatus::Declined, amount: None, provider_refund_id: None, error: None };
        let change = Change { actor: actor.into(), note: note.into(), allow_expired: false };
        self.store.update_refund(id, &[RefundStatus::Pending], &update, None, &change, self.now()).await
    }

    /// The refund job: the provider's refund, keyed by the record (never twice).
    pub async fn run_refund(&self, id: i64) -> Outcome {
        let Some(provider) = &self.provider else { return Outcome::Fail("payments are off".into()) };
        let refund = match self.store.get_refund(id).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if refund.status != RefundStatus::Approved {
            return Outcome::Done;
        }
        let request = RefundRequest {
            payment_id: refund.provider_payment_id.clone(),
            amount: Some(refund.amount),
            idempotency_key: refund.idempotency_key(),
        };
        let actor = format!("payment:{}", refund.provider);
        match provider.refund(&request).await {
            Ok(done) => {
                let update = RefundUpdate {
                    status: RefundStatus::Done,
                    amount: None,
                    provider_refund_id: Some(done.id.clone()),
                    error: None,
                };
                let change = Change {
                    actor,
                    note: format!("Devueltos {} (devolución {}).", done.amount.to_ars_spaced(), done.id),
                    allow_expired: false,
                };
                let mut notice = job(REFUND_NOTICE_JOB);
                notice.run_at = self.now();
                match self
                    .store
                    .update_refund(id, &[RefundStatus::Approved], &update, Some(&notice), &change, self.now())
                    .await
                {
                    Ok(_) | Err(StoreError::Invalid(_)) => Outcome::Done,
                    Err(e) => Outcome::Retry(e.to_string()),
                }
            }
            Err(SendError::BreakerOpen) => Outcome::Again(self.now() + Duration::seconds(30)),
            Err(SendError::Retryable(e)) => Outcome::Retry(e),
            Err(SendError::Permanent(e)) => {
                let result = async {
                    let update = RefundUpdate {
                        status: RefundStatus::Failed,
                        amount: None,
                        provider_refund_id: None,
                        error: Some(e.clone()),
                    };
                    let note = format!("El medio de pago rechazó la devolución de {}: {e}", refund.amount.to_ars_spaced());
                    let change = Change { actor: actor.clone(), note: note.clone(), allow_expired: false };
                    let r = self.store.update_refund(id, &[RefundStatus::Approved], &update, None, &change, self.now()).await?;
                    let reservation = self.store.get_reservation_by_id(r.reservation_id).await?;
                    let flag = Change {
                        actor: actor.clone(),
                        note: "Mercado Pago no aceptó la devolución: hacela a mano o revisá el pago.".into(),
                        allow_expired: false,
                    };
                    self.store.set_flag(&reservation.code, AttentionFlag::NeedsRefund, true, &flag, self.now()).await?;
                    self.alert(&format!(
                        "❌ Mercado Pago no aceptó la devolución de {} de la reserva {} ({e}). Revisá el pago {} y devolvé a mano si corresponde.",
                        refund.amount.to_ars(),
                        reservation.code,
                        refund.provider_payment_id
                    ))
                    .await;
                    anyhow::Ok(())
                }
                .await;
                match result {
                    Ok(()) => Outcome::Done,
                    Err(err) => Outcome::Retry(err.to_string()),
                }
            }
        }
    }

    /// The guest hears that the money is on its way back, on their channel.
    pub async fn refund_notice(&self, id: i64) -> Outcome {
        let result = async {
            let refund = self.store.get_refund(id).await?;
            let r = self.store.get_reservation_by_id(refund.reservation_id).await?;
            let text = format!(
                "Te devolvimos {} de la seña de la reserva *{}* por Mercado Pago. Según tu medio de pago, puede tardar unos días en verse en tu cuenta o tarjeta.",
                refund.amount.to_ars(),
                r.code
            );
            if let Some(contact) = self.chat.contact_of(&r).await {
                self.chat.notify(contact.id, &text, None).await?;
            }
            self.alert(&format!("✅ Devolución hecha: {} de la reserva {}.", refund.amount.to_ars(), r.code)).await;
            anyhow::Ok(())
        }
        .await;
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// Whether money coming back on this payment is our own refund: every peso of it was
    /// refunded (or is being refunded) by us. A chargeback or a mediation never is.
    pub(super) async fn our_refund_explains(
        &self,
        provider: &str,
        payment_id: &str,
        status: &str,
        amount: Money,
    ) -> bool {
        if status != "refunded" {
            return false;
        }
        let Ok(ours) = self.store.refunds_of_payment(provider, payment_id).await else { return false };
        let refunded: i64 = ours
            .iter()
            .filter(|r| matches!(r.status, RefundStatus::Approved | RefundStatus::Done))
            .map(|r| r.amount.0)
            .sum();
        refunded > 0 && refunded >= amount.0
    }
}
