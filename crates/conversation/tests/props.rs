//! Property tests: any message in any reachable state never panics, every reply stays within
//! WhatsApp's limits, the state survives JSON, and effects are well formed.

mod common;

use common::*;
use conversation::*;
use proptest::prelude::*;

const PHRASES: &[&str] = &[
    "¿podemos llegar un día antes?",
    "se suma uno más",
    "somos 5 al final",
    "¿puedo cambiar al 14–16?",
    "quiero pasar la reserva al finde siguiente",
    "hola",
    "tienen lugar del 10 al 14 de diciembre para 4?",
    "del 15 al 20 de diciembre, 3 noches, somos 4",
    "del 10 al 13 de diciembre para 2",
    "quiero reservar la arrayán del 10 al 14 de diciembre para 4",
    "la coihue del 10 al 14 de diciembre para 4",
    "para 9",
    "somos 5",
    "4",
    "2",
    "la primera",
    "sí",
    "no",
    "no, somos 5",
    "dale",
    "otras fechas",
    "reservala",
    "cancelar",
    "quiero cancelar la reserva",
    "cómo pago?",
    "ya pagué",
    "quiero hablar con una persona",
    "tienen wifi?",
    "fotos",
    "dónde quedan?",
    "cuánto sale la noche?",
    "gracias",
    "asdkjh",
    "el 10 de diciembre",
    "3 noches",
    "del 10 al 14 de diciembre de 2025",
    "del 1 de diciembre al 15 de febrero",
    "",
    "   ",
    "cuánto sale la noche en la grande?",
    "y la grande?",
    "la grande",
    "tenemos un perro chiquito",
    "tenés algo más barato?",
    "y si tengo que cancelar?",
    "se puede pagar con transferencia?",
    "carnaval",
    "en enero",
    "del 20 al 24",
    "no, de enero!!",
    "somos 9",
    "cambiame al 14",
    "por qué me cancelaron??",
    "Lucía Fernández",
    "mejor el finde siguiente",
    "vacaciones de invierno",
    "córdoba",
    "todo febrero",
    "sí, la grande",
];

/// Whether a typed message may place a hold: an explicit yes (a yes word, a number, "reservo",
/// "me quedo con…"), never a question.
fn explicit_yes(text: &str) -> bool {
    let n = text.to_lowercase();
    if n.contains('?') && !n.starts_with("sí") && !n.starts_with("si") && !n.starts_with("dale") {
        return false;
    }
    let first = n.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("");
    [
        "si",
        "sí",
        "sii",
        "sip",
        "dale",
        "ok",
        "oka",
        "okay",
        "okey",
        "oki",
        "listo",
        "perfecto",
        "correcto",
        "exacto",
        "claro",
        "obvio",
        "genial",
        "buenísimo",
        "buenisimo",
        "joya",
        "bárbaro",
        "barbaro",
        "afirmativo",
        "bueno",
        "confirmo",
        "va",
        "reservo",
        "reservala",
        "reservalo",
        "reserva",
        "reservamela",
        "reservame",
        "reservamos",
        "hacelo",
        "hacela",
        "mandale",
        "de",
        "por",
    ]
    .contains(&first)
        || n.contains("reserv")
        || n.contains("quedo con")
        || n.contains("quedamos con")
        || n.contains("quiero la")
        || n.contains("quiero el")
        || n.contains("elijo")
        || n.contains("vamos con")
        || n.contains("tomo")
        || n.chars().any(|c| c.is_ascii_digit())
        || ["primera", "segunda", "tercera", "uno", "dos", "tres"].iter().any(|w| n.contains(w))
}

#[derive(Debug, Clone)]
enum Input {
    Phrase(usize),
    Text(String),
    Button(String),
    Voice(String, f32),
    Other,
    Reminder,
    Expired,
    Link,
    Paid,
    Released,
    OwnerCancelled,
    PaidCancelled,
    Advance(i64),
    FailNextHold,
    /// A server event out of the blue (stale or for another code).
    Stray(u8),
}

