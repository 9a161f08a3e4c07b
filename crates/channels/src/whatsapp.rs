//! WhatsApp Cloud API: webhook signature and payload parsing, sending, media download.

use super::breaker::Breaker;
use super::{SendError, classify_reqwest, classify_status};
use crate::adapter::{
    Adapter, Audio, Envelope, Inbound, MessageStatus, Outgoing, Read, Recipient, Reply, SendContext, SendFailure, Sent,
    StatusUpdate as Status, Template, Webhook,
};
use domain::Channel;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`, checked in constant time.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Some(expected) = decode_hex(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Meta's webhook subscription check (WhatsApp, Instagram, Messenger alike): `hub.mode=subscribe`
/// with our verify token is answered with `hub.challenge`; anything else gets nothing.
pub fn hub_challenge(query: &HashMap<String, String>, verify_token: &str) -> Option<String> {
    let ok = query.get("hub.mode").map(String::as_str) == Some("subscribe")
        && query.get("hub.verify_token").is_some_and(|t| crate::adapter::same_secret(t, verify_token));
    ok.then(|| query.get("hub.challenge").cloned()).flatten()
}

pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", to_hex(&mac.finalize().into_bytes()))
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// What the Cloud API client and the webhook need; the server maps its configuration into it.
#[derive(Clone)]
pub struct WhatsAppConfig {
    /// Meta's `hub.verify_token` handshake.
    pub verify_token: SecretString,
    /// Signs every webhook (`X-Hub-Signature-256`).
    pub app_secret: SecretString,
    pub access_token: SecretString,
    pub phone_number_id: String,
    /// `https://graph.facebook.com` (a local fake in tests).
    pub api_base: String,
    pub api_version: String,
}

impl std::fmt::Debug for WhatsAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets are `SecretString` (redacted) anyway; the ids are not secret.
        f.debug_struct("WhatsAppConfig")
            .field("phone_number_id", &self.phone_number_id)
            .field("api_base", &self.api_base)
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// One message found in a webhook POST.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    pub id: String,
    pub from: String,
    pub profile_name: String,
    /// `text`, `audio`, `image`, `interactive`, `button`, or whatever Meta adds.
    pub kind: String,
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub message_id: String,
    pub status: String,
    pub error: Option<String>,
}

/// Reads every entry / change / message / status of a webhook body, tolerating what it does
/// not know. `Err` only when the body is not JSON at all.
pub fn parse_webhook(body: &[u8]) -> Result<(Vec<InboundMessage>, Vec<StatusUpdate>), serde_json::Error> {
    let v: Value = serde_json::from_slice(body)?;
    let mut messages = Vec::new();
    let mut statuses = Vec::new();
    for entry in v["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            let value = &change["value"];
            let names: Vec<(String, String)> = value["contacts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((c["wa_id"].as_str()?.to_string(), c["profile"]["name"].as_str().unwrap_or("").to_string()))
                })
                .collect();
            for m in value["messages"].as_array().into_iter().flatten() {
                let (Some(id), Some(from)) = (m["id"].as_str(), m["from"].as_str()) else { continue };
                let profile_name = names.iter().find(|(w, _)| w == from).map(|(_, n)| n.clone()).unwrap_or_default();
                // Control characters are dropped here (and from the payload by the store): a NUL
                // in one message must not make the batch fail and be redelivered forever.
                let clean = |s: &str| domain::text::strip(s).into_owned();
                messages.push(InboundMessage {
                    id: clean(id),
                    from: clean(from),
                    profile_name: clean(&profile_name),
                    kind: clean(m["type"].as_str().unwrap_or("unknown")),
                    raw: m.clone(),
                });
            }
            for s in value["statuses"].as_array().into_iter().flatten() {
                let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else { continue };
                let error = s["errors"].as_array().and_then(|e| e.first()).map(|e| {
                    format!("{} {}", e["code"].as_i64().unwrap_or(0), e["title"].as_str().unwrap_or(""))
                        .trim()
                        .to_string()
                });
                statuses.push(StatusUpdate { message_id: id.to_string(), status: status.to_string(), error });
            }
        }
    }
    Ok((messages, statuses))
}

/// The Graph API client. One per process, with one breaker.
#[derive(Clone)]
pub struct WhatsApp {
    config: WhatsAppConfig,
    http: reqwest::Client,
    pub breaker: Arc<Breaker>,
}

pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;

impl WhatsApp {
    pub fn new(config: WhatsAppConfig) -> WhatsApp {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().expect("HTTP client");
        WhatsApp { config, http, breaker: Arc::new(Breaker::new("whatsapp")) }
    }

