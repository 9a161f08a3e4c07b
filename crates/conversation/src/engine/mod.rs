//! The dialogue itself. Everything here is total: bad ids, stale events and odd states all end
//! in a sensible reply or in silence, never in a panic.
//!
//! - [`memory`]: what the guest said, kept across messages and read by every turn; how a new
//!   message changes it; asking for what is missing.
//! - [`offers`]: availability answers, constraints, parties split over cabins, picks.
//! - [`holds`]: the only way to a hold (an explicit yes), the reservation name, moves.
//! - [`bookings`]: the guest's own reservations: cancel, change, status, payment, timers, what
//!   the owner did.
//! - [`info`]: answers from the owner's settings and the catalogue; prices.

mod bookings;
mod holds;
mod info;
mod memory;
mod offers;

use crate::render::{chosen_number, select_choice};
use crate::say::{self, normalize};
use crate::*;
use chrono::Datelike;
use nlu::{Analysis, Intent};

/// Below this the understanding is a guess: ask to rephrase.
const ACT: f32 = 0.45;
/// Below this (and at least [`ACT`]) confirm before acting.
const SURE: f32 = 0.75;

pub(crate) fn step(state: &State, event: Event, ctx: &Context) -> Step {
    let mut e = Engine { ctx, st: state.clone(), fx: Vec::new() };
    if let Some(name) = ctx.contact_name.as_deref().and_then(say::first_name) {
        e.st.name = Some(name);
    }
    let handed_off = e.st.stage == Stage::HandedOff;
    match event {
        Event::Message { text, kind } => {
            if e.st.forgotten(ctx.now) {
                e.st = e.st.fresh_keeping_name();
            } else if e.st.expired(ctx.now) {
                e.st = e.st.without_pending();
            }
            e.st.last_message_at = Some(ctx.now);
            if !handed_off {
                e.forget_the_past();
                e.on_message(&text, kind);
            }
        }
        Event::HandOffReleased => {
            if handed_off {
                e.st.stage = Stage::Idle;
                e.st.failures = 0;
                e.st.choices.clear();
            }
        }
        // What the owner did reaches the guest even while a person holds the chat.
        Event::OwnerCancelled { code } => e.on_owner_cancelled(&code),
        Event::PaymentNeedsOwner { code, amount, reason } => e.on_payment_needs_owner(&code, amount, reason),
        Event::HoldPlaced(b) if handed_off => e.st.hold = Some(b),
        _ if handed_off => {}
        Event::Availability(r) => e.on_availability(r),
        Event::HoldPlaced(b) => e.on_hold_placed(b),
        Event::HoldFailed { reason } => e.on_hold_failed(reason),
        Event::Cancelled { code } => e.on_cancelled(&code),
        Event::Moved { after } => e.on_moved(after),
        Event::MoveFailed { code, reason } => e.on_move_failed(&code, reason),
        Event::HoldReminder { code } => e.on_reminder(&code),
        Event::HoldExpired { code } => e.on_expired(&code),
        Event::PaymentLink { code, url } => e.on_payment_link(&code, &url),
        Event::PaymentConfirmed { code } => e.on_paid(&code),
    }
    Step { state: e.st, effects: e.fx }
}

pub(crate) struct Engine<'a> {
    ctx: &'a Context,
    st: State,
    fx: Vec<Effect>,
}

fn yes_word(w: &str) -> bool {
    matches!(
        w,
        "si" | "sii"
            | "sip"
            | "dale"
            | "ok"
            | "oka"
            | "okay"
            | "okey"
            | "oki"
            | "listo"
            | "perfecto"
            | "correcto"
            | "exacto"
            | "claro"
            | "obvio"
            | "genial"
            | "buenisimo"
            | "joya"
            | "barbaro"
            | "afirmativo"
            | "bueno"
            | "confirmo"
            | "va"
            | "reservo"
            | "reservala"
            | "reservalo"
            | "reserva"
            | "reservamela"
            | "reservame"
            | "reservamos"
            | "hacelo"
            | "hacela"
            | "mandale"
    )
}

