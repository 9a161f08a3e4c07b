//! A hold only on an explicit yes: price, availability, info and policy questions — and the
//! polite "ok, gracias" / "lo consulto y te aviso" — never place one, whatever was offered
//! before. Each phrasing runs after several offers, after the single-offer confirmation
//! ("¿Te la reservo?") and with a whole search in memory and nothing offered.

mod common;

use common::*;
use conversation::*;

/// Argentine guests asking, not booking.
const NOT_A_YES: &[&str] = &[
    "cuánto sale la noche en la grande?",
    "y la grande cuánto sale?",
    "cuánto sale?",
    "cuánto es la seña?",
    "y el total?",
    "cuánto me sale todo?",
    "precio por noche?",
    "cuál es la más barata?",
    "tenés algo más barato?",
    "la grande tiene parrilla?",
    "tiene pileta?",
    "hay wifi?",
    "aceptan mascotas?",
    "y si tengo que cancelar?",
    "se puede cambiar la fecha después?",
    "se puede pagar con transferencia?",
    "aceptan tarjeta?",
    "dónde queda?",
    "cómo llego?",
    "a qué hora es el check in?",
    "incluye ropa de cama?",
    "se puede ir con chicos?",
    "tienen fotos de la arrayán?",
    "cuántas personas entran en la grande?",
    "la arrayán tiene vista al lago?",
    "y la grande?",
    "y la arrayán?",
    "qué diferencia hay entre las dos?",
    "hay disponibilidad para el finde largo?",
    "y para 6?",
    "y del 20 al 24?",
    "hay descuento por semana?",
    "el precio es por persona o por cabaña?",
    "la seña se devuelve?",
    "está cerca del centro?",
    "tiene estacionamiento?",
    "hay algo para hacer cerca?",
    "cuánto sale en carnaval?",
    "dale, lo consulto con mi pareja y te aviso",
    "ok gracias",
    "bueno, lo pienso",
    "genial, mañana te confirmo",
    "perfecto, gracias!",
    "lo consulto y te aviso",
    "me lo pasás por mail?",
    "sí, pero cuánto es la seña?",
    "y con el perro se puede?",
    "la grande?",
    // From the issue-14 audit on the running binary.
    "si se me complica y tengo que cancelar que pasa?",
    "puedo cambiar las fechas despues?",
    "cual sale menos?",
    "tenés algo más barato? que sea con el perro",
    "y hasta 300 mil tenés algo?",
    "ah y tenemos perro, hay problema?",
    "incluye toallas?",
    "y cuanto sale en total?",
    // Double yeses that still only think about it or ask.
    "sí sí, lo pienso y te aviso",
    "dale dale, mañana te confirmo",
    "sí, dale, pero cuánto es la seña?",
];

/// The contexts: after two offers, after one ("¿Te la reservo?"), with a full search in
/// memory and nothing offered.
fn contexts() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("two offers", vec!["tienen lugar del 10 al 14 de diciembre para 4?"]),
        ("one offer", vec!["la arrayán del 10 al 14 de diciembre para 4?"]),
        ("confirmation of a named cabin", vec!["tienen lugar del 10 al 14 de diciembre para 4?", "la arrayán"]),
        ("search in memory", vec!["tienen lugar del 10 al 14 de diciembre para 4?", "gracias"]),
    ]
}

