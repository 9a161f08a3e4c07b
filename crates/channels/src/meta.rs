//! Meta's Messenger Platform: Instagram Direct and Facebook Messenger share it — the webhook
//! (`hub.challenge` handshake, `X-Hub-Signature-256` with the app secret, `object: "instagram"` or
//! `"page"` entries with `messaging[]` events), the Send API (`POST /{id}/messages` with
//! `recipient.id` and a `message`), the 24-hour window and the `HUMAN_AGENT` tag a person's
//! later reply may carry. One module, one adapter type, two registrations.

use crate::adapter::{
    Adapter, Audio, Envelope, Inbound, Outgoing, Read, Recipient, Reply, SendContext, SendFailure, Sent, StatusUpdate,
    Webhook,
};
use crate::breaker::Breaker;
use crate::whatsapp::{hub_challenge, signature_valid};
use crate::{SendError, classify_reqwest, classify_status};
use domain::Channel;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One Messenger Platform account: a Facebook Page (Messenger) or an Instagram professional
/// account linked to one (Instagram).
#[derive(Clone)]
pub struct MetaConfig {
    pub verify_token: SecretString,
    pub app_secret: SecretString,
    /// The Page access token.
    pub access_token: SecretString,
    /// The Page id (Messenger) or the Instagram account id: the Send API's path.
    pub account_id: String,
    pub api_base: String,
    pub api_version: String,
}

impl std::fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaConfig")
            .field("account_id", &self.account_id)
            .field("api_base", &self.api_base)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// The Send API allows 13 quick replies; more options go as numbered text.
pub const MAX_QUICK_REPLIES: usize = 13;
/// A quick reply's title is cut at 20 characters by Meta; we cut it ourselves.
const QUICK_REPLY_TITLE: usize = 20;
/// Meta lets a business reply freely for 24 hours after the person's last message; a person
/// (not the bot) may answer for 7 days with the `HUMAN_AGENT` tag.
pub const WINDOW_HOURS: i64 = 24;
pub const HUMAN_AGENT_DAYS: i64 = 7;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;

/// The Send API client of one account, with its breaker.
#[derive(Clone)]
pub struct MetaClient {
    config: MetaConfig,
    http: reqwest::Client,
    pub breaker: Arc<Breaker>,
}

impl MetaClient {
    /// `breaker` names the provider in `breaker_state` (`instagram`, `messenger`).
    pub fn new(config: MetaConfig, breaker: &'static str) -> MetaClient {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().expect("HTTP client");
        MetaClient { config, http, breaker: Arc::new(Breaker::new(breaker)) }
    }

    /// One Send API call; returns the `message_id`.
    pub async fn send(&self, body: &Value) -> Result<String, SendError> {
        if self.breaker.allow(Instant::now()).is_err() {
            return Err(SendError::BreakerOpen);
        }
        let url = format!("{}/{}/{}/messages", self.config.api_base, self.config.api_version, self.config.account_id);
        let result = self
            .http
            .post(url)
            .bearer_auth(self.config.access_token.expose_secret())
            .timeout(SEND_TIMEOUT)
            .json(body)
            .send()
            .await;
        let outcome = match result {
            Err(e) => Err(classify_reqwest(&e)),
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    Ok(v["message_id"].as_str().unwrap_or("").to_string())
                } else {
                    Err(classify_status(status, &text))
                }
            }
        };
        match &outcome {
            Ok(_) | Err(SendError::Permanent(_)) => self.breaker.success(),
            Err(_) => self.breaker.failure(Instant::now()),
        }
        outcome
    }

    /// `GET /{account-id}` with the token, read-only (`posada doctor`): a Page answers its `name`,
    /// an Instagram professional account its `username` too; a bad token is Graph error 190, an
    /// id the token cannot see is error 100.
    pub async fn probe_account(&self) -> Result<crate::Probe, String> {
        let url = format!("{}/{}/{}", self.config.api_base, self.config.api_version, self.config.account_id);
        let fields = if self.breaker.name() == "instagram" { "id,username,name" } else { "id,name" };
        let req = self.http.get(url).query(&[("fields", fields)]);
        crate::probe(req.bearer_auth(self.config.access_token.expose_secret())).await
    }

    /// How long the webhook verification token is (`posada doctor` warns on a short one).
    pub fn verify_token_len(&self) -> usize {
        self.config.verify_token.expose_secret().chars().count()
    }

    /// Whether the app secret that signs every webhook is set (empty means nothing verifies).
    pub fn has_app_secret(&self) -> bool {
        !self.config.app_secret.expose_secret().trim().is_empty()
    }

    /// An attachment's bytes: Meta gives a signed CDN URL in the webhook.
    pub async fn download(&self, url: &str) -> Result<(Vec<u8>, String), SendError> {
        let mut r =
            self.http.get(url).timeout(Duration::from_secs(5)).send().await.map_err(|e| classify_reqwest(&e))?;
        if !r.status().is_success() {
            return Err(classify_status(r.status().as_u16(), ""));
        }
        let mime = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("audio/mp4")
            .to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| classify_reqwest(&e))? {
            if bytes.len() + chunk.len() > MAX_MEDIA_BYTES {
                return Err(SendError::Permanent("media over 16 MB".into()));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((bytes, mime))
    }
}

