//! The dialogue itself. Everything here is total: bad ids, stale events and odd states all end
//! in a sensible reply or in silence, never in a panic.

use crate::render::{chosen_number, fit_title, reserve_title, select_choice};
use crate::say::{self, normalize};
use crate::*;
use domain::{RuleEffect, RuleScope};
use nlu::{Analysis, Intent, Topic};

/// Below this the understanding is a guess: ask to rephrase.
const ACT: f32 = 0.45;
/// Below this (and at least [`ACT`]) confirm before acting.
const SURE: f32 = 0.75;

pub(crate) fn step(state: &State, event: Event, ctx: &Context) -> Step {
    let mut e = Engine { ctx, st: state.clone(), fx: Vec::new() };
    if let Some(name) = ctx.contact_name.as_ref().filter(|n| !n.trim().is_empty()) {
        e.st.name = Some(name.clone());
    }
    let handed_off = e.st.stage == Stage::HandedOff;
    match event {
        Event::Message { text, kind } => {
            if e.st.expired(ctx.now) {
                e.st = e.st.fresh_keeping_name();
            }
            e.st.last_message_at = Some(ctx.now);
            if !handed_off {
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
        Event::HoldPlaced(b) if handed_off => e.st.hold = Some(b),
        _ if handed_off => {}
        Event::Availability(r) => e.on_availability(r),
        Event::HoldPlaced(b) => e.on_hold_placed(b),
        Event::HoldFailed { reason } => e.on_hold_failed(reason),
        Event::Cancelled { code } => e.on_cancelled(&code),
        Event::HoldReminder { code } => e.on_reminder(&code),
        Event::HoldExpired { code } => e.on_expired(&code),
        Event::PaymentLink { code, url } => e.on_payment_link(&code, &url),
        Event::PaymentConfirmed { code } => e.on_paid(&code),
    }
    Step { state: e.st, effects: e.fx }
}

struct Engine<'a> {
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
    )
}

/// A leading yes / no and what follows it: "no, somos 5" → (false, "somos 5").
fn yes_no(text: &str) -> Option<(bool, String)> {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    let (first, rest) = words.split_first()?;
    let answer = if *first == "no" || *first == "nop" || *first == "nope" || *first == "negativo" {
        false
    } else if yes_word(first) || (words.len() >= 2 && words[..2] == ["de", "una"]) {
        true
    } else {
        return None;
    };
    // Keep the original wording of the rest for the understanding (accents, numbers).
    let rest_text = if rest.is_empty() {
        String::new()
    } else {
        let cut = text.find([',', ' ', '.', '!']).unwrap_or(text.len());
        text[cut..].trim_start_matches([',', ' ', '.', '!']).to_string()
    };
    Some((answer, rest_text))
}

fn has_stay_facts(a: &Analysis) -> bool {
    a.check_in.is_some() || a.check_out.is_some() || a.nights.is_some() || a.guests.is_some()
}