fn button_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("other_dates".to_string()),
        Just("yes:confirm".to_string()),
        Just("no:confirm".to_string()),
        Just("yes:human".to_string()),
        Just("no:human".to_string()),
        Just("no:cancel".to_string()),
        Just("yes:cancel:K7M2QA".to_string()),
        Just("cancel:K7M2QA".to_string()),
        Just("keep:K7M2QA".to_string()),
        Just("move:2:2026-12-09:2026-12-14:4".to_string()),
        (1i64..5, 0i64..60, 1i64..10, 0u32..12).prop_map(|(u, start, n, g)| {
            let a = d("2026-11-20") + chrono::Days::new(start as u64);
            let b = a + chrono::Days::new(n as u64);
            format!("reserve:{u}:{a}:{b}:{g}")
        }),
        (0i64..5, 0i64..60, -2i64..70, 0u32..12).prop_map(|(u, start, n, g)| {
            let a = d("2026-11-20") + chrono::Days::new(start as u64);
            let b = a + chrono::Duration::days(n);
            let u = if u == 0 { "-".to_string() } else { u.to_string() };
            format!("check:{u}:{a}:{b}:{g}")
        }),
        "[a-z:0-9-]{0,40}",
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => (0..PHRASES.len()).prop_map(Input::Phrase),
        2 => any::<String>().prop_map(Input::Text),
        1 => "[a-záéíóúñ0-9 ,.?¿!]{0,80}".prop_map(Input::Text),
        2 => button_id().prop_map(Input::Button),
        1 => ((0..PHRASES.len()), 0.0f32..1.0).prop_map(|(i, c)| Input::Voice(PHRASES[i].to_string(), c)),
        1 => Just(Input::Other),
        1 => Just(Input::Reminder),
        1 => Just(Input::Expired),
        1 => Just(Input::Link),
        1 => Just(Input::Paid),
        1 => Just(Input::Released),
        1 => Just(Input::OwnerCancelled),
        1 => Just(Input::PaidCancelled),
        1 => (1i64..90).prop_map(Input::Advance),
        1 => Just(Input::FailNextHold),
        1 => any::<u8>().prop_map(Input::Stray),
    ]
}

fn event(server: &mut Server, input: &Input) -> Option<Event> {
    Some(match input {
        Input::Phrase(i) => Event::text(PHRASES[*i]),
        Input::Text(t) => Event::text(t),
        Input::Button(id) => Event::button(id, "x"),
        Input::Voice(t, c) => Event::Message { text: t.clone(), kind: MessageKind::Voice { confidence: *c } },
        Input::Other => Event::Message { text: String::new(), kind: MessageKind::Other },
        Input::Reminder => Event::HoldReminder { code: server.last_code() },
        Input::Expired => {
            let c = server.last_code();
            server.set_status(&c, domain::ReservationStatus::Expired);
            Event::HoldExpired { code: c }
        }
        Input::Link => Event::PaymentLink { code: server.last_code(), url: "https://pagos.example.com/x".into() },
        Input::Paid => {
            let c = server.last_code();
            server.set_status(&c, domain::ReservationStatus::Confirmed);
            Event::PaymentConfirmed { code: c }
        }
        Input::Released => Event::HandOffReleased,
        Input::OwnerCancelled => {
            let c = server.last_code();
            server.set_status(&c, domain::ReservationStatus::Cancelled);
            Event::OwnerCancelled { code: c }
        }
        Input::PaidCancelled => Event::PaymentNeedsOwner {
            code: server.last_code(),
            amount: domain::Money::from_pesos(79_200),
            reason: PaymentProblem::Cancelled,
        },
        Input::Advance(m) => {
            server.advance(*m);
            return None;
        }
        Input::FailNextHold => {
            server.fail_next_hold = Some(HoldFailure::Taken);
            return None;
        }
        Input::Stray(n) if n % 7 == 5 => Event::Moved { after: server.reservations.first()?.clone() },
        Input::Stray(n) if n % 7 == 6 => Event::MoveFailed { code: server.last_code(), reason: HoldFailure::Taken },
        Input::Stray(n) => match n % 5 {
            0 => Event::Availability(server.availability(stay("2026-12-10", "2026-12-14"), 4, None, &[])),
            1 => Event::HoldFailed { reason: HoldFailure::Invalid("algo_raro {x}".into()) },
            2 => Event::Cancelled { code: "ZZZZZZ".into() },
            3 => Event::HoldExpired { code: "ZZZZZZ".into() },
            _ => Event::Availability(server.availability(stay("2026-12-10", "2026-12-11"), 9, Some(2), &[])),
        },
    })
}

