//! Holds. The only road to [`Effect::PlaceHold`] is [`Engine::hold`], called from an explicit
//! yes to a priced offer (see `on_pick` and `on_choice`). A guest without a name is asked once
//! for the name that goes on the reservation; a hold that moves an unpaid one to other dates
//! cancels the old one once the new one exists.

use super::*;

/// Words that answer "¿a nombre de quién?" without giving one.
const NO_NAME: &[&str] =
    &["no", "da igual", "no importa", "prefiero no", "sin nombre", "no hace falta", "ninguno", "nadie", "x"];

/// "Lucía Fernández", "a nombre de Juan Pérez", "soy Ana" → the name; anything that reads as a
/// question or a request is not a name.
pub(super) fn name_in(text: &str) -> Option<String> {
    let mut t = text.trim().trim_end_matches(['.', '!', ' ']).to_string();
    for prefix in [
        "a nombre de",
        "a nombre del",
        "al nombre de",
        "mi nombre es",
        "me llamo",
        "soy",
        "es",
        "ponela a nombre de",
        "ponelo a nombre de",
    ] {
        let lower = t.to_lowercase();
        if lower.starts_with(prefix) && lower[prefix.len()..].starts_with(' ') {
            t = t[prefix.len()..].trim().to_string();
        }
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    if words.is_empty() || words.len() > 5 || t.chars().count() > 60 || t.contains('?') {
        return None;
    }
    let ok = words
        .iter()
        .all(|w| w.chars().count() >= 2 && w.chars().all(|c| c.is_alphabetic() || matches!(c, '\'' | '-' | '.' | '´')));
    let norm = normalize(&t);
    let not_a_name = [
        "hola", "gracias", "dale", "si", "reserva", "cuanto", "donde", "quiero", "tengo", "somos", "precio", "pago",
        "link",
    ]
    .iter()
    .any(|w| norm.split(' ').any(|x| x == *w));
    if !ok || not_a_name {
        return None;
    }
    // "lucía fernández" → "Lucía Fernández".
    Some(words.iter().map(|w| capital(&w.to_lowercase())).collect::<Vec<_>>().join(" "))
}

impl Engine<'_> {
    /// The explicit yes happened: ask the name once if we have none, then place the hold(s).
    pub(super) fn hold(&mut self, offers: Vec<Offer>) {
        self.st.choices.clear();
        if offers.is_empty() {
            return;
        }
        let nameless = self.st.name.is_none() && self.st.reservation_name.is_none();
        if nameless && !self.st.name_asked {
            self.st.name_asked = true;
            self.st.stage = Stage::AskingName { offers };
            return self.text("¡Dale! ¿A nombre de quién hago la reserva?");
        }
        self.place(offers, Vec::new());
    }

    fn place(&mut self, mut offers: Vec<Offer>, placed: Vec<BookingInfo>) {
        let offer = offers.remove(0);
        self.st.stage = Stage::Reserving { offer, rest: offers, placed };
        let guest_name = self
            .st
            .reservation_name
            .clone()
            .or_else(|| self.ctx.contact_name.clone().filter(|n| say::first_name(n).is_some()));
        self.fx.push(Effect::PlaceHold { unit_id: offer.unit_id, stay: offer.stay, guests: offer.guests, guest_name });
    }

    /// The answer to "¿a nombre de quién?". `false` when the message is something else (it is
    /// then answered as usual and the question stays open).
    pub(super) fn on_name_answer(&mut self, text: &str, a: &Analysis, offers: &[Offer]) -> bool {
        let norm = normalize(text);
        if NO_NAME.contains(&norm.as_str()) {
            self.place(offers.to_vec(), Vec::new());
            return true;
        }
        let looks_like_intent = matches!(
            a.intent,
            Intent::Cancel
                | Intent::Human
                | Intent::Payment
                | Intent::Price
                | Intent::Info
                | Intent::Change
                | Intent::Status
        ) || has_stay_facts(a);
        if !looks_like_intent && let Some(name) = name_in(text) {
            self.st.name = say::first_name(&name);
            self.st.reservation_name = Some(name);
            self.place(offers.to_vec(), Vec::new());
            return true;
        }
        if looks_like_intent {
            return false;
        }
        self.text("Perdón, ¿me decís el nombre y apellido para la reserva? (o «da igual»)");
        true
    }

    pub(super) fn on_hold_placed(&mut self, b: BookingInfo) {
        let (rest, mut placed) = match self.st.stage.clone() {
            Stage::Reserving { rest, placed, .. } => (rest, placed),
            _ => (Vec::new(), Vec::new()),
        };
        placed.push(b.clone());
        self.st.hold = Some(b.clone());
        if !rest.is_empty() {
            return self.place(rest, placed);
        }
        let replaced = self.st.moving.take();
        if let Some(old) = &replaced {
            self.st.replaced = Some(old.clone());
            self.fx.push(Effect::CancelHold { code: old.clone() });
        }
        let mut t = match placed.as_slice() {
            [one] => {
                let mut t = format!("¡Listo{}! Te reservé {} ✅\n", self.name(), self.the_unit(one.unit_id));
                t.push_str(&format!("Código: *{}*\n", one.code));
                t.push_str(&format!(
                    "{} · {} · {}\n",
                    capital(&self.range(&one.stay)),
                    say::nights(one.stay.nights()),
                    say::people(one.guests)
                ));
                t.push_str(&format!("Total: {} · Seña: {}\n", say::money(one.total), say::money(one.deposit)));
                t
            }
            many => {
                let mut t = format!(
                    "¡Listo{}! Te reservé {} cabañas ✅ {}\n",
                    self.name(),
                    many.len(),
                    capital(&self.range(&many[0].stay))
                );
                for p in many {
                    t.push_str(&format!(
                        "• *{}* — {} para {}: {} · seña {}\n",
                        p.code,
                        self.unit_name(p.unit_id),
                        p.guests,
                        say::money(p.total),
                        say::money(p.deposit)
                    ));
                }
                let total: Money = many.iter().map(|p| p.total).sum();
                let deposit: Money = many.iter().map(|p| p.deposit).sum();
                t.push_str(&format!("Total: {} · Seña: {}\n", say::money(total), say::money(deposit)));
                t
            }
        };
        let (la, one) = if placed.len() > 1 { ("las", "se confirman") } else { ("la", "se confirma") };
        match b.expires_at {
            Some(at) => t.push_str(&format!("Te {la} guardo {}; {one} con el pago de la seña.", self.until(at))),
            None => t.push_str(&format!("{} con el pago de la seña.", capital(one))),
        }
        if let Some(old) = &replaced {
            t.push_str(&format!("\nLa reserva anterior (*{old}*) la cancelé."));
        }
        for p in &placed {
            match &p.payment_link {
                Some(link) if placed.len() == 1 => t.push_str(&format!("\nPagá acá: {link}")),
                Some(link) => t.push_str(&format!("\nSeña de *{}*: {link}", p.code)),
                None if placed.len() == 1 => t.push_str("\nEn un momento te paso el link de pago."),
                None => {}
            }
        }
        if placed.len() > 1 && placed.iter().any(|p| p.payment_link.is_none()) {
            t.push_str("\nEn un momento te paso los links de pago.");
        }
        self.text(t);
        self.st.stage = Stage::Holding { code: b.code.clone() };
        self.st.slots.check_in = None;
        self.st.slots.check_out = None;
        self.st.slots.nights = None;
        self.st.slots.unit = None;
        self.st.slots.sort = None;
        self.st.choices.clear();
    }

    pub(super) fn on_hold_failed(&mut self, reason: HoldFailure) {
        let (offer, placed) = match &self.st.stage {
            Stage::Reserving { offer, placed, .. } => (Some(*offer), placed.clone()),
            _ => (None, Vec::new()),
        };
        self.st.choices.clear();
        if !placed.is_empty() {
            // Part of a group was held: say which, and let the guest decide with a person.
            let codes: Vec<String> =
                placed.iter().map(|p| format!("*{}* ({})", p.code, self.unit_name(p.unit_id))).collect();
            self.st.stage = Stage::Holding { code: placed[0].code.clone() };
            let missing = offer.map(|o| self.the_unit(o.unit_id)).unwrap_or_else(|| "otra cabaña".into());
            let body = format!(
                "Te reservé {}, pero {missing} se ocupó justo ahora 😕 ¿Querés que te pase con una persona para armar el resto, o cancelo lo reservado?",
                say::join(&codes)
            );
            let mut options = vec![Choice::new("yes:human", "Hablar con alguien")];
            for p in &placed {
                options.push(Choice::new(format!("cancel:{}", p.code), crate::render::fit_title("Cancelar", &p.code)));
            }
            return self.choices(body, options);
        }
        match reason {
            HoldFailure::Taken => match offer {
                Some(o) => {
                    self.text(format!(
                        "Uy, justo se ocupó {} para esas fechas 😕 Te busco otras opciones…",
                        self.the_unit(o.unit_id)
                    ));
                    self.st.stage = Stage::Checking { reserve: false, after_taken: true };
                    self.fx.push(Effect::CheckAvailability {
                        stay: o.stay,
                        guests: o.guests,
                        unit: Some(o.unit_id),
                        among: Vec::new(),
                        except: None,
                    });
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
}

#[cfg(test)]
mod tests {
    use super::name_in;

    #[test]
    fn names_are_read_and_questions_are_not() {
        assert_eq!(name_in("Lucía Fernández").as_deref(), Some("Lucía Fernández"));
        assert_eq!(name_in("a nombre de juan pérez").as_deref(), Some("Juan Pérez"));
        assert_eq!(name_in("soy Ana").as_deref(), Some("Ana"));
        assert_eq!(name_in("cuánto es la seña?"), None);
        assert_eq!(name_in("hola"), None);
        assert_eq!(name_in("12345"), None);
        assert_eq!(name_in("quiero pagar con transferencia"), None);
    }
}
