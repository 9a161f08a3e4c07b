//! Availability answers: the cabins that are free *and* meet the guest's constraints, each
//! with its price; why a wanted cabin is not; the nearest alternative when nothing fits; a large
//! party split over two or three cabins for the same nights.

use super::*;
use crate::render::reserve_title;

/// What a priced card and its option say about one offer.
struct Card {
    unit: UnitInfo,
    quote: Quote,
}

impl Engine<'_> {
    pub(super) fn on_availability(&mut self, r: AvailabilityResult) {
        let after_taken = matches!(self.st.stage, Stage::Checking { after_taken: true, .. });
        self.st.slots.check_in = Some(r.stay.check_in);
        self.st.slots.check_out = Some(r.stay.check_out);
        self.st.slots.guests = Some(r.guests);
        self.st.slots.nights = None;
        self.st.choices.clear();
        let known: Vec<&UnitOption> = r.results.iter().filter(|o| self.ctx.unit(o.unit_id).is_some()).collect();
        let free: Vec<&UnitOption> = known.iter().copied().filter(|o| o.available && o.reason.is_none()).collect();
        let when = format!("{} ({}) para {}", self.dates_words(&r.stay), say::nights(r.stay.nights()), r.guests);
        let wanted = r.unit.and_then(|w| known.iter().copied().find(|o| o.unit_id == w));

        if let Some(w) = wanted {
            return self.wanted_unit(w, &free, &r, &when, after_taken);
        }

        // The constraints: pets, access, amenities, budget; then "la más barata / grande".
        let fitting: Vec<&UnitOption> = free.iter().copied().filter(|o| self.option_fits(o, &r.stay)).collect();
        if !fitting.is_empty() {
            let only = fitting.len() == 1 && free.len() > 1;
            let picked = self.sorted(fitting);
            let body = match picked.as_slice() {
                [one] => {
                    // "¿algo más barato con el perro?" when one free cabin alone takes the dog:
                    // it is the only one, not the cheapest.
                    let only_words = self.constraint_words_one();
                    let why = if only && !only_words.is_empty() {
                        format!(", la única {only_words}")
                    } else {
                        self.sort_words()
                    };
                    format!("{} tengo libre {}{why}. ¿Te la reservo?", capital(&when), self.the_unit(one.unit_id))
                }
                _ => format!("{} tengo libres estas cabañas. ¿Cuál te reservo?", capital(&when)),
            };
            return self.offer(&picked, &r, body, Vec::new());
        }
        if !free.is_empty() {
            return self.nothing_fits(&free, &r);
        }
        if r.guests > self.max_capacity() {
            return self.split_party(&r);
        }

        self.st.stage = Stage::Idle;
        let fits: Vec<&UnitOption> =
            known.iter().copied().filter(|o| !matches!(o.reason, Some(Unavailable::TooManyGuests { .. }))).collect();
        if fits.is_empty() {
            return self.too_many(r.guests);
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

    /// The guest asked for one cabin.
    fn wanted_unit(
        &mut self,
        w: &UnitOption,
        free: &[&UnitOption],
        r: &AvailabilityResult,
        when: &str,
        after_taken: bool,
    ) {
        if free.iter().any(|o| o.unit_id == w.unit_id) {
            if let Some(before) = self.moving_paid() {
                return self.quote_move(before, w, r);
            }
            let body = if let Some(code) = self.st.moving.clone() {
                format!(
                    "{} tengo libre {}. ¿Paso tu reserva *{code}* a estas fechas?",
                    capital(when),
                    self.the_unit(w.unit_id)
                )
            } else {
                format!("{} tengo libre {}. ¿Te la reservo?", capital(when), self.the_unit(w.unit_id))
            };
            return self.offer(&[w], r, body, Vec::new());
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
        let others: Vec<&UnitOption> =
            free.iter().copied().filter(|o| o.unit_id != w.unit_id && self.option_fits(o, &r.stay)).collect();
        if !others.is_empty() {
            lines.push(if others.len() > 1 {
                "Para esas mismas fechas tengo libres estas cabañas:".to_string()
            } else {
                "Para esas mismas fechas tengo libre esta otra:".to_string()
            });
            self.text(lines.join("\n"));
            let which = if others.len() > 1 { "alguna" } else { "esta" };
            let body = if self.moving_paid().is_some() {
                format!("¿Pasamos tu reserva a {which}, o preferís otras fechas para {name}?")
            } else if extra.is_empty() {
                format!("¿Te reservo {which}?")
            } else {
                format!("¿Te reservo {which}, o preferís otras fechas para {name}?")
            };
            return self.offer(&others, r, body, extra);
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
        self.choices(lines.join("\n"), extra)
    }

    /// Whether a free option meets the constraints, the budget included.
    fn option_fits(&self, o: &UnitOption, stay: &Stay) -> bool {
        let Some(u) = self.ctx.unit(o.unit_id) else { return false };
        self.fits(u) && self.within_budget(o, stay)
    }

    fn within_budget(&self, o: &UnitOption, stay: &Stay) -> bool {
        match self.st.slots.budget {
            None => true,
            Some(b) if b.per_night => {
                o.quote.total.0
                    <= i64::try_from(b.amount).unwrap_or(i64::MAX).saturating_mul(100 * i64::from(stay.nights()))
            }
            Some(b) => o.quote.total.0 <= i64::try_from(b.amount).unwrap_or(i64::MAX).saturating_mul(100),
        }
    }

    /// "la más barata" → the cheapest; "la más grande" → the biggest; else all, in order.
    fn sorted<'o>(&self, mut opts: Vec<&'o UnitOption>) -> Vec<&'o UnitOption> {
        let cap = |o: &UnitOption| self.ctx.unit(o.unit_id).map(|u| u.capacity).unwrap_or(0);
        match self.st.slots.sort {
            Some(Sort::Cheapest) => {
                opts.sort_by_key(|o| o.quote.total);
                opts.truncate(1);
            }
            Some(Sort::Biggest) => {
                opts.sort_by_key(|o| std::cmp::Reverse(cap(o)));
                opts.truncate(1);
            }
            None => {}
        }
        opts
    }

    /// ", la más económica"; when the constraints left a cabin out (it may be cheaper or
    /// bigger, free or not), of which cabins: ", la más económica que acepta mascotas".
    fn sort_words(&self) -> String {
        let top = match self.st.slots.sort {
            Some(Sort::Cheapest) => ", la más económica",
            Some(Sort::Biggest) => ", la más grande",
            None => return String::new(),
        };
        let words = self.constraint_words_one();
        if !words.is_empty() && self.ctx.units.iter().any(|u| !self.fits(u)) {
            format!("{top} {words}")
        } else {
            top.to_string()
        }
    }

    /// What the guest asks for, in words: "con mascota", "con parrilla", "hasta $300.000".
    pub(super) fn constraint_words(&self) -> String {
        let s = &self.st.slots;
        let mut parts: Vec<String> = Vec::new();
        if s.pets == Some(true) {
            parts.push("que acepten mascotas".into());
        }
        if s.accessible {
            parts.push("accesibles".into());
        }
        for a in &s.amenities {
            parts.push(format!("con {}", info::amenity_label(*a)));
        }
        if let Some(b) = s.budget {
            let per = if b.per_night { " por noche" } else { " en total" };
            parts.push(format!(
                "hasta {}{per}",
                say::money(Money::from_pesos(i64::try_from(b.amount).unwrap_or(i64::MAX)))
            ));
        }
        say::join(&parts)
    }

    /// One cabin's constraints in words: "que acepta mascotas", "accesible", "con parrilla".
    fn constraint_words_one(&self) -> String {
        let s = &self.st.slots;
        let mut parts: Vec<String> = Vec::new();
        if s.pets == Some(true) {
            parts.push("que acepta mascotas".into());
        }
        if s.accessible {
            parts.push("accesible".into());
        }
        for a in &s.amenities {
            parts.push(format!("con {}", info::amenity_label(*a)));
        }
        if s.budget.is_some() {
            parts.push("dentro de tu presupuesto".into());
        }
        say::join(&parts)
    }

    /// Why no cabin at all (free or not) meets the pets / access / amenities constraints.
    fn none_in_catalogue(&self) -> String {
        let s = &self.st.slots;
        let units = &self.ctx.units;
        if s.accessible && !units.iter().any(|u| u.accessible) {
            return "No tengo anotado que alguna cabaña sea accesible 😕".into();
        }
        if s.pets == Some(true) && !units.iter().any(|u| u.pets_allowed) {
            return "Ninguna de las cabañas acepta mascotas 😕".into();
        }
        if let Some(a) = s.amenities.iter().find(|a| !units.iter().any(|u| info::has_amenity(u, **a))) {
            return format!("Ninguna de las cabañas tiene {} 😕", info::amenity_label(*a));
        }
        format!("Ninguna cabaña reúne todo eso ({}) 😕", self.constraint_words())
    }

    /// Free cabins exist, but none meets the constraints: say so, and offer the nearest
    /// alternative — the same cabins on the nearest free nights, or the closest free cabin.
    /// When no cabin meets them at all, no other nights help: say so and offer a person.
    fn nothing_fits(&mut self, free: &[&UnitOption], r: &AvailabilityResult) {
        if self.fitting_units().is_empty() {
            let names: Vec<String> =
                free.iter().filter_map(|o| self.ctx.unit(o.unit_id)).map(|u| u.name.clone()).collect();
            let what = format!(
                "{} {} tengo {} {}.",
                self.none_in_catalogue(),
                capital(&self.range(&r.stay)),
                if names.len() > 1 { "libres" } else { "libre" },
                say::join(&names)
            );
            self.st.stage = Stage::Idle;
            self.st.choices.clear();
            return self.offer_person(&what);
        }
        let wants = self.constraint_words();
        let mut lines = vec![format!("{} no me quedan cabañas {wants} 😕", capital(&self.range(&r.stay)),)];
        let mut extra: Vec<Choice> = Vec::new();
        let among = self.fitting_units();
        let windows: Vec<&Alternative> = r.alternatives.iter().filter(|a| among.contains(&a.unit_id)).take(3).collect();
        let several = windows.iter().any(|a| a.unit_id != windows[0].unit_id);
        for alt in &windows {
            extra.push(self.alternative_choice(alt, r.guests, several || !self.st.slots.amenities.is_empty()));
        }
        // Over budget: the cheapest free one is the nearest alternative.
        let nearest: Vec<&UnitOption> = if self.st.slots.budget.is_some() {
            let mut by_price: Vec<&UnitOption> =
                free.iter().copied().filter(|o| self.ctx.unit(o.unit_id).is_some_and(|u| self.fits(u))).collect();
            by_price.sort_by_key(|o| o.quote.total);
            by_price.into_iter().take(1).collect()
        } else {
            Vec::new()
        };
        if !windows.is_empty() {
            lines.push(format!("Lo más cerca que tengo, {}:", say::nights(r.stay.nights())));
        }
        if let [cheapest] = nearest.as_slice() {
            lines.push(format!(
                "Lo más económico que me queda para esas fechas es {}: {} en total.",
                self.the_unit(cheapest.unit_id),
                say::money(cheapest.quote.total)
            ));
            self.text(lines.join("\n"));
            let body = "¿Te la reservo, o probamos otras fechas?".to_string();
            return self.offer(&[cheapest], r, body, extra);
        }
        let without: Vec<String> =
            free.iter().filter_map(|o| self.ctx.unit(o.unit_id)).map(|u| u.name.clone()).collect();
        if windows.is_empty() && !without.is_empty() {
            lines.push(format!("Libres tengo {}, pero no cumplen con eso.", say::join(&without)));
        }
        self.st.stage = Stage::Idle;
        extra.push(Choice::new("other_dates", "Otras fechas"));
        self.choices(lines.join("\n"), extra)
    }

    fn too_many(&mut self, guests: u32) {
        let max = self.max_capacity();
        self.st.slots.guests = None;
        self.st.stage = Stage::AwaitingGuests;
        let biggest =
            self.ctx.units.iter().max_by_key(|u| u.capacity).map(|u| say::the_unit(&u.name)).unwrap_or_default();
        let body = format!(
            "Uy, para {guests} no tengo lugar en esas fechas 😕 La más grande es {biggest}, para {max} personas. Si son menos, decime cuántos; si no, te paso con una persona para ver opciones."
        );
        self.choices(body, vec![Choice::new("yes:human", "Hablar con alguien")]);
    }

    /// "somos 9": no cabin takes them all, so two (or three) cabins for the same nights.
    fn split_party(&mut self, r: &AvailabilityResult) {
        let usable: Vec<(&UnitInfo, &UnitOption)> = r
            .results
            .iter()
            .filter(|o| matches!(o.reason, None | Some(Unavailable::TooManyGuests { .. })))
            .filter(|o| r.stay.nights() >= o.quote.min_nights)
            .filter_map(|o| Some((self.ctx.unit(o.unit_id)?, o)))
            .filter(|(u, _)| self.fits(u))
            .collect();
        let mut best: Option<(usize, Money, Vec<usize>)> = None;
        let n = usable.len();
        for mask in 1u32..(1 << n.min(12)) {
            let picked: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            if picked.len() > 3 {
                continue;
            }
            let cap: u32 = picked.iter().map(|i| usable[*i].0.capacity).sum();
            if cap < r.guests {
                continue;
            }
            let total: Money = picked.iter().map(|i| usable[*i].1.quote.total).sum();
            let better = match &best {
                None => true,
                Some((count, t, _)) => picked.len() < *count || (picked.len() == *count && total < *t),
            };
            if better {
                best = Some((picked.len(), total, picked));
            }
        }
        let Some((_, total, picked)) = best else {
            return self.too_many(r.guests);
        };
        // The biggest cabin fills first; the rest go to the next ones.
        let mut order: Vec<usize> = picked;
        order.sort_by_key(|i| std::cmp::Reverse(usable[*i].0.capacity));
        let mut left = r.guests;
        let mut group: Vec<Offer> = Vec::new();
        let mut cards: Vec<Card> = Vec::new();
        for i in order {
            let (u, o) = usable[i];
            let take = left.min(u.capacity);
            left -= take;
            group.push(Offer { unit_id: u.id, stay: r.stay, guests: take, total: o.quote.total });
            cards.push(Card { unit: u.clone(), quote: o.quote.clone() });
        }
        let deposit: Money = cards.iter().map(|c| c.quote.deposit).sum();
        let names: Vec<String> =
            group.iter().map(|g| format!("{} ({})", self.unit_name(g.unit_id), say::people(g.guests))).collect();
        // "para Semana Santa, del 25 al 28 de marzo," when the dates came from a named period.
        let range = self.range(&r.stay);
        let when = match self.dates_words(&r.stay) {
            w if w == range => range,
            named => format!("{named},"),
        };
        self.text(format!(
            "Para {} no tengo una sola cabaña, pero {} te puedo dar {} para las mismas noches: {}.",
            r.guests,
            when,
            if group.len() == 2 { "dos" } else { "tres" },
            say::join(&names)
        ));
        for c in &cards {
            self.card(&c.unit, &c.quote, &r.stay);
        }
        let units: Vec<String> = group.iter().map(|g| format!("{}x{}", g.unit_id, g.guests)).collect();
        let id = format!("group:{}:{}:{}", units.join("+"), r.stay.check_in, r.stay.check_out);
        let title = if group.len() == 2 { "Reservar las dos" } else { "Reservar las tres" };
        let option = Choice::new(id, title).with_description(format!(
            "{} en total · seña {}",
            say::money(total),
            say::money(deposit)
        ));
        self.st.stage = Stage::Offered { offers: Vec::new(), group };
        let body = format!("En total: {} · seña {}. ¿Te las reservo?", say::money(total), say::money(deposit));
        self.choices(
            body,
            vec![option, Choice::new("other_dates", "Otras fechas"), Choice::new("yes:human", "Hablar con alguien")],
        );
    }

    /// "group:3x6+2x3:2027-03-03:2027-03-07" back into offers (prices from what was offered).
    pub(super) fn parse_group(&self, units: &str, ci: &str, co: &str) -> Option<Vec<Offer>> {
        let stay = Stay::new(ci.parse().ok()?, co.parse().ok()?).ok()?;
        let mut out = Vec::new();
        for part in units.split('+') {
            let (u, g) = part.split_once('x')?;
            let (unit_id, guests): (i64, u32) = (u.parse().ok()?, g.parse().ok()?);
            self.ctx.unit(unit_id)?;
            if !(1..=60).contains(&guests) || out.iter().any(|o: &Offer| o.unit_id == unit_id) {
                return None;
            }
            let total = match &self.st.stage {
                Stage::Offered { group, .. } => group
                    .iter()
                    .find(|o| o.unit_id == unit_id && o.stay == stay)
                    .map(|o| o.total)
                    .unwrap_or(Money::ZERO),
                _ => Money::ZERO,
            };
            out.push(Offer { unit_id, stay, guests, total });
        }
        (!out.is_empty() && out.len() <= 3).then_some(out)
    }

    pub(super) fn alternative_choice(&self, alt: &Alternative, guests: u32, with_unit: bool) -> Choice {
        let name = self.unit_name(alt.unit_id);
        let title = if with_unit {
            let dates = say::tight_range(&alt.stay);
            let room = crate::LIMITS.button_title.saturating_sub(dates.chars().count() + 1);
            format!("{} {dates}", info::abbreviate(&name, room))
        } else {
            say::short_range(&alt.stay)
        };
        Choice::new(offer_id("check", Some(alt.unit_id), &alt.stay, guests), title)
            .with_description(format!("{name}, {}", self.range(&alt.stay)))
    }

    /// One photo (or text) with the price: cabin, nights, total and deposit.
    fn card(&mut self, u: &UnitInfo, q: &Quote, stay: &Stay) {
        let caption = format!(
            "*{}* · hasta {}\n{}: {}\nSeña para reservar: {}",
            u.name,
            say::people(u.capacity),
            say::nights(stay.nights()),
            say::money(q.total),
            say::money(q.deposit)
        );
        let reply = match u.photos.first() {
            Some(p) => Reply::Photo { url: p.url.clone(), caption },
            None => Reply::Text(caption),
        };
        self.fx.push(Effect::Reply(reply));
        self.fx.push(Effect::RecordQuote { unit_id: u.id, stay: *stay, total: q.total });
    }

    /// One card per unit with its price, then the choices: the confirmation step names cabin,
    /// dates, total and deposit before any hold.
    pub(super) fn offer(&mut self, opts: &[&UnitOption], r: &AvailabilityResult, body: String, extra: Vec<Choice>) {
        let room = crate::LIMITS.list_rows - 1 - extra.len().min(crate::LIMITS.list_rows - 1);
        let mut options = Vec::new();
        let mut offers = Vec::new();
        let moving_one = self.st.moving.is_some() && opts.len() == 1;
        let paid_move = self.moving_paid().is_some();
        for o in opts.iter().take(room) {
            let Some(u) = self.ctx.unit(o.unit_id).cloned() else { continue };
            self.card(&u, &o.quote, &r.stay);
            let title = if moving_one { "Sí, cambiarla".to_string() } else { reserve_title(&u.name) };
            // A paid booking moves to another cabin through its own quote (with the difference).
            let (kind, title) =
                if paid_move { ("check", crate::render::fit_title("Pasar a", &u.name)) } else { ("reserve", title) };
            options.push(Choice::new(offer_id(kind, Some(u.id), &r.stay, r.guests), title).with_description(format!(
                "{} en total · seña {}",
                say::money(o.quote.total),
                say::money(o.quote.deposit)
            )));
            offers.push(Offer { unit_id: u.id, stay: r.stay, guests: r.guests, total: o.quote.total });
        }
        options.extend(extra);
        match self.st.moving.clone() {
            Some(code) => options.push(Choice::new(format!("keep:{code}"), "No, dejarla así")),
            None => options.push(Choice::new("other_dates", "Otras fechas")),
        }
        self.st.stage = Stage::Offered { offers, group: Vec::new() };
        self.choices(body, options);
    }

    /// A cabin named alone after several offers: its card again, and "¿te la reservo?".
    pub(super) fn confirm_pick(&mut self, c: &Choice) -> bool {
        let parts: Vec<&str> = c.id.split(':').collect();
        let Some((Some(unit), stay, guests)) = parts.get(1..).and_then(parse_offer) else { return false };
        let Some(u) = self.ctx.unit(unit).cloned() else { return false };
        let Stage::Offered { offers, .. } = self.st.stage.clone() else { return false };
        let Some(o) = offers.into_iter().find(|o| o.unit_id == unit && o.stay == stay) else { return false };
        let deposit = o.total.percent(self.ctx.pricing.deposit_percent);
        let body = format!(
            "{}, {} ({}) para {guests}: {} en total, seña {}. ¿Te la reservo?",
            u.name,
            self.range(&stay),
            say::nights(stay.nights()),
            say::money(o.total),
            say::money(deposit)
        );
        self.st.stage = Stage::Offered { offers: vec![o], group: Vec::new() };
        let yes = Choice::new(c.id.clone(), reserve_title(&u.name)).with_description(format!(
            "{} en total · seña {}",
            say::money(o.total),
            say::money(deposit)
        ));
        self.choices(body, vec![yes, Choice::new("other_dates", "Otras fechas")]);
        true
    }

    /// The total shown for a unit and stay, if it was offered.
    pub(super) fn offered_total(&self, unit: i64, stay: &Stay) -> Money {
        match &self.st.stage {
            Stage::Offered { offers, .. } => {
                offers.iter().find(|o| o.unit_id == unit && o.stay == *stay).map(|o| o.total).unwrap_or(Money::ZERO)
            }
            _ => Money::ZERO,
        }
    }
}