/// Instagram Direct or Facebook Messenger.
pub struct MetaAdapter {
    channel: Channel,
    client: Option<MetaClient>,
    /// No account, but the demo's sandbox chat plays this channel: replies follow the same
    /// rules (window, quick replies) and are "sent" by staying in the outbox, as the sandbox's.
    sandbox: bool,
}

impl MetaAdapter {
    pub fn instagram(config: Option<MetaConfig>) -> MetaAdapter {
        let client = config.map(|c| MetaClient::new(c, "instagram"));
        MetaAdapter { channel: Channel::Instagram, client, sandbox: false }
    }

    pub fn messenger(config: Option<MetaConfig>) -> MetaAdapter {
        let client = config.map(|c| MetaClient::new(c, "messenger"));
        MetaAdapter { channel: Channel::Messenger, client, sandbox: false }
    }

    /// Played by the sandbox chat when no account is configured (a configured account wins:
    /// its guests are real).
    pub fn with_sandbox(mut self, on: bool) -> MetaAdapter {
        self.sandbox = on && self.client.is_none();
        self
    }

    /// The webhook's `object` for this channel.
    fn object(&self) -> &'static str {
        if self.channel == Channel::Instagram { "instagram" } else { "page" }
    }
}

/// The guest messages of a Messenger Platform webhook for `object`: echoes of our own messages,
/// reads, deliveries and reactions are not guest messages and are left out; a postback (a
/// tapped button) is one. Control characters are dropped, as on WhatsApp.
pub fn parse_webhook(object: &str, body: &[u8]) -> Result<Vec<Envelope>, serde_json::Error> {
    let v: Value = serde_json::from_slice(body)?;
    if v["object"].as_str() != Some(object) {
        return Ok(Vec::new());
    }
    let clean = |s: &str| domain::text::strip(s).into_owned();
    let mut out = Vec::new();
    for entry in v["entry"].as_array().into_iter().flatten() {
        for event in entry["messaging"].as_array().into_iter().flatten() {
            let Some(from) = event["sender"]["id"].as_str() else { continue };
            let (message, kind) = if let Some(m) = event.get("message").filter(|m| m.is_object()) {
                if m["is_echo"] == json!(true) || m["is_deleted"] == json!(true) {
                    continue;
                }
                let kind = if m.get("quick_reply").is_some() {
                    "quick_reply".to_string()
                } else if m["text"].is_string() {
                    "text".to_string()
                } else {
                    m["attachments"][0]["type"].as_str().unwrap_or("unsupported").to_string()
                };
                (m.clone(), kind)
            } else if let Some(p) = event.get("postback").filter(|p| p.is_object()) {
                (p.clone(), "postback".to_string())
            } else {
                continue;
            };
            let Some(mid) = message["mid"].as_str() else { continue };
            out.push(Envelope {
                id: clean(mid),
                from: clean(from),
                name: String::new(),
                kind: clean(&kind),
                payload: message,
            });
        }
    }
    Ok(out)
}