    pub fn config(&self) -> &WhatsAppConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.config.api_base, self.config.api_version, path)
    }

    /// Sends one message body (`to`, `type` and the type's object); returns the `wamid`.
    pub async fn send(&self, body: &Value) -> Result<String, SendError> {
        if self.breaker.allow(Instant::now()).is_err() {
            return Err(SendError::BreakerOpen);
        }
        let mut payload = body.clone();
        payload["messaging_product"] = json!("whatsapp");
        payload["recipient_type"] = json!("individual");
        let result = self
            .http
            .post(self.url(&format!("{}/messages", self.config.phone_number_id)))
            .bearer_auth(self.config.access_token.expose_secret())
            .timeout(SEND_TIMEOUT)
            .json(&payload)
            .send()
            .await;
        let outcome = match result {
            Err(e) => Err(classify_reqwest(&e)),
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    Ok(v["messages"][0]["id"].as_str().unwrap_or("").to_string())
                } else {
                    Err(classify_status(status, &text))
                }
            }
        };
        match &outcome {
            Ok(_) => self.breaker.success(),
            // A 4xx is our request's fault, not the provider's health.
            Err(SendError::Permanent(_)) => self.breaker.success(),
            Err(_) => self.breaker.failure(Instant::now()),
        }
        outcome
    }

    /// `GET /{phone-number-id}`: does the token reach the business number (`posada doctor`)?
    pub async fn probe_phone_number(&self) -> Result<super::Probe, String> {
        let fields = [("fields", "display_phone_number,verified_name,quality_rating,code_verification_status")];
        let req = self.http.get(self.url(&self.config.phone_number_id)).query(&fields);
        super::probe(req.bearer_auth(self.config.access_token.expose_secret())).await
    }

    /// `GET /{waba-id}/message_templates`: the account's templates and their review status.
    pub async fn probe_templates(&self, waba_id: &str) -> Result<super::Probe, String> {
        let query = [("fields", "name,status,language,category"), ("limit", "200")];
        let req = self.http.get(self.url(&format!("{waba_id}/message_templates"))).query(&query);
        super::probe(req.bearer_auth(self.config.access_token.expose_secret())).await
    }

    /// Media id → bytes: the metadata call, then the file with the same bearer token.
    pub async fn download_media(&self, media_id: &str, timeout: Duration) -> Result<(Vec<u8>, String), SendError> {
        let token = self.config.access_token.expose_secret();
        let meta = self
            .http
            .get(self.url(media_id))
            .bearer_auth(token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))?;
        if !meta.status().is_success() {
            let status = meta.status().as_u16();
            return Err(classify_status(status, &meta.text().await.unwrap_or_default()));
        }
        let meta: Value = meta.json().await.map_err(|e| SendError::Permanent(e.to_string()))?;
        let url = meta["url"].as_str().ok_or_else(|| SendError::Permanent("media without url".into()))?;
        let mime = meta["mime_type"].as_str().unwrap_or("audio/ogg").to_string();
        let mut r =
            self.http.get(url).bearer_auth(token).timeout(timeout).send().await.map_err(|e| classify_reqwest(&e))?;
        if !r.status().is_success() {
            return Err(classify_status(r.status().as_u16(), ""));
        }
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

// ---------------------------------------------------------------------------------------------
// The adapter: WhatsApp's wire format end to end.

/// The WhatsApp channel. Reading stored events needs no account; webhooks and sends do.
pub struct WhatsAppAdapter {
    client: Option<WhatsApp>,
}

impl WhatsAppAdapter {
    pub fn new(client: Option<WhatsApp>) -> WhatsAppAdapter {
        WhatsAppAdapter { client }
    }
}

/// Meta lets a business write freely for 24 hours after the guest's last message.
pub const WINDOW_HOURS: i64 = 24;

