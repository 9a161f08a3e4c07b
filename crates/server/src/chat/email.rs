//! The e-mail channel in the conversation: a recurring job reads the mailbox into the inbox,
//! the inbox worker reads e-mail events like any other, and the outbox sends e-mail replies.
//!
//! Exactly-once on the way in: a message is stored in the inbox (unique on its Message-ID)
//! *before* it is flagged `\Seen`; a crash in between finds it unseen again, and the inbox
//! refuses the duplicate. On the way out a crash between the SMTP server's acceptance and our
//! record repeats that one e-mail, with the same Message-ID.

use super::{Chat, Inbound, SEND_MESSAGE};
use crate::channels::SendError;
use crate::channels::email::read::{self, Verdict};
use crate::channels::email::write::{self, Outgoing, Part, Thread};
use crate::channels::email::{Inbox, MAX_MESSAGE_BYTES, Woken};
use crate::config::EmailConfig;
use crate::jobs::Outcome;
use crate::metrics as m;
use base64::Engine as _;
use chrono::Duration;
use conversation::MessageKind;
use serde_json::{Value, json};
use store::{Contact, InboundEvent, NewInbound, NewMessage, Reservation};
use tokio::sync::watch;

pub const POLL_JOB: &str = "email_poll";
/// Messages taken per poll; a fuller mailbox is read again at once.
const POLL_BATCH: usize = 25;
/// The longest IDLE before we speak again (servers end an IDLE after 30 minutes).
const IDLE_MAX: std::time::Duration = std::time::Duration::from_secs(9 * 60);
const IDLE_RETRY_MIN: std::time::Duration = std::time::Duration::from_secs(5);
const IDLE_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(300);

impl Chat {
    // -----------------------------------------------------------------------------------------
    // In

    /// The recurring poll job: every unseen message into the inbox, then `\Seen`.
    pub async fn poll_mailbox(&self) -> Outcome {
        let Some(cfg) = &self.config.email else { return Outcome::Done };
        let next = self.now() + Duration::seconds(cfg.poll_seconds as i64);
        match self.read_mailbox(cfg).await {
            Ok(n) => {
                metrics::counter!(m::EMAIL_POLLS, "result" => "ok").increment(1);
                if n >= POLL_BATCH { Outcome::Again(self.now()) } else { Outcome::Again(next) }
            }
            Err(e) => {
                metrics::counter!(m::EMAIL_POLLS, "result" => "error").increment(1);
                tracing::warn!(error = %e, "mailbox poll failed");
                Outcome::Again(next)
            }
        }
    }

    async fn read_mailbox(&self, cfg: &EmailConfig) -> Result<usize, String> {
        let mut inbox = Inbox::open(&cfg.imap, &cfg.mailbox).await?;
        let result = self.read_unseen(&mut inbox, cfg).await;
        inbox.close().await;
        result
    }

    /// Up to a batch of unseen messages into the inbox; how many were taken.
    async fn read_unseen(&self, inbox: &mut Inbox, cfg: &EmailConfig) -> Result<usize, String> {
        let uids = inbox.unseen(POLL_BATCH).await?;
        let mut failed = None;
        for &uid in &uids {
            match inbox.fetch(uid).await? {
                // One mail that cannot be stored stays unseen (read again next time) and does
                // not keep the rest of the batch out.
                Some(raw) => {
                    if let Err(e) = self.take_mail(&raw, cfg).await {
                        tracing::error!(uid, error = %e, "could not store an e-mail; it stays unseen");
                        failed = Some(e.to_string());
                        continue;
                    }
                }
                None => {
                    metrics::counter!(m::EMAILS_IGNORED, "reason" => "too_large").increment(1);
                    tracing::warn!(uid, max_bytes = MAX_MESSAGE_BYTES, "e-mail too large, not read");
                }
            }
            crate::fault::point("email_before_mark_seen");
            inbox.mark_seen(uid).await?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(uids.len()),
        }
    }

