//! "¿Cuánto sale la noche?" with the dates known is answered with the nightly prices of those
//! nights — season, weekend and holiday rules included — never the list price alone (a
//! January answer said "$90.000 la noche" and then a total of $128.700 a night).

mod common;

use common::*;
use conversation::*;

/// The first text the engine says after `question`, with `setup` said before.
fn answer(setup: &str, question: &str) -> String {
    let mut server = Server::default();
    let mut state = State::default();
    server.drive(&mut state, Event::text(setup));
    let effects = server.drive(&mut state, Event::text(question));
    assert!(!effects.iter().any(|e| matches!(e, Effect::PlaceHold { .. })), "a price question held: {effects:?}");
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Reply(Reply::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .expect("a text answer")
}

#[test]
fn high_season_weeknights_and_weekend_nights() {
    // 20→24 Jan 2027: Wed and Thu at 90.000 × 1.3; Fri and Sat also × 1.2 (total $514.800).
    let t = answer("del 20 al 24 de enero para 2", "cuánto sale la noche en la grande?");
    assert!(t.contains("$117.000") && t.contains("$140.400"), "{t}");
    assert!(!t.contains("$90.000"), "the list price is not this stay's price: {t}");
}

#[test]
fn one_price_for_every_night() {
    // 11→14 Jan 2027: Mon, Tue, Wed in high season.
    let t = answer("del 11 al 14 de enero para 2", "cuánto sale la noche en la grande?");
    assert!(t.contains("$117.000 la noche"), "{t}");
    assert!(!t.contains("$90.000") && !t.contains("viernes"), "{t}");
}

#[test]
fn out_of_season_weekend_nights_are_named() {
    // 10→14 Dec 2026: Thu and Sun at the list price, Fri and Sat × 1.2.
    let t = answer("del 10 al 14 de diciembre para 4", "cuánto sale la noche en la arrayán?");
    assert!(t.contains("$60.000") && t.contains("$72.000"), "{t}");
}

#[test]
fn a_stay_across_the_start_of_a_season_gives_the_range_and_the_average() {
    // 28 Dec 2026 → 5 Jan 2027 in the Coihue: 4 nights at 40.000, Jan 1–2 at 62.400, Jan 3–4 at
    // 52.000 = $388.800 over 8 nights ($48.600 on average).
    let t = answer("del 28 de diciembre al 5 de enero para 2", "cuánto sale la noche en la coihue?");
    assert!(t.contains("$40.000") && t.contains("$62.400") && t.contains("$48.600"), "{t}");
}
