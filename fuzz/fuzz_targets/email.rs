//! Fuzz the inbound e-mail reader (`channels::email::read::read`), which turns a raw RFC 5322
//! message fetched over IMAP into the text the dialogue sees (or a reason to ignore it): never a
//! panic, and what it returns has the shape the inbox relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::channels::email::read::{MAX_AUDIO_BYTES, Verdict, html_to_text, read, strip_quoted};

const OWN: &str = "reservas@posada.example";

fuzz_target!(|raw: &[u8]| {
    match read(raw, OWN) {
        Verdict::Guest(mail) => {
            assert!(!mail.message_id.is_empty(), "a guest mail needs an id to be deduplicated");
            assert!(mail.from.contains('@'), "{:?}", mail.from);
            assert_eq!(mail.from, mail.from.to_lowercase());
            assert_ne!(mail.from, OWN);
            assert!(mail.text.chars().count() <= 4000, "the new text is capped");
            assert!(mail.references.iter().all(|r| !r.is_empty()));
            if let Some(a) = &mail.audio {
                assert!(!a.data.is_empty() && a.data.len() <= MAX_AUDIO_BYTES);
                assert!(a.mime.starts_with("audio/"));
            }
        }
        Verdict::Ignored { reason, .. } => assert!(!reason.is_empty()),
    }
    // The two text helpers on their own, on any text.
    let text = String::from_utf8_lossy(raw);
    let _ = html_to_text(&text);
    let stripped = strip_quoted(&text);
    assert!(stripped.len() <= text.len() + 1, "stripping quotes never adds text");
});