    /// IMAP IDLE, when the server has it: one connection per instance waits for new mail and
    /// reads it at once, so a guest is answered in seconds rather than at the next poll. The
    /// poll job goes on as the safety net (a lost connection, a missed notice, another
    /// instance); the two may read the same message, and the inbox keeps it once. Ends when
    /// the server has no IDLE (the poll alone then) or at shutdown; a lost connection is
    /// opened again with a growing pause.
    pub async fn watch_mailbox(&self, wake: std::sync::Arc<tokio::sync::Notify>, mut stop: watch::Receiver<bool>) {
        let Some(cfg) = &self.config.email else { return };
        let mut pause = IDLE_RETRY_MIN;
        while !*stop.borrow() {
            let started = std::time::Instant::now();
            let ended = self.idle_session(cfg, &wake, &mut stop).await;
            metrics::gauge!(m::EMAIL_IDLE).set(0.0);
            match ended {
                Ok(IdleEnd::Stopped) => return,
                Ok(IdleEnd::Unsupported) => {
                    tracing::info!(
                        poll_seconds = cfg.poll_seconds,
                        "the IMAP server has no IDLE: new mail is read by the poll alone"
                    );
                    return;
                }
                Err(e) => {
                    metrics::counter!(m::EMAIL_POLLS, "result" => "idle_error").increment(1);
                    if started.elapsed() > IDLE_MAX * 2 {
                        pause = IDLE_RETRY_MIN;
                    }
                    tracing::warn!(error = %e, retry_in_s = pause.as_secs(), "IMAP IDLE connection lost");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    pause = (pause * 2).min(IDLE_RETRY_MAX);
                }
            }
        }
    }

