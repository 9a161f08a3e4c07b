//! Writing our e-mails: one outbound e-mail from one or more outbox rows of the same turn, as
//! multipart text + HTML (hand-written, escaped HTML; no template engine), threaded under the
//! guest's last message.

use crate::adapter::Reply;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

/// One part of the e-mail: an outbox row.
pub type Part = crate::adapter::Outgoing;

/// Where the e-mail sits in the conversation.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// The guest's last Message-ID (without angle brackets).
    pub reply_to: Option<String>,
    pub references: Vec<String>,
    pub subject: String,
}

pub struct Outgoing<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to_name: &'a str,
    pub to_address: &'a str,
    /// With angle brackets.
    pub message_id: String,
    pub thread: Thread,
    /// `auto-replied` (answers), `auto-generated` (notices), `None` (a person wrote it).
    pub auto_submitted: Option<&'static str>,
    /// The first outbox row's id (the `X-Posada-Message` header: our own mail is recognised).
    pub outbox_id: i64,
    pub property_name: &'a str,
    pub public_url: &'a str,
    pub parts: &'a [Part],
}

/// "Re: Consulta" from "Consulta", "RE: Consulta" or "Re: Re: Consulta".
pub fn reply_subject(subject: &str) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        let stripped = ["re:", "rv:", "rta:", "res:", "aw:", "fw:", "fwd:", "tr:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| s[p.len()..].trim_start());
        match stripped {
            Some(rest) => s = rest,
            None => break,
        }
    }
    if s.is_empty() { String::new() } else { format!("Re: {s}") }
}

/// The plain text and the HTML of the parts, with our footer.
pub fn render(o: &Outgoing) -> (String, String) {
    let mut text = String::new();
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"es\"><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#222\">\
         <div style=\"max-width:600px\">",
    );
    for part in o.parts {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        match &part.reply {
            Reply::Photo { url, caption } => {
                text.push_str(&if caption.is_empty() { url.to_string() } else { format!("{caption}\n{url}") });
                let alt = caption.lines().next().unwrap_or("").replace('*', "");
                html.push_str(&format!(
                    "<p><img src=\"{}\" alt=\"{}\" style=\"max-width:100%;border-radius:6px\"></p>",
                    escape(url),
                    escape(&alt)
                ));
                html.push_str(&paragraphs(caption));
            }
            Reply::Choices { text: intro, options } => {
                text.push_str(&part.body);
                html.push_str(&paragraphs(intro));
                html.push_str("<ol>");
                for o in options {
                    html.push_str(&format!("<li><strong>{}</strong>", escape(&o.title)));
                    if !o.description.is_empty() {
                        html.push_str(&format!(" — {}", escape(&o.description)));
                    }
                    html.push_str("</li>");
                }
                html.push_str("</ol><p>Respondé este correo con el número o el nombre de la opción.</p>");
            }
            Reply::Text(body) => {
                text.push_str(body);
                html.push_str(&paragraphs(body));
            }
        }
    }
    text.push_str(&format!("\n\n-- \n{}\n{}\n", o.property_name, o.public_url));
    html.push_str(&format!(
        "<hr style=\"border:none;border-top:1px solid #ddd\"><p style=\"color:#777;font-size:12px\">{} · <a href=\"{}\">{}</a><br>Respondé este correo para seguir la conversación.</p></div></body></html>",
        escape(o.property_name),
        escape(o.public_url),
        escape(o.public_url)
    ));
    (text, html)
}

