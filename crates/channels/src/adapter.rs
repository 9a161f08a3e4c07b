//! One adapter per channel owns that channel's wire format end to end: the webhook (verify,
//! parse into typed messages), reading a stored event back as a typed [`Inbound`], rendering and
//! sending a typed [`Outgoing`] reply, the messaging-window policy, how a guest is identified and
//! the label the owner reads. The server drives the dialogue on these types only and finds the
//! adapter for a contact through [`Adapters`] (a registry keyed by [`Channel`]).
//!
//! A trait object rather than an enum: a new channel is its own module implementing [`Adapter`]
//! plus one `register` line where the server builds the registry; an enum would need a new arm
//! in every dispatching `match` (docs/decisions.md, "Channels as adapters").

use crate::SendError;
use crate::breaker::Breaker;
use chrono::{DateTime, Utc};
use domain::Channel;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// In

/// What a guest sent, as the dialogue needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Text(String),
    /// A tapped button, list row or quick reply: its payload id and the title the guest saw.
    Choice {
        id: String,
        title: String,
        from_list: bool,
    },
    /// A voice note or an audio attachment; `text` is anything written beside it.
    Audio {
        audio: Audio,
        text: String,
    },
    Image {
        caption: String,
    },
    Location {
        caption: String,
    },
    /// A sticker, a document, a reaction…: `kind` is the channel's own name for it.
    Unsupported {
        kind: String,
        caption: String,
    },
}

/// Where an audio's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Audio {
    /// On the provider's servers: [`Adapter::fetch_media`] downloads it.
    Media { id: String },
    /// Carried in the event itself (an e-mail attachment).
    Inline { data: Vec<u8>, mime: String },
}

/// A stored inbox event read back: the typed message and what the conversation keeps of the
/// payload (an audio's bytes stay in the inbox event).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub message: Inbound,
    pub record: Value,
}

/// One guest message found in a webhook, ready for the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The provider's message id: the inbox deduplicates on it.
    pub id: String,
    /// The guest's address on the channel (phone, e-mail, page-scoped id).
    pub from: String,
    pub name: String,
    /// The provider's message type (a metric label and the inbox event's kind).
    pub kind: String,
    pub payload: Value,
}

pub use domain::MessageStatus;

/// A delivery report from a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub message_id: String,
    pub status: MessageStatus,
    pub error: Option<String>,
}

/// Everything one webhook POST carried.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Webhook {
    pub messages: Vec<Envelope>,
    pub statuses: Vec<StatusUpdate>,
}

// ---------------------------------------------------------------------------------------------
// Out

/// One option of a [`Reply::Choices`].
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub id: String,
    pub title: String,
    pub description: String,
}

/// What we say, before any channel's format.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    Photo {
        url: String,
        caption: String,
    },
    /// Buttons, a list or quick replies where the channel has them; numbered options elsewhere.
    Choices {
        text: String,
        options: Vec<Choice>,
    },
}

/// An approved message for outside the messaging window (one body parameter per `params`).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    pub language: String,
    pub params: Vec<String>,
}

/// One outbox row: the reply, what a person reads of it, and how it may be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub reply: Reply,
    /// What a person reads (numbered options for choices): the dashboard and e-mail show it.
    pub body: String,
    /// Used outside the messaging window.
    pub template: Option<Template>,
    /// A person wrote it (e-mail sends it without `Auto-Submitted`).
    pub human: bool,
    /// E-mail's subject when it starts a thread.
    pub subject: Option<String>,
}

impl Outgoing {
    pub fn new(reply: Reply, body: impl Into<String>) -> Outgoing {
        Outgoing { reply, body: body.into(), template: None, human: false, subject: None }
    }

    pub fn text(text: &str) -> Outgoing {
        Outgoing::new(Reply::Text(text.to_string()), text)
    }