/// Messenger's `delivery` events (`message_deliveries`): each `mid` in `mids` is one of our
/// messages delivered. `mids` may be absent (older clients: only a `watermark`), and `read`
/// events carry only a `watermark` — a time, not ids — so neither becomes a status: marking by
/// time would need the contact's sent messages by timestamp, which the store does not offer.
pub fn parse_deliveries(object: &str, body: &[u8]) -> Result<Vec<StatusUpdate>, serde_json::Error> {
    let v: Value = serde_json::from_slice(body)?;
    if v["object"].as_str() != Some(object) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in v["entry"].as_array().into_iter().flatten() {
        for event in entry["messaging"].as_array().into_iter().flatten() {
            for mid in event["delivery"]["mids"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                out.push(StatusUpdate {
                    message_id: domain::text::strip(mid).into_owned(),
                    status: domain::MessageStatus::Delivered,
                    error: None,
                });
            }
        }
    }
    Ok(out)
}

/// WhatsApp's `*bold*` as plain words: Instagram shows the asterisks as typed.
pub fn unbold(s: &str) -> String {
    crate::map_bold(s, str::to_string)
}

/// The Send API's `message` for a reply: quick replies up to 13 options, numbered text beyond.
pub fn message_of(reply: &Outgoing) -> Vec<Value> {
    match &reply.reply {
        Reply::Text(text) => vec![json!({"text": unbold(text)})],
        Reply::Photo { url, caption } => {
            // An image attachment has no caption: the caption follows as text.
            let mut parts =
                vec![json!({"attachment": {"type": "image", "payload": {"url": url, "is_reusable": true}}})];
            if !caption.trim().is_empty() {
                parts.push(json!({"text": unbold(caption)}));
            }
            parts
        }
        Reply::Choices { text, options } if !options.is_empty() && options.len() <= MAX_QUICK_REPLIES => {
            vec![json!({"text": unbold(text), "quick_replies": options.iter().map(|o| json!({
                "content_type": "text",
                "title": o.title.chars().take(QUICK_REPLY_TITLE).collect::<String>(),
                "payload": o.id,
            })).collect::<Vec<_>>()})]
        }
        Reply::Choices { .. } => vec![json!({"text": unbold(&reply.body)})],
    }
}