fn amenity_words(topic: Topic) -> Option<(&'static [&'static str], &'static str)> {
    Some(match topic {
        Topic::Pool => (&["pileta", "piscina", "pool"], "pileta"),
        Topic::Wifi => (&["wifi", "wi fi", "internet"], "wifi"),
        Topic::Parking => (&["estacionamiento", "cochera", "parking", "garage", "garaje"], "estacionamiento"),
        Topic::Grill => (&["parrilla", "asador", "quincho", "parrillero"], "parrilla"),
        _ => return None,
    })
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

    /// The question still open, to repeat after a side answer.
    fn reask(&self) -> Option<&'static str> {
        match self.st.stage {
            Stage::AwaitingDates => Some("¿Para qué fechas buscás?"),
            Stage::AwaitingGuests => Some("¿Cuántas personas van a ser?"),
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
            MessageKind::Other => {
                self.text("Por ahora solo puedo leer mensajes de texto y audios 🙏 ¿Me lo escribís?");
                return;
            }
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

    fn on_text(&mut self, text: &str) {
        if text.trim().is_empty() {
            return self.failure();
        }
        let mut a = nlu::analyze(text, self.ctx.today, &self.ctx.unit_refs());

        // 1. Answers to the question just asked come first.
        match self.st.stage.clone() {
            Stage::Confirming { pending, reserve } => {
                if let Some((yes, rest)) = yes_no(text) {
                    return self.on_confirm_answer(pending, reserve, yes, &rest);
                }
                if a.intent == Intent::Availability || a.intent == Intent::Reserve {
                    // A fresh wording of the request replaces the doubtful one.
                    self.st.stage = Stage::Idle;
                    self.st.slots = Slots::default();
                    return self.request(&a, a.intent == Intent::Reserve, true);
                }
                self.st.stage = Stage::Idle;
            }
            Stage::ConfirmCancel { code } => {
                if let Some((yes, _)) = yes_no(text) {
                    return self.on_cancel_answer(&code, yes);
                }
                self.st.stage = Stage::Idle;
            }
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
            _ => {}
        }

        // 2. A pick among the options last offered.
        let picking = !self.st.choices.is_empty()
            && !matches!(a.intent, Intent::Cancel | Intent::Human | Intent::Payment)
            && (self.st.stage != Stage::AwaitingGuests || !has_stay_facts(&a));
        if picking {
            let number =
                chosen_number(text).filter(|_| a.guests.is_none() && a.nights.is_none() && a.check_out.is_none());
            if let Some(n) = number {
                if let Some(c) = self.st.choices.get(n - 1).cloned()
                    && self.on_choice(&c.id)
                {
                    return;
                }
            } else if !has_stay_facts(&a) {
                if let Some(c) = select_choice(&self.st.choices, text).cloned()
                    && self.on_choice(&c.id)
                {
                    return;
                }
                if let Some((yes, rest)) = yes_no(text)
                    && rest.trim().is_empty()
                {
                    let prefix = if yes { "yes" } else { "no" };
                    let picks: Vec<Choice> =
                        self.st.choices.iter().filter(|c| c.id.starts_with(prefix)).cloned().collect();
                    if let [only] = picks.as_slice()
                        && self.on_choice(&only.id.clone())
                    {
                        return;
                    }
                    if !yes && self.st.choices.iter().any(|c| c.id == "other_dates") {
                        self.st.slots.check_in = None;
                        self.st.slots.check_out = None;
                        self.st.slots.nights = None;
                        self.st.stage = Stage::AwaitingDates;
                        self.st.choices.clear();
                        self.text("Dale, sin problema. Si querés probar con otras fechas, decime cuáles 🙂");
                        return;
                    }
                    if yes && self.st.choices.iter().filter(|c| c.id.starts_with("reserve:")).count() == 1 {
                        let id = self.st.choices.iter().find(|c| c.id.starts_with("reserve:")).unwrap().id.clone();
                        if self.on_choice(&id) {
                            return;
                        }
                    }
                }
            }
        }

        // 3. The understanding.
        self.on_analysis(&a, text);
    }

    fn in_flow(&self) -> bool {
        matches!(
            self.st.stage,
            Stage::AwaitingDates | Stage::AwaitingGuests | Stage::Offered { .. } | Stage::Checking { .. }
        )
    }

    fn on_analysis(&mut self, a: &Analysis, text: &str) {
        // The understanding reads "¿qué comodidades tienen?" as a request without facts.
        if a.intent == Intent::Availability && !has_stay_facts(a) && a.unit.is_none() {
            let norm = normalize(text);
            if ["comodidades", "servicios", "que incluye", "equipamiento", "equipada", "como son las cabanas"]
                .iter()
                .any(|w| norm.contains(w))
            {
                let info = Analysis { intent: Intent::Info, topic: Some(Topic::Amenities), ..a.clone() };
                self.st.failures = 0;
                return self.info(&info);
            }
        }
        // "reservala" / "reservo la coihue" right after an offer.
        if a.intent == Intent::Reserve
            && !has_stay_facts(a)
            && let Stage::Offered { offers } = self.st.stage.clone()
        {
            let unit = a.unit.as_deref().and_then(|s| self.unit_by_slug(s));
            let pick = match unit {
                Some(u) => offers.iter().find(|o| o.unit_id == u).copied(),
                None if offers.len() == 1 => offers.first().copied(),
                None => None,
            };
            self.st.failures = 0;
            if let Some(o) = pick {
                return self.place_hold(o);
            }
            if unit.is_none() && !offers.is_empty() {
                let mut options: Vec<Choice> = offers
                    .iter()
                    .filter_map(|o| {
                        let u = self.ctx.unit(o.unit_id)?;
                        Some(
                            Choice::new(offer_id("reserve", Some(u.id), &o.stay, o.guests), reserve_title(&u.name))
                                .with_description(format!("{} en total", say::money(o.total))),
                        )
                    })
                    .collect();
                options.push(Choice::new("other_dates", "Otras fechas"));
                return self.choices("¿Cuál te reservo?", options);
            }
        }
        let answering = self.in_flow() && has_stay_facts(a);
        if a.intent == Intent::Unknown || (a.confidence < ACT && !answering) {
            return self.failure();
        }
        self.st.failures = 0;
        match a.intent {
            Intent::Greeting => self.greet(),
            Intent::Thanks => self.thanks(),
            Intent::Human => self.hand_off(Some(text)),
            Intent::Cancel | Intent::Status | Intent::Change => self.cancel(text),
            Intent::Payment => self.payment(text),
            Intent::Info => self.info(a),
            Intent::Price => self.price(a),
            Intent::Availability | Intent::Reserve => self.request(a, a.intent == Intent::Reserve, false),
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
            _ => "«¿Tienen lugar del 15 al 20 de enero para 4?» o «¿Cuánto sale la noche?»",
        };
        self.text(format!("Perdón, no te entendí 🙏 Podés escribirme, por ejemplo: {examples}"));
    }

    fn greet(&mut self) {
        let mut t = format!(
            "¡Hola{}! 👋 Soy el asistente de {}. Te cuento qué hay libre y cuánto sale, te muestro las cabañas y te dejo la reserva hecha.",
            self.name(),
            self.ctx.property_name
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

    /// `said`: the guest's own words asking for a person; `None` when picked from an offer.
    fn hand_off(&mut self, said: Option<&str>) {
        let who = self.st.name.clone().unwrap_or_else(|| "Un huésped".into());
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
        self.st.stage = Stage::HandedOff;
        self.st.choices.clear();
        self.st.failures = 0;
    }

    // ---- confirmations -------------------------------------------------------------------------

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
        let mut q = parts.join(" ");
        if let Some(first) = q.chars().next() {
            q = first.to_uppercase().collect::<String>() + &q[first.len_utf8()..];
        }
        format!("¿{q}, no?")
    }

    fn on_confirm_answer(&mut self, pending: Slots, reserve: bool, yes: bool, rest: &str) {
        self.st.stage = Stage::Idle;
        self.st.choices.clear();
        self.st.failures = 0;
        let correction = (!rest.trim().is_empty()).then(|| nlu::analyze(rest, self.ctx.today, &self.ctx.unit_refs()));
        let mut slots = pending;
        if let Some(c) = correction.as_ref().filter(|c| has_stay_facts(c) || c.unit.is_some()) {
            let fix = self.slots_of(c);
            merge(&mut slots, &fix);
        } else if !yes {
            self.st.slots = Slots { guests: None, check_in: None, check_out: None, nights: None, ..self.st.slots };
            self.st.stage = Stage::AwaitingDates;
            self.text("Perdón 🙏 ¿Me decís de nuevo las fechas y cuántos son?");
            return;
        }
        self.st.slots = slots;
        self.proceed(reserve);
    }

    // ---- requests ----------------------------------------------------------------------------

    fn slots_of(&self, a: &Analysis) -> Slots {
        Slots {
            check_in: a.check_in,
            check_out: a.check_out,
            nights: a.nights,
            guests: a.guests.filter(|g| (1..=60).contains(g)),
            unit: a.unit.as_deref().and_then(|s| self.unit_by_slug(s)),
        }
    }

    fn request(&mut self, a: &Analysis, reserve: bool, fresh: bool) {
        if a.past_date {
            self.st.slots.check_in = None;
            self.st.slots.check_out = None;
            self.st.slots.nights = None;
            self.st.stage = Stage::AwaitingDates;
            self.st.choices.clear();
            self.text("Esa fecha ya pasó 🙈 ¿Para qué fechas buscás?");
            return;
        }
        let new = self.slots_of(a);
        if !fresh && !self.in_flow() && a.confidence < SURE && new != Slots::default() {
            let mut pending = self.st.slots;
            merge(&mut pending, &new);
            self.st.stage = Stage::Confirming { pending, reserve };
            let q = self.confirm_question(&new);
            self.choices(q, vec![Choice::new("yes:confirm", "Sí"), Choice::new("no:confirm", "No")]);
            return;
        }
        merge(&mut self.st.slots, &new);
        self.proceed(reserve);
    }

    /// Asks for what is missing, or checks availability when everything is known.
    fn proceed(&mut self, reserve: bool) {
        let s = self.st.slots;
        self.st.choices.clear();
        let (check_in, check_out) = match (s.check_in, s.check_out) {
            (Some(a), Some(b)) => (a, b),
            (None, None) => {
                self.st.stage = Stage::AwaitingDates;
                let t = match (s.nights, s.unit) {
                    (Some(n), _) => format!("Dale, {}. ¿Desde qué día?", say::nights(n)),
                    (None, Some(u)) => format!(
                        "¡Buena elección, {}! ¿Para qué fechas la querés? Por ejemplo: «del 15 al 20 de enero»",
                        self.unit_name(u)
                    ),
                    (None, None) => "¿Para qué fechas buscás? Por ejemplo: «del 15 al 20 de enero» o «el finde»".into(),
                };
                return self.text(t);
            }
            (Some(a), None) => {
                self.st.stage = Stage::AwaitingDates;
                let t = format!("¿Hasta qué día se quedarían? Llegan el {}.", say::date(a, self.ctx.today));
                return self.text(t);
            }
            (None, Some(b)) => {
                self.st.stage = Stage::AwaitingDates;
                let t = format!("¿Y qué día llegarían? Se van el {}.", say::date(b, self.ctx.today));
                return self.text(t);
            }
        };
        let stay = match Stay::new(check_in, check_out) {
            Ok(stay) if check_in >= self.ctx.today => stay,
            Ok(_) => {
                self.st.slots.check_in = None;
                self.st.slots.check_out = None;
                self.st.stage = Stage::AwaitingDates;
                return self.text("Esa fecha ya pasó 🙈 ¿Para qué fechas buscás?");
            }
            Err(domain::StayError::TooLong { max }) => {
                self.st.slots.check_in = None;
                self.st.slots.check_out = None;
                self.st.slots.nights = None;
                self.st.stage = Stage::AwaitingDates;
                return self.text(format!(
                    "Por este medio tomo estadías de hasta {max} noches. ¿Qué fechas querés? Para algo más largo te paso con una persona."
                ));
            }
            Err(_) => {
                self.st.slots.check_out = None;
                self.st.stage = Stage::AwaitingDates;
                return self.text("La salida tiene que ser después de la llegada 🙂 ¿Hasta qué día se quedarían?");
            }
        };
        let Some(guests) = s.guests else {
            self.st.stage = Stage::AwaitingGuests;
            let t = format!(
                "{} ({}). ¿Cuántas personas van a ser?",
                capital(&self.range(&stay)),
                say::nights(stay.nights())
            );
            return self.text(t);
        };
        let max = self.max_capacity();
        if max > 0 && guests > max {
            self.st.slots.guests = None;
            self.st.stage = Stage::AwaitingGuests;
            let biggest =
                self.ctx.units.iter().max_by_key(|u| u.capacity).map(|u| say::the_unit(&u.name)).unwrap_or_default();
            let body = format!(
                "Uy, para {guests} no tengo una cabaña 😕 La más grande es {biggest}, para {max} personas. Si son menos, decime cuántos; si no, te paso con una persona para ver opciones."
            );
            return self.choices(body, vec![Choice::new("yes:human", "Hablar con alguien")]);
        }
        self.st.stage = Stage::Checking { reserve, after_taken: false };
        self.fx.push(Effect::CheckAvailability { stay, guests, unit: s.unit });
    }

    // ---- availability --------------------------------------------------------------------------

    fn on_availability(&mut self, r: AvailabilityResult) {
        let (reserve, after_taken) = match self.st.stage {
            Stage::Checking { reserve, after_taken } => (reserve, after_taken),
            _ => (false, false),
        };
        self.st.slots.check_in = Some(r.stay.check_in);
        self.st.slots.check_out = Some(r.stay.check_out);
        self.st.slots.guests = Some(r.guests);
        self.st.slots.nights = None;
        self.st.choices.clear();
        let known: Vec<&UnitOption> = r.results.iter().filter(|o| self.ctx.unit(o.unit_id).is_some()).collect();
        let free: Vec<&UnitOption> = known.iter().copied().filter(|o| o.available && o.reason.is_none()).collect();
        let when = format!("{} ({}) para {}", self.range(&r.stay), say::nights(r.stay.nights()), r.guests);
        let wanted = r.unit.and_then(|w| known.iter().copied().find(|o| o.unit_id == w));

        if let Some(w) = wanted {
            if free.iter().any(|o| o.unit_id == w.unit_id) {
                if reserve {
                    let offer = Offer { unit_id: w.unit_id, stay: r.stay, guests: r.guests, total: w.quote.total };
                    self.fx.push(Effect::RecordQuote { unit_id: w.unit_id, stay: r.stay, total: w.quote.total });
                    return self.place_hold(offer);
                }
                let body = format!("{} tengo libre {}. ¿Te la reservo?", capital(&when), self.the_unit(w.unit_id));
                return self.offer(&[w], &r, body, Vec::new());
            }
            let name = self.the_unit(w.unit_id);
            let mut lines = Vec::new();
            let mut extra = Vec::new();
            match w.reason {
                Some(Unavailable::TooManyGuests { capacity }) => {
                    lines.push(format!("{} es para {} como máximo.", capital(&name), say::people(capacity)))
                }
                Some(Unavailable::MinNights { min }) => {
                    lines.push(format!("Para esas fechas {name} pide un mínimo de {}.", say::nights(min)));
                    if let Ok(longer) = Stay::new(r.stay.check_in, r.stay.check_in + chrono::Days::new(min as u64)) {
                        extra.push(
                            Choice::new(
                                offer_id("check", Some(w.unit_id), &longer, r.guests),
                                format!("Sí, {}", say::nights(min)),
                            )
                            .with_description(self.range(&longer)),
                        );
                    }
                }
                _ if after_taken => {}
                _ => lines.push(format!("{} está ocupada {} 😕", capital(&name), self.range(&r.stay))),
            }
            let min_offered = !extra.is_empty();
            let windows: Vec<Choice> = r
                .alternatives
                .iter()
                .filter(|a| a.unit_id == w.unit_id)
                .take(if min_offered { 2 } else { 3 })
                .map(|alt| self.alternative_choice(alt, r.guests, false))
                .collect();
            let has_windows = !windows.is_empty();
            extra.extend(windows);
            let others: Vec<&UnitOption> = free.iter().copied().filter(|o| o.unit_id != w.unit_id).collect();
            if !others.is_empty() {
                lines.push(if others.len() > 1 {
                    "Para esas mismas fechas tengo libres estas cabañas:".to_string()
                } else {
                    "Para esas mismas fechas tengo libre esta otra:".to_string()
                });
                self.text(lines.join("\n"));
                let which = if others.len() > 1 { "alguna" } else { "esta" };
                let body = if extra.is_empty() {
                    format!("¿Te reservo {which}?")
                } else {
                    format!("¿Te reservo {which}, o preferís otras fechas para {name}?")
                };
                return self.offer(&others, &r, body, extra);
            }
            if min_offered {
                lines.push("¿Te la busco con el mínimo?".into());
            } else if has_windows {
                lines.push(format!("Lo más cerca que la tengo libre, {}:", say::nights(r.stay.nights())));
            } else {
                lines.push("¿Probamos con otras fechas?".into());
            }
            self.st.stage = Stage::Idle;
            extra.push(Choice::new("other_dates", "Otras fechas"));
            return self.choices(lines.join("\n"), extra);
        }

        if !free.is_empty() {
            let body = if free.len() == 1 {
                format!("{} tengo libre {}. ¿Te la reservo?", capital(&when), self.the_unit(free[0].unit_id))
            } else {
                format!("{} tengo libres estas cabañas. ¿Cuál te reservo?", capital(&when))
            };
            return self.offer(&free, &r, body, Vec::new());
        }

        self.st.stage = Stage::Idle;
        let fits: Vec<&UnitOption> =
            known.iter().copied().filter(|o| !matches!(o.reason, Some(Unavailable::TooManyGuests { .. }))).collect();
        if fits.is_empty() {
            let max = self.max_capacity();
            self.st.slots.guests = None;
            self.st.stage = Stage::AwaitingGuests;
            let body = format!(
                "Uy, para {} no tengo una cabaña 😕 La más grande es para {max} personas. Si son menos, decime cuántos; si no, te paso con una persona para ver opciones.",
                r.guests
            );
            return self.choices(body, vec![Choice::new("yes:human", "Hablar con alguien")]);
        }
        let mut lines = Vec::new();
        let mut extra = Vec::new();
        let min = fits
            .iter()
            .filter_map(|o| match o.reason {
                Some(Unavailable::MinNights { min }) => Some(min),
                _ => None,
            })
            .min();
        if let Some(min) = min {
            lines.push(format!("Para esas fechas la estadía mínima es de {}.", say::nights(min)));
            if let Ok(longer) = Stay::new(r.stay.check_in, r.stay.check_in + chrono::Days::new(min as u64)) {
                extra.push(
                    Choice::new(offer_id("check", None, &longer, r.guests), format!("Sí, {}", say::nights(min)))
                        .with_description(self.range(&longer)),
                );
            }
        } else if !after_taken {
            lines.push(format!(
                "{} no me queda ninguna cabaña libre para {} 😕",
                capital(&self.range(&r.stay)),
                r.guests
            ));
        }
        let several_units = r.alternatives.iter().any(|a| a.unit_id != r.alternatives[0].unit_id);
        for alt in r.alternatives.iter().take(3) {
            extra.push(self.alternative_choice(alt, r.guests, several_units));
        }
        if r.alternatives.is_empty() || min.is_some() {
            lines.push("¿Probamos con otras fechas?".into());
        } else {
            lines.push(format!("Lo más cerca que tengo libre, {}:", say::nights(r.stay.nights())));
        }
        extra.push(Choice::new("other_dates", "Otras fechas"));
        self.choices(lines.join("\n"), extra);
    }

    fn alternative_choice(&self, alt: &Alternative, guests: u32, with_unit: bool) -> Choice {
        let name = self.unit_name(alt.unit_id);
        let title = if with_unit {
            let dates = say::tight_range(&alt.stay);
            let room = crate::LIMITS.button_title.saturating_sub(dates.chars().count() + 1);
            format!("{} {dates}", abbreviate(&name, room))
        } else {
            say::short_range(&alt.stay)
        };
        Choice::new(offer_id("check", Some(alt.unit_id), &alt.stay, guests), title)
            .with_description(format!("{name}, {}", self.range(&alt.stay)))
    }

    /// One photo (or text) per unit with its price, then the choices.
    fn offer(&mut self, opts: &[&UnitOption], r: &AvailabilityResult, body: String, extra: Vec<Choice>) {
        let room = crate::LIMITS.list_rows - 1 - extra.len().min(crate::LIMITS.list_rows - 1);
        let mut options = Vec::new();
        let mut offers = Vec::new();
        for o in opts.iter().take(room) {
            let Some(u) = self.ctx.unit(o.unit_id) else { continue };
            let q = &o.quote;
            let caption = format!(
                "*{}* · hasta {}\n{}: {}\nSeña para reservar: {}",
                u.name,
                say::people(u.capacity),
                say::nights(r.stay.nights()),
                say::money(q.total),
                say::money(q.deposit)
            );
            let reply = match u.photos.first() {
                Some(p) => Reply::Photo { url: p.url.clone(), caption },
                None => Reply::Text(caption),
            };
            self.fx.push(Effect::Reply(reply));
            self.fx.push(Effect::RecordQuote { unit_id: u.id, stay: r.stay, total: q.total });
            options.push(
                Choice::new(offer_id("reserve", Some(u.id), &r.stay, r.guests), reserve_title(&u.name))
                    .with_description(format!("{} en total · seña {}", say::money(q.total), say::money(q.deposit))),
            );
            offers.push(Offer { unit_id: u.id, stay: r.stay, guests: r.guests, total: q.total });
        }
        options.extend(extra);
        options.push(Choice::new("other_dates", "Otras fechas"));
        self.st.stage = Stage::Offered { offers };
        self.choices(body, options);
    }

    // ---- choices -------------------------------------------------------------------------------

    /// Acts on an option id (button, list row, or an option picked by number / words).
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
                let total = match &self.st.stage {
                    Stage::Offered { offers } => offers
                        .iter()
                        .find(|o| o.unit_id == unit && o.stay == stay)
                        .map(|o| o.total)
                        .unwrap_or(Money::ZERO),
                    _ => Money::ZERO,
                };
                self.st.slots = Slots {
                    check_in: Some(stay.check_in),
                    check_out: Some(stay.check_out),
                    nights: None,
                    guests: Some(guests),
                    unit: Some(unit),
                };
                self.place_hold(Offer { unit_id: unit, stay, guests, total });
                true
            }
            ["check", rest @ ..] => {
                let Some((unit, stay, guests)) = parse_offer(rest) else { return false };
                self.st.slots = Slots {
                    check_in: Some(stay.check_in),
                    check_out: Some(stay.check_out),
                    nights: None,
                    guests: Some(guests),
                    unit: unit.filter(|u| self.ctx.unit(*u).is_some()),
                };
                self.proceed(false);
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
            ["yes", "human"] => {
                self.hand_off(None);
                true
            }
            ["no", "human"] => {
                self.st.choices.clear();
                self.st.stage = Stage::Idle;
                self.text("Dale, sigo yo 🙂 Contame para qué fechas y cuántos son, o qué querés saber de las cabañas.");
                true
            }
            _ => false,
        }
    }

    // ---- holds ---------------------------------------------------------------------------------

    fn place_hold(&mut self, offer: Offer) {
        self.st.choices.clear();
        self.st.stage = Stage::Reserving { offer };
        self.fx.push(Effect::PlaceHold {
            unit_id: offer.unit_id,
            stay: offer.stay,
            guests: offer.guests,
            guest_name: self.st.name.clone(),
        });
    }

    fn on_hold_placed(&mut self, b: BookingInfo) {
        let mut t = format!("¡Listo{}! Te reservé {} ✅\n", self.name(), self.the_unit(b.unit_id));
        t.push_str(&format!("Código: *{}*\n", b.code));
        t.push_str(&format!(
            "{} · {} · {}\n",
            capital(&self.range(&b.stay)),
            say::nights(b.stay.nights()),
            say::people(b.guests)
        ));
        t.push_str(&format!("Total: {} · Seña: {}\n", say::money(b.total), say::money(b.deposit)));
        match b.expires_at {
            Some(at) => t.push_str(&format!("Te la guardo {}; se confirma con el pago de la seña.", self.until(at))),
            None => t.push_str("Se confirma con el pago de la seña."),
        }
        match &b.payment_link {
            Some(link) => t.push_str(&format!("\nPagá acá: {link}")),
            None => t.push_str("\nEn un momento te paso el link de pago."),
        }
        self.text(t);
        self.st.stage = Stage::Holding { code: b.code.clone() };
        self.st.slots = Slots::default();
        self.st.choices.clear();
        self.st.hold = Some(b);
    }

    fn on_hold_failed(&mut self, reason: HoldFailure) {
        let offer = match &self.st.stage {
            Stage::Reserving { offer } => Some(*offer),
            _ => None,
        };
        self.st.choices.clear();
        match reason {
            HoldFailure::Taken => match offer {
                Some(o) => {
                    self.text(format!(
                        "Uy, justo se ocupó {} para esas fechas 😕 Te busco otras opciones…",
                        self.the_unit(o.unit_id)
                    ));
                    self.st.stage = Stage::Checking { reserve: false, after_taken: true };
                    self.fx.push(Effect::CheckAvailability { stay: o.stay, guests: o.guests, unit: Some(o.unit_id) });
                }
                None => {
                    self.st.stage = Stage::AwaitingDates;
                    self.text("Uy, justo se ocupó 😕 ¿Probamos con otras fechas?");
                }
            },
            HoldFailure::TooManyHolds => {
                self.st.stage = Stage::Idle;
                let pending = self.ctx.reservations.iter().find(|b| b.status == ReservationStatus::PreReserved);
                let t = match pending {
                    Some(b) => format!(
                        "Ya tenés una reserva esperando el pago: *{}*, {} {}. Pagá la seña o cancelala y armamos otra 🙂",
                        b.code,
                        self.unit_name(b.unit_id),
                        self.range(&b.stay)
                    ),
                    None => "Ya tenés reservas esperando el pago. Pagá la seña o cancelalas y armamos otra 🙂".into(),
                };
                self.text(t);
            }
            HoldFailure::Invalid(why) => {
                self.st.stage = Stage::Idle;
                let why = why.trim();
                let readable = !why.is_empty()
                    && why.chars().count() <= 200
                    && !why.contains(['_', '{', '}', '<', '>'])
                    && !why.to_lowercase().contains("error");
                let body = if readable {
                    format!("No pude hacer la reserva: {} 😕 ¿Probamos con otras fechas?", why.trim_end_matches('.'))
                } else {
                    "No pude hacer la reserva 😕 ¿Probamos con otras fechas?".into()
                };
                self.choices(
                    body,
                    vec![Choice::new("other_dates", "Otras fechas"), Choice::new("yes:human", "Hablar con alguien")],
                );
            }
        }
    }

    /// A reservation of this contact by code: the server's view first, then our memory.
    fn booking(&self, code: &str) -> Option<BookingInfo> {
        self.ctx
            .reservations
            .iter()
            .find(|b| b.code.eq_ignore_ascii_case(code))
            .cloned()
            .or_else(|| self.st.hold.clone().filter(|h| h.code.eq_ignore_ascii_case(code)))
    }

    /// Reservations that can still be paid or cancelled, most relevant first.
    fn open_bookings(&self) -> Vec<BookingInfo> {
        let mut out: Vec<BookingInfo> = self
            .ctx
            .reservations
            .iter()
            .filter(|b| {
                matches!(b.status, ReservationStatus::PreReserved | ReservationStatus::Confirmed)
                    && b.stay.check_out > self.ctx.today
            })
            .cloned()
            .collect();
        if let Some(h) = &self.st.hold {
            let lapsed = h.expires_at.is_some_and(|at| at <= self.ctx.now);
            if h.status == ReservationStatus::PreReserved
                && !lapsed
                && !self.ctx.reservations.iter().any(|b| b.code == h.code)
            {
                out.insert(0, h.clone());
            }
        }
        out
    }

    fn mentioned_code(&self, text: &str) -> Option<BookingInfo> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter_map(domain::ReservationCode::parse)
            .find_map(|c| self.booking(c.as_str()))
    }

    fn cancel(&mut self, text: &str) {
        self.st.choices.clear();
        let target = self.mentioned_code(text).or_else(|| {
            let open = self.open_bookings();
            if let Stage::Holding { code } = &self.st.stage
                && let Some(b) = open.iter().find(|b| &b.code == code)
            {
                return Some(b.clone());
            }
            (open.len() == 1).then(|| open[0].clone())
        });
        if let Some(b) = target {
            return self.cancel_booking(&b);
        }
        let open = self.open_bookings();
        if !open.is_empty() {
            self.st.stage = Stage::Idle;
            let options =
                open.iter()
                    .take(9)
                    .map(|b| {
                        Choice::new(format!("cancel:{}", b.code), fit_title("Cancelar", &b.code))
                            .with_description(format!("{}, {}", self.unit_name(b.unit_id), say::short_range(&b.stay)))
                    })
                    .collect();
            return self.choices("¿Cuál de tus reservas querés cancelar?", options);
        }
        if self.in_flow() || matches!(self.st.stage, Stage::Confirming { .. }) || self.st.slots != Slots::default() {
            self.st.stage = Stage::Idle;
            self.st.slots = Slots::default();
            return self.text("Listo, dejamos la búsqueda. Cuando quieras, escribime 🙂");
        }
        self.st.stage = Stage::Idle;
        self.text("No veo reservas hechas desde este número. Si tenés un código de reserva, escribímelo y lo reviso.");
    }

    fn cancel_booking(&mut self, b: &BookingInfo) {
        match b.status {
            ReservationStatus::PreReserved => {
                self.st.stage = Stage::ConfirmCancel { code: b.code.clone() };
                let body = format!(
                    "¿Cancelo la reserva *{}* ({}, {})? Las fechas quedan libres para otros.",
                    b.code,
                    self.unit_name(b.unit_id),
                    self.range(&b.stay)
                );
                self.choices(
                    body,
                    vec![Choice::new(format!("yes:cancel:{}", b.code), "Sí, cancelar"), Choice::new("no:cancel", "No")],
                );
            }
            ReservationStatus::Confirmed => {
                let who = self.st.name.clone().unwrap_or_else(|| "Un huésped".into());
                self.fx.push(Effect::AlertOwner {
                    text: format!(
                        "{who} pide cancelar la reserva pagada {}: {}, {}, {}.",
                        b.code,
                        self.unit_name(b.unit_id),
                        self.range(&b.stay),
                        say::people(b.guests)
                    ),
                });
                self.st.stage = Stage::Idle;
                self.text(format!(
                    "Tu reserva *{}* ya está paga, así que la cancelación la ve el dueño. Ya le avisé y te va a escribir por acá 🙏",
                    b.code
                ));
            }
            _ => {
                self.st.stage = Stage::Idle;
                self.text(format!("La reserva *{}* ya no está activa, no hace falta cancelarla 🙂", b.code));
            }
        }
    }

    fn on_cancel_answer(&mut self, code: &str, yes: bool) {
        self.st.choices.clear();
        let still_open = self.booking(code).filter(|b| b.status == ReservationStatus::PreReserved);
        match (yes, still_open) {
            (true, Some(b)) => {
                self.st.stage = Stage::Idle;
                self.fx.push(Effect::CancelHold { code: b.code });
            }
            (true, None) => {
                self.st.stage = Stage::Idle;
                match self.booking(code) {
                    Some(b) if b.status == ReservationStatus::Confirmed => self.cancel_booking(&b),
                    _ => self.text("Esa reserva ya no está activa, no hace falta cancelarla 🙂"),
                }
            }
            (false, _) => {
                self.st.stage = match self.booking(code) {
                    Some(b) if b.status == ReservationStatus::PreReserved => Stage::Holding { code: b.code },
                    _ => Stage::Idle,
                };
                self.text("Perfecto, la dejamos como está 🙂");
            }
        }
    }

    fn on_cancelled(&mut self, code: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.status = ReservationStatus::Cancelled;
        }
        if matches!(&self.st.stage, Stage::Holding { code: c } | Stage::ConfirmCancel { code: c } if c == code) {
            self.st.stage = Stage::Idle;
        }
        self.st.choices.clear();
        self.text(format!(
            "Listo, cancelé la reserva *{code}* y las fechas quedaron libres. Si querés armar otra, escribime 🙂"
        ));
    }

    // ---- payment -------------------------------------------------------------------------------

    fn payment(&mut self, text: &str) {
        self.st.choices.clear();
        let norm = normalize(text);
        let says_paid = ["ya pague", "ya pagamos", "ya pagé", "ya transferi", "ya hice el pago", "ya lo pague"]
            .iter()
            .any(|p| norm.contains(p))
            || norm.starts_with("pague");
        let target = self.mentioned_code(text).or_else(|| {
            let open = self.open_bookings();
            open.iter().find(|b| b.status == ReservationStatus::PreReserved).or(open.first()).cloned()
        });
        let Some(b) = target else {
            let latest = self.ctx.reservations.first().cloned().or_else(|| self.st.hold.clone());
            if let Some(b) = latest.filter(|b| b.status == ReservationStatus::Expired) {
                let body = format!(
                    "La reserva *{}* venció sin el pago y las fechas se liberaron. ¿La armamos de nuevo?",
                    b.code
                );
                let again = Choice::new(offer_id("check", Some(b.unit_id), &b.stay, b.guests), "Buscar de nuevo")
                    .with_description(format!("{}, {}", self.unit_name(b.unit_id), self.range(&b.stay)));
                return self.choices(body, vec![again, Choice::new("other_dates", "Otras fechas")]);
            }
            let t = format!(
                "Para reservar se paga una seña del {}% del total con un link de pago, que te paso apenas armamos la reserva.",
                self.ctx.pricing.deposit_percent
            );
            let t = match self.reask() {
                Some(_) => self.with_reask(t),
                None => format!("{t}\n¿Para qué fechas y cuántos son?"),
            };
            return self.text(t);
        };
        match b.status {
            ReservationStatus::Confirmed => {
                self.text(format!(
                    "Tu reserva *{}* ya está paga ✅ ¡Te esperamos el {}!",
                    b.code,
                    say::date(b.stay.check_in, self.ctx.today)
                ));
            }
            ReservationStatus::PreReserved => {
                let until = b.expires_at.map(|at| format!("\nTe la guardo {}.", self.until(at))).unwrap_or_default();
                let t = match (&b.payment_link, says_paid) {
                    (_, true) => format!(
                        "Todavía no me figura el pago de la reserva *{}*. A veces tarda unos minutos: apenas entre, te aviso por acá.{until}",
                        b.code
                    ),
                    (Some(link), false) => format!(
                        "Para confirmar la reserva *{}* pagá la seña de {} acá: {link}{until}",
                        b.code,
                        say::money(b.deposit)
                    ),
                    (None, false) => format!(
                        "En un momento te paso el link para pagar la seña de {} de la reserva *{}*.{until}",
                        say::money(b.deposit),
                        b.code
                    ),
                };
                self.text(t);
            }
            _ => self.text("No veo reservas pendientes de pago desde este número."),
        }
    }

    fn on_payment_link(&mut self, code: &str, url: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.payment_link = Some(url.to_string());
        }
        let b = self.booking(code);
        let deposit = b.as_ref().map(|b| format!(" de {}", say::money(b.deposit))).unwrap_or_default();
        let until =
            b.and_then(|b| b.expires_at).map(|at| format!("\nTe la guardo {}.", self.until(at))).unwrap_or_default();
        self.text(format!("Acá tenés el link para pagar la seña{deposit} de la reserva *{code}*: {url}{until}"));
    }

    fn on_paid(&mut self, code: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.status = ReservationStatus::Confirmed;
        }
        if matches!(&self.st.stage, Stage::Holding { code: c } if c == code) {
            self.st.stage = Stage::Idle;
        }
        let t = match self.booking(code) {
            Some(b) => format!(
                "🎉 ¡Pago recibido{}! Tu reserva *{code}* en {}, {}, ya está confirmada. Antes de la llegada te mandamos los datos para el ingreso.",
                self.name(),
                self.the_unit(b.unit_id),
                self.range(&b.stay)
            ),
            None => format!("🎉 ¡Pago recibido{}! Tu reserva *{code}* ya está confirmada.", self.name()),
        };
        self.text(t);
    }

    // ---- timers --------------------------------------------------------------------------------

    fn on_reminder(&mut self, code: &str) {
        let Some(b) = self.booking(code) else {
            return self
                .text(format!("⏰ Tu reserva *{code}* vence en unos minutos. Si querés mantenerla, pagá la seña."));
        };
        if b.status != ReservationStatus::PreReserved {
            return;
        }
        let when =
            b.expires_at.map(|t| say::at(t, self.ctx.now, self.ctx.tz)).unwrap_or_else(|| "en unos minutos".into());
        let pay = match &b.payment_link {
            Some(link) => format!("pagá la seña de {} acá: {link}", say::money(b.deposit)),
            None => format!("pagá la seña de {}; el link te lo paso enseguida.", say::money(b.deposit)),
        };
        self.text(format!(
            "⏰ Tu reserva *{}* ({}, {}) vence {when}. Para no perderla, {pay}",
            b.code,
            self.unit_name(b.unit_id),
            self.range(&b.stay)
        ));
    }

    fn on_expired(&mut self, code: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.status = ReservationStatus::Expired;
        }
        let b = self.booking(code);
        if b.as_ref().is_some_and(|b| b.status == ReservationStatus::Confirmed) {
            return;
        }
        if matches!(&self.st.stage, Stage::Holding { code: c } | Stage::ConfirmCancel { code: c } if c == code) {
            self.st.stage = Stage::Idle;
        }
        let mut options = Vec::new();
        if let Some(b) = &b
            && b.stay.check_in >= self.ctx.today
        {
            options.push(
                Choice::new(offer_id("check", Some(b.unit_id), &b.stay, b.guests), "Buscar de nuevo")
                    .with_description(format!("{}, {}", self.unit_name(b.unit_id), self.range(&b.stay))),
            );
        }
        options.push(Choice::new("other_dates", "Otras fechas"));
        self.choices(
            format!(
                "⏱️ La reserva *{code}* venció porque no entró el pago, y las fechas se liberaron. Si querés, la armamos de nuevo."
            ),
            options,
        );
    }

    // ---- information ---------------------------------------------------------------------------

    fn info(&mut self, a: &Analysis) {
        let unit = a.unit.as_deref().and_then(|s| self.unit_by_slug(s)).and_then(|id| self.ctx.unit(id)).cloned();
        let units: Vec<UnitInfo> = match &unit {
            Some(u) => vec![u.clone()],
            None => self.ctx.units.clone(),
        };
        if units.is_empty() {
            return self.text(self.with_reask("Ahora no tengo cabañas para mostrarte 😕".into()));
        }
        let topic = a.topic.unwrap_or(Topic::Amenities);
        let t = match topic {
            Topic::Pets => {
                let yes: Vec<String> = units.iter().filter(|u| u.pets_allowed).map(|u| u.name.clone()).collect();
                let no: Vec<String> = units.iter().filter(|u| !u.pets_allowed).map(|u| u.name.clone()).collect();
                match (&unit, yes.is_empty(), no.is_empty()) {
                    (Some(u), false, _) => format!("Sí, en {} las mascotas son bienvenidas 🐶", say::the_unit(&u.name)),
                    (Some(u), true, _) => format!("En {} no se aceptan mascotas, perdón.", say::the_unit(&u.name)),
                    (None, _, true) => "Sí, las mascotas son bienvenidas 🐶".into(),
                    (None, true, _) => "Perdón, no aceptamos mascotas.".into(),
                    (None, false, false) => {
                        format!("Se aceptan mascotas en {}; en {} no.", say::join(&yes), say::join(&no))
                    }
                }
            }
            Topic::Pool | Topic::Wifi | Topic::Parking | Topic::Grill => {
                let (words, label) = amenity_words(topic).unwrap_or((&[], ""));
                fn find<'u>(u: &'u UnitInfo, words: &[&str]) -> Option<&'u String> {
                    u.amenities.iter().find(|am| {
                        let n = normalize(am);
                        words.iter().any(|w| n.contains(w))
                    })
                }
                let with: Vec<(String, String)> =
                    units.iter().filter_map(|u| find(u, words).map(|am| (u.name.clone(), am.to_lowercase()))).collect();
                let without: Vec<String> =
                    units.iter().filter(|u| find(u, words).is_none()).map(|u| u.name.clone()).collect();
                match (&unit, with.as_slice(), without.is_empty()) {
                    (Some(u), [(_, am)], _) => format!("Sí, {} tiene {am} 🙂", say::the_unit(&u.name)),
                    (Some(u), _, _) => format!("No, {} no tiene {label} 😕", say::the_unit(&u.name)),
                    (None, [], _) => format!("No, no tenemos {label} 😕"),
                    (None, [(_, am), ..], true) if with.iter().all(|(_, x)| x == am) => {
                        format!("Sí, todas las cabañas tienen {am} 🙂")
                    }
                    (None, _, true) => format!("Sí, todas las cabañas tienen {label} 🙂"),
                    (None, [(n, am)], false) => format!("Sí, {} tiene {am} 🙂 Las demás no.", say::the_unit(n)),
                    (None, _, false) => {
                        let names: Vec<String> = with.iter().map(|(n, _)| n.clone()).collect();
                        format!("{} tienen {label}; {} no.", say::join(&names), say::join(&without))
                    }
                }
            }
            Topic::Location | Topic::Directions => {
                let mut t = if self.ctx.location.trim().is_empty() {
                    String::new()
                } else {
                    format!("📍 {}", self.ctx.location.trim())
                };
                if let Some(link) = &self.ctx.map_link {
                    if t.is_empty() {
                        t = format!("📍 Acá tenés la ubicación en el mapa: {link}");
                    } else {
                        t.push_str(&format!("\nMapa: {link}"));
                    }
                }
                if t.is_empty() {
                    let body = "Ahora no tengo la dirección a mano 😕 ¿Querés que te pase con una persona?";
                    return self.choices(body, vec![Choice::new("yes:human", "Sí, con una persona")]);
                }
                t
            }
            Topic::Schedule => {
                let same = units
                    .windows(2)
                    .all(|w| w[0].check_in_from == w[1].check_in_from && w[0].check_out_until == w[1].check_out_until);
                if same {
                    format!(
                        "El check-in es desde las {} y el check-out hasta las {}.",
                        units[0].check_in_from, units[0].check_out_until
                    )
                } else {
                    let lines: Vec<String> = units
                        .iter()
                        .map(|u| {
                            format!(
                                "• {}: entrada desde las {}, salida hasta las {}",
                                u.name, u.check_in_from, u.check_out_until
                            )
                        })
                        .collect();
                    format!("Los horarios son:\n{}", lines.join("\n"))
                }
            }
            Topic::Photos => return self.photos(&units, unit.is_some()),
            Topic::Policies
            | Topic::Cancellation
            | Topic::DateChange
            | Topic::PaymentMethods
            | Topic::Deposit
            | Topic::Children
            | Topic::Nearby
            | Topic::Accessibility => {
                let mut t = format!(
                    "La reserva se confirma pagando una seña del {}% del total.",
                    self.ctx.pricing.deposit_percent
                );
                if let Some(p) = self.ctx.policies.as_ref().filter(|p| !p.trim().is_empty()) {
                    t.push('\n');
                    t.push_str(&say::clip(p.trim(), 1500));
                }
                t
            }
            Topic::Amenities | Topic::Included => match &unit {
                Some(u) => unit_card(u),
                None => {
                    let lines: Vec<String> = units
                        .iter()
                        .map(|u| {
                            let mut l = format!("• *{}* (hasta {})", u.name, say::people(u.capacity));
                            if !u.amenities.is_empty() {
                                l.push_str(&format!(": {}", u.amenities.join(", ")));
                            }
                            l
                        })
                        .collect();
                    format!(
                        "Tenemos {} cabañas:\n{}\n¿Querés ver fotos o consultar fechas?",
                        units.len(),
                        lines.join("\n")
                    )
                }
            },
        };
        self.text(self.with_reask(t));
    }

    fn photos(&mut self, units: &[UnitInfo], one: bool) {
        for u in units {
            let card = format!("*{}* · hasta {}", u.name, say::people(u.capacity));
            if u.photos.is_empty() {
                let t = if u.description.trim().is_empty() {
                    format!("{card}\nTodavía no tengo fotos de esta cabaña.")
                } else {
                    format!(
                        "{card}\n{}\n(Todavía no tengo fotos de esta cabaña.)",
                        say::clip(u.description.trim(), 600)
                    )
                };
                self.text(t);
                continue;
            }
            let take = if one { 5 } else { 1 };
            for (i, p) in u.photos.iter().take(take).enumerate() {
                let caption = if i == 0 {
                    if p.caption.trim().is_empty() {
                        card.clone()
                    } else {
                        format!("{card}\n{}", say::clip(p.caption.trim(), 300))
                    }
                } else {
                    say::clip(p.caption.trim(), 300)
                };
                self.fx.push(Effect::Reply(Reply::Photo { url: p.url.clone(), caption }));
            }
        }
        let t = self.reask().unwrap_or("¿Querés que me fije disponibilidad? Decime fechas y cuántos son.");
        self.text(t);
    }

    fn price(&mut self, a: &Analysis) {
        let unit = a.unit.as_deref().and_then(|s| self.unit_by_slug(s)).and_then(|id| self.ctx.unit(id)).cloned();
        let units: Vec<UnitInfo> = match &unit {
            Some(u) => vec![u.clone()],
            None => self.ctx.units.clone(),
        };
        if units.is_empty() {
            return self.text("Ahora no tengo precios para pasarte 😕");
        }
        let mut t = String::from("Precio por noche:\n");
        for u in &units {
            t.push_str(&format!("• {} (hasta {}): {}\n", u.name, say::people(u.capacity), say::money(u.base_price)));
        }
        let weekend_days: Vec<String> =
            self.ctx.pricing.weekend_nights.iter().map(|w| say::weekday_plural(*w).to_string()).collect();
        let multipliers: Vec<u32> = units.iter().map(|u| u.weekend_multiplier.0).collect();
        if !weekend_days.is_empty() && multipliers.iter().any(|m| *m != 10_000) {
            if multipliers.windows(2).all(|w| w[0] == w[1]) {
                t.push_str(&format!("Las noches de {} tienen {}.\n", say::join(&weekend_days), change(multipliers[0])));
            } else {
                for u in units.iter().filter(|u| u.weekend_multiplier.0 != 10_000) {
                    t.push_str(&format!(
                        "En {} las noches de {} tienen {}.\n",
                        u.name,
                        say::join(&weekend_days),
                        change(u.weekend_multiplier.0)
                    ));
                }
            }
        }
        let horizon = self.ctx.today + chrono::Days::new(366);
        let rules = self.ctx.rate_rules.iter().filter(|r| {
            r.unit_id.is_none_or(|id| units.iter().any(|u| u.id == id))
                && r.end.is_none_or(|e| e > self.ctx.today)
                && r.start.is_none_or(|s| s < horizon)
        });
        for r in rules.take(4) {
            let what = match r.effect {
                RuleEffect::Multiplier(m) => change(m.0),
                RuleEffect::NightlyPrice(p) => format!("un precio de {} por noche", say::money(p)),
            };
            let whose = r.unit_id.map(|id| format!(" en {}", self.unit_name(id))).unwrap_or_default();
            let min =
                r.min_nights.filter(|m| *m > 1).map(|m| format!(" (mínimo {})", say::nights(m))).unwrap_or_default();
            let line = match (r.scope, r.start, r.end) {
                (RuleScope::HolidayEves, _, _) => {
                    format!("En fines de semana largos, la noche antes del feriado tiene {what}{whose}{min}.\n")
                }
                (_, Some(s), Some(e)) => {
                    let last = e.pred_opt().unwrap_or(e);
                    format!(
                        "{} (del {} al {}) tiene {what}{whose}{min}.\n",
                        r.name,
                        say::date(s, self.ctx.today),
                        say::date(last, self.ctx.today)
                    )
                }
                (_, Some(s), None) => format!("Desde el {} rige {what}{whose}{min}.\n", say::date(s, self.ctx.today)),
                (_, None, Some(e)) => format!("Hasta el {} rige {what}{whose}{min}.\n", say::date(e, self.ctx.today)),
                (_, None, None) => format!("{} tiene {what}{whose}{min}.\n", r.name),
            };
            t.push_str(&line);
        }
        for u in units.iter().filter(|u| u.min_nights > 1) {
            t.push_str(&format!("{}: mínimo {}.\n", u.name, say::nights(u.min_nights)));
        }
        t.push_str(&format!("Para reservar se paga una seña del {}%.", self.ctx.pricing.deposit_percent));
        match self.reask() {
            Some(q) => t.push_str(&format!("\n{q}")),
            None => t.push_str("\nSi me decís fechas y cuántos son, te paso el total exacto."),
        }
        self.text(t);
    }
}

