//! The e-mail channel's adapter: a stored mail read back (its new text, an audio attachment),
//! and one turn's replies sent as one e-mail threaded under the guest's last message. The
//! mailbox itself is read by the server's poll/IDLE loop (it writes to the inbox directly).

use super::write::{self, Thread};
use super::{EMAILS_FAILED, EMAILS_SENT, Mailer};
use crate::SendError;
use crate::adapter::{Adapter, Audio, Identity, Inbound, Outgoing, Read, Recipient, SendContext, SendFailure, Sent};
use crate::breaker::Breaker;
use base64::Engine as _;
use domain::Channel;
use serde_json::{Value, json};
use std::sync::Arc;

/// Who we are in `From:`.
#[derive(Debug, Clone)]
pub struct Sender {
    /// `reservas@example.com`; mail from it is never answered.
    pub address: String,
    /// The display name (empty: the property's name).
    pub name: String,
}

pub struct EmailAdapter {
    mail: Option<(Mailer, Sender)>,
}

impl EmailAdapter {
    pub fn new(mail: Option<(Mailer, Sender)>) -> EmailAdapter {
        EmailAdapter { mail }
    }
}

#[async_trait::async_trait]
impl Adapter for EmailAdapter {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn identity(&self) -> Identity {
        Identity::Email
    }

    fn sends_turn_together(&self) -> bool {
        true
    }

    fn configured(&self) -> bool {
        self.mail.is_some()
    }

    /// Its new text, or an audio attachment (the bytes stay in the inbox event; the
    /// conversation keeps the attachment's name, type and size).
    fn read(&self, _kind: &str, p: &Value) -> Read {
        let text = p["text"].as_str().unwrap_or("").trim().to_string();
        let Some(audio) = p.get("audio").filter(|a| a.is_object()) else {
            return Read { message: Inbound::Text(text), record: p.clone() };
        };
        let mut record = p.clone();
        record["audio"] = json!({"filename": audio["filename"], "mime": audio["mime"], "size": audio["size"]});
        let data =
            base64::engine::general_purpose::STANDARD.decode(audio["data"].as_str().unwrap_or("")).unwrap_or_default();
        let mime = audio["mime"].as_str().unwrap_or("audio/ogg").to_string();
        Read { message: Inbound::Audio { audio: Audio::Inline { data, mime }, text }, record }
    }

    async fn send(&self, to: &Recipient<'_>, replies: &[Outgoing], ctx: &SendContext<'_>) -> Result<Sent, SendFailure> {
        let Some((mailer, sender)) = &self.mail else {
            return Err(SendFailure::Refused { error: "the e-mail channel is not configured".into(), alert: false });
        };
        let Some(first) = replies.first() else {
            return Err(SendFailure::Refused { error: "nothing to send".into(), alert: false });
        };
        let property = ctx.property_name;
        let thread = match to.last_inbound.and_then(|m| m["message_id"].as_str().map(|id| (m, id))) {
            Some((m, id)) => {
                let subject = write::reply_subject(m["subject"].as_str().unwrap_or(""));
                Thread {
                    reply_to: Some(id.to_string()),
                    references: m["references"]
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
                subject: first.subject.clone().unwrap_or_else(|| property.to_string()),
            },
        };
        let auto_submitted = if first.human {
            None
        } else if thread.reply_to.is_some() {
            Some("auto-replied")
        } else {
            Some("auto-generated")
        };
        let domain = sender.address.rsplit('@').next().unwrap_or("localhost");
        let message_id = format!("<posada.{}.{:x}@{}>", ctx.first_id, ctx.first_at.timestamp_micros(), domain);
        let from_name = if sender.name.is_empty() { property } else { sender.name.as_str() };
        let outgoing = write::Outgoing {
            from_name,
            from_address: &sender.address,
            to_name: to.name,
            to_address: to.address,
            message_id: message_id.clone(),
            thread,
            auto_submitted,
            outbox_id: ctx.first_id,
            property_name: property,
            public_url: ctx.public_url,
            parts: replies,
        };
        let email = write::build(&outgoing).map_err(|error| SendFailure::Refused { error, alert: true })?;
        match mailer.send(email).await {
            Ok(()) => {
                metrics::counter!(EMAILS_SENT).increment(1);
                Ok(Sent { provider_id: message_id })
            }
            Err(SendError::Permanent(error)) => {
                metrics::counter!(EMAILS_FAILED, "result" => "permanent").increment(1);
                Err(SendFailure::Refused { error, alert: true })
            }
            Err(e @ SendError::Retryable(_)) => {
                metrics::counter!(EMAILS_FAILED, "result" => "retry").increment(1);
                Err(SendFailure::Retry(e))
            }
            Err(e) => Err(SendFailure::Retry(e)),
        }
    }

    fn breaker(&self) -> Option<Arc<Breaker>> {
        self.mail.as_ref().map(|(m, _)| m.breaker.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_reads_as_text_or_as_audio_beside_text() {
        let adapter = EmailAdapter::new(None);
        let text = adapter.read("text", &json!({"text": " hola ", "message_id": "a@b"}));
        assert_eq!(text.message, Inbound::Text("hola".into()));
        let p = json!({"text": "escuchá", "audio": {"filename": "n.ogg", "mime": "audio/ogg", "size": 4, "data": "T2dnUw=="}});
        let audio = adapter.read("voice", &p);
        assert_eq!(
            audio.message,
            Inbound::Audio {
                audio: Audio::Inline { data: b"OggS".to_vec(), mime: "audio/ogg".into() },
                text: "escuchá".into()
            }
        );
        assert!(audio.record["audio"].get("data").is_none(), "the bytes stay in the inbox");
        assert!(!adapter.configured());
    }
}
