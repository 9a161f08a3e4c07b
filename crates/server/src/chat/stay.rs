//! Sending one of a stay's automatic messages ([`crate::stay_messages`]) when its job runs:
//! the reservation is read again (cancelled, moved, turned off, balance paid → planned again,
//! not sent now), the text rendered, and the message queued in the outbox on the guest's
//! channel — in the transaction that marks it sent, so a crash before it sends it on the retry
//! and a crash after it finds it sent.
//!
//! Outside WhatsApp's 24-hour window it goes as the approved template
//! `POSADA_WHATSAPP_TEMPLATE_STAY` (one parameter: the message on one line); without one, by
//! e-mail when the guest left an address; otherwise it is recorded as not sent, with why.

use super::{Chat, SEND_MESSAGE, render};
use crate::channels::adapter::{Identity, Outgoing};
use crate::jobs::Outcome;
use crate::stay_messages as sm;
use domain::{Channel, ReservationStatus, StayMessageStatus};
use store::{Contact, NewMessage, Reservation, StoreError};

/// Where one message goes.
enum Route {
    Send(Contact, NewMessage),
    NotSent(String),
}

impl Chat {
    /// The job of one stay message (`forced`: the owner's "send now", which neither waits for
    /// its time nor for the quiet hours).
    pub async fn run_stay_message(&self, id: i64, forced: bool, payments: &crate::payments::Payments) -> Outcome {
        match self.stay_message(id, forced, payments).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn stay_message(&self, id: i64, forced: bool, payments: &crate::payments::Payments) -> anyhow::Result<()> {
        let m = match self.store.get_stay_message(id).await {
            Ok(m) => m,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if m.status != StayMessageStatus::Due {
            return Ok(());
        }
        let r = self.store.get_reservation_by_id(m.reservation_id).await?;
        let m = if forced {
            if r.status != ReservationStatus::Confirmed {
                self.store
                    .close_stay_message(
                        m.id,
                        StayMessageStatus::Cancelled,
                        "La reserva no está confirmada.",
                        self.now(),
                    )
                    .await?;
                return Ok(());
            }
            m
        } else {
            // What is true now decides: the plan closes or moves the row when it must.
            let rows = self.booking.schedule_stay_messages(&r).await?;
            match rows.into_iter().find(|x| x.id == id) {
                Some(m) if m.status == StayMessageStatus::Due && m.due_at <= self.now() => m,
                // Closed, or moved later (its own job sends it then).
                _ => return Ok(()),
            }
        };
        let p = self.property().await?;
        let unit = self.store.get_unit(r.unit_id).await?;
        // The balance reminder carries the balance's payment link (made or reused here, for the
        // amount pending now). The provider down: the reminder still goes, saying how to pay
        // (a line whose only placeholder is the link is left out).
        let link = match m.kind {
            domain::StayMessageKind::Balance => payments.balance_link(&r).await.unwrap_or_else(|e| {
                tracing::warn!(code = %r.code, error = %e, "balance reminder without its payment link");
                None
            }),
            _ => None,
        };
        let text = match sm::render(&p, m.kind, &r, &unit, link.as_deref()) {
            Ok(t) if !t.trim().is_empty() => t,
            Ok(_) => return self.not_sent(m.id, "El texto quedó vacío.").await,
            // Texts are checked when saved; one saved before a placeholder was renamed lands here.
            Err(e) => return self.not_sent(m.id, &e.to_string()).await,
        };
        let subject = format!("{} · {}", m.kind.label(), p.name());
        match self.stay_route(&r, &text, &subject).await? {
            Route::Send(contact, message) => {
                crate::fault::point("before_stay_send_commit");
                let now = self.now();
                self.store.send_stay_message(m.id, contact.id, contact.channel, &message, SEND_MESSAGE, now).await?;
                crate::fault::point("after_stay_send_commit");
            }
            Route::NotSent(why) => return self.not_sent(m.id, &why).await,
        }
        Ok(())
    }

    async fn not_sent(&self, id: i64, why: &str) -> anyhow::Result<()> {
        tracing::warn!(stay_message = id, reason = %why, "stay message not sent");
        self.store.close_stay_message(id, StayMessageStatus::Failed, why, self.now()).await?;
        Ok(())
    }

    /// The guest's chat when it can take the message now (or as a template), else e-mail.
    async fn stay_route(&self, r: &Reservation, text: &str, subject: &str) -> anyhow::Result<Route> {
        let mut message = Outgoing::text(text);
        message.subject = Some(subject.to_string());
        let plain = render::stored(&message);
        let mut why = String::new();
        if let Some(contact) = self.contact_of(r).await {
            let now = self.now();
            let open = match self.adapter(contact.channel).window() {
                None => true,
                Some(w) => contact.last_inbound_at.is_some_and(|t| now - t < w),
            };
            let template = match (contact.channel, &self.config.whatsapp) {
                (Channel::Whatsapp, Some(wa)) => {
                    wa.template_stay.as_deref().map(|t| (t, wa.template_language.as_str()))
                }
                _ => None,
            };
            // The template goes along even inside the window: the window may close before the
            // outbox sends it.
            if let Some((name, language)) = template {
                return Ok(Route::Send(contact, render::with_template(plain, name, language, &[sm::one_line(text)])));
            }
            if open {
                return Ok(Route::Send(contact, plain));
            }
            let channel = contact.channel.label();
            why = if contact.channel == Channel::Whatsapp {
                format!(
                    "Pasaron más de 24 h desde el último mensaje del huésped por {channel} y no hay plantilla \
                     aprobada (POSADA_WHATSAPP_TEMPLATE_STAY)"
                )
            } else {
                format!(
                    "Pasaron más de 24 h desde el último mensaje del huésped por {channel}, que no deja escribir después"
                )
            };
        }
        if self.config.email.is_some() {
            let address = match r.guest_email.as_deref().map(|a| a.trim().to_lowercase()).filter(|a| a.contains('@')) {
                Some(a) => Some(a),
                None => match self.store.find_contact(r.channel, &r.guest_phone).await {
                    Ok(c) if self.adapter(c.channel).identity() == Identity::Phone => {
                        self.address_left_in_chat(c.id).await?
                    }
                    _ => None,
                },
            };
            if let Some(address) = address {
                let contact = self.store.upsert_contact(Channel::Email, &address, &r.guest_name, self.now()).await?;
                return Ok(Route::Send(contact, plain));
            }
        }
        Ok(Route::NotSent(if why.is_empty() {
            "No hay por dónde avisarle: la reserva no vino de un chat y no hay e-mail del huésped \
             (o el envío de e-mails no está configurado)."
                .to_string()
        } else {
            format!("{why} ni e-mail del huésped.")
        }))
    }
}