/// A leading yes / no and what follows it: "no, somos 5" → (false, "somos 5").
fn yes_no(text: &str) -> Option<(bool, String)> {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let (first, rest) = words.split_first()?;
    let (answer, skip) = if matches!(*first, "no" | "nop" | "nope" | "negativo" | "nah") {
        (false, 1)
    } else if yes_word(first) {
        (true, 1)
    } else if words.len() >= 2 && (words[..2] == ["de", "una"] || words[..2] == ["por", "favor"]) {
        (true, 2)
    } else {
        return None;
    };
    let _ = rest;
    // Keep the original wording of the rest for the understanding (accents, numbers).
    let mut cut = text.trim_start();
    for _ in 0..skip {
        let end = cut.find(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | '?')).unwrap_or(cut.len());
        cut = cut[end..].trim_start_matches([',', ' ', '.', '!', '?', '¡', '¿']);
    }
    let rest = cut.trim().to_string();
    // "sí, dale", "dale, sí", "sí, por favor": more yes words add nothing to the yes.
    if answer && only_yes_words(&rest) {
        return Some((true, String::new()));
    }
    Some((answer, rest))
}

/// A remainder made only of yes and polite words ("dale", "por favor", "quiero", "de una").
/// "gracias" is not one: "ok, gracias" closes the conversation, it does not book.
fn only_yes_words(rest: &str) -> bool {
    let norm = normalize(rest);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let mut rest = words.as_slice();
    if rest.is_empty() {
        return false;
    }
    while let Some(first) = rest.first() {
        if rest.starts_with(&["de", "una"]) || rest.starts_with(&["por", "favor"]) {
            rest = &rest[2..];
        } else if yes_word(first) || matches!(*first, "porfa" | "porfis" | "quiero" | "queremos") {
            rest = &rest[1..];
        } else {
            return false;
        }
    }
    true
}

/// "lo consulto y te aviso", "mañana te confirmo": the guest will think about it.
fn deferral(text: &str) -> bool {
    let n = normalize(text);
    [
        "lo consulto",
        "lo consultamos",
        "lo consulte",
        "te aviso",
        "les aviso",
        "lo pienso",
        "lo pensamos",
        "te confirmo",
        "les confirmo",
        "despues te digo",
        "despues te escribo",
        "te escribo despues",
        "lo hablo",
        "lo charlo",
        "lo charlamos",
        "lo hablamos",
        "te digo despues",
        "luego te",
        "mas tarde te",
        "ya te digo",
    ]
    .iter()
    .any(|p| n.contains(p))
}

/// "me quedo con la arrayán", "elijo la 2", "vamos con la grande": a pick said as a decision.
fn decided(text: &str) -> bool {
    let n = normalize(text);
    [
        "me quedo con",
        "nos quedamos con",
        "elijo",
        "elegimos",
        "vamos con",
        "voy con",
        "la tomo",
        "la tomamos",
        "tomo la",
        "tomamos la",
        "quiero esa",
        "queremos esa",
        "esa misma",
        "quiero la",
        "queremos la",
        "quiero el",
        "dame la",
        "danos la",
    ]
    .iter()
    .any(|p| n.starts_with(p) || n.contains(&format!(" {p}")))
}

fn has_stay_facts(a: &Analysis) -> bool {
    a.check_in.is_some() || a.check_out.is_some() || a.nights.is_some() || a.guests.is_some()
}

fn parse_offer(parts: &[&str]) -> Option<(Option<i64>, Stay, u32)> {
    let [unit, ci, co, g] = parts else { return None };
    let unit = if *unit == "-" { None } else { Some(unit.parse().ok()?) };
    let stay = Stay::new(ci.parse().ok()?, co.parse().ok()?).ok()?;
    let guests: u32 = g.parse().ok()?;
    (1..=60).contains(&guests).then_some((unit, stay, guests))
}

