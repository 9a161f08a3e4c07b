//! Dialogue scripts: `tests/scripts/*.txt`, run against the pure engine with a fake server.
//!
//! Format, one directive per line:
//!
//! ```text
//! # comment                      (kept)
//! = today 2026-11-23             set the date (clock at 17:00 local)
//! = advance 40                   move the clock N minutes
//! = name Juana Pérez | = name -  the contact's profile name (default "Juana Pérez")
//! = booked arrayan 2027-01-10 2027-01-20   nights taken by someone else
//! = reservation CODE arrayan 2027-01-10 2027-01-14 4 confirmed   a reservation of this contact
//! = rated CODE                  the guest already rated that stay
//! = hold-fails taken | too-many | invalid <text>   the next hold attempt fails
//! = move-fails taken             the next move finds its nights just taken
//! = no-payment-link              holds are placed without a payment link
//! = property FIELD text          the owner's setting (address, map, directions, nearby, balance,
//!                                cancellation, date_changes, pets, children, included,
//!                                house_rules; transfer ALIAS CBU HOLDER; mercado_pago off); empty
//!                                text clears it
//! = rule holiday 1.5              a holiday rule (every night of a long weekend) for all cabins
//! = unit SLUG pets on|off | = unit SLUG accessible on|off | = unit SLUG amenity TEXT
//! > guest text                   a typed message
//! >btn ID | Title                a tapped reply button   (>row for a list row)
//! >voice 0.42 | transcript       a voice note with its transcription confidence
//! >other                         an image / sticker
//! ! reminder [CODE] | ! expired [CODE] | ! link [CODE] | ! paid [CODE] | ! released
//! ! owner-cancelled [CODE]       the owner cancelled it in the dashboard
//! ! paid-cancelled [CODE] | ! paid-taken [CODE]   a payment the bot cannot turn into a booking
//! < reply …                      expected replies (snapshot; `<|` continues a reply)
//! @ effect …                     expected non-reply effects
//! ```
//!
//! Expected lines are compared exactly. `UPDATE_SCRIPTS=1 cargo test -p conversation --test
//! scripts` rewrites them from what the engine says now (review the diff!). Every reply is also
//! checked against WhatsApp's limits, for technical words and for emoji overuse.

mod common;

use common::*;
use conversation::*;
use domain::ReservationStatus;
use std::path::{Path, PathBuf};

fn render(server: &Server, effects: &[Effect]) -> Vec<String> {
    let mut out = Vec::new();
    let push_text = |out: &mut Vec<String>, first: &str, text: &str| {
        for (i, line) in text.split('\n').enumerate() {
            if i == 0 {
                out.push(format!("{first}{line}").trim_end().to_string());
            } else {
                out.push(format!("<| {line}").trim_end().to_string());
            }
        }
    };
    for e in effects {
        match e {
            Effect::Reply(Reply::Text(t)) => push_text(&mut out, "< ", t),
            Effect::Reply(Reply::Photo { url, caption }) => {
                out.push(format!("< [foto] {url}"));
                if !caption.is_empty() {
                    push_text(&mut out, "<| ", caption);
                }
            }
            Effect::Reply(Reply::Choices { body, options }) => {
                push_text(&mut out, "< ", body);
                let kind = if options.len() <= 3 { "botón" } else { "fila" };
                for (i, o) in options.iter().enumerate() {
                    let desc = if o.description.is_empty() { String::new() } else { format!(" — {}", o.description) };
                    out.push(format!("<| [{kind} {}] {}{desc}  ({})", i + 1, o.title, o.id));
                }
            }
            Effect::CheckAvailability { stay, guests, unit, among, .. } => {
                let mut line = format!(
                    "@ consultar {}→{} x{guests} {}",
                    stay.check_in,
                    stay.check_out,
                    unit.map(|u| server.unit_slug(u)).unwrap_or_else(|| "todas".into())
                );
                if !among.is_empty() {
                    let names: Vec<String> = among.iter().map(|u| server.unit_slug(*u)).collect();
                    line.push_str(&format!(" (que cumplan: {})", names.join(", ")));
                }
                out.push(line)
            }
            Effect::PlaceHold { unit_id, stay, guests, guest_name } => out.push(format!(
                "@ retener {} {}→{} x{guests} a nombre de {}",
                server.unit_slug(*unit_id),
                stay.check_in,
                stay.check_out,
                guest_name.as_deref().unwrap_or("(sin nombre)")
            )),
            Effect::CancelHold { code } => out.push(format!("@ cancelar {code}")),
            Effect::MoveBooking { code, unit_id, stay, guests } => out.push(format!(
                "@ mover {code} a {} {}→{} x{guests}",
                server.unit_slug(*unit_id),
                stay.check_in,
                stay.check_out
            )),
            Effect::AlertOwner { text } => out.push(format!("@ avisar al dueño: {text}")),
            Effect::HandOff => out.push("@ pasar a una persona".into()),
            Effect::SendBalanceLink { code } => out.push(format!("@ link del saldo {code}")),
            Effect::RecordReview { code, stars, comment } => {
                out.push(format!("@ calificación {code} {stars}/5: {comment}").trim_end().to_string())
            }
            Effect::RecordQuote { unit_id, stay, total } => out.push(format!(
                "@ cotización {} {}→{} {}",
                server.unit_slug(*unit_id),
                stay.check_in,
                stay.check_out,
                total
            )),
        }
    }
    out
}

