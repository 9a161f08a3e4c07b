//! The e-mail channel in the conversation: a recurring job reads the mailbox into the inbox,
//! the inbox worker reads e-mail events like any other (through the e-mail adapter, crates/channels),
//! and the outbox sends e-mail replies through it.
//!
//! Exactly-once on the way in: a message is stored in the inbox (unique on its Message-ID)
//! *before* it is flagged `\Seen`; a crash in between finds it unseen again, and the inbox
//! refuses the duplicate. On the way out a crash between the SMTP server's acceptance and our
//! record repeats that one e-mail, with the same Message-ID.

use super::{Chat, SEND_MESSAGE};
use crate::channels::adapter::Outgoing;
use crate::channels::email::read::{self, Verdict};
use crate::channels::email::{Inbox, MAX_MESSAGE_BYTES, Woken};
use crate::config::EmailConfig;
use crate::jobs::Outcome;
use crate::metrics as m;
use base64::Engine as _;
use chrono::Duration;
use serde_json::json;
use store::{NewInbound, NewMessage, Reservation};
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
            provider: domain::Channel::Email.as_str().into(),
            provider_id: mail.message_id.clone(),
            contact: Some((domain::Channel::Email, mail.from.clone(), mail.name.clone())),
            kind: kind.into(),
            payload,
            job_kind: super::PROCESS_INBOUND.into(),
        };
        if self.store.store_inbound(&event, self.now()).await?.is_some() {
            metrics::counter!(m::EMAILS_RECEIVED).increment(1);
            metrics::counter!(m::INBOUND_MESSAGES, "channel" => domain::Channel::Email.as_str(), "type" => kind)
                .increment(1);
        } else {
            tracing::info!(message_id = %mail.message_id, "e-mail already in the inbox");
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Out

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
            None => match self.store.find_contact(domain::Channel::Whatsapp, &r.guest_phone).await {
                Ok(c) => self.address_left_in_chat(c.id).await?,
                Err(store::StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
        };
        let Some(address) = address else { return Ok(()) };
        let contact = self.store.upsert_contact(domain::Channel::Email, &address, &r.guest_name, self.now()).await?;
        let mut message = Outgoing::text(text);
        message.subject = Some(subject.to_string());
        self.queue(contact.id, super::render::stored(&message)).await
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
        let owner = self.store.upsert_contact(domain::Channel::Email, address, "Dueño", self.now()).await?;
        let mut message = Outgoing::text(text);
        let first: String = text.lines().next().unwrap_or("").chars().take(70).collect();
        let name = self.property().await?.name().to_string();
        message.subject = Some(format!("[{name}] {first}"));
        self.queue_with(owner.id, super::render::stored(&message), then).await
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
