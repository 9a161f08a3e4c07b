//! Answers from what the owner wrote ("Tu alojamiento": address, times, payment methods,
//! policies, what is included, what is near) and from the catalogue (amenities, photos,
//! prices). What nobody wrote down is never made up: the guest is offered a person.

use super::*;
use domain::{RuleEffect, RuleScope};

/// Amenity words per topic, as owners write them.
fn amenity_words(topic: Topic) -> &'static [&'static str] {
    match topic {
        Topic::Pool => &["pileta", "piscina", "pool"],
        Topic::Wifi => &["wifi", "wi fi", "internet"],
        Topic::Parking => &["estacionamiento", "cochera", "parking", "garage", "garaje"],
        Topic::Grill => &["parrilla", "asador", "quincho", "parrillero"],
        _ => &[],
    }
}

pub(super) fn amenity_label(topic: Topic) -> &'static str {
    match topic {
        Topic::Pool => "pileta",
        Topic::Wifi => "wifi",
        Topic::Parking => "estacionamiento",
        Topic::Grill => "parrilla",
        _ => "eso",
    }
}

fn find_amenity(u: &UnitInfo, topic: Topic) -> Option<&String> {
    let words = amenity_words(topic);
    u.amenities.iter().find(|am| {
        let n = normalize(am);
        words.iter().any(|w| n.contains(w))
    })
}