fn unit_id(server: &Server, slug: &str) -> i64 {
    server.units.iter().find(|u| u.slug == slug).map(|u| u.id).unwrap_or_else(|| panic!("unknown unit {slug}"))
}

fn status(s: &str) -> ReservationStatus {
    ReservationStatus::parse(match s {
        "confirmed" | "paid" => "confirmed",
        "held" | "pre_reserved" => "pre_reserved",
        other => other,
    })
    .unwrap_or_else(|| panic!("unknown status {s}"))
}

/// Runs one script; returns the rewritten text and the problems found.
fn run(path: &Path) -> (String, Vec<String>) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let source = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let mut server = Server::default();
    let mut state = State::default();
    let mut rewritten = String::new();
    let mut problems = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lineno = i + 1;
        i += 1;
        if line.starts_with('<') || line.starts_with('@') {
            continue; // expected output of an earlier input; regenerated below
        }
        rewritten.push_str(line);
        rewritten.push('\n');
        let event = if let Some(rest) = line.strip_prefix("= ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                ["today", date] => server.set_today(d(date)),
                ["advance", minutes] => server.advance(minutes.parse().unwrap()),
                ["name", "-"] => server.name = None,
                ["name", ..] => server.name = Some(rest["name".len()..].trim().to_string()),
                ["booked", slug, a, b] => {
                    let u = unit_id(&server, slug);
                    server.booked.push((u, stay(a, b)));
                }
                ["reservation", code, slug, a, b, guests, st] => {
                    let u = unit_id(&server, slug);
                    let unit = server.units.iter().find(|x| x.id == u).unwrap().clone();
                    let s = stay(a, b);
                    let q = domain::pricing::quote(
                        &domain::UnitPricing {
                            unit_id: u,
                            base_price: unit.base_price,
                            weekend_multiplier: unit.weekend_multiplier,
                            min_nights: unit.min_nights,
                        },
                        &server.rules,
                        &domain::PricingPolicy::default(),
                        s,
                    );
                    let status = status(st);
                    server.reservations.insert(
                        0,
                        BookingInfo {
                            code: code.to_string(),
                            unit_id: u,
                            stay: s,
                            guests: guests.parse().unwrap(),
                            status,
                            total: q.total,
                            deposit: q.deposit,
                            expires_at: (status == ReservationStatus::PreReserved)
                                .then(|| server.now + chrono::Duration::minutes(60)),
                            payment_link: Some(format!("https://pagos.example.com/p/{code}")),
                            paid: status == ReservationStatus::Confirmed,
                            rated: false,
                            pending: None,
                        },
                    );
                }
                ["rated", code] => {
                    server.reservations.iter_mut().filter(|b| b.code == *code).for_each(|b| b.rated = true)
                }
                ["hold-fails", "taken"] => server.fail_next_hold = Some(HoldFailure::Taken),
                ["hold-fails", "too-many"] => server.fail_next_hold = Some(HoldFailure::TooManyHolds),
                ["hold-fails", "invalid", ..] => {
                    let why = rest.splitn(3, ' ').nth(2).unwrap_or("").to_string();
                    server.fail_next_hold = Some(HoldFailure::Invalid(why));
                }
                ["no-payment-link"] => server.payment_links = false,
                ["move-fails", "taken"] => server.fail_next_move = true,
                ["rule", "holiday", mult] => {
                    let id = server.rules.len() as i64 + 1;
                    server.rules.push(domain::RateRule {
                        id,
                        unit_id: None,
                        name: "Fines de semana largos".into(),
                        start: None,
                        end: None,
                        scope: domain::RuleScope::HolidayEves,
                        effect: domain::RuleEffect::Multiplier(
                            domain::Multiplier::from_f64(mult.parse().unwrap()).unwrap(),
                        ),
                        min_nights: None,
                    });
                }
                ["property", "transfer", alias, cbu, holder @ ..] => {
                    server.property.transfer = Some(Transfer {
                        alias: alias.to_string(),
                        cbu: cbu.to_string(),
                        holder: holder.join(" "),
                        bank: String::new(),
                    })
                }
                ["property", "mercado_pago", "off"] => server.property.mercado_pago = false,
                ["property", field, ..] => {
                    let text = rest.splitn(3, ' ').nth(2).unwrap_or("").trim().to_string();
                    let p = &mut server.property;
                    match *field {
                        "address" => p.address = text,
                        "map" => p.map_link = (!text.is_empty()).then_some(text),
                        "directions" => p.directions = text,
                        "nearby" => p.nearby = text,
                        "balance" => p.balance = text,
                        "cancellation" => p.cancellation = text,
                        "date_changes" => p.date_changes = text,
                        "pets" => p.pets = text,
                        "children" => p.children = text,
                        "included" => p.included = text,
                        "house_rules" => p.house_rules = text,
                        other => panic!("{name}:{lineno}: unknown property field {other}"),
                    }
                }
                ["unit", slug, what, value @ ..] => {
                    let u = unit_id(&server, slug);
                    let unit = server.units.iter_mut().find(|x| x.id == u).unwrap();
                    match (*what, value) {
                        ("pets", ["on"]) => unit.pets_allowed = true,
                        ("pets", ["off"]) => unit.pets_allowed = false,
                        ("accessible", ["on"]) => unit.accessible = true,
                        ("accessible", ["off"]) => unit.accessible = false,
                        ("amenity", words) => unit.amenities.push(words.join(" ")),
                        other => panic!("{name}:{lineno}: unknown unit setting {other:?}"),
                    }
                }
                _ => panic!("{name}:{lineno}: unknown setting {rest:?}"),
            }
            None
        } else if let Some(rest) = line.strip_prefix(">btn ").or_else(|| line.strip_prefix(">row ")) {
            let (id, title) = rest.split_once(" | ").unwrap_or((rest, ""));
            let kind = if line.starts_with(">btn") {
                MessageKind::Button { id: id.trim().into() }
            } else {
                MessageKind::ListReply { id: id.trim().into() }
            };
            Some(Event::Message { text: title.trim().into(), kind })
        } else if let Some(rest) = line.strip_prefix(">voice ") {
            let (conf, text) = rest.split_once('|').unwrap_or((rest, ""));
            let confidence = conf.trim().parse().unwrap();
            Some(Event::Message { text: text.trim().to_string(), kind: MessageKind::Voice { confidence } })
        } else if line.trim() == ">other" {
            Some(Event::Message { text: String::new(), kind: MessageKind::Other })
        } else if let Some(text) = line.strip_prefix("> ").or_else(|| (line == ">").then_some("")) {
            Some(Event::text(text))
        } else if let Some(rest) = line.strip_prefix("! ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let code = |server: &Server| words.get(1).map(|c| c.to_string()).unwrap_or_else(|| server.last_code());
            Some(match words.first().copied() {
                Some("reminder") => Event::HoldReminder { code: code(&server) },
                Some("expired") => {
                    let c = code(&server);
                    server.set_status(&c, ReservationStatus::Expired);
                    Event::HoldExpired { code: c }
                }
                Some("link") => {
                    let c = code(&server);
                    let url = format!("https://pagos.example.com/p/{c}");
                    for b in server.reservations.iter_mut().filter(|b| b.code == c) {
                        b.payment_link = Some(url.clone());
                    }
                    Event::PaymentLink { code: c, url }
                }
                Some("paid") => {
                    let c = code(&server);
                    server.set_status(&c, ReservationStatus::Confirmed);
                    Event::PaymentConfirmed { code: c }
                }
                Some("released") => Event::HandOffReleased,
                Some("owner-cancelled") => {
                    let c = code(&server);
                    server.set_status(&c, ReservationStatus::Cancelled);
                    Event::OwnerCancelled { code: c }
                }
                Some(kind @ ("paid-cancelled" | "paid-taken")) => {
                    let c = code(&server);
                    let amount =
                        server.reservations.iter().find(|b| b.code == c).map(|b| b.deposit).unwrap_or_default();
                    let reason =
                        if kind == "paid-cancelled" { PaymentProblem::Cancelled } else { PaymentProblem::DatesTaken };
                    Event::PaymentNeedsOwner { code: c, amount, reason }
                }
                _ => panic!("{name}:{lineno}: unknown event {rest:?}"),
            })
        } else if line.trim().is_empty() || line.starts_with('#') {
            None
        } else {
            panic!("{name}:{lineno}: cannot read {line:?}");
        };
        let Some(event) = event else { continue };

        let effects = server.drive(&mut state, event);
        for e in &effects {
            if let Effect::Reply(r) = e
                && let Err(why) = check_reply(r)
            {
                problems.push(format!("{name}:{lineno}: {why}"));
            }
        }
        // The state always survives a trip through JSON.
        let json = state.to_json();
        assert_eq!(State::from_json(&json), state, "{name}:{lineno}: state JSON round trip");

        let actual = render(&server, &effects);
        let mut expected = Vec::new();
        while i < lines.len() && (lines[i].starts_with('<') || lines[i].starts_with('@')) {
            expected.push(lines[i].trim_end().to_string());
            i += 1;
        }
        if actual != expected {
            problems.push(format!(
                "{name}:{lineno}: {line}\n--- expected\n{}\n--- actual\n{}",
                expected.join("\n"),
                actual.join("\n")
            ));
        }
        for l in &actual {
            rewritten.push_str(l);
            rewritten.push('\n');
        }
    }
    (rewritten, problems)
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

#[test]
fn dialogue_scripts() {
    let update = std::env::var("UPDATE_SCRIPTS").is_ok_and(|v| v == "1");
    let files = scripts();
    assert!(files.len() >= 15, "scripts missing: {}", files.len());
    let mut problems = Vec::new();
    for path in files {
        let (rewritten, found) = run(&path);
        if update {
            std::fs::write(&path, rewritten).unwrap();
            problems.extend(found.into_iter().filter(|p| !p.contains("--- expected")));
        } else {
            problems.extend(found);
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n\n{}", problems.len(), problems.join("\n\n"));
}

/// The README's counts are the files' counts (they drifted once: 101 written, 117 there).
#[test]
fn the_readme_counts_the_scripts() {
    let files = scripts();
    let round2 = files
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.split('_').next().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n >= 40)
        })
        .count();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let said = format!(
        "— {} dialogues ({} from round 1, {round2} whole conversations from round 2",
        files.len(),
        files.len() - round2
    );
    assert!(readme.contains(&said), "README.md should say {said:?}");
}