fn offer_id(kind: &str, unit: Option<i64>, stay: &Stay, guests: u32) -> String {
    let unit = unit.map(|u| u.to_string()).unwrap_or_else(|| "-".into());
    format!("{kind}:{unit}:{}:{}:{guests}", stay.check_in, stay.check_out)
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Engine<'_> {
    // ---- output helpers ---------------------------------------------------------------------

    fn text(&mut self, t: impl Into<String>) {
        let t = say::clip(&t.into(), crate::LIMITS.text);
        self.fx.push(Effect::Reply(Reply::Text(t)));
    }

    fn choices(&mut self, body: impl Into<String>, mut options: Vec<Choice>) {
        options.truncate(crate::LIMITS.list_rows);
        let mut seen: Vec<Choice> = Vec::new();
        for mut o in options {
            o.title = say::clip(&o.title, crate::LIMITS.button_title);
            o.description = say::clip(&o.description, crate::LIMITS.row_description);
            if !seen.iter().any(|s| s.id == o.id || s.title == o.title) {
                seen.push(o);
            }
        }
        let body = say::clip(&body.into(), crate::LIMITS.interactive_body);
        if seen.is_empty() {
            self.st.choices.clear();
            return self.text(body);
        }
        self.st.choices = seen.clone();
        self.fx.push(Effect::Reply(Reply::Choices { body, options: seen }));
    }

    /// ", Juana" or "" (never a placeholder such as "Huésped").
    fn name(&self) -> String {
        say::comma_name(self.st.name.as_deref())
    }

    fn unit_name(&self, id: i64) -> String {
        self.ctx.unit(id).map(|u| u.name.clone()).unwrap_or_else(|| "la cabaña".into())
    }

    fn the_unit(&self, id: i64) -> String {
        self.ctx.unit(id).map(|u| say::the_unit(&u.name)).unwrap_or_else(|| "la cabaña".into())
    }

    fn range(&self, stay: &Stay) -> String {
        say::range(stay, self.ctx.today)
    }

    fn until(&self, at: DateTime<Utc>) -> String {
        say::until(at, self.ctx.now, self.ctx.tz)
    }

    fn max_capacity(&self) -> u32 {
        self.ctx.units.iter().map(|u| u.capacity).max().unwrap_or(0)
    }

    fn unit_by_slug(&self, slug: &str) -> Option<i64> {
        self.ctx.units.iter().find(|u| u.slug == slug).map(|u| u.id)
    }

    fn analyze(&self, text: &str) -> Analysis {
        nlu::analyze_with(text, self.ctx.today, &self.ctx.unit_refs(), &self.hint())
    }

    /// The question still open, to repeat after a side answer.
    fn reask(&self) -> Option<&'static str> {
        match self.st.stage {
            Stage::AwaitingDates => Some("¿Para qué fechas buscás?"),
            Stage::AwaitingGuests => Some("¿Cuántas personas van a ser?"),
            Stage::AwaitingNights => Some("¿Cuántas noches serían?"),
            Stage::AwaitingProvince => Some("¿De qué provincia son?"),
            Stage::AskingName { .. } => Some("¿A nombre de quién hago la reserva?"),
            _ => None,
        }
    }

    fn with_reask(&self, text: String) -> String {
        match self.reask() {
            Some(q) => format!("{text}\n{q}"),
            None => text,
        }
    }

    // ---- messages ---------------------------------------------------------------------------

    fn on_message(&mut self, text: &str, kind: MessageKind) {
        match kind {
            MessageKind::Other => return self.on_media(),
            MessageKind::Voice { confidence } => {
                if text.trim().is_empty() {
                    self.text("No pude escuchar el audio, ¿me lo escribís?");
                    return;
                }
                if confidence.is_nan() || confidence < crate::VOICE_CONFIDENCE_FLOOR {
                    self.text(format!("Entendí: “{}”", say::clip(text.trim(), 300)));
                }
            }
            MessageKind::Button { id } | MessageKind::ListReply { id } => {
                if self.on_choice(&id) {
                    return;
                }
            }
            MessageKind::Text => {}
        }
        self.on_text(text);
    }

    /// An image, a sticker, a document: a transfer receipt while a hold waits, or nothing we read.
    fn on_media(&mut self) {
        let waiting = self.open_bookings().into_iter().find(|b| b.status == ReservationStatus::PreReserved);
        match (waiting, &self.ctx.property.transfer) {
            (Some(b), Some(_)) => {
                let who = self.who();
                self.fx.push(Effect::AlertOwner {
                    text: format!(
                        "{who} mandó un archivo (¿el comprobante de la transferencia?) para la reserva {}. Revisalo en Conversaciones y confirmala si llegó el pago.",
                        b.code
                    ),
                });
                self.text(format!(
                    "¡Gracias! Le paso el comprobante al dueño para que confirme la reserva *{}* apenas vea la transferencia 🙂",
                    b.code
                ));
            }
            _ => self.text("Por ahora solo puedo leer mensajes de texto y audios 🙏 ¿Me lo escribís?"),
        }
    }

    fn on_text(&mut self, text: &str) {
        if text.trim().is_empty() {
            return self.failure();
        }
        let mut a = self.analyze(text);
        // "¿y la primera?" right after a fortnight: the other fortnight of the same month.
        if self.st.slots.period == Some(PeriodKind::Fortnight)
            && let Some(ci) = self.st.slots.check_in
            && a.period.is_none()
        {
            let n = normalize(text);
            let which = ["primera", "1ra", "segunda", "2da", "otra"].iter().find(|w| n.split(' ').any(|x| x == **w));
            if let Some(w) = which {
                let second = match *w {
                    "otra" => ci.day() == 1,
                    w => w.starts_with('s') || w.starts_with('2'),
                };
                let part = if second { "segunda" } else { "primera" };
                a = self.analyze(&format!("{part} quincena de {}", say::month(ci)));
            }
        }

        // A rating after a stay ended ("5", "⭐⭐⭐⭐"), unless a number answers options on screen.
        if self.st.stage == Stage::Idle && self.st.choices.is_empty() && self.rate(text) {
            return;
        }

        // 1. Answers to the question just asked come first.
        match self.st.stage.clone() {
            Stage::Confirming { pending, reserve } => {
                if let Some((yes, rest)) = yes_no(text) {
                    return self.on_confirm_answer(pending, reserve, yes, &rest);
                }
                if a.intent == Intent::Availability || a.intent == Intent::Reserve {
                    // A fresh wording of the request replaces the doubtful one.
                    self.st.stage = Stage::Idle;
                    return self.request(&a, true);
                }
                self.st.stage = Stage::Idle;
            }
            Stage::ConfirmCancel { code } => {
                if let Some((yes, _)) = yes_no(text) {
                    return self.on_cancel_answer(&code, yes);
                }
                self.st.stage = Stage::Idle;
            }
            // Only a plain yes moves a paid booking; a no keeps it; anything else is read anew.
            Stage::ConfirmMove { before, offer } => match yes_no(text) {
                Some((true, rest)) if rest.is_empty() && self.confirm_move(offer.unit_id, offer.stay, offer.guests) => {
                    return;
                }
                Some((false, rest)) if rest.is_empty() => return self.keep(&before.code),
                _ => {}
            },
            Stage::AskingName { offers } if self.on_name_answer(text, &a, &offers) => return,
            Stage::AwaitingGuests if a.guests.is_none() => {
                if let Some(n) = chosen_number(text).or_else(|| normalize(text).parse().ok()) {
                    let n = n as u32;
                    if (1..=60).contains(&n) {
                        a.guests = Some(n);
                        a.intent = Intent::Availability;
                        a.confidence = a.confidence.max(0.9);
                    }
                }
            }
            Stage::AwaitingNights if a.nights.is_none() && a.check_in.is_none() => {
                if let Some(n) = chosen_number(text).or_else(|| normalize(text).parse().ok()) {
                    let n = n as u32;
                    if (1..=domain::MAX_NIGHTS).contains(&n) {
                        a.nights = Some(n);
                        a.intent = Intent::Availability;
                        a.confidence = a.confidence.max(0.9);
                    }
                }
            }
            Stage::AwaitingProvince if a.province.is_some() => {
                a.intent = Intent::Availability;
                a.confidence = a.confidence.max(0.9);
            }
            _ => {}
        }

        // "dale, lo consulto y te aviso": no pick, no new search — the offer stays open.
        if deferral(text) && !text.contains('?') {
            self.st.failures = 0;
            let open = matches!(self.st.stage, Stage::Offered { .. });
            return self.text(if open {
                "¡Dale! Cuando lo decidas, escribime y lo reservamos 🙂 Mientras tanto las fechas siguen libres para otros."
            } else {
                "¡Dale! Cualquier cosa, escribime 🙂"
            });
        }

        // 2. A pick among the options last offered.
        if !self.st.choices.is_empty() && self.on_pick(&a, text) {
            return;
        }

        // 3. The understanding.
        self.on_analysis(&a, text);
    }

    /// "No, dejarla así": the reservation stays as it is.
    fn keep(&mut self, code: &str) {
        self.st.moving = None;
        self.st.choices.clear();
        self.st.stage = match self.booking(code) {
            Some(b) if b.status == ReservationStatus::PreReserved => Stage::Holding { code: b.code },
            _ => Stage::Idle,
        };
        self.text("Perfecto, la dejamos como está 🙂");
    }

    fn in_flow(&self) -> bool {
        matches!(
            self.st.stage,
            Stage::AwaitingDates
                | Stage::AwaitingGuests
                | Stage::AwaitingNights
                | Stage::AwaitingProvince
                | Stage::Offered { .. }
                | Stage::Checking { .. }
        )
    }

    fn on_analysis(&mut self, a: &Analysis, text: &str) {
        // The understanding reads "¿qué comodidades tienen?" as a request without facts.
        if a.intent == Intent::Availability && !has_stay_facts(a) && a.unit.is_none() && a.period.is_none() {
            let norm = normalize(text);
            if ["comodidades", "servicios", "equipamiento", "equipada", "como son las cabanas"]
                .iter()
                .any(|w| norm.contains(w))
            {
                let info = Analysis { intent: Intent::Info, topic: Some(Topic::Amenities), ..a.clone() };
                self.st.failures = 0;
                return self.info(&info, text);
            }
        }
        // "somos 5 al final", "se suma uno más", "¿podemos llegar un día antes?": a change of the
        // paid booking (read before "not understood": these are not search words).
        if let Some(b) = self.booking_change_in(a, text) {
            self.st.failures = 0;
            return self.change_booking(&b, Some(a), text);
        }
        let answering = self.in_flow() && (has_stay_facts(a) || a.period.is_some() || a.province.is_some());
        if a.intent == Intent::Unknown && answering {
            self.st.failures = 0;
            return self.request(a, false);
        }
        if a.intent == Intent::Unknown || (a.confidence < ACT && !answering) {
            return self.failure();
        }
        self.st.failures = 0;
        match a.intent {
            Intent::Greeting => self.greet(),
            Intent::Thanks => self.thanks(),
            Intent::Human => self.hand_off(Some(text)),
            Intent::Cancel => self.cancel(text),
            Intent::Change => self.change(a, text),
            Intent::Status => self.status(text),
            Intent::Payment => self.payment(text),
            Intent::Info => self.info(a, text),
            Intent::Price => self.price(a, text),
            Intent::Availability | Intent::Reserve => self.request(a, false),
            Intent::Unknown => self.failure(),
        }
    }

    fn failure(&mut self) {
        self.st.failures += 1;
        if self.st.failures >= crate::MAX_FAILURES {
            self.choices(
                "Perdón, no te estoy entendiendo 😅 ¿Querés que te atienda una persona?",
                vec![Choice::new("yes:human", "Sí, con una persona"), Choice::new("no:human", "No, sigo acá")],
            );
            return;
        }
        let examples = match self.st.stage {
            Stage::AwaitingDates => "«del 15 al 20 de enero» o «el finde»",
            Stage::AwaitingGuests => "«somos 4» o «2 adultos y 1 nene»",
            Stage::AwaitingNights => "«3 noches» o «del 10 al 14»",
            Stage::AwaitingProvince => "«Córdoba» o «somos de Rosario»",
            _ => "«¿Tienen lugar del 15 al 20 de enero para 4?» o «¿Cuánto sale la noche?»",
        };
        self.text(format!("Perdón, no te entendí 🙏 Podés escribirme, por ejemplo: {examples}"));
    }

    fn greet(&mut self) {
        if let Some(search) = self.remembered_search() {
            let t = format!("¡Hola de nuevo{}! 👋 ¿Seguimos con lo {search}?", self.name());
            let s = &self.st.slots;
            if let (Some(a), Some(b), Some(g)) = (s.check_in, s.check_out, s.guests)
                && let Ok(stay) = Stay::new(a, b)
            {
                let again = Choice::new(offer_id("check", s.unit, &stay, g), "Sí, seguimos");
                return self.choices(t, vec![again, Choice::new("other_dates", "Otras fechas")]);
            }
            return self.text(t);
        }
        let mut t = format!(
            "¡Hola{}! 👋 Soy el asistente de {}. Te cuento qué hay libre y cuánto sale, te muestro las cabañas y te dejo la reserva hecha.",
            self.name(),
            self.ctx.property.name
        );
        t.push_str(match self.st.stage {
            Stage::AwaitingGuests => "\n¿Cuántas personas van a ser?",
            _ => "\n¿Para qué fechas y cuántos son?",
        });
        self.text(t);
    }

    fn thanks(&mut self) {
        let hold = match &self.st.stage {
            Stage::Holding { code } => self.booking(code).filter(|b| b.status == ReservationStatus::PreReserved),
            _ => None,
        };
        match hold.and_then(|b| b.expires_at) {
            Some(at) => {
                let t = format!("¡De nada! Acordate de pagar la seña {} para no perder la reserva 🙂", self.until(at));
                self.text(t)
            }
            None => self.text("¡De nada! Cualquier cosa, escribime 🙂"),
        }
    }

    /// How the owner's alerts name the guest.
    fn who(&self) -> String {
        self.st
            .reservation_name
            .clone()
            .or_else(|| self.ctx.contact_name.clone().filter(|n| say::first_name(n).is_some()))
            .or_else(|| self.st.name.clone())
            .unwrap_or_else(|| "Un huésped".into())
    }

    /// `said`: the guest's own words asking for a person; `None` when picked from an offer.
    fn hand_off(&mut self, said: Option<&str>) {
        let who = self.who();
        let text = match said {
            Some(t) => format!("{who} quiere hablar con una persona. Último mensaje: “{}”", say::clip(t.trim(), 300)),
            None if self.st.failures >= crate::MAX_FAILURES => {
                format!("{who} quiere hablar con una persona (el bot no le estaba entendiendo).")
            }
            None => format!("{who} quiere hablar con una persona."),
        };
        self.fx.push(Effect::HandOff);
        self.fx.push(Effect::AlertOwner { text });
        self.text("Dale, ya le aviso a alguien del equipo y te responde por acá en cuanto pueda 🙂");
        self.give_to_person();
    }

    /// The chat goes to a person: the bot stays silent until released.
    fn give_to_person(&mut self) {
        self.st.stage = Stage::HandedOff;
        self.st.choices.clear();
        self.st.failures = 0;
    }

    /// An honest "I don't know that" with a person offered, and the open question again.
    /// While an offer is open its buttons stay the ones to answer: the person is offered in words.
    fn offer_person(&mut self, what: &str) {
        if matches!(self.st.stage, Stage::Offered { .. }) && !self.st.choices.is_empty() {
            return self
                .text(format!("{what} Si querés, te paso con una persona: escribime «quiero hablar con alguien»."));
        }
        let body = self.with_reask(format!("{what} ¿Querés que te pase con una persona?"));
        self.choices(
            body,
            vec![Choice::new("yes:human", "Sí, con una persona"), Choice::new("no:human", "No, sigo acá")],
        );
    }

    // ---- confirmations ------------------------------------------------------------------------

    fn confirm_question(&self, s: &Slots) -> String {
        let mut parts = Vec::new();
        if let Some(u) = s.unit {
            parts.push(self.the_unit(u));
        }
        match (s.check_in, s.check_out) {
            (Some(a), Some(b)) if b > a => parts.push(self.range(&Stay { check_in: a, check_out: b })),
            (Some(a), _) => parts.push(format!("desde el {}", say::date(a, self.ctx.today))),
            (None, Some(b)) => parts.push(format!("hasta el {}", say::date(b, self.ctx.today))),
            (None, None) => {
                if let Some(n) = s.nights {
                    parts.push(format!("por {}", say::nights(n)));
                }
            }
        }
        match s.guests {
            Some(g) if parts.is_empty() => return format!("¿Son {}, no?", say::people(g)),
            Some(g) => parts.push(format!("para {g}")),
            None => {}
        }
        let q = capital(&parts.join(" "));
        format!("¿{q}, no?")
    }

    fn on_confirm_answer(&mut self, pending: Slots, reserve: bool, yes: bool, rest: &str) {
        self.st.stage = Stage::Idle;
        self.st.choices.clear();
        self.st.failures = 0;
        let correction = (!rest.trim().is_empty()).then(|| self.analyze(rest));
        let mut slots = pending;
        if let Some(c) = correction.as_ref().filter(|c| has_stay_facts(c) || c.unit.is_some() || c.period.is_some()) {
            let fix = self.slots_of(c);
            memory::merge(&mut slots, &fix);
        } else if !yes {
            self.st.slots =
                Slots { guests: None, check_in: None, check_out: None, nights: None, ..self.st.slots.clone() };
            self.st.stage = Stage::AwaitingDates;
            self.text("Perdón 🙏 ¿Me decís de nuevo las fechas y cuántos son?");
            return;
        }
        self.st.slots = slots;
        let _ = reserve;
        self.proceed();
    }

    // ---- choices ------------------------------------------------------------------------------

    /// Acts on an option id (button, list row, or an option picked by number / words). A
    /// `reserve:` option is the guest's explicit yes to a priced offer.
    fn on_choice(&mut self, id: &str) -> bool {
        let parts: Vec<&str> = id.split(':').collect();
        if parts.as_slice() != ["yes", "human"] {
            self.st.failures = 0;
        }
        match parts.as_slice() {
            ["reserve", rest @ ..] => {
                let Some((Some(unit), stay, guests)) = parse_offer(rest) else { return false };
                if self.ctx.unit(unit).is_none() {
                    return false;
                }
                let total = self.offered_total(unit, &stay);
                self.st.slots.check_in = Some(stay.check_in);
                self.st.slots.check_out = Some(stay.check_out);
                self.st.slots.nights = None;
                self.st.slots.guests = Some(guests);
                self.st.slots.unit = Some(unit);
                self.hold(vec![Offer { unit_id: unit, stay, guests, total }]);
                true
            }
            ["group", units, ci, co] => {
                let Some(offers) = self.parse_group(units, ci, co) else { return false };
                self.hold(offers);
                true
            }
            ["check", rest @ ..] => {
                let Some((unit, stay, guests)) = parse_offer(rest) else { return false };
                self.st.slots.check_in = Some(stay.check_in);
                self.st.slots.check_out = Some(stay.check_out);
                self.st.slots.nights = None;
                self.st.slots.guests = Some(guests);
                self.st.slots.unit = unit.filter(|u| self.ctx.unit(*u).is_some());
                self.proceed();
                true
            }
            ["other_dates"] => {
                self.st.slots.check_in = None;
                self.st.slots.check_out = None;
                self.st.slots.nights = None;
                self.st.stage = Stage::AwaitingDates;
                self.st.choices.clear();
                self.text("Dale, ¿qué otras fechas te sirven?");
                true
            }
            ["keep", code] => {
                self.keep(code);
                true
            }
            ["move", rest @ ..] => {
                let Some((Some(unit), stay, guests)) = parse_offer(rest) else { return false };
                self.confirm_move(unit, stay, guests)
            }
            ["yes", "confirm"] | ["no", "confirm"] => {
                let Stage::Confirming { pending, reserve } = self.st.stage.clone() else { return false };
                self.on_confirm_answer(pending, reserve, parts[0] == "yes", "");
                true
            }
            ["yes", "cancel", code] => {
                self.on_cancel_answer(code, true);
                true
            }
            ["no", "cancel"] => {
                let code = match &self.st.stage {
                    Stage::ConfirmCancel { code } => code.clone(),
                    _ => String::new(),
                };
                self.on_cancel_answer(&code, false);
                true
            }
            ["cancel", code] => {
                let Some(b) = self.booking(code) else { return false };
                self.cancel_booking(&b);
                true
            }
            ["change", code] => {
                let Some(b) = self.booking(code) else { return false };
                self.change_booking(&b, None, "");
                true
            }
            ["yes", "human"] => {
                self.hand_off(None);
                true
            }
            ["no", "human"] => {
                self.st.choices.clear();
                let open = self.reask();
                if !matches!(self.st.stage, Stage::AskingName { .. } | Stage::Holding { .. }) && open.is_none() {
                    self.st.stage = Stage::Idle;
                }
                match open {
                    Some(q) => self.text(format!("Dale, sigo yo 🙂 {q}")),
                    None => self.text(
                        "Dale, sigo yo 🙂 Contame para qué fechas y cuántos son, o qué querés saber de las cabañas.",
                    ),
                }
                true
            }
            _ => false,
        }
    }

    /// A typed answer to the options last offered. Holds only on an explicit yes: a tap, a
    /// number, "dale", "sí, la grande", "reservala", "me quedo con la arrayán". A cabin's name
    /// alone gets the confirmation for that cabin; a question is answered, never taken as a yes.
    fn on_pick(&mut self, a: &Analysis, text: &str) -> bool {
        if matches!(a.intent, Intent::Cancel | Intent::Human | Intent::Payment | Intent::Change | Intent::Status) {
            return false;
        }
        let question = text.contains('?')
            || matches!(a.intent, Intent::Price | Intent::Info)
            || a.topic.is_some()
            || a.sort.is_some();
        let new_facts = has_stay_facts(a) || a.period.is_some();
        // A number or an ordinal: "2", "la segunda", "opción 2" (not "¿y la primera?").
        if !new_facts
            && !text.contains('?')
            && let Some(n) = chosen_number(text)
            && let Some(c) = self.st.choices.get(n - 1).cloned()
        {
            return self.on_choice(&c.id);
        }
        if new_facts {
            return false;
        }
        let reserve_options: Vec<Choice> = self
            .st
            .choices
            .iter()
            .filter(|c| c.id.starts_with("reserve:") || c.id.starts_with("group:"))
            .cloned()
            .collect();
        // "sí", "dale", "reservo", "sí, la grande".
        if let Some((yes, rest)) = yes_no(text) {
            if !yes {
                // "no, sigo acá": the words of an option that starts with "no".
                if let Some(c) = select_choice(&self.st.choices, text).cloned()
                    && !c.id.starts_with("reserve:")
                    && !rest.trim().is_empty()
                {
                    return self.on_choice(&c.id);
                }
                if rest.trim().is_empty() {
                    let nos: Vec<Choice> = self.st.choices.iter().filter(|c| c.id.starts_with("no")).cloned().collect();
                    if let [only] = nos.as_slice() {
                        return self.on_choice(&only.id.clone());
                    }
                    if let Some(keep) = self.st.choices.iter().find(|c| c.id.starts_with("keep:")).cloned() {
                        return self.on_choice(&keep.id);
                    }
                    if self.st.choices.iter().any(|c| c.id == "other_dates") {
                        return self.on_choice("other_dates");
                    }
                }
                return false;
            }
            if rest.trim().is_empty() {
                // An option that says yes: "Sí, 3 noches", "Sí, con una persona".
                let yeses: Vec<Choice> = self
                    .st
                    .choices
                    .iter()
                    .filter(|c| c.id.starts_with("yes") || normalize(&c.title).split(' ').next() == Some("si"))
                    .cloned()
                    .collect();
                if let [only] = reserve_options.as_slice() {
                    return self.on_choice(&only.id.clone());
                }
                if reserve_options.is_empty()
                    && let [only] = yeses.as_slice()
                {
                    return self.on_choice(&only.id.clone());
                }
                if reserve_options.is_empty()
                    && let Some(c) = self
                        .st
                        .choices
                        .iter()
                        .find(|c| c.id.starts_with("check:") || c.id.starts_with("move:"))
                        .cloned()
                    && self
                        .st
                        .choices
                        .iter()
                        .filter(|c| c.id.starts_with("check:") || c.id.starts_with("move:"))
                        .count()
                        == 1
                {
                    return self.on_choice(&c.id);
                }
                if reserve_options.len() > 1 {
                    self.ask_which(&reserve_options);
                    return true;
                }
                return false;
            }
            if let Some(c) = self.option_named(&rest, &reserve_options) {
                return self.on_choice(&c.id);
            }
            // "dale, la reservo", "sí, esa", "de una, las dos": a yes that books; "dale, lo
            // consulto y te aviso", "ok gracias", "sí, pero ¿cuánto es la seña?" are not.
            let rest_a = self.analyze(&rest);
            let books = rest_a.intent == Intent::Reserve || decided(&rest) || {
                let n = normalize(&rest);
                [
                    "esa",
                    "esa misma",
                    "las dos",
                    "las tres",
                    "ambas",
                    "de una",
                    "reservala",
                    "reservalas",
                    "hacela",
                    "va",
                ]
                .contains(&n.as_str())
            };
            if books && !has_stay_facts(&rest_a) && rest_a.unit.is_none() && !rest.contains('?') {
                if let [only] = reserve_options.as_slice() {
                    return self.on_choice(&only.id.clone());
                }
                if reserve_options.len() > 1 {
                    self.ask_which(&reserve_options);
                    return true;
                }
            }
            return false;
        }
        // "reservala", "reservo la coihue", "me quedo con la arrayán".
        if (a.intent == Intent::Reserve || decided(text)) && !question {
            if let Some(c) = self.option_named(text, &reserve_options) {
                return self.on_choice(&c.id);
            }
            if let [only] = reserve_options.as_slice() {
                return self.on_choice(&only.id.clone());
            }
            if reserve_options.len() > 1 {
                self.ask_which(&reserve_options);
                return true;
            }
            return false;
        }
        if question {
            return false;
        }
        // Words of an option: "otras fechas", "sí, 2 noches"; a cabin's name alone asks first.
        if let Some(c) = select_choice(&self.st.choices, text).cloned() {
            if c.id.starts_with("reserve:") {
                return self.confirm_pick(&c);
            }
            return self.on_choice(&c.id);
        }
        false
    }

    /// The reserve option whose cabin the text names.
    fn option_named(&self, text: &str, options: &[Choice]) -> Option<Choice> {
        let unit = self.analyze(text).unit.and_then(|s| self.unit_by_slug(&s));
        if let Some(u) = unit {
            return options.iter().find(|c| c.id.starts_with(&format!("reserve:{u}:"))).cloned();
        }
        select_choice(options, text).cloned()
    }

    fn ask_which(&mut self, options: &[Choice]) {
        let mut options = options.to_vec();
        options.push(Choice::new("other_dates", "Otras fechas"));
        self.choices("¿Cuál te reservo?", options);
    }
}
