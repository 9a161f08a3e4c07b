//! Replies as stored (what the guest saw) and as each channel sends them.

use conversation::{Choice, Reply};
use serde_json::{Value, json};
use store::NewMessage;

/// A reply as an outbox row: `body` is the text a person reads (numbered options where a
/// channel has no buttons), `payload` keeps everything needed to send it on any channel.
pub fn outbound(reply: &Reply) -> NewMessage {
    match reply {
        Reply::Text(text) => NewMessage { kind: "text".into(), body: text.clone(), payload: json!({"text": text}) },
        Reply::Photo { url, caption } => {
            NewMessage { kind: "photo".into(), body: caption.clone(), payload: json!({"url": url, "caption": caption}) }
        }
        Reply::Choices { body, options } => NewMessage {
            kind: "choices".into(),
            body: conversation::render_numbered(reply),
            payload: json!({
                "text": body,
                "options": options.iter().map(|o| json!({"id": o.id, "title": o.title, "description": o.description})).collect::<Vec<_>>(),
            }),
        },
    }
}

/// A plain text message (owner replies, alerts).
pub fn text(body: &str) -> NewMessage {
    NewMessage { kind: "text".into(), body: body.to_string(), payload: json!({"text": body}) }
}

/// Adds the approved template to use when WhatsApp's 24-hour window has closed.
pub fn with_template(mut m: NewMessage, name: &str, language: &str, params: &[String]) -> NewMessage {
    m.payload["template"] = json!({"name": name, "language": language, "params": params});
    m
}

fn choices(payload: &Value) -> Vec<Choice> {
    payload["options"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            Choice::new(o["id"].as_str().unwrap_or(""), o["title"].as_str().unwrap_or(""))
                .with_description(o["description"].as_str().unwrap_or(""))
        })
        .collect()
}

/// The Graph API body for a stored message (inside the 24-hour window).
pub fn whatsapp_body(to: &str, kind: &str, payload: &Value) -> Value {
    match kind {
        "photo" => json!({"to": to, "type": "image", "image": {"link": payload["url"], "caption": payload["caption"]}}),
        "choices" => {
            let options = choices(payload);
            let body = payload["text"].as_str().unwrap_or("");
            if options.len() <= 3 {
                json!({"to": to, "type": "interactive", "interactive": {
                    "type": "button",
                    "body": {"text": body},
                    "action": {"buttons": options.iter().map(|o| json!({"type": "reply", "reply": {"id": o.id, "title": o.title}})).collect::<Vec<_>>()},
                }})
            } else {
                json!({"to": to, "type": "interactive", "interactive": {
                    "type": "list",
                    "body": {"text": body},
                    "action": {"button": "Ver opciones", "sections": [{"title": "Opciones", "rows":
                        options.iter().map(|o| {
                            let mut row = json!({"id": o.id, "title": o.title});
                            if !o.description.is_empty() {
                                row["description"] = json!(o.description);
                            }
                            row
                        }).collect::<Vec<_>>()}]},
                }})
            }
        }
        _ => {
            json!({"to": to, "type": "text", "text": {"preview_url": true, "body": payload["text"].as_str().unwrap_or("")}})
        }
    }
}

/// The Graph API body of the message's template fallback, if it has one.
pub fn whatsapp_template(to: &str, payload: &Value) -> Option<Value> {
    let t = payload.get("template")?;
    let params: Vec<Value> = t["params"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"type": "text", "text": p.as_str().unwrap_or("")}))
        .collect();
    Some(json!({"to": to, "type": "template", "template": {
        "name": t["name"],
        "language": {"code": t["language"]},
        "components": [{"type": "body", "parameters": params}],
    }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_choices_are_buttons_and_more_are_a_list() {
        let reply = |n: usize| Reply::Choices {
            body: "Elegí".into(),
            options: (1..=n).map(|i| Choice::new(format!("id{i}"), format!("Opción {i}"))).collect(),
        };
        let m = outbound(&reply(3));
        assert!(m.body.contains("1. Opción 1"), "{}", m.body);
        let b = whatsapp_body("549", &m.kind, &m.payload);
        assert_eq!(b["interactive"]["type"], "button");
        assert_eq!(b["interactive"]["action"]["buttons"][2]["reply"]["id"], "id3");
        let m = outbound(&reply(5));
        let b = whatsapp_body("549", &m.kind, &m.payload);
        assert_eq!(b["interactive"]["type"], "list");
        assert_eq!(b["interactive"]["action"]["sections"][0]["rows"].as_array().unwrap().len(), 5);
        let t = with_template(text("hola"), "recordatorio", "es_AR", &["R7K2Q9".into()]);
        let tb = whatsapp_template("549", &t.payload).unwrap();
        assert_eq!(tb["template"]["components"][0]["parameters"][0]["text"], "R7K2Q9");
        assert!(whatsapp_template("549", &text("x").payload).is_none());
    }
}
