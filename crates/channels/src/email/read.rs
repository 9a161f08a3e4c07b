//! Reading a guest's e-mail: who wrote, what is new in it (quoted replies, signatures and HTML
//! stripped), and whether it must be ignored (auto-replies, bounces, lists, our own mail).

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// Audio attachments larger than this are not transcribed (speech-to-text services stop at 25 MiB).
pub const MAX_AUDIO_BYTES: usize = 20 * 1024 * 1024;
/// The new text is cut here: a guest's message, not a document.
const MAX_TEXT_CHARS: usize = 4000;

#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// Without angle brackets; a hash of sender, date and subject when the mail has none.
    pub message_id: String,
    /// Lower-case address.
    pub from: String,
    pub name: String,
    pub subject: String,
    /// The new text only.
    pub text: String,
    /// The thread so far (`References`, else `In-Reply-To`), without angle brackets.
    pub references: Vec<String>,
    pub html_only: bool,
    pub audio: Option<Audio>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub filename: String,
    pub mime: String,
    pub data: Vec<u8>,
}

/// What to do with a fetched message.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Guest(Box<Mail>),
    /// Never answered; `reason` is a metric label.
    Ignored {
        reason: &'static str,
        from: String,
        message_id: String,
    },
}

/// Reads a raw RFC 5322 message. `own_address` is ours: mail from it is never answered.
pub fn read(raw: &[u8], own_address: &str) -> Verdict {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Verdict::Ignored { reason: "unparseable", from: String::new(), message_id: String::new() };
    };
    let (from, name) = msg
        .from()
        .and_then(|a| a.first())
        .map(|a| {
            (
                a.address().unwrap_or("").trim().to_lowercase(),
                a.name().unwrap_or("").trim().trim_matches('"').to_string(),
            )
        })
        .unwrap_or_default();
    let subject = msg.subject().unwrap_or("").trim().to_string();
    let message_id = match msg.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().trim_matches(['<', '>']).to_string(),
        _ => {
            let date = msg.date().map(|d| d.to_rfc3339()).unwrap_or_default();
            let digest = Sha256::digest(format!("{from}\n{date}\n{subject}").as_bytes());
            format!("sha256:{}", hex(&digest[..16]))
        }
    };
    let ignore = |reason| Verdict::Ignored { reason, from: from.clone(), message_id: message_id.clone() };
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if from.is_empty() || !from.contains('@') {
        return ignore("no_sender");
    }
    if from == own_address.to_lowercase() || msg.header_raw("X-Posada-Message").is_some() {
        return ignore("own");
    }
    let local = from.split('@').next().unwrap_or("");
    let content_type = msg.content_type().map(|c| {
        format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_ascii_lowercase()
            + &c.attribute("report-type").map(|r| format!(";{}", r.to_ascii_lowercase())).unwrap_or_default()
    });
    if local == "mailer-daemon"
        || local == "postmaster"
        || content_type.as_deref().is_some_and(|c| c.starts_with("multipart/report"))
        || header("Return-Path").is_some_and(|r| r == "<>")
    {
        return ignore("bounce");
    }
    if header("Auto-Submitted").is_some_and(|v| !v.is_empty() && v != "no")
        || msg.header_raw("X-Autoreply").is_some()
        || msg.header_raw("X-Autorespond").is_some()
        || header("Precedence").is_some_and(|p| p == "auto_reply")
        || is_auto_reply_subject(&subject)
    {
        return ignore("auto_reply");
    }
    if header("Precedence").is_some_and(|p| matches!(p.as_str(), "bulk" | "list" | "junk"))
        || msg.header_raw("List-Id").is_some()
        || msg.header_raw("List-Unsubscribe").is_some()
    {
        return ignore("bulk");
    }
    if ["noreply", "no-reply", "no_reply", "donotreply", "do-not-reply"].iter().any(|n| local.contains(n)) {
        return ignore("noreply");
    }

    // The body: a text/plain part when there is one, else the HTML converted.
    let plain = msg.text_part(0).filter(|p| !p.is_text_html()).and_then(|_| msg.body_text(0));
    let (body, html_only) = match plain {
        Some(t) => (t.into_owned(), false),
        None => match msg.body_html(0) {
            Some(h) => (html_to_text(&h), true),
            None => (String::new(), false),
        },
    };
    let mut text = strip_quoted(&body);
    if text.chars().count() > MAX_TEXT_CHARS {
        text = text.chars().take(MAX_TEXT_CHARS).collect();
    }
    let audio = msg.attachments().find_map(|part| {
        let ct = part.content_type()?;
        let mime = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase();
        let filename = part.attachment_name().unwrap_or("audio").to_string();
        let by_name = [".ogg", ".opus", ".mp3", ".m4a", ".wav", ".webm", ".mp4", ".mpga", ".flac"]
            .iter()
            .any(|e| filename.to_ascii_lowercase().ends_with(e));
        let data = part.contents();
        ((mime.starts_with("audio/") || by_name) && !data.is_empty() && data.len() <= MAX_AUDIO_BYTES).then(|| Audio {
            mime: if mime.starts_with("audio/") { mime.clone() } else { "audio/ogg".into() },
            filename,
            data: data.to_vec(),
        })
    });
    let ids = |v: &mail_parser::HeaderValue| -> Vec<String> {
        match v {
            mail_parser::HeaderValue::Text(t) => vec![t.trim_matches(['<', '>']).to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.trim_matches(['<', '>']).to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let mut references = ids(msg.references());
    if references.is_empty() {
        references = ids(msg.in_reply_to());
    }
    references.retain(|r| !r.is_empty());
    Verdict::Guest(Box::new(Mail { message_id, from, name, subject, text, references, html_only, audio }))
}

fn is_auto_reply_subject(subject: &str) -> bool {
    let s = subject.to_lowercase();
    [
        "respuesta automática",
        "respuesta automatica",
        "automatic reply",
        "auto-reply",
        "autoreply",
        "out of office",
        "fuera de la oficina",
        "fuera de oficina",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The new part of a reply: stops at the quoted message ("El … escribió:", "On … wrote:",
/// Outlook's "De: … Enviado: …" block, "-----Mensaje original-----") or the signature
/// ("-- "), drops ">" lines and "Enviado desde mi …" footers.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if *line == "-- " || t == "--" || t == "—" {
            break;
        }
        if is_quote_header(&lines, i) {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        let lower = t.to_lowercase();
        if ["enviado desde mi", "sent from my", "enviado desde outlook", "obtener outlook para", "get outlook for"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            continue;
        }
        out.push(line.trim_end());
    }
    // Blank lines: none at the ends, at most one in a row.
    let mut cleaned: Vec<&str> = Vec::new();
    for line in out {
        if line.trim().is_empty() && cleaned.last().is_none_or(|l: &&str| l.trim().is_empty()) {
            continue;
        }
        cleaned.push(line);
    }
    while cleaned.last().is_some_and(|l| l.trim().is_empty()) {
        cleaned.pop();
    }
    cleaned.join("\n")
}

fn is_quote_header(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim().trim_matches('*').trim();
    let lower = t.to_lowercase();
    let next = lines.get(i + 1).map(|l| l.trim().to_lowercase()).unwrap_or_default();
    // Gmail and Apple Mail: "El lun, 3 nov 2026 a las 10:15, Juana <j@x.com> escribió:" (maybe wrapped).
    if lower.ends_with("escribió:") || lower.ends_with("escribio:") || lower.ends_with("wrote:") {
        return true;
    }
    if (lower.starts_with("el ") || lower.starts_with("on "))
        && (next.ends_with("escribió:") || next.ends_with("escribio:") || next.ends_with("wrote:"))
    {
        return true;
    }
    if lower.starts_with("-----mensaje original") || lower.starts_with("-----original message") {
        return true;
    }
    if t.len() >= 10 && t.chars().all(|c| c == '_') {
        return true;
    }
    // Outlook: "De: …" followed by "Enviado: …"/"Fecha: …" and "Para: …"/"Asunto: …".
    let field = |l: &str, names: &[&str]| {
        let l = l.trim().trim_start_matches('*').to_lowercase();
        names.iter().any(|n| l.starts_with(n))
    };
    if field(t, &["de:", "from:"]) {
        let window: Vec<&str> = lines.iter().skip(i + 1).take(5).copied().collect();
        let dated = window.iter().any(|l| field(l, &["enviado:", "sent:", "fecha:", "date:", "enviado el:"]));
        let addressed = window.iter().any(|l| field(l, &["para:", "to:", "asunto:", "subject:", "cc:"]));
        return dated && addressed;
    }
    false
}

/// HTML to plain text for HTML-only mail: the quoted part (Gmail's `gmail_quote`, a
/// `<blockquote>`, Outlook's reply header) is cut first, then tags go and entities are decoded.
pub fn html_to_text(html: &str) -> String {
    let mut s = html.to_string();
    for (open, close) in [("<head", "</head>"), ("<style", "</style>"), ("<script", "</script>")] {
        while let Some(start) = s.to_ascii_lowercase().find(open) {
            let lower = s.to_ascii_lowercase();
            let end = lower[start..].find(close).map(|e| start + e + close.len()).unwrap_or(s.len());
            s.replace_range(start..end, "");
        }
    }
    let lower = s.to_ascii_lowercase();
    let cut = [
        "class=\"gmail_quote",
        "<blockquote",
        "id=\"divrplyfwdmsg",
        "id=\"appendonsend",
        "id=\"stopspelling",
        "class=\"moz-cite-prefix",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min();
    if let Some(at) = cut {
        // Back to the start of the tag the marker is in.
        let tag_start = s[..at].rfind('<').filter(|_| !lower[at..].starts_with('<')).unwrap_or(at);
        s.truncate(tag_start);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[lt + 1..lt + gt].trim().to_ascii_lowercase();
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        match name.as_str() {
            "br" | "p" | "div" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "ul" | "ol" => {
                out.push('\n')
            }
            "li" if !tag.starts_with('/') => out.push_str("\n- "),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    let lines: Vec<String> =
        decoded.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>();
    let mut result: Vec<&str> = Vec::new();
    for l in &lines {
        if l.is_empty() && result.last().is_none_or(|p: &&str| p.is_empty()) {
            continue;
        }
        result.push(l);
    }
    while result.last().is_some_and(|l| l.is_empty()) {
        result.pop();
    }
    result.join("\n")
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = if let Some(num) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
            } else if let Some(num) = name.strip_prefix('#') {
                num.parse().ok().and_then(char::from_u32)
            } else {
                Some(match name {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    "nbsp" => ' ',
                    "aacute" => 'á',
                    "eacute" => 'é',
                    "iacute" => 'í',
                    "oacute" => 'ó',
                    "uacute" => 'ú',
                    "Aacute" => 'Á',
                    "Eacute" => 'É',
                    "Iacute" => 'Í',
                    "Oacute" => 'Ó',
                    "Uacute" => 'Ú',
                    "ntilde" => 'ñ',
                    "Ntilde" => 'Ñ',
                    "uuml" => 'ü',
                    "iexcl" => '¡',
                    "iquest" => '¿',
                    "euro" => '€',
                    "ndash" => '–',
                    "mdash" => '—',
                    _ => return None,
                })
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first e-mail address written in a chat message ("mi mail es Juana.P@gmail.com."),
/// lower-cased; `None` when there is none. Strict enough that "a@b" or "@juana" do not count.
pub fn address_in(text: &str) -> Option<String> {
    let is_sep = |c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '<' | '>' | '"' | '\'' | '[' | ']');
    text.split(is_sep).find_map(|word| {
        let word = word.trim_start_matches(':').trim_end_matches(['.', ':', '!', '?']);
        let (local, domain) = word.split_once('@')?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        (local_ok && domain_ok).then(|| word.to_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "reservas@posada.test";

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
    }

    fn guest(raw: &[u8]) -> Mail {
        match read(raw, US) {
            Verdict::Guest(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_gmail_reply_in_spanish_keeps_only_the_new_text() {
        let raw = mail(
            "From: \"Juana Pérez\" <Juana@Example.test>\nTo: reservas@posada.test\nSubject: Re: Consulta\nMessage-ID: <abc@mail.gmail.com>\nIn-Reply-To: <posada.1@posada.test>\nReferences: <q1@mail.gmail.com> <posada.1@posada.test>\nContent-Type: text/plain; charset=UTF-8",
            "Dale, la 2 por favor.\n\nEl lun, 23 nov 2026 a las 10:15, Cabañas <reservas@posada.test>\nescribió:\n> ¿Cuál preferís?\n> 1. Arrayán\n",
        );
        let m = guest(&raw);
        assert_eq!(m.from, "juana@example.test");
        assert_eq!(m.name, "Juana Pérez");
        assert_eq!(m.message_id, "abc@mail.gmail.com");
        assert_eq!(m.text, "Dale, la 2 por favor.");
        assert_eq!(m.references, vec!["q1@mail.gmail.com", "posada.1@posada.test"]);
    }

    #[test]
    fn outlook_blocks_signatures_and_device_footers_are_cut() {
        let text = "Somos 4, del 10 al 12 de enero.\n\nSaludos,\nPedro\n\n________________________________\nDe: Cabañas <reservas@posada.test>\nEnviado: lunes, 23 de noviembre de 2026 10:15\nPara: Pedro\nAsunto: Consulta\n\nHola";
        assert_eq!(strip_quoted(text), "Somos 4, del 10 al 12 de enero.\n\nSaludos,\nPedro");
        let text = "Quiero reservar\nDe: Cabañas\nEnviado: hoy\nPara: Pedro\nAsunto: x";
        assert_eq!(strip_quoted(text), "Quiero reservar");
        assert_eq!(strip_quoted("hola\nEnviado desde mi iPhone"), "hola");
        assert_eq!(strip_quoted("hola\n-- \nPedro Gómez\nTel 123"), "hola");
        assert_eq!(strip_quoted("De: nada, gracias"), "De: nada, gracias", "a plain 'De:' line is text");
    }

    #[test]
    fn html_only_mail_is_converted_and_its_quote_dropped() {
        let raw = mail(
            "From: Ana <ana@example.test>\nSubject: Disponibilidad\nMessage-ID: <h1@example.test>\nContent-Type: text/html; charset=UTF-8",
            "<html><head><style>p{color:red}</style></head><body><div dir=\"ltr\">Hola, \u{bf}tienen lugar del <b>10 al 12 de enero</b> para 2?<br>Gracias &amp; saludos</div><div class=\"gmail_quote\"><div>El lun escribi\u{f3}:</div><blockquote>viejo</blockquote></div></body></html>",
        );
        let m = guest(&raw);
        assert!(m.html_only);
        assert_eq!(m.text, "Hola, ¿tienen lugar del 10 al 12 de enero para 2?\nGracias & saludos");
    }

    #[test]
    fn auto_replies_bounces_lists_and_our_own_mail_are_ignored() {
        let reason = |headers: &str| match read(&mail(headers, "x"), US) {
            Verdict::Ignored { reason, .. } => reason,
            Verdict::Guest(_) => "answered",
        };
        assert_eq!(reason("From: a@example.test\nAuto-Submitted: auto-replied\nSubject: Fuera"), "auto_reply");
        assert_eq!(reason("From: a@example.test\nAuto-Submitted: no\nSubject: Hola"), "answered");
        assert_eq!(reason("From: a@example.test\nX-Autoreply: yes"), "auto_reply");
        assert_eq!(reason("From: a@example.test\nSubject: Respuesta automática: Consulta"), "auto_reply");
        assert_eq!(reason("From: a@example.test\nPrecedence: bulk"), "bulk");
        assert_eq!(reason("From: a@example.test\nList-Id: <news.example.test>"), "bulk");
        assert_eq!(reason("From: MAILER-DAEMON@mx.example.test\nSubject: Undelivered"), "bounce");
        assert_eq!(
            reason("From: x@example.test\nContent-Type: multipart/report; report-type=delivery-status; boundary=b"),
            "bounce"
        );
        assert_eq!(reason("From: Cabañas <Reservas@posada.test>"), "own");
        assert_eq!(reason("From: x@example.test\nX-Posada-Message: 4"), "own");
        assert_eq!(reason("From: no-reply@airbnb.example"), "noreply");
        assert_eq!(reason("Subject: sin remitente"), "no_sender");
    }

    #[test]
    fn without_message_id_the_key_is_a_stable_hash() {
        let raw = mail("From: a@example.test\nSubject: Hola\nDate: Mon, 23 Nov 2026 10:00:00 -0300", "hola");
        let a = guest(&raw);
        assert!(a.message_id.starts_with("sha256:"), "{}", a.message_id);
        assert_eq!(a.message_id, guest(&raw).message_id);
    }

    #[test]
    fn an_audio_attachment_is_kept_and_others_are_not() {
        let raw = mail(
            "From: a@example.test\nMessage-ID: <v@x>\nContent-Type: multipart/mixed; boundary=\"b\"",
            "--b\nContent-Type: text/plain\n\n\n--b\nContent-Type: image/jpeg\nContent-Disposition: attachment; filename=\"foto.jpg\"\nContent-Transfer-Encoding: base64\n\nAAEC\n--b\nContent-Type: audio/ogg\nContent-Disposition: attachment; filename=\"nota.ogg\"\nContent-Transfer-Encoding: base64\n\nT2dnUw==\n--b--\n",
        );
        let m = guest(&raw);
        let audio = m.audio.unwrap();
        assert_eq!(
            (audio.mime.as_str(), audio.filename.as_str(), audio.data.as_slice()),
            ("audio/ogg", "nota.ogg", &b"OggS"[..])
        );
    }

    #[test]
    fn an_address_is_found_in_a_chat_message() {
        assert_eq!(address_in("mi mail es Juana.P+cabanas@Gmail.com."), Some("juana.p+cabanas@gmail.com".into()));
        assert_eq!(address_in("mandalo a (pedro@correo.com.ar), gracias"), Some("pedro@correo.com.ar".into()));
        assert_eq!(address_in("mail: ana@x.io"), Some("ana@x.io".into()));
        assert_eq!(address_in("<luis@mi-dominio.net>"), Some("luis@mi-dominio.net".into()));
    }

    #[test]
    fn things_that_only_look_like_addresses_are_not() {
        for text in [
            "hola, somos 4",
            "a@b",
            "@juana",
            "juana@",
            "te escribo a las 10@noche",
            "x@y.c",
            ".juana@gmail.com",
            "juana@-gmail.com",
            "juana@gmail..com",
            "juana@gmail.123",
        ] {
            assert_eq!(address_in(text), None, "{text}");
        }
    }
}
