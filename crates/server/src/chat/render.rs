//! The dialogue's replies as outbox rows: a channel-neutral [`Outgoing`] (crates/channels) that
//! each channel's adapter renders in its own format when it sends.

use crate::channels::adapter::{Choice, Outgoing, Reply, Template};
use store::NewMessage;

/// A reply of the dialogue engine as the channels' typed reply; `body` is the text a person
/// reads (numbered options, for channels without buttons and for the dashboard).
pub fn outgoing(reply: &conversation::Reply) -> Outgoing {
    match reply {
        conversation::Reply::Text(text) => Outgoing::text(text),
        conversation::Reply::Photo { url, caption } => {
            Outgoing::new(Reply::Photo { url: url.clone(), caption: caption.clone() }, caption.clone())
        }
        conversation::Reply::Choices { body, options } => Outgoing::new(
            Reply::Choices {
                text: body.clone(),
                options: options
                    .iter()
                    .map(|o| Choice { id: o.id.clone(), title: o.title.clone(), description: o.description.clone() })
                    .collect(),
            },
            conversation::render_numbered(reply),
        ),
    }
}

/// The outbox row of a reply.
pub fn stored(o: &Outgoing) -> NewMessage {
    let (kind, payload) = o.to_stored();
    NewMessage { kind: kind.into(), body: o.body.clone(), payload }
}

pub fn outbound(reply: &conversation::Reply) -> NewMessage {
    stored(&outgoing(reply))
}

/// A plain text message (owner replies, alerts).
pub fn text(body: &str) -> NewMessage {
    stored(&Outgoing::text(body))
}

/// Adds the approved template a channel uses once its messaging window has closed.
pub fn with_template(m: NewMessage, name: &str, language: &str, params: &[String]) -> NewMessage {
    let mut o = Outgoing::from_stored(&m.kind, &m.body, &m.payload);
    o.template = Some(Template { name: name.into(), language: language.into(), params: params.to_vec() });
    stored(&o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::whatsapp::{message_body, template_body};
    use conversation::Choice as EngineChoice;

    #[test]
    fn three_choices_are_buttons_and_more_are_a_list() {
        let reply = |n: usize| conversation::Reply::Choices {
            body: "Elegí".into(),
            options: (1..=n).map(|i| EngineChoice::new(format!("id{i}"), format!("Opción {i}"))).collect(),
        };
        let m = outbound(&reply(3));
        assert!(m.body.contains("1. Opción 1"), "{}", m.body);
        let sent = |m: &NewMessage| message_body("549", &Outgoing::from_stored(&m.kind, &m.body, &m.payload).reply);
        let b = sent(&m);
        assert_eq!(b["interactive"]["type"], "button");
        assert_eq!(b["interactive"]["action"]["buttons"][2]["reply"]["id"], "id3");
        let b = sent(&outbound(&reply(5)));
        assert_eq!(b["interactive"]["type"], "list");
        assert_eq!(b["interactive"]["action"]["sections"][0]["rows"].as_array().unwrap().len(), 5);
        let t = with_template(text("hola"), "recordatorio", "es_AR", &["R7K2Q9".into()]);
        let o = Outgoing::from_stored(&t.kind, &t.body, &t.payload);
        let tb = template_body("549", o.template.as_ref().unwrap());
        assert_eq!(tb["template"]["components"][0]["parameters"][0]["text"], "R7K2Q9");
        let plain = text("x");
        assert!(Outgoing::from_stored(&plain.kind, &plain.body, &plain.payload).template.is_none());
    }
}
