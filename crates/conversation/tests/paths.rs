//! The closing note's figures: guest messages from hello to the payment link on the direct path
//! (`84_hold_direct_path.txt`) and on a wandering path (`110_wandering_couple_with_dog.txt`),
//! counted by replaying the scripts' guest lines through the engine and the fake server.
//!
//! `cargo test -p conversation --test paths -- --nocapture` prints them.

mod common;

use common::*;
use conversation::*;

/// Guest messages until a reply carries a payment link, and the hold placed.
fn to_payment_link(script: &str) -> (usize, Option<(i64, domain::Stay)>) {
    let path = format!("{}/tests/scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(path).unwrap();
    let mut server = Server::default();
    let mut state = State::default();
    let mut sent = 0;
    for line in source.lines() {
        let event = if let Some(rest) = line.strip_prefix(">btn ") {
            let (id, title) = rest.split_once(" | ").unwrap_or((rest, ""));
            Event::button(id.trim(), title.trim())
        } else if let Some(t) = line.strip_prefix("> ") {
            Event::text(t)
        } else if line == "= name -" {
            server.name = None;
            continue;
        } else {
            continue;
        };
        sent += 1;
        let mut hold = None;
        let mut link = false;
        for e in server.drive(&mut state, event) {
            match e {
                Effect::PlaceHold { unit_id, stay, .. } => hold = Some((unit_id, stay)),
                Effect::Reply(Reply::Text(t)) if t.contains("https://pagos.example.com/") => link = true,
                _ => {}
            }
        }
        if link {
            return (sent, hold);
        }
    }
    (usize::MAX, None)
}

#[test]
fn guest_messages_from_hello_to_the_payment_link() {
    let (direct, hold) = to_payment_link("84_hold_direct_path.txt");
    println!("direct path: {direct} guest messages to the payment link (hold {hold:?})");
    assert_eq!(direct, 2);
    let (wandering, hold) = to_payment_link("110_wandering_couple_with_dog.txt");
    println!("wandering path: {wandering} guest messages to the payment link (hold {hold:?})");
    // Eight messages, each one answered: hello, the month, the days, the dog, a price question,
    // the cancellation policy, transfers, the yes — and the hold is the one the guest wanted.
    assert_eq!(wandering, 8);
    let (unit, stay) = hold.expect("a hold");
    assert_eq!((unit, stay.check_in, stay.check_out), (3, d("2027-01-20"), d("2027-01-24")));
}
