//! The demo's chat (`/sandbox/chat`, `posada chat`): the same pipeline with no provider. Its
//! events are `{"text"}` or `{"button_id", "title"}`; "sending" is the outbox row itself, which
//! the chat page reads.

use crate::adapter::{Adapter, Inbound, Outgoing, Read, Recipient, SendContext, SendFailure, Sent};
use domain::Channel;
use serde_json::{Value, json};

pub struct SandboxAdapter;

#[async_trait::async_trait]
impl Adapter for SandboxAdapter {
    fn channel(&self) -> Channel {
        Channel::Sandbox
    }

    fn sandboxed(&self) -> bool {
        true
    }

    fn sandbox_event(&self, _id: &str, message: &Inbound) -> Option<(String, Value)> {
        match message {
            Inbound::Choice { id, title, .. } => Some(("button".into(), json!({"button_id": id, "title": title}))),
            Inbound::Text(text) => Some(("text".into(), json!({"text": text}))),
            _ => None,
        }
    }

    fn read(&self, _kind: &str, p: &Value) -> Read {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let message = match p["button_id"].as_str() {
            Some(id) => Inbound::Choice { id: id.to_string(), title: text(&p["title"]), from_list: false },
            None => Inbound::Text(text(&p["text"])),
        };
        Read { message, record: p.clone() }
    }

    /// Queued → sent is the delivery: the chat page shows what the outbox holds.
    async fn send(
        &self,
        _to: &Recipient<'_>,
        _replies: &[Outgoing],
        ctx: &SendContext<'_>,
    ) -> Result<Sent, SendFailure> {
        Ok(Sent { provider_id: format!("sandbox:{}", ctx.first_id) })
    }
}