    /// The outbox row's `kind` and `payload` (the stored form every adapter reads back).
    pub fn to_stored(&self) -> (&'static str, Value) {
        let (kind, mut payload) = match &self.reply {
            Reply::Text(text) => ("text", json!({"text": text})),
            Reply::Photo { url, caption } => ("photo", json!({"url": url, "caption": caption})),
            Reply::Choices { text, options } => (
                "choices",
                json!({
                    "text": text,
                    "options": options.iter().map(|o| json!({"id": o.id, "title": o.title, "description": o.description})).collect::<Vec<_>>(),
                }),
            ),
        };
        if let Some(t) = &self.template {
            payload["template"] = json!({"name": t.name, "language": t.language, "params": t.params});
        }
        if self.human {
            payload["human"] = json!(true);
        }
        if let Some(s) = &self.subject {
            payload["subject"] = json!(s);
        }
        (kind, payload)
    }

    /// An outbox row read back; tolerant of missing fields (rows written by older versions).
    pub fn from_stored(kind: &str, body: &str, payload: &Value) -> Outgoing {
        let s = |v: &Value| v.as_str().unwrap_or("").to_string();
        let reply = match kind {
            "photo" => Reply::Photo { url: s(&payload["url"]), caption: s(&payload["caption"]) },
            "choices" => Reply::Choices {
                text: s(&payload["text"]),
                options: payload["options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| Choice { id: s(&o["id"]), title: s(&o["title"]), description: s(&o["description"]) })
                    .collect(),
            },
            _ => Reply::Text(payload["text"].as_str().unwrap_or(body).to_string()),
        };
        let template = payload.get("template").filter(|t| t.is_object()).map(|t| Template {
            name: s(&t["name"]),
            language: s(&t["language"]),
            params: t["params"].as_array().into_iter().flatten().map(s).collect(),
        });
        Outgoing {
            reply,
            body: body.to_string(),
            template,
            human: payload["human"] == json!(true),
            subject: payload["subject"].as_str().map(String::from),
        }
    }
}

/// Who we write to, and what the channel may need of the conversation so far.
#[derive(Debug, Clone)]
pub struct Recipient<'a> {
    pub address: &'a str,
    pub name: &'a str,
    /// The guest's last message: the messaging window runs from it.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// What the conversation kept of the guest's last message (e-mail threads under it).
    pub last_inbound: Option<&'a Value>,
}

/// The send's circumstances: the service's clock, the outbox row, and who we are (e-mail's
/// footer, threading and Message-ID need them).
#[derive(Debug, Clone)]
pub struct SendContext<'a> {
    pub now: DateTime<Utc>,
    /// The first outbox row's id and creation time.
    pub first_id: i64,
    pub first_at: DateTime<Utc>,
    pub property_name: &'a str,
    pub public_url: &'a str,
}

/// A message the provider accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The provider's id (`wamid`, Message-ID): delivery reports name it.
    pub provider_id: String,
}

/// Why a message cannot go out.
#[derive(Debug, Clone, PartialEq)]
pub enum SendFailure {
    /// Try again later (timeouts, 5xx, 429, an open breaker).
    Retry(SendError),
    /// Never will: `alert` says the owner should be told (they can write to the guest themselves).
    Refused { error: String, alert: bool },
}

/// How a guest is identified on the channel, and so where a reservation keeps the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// A phone number (the reservation's `guest_phone`).
    Phone,
    /// An e-mail address (the reservation's `guest_email`).
    Email,
}

// ---------------------------------------------------------------------------------------------
// The adapter

#[async_trait::async_trait]
pub trait Adapter: Send + Sync {
    fn channel(&self) -> Channel;