#[async_trait::async_trait]
impl Adapter for WhatsAppAdapter {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
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
        let Some(wa) = &self.client else { return false };
        signature_valid(wa.config.app_secret.expose_secret(), body, header("x-hub-signature-256").as_deref())
    }

    fn parse_webhook(&self, body: &[u8]) -> Result<Webhook, String> {
        let (messages, statuses) = parse_webhook(body).map_err(|e| e.to_string())?;
        Ok(Webhook {
            messages: messages
                .into_iter()
                .map(|m| Envelope { id: m.id, from: m.from, name: m.profile_name, kind: m.kind, payload: m.raw })
                .collect(),
            // A status Meta adds later (`deleted`, `warning`) moves nothing.
            statuses: statuses
                .into_iter()
                .filter_map(|s| {
                    Some(Status { status: MessageStatus::parse(&s.status)?, message_id: s.message_id, error: s.error })
                })
                .collect(),
        })
    }

    fn read(&self, kind: &str, p: &Value) -> Read {
        let same = |message| Read { message, record: p.clone() };
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        match kind {
            "text" => same(Inbound::Text(text(&p["text"]["body"]))),
            "interactive" | "button" => {
                let i = &p["interactive"];
                let (id, title) = if let Some(b) = i.get("button_reply") {
                    (&b["id"], &b["title"])
                } else if let Some(l) = i.get("list_reply") {
                    (&l["id"], &l["title"])
                } else {
                    (&p["button"]["payload"], &p["button"]["text"])
                };
                same(Inbound::Choice { id: text(id), title: text(title), from_list: i.get("list_reply").is_some() })
            }
            "audio" => Read {
                message: Inbound::Audio { audio: Audio::Media { id: text(&p["audio"]["id"]) }, text: String::new() },
                record: json!({"audio": p["audio"]}),
            },
            "image" => same(Inbound::Image { caption: text(&p["image"]["caption"]) }),
            "location" => same(Inbound::Location { caption: text(&p["location"]["caption"]) }),
            other => same(Inbound::Unsupported { kind: other.to_string(), caption: text(&p[other]["caption"]) }),
        }
    }

    async fn fetch_media(&self, id: &str) -> Result<(Vec<u8>, String), SendError> {
        let Some(wa) = &self.client else { return Err(SendError::Permanent("WhatsApp is not configured".into())) };
        wa.download_media(id, Duration::from_secs(5)).await
    }

    async fn send(&self, to: &Recipient<'_>, replies: &[Outgoing], ctx: &SendContext<'_>) -> Result<Sent, SendFailure> {
        let Some(wa) = &self.client else {
            return Err(SendFailure::Refused { error: "WhatsApp is not configured".into(), alert: false });
        };
        let Some(reply) = replies.first() else {
            return Err(SendFailure::Refused { error: "nothing to send".into(), alert: false });
        };
        let window_open = to.last_inbound_at.is_some_and(|t| ctx.now - t < chrono::Duration::hours(WINDOW_HOURS));
        let body = match (window_open, &reply.template) {
            (true, _) => message_body(to.address, &reply.reply),
            (false, Some(t)) => template_body(to.address, t),
            (false, None) => {
                let error = "outside the 24-hour window and no template fits".into();
                return Err(SendFailure::Refused { error, alert: true });
            }
        };
        match wa.send(&body).await {
            Ok(wamid) => Ok(Sent { provider_id: wamid }),
            // A 4xx: retrying will not help, and the guest simply did not get it.
            Err(SendError::Permanent(error)) => Err(SendFailure::Refused { error, alert: false }),
            Err(e) => Err(SendFailure::Retry(e)),
        }
    }

    fn breaker(&self) -> Option<Arc<Breaker>> {
        self.client.as_ref().map(|c| c.breaker.clone())
    }
}

/// The Graph API body of a reply (inside the 24-hour window): up to three choices are reply
/// buttons, more are a list.
pub fn message_body(to: &str, reply: &Reply) -> Value {
    match reply {
        Reply::Photo { url, caption } => {
            json!({"to": to, "type": "image", "image": {"link": url, "caption": caption}})
        }
        Reply::Choices { text, options } if options.len() <= 3 => {
            json!({"to": to, "type": "interactive", "interactive": {
                "type": "button",
                "body": {"text": text},
                "action": {"buttons": options.iter().map(|o| json!({"type": "reply", "reply": {"id": o.id, "title": o.title}})).collect::<Vec<_>>()},
            }})
        }
        Reply::Choices { text, options } => json!({"to": to, "type": "interactive", "interactive": {
            "type": "list",
            "body": {"text": text},
            "action": {"button": "Ver opciones", "sections": [{"title": "Opciones", "rows":
                options.iter().map(|o| {
                    let mut row = json!({"id": o.id, "title": o.title});
                    if !o.description.is_empty() {
                        row["description"] = json!(o.description);
                    }
                    row
                }).collect::<Vec<_>>()}]},
        }}),
        Reply::Text(text) => json!({"to": to, "type": "text", "text": {"preview_url": true, "body": text}}),
    }
}

/// The Graph API body of an approved template (outside the window).
pub fn template_body(to: &str, t: &Template) -> Value {
    let params: Vec<Value> = t.params.iter().map(|p| json!({"type": "text", "text": p})).collect();
    json!({"to": to, "type": "template", "template": {
        "name": t.name,
        "language": {"code": t.language},
        "components": [{"type": "body", "parameters": params}],
    }})
}