/// "un 20% de recargo", "un 10% de descuento", "el precio normal".
fn change(bp: u32) -> String {
    if bp > 10_000 {
        format!("un {}% de recargo", pct(bp - 10_000))
    } else if bp < 10_000 {
        format!("un {}% de descuento", pct(10_000 - bp))
    } else {
        "el precio normal".into()
    }
}

fn pct(bp: u32) -> String {
    if bp.is_multiple_of(100) { (bp / 100).to_string() } else { format!("{},{}", bp / 100, (bp % 100) / 10) }
}

fn unit_card(u: &UnitInfo) -> String {
    let mut t = format!("*{}* — hasta {}", u.name, say::people(u.capacity));
    if !u.description.trim().is_empty() {
        t.push_str(&format!("\n{}", say::clip(u.description.trim(), 800)));
    }
    if !u.amenities.is_empty() {
        t.push_str(&format!("\nTiene: {}.", u.amenities.join(", ")));
    }
    t.push_str(&format!("\nPrecio base: {} la noche.", say::money(u.base_price)));
    t
}

/// A name in at most `room` characters: leading words become initials, then it is cut.
fn abbreviate(name: &str, room: usize) -> String {
    if name.chars().count() <= room {
        return name.to_string();
    }
    let mut words: Vec<String> = name.split_whitespace().map(str::to_string).collect();
    for i in 0..words.len().saturating_sub(1) {
        words[i] = format!("{}.", words[i].chars().next().unwrap_or('.'));
        if words.join(" ").chars().count() <= room {
            return words.join(" ");
        }
    }
    say::clip(&words.join(" "), room.max(2))
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Adds what the guest just said to what was known. New dates replace old ones; a new
/// check-in alone keeps a known length; a new length extends a known check-in.
fn merge(slots: &mut Slots, new: &Slots) {
    if let Some(ci) = new.check_in {
        let known_end = slots.check_out.filter(|co| *co > ci && slots.check_in.is_none());
        // "¿y el 20?" after a full stay: same length from the new day.
        if new.check_out.is_none()
            && new.nights.is_none()
            && slots.nights.is_none()
            && let (Some(a), Some(b)) = (slots.check_in, slots.check_out)
        {
            slots.nights = u32::try_from((b - a).num_days()).ok().filter(|n| *n > 0);
        }
        slots.check_in = Some(ci);
        slots.check_out = new.check_out;
        if new.nights.is_some() {
            slots.nights = new.nights;
        }
        if slots.check_out.is_none() && new.nights.is_none() && known_end.is_some() {
            slots.check_out = known_end;
        }
        if slots.check_out.is_none()
            && let Some(n) = slots.nights
        {
            slots.check_out = ci.checked_add_days(chrono::Days::new(n as u64));
        }
    } else if let Some(co) = new.check_out {
        slots.check_out = Some(co);
        if slots.check_in.is_some_and(|ci| ci >= co) {
            slots.check_in = None;
        }
    } else if let Some(n) = new.nights {
        slots.nights = Some(n);
        if let Some(ci) = slots.check_in {
            slots.check_out = ci.checked_add_days(chrono::Days::new(n as u64));
        }
    }
    if new.guests.is_some() {
        slots.guests = new.guests;
    }
    if new.unit.is_some() {
        slots.unit = new.unit;
    }
}