#[async_trait::async_trait]
impl Adapter for MetaAdapter {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn window(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::hours(WINDOW_HOURS))
    }

    fn configured(&self) -> bool {
        self.client.is_some()
    }

    fn verify_subscription(&self, query: &HashMap<String, String>) -> Option<String> {
        hub_challenge(query, self.client.as_ref()?.config.verify_token.expose_secret())
    }

    fn verify_signature(&self, header: &dyn Fn(&str) -> Option<String>, body: &[u8]) -> bool {
        let Some(c) = &self.client else { return false };
        signature_valid(c.config.app_secret.expose_secret(), body, header("x-hub-signature-256").as_deref())
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<Webhook, String> {
        let messages = parse_webhook(self.object(), body).map_err(|e| e.to_string())?;
        let statuses = parse_deliveries(self.object(), body).map_err(|e| e.to_string())?;
        Ok(Webhook { messages, statuses })
    }

    fn read(&self, kind: &str, p: &Value) -> Read {
        let same = |message| Read { message, record: p.clone() };
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let attachment = &p["attachments"][0]["payload"];
        match kind {
            "text" => same(Inbound::Text(text(&p["text"]))),
            "quick_reply" => same(Inbound::Choice {
                id: text(&p["quick_reply"]["payload"]),
                title: text(&p["text"]),
                from_list: false,
            }),
            "postback" => same(Inbound::Choice { id: text(&p["payload"]), title: text(&p["title"]), from_list: false }),
            "audio" => Read {
                message: Inbound::Audio { audio: Audio::Media { id: text(&attachment["url"]) }, text: String::new() },
                record: json!({"mid": p["mid"], "audio": {"url": attachment["url"]}}),
            },
            "image" => same(Inbound::Image { caption: text(&p["text"]) }),
            "location" => same(Inbound::Location { caption: text(&attachment["title"]) }),
            other => same(Inbound::Unsupported { kind: other.to_string(), caption: text(&p["text"]) }),
        }
    }

    async fn fetch_media(&self, url: &str) -> Result<(Vec<u8>, String), SendError> {
        let Some(c) = &self.client else { return Err(SendError::Permanent("not configured".into())) };
        c.download(url).await
    }

    fn sandboxed(&self) -> bool {
        self.sandbox
    }

    /// As the webhook stores them: a text, or a quick reply with its payload.
    fn sandbox_event(&self, id: &str, message: &Inbound) -> Option<(String, Value)> {
        if !self.sandbox {
            return None;
        }
        match message {
            Inbound::Choice { id: payload, title, .. } => {
                Some(("quick_reply".into(), json!({"mid": id, "text": title, "quick_reply": {"payload": payload}})))
            }
            Inbound::Text(text) => Some(("text".into(), json!({"mid": id, "text": text}))),
            _ => None,
        }
    }

    fn preview(&self, reply: &Outgoing) -> Option<Value> {
        Some(Value::Array(message_of(reply)))
    }

    async fn send(&self, to: &Recipient<'_>, replies: &[Outgoing], ctx: &SendContext<'_>) -> Result<Sent, SendFailure> {
        if self.client.is_none() && !self.sandbox {
            let error = format!("{} is not configured", self.channel.label());
            return Err(SendFailure::Refused { error, alert: false });
        }
        let Some(reply) = replies.first() else {
            return Err(SendFailure::Refused { error: "nothing to send".into(), alert: false });
        };
        let since = to.last_inbound_at.map(|t| ctx.now - t);
        let (messaging_type, tag) = match since {
            Some(d) if d < chrono::Duration::hours(WINDOW_HOURS) => ("RESPONSE", None),
            // A person's reply (the owner, from the dashboard) may go for 7 days, tagged.
            Some(d) if reply.human && d < chrono::Duration::days(HUMAN_AGENT_DAYS) => {
                ("MESSAGE_TAG", Some("HUMAN_AGENT"))
            }
            _ => {
                let error = "outside the 24-hour window".to_string();
                return Err(SendFailure::Refused { error, alert: true });
            }
        };
        let Some(c) = &self.client else {
            return Ok(Sent { provider_id: format!("sandbox:{}", ctx.first_id) });
        };
        let mut last = String::new();
        for message in message_of(reply) {
            let mut body =
                json!({"recipient": {"id": to.address}, "messaging_type": messaging_type, "message": message});
            if let Some(tag) = tag {
                body["tag"] = json!(tag);
            }
            last = match c.send(&body).await {
                Ok(id) => id,
                Err(SendError::Permanent(error)) => return Err(SendFailure::Refused { error, alert: false }),
                Err(e) => return Err(SendFailure::Retry(e)),
            };
        }
        Ok(Sent { provider_id: last })
    }

    fn breaker(&self) -> Option<Arc<Breaker>> {
        self.client.as_ref().map(|c| c.breaker.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Choice;

    fn hook(object: &str, events: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({"object": object, "entry": [{"id": "PAGE", "time": 1, "messaging": events}]}))
            .unwrap()
    }

    #[test]
    fn deliveries_with_mids_become_delivered_and_watermark_only_reads_do_not() {
        let body = hook(
            "page",
            vec![
                json!({"sender": {"id": "P"}, "recipient": {"id": "9002"},
                       "delivery": {"mids": ["mid.1458668856218:ed81099e15d3f4f233"], "watermark": 1458668856253i64}}),
                json!({"sender": {"id": "P"}, "recipient": {"id": "9002"}, "delivery": {"watermark": 1}}),
                json!({"sender": {"id": "P"}, "recipient": {"id": "9002"}, "timestamp": 2, "read": {"watermark": 2}}),
            ],
        );
        let got = parse_deliveries("page", &body).unwrap();
        assert_eq!(got.len(), 1, "only the delivery that names its message");
        assert_eq!(got[0].message_id, "mid.1458668856218:ed81099e15d3f4f233");
        assert_eq!(got[0].status, domain::MessageStatus::Delivered);
        assert!(parse_deliveries("instagram", &body).unwrap().is_empty(), "another object's events are not ours");
        assert!(parse_webhook("page", &body).unwrap().is_empty(), "and none of them is a guest message");
    }

    #[test]
    fn guest_messages_are_read_and_echoes_reads_and_other_objects_are_not() {
        let events = vec![
            json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE"}, "timestamp": 1, "message": {"mid": "m1", "text": "hola"}}),
            json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE"}, "timestamp": 2, "message": {"mid": "m2", "text": "Sí", "quick_reply": {"payload": "yes"}}}),
            json!({"sender": {"id": "PAGE"}, "recipient": {"id": "PSID1"}, "timestamp": 3, "message": {"mid": "m3", "text": "eco", "is_echo": true}}),
            json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE"}, "timestamp": 4, "read": {"watermark": 4}}),
            json!({"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE"}, "timestamp": 5, "message": {"mid": "m5", "attachments": [{"type": "audio", "payload": {"url": "https://cdn.test/a.mp4"}}]}}),
        ];
        let got = parse_webhook("page", &hook("page", events.clone())).unwrap();
        assert_eq!(
            got.iter().map(|e| (e.id.as_str(), e.kind.as_str())).collect::<Vec<_>>(),
            vec![("m1", "text"), ("m2", "quick_reply"), ("m5", "audio")]
        );
        assert_eq!(got[0].from, "PSID1");
        assert!(parse_webhook("instagram", &hook("page", events)).unwrap().is_empty(), "another object");
        assert!(parse_webhook("page", b"nope").is_err());
        let ig = MetaAdapter::instagram(None);
        assert_eq!(
            ig.read("quick_reply", &got[1].payload).message,
            Inbound::Choice { id: "yes".into(), title: "Sí".into(), from_list: false }
        );
        assert_eq!(
            ig.read("audio", &got[2].payload).message,
            Inbound::Audio { audio: Audio::Media { id: "https://cdn.test/a.mp4".into() }, text: String::new() }
        );
    }

    #[test]
    fn choices_are_quick_replies_up_to_thirteen_and_photos_carry_their_caption_after() {
        let choices = |n: usize| {
            Outgoing::new(
                Reply::Choices {
                    text: "Elegí".into(),
                    options: (1..=n)
                        .map(|i| Choice {
                            id: format!("id{i}"),
                            title: format!("Opción número {i} con nombre largo"),
                            description: String::new(),
                        })
                        .collect(),
                },
                "Elegí\n\n1. …",
            )
        };
        let m = message_of(&choices(13));
        assert_eq!(m[0]["quick_replies"].as_array().unwrap().len(), 13);
        assert_eq!(m[0]["quick_replies"][0]["payload"], "id1");
        assert!(m[0]["quick_replies"][0]["title"].as_str().unwrap().chars().count() <= 20);
        assert_eq!(message_of(&choices(14)), vec![json!({"text": "Elegí\n\n1. …"})]);
        let photo =
            Outgoing::new(Reply::Photo { url: "https://x.test/1.jpg".into(), caption: "Frente".into() }, "Frente");
        let m = message_of(&photo);
        assert_eq!((m[0]["attachment"]["type"].as_str(), m[1]["text"].as_str()), (Some("image"), Some("Frente")));
    }

    /// Instagram shows WhatsApp's `*bold*` as typed (found in the release demo's Instagram chat).
    #[test]
    fn whatsapp_bold_is_sent_as_plain_words() {
        let photo = Outgoing::new(
            Reply::Photo { url: "https://x.test/1.jpg".into(), caption: "*Cabaña Grande* · hasta 6".into() },
            "",
        );
        assert_eq!(message_of(&photo)[1]["text"], "Cabaña Grande · hasta 6");
        assert_eq!(
            message_of(&Outgoing::text("Tu reserva *R7K2Q9* está confirmada"))[0]["text"],
            "Tu reserva R7K2Q9 está confirmada"
        );
        // A lone or spaced asterisk is not formatting.
        assert_eq!(unbold("5 * 3 = 15 y *nota"), "5 * 3 = 15 y *nota");
    }
}