/// A Graph API error body: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`
/// → (code, message).
pub fn graph_error(body: &Value) -> Option<(i64, String)> {
    let e = body.get("error")?;
    Some((e["code"].as_i64().unwrap_or(0), e["message"].as_str().unwrap_or("").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_published_vector() {
        // HMAC-SHA256("secret", "test"), from a third-party SDK's documentation.
        let h = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914";
        assert!(signature_valid("secret", b"test", Some(h)));
        assert_eq!(sign("secret", b"test"), h);
        assert!(!signature_valid("secret", b"test2", Some(h)));
        assert!(!signature_valid("other", b"test", Some(h)));
        assert!(!signature_valid("secret", b"test", None));
        assert!(!signature_valid("secret", b"test", Some("sha1=abc")));
        assert!(!signature_valid("secret", b"test", Some("sha256=zz")));
    }

    #[test]
    fn three_choices_are_buttons_and_more_are_a_list() {
        use crate::adapter::Choice;
        let reply = |n: usize| Reply::Choices {
            text: "Elegí".into(),
            options: (1..=n)
                .map(|i| Choice { id: format!("id{i}"), title: format!("Opción {i}"), description: String::new() })
                .collect(),
        };
        let b = message_body("549", &reply(3));
        assert_eq!(b["interactive"]["type"], "button");
        assert_eq!(b["interactive"]["action"]["buttons"][2]["reply"]["id"], "id3");
        let b = message_body("549", &reply(5));
        assert_eq!(b["interactive"]["type"], "list");
        assert_eq!(b["interactive"]["action"]["sections"][0]["rows"].as_array().unwrap().len(), 5);
        let t = Template { name: "recordatorio".into(), language: "es_AR".into(), params: vec!["R7K2Q9".into()] };
        let tb = template_body("549", &t);
        assert_eq!(tb["template"]["components"][0]["parameters"][0]["text"], "R7K2Q9");
    }

    #[test]
    fn stored_events_read_back_as_typed_messages() {
        let wa = WhatsAppAdapter::new(None);
        let read = |kind: &str, p: Value| wa.read(kind, &p).message;
        assert_eq!(read("text", json!({"text": {"body": "hola"}})), Inbound::Text("hola".into()));
        assert_eq!(
            read("interactive", json!({"interactive": {"list_reply": {"id": "u2", "title": "Arrayán"}}})),
            Inbound::Choice { id: "u2".into(), title: "Arrayán".into(), from_list: true }
        );
        assert_eq!(
            read("button", json!({"button": {"payload": "yes", "text": "Sí"}})),
            Inbound::Choice { id: "yes".into(), title: "Sí".into(), from_list: false }
        );
        let audio = wa.read("audio", &json!({"audio": {"id": "m1"}, "id": "wamid.X"}));
        assert_eq!(audio.message, Inbound::Audio { audio: Audio::Media { id: "m1".into() }, text: String::new() });
        assert_eq!(audio.record, json!({"audio": {"id": "m1"}}));
        assert_eq!(
            read("image", json!({"image": {"caption": "la vista"}})),
            Inbound::Image { caption: "la vista".into() }
        );
        assert!(matches!(read("location", json!({"location": {"latitude": -41.1}})), Inbound::Location { .. }));
        assert!(
            matches!(read("sticker", json!({"sticker": {}})), Inbound::Unsupported { kind, .. } if kind == "sticker")
        );
        assert!(!wa.configured() && wa.verify_subscription(&HashMap::new()).is_none());
    }

    #[test]
    fn parses_several_messages_statuses_and_unknown_types() {
        let body =
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "contacts":[{"profile":{"name":"Juana"},"wa_id":"5492944123456"}],
            "messages":[
              {"from":"5492944123456","id":"wamid.A","timestamp":"1","type":"text","text":{"body":"hola"}},
              {"from":"5492944123456","id":"wamid.B","timestamp":"2","type":"sticker","sticker":{}},
              {"from":"5492944123456","id":"wamid.C","timestamp":"3","type":"interactive",
               "interactive":{"type":"button_reply","button_reply":{"id":"other_dates","title":"Otras fechas"}}}],
            "statuses":[{"id":"wamid.OUT","status":"failed","errors":[{"code":131047,"title":"Re-engagement message"}]}]
          }}]}]}"#;
        let (messages, statuses) = parse_webhook(body).unwrap();
        assert_eq!(messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["wamid.A", "wamid.B", "wamid.C"]);
        assert_eq!(messages[0].profile_name, "Juana");
        assert_eq!(messages[1].kind, "sticker");
        assert_eq!(statuses[0].error.as_deref(), Some("131047 Re-engagement message"));
        assert!(parse_webhook(b"{}").unwrap().0.is_empty());
        assert!(parse_webhook(b"not json").is_err());
    }
}