/// The e-mail, ready for SMTP.
pub fn build(o: &Outgoing) -> Result<lettre::Message, String> {
    let from = Mailbox::new(
        (!o.from_name.is_empty()).then(|| o.from_name.to_string()),
        o.from_address.parse().map_err(|e| format!("bad From address {:?}: {e}", o.from_address))?,
    );
    let to = Mailbox::new(
        (!o.to_name.is_empty()).then(|| o.to_name.to_string()),
        o.to_address.parse().map_err(|e| format!("bad address {:?}: {e}", o.to_address))?,
    );
    let (text, html) = render(o);
    let mut b = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(o.thread.subject.clone())
        .message_id(Some(o.message_id.clone()))
        .raw_header(raw("X-Posada-Message", o.outbox_id.to_string()));
    if let Some(id) = &o.thread.reply_to {
        b = b.in_reply_to(format!("<{id}>"));
        let mut refs: Vec<&String> = o.thread.references.iter().filter(|r| *r != id).collect();
        // Long threads: the first message and the latest ones are enough (RFC 5322 §3.6.4).
        if refs.len() > 10 {
            let first = refs[0];
            refs = std::iter::once(first).chain(refs[refs.len() - 9..].iter().copied()).collect();
        }
        let list: Vec<String> = refs.iter().map(|r| format!("<{r}>")).chain([format!("<{id}>")]).collect();
        b = b.references(list.join(" "));
    }
    if let Some(kind) = o.auto_submitted {
        b = b.raw_header(raw("Auto-Submitted", kind.to_string()));
    }
    b.multipart(
        MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html)),
    )
    .map_err(|e| e.to_string())
}

fn raw(name: &str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii(name.to_string()).expect("static header name"), value)
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped paragraphs; `*bold*` (WhatsApp style) becomes <strong>, URLs become links.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", p.lines().map(inline).collect::<Vec<_>>().join("<br>")))
        .collect()
}

fn inline(line: &str) -> String {
    let mut out = String::new();
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let trimmed = word.trim_end_matches(['.', ',', ')', ';']);
        if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
            let tail = &word[trimmed.len()..];
            out.push_str(&format!("<a href=\"{0}\">{0}</a>{1}", escape(trimmed), escape(tail)));
        } else {
            out.push_str(&escape(word));
        }
    }
    bold(&out)
}

fn bold(s: &str) -> String {
    crate::map_bold(s, |inner| format!("<strong>{inner}</strong>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subjects_get_one_re() {
        assert_eq!(reply_subject("Consulta"), "Re: Consulta");
        assert_eq!(reply_subject("RE: Re: Consulta"), "Re: Consulta");
        assert_eq!(reply_subject("  "), "");
    }

    #[test]
    fn html_is_escaped_with_links_and_bold() {
        assert_eq!(
            paragraphs("Tu reserva *R7K2Q9* <ok>\nPagá acá: https://x.test/p?a=1&b=2."),
            "<p>Tu reserva <strong>R7K2Q9</strong> &lt;ok&gt;<br>Pagá acá: <a href=\"https://x.test/p?a=1&amp;b=2\">https://x.test/p?a=1&amp;b=2</a>.</p>"
        );
        assert_eq!(bold("2 * 3 = 6"), "2 * 3 = 6");
    }

    #[test]
    fn a_reply_threads_under_the_guests_message() {
        let payload =
            json!({"text": "¿Cuál?", "options": [{"id": "a", "title": "Arrayán", "description": "4 personas"}]});
        let parts = [Part::from_stored("choices", "¿Cuál?\n\n1. Arrayán — 4 personas", &payload)];
        let o = Outgoing {
            from_name: "Cabañas del Lago",
            from_address: "reservas@posada.test",
            to_name: "Juana",
            to_address: "juana@example.test",
            message_id: "<posada.5.x@posada.test>".into(),
            thread: Thread {
                reply_to: Some("g2@example.test".into()),
                references: vec!["g1@example.test".into()],
                subject: "Re: Consulta".into(),
            },
            auto_submitted: Some("auto-replied"),
            outbox_id: 5,
            property_name: "Cabañas del Lago",
            public_url: "https://reservas.example.test",
            parts: &parts,
        };
        let raw = String::from_utf8(build(&o).unwrap().formatted()).unwrap();
        assert!(raw.contains("In-Reply-To: <g2@example.test>"), "{raw}");
        assert!(raw.contains("References: <g1@example.test> <g2@example.test>"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
        assert!(raw.contains("Message-ID: <posada.5.x@posada.test>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert!(parsed.body_text(0).unwrap().contains("1. Arrayán — 4 personas"));
        assert!(parsed.body_html(0).unwrap().contains("<li><strong>Arrayán</strong> — 4 personas</li>"));
    }
}