pub(super) fn has_amenity(u: &UnitInfo, topic: Topic) -> bool {
    find_amenity(u, topic).is_some()
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
pub(super) fn abbreviate(name: &str, room: usize) -> String {
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

/// The owner's text, trimmed and bounded; `None` when empty.
fn owner(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| say::clip(t, 1500))
}

impl Engine<'_> {
    pub(super) fn info(&mut self, a: &Analysis, text: &str) {
        let before = self.st.slots.clone();
        self.absorb_constraints(a);
        let unit = a.unit.as_deref().and_then(|s| self.unit_by_slug(s)).and_then(|id| self.ctx.unit(id)).cloned();
        let units: Vec<UnitInfo> = match &unit {
            Some(u) => vec![u.clone()],
            None => self.ctx.units.clone(),
        };
        if units.is_empty() {
            return self.text(self.with_reask("Ahora no tengo cabañas para mostrarte 😕".into()));
        }
        let p = self.ctx.property.clone();
        let topic = a.topic.unwrap_or(Topic::Amenities);
        let t = match topic {
            Topic::Pets => {
                let yes: Vec<String> = units.iter().filter(|u| u.pets_allowed).map(|u| u.name.clone()).collect();
                let no: Vec<String> = units.iter().filter(|u| !u.pets_allowed).map(|u| u.name.clone()).collect();
                let mut t = match (&unit, yes.is_empty(), no.is_empty()) {
                    (Some(u), false, _) => format!("Sí, en {} las mascotas son bienvenidas 🐶", say::the_unit(&u.name)),
                    (Some(u), true, _) => format!("En {} no se aceptan mascotas, perdón.", say::the_unit(&u.name)),
                    (None, _, true) => "Sí, las mascotas son bienvenidas 🐶".into(),
                    (None, true, _) => "Perdón, no aceptamos mascotas.".into(),
                    (None, false, false) => {
                        format!("Se aceptan mascotas en {}; en {} no.", say::join(&yes), say::join(&no))
                    }
                };
                if let Some(rule) = owner(&p.pets).filter(|_| !yes.is_empty()) {
                    t.push_str(&format!("\n{rule}"));
                }
                t
            }
            Topic::Pool | Topic::Wifi | Topic::Parking | Topic::Grill => {
                let label = amenity_label(topic);
                let with: Vec<(String, String)> = units
                    .iter()
                    .filter_map(|u| find_amenity(u, topic).map(|am| (u.name.clone(), am.to_lowercase())))
                    .collect();
                let without: Vec<String> =
                    units.iter().filter(|u| find_amenity(u, topic).is_none()).map(|u| u.name.clone()).collect();
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
            Topic::Location => {
                let mut t = owner(&p.address).map(|a| format!("📍 {a}")).unwrap_or_default();
                if let Some(link) = p.map_link.as_ref().filter(|l| !l.trim().is_empty()) {
                    if t.is_empty() {
                        t = format!("📍 Acá tenés la ubicación en el mapa: {link}");
                    } else {
                        t.push_str(&format!("\nMapa: {link}"));
                    }
                }
                if t.is_empty() {
                    return self.offer_person("Eso no lo tengo anotado 😕");
                }
                t
            }
            Topic::Directions => match (owner(&p.directions), owner(&p.address), p.map_link.as_ref()) {
                (Some(d), _, link) => {
                    let mut t = format!("🚗 {d}");
                    if let Some(l) = link {
                        t.push_str(&format!("\nMapa: {l}"));
                    }
                    t
                }
                (None, Some(a), Some(l)) => format!("📍 {a}\nMapa: {l}"),
                (None, None, Some(l)) => format!("📍 Acá tenés la ubicación en el mapa: {l}"),
                (None, _, None) => return self.offer_person("Cómo llegar no lo tengo anotado 😕"),
            },
            Topic::Nearby => match owner(&p.nearby) {
                Some(n) => n,
                None => return self.offer_person("Qué hay para hacer cerca no lo tengo anotado 😕"),
            },
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
            Topic::Cancellation => {
                return self.policy(&p.cancellation, "cancel", "Cancelar mi reserva", "La política de cancelación");
            }
            Topic::DateChange => {
                return self.policy(&p.date_changes, "change", "Cambiar mi reserva", "Los cambios de fecha");
            }
            Topic::PaymentMethods => return self.payment_methods(text),
            Topic::Deposit => self.balance_words(text).unwrap_or_else(|| self.deposit_words()),
            Topic::Children => match owner(&p.children) {
                Some(c) => c,
                None => return self.offer_person("Lo de los chicos te lo confirma el dueño 🙂"),
            },
            Topic::Included => {
                let listed = match &unit {
                    Some(u) => unit_card(u),
                    None => String::new(),
                };
                match (owner(&p.included), listed.is_empty()) {
                    (Some(inc), true) => format!("Incluye: {}", say::lower_first(&inc)),
                    (Some(inc), false) => format!("{listed}\nIncluye: {}", say::lower_first(&inc)),
                    (None, false) => listed,
                    (None, true) => {
                        return self.offer_person("Qué incluye la estadía no lo tengo anotado 😕");
                    }
                }
            }
            Topic::Accessibility => {
                let yes: Vec<String> = units.iter().filter(|u| u.accessible).map(|u| u.name.clone()).collect();
                if yes.is_empty() {
                    return self.offer_person("No tengo anotado que alguna cabaña sea accesible 😕");
                }
                format!("Son accesibles: {}.", say::join(&yes))
            }
            Topic::Policies => {
                let mut parts = vec![format!(
                    "La reserva se confirma pagando una seña del {}% del total.",
                    self.ctx.pricing.deposit_percent
                )];
                parts.extend(owner(&p.house_rules));
                parts.extend(owner(&p.cancellation).map(|c| format!("Cancelaciones: {}", say::lower_first(&c))));
                parts.join("\n")
            }
            Topic::Amenities => match &unit {
                Some(u) => unit_card(u),
                None => {
                    if self.st.slots.sort == Some(Sort::Biggest) {
                        let big = units.iter().max_by_key(|u| u.capacity).cloned();
                        if let Some(b) = big {
                            return self.text(self.with_reask(format!(
                                "La más grande es {}: hasta {}.",
                                say::the_unit(&b.name),
                                say::people(b.capacity)
                            )));
                        }
                    }
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
        // A constraint said in passing ("tenemos un perro") re-checks the search it changes.
        let constraint_changed = before.pets != self.st.slots.pets
            || before.accessible != self.st.slots.accessible
            || before.amenities != self.st.slots.amenities;
        if constraint_changed && self.search_ready() && matches!(self.st.stage, Stage::Offered { .. } | Stage::Idle) {
            self.text(t);
            return self.proceed();
        }
        self.text(self.with_reask(t));
    }

    /// Pets, access, amenities and preferences said in a question stay in memory.
    fn absorb_constraints(&mut self, a: &Analysis) {
        let s = &mut self.st.slots;
        if a.pets.is_some() {
            s.pets = a.pets;
        }
        if a.accessible {
            s.accessible = true;
        }
        for t in &a.amenities {
            if !s.amenities.contains(t) {
                s.amenities.push(*t);
            }
        }
        if a.sort.is_some() {
            s.sort = a.sort;
        }
        if a.budget.is_some() {
            s.budget = a.budget;
        }
        if a.guests.is_some() {
            s.guests = a.guests;
            s.children = a.children;
        }
    }

    /// A policy question: the owner's words, and the action when the guest has a booking.
    fn policy(&mut self, policy: &str, action: &str, title: &str, what: &str) {
        let Some(text) = owner(policy) else {
            return self.offer_person(&format!("{what} te la explica el dueño 🙂"));
        };
        let open = self.open_bookings();
        match open.as_slice() {
            [b] => {
                let body = self.with_reask(format!("{text}\nSi querés, lo hacemos con tu reserva *{}*.", b.code));
                self.choices(body, vec![Choice::new(format!("{action}:{}", b.code), title)]);
            }
            _ => self.text(self.with_reask(text)),
        }
    }

    /// "¿cómo pago el saldo?" with a paid booking: its balance, how the owner said it is paid
    /// and, with Mercado Pago on, its payment link (not the deposit's rules, which no longer
    /// apply to it).
    fn balance_words(&mut self, text: &str) -> Option<String> {
        let norm = normalize(text);
        let asks_balance =
            ["saldo", "resto", "lo que falta", "lo que queda", "el restante"].iter().any(|w| norm.contains(w));
        let b = self
            .open_bookings()
            .into_iter()
            .find(|b| b.status == ReservationStatus::Confirmed && b.total.0 > b.deposit.0)
            .filter(|_| asks_balance)?;
        let due = b.pending.unwrap_or(domain::Money(b.total.0 - b.deposit.0));
        if due.0 <= 0 {
            return Some(format!("El saldo de tu reserva *{}* ya está pago ✅ ¡Te esperamos!", b.code));
        }
        let how = match owner(&self.ctx.property.balance) {
            Some(h) => capital(&h),
            None => "Cómo se abona te lo confirma el dueño 🙂".to_string(),
        };
        let link = if self.ctx.property.mercado_pago {
            self.fx.push(Effect::SendBalanceLink { code: b.code.clone() });
            "\nSi preferís, en un momento te paso el link para pagarlo con Mercado Pago."
        } else {
            ""
        };
        Some(format!(
            "El saldo de tu reserva *{}* es de {} (total {}, seña pagada {}).\n{how}{link}",
            b.code,
            say::money(due),
            say::money(b.total),
            say::money(b.deposit)
        ))
    }

    fn deposit_words(&self) -> String {
        let p = &self.ctx.property;
        let mut t = format!("La seña es del {}% del total", self.ctx.pricing.deposit_percent);
        t.push_str(match (p.mercado_pago, p.transfer.is_some()) {
            (true, true) => " y se paga con el link de Mercado Pago que te paso al reservar, o por transferencia.",
            (false, true) => " y se paga por transferencia.",
            _ => " y se paga con el link de Mercado Pago que te paso al reservar.",
        });
        if let Some(b) = owner(&p.balance) {
            t.push_str(&format!("\nEl resto: {}", say::lower_first(&b)));
        }
        if let Some(h) = self.open_bookings().into_iter().find(|b| b.status == ReservationStatus::PreReserved) {
            t.push_str(&format!("\nPara tu reserva *{}* la seña es de {}.", h.code, say::money(h.deposit)));
        } else if let Stage::Offered { offers, group } = &self.st.stage
            && let ([o], true) = (offers.as_slice(), group.is_empty())
        {
            // One offer open: its figure, the way a person would answer.
            t.push_str(&format!(
                "\nPara {} {} son {} de seña, sobre {} en total.",
                self.the_unit(o.unit_id),
                self.range(&o.stay),
                say::money(o.total.percent(self.ctx.pricing.deposit_percent)),
                say::money(o.total)
            ));
        }
        t
    }

    /// "¿Se puede pagar con transferencia?": what the owner takes, and the details when enabled.
    pub(super) fn payment_methods(&mut self, text: &str) {
        let p = self.ctx.property.clone();
        let norm = normalize(text);
        let asks_transfer = ["transfer", "cbu", "cvu", "alias"].iter().any(|w| norm.contains(w));
        let asks_cash = norm.contains("efectivo") || norm.contains("cash");
        let asks_card = ["tarjeta", "credito", "debito", "cuota", "visa", "master"].iter().any(|w| norm.contains(w));
        let asks_dollars = ["dolar", "usd", "u$s"].iter().any(|w| norm.contains(w));
        let mut lines: Vec<String> = Vec::new();
        let transfer_line = |t: &Transfer| {
            let mut parts = Vec::new();
            if !t.alias.trim().is_empty() {
                parts.push(format!("alias *{}*", t.alias.trim()));
            }
            if !t.cbu.trim().is_empty() {
                parts.push(format!("CBU {}", t.cbu.trim()));
            }
            let mut l = format!("Por transferencia: {}", say::join(&parts));
            if !t.holder.trim().is_empty() {
                l.push_str(&format!(", a nombre de {}", t.holder.trim()));
            }
            if !t.bank.trim().is_empty() {
                l.push_str(&format!(" ({})", t.bank.trim()));
            }
            l.push_str(". Mandame el comprobante por acá y el dueño confirma la reserva.");
            l
        };
        if asks_transfer {
            match &p.transfer {
                Some(t) => lines.push(format!("Sí 🙂 {}", transfer_line(t))),
                None => lines.push(
                    "Por transferencia no, la seña se paga con el link de Mercado Pago que te paso al reservar.".into(),
                ),
            }
        } else if asks_card {
            if p.mercado_pago {
                lines.push("Sí: la seña se paga con el link de Mercado Pago, que acepta tarjetas de crédito y débito (las cuotas las ofrece Mercado Pago según tu tarjeta).".into());
            } else if let Some(t) = &p.transfer {
                lines.push(format!("Con tarjeta no; la seña se paga por transferencia. {}", transfer_line(t)));
            }
        } else if asks_cash || asks_dollars {
            let deposit = if p.mercado_pago {
                "La seña se paga con el link de Mercado Pago"
            } else {
                "La seña se paga por transferencia"
            };
            lines.push(format!("{deposit}, para poder confirmar la reserva."));
        } else {
            let mut ways = Vec::new();
            if p.mercado_pago {
                ways.push("con el link de Mercado Pago que te paso al reservar (tarjeta de crédito, débito o dinero en cuenta)".to_string());
            }
            if p.transfer.is_some() {
                ways.push("por transferencia".to_string());
            }
            if ways.is_empty() {
                ways.push("con el link de pago que te paso al reservar".into());
            }
            lines.push(format!(
                "Para reservar se paga una seña del {}% {}.",
                self.ctx.pricing.deposit_percent,
                say::join(&ways)
            ));
            if let Some(t) = &p.transfer {
                lines.push(transfer_line(t));
            }
        }
        match owner(&p.balance) {
            Some(b) => lines.push(format!("El resto: {}", say::lower_first(&b))),
            None if asks_cash || asks_dollars => {
                return self.offer_person(&format!(
                    "{} El saldo y los otros medios te los confirma el dueño.",
                    lines.join("\n")
                ));
            }
            None => {}
        }
        let t = lines.join("\n");
        match self.reask() {
            Some(_) => self.text(self.with_reask(t)),
            None if self.open_bookings().is_empty() && !self.in_flow() => {
                self.text(format!("{t}\n¿Para qué fechas y cuántos son?"))
            }
            None => self.text(t),
        }
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

    /// What one night of `u` costs on the nights in memory, from the rules the quote itself uses
    /// (seasons, weekend nights, holidays): the list price alone contradicts the total in a
    /// season. One price → "$117.000 la noche"; weeknights and weekend nights apart → both;
    /// otherwise the range and the average.
    fn nightly_price_words(&self, u: &UnitInfo) -> String {
        let the_unit = capital(&say::the_unit(&u.name));
        let stay = match (self.st.slots.check_in, self.st.slots.check_out) {
            (Some(a), Some(b)) => Stay::new(a, b).ok(),
            _ => None,
        };
        let Some(stay) = stay else {
            return format!(
                "{the_unit} sale {} la noche (los viernes y sábados, algo más). Para tus fechas:",
                say::money(u.base_price)
            );
        };
        let pricing = domain::pricing::UnitPricing {
            unit_id: u.id,
            base_price: u.base_price,
            weekend_multiplier: u.weekend_multiplier,
            min_nights: u.min_nights,
        };
        let q = domain::pricing::quote(&pricing, &self.ctx.rate_rules, &self.ctx.pricing, stay);
        let one_price = |weekend: bool| {
            let mut prices = q.nights.iter().filter(|n| n.weekend == weekend).map(|n| n.price);
            let first = prices.next();
            match first {
                Some(p) if prices.all(|x| x == p) => Some(Some(p)),
                Some(_) => None,
                None => Some(None),
            }
        };
        let price = match (one_price(false), one_price(true)) {
            (Some(Some(p)), Some(None)) | (Some(None), Some(Some(p))) => format!("{} la noche", say::money(p)),
            (Some(Some(week)), Some(Some(end))) if week == end => format!("{} la noche", say::money(week)),
            (Some(Some(week)), Some(Some(end))) => {
                let days: Vec<String> =
                    self.ctx.pricing.weekend_nights.iter().map(|w| say::weekday_plural(*w).to_string()).collect();
                format!("{} la noche y {} los {}", say::money(week), say::money(end), say::join(&days))
            }
            _ => {
                let low = q.nights.iter().map(|n| n.price).min().unwrap_or(Money::ZERO);
                let high = q.nights.iter().map(|n| n.price).max().unwrap_or(Money::ZERO);
                let average = q.total.scale_to_pesos(1, q.nights.len().max(1) as i128);
                format!(
                    "entre {} y {} la noche según el día ({} en promedio)",
                    say::money(low),
                    say::money(high),
                    say::money(average)
                )
            }
        };
        format!("Para tus fechas, {} sale {price}:", say::the_unit(&u.name))
    }

    /// A price question. With the stay known it is answered with the real quote (and the
    /// confirmation "¿te la reservo?", never a hold); otherwise with the price list.
    pub(super) fn price(&mut self, a: &Analysis, text: &str) {
        // "¿cuál es la más barata?" looks across every cabin, not only the one talked about.
        if a.sort.is_some() && a.unit.is_none() {
            self.st.slots.unit = None;
        }
        self.absorb_constraints(a);
        let norm = normalize(text);
        if norm.contains("por persona") {
            self.text("El precio es por cabaña y por noche, no por persona 🙂");
        } else if norm.contains("descuento") || norm.contains("promo") {
            self.text("Descuentos especiales no tengo anotados; los precios son estos:");
        }
        let unit = a.unit.as_deref().and_then(|s| self.unit_by_slug(s)).and_then(|id| self.ctx.unit(id)).cloned();
        if let Some(u) = &unit {
            self.st.slots.unit = Some(u.id);
        }
        let window = self.slots_of(a).window;
        if window.is_some() {
            self.st.slots.window = window;
        }
        if self.search_ready() {
            if let Some(u) = &unit {
                let t = self.nightly_price_words(u);
                self.text(t);
            }
            return self.proceed();
        }
        let units: Vec<UnitInfo> = match &unit {
            Some(u) => vec![u.clone()],
            None => self.ctx.units.clone(),
        };
        if units.is_empty() {
            return self.text("Ahora no tengo precios para pasarte 😕");
        }
        if unit.is_none() && self.st.slots.sort == Some(Sort::Cheapest) {
            let fitting: Vec<&UnitInfo> = units.iter().filter(|u| self.fits(u)).collect();
            let cheapest = fitting
                .iter()
                .min_by_key(|u| u.base_price)
                .copied()
                .or_else(|| units.iter().min_by_key(|u| u.base_price));
            if let Some(c) = cheapest {
                let extra = self.constraint_words();
                let extra = if extra.is_empty() { String::new() } else { format!(" ({extra})") };
                let t = format!(
                    "La más económica{extra} es {}: hasta {}, {} la noche.\nSi me decís fechas y cuántos son, te paso el total exacto.",
                    say::the_unit(&c.name),
                    say::people(c.capacity),
                    say::money(c.base_price)
                );
                return self.text(match self.reask() {
                    Some(q) => t.replace("Si me decís fechas y cuántos son, te paso el total exacto.", q),
                    None => t,
                });
            }
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
                    format!("Las noches de fines de semana largos y vísperas de feriado tienen {what}{whose}{min}.\n")
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
        match (self.reask(), self.st.slots.window) {
            (Some(q), _) => t.push_str(&format!("\n{q}")),
            (None, Some(w)) => {
                self.st.stage = Stage::AwaitingDates;
                t.push_str(&format!("\n¿Qué días de {} serían, y cuántos son?", say::month(w.start)));
            }
            (None, None) => t.push_str("\nSi me decís fechas y cuántos son, te paso el total exacto."),
        }
        self.text(t);
    }
}