fn check(effects: &[Effect]) -> Result<(), TestCaseError> {
    for e in effects {
        match e {
            Effect::Reply(r) => {
                if let Err(why) = check_reply(r) {
                    return Err(TestCaseError::fail(why));
                }
                let numbered = render_numbered(r);
                prop_assert!(!numbered.trim().is_empty());
            }
            Effect::CheckAvailability { stay, guests, .. }
            | Effect::PlaceHold { stay, guests, .. }
            | Effect::MoveBooking { stay, guests, .. } => {
                prop_assert!(stay.check_out > stay.check_in);
                prop_assert!((1..=60).contains(guests));
            }
            Effect::AlertOwner { text } => prop_assert!(!text.is_empty()),
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_conversation_stays_sane(inputs in prop::collection::vec(input(), 1..25)) {
        let mut server = Server::default();
        let mut state = State::default();
        for input in &inputs {
            let Some(ev) = event(&mut server, input) else { continue };
            let handed_off = state.stage == Stage::HandedOff;
            let is_message = matches!(ev, Event::Message { .. });
            let asking_name = matches!(state.stage, Stage::AskingName { .. });
            let typed = match &ev {
                Event::Message { text, kind: MessageKind::Text | MessageKind::Voice { .. } } => Some(text.clone()),
                _ => None,
            };
            let typed_again = typed.clone();
            let effects = server.drive(&mut state, ev);
            check(&effects)?;
            if handed_off && is_message {
                prop_assert!(effects.is_empty(), "spoke while handed off: {effects:?}");
            }
            // A hold only on an explicit yes (or on the name asked right after one).
            if let Some(text) = typed
                && effects.iter().any(|e| matches!(e, Effect::PlaceHold { .. }))
            {
                prop_assert!(asking_name || explicit_yes(&text), "hold placed on {text:?}");
            }
            // A paid booking moves only on an explicit yes to its quote.
            if let Some(text) = typed_again
                && effects.iter().any(|e| matches!(e, Effect::MoveBooking { .. }))
            {
                prop_assert!(explicit_yes(&text), "moved on {text:?}");
            }
            prop_assert!(state.choices.len() <= 10);
            let json = state.to_json();
            prop_assert_eq!(State::from_json(&json), state.clone());
        }
    }

    #[test]
    fn any_text_in_any_stage_is_answered(stage in 0usize..12, text in any::<String>(), guests in 1u32..8) {
        let s = stay("2026-12-10", "2026-12-14");
        let offer = Offer { unit_id: 2, stay: s, guests, total: domain::Money::from_pesos(1000) };
        let stage = match stage {
            9 => Stage::AwaitingNights,
            10 => Stage::AwaitingProvince,
            11 => Stage::AskingName { offers: vec![offer] },
            0 => Stage::Idle,
            1 => Stage::AwaitingDates,
            2 => Stage::AwaitingGuests,
            3 => Stage::Confirming { pending: Slots { guests: Some(guests), ..Slots::default() }, reserve: false },
            4 => Stage::Checking { reserve: true, after_taken: false },
            5 => Stage::Offered { offers: vec![offer], group: Vec::new() },
            6 => Stage::Reserving { offer, rest: Vec::new(), placed: Vec::new() },
            7 => Stage::Holding { code: "K7M2QA".into() },
            _ => Stage::ConfirmCancel { code: "K7M2QA".into() },
        };
        let state = State {
            stage,
            choices: vec![Choice::new("other_dates", "Otras fechas"), Choice::new("yes:human", "Hablar con alguien")],
            ..State::default()
        };
        let server = Server::default();
        let out = step(&state, Event::text(&text), &server.ctx());
        check(&out.effects)?;
        // A guest message outside a hand-off always gets some reaction.
        prop_assert!(!out.effects.is_empty());
    }
}

#[test]
fn stored_garbage_becomes_a_fresh_state() {
    assert_eq!(State::from_json("{not json"), State::default());
    assert_eq!(
        State::from_json(r#"{"stage":{"stage":"holding","code":"K7M2QA"}}"#).stage,
        Stage::Holding { code: "K7M2QA".into() }
    );
}

#[test]
fn inactivity_expires_but_hand_off_does_not() {
    let server = Server::default();
    let mut state = State { last_message_at: Some(server.now), ..State::default() };
    assert!(!state.expired(server.now + chrono::Duration::minutes(30)));
    assert!(state.expired(server.now + chrono::Duration::minutes(31)));
    state.stage = Stage::HandedOff;
    assert!(!state.expired(server.now + chrono::Duration::hours(5)));
    let fresh =
        State { name: Some("Juana".into()), slots: Slots { guests: Some(4), ..Slots::default() }, ..State::default() }
            .fresh_keeping_name();
    assert_eq!(fresh.name.as_deref(), Some("Juana"));
    assert_eq!(fresh.slots, Slots::default());
    // Memory outlives a stale question: 30 minutes forget the question, 48 hours the search.
    let state = State { last_message_at: Some(server.now), ..State::default() };
    assert!(!state.forgotten(server.now + chrono::Duration::hours(47)));
    assert!(state.forgotten(server.now + chrono::Duration::hours(49)));
}