    /// One IDLE connection: read what is unseen, wait for a change, again.
    async fn idle_session(
        &self,
        cfg: &EmailConfig,
        wake: &tokio::sync::Notify,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<IdleEnd, String> {
        let mut inbox = Inbox::open(&cfg.imap, &cfg.mailbox).await?;
        if !inbox.supports_idle().await? {
            inbox.close().await;
            return Ok(IdleEnd::Unsupported);
        }
        metrics::gauge!(m::EMAIL_IDLE).set(1.0);
        tracing::info!(mailbox = %cfg.mailbox, "waiting for new mail with IMAP IDLE");
        loop {
            loop {
                let taken = self.read_unseen(&mut inbox, cfg).await?;
                if taken > 0 {
                    metrics::counter!(m::EMAIL_POLLS, "result" => "idle").increment(1);
                    wake.notify_one();
                }
                if taken < POLL_BATCH {
                    break;
                }
            }
            let (again, woken) = inbox.idle(IDLE_MAX, stop).await?;
            inbox = again;
            if woken == Woken::Stopped {
                inbox.close().await;
                return Ok(IdleEnd::Stopped);
            }
        }
    }

    /// One fetched message: ignored (counted and logged) or stored in the inbox with its job.
    async fn take_mail(&self, raw: &[u8], cfg: &EmailConfig) -> anyhow::Result<()> {
        let mail = match read::read(raw, &cfg.from_address) {
            Verdict::Ignored { reason, from, message_id } => {
                metrics::counter!(m::EMAILS_IGNORED, "reason" => reason).increment(1);
                tracing::info!(reason, from = %from, message_id = %message_id, "e-mail ignored");
                return Ok(());
            }
            Verdict::Guest(mail) if self.config.owner_email.as_deref() == Some(mail.from.as_str()) => {
                // Replies to owner alerts must not start a conversation with the bot.
                metrics::counter!(m::EMAILS_IGNORED, "reason" => "owner").increment(1);
                tracing::info!(message_id = %mail.message_id, "e-mail from the owner ignored");
                return Ok(());
            }
            Verdict::Guest(mail) => mail,
        };
        crate::fault::point("email_before_inbox_insert");
        let mut payload = json!({
            "text": mail.text,
            "message_id": mail.message_id,
            "subject": mail.subject,
            "references": mail.references,
            "from": mail.from,
            "name": mail.name,
            "html_only": mail.html_only,
        });
        if let Some(audio) = &mail.audio {
            payload["audio"] = json!({
                "filename": audio.filename,
                "mime": audio.mime,
                "size": audio.data.len(),
                "data": base64::engine::general_purpose::STANDARD.encode(&audio.data),
            });
        }
        let kind = if mail.audio.is_some() { "voice" } else { "text" };
        let event = NewInbound {
            provider: "email".into(),
            provider_id: mail.message_id.clone(),
            contact: Some(("email".into(), mail.from.clone(), mail.name.clone())),
            kind: kind.into(),
            payload,
            job_kind: super::PROCESS_INBOUND.into(),
        };
        if self.store.store_inbound(&event, self.now()).await?.is_some() {
            metrics::counter!(m::EMAILS_RECEIVED).increment(1);
            metrics::counter!(m::INBOUND_MESSAGES, "channel" => "email", "type" => kind).increment(1);
        } else {
            tracing::info!(message_id = %mail.message_id, "e-mail already in the inbox");
        }
        Ok(())
    }

    /// An e-mail event as the engine reads it: its new text, or an audio attachment's transcript.
    pub(super) async fn read_email(&self, event: &InboundEvent) -> Inbound {
        let p = &event.payload;
        let text = p["text"].as_str().unwrap_or("").trim().to_string();
        let mut record_payload = p.clone();
        let Some(audio) = p.get("audio").filter(|a| a.is_object()) else {
            return Inbound {
                record: NewMessage { kind: "text".into(), body: text.clone(), payload: record_payload },
                kind: MessageKind::Text,
                text,
            };
        };
        // The audio stays in the inbox event; the conversation keeps its transcript.
        record_payload["audio"] = json!({"filename": audio["filename"], "mime": audio["mime"], "size": audio["size"]});
        let data =
            base64::engine::general_purpose::STANDARD.decode(audio["data"].as_str().unwrap_or("")).unwrap_or_default();
        let (transcript, confidence) = match &self.stt {
            Some(stt) if !data.is_empty() => {
                match stt.transcribe(data, audio["mime"].as_str().unwrap_or("audio/ogg")).await {
                    Ok(t) => (t.text, t.confidence),
                    Err(e) => {
                        tracing::warn!(error = %e, "transcription of an e-mailed audio failed");
                        (String::new(), None)
                    }
                }
            }
            _ => (String::new(), None),
        };
        record_payload["transcript"] = json!(transcript);
        if transcript.is_empty() && !text.is_empty() {
            // They also wrote: answer the writing rather than ask them to write.
            return Inbound {
                record: NewMessage { kind: "text".into(), body: text.clone(), payload: record_payload },
                kind: MessageKind::Text,
                text,
            };
        }
        let heard = if text.is_empty() { transcript } else { format!("{text}\n{transcript}") };
        Inbound {
            record: NewMessage { kind: "voice".into(), body: heard.clone(), payload: record_payload },
            kind: MessageKind::Voice { confidence: confidence.unwrap_or(0.0) },
            text: heard,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Out

    /// Sends an e-mail contact's queued message, together with the rest of its turn (one
    /// e-mail per answer, not one per line), threaded under the guest's last e-mail.
    pub(super) async fn send_email(&self, msg: &store::Message, contact: &Contact) -> Outcome {
        let (Some(cfg), Some(mailer)) = (&self.config.email, &self.mailer) else {
            return self.failed(msg, contact, "the e-mail channel is not configured", false).await;
        };
        let now = self.now();
        let batch: Vec<store::Message> = match self.store.list_messages(contact.id, msg.id - 1, 20).await {
            Ok(list) => list
                .into_iter()
                .take_while(|o| {
                    o.direction == "out"
                        && o.status == "queued"
                        && o.created_at == msg.created_at
                        && o.payload["human"] == msg.payload["human"]
                })
                .collect(),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let batch = if batch.first().is_some_and(|b| b.id == msg.id) { batch } else { vec![msg.clone()] };
        let last_in = match self.store.last_inbound_message(contact.id).await {
            Ok(m) => m,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let settings = match self.property().await {
            Ok(p) => p,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let property = &settings.name().to_string();
        let thread = match last_in.as_ref().and_then(|m| m.payload["message_id"].as_str().map(|id| (m, id))) {
            Some((m, id)) => {
                let subject = write::reply_subject(m.payload["subject"].as_str().unwrap_or(""));
                Thread {
                    reply_to: Some(id.to_string()),
                    references: m.payload["references"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(String::from))
                        .collect(),
                    subject: if subject.is_empty() { format!("Re: tu consulta a {property}") } else { subject },
                }
            }
            None => Thread {
                reply_to: None,
                references: Vec::new(),
                subject: msg.payload["subject"].as_str().map(String::from).unwrap_or_else(|| property.clone()),
            },
        };
        let auto_submitted = if is_human(&msg.payload) {
            None
        } else if thread.reply_to.is_some() {
            Some("auto-replied")
        } else {
            Some("auto-generated")
        };
        let domain = cfg.from_address.rsplit('@').next().unwrap_or("localhost");
        let message_id = format!("<posada.{}.{:x}@{}>", msg.id, msg.created_at.timestamp_micros(), domain);
        let from_name = if cfg.from_name.is_empty() { property.as_str() } else { cfg.from_name.as_str() };
        let outgoing = Outgoing {
            from_name,
            from_address: &cfg.from_address,
            to_name: &contact.name,
            to_address: &contact.address,
            message_id: message_id.clone(),
            thread,
            auto_submitted,
            outbox_id: msg.id,
            property_name: property,
            public_url: &self.config.public_url,
            parts: batch.iter().map(|b| Part { kind: &b.kind, body: &b.body, payload: &b.payload }).collect(),
        };
        let email = match write::build(&outgoing) {
            Ok(e) => e,
            Err(e) => return self.failed(msg, contact, &e, true).await,
        };
        match mailer.send(email).await {
            Ok(()) => {
                crate::fault::point("after_send_before_record");
                for b in &batch {
                    if let Err(e) = self.store.mark_message(b.id, "sent", Some(&message_id), None, self.now()).await {
                        return Outcome::Retry(e.to_string());
                    }
                }
                metrics::counter!(m::EMAILS_SENT).increment(1);
                metrics::counter!(m::OUTBOX_SENT, "channel" => "email").increment(batch.len() as u64);
                Outcome::Done
            }
            Err(SendError::BreakerOpen) => {
                let wait = mailer.breaker.wait(std::time::Instant::now());
                Outcome::Again(
                    now + Duration::from_std(wait).unwrap_or(Duration::seconds(5)) + Duration::milliseconds(50),
                )
            }
            Err(SendError::Retryable(e)) => {
                metrics::counter!(m::EMAILS_FAILED, "result" => "retry").increment(1);
                metrics::counter!(m::OUTBOX_RETRIED, "channel" => "email").increment(1);
                Outcome::Retry(e)
            }
            Err(SendError::Permanent(e)) => {
                metrics::counter!(m::EMAILS_FAILED, "result" => "permanent").increment(1);
                for b in batch.iter().filter(|b| b.id != msg.id) {
                    let _ = self.store.mark_message(b.id, "failed", None, Some(&e), self.now()).await;
                }
                self.failed(msg, contact, &e, true).await
            }
        }
    }

    /// With `POSADA_EMAIL_COPY_WHATSAPP`, a WhatsApp reservation that left an e-mail address
    /// also gets `text` by e-mail (a new thread with this subject).
    pub async fn copy_by_email(&self, r: &Reservation, subject: &str, text: &str) -> anyhow::Result<()> {
        let Some(cfg) = &self.config.email else { return Ok(()) };
        if !cfg.copy_whatsapp || r.channel != domain::Channel::Whatsapp {
            return Ok(());
        }
        let address = match r.guest_email.as_deref().map(|a| a.trim().to_lowercase()).filter(|a| a.contains('@')) {
            Some(a) => Some(a),
            // Written in the chat after the hold was placed (the payment link's message, say).
            None => match self.store.find_contact("whatsapp", &r.guest_phone).await {
                Ok(c) => self.address_left_in_chat(c.id).await?,
                Err(store::StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let Some(address) = address else { return Ok(()) };
        let contact = self.store.upsert_contact("email", &address, &r.guest_name, self.now()).await?;
        let mut message = super::render::text(text);
        message.payload["subject"] = json!(subject);
        self.queue(contact.id, message).await
    }

    /// The latest e-mail address a guest wrote in their chat, if any.
    pub(super) async fn address_left_in_chat(&self, contact_id: i64) -> anyhow::Result<Option<String>> {
        let (mut after, mut found) = (0, None);
        loop {
            let page = self.store.list_messages(contact_id, after, 1000).await?;
            let Some(last) = page.last() else { return Ok(found) };
            after = last.id;
            found = page.iter().rev().filter(|m| m.direction == "in").find_map(|m| read::address_in(&m.body)).or(found);
        }
    }

    /// An owner alert by e-mail to `POSADA_OWNER_EMAIL`, committed together with `then` (the
    /// alert's other halves).
    pub(super) async fn alert_owner_by_email(&self, text: &str, then: Vec<store::NewJob>) -> anyhow::Result<()> {
        let Some(address) = &self.config.owner_email else { return Ok(()) };
        let owner = self.store.upsert_contact("email", address, "Dueño", self.now()).await?;
        let mut message = super::render::text(text);
        let first: String = text.lines().next().unwrap_or("").chars().take(70).collect();
        let name = self.property().await?.name().to_string();
        message.payload["subject"] = json!(format!("[{name}] {first}"));
        self.queue_with(owner.id, message, then).await
    }

    /// Queues one message for a contact, outside the dialogue.
    pub(super) async fn queue(&self, contact_id: i64, message: NewMessage) -> anyhow::Result<()> {
        self.queue_with(contact_id, message, Vec::new()).await
    }

    /// Queues one message and schedules `jobs` in the same transaction.
    async fn queue_with(&self, contact_id: i64, message: NewMessage, jobs: Vec<store::NewJob>) -> anyhow::Result<()> {
        let state = self.store.conversation_state(contact_id).await?.unwrap_or(json!({}));
        let turn = store::Turn {
            contact_id,
            state,
            outbound: vec![message],
            send_job_kind: SEND_MESSAGE.into(),
            jobs,
            ..Default::default()
        };
        self.store.commit_turn(&turn, self.now()).await?;
        Ok(())
    }
}

/// Why an IDLE connection ended without an error.
enum IdleEnd {
    Unsupported,
    Stopped,
}

/// Whether this payload is an e-mail written by a person (the owner's reply from the dashboard).
pub fn is_human(payload: &Value) -> bool {
    payload["human"] == json!(true)
}