    /// What the owner reads (dashboard, alerts).
    fn label(&self) -> &'static str {
        self.channel().label()
    }

    fn identity(&self) -> Identity {
        Identity::Phone
    }

    /// How long after the guest's last message we may write freely (`None`: always).
    fn window(&self) -> Option<chrono::Duration> {
        None
    }

    /// Whether one turn's replies go out as one message threaded under the guest's last one
    /// (e-mail) rather than one each: the server then gathers the turn and the guest's last
    /// message ([`Recipient::last_inbound`]) for it.
    fn sends_turn_together(&self) -> bool {
        false
    }

    /// Whether its provider is configured here: webhooks and sends need it; reading events
    /// already stored does not.
    fn configured(&self) -> bool {
        true
    }

    /// Whether the demo's sandbox chat plays this channel (no account here): its replies are
    /// "sent" by staying in the outbox, where the sandbox chat reads them.
    fn sandboxed(&self) -> bool {
        false
    }

    /// A text or a tapped option typed in the sandbox chat as this channel's stored inbox event
    /// (`kind`, `payload`), read back by [`read`](Self::read) like a real one. `None` when the
    /// channel is not [`sandboxed`](Self::sandboxed).
    fn sandbox_event(&self, _id: &str, _message: &Inbound) -> Option<(String, Value)> {
        None
    }

    /// What the provider would be sent for `reply`, for the sandbox chat to show it as the
    /// guest's app would (`None`: the outbox row's own form is shown).
    fn preview(&self, _reply: &Outgoing) -> Option<Value> {
        None
    }

    /// Meta-style subscription handshake (`hub.mode`, `hub.verify_token`, `hub.challenge`):
    /// the challenge to echo when the token is ours. `None` for channels without a webhook.
    fn verify_subscription(&self, _query: &HashMap<String, String>) -> Option<String> {
        None
    }

    /// Whether a webhook POST is really from the provider (`header` reads a request header).
    fn verify_signature(&self, _header: &dyn Fn(&str) -> Option<String>, _body: &[u8]) -> bool {
        false
    }

    /// The webhook's messages and delivery reports; `Err` when the body is not what the
    /// provider sends at all.
    fn parse_webhook(&self, _body: &[u8]) -> Result<Webhook, String> {
        Ok(Webhook::default())
    }

    /// A stored inbox event (`kind`, `payload` as the webhook or mailbox stored them) as a typed message.
    fn read(&self, kind: &str, payload: &Value) -> Read;

    /// Downloads an [`Audio::Media`].
    async fn fetch_media(&self, _id: &str) -> Result<(Vec<u8>, String), SendError> {
        Err(SendError::Permanent("this channel has no media to fetch".into()))
    }

    /// Sends one turn's replies (one unless [`sends_turn_together`](Self::sends_turn_together)),
    /// applying the channel's messaging window.
    async fn send(&self, to: &Recipient<'_>, replies: &[Outgoing], ctx: &SendContext<'_>) -> Result<Sent, SendFailure>;

    /// The provider's breaker, for health and for how long to wait while it is open.
    fn breaker(&self) -> Option<Arc<Breaker>> {
        None
    }
}

/// The adapters this installation runs, keyed by channel.
#[derive(Clone, Default)]
pub struct Adapters {
    by_channel: HashMap<Channel, Arc<dyn Adapter>>,
}

impl Adapters {
    pub fn register(&mut self, adapter: Arc<dyn Adapter>) {
        self.by_channel.insert(adapter.channel(), adapter);
    }

    pub fn get(&self, channel: Channel) -> Option<&Arc<dyn Adapter>> {
        self.by_channel.get(&channel)
    }

    /// Every registered adapter, in a stable order (health, metrics).
    pub fn all(&self) -> Vec<&Arc<dyn Adapter>> {
        let mut all: Vec<_> = self.by_channel.values().collect();
        all.sort_by_key(|a| a.channel().as_str());
        all
    }
}

/// Constant-time comparison of two secrets (verification tokens).
pub fn same_secret(a: &str, b: &str) -> bool {
    use hmac::Mac;
    // Comparing MACs of both under one key: equal length work whatever the inputs.
    let mac = |s: &str| {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"posada-token-compare").expect("any key");
        m.update(s.as_bytes());
        m.finalize().into_bytes()
    };
    mac(a) == mac(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outgoing_reply_survives_the_outbox() {
        let mut o = Outgoing::new(
            Reply::Choices {
                text: "Elegí".into(),
                options: vec![Choice { id: "a".into(), title: "Arrayán".into(), description: "4 personas".into() }],
            },
            "Elegí\n\n1. Arrayán — 4 personas",
        );
        o.template =
            Some(Template { name: "recordatorio".into(), language: "es_AR".into(), params: vec!["R7".into()] });
        o.human = true;
        o.subject = Some("Tu consulta".into());
        let (kind, payload) = o.to_stored();
        assert_eq!(Outgoing::from_stored(kind, &o.body, &payload), o);
        let plain = Outgoing::text("hola");
        let (kind, payload) = plain.to_stored();
        assert_eq!((kind, payload.clone()), ("text", json!({"text": "hola"})));
        assert_eq!(Outgoing::from_stored(kind, "hola", &payload), plain);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd"));
    }
}