#[test]
fn questions_and_polite_answers_never_hold() {
    assert!(NOT_A_YES.len() >= 40);
    let mut problems = Vec::new();
    for (name, setup) in contexts() {
        for phrase in NOT_A_YES {
            let mut server = Server::default();
            let mut state = State::default();
            for line in &setup {
                server.drive(&mut state, Event::text(line));
            }
            let effects = server.drive(&mut state, Event::text(phrase));
            if std::env::var_os("NO_HOLD_VERBOSE").is_some() {
                let first = effects.iter().find_map(|e| match e {
                    Effect::Reply(Reply::Text(t)) => Some(t.clone()),
                    Effect::Reply(Reply::Choices { body, .. }) => Some(body.clone()),
                    Effect::Reply(Reply::Photo { caption, .. }) => Some(caption.clone()),
                    _ => None,
                });
                println!("[{name}] {phrase}\n    → {}", first.unwrap_or_default().replace('\n', " / "));
            }
            if effects.iter().any(|e| matches!(e, Effect::PlaceHold { .. })) {
                problems.push(format!("{name}: {phrase:?} placed a hold"));
            }
            if !effects.iter().any(|e| matches!(e, Effect::Reply(_))) {
                problems.push(format!("{name}: {phrase:?} got no answer"));
            }
            for e in &effects {
                if let Effect::Reply(r) = e
                    && let Err(why) = check_reply(r)
                {
                    problems.push(format!("{name}: {phrase:?}: {why}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// The control group: these are explicit yeses and do hold (with one offer showing).
#[test]
fn explicit_yeses_hold() {
    for yes in [
        "dale",
        "sí",
        "si!",
        "reservala",
        "reservo",
        "sí, la arrayán",
        "dale, la reservo",
        "ok",
        "de una",
        "me quedo con la arrayán",
        "1",
    ] {
        let mut server = Server::default();
        let mut state = State::default();
        server.drive(&mut state, Event::text("la arrayán del 10 al 14 de diciembre para 4?"));
        let effects = server.drive(&mut state, Event::text(yes));
        assert!(effects.iter().any(|e| matches!(e, Effect::PlaceHold { .. })), "{yes:?} should hold: {effects:?}");
    }
}

/// A yes followed by more yes words is still one explicit yes: "sí, dale", "dale, sí".
const DOUBLE_YESES: &[&str] = &[
    "sí, dale",
    "dale, sí",
    "sí, por favor",
    "ok, dale",
    "dale dale",
    "si si",
    "sí, quiero",
    "dale, de una",
    "perfecto, dale!",
    "bueno, sí, dale",
];

/// With one offer showing and after the confirmation of a named cabin ("¿Te la reservo?").
#[test]
fn a_yes_and_another_yes_word_hold() {
    let setups: [&[&str]; 2] = [
        &["la arrayán del 10 al 14 de diciembre para 4?"],
        &["tienen lugar del 10 al 14 de diciembre para 4?", "la arrayán"],
    ];
    let mut problems = Vec::new();
    for setup in setups {
        for yes in DOUBLE_YESES {
            let mut server = Server::default();
            let mut state = State::default();
            for line in setup {
                server.drive(&mut state, Event::text(line));
            }
            let effects = server.drive(&mut state, Event::text(yes));
            if !effects.iter().any(|e| matches!(e, Effect::PlaceHold { .. })) {
                problems.push(format!("after {setup:?}: {yes:?} did not hold: {effects:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// With two offers showing, a double yes asks which one — it never holds both or neither silently.
#[test]
fn a_double_yes_to_two_offers_asks_which() {
    for yes in DOUBLE_YESES {
        let mut server = Server::default();
        let mut state = State::default();
        server.drive(&mut state, Event::text("tienen lugar del 10 al 14 de diciembre para 4?"));
        let effects = server.drive(&mut state, Event::text(yes));
        assert!(!effects.iter().any(|e| matches!(e, Effect::PlaceHold { .. })), "{yes:?} held one of two: {effects:?}");
        assert!(
            effects.iter().any(|e| matches!(e, Effect::Reply(Reply::Choices { .. }))),
            "{yes:?} should ask which: {effects:?}"
        );
    }
}

/// The README's figure is this list's length.
#[test]
fn the_readme_counts_these_phrasings() {
    let readme = include_str!("../README.md");
    for said in [format!("runs {} such", NOT_A_YES.len()), format!("no_hold.rs` — {} price", NOT_A_YES.len())] {
        assert!(readme.contains(&said), "README.md should say {said:?}");
    }
}
