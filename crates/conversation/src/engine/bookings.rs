//! The guest's own reservations: cancel (with confirmation), change dates, "¿está confirmada?",
//! payment questions, the hold's timers, and what the owner did (a cancellation, a payment the
//! bot cannot turn into a booking).

use super::*;

impl Engine<'_> {
    /// A reservation of this contact by code: the server's view first, then our memory.
    pub(super) fn booking(&self, code: &str) -> Option<BookingInfo> {
        self.ctx
            .reservations
            .iter()
            .find(|b| b.code.eq_ignore_ascii_case(code))
            .cloned()
            .or_else(|| self.st.hold.clone().filter(|h| h.code.eq_ignore_ascii_case(code)))
    }

    /// Reservations that can still be paid or cancelled, most relevant first.
    pub(super) fn open_bookings(&self) -> Vec<BookingInfo> {
        let mut out: Vec<BookingInfo> = self
            .ctx
            .reservations
            .iter()
            .filter(|b| {
                matches!(b.status, ReservationStatus::PreReserved | ReservationStatus::Confirmed)
                    && b.stay.check_out > self.ctx.today
                    && !(b.status == ReservationStatus::PreReserved
                        && b.expires_at.is_some_and(|at| at <= self.ctx.now))
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

    /// The reservation a message is about: a code written, the hold being talked about, or the
    /// only open one.
    fn target(&self, text: &str) -> Option<BookingInfo> {
        self.mentioned_code(text).or_else(|| {
            let open = self.open_bookings();
            if let Stage::Holding { code } = &self.st.stage
                && let Some(b) = open.iter().find(|b| &b.code == code)
            {
                return Some(b.clone());
            }
            (open.len() == 1).then(|| open[0].clone())
        })
    }

    // ---- rating ------------------------------------------------------------------------------

    /// The stay a rating is about: the latest confirmed one that ended in the last
    /// [`RATING_DAYS`](crate::RATING_DAYS) days.
    fn rateable(&self) -> Option<BookingInfo> {
        self.ctx
            .reservations
            .iter()
            .filter(|b| b.status == ReservationStatus::Confirmed && crate::rateable(b.stay.check_out, self.ctx.today))
            .max_by_key(|b| b.stay.check_out)
            .cloned()
    }

    /// "5", "⭐⭐⭐⭐", "un 10": the rating of a stay that just ended (the thank-you asks for it).
    /// Returns whether the message was one. A second rating keeps the first.
    pub(super) fn rate(&mut self, text: &str) -> bool {
        let (Some(r), Some(b)) = (nlu::rating(text), self.rateable()) else { return false };
        self.st.choices.clear();
        if b.rated {
            self.text("¡Gracias! Ya tenemos anotada tu calificación 🙂");
            return true;
        }
        self.fx.push(Effect::RecordReview { code: b.code.clone(), stars: r.stars, comment: r.comment.clone() });
        if r.stars <= 3 {
            let who = self.who();
            let said =
                if r.comment.is_empty() { String::new() } else { format!(": «{}»", say::clip(&r.comment, 300)) };
            self.fx.push(Effect::AlertOwner {
                text: format!("{who} calificó su estadía ({}) con {}/5{said}.", b.code, r.stars),
            });
            self.text("Gracias por contarnos 🙏 Le paso tu calificación al dueño para que podamos mejorar.");
        } else {
            self.text(format!(
                "¡Muchas gracias por tu calificación! {} Nos alegra que hayas disfrutado. ¡Te esperamos de nuevo!",
                "⭐".repeat(usize::from(r.stars))
            ));
        }
        true
    }

    // ---- cancel -------------------------------------------------------------------------------

    pub(super) fn cancel(&mut self, text: &str) {
        self.st.choices.clear();
        if let Some(b) = self.target(text) {
            return self.cancel_booking(&b);
        }
        let open = self.open_bookings();
        if !open.is_empty() {
            self.st.stage = Stage::Idle;
            let options = open
                .iter()
                .take(9)
                .map(|b| {
                    Choice::new(format!("cancel:{}", b.code), crate::render::fit_title("Cancelar", &b.code))
                        .with_description(format!("{}, {}", self.unit_name(b.unit_id), say::short_range(&b.stay)))
                })
                .collect();
            return self.choices("¿Cuál de tus reservas querés cancelar?", options);
        }
        if self.in_flow() || matches!(self.st.stage, Stage::Confirming { .. }) || self.search_ready() {
            self.st.stage = Stage::Idle;
            self.st.slots = Slots::default();
            return self.text("Listo, dejamos la búsqueda. Cuando quieras, escribime 🙂");
        }
        self.st.stage = Stage::Idle;
        self.text("No veo reservas hechas desde este número. Si tenés un código de reserva, escribímelo y lo reviso.");
    }

    pub(super) fn cancel_booking(&mut self, b: &BookingInfo) {
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
            ReservationStatus::Confirmed if self.refund_policy().is_some() => {
                let policy = self.refund_policy().unwrap_or(domain::CancellationPolicy::Credit);
                let what = match policy.refund(b.deposit, b.stay.check_in, self.ctx.today) {
                    domain::RefundDecision::Money { amount, .. } if amount > domain::Money::ZERO => format!(
                        "Si la cancelás hoy, te corresponde una devolución de {} de la seña; la aprueba el dueño y sale por Mercado Pago al mismo medio con que pagaste.",
                        amount.to_ars()
                    ),
                    domain::RefundDecision::Money { .. } => {
                        "Si la cancelás hoy, según la política no hay devolución de la seña.".to_string()
                    }
                    domain::RefundDecision::Credit { .. } => {
                        "Si la cancelás, la seña queda como crédito para otra fecha.".to_string()
                    }
                };
                self.st.stage = Stage::ConfirmCancel { code: b.code.clone() };
                let body = format!(
                    "Tu reserva *{}* ({}, {}) ya está paga. {} {what}\n¿La cancelo?",
                    b.code,
                    self.unit_name(b.unit_id),
                    self.range(&b.stay),
                    policy.describe()
                );
                self.choices(
                    body,
                    vec![Choice::new(format!("yes:cancel:{}", b.code), "Sí, cancelar"), Choice::new("no:cancel", "No")],
                );
            }
            ReservationStatus::Confirmed => {
                let who = self.who();
                self.fx.push(Effect::HandOff);
                self.fx.push(Effect::AlertOwner {
                    text: format!(
                        "{who} pide cancelar la reserva pagada {}: {}, {}, {}.",
                        b.code,
                        self.unit_name(b.unit_id),
                        self.range(&b.stay),
                        say::people(b.guests)
                    ),
                });
                let policy = self.policy_line(&self.ctx.property.cancellation);
                self.text(format!(
                    "Tu reserva *{}* ya está paga, así que la cancelación la ve el dueño{policy}. Ya le avisé y te escribe por acá 🙏",
                    b.code
                ));
                self.give_to_person();
            }
            _ => {
                self.st.stage = Stage::Idle;
                self.text(format!("La reserva *{}* ya no está activa, no hace falta cancelarla 🙂", b.code));
            }
        }
    }

    /// The owner's typed refund policy, when there is one.
    fn refund_policy(&self) -> Option<domain::CancellationPolicy> {
        domain::CancellationPolicy::parse(&self.ctx.property.refund_policy).ok().flatten()
    }

    /// " (la política: …)" when the owner wrote one.
    fn policy_line(&self, policy: &str) -> String {
        let p = policy.trim();
        if p.is_empty() {
            return String::new();
        }
        let p = say::clip(p, 300);
        let mut c = p.trim_end_matches('.').chars();
        let lower: String = c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default();
        format!(" (según la política: {lower})")
    }

    pub(super) fn on_cancel_answer(&mut self, code: &str, yes: bool) {
        self.st.choices.clear();
        // A paid booking is cancelled in the chat only under a typed policy (the guest was told
        // what it gives back); otherwise it goes to the owner.
        let paid_ok = self.refund_policy().is_some();
        let still_open = self.booking(code).filter(|b| {
            b.status == ReservationStatus::PreReserved || (paid_ok && b.status == ReservationStatus::Confirmed)
        });
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

    pub(super) fn on_cancelled(&mut self, code: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.status = ReservationStatus::Cancelled;
        }
        if self.st.replaced.as_deref() == Some(code) {
            // The old hold of a move: the summary of the new one said so already.
            self.st.replaced = None;
            return;
        }
        if matches!(&self.st.stage, Stage::Holding { code: c } | Stage::ConfirmCancel { code: c } if c == code) {
            self.st.stage = Stage::Idle;
        }
        self.st.choices.clear();
        let paid = self.booking(code).is_some_and(|b| b.paid);
        let money = if paid {
            " Le avisé al dueño por la seña: si corresponde devolución, te aviso por acá cuando salga."
        } else {
            ""
        };
        self.text(format!(
            "Listo, cancelé la reserva *{code}* y las fechas quedaron libres.{money} Si querés armar otra, escribime 🙂"
        ));
    }

    // ---- change of dates ------------------------------------------------------------------------

    /// "cambiame al 14": move an unpaid hold (a new hold, then the old one is cancelled) or a
    /// paid booking (a quote with the difference, an explicit yes, then one move); without a
    /// booking it is just a new search.
    pub(super) fn change(&mut self, a: &Analysis, text: &str) {
        match self.target(text) {
            Some(b) => self.change_booking(&b, Some(a), text),
            None if self.open_bookings().len() > 1 => {
                let options = self
                    .open_bookings()
                    .iter()
                    .take(9)
                    .map(|b| {
                        Choice::new(format!("change:{}", b.code), crate::render::fit_title("Cambiar", &b.code))
                            .with_description(format!("{}, {}", self.unit_name(b.unit_id), say::short_range(&b.stay)))
                    })
                    .collect();
                self.choices("¿Cuál de tus reservas querés cambiar?", options);
            }
            None => self.request(a, true),
        }
    }

    /// The message read again against the booking's own stay: "al finde siguiente" is the
    /// weekend after it, bare days ("al 14–16") are read in its month.
    fn analyze_for(&self, text: &str, b: &BookingInfo) -> Analysis {
        let start = b.stay.check_in.with_day(1).unwrap_or(b.stay.check_in);
        let end = start.checked_add_months(chrono::Months::new(1)).unwrap_or(b.stay.check_out);
        let hint = nlu::Hint { window: Some((start, end)), stay: Some((b.stay.check_in, b.stay.check_out)) };
        nlu::analyze_with(text, self.ctx.today, &self.ctx.unit_refs(), &hint)
    }

    /// What a message changes of a booking, beyond explicit dates and party: "un día antes",
    /// "una noche más", "se suma uno más".
    fn relative_change(&self, text: &str, b: &BookingInfo) -> Slots {
        let n = format!(" {} ", normalize(text));
        let has = |w: &[&str]| w.iter().any(|w| n.contains(&format!(" {w} ")));
        let mut out = Slots::default();
        let one_day = has(&["un dia", "una noche", "1 dia", "1 noche"]);
        let arrive = has(&["llegar", "llegamos", "llego", "entrar", "entramos", "ingresar", "ingresamos", "venir"]);
        let leave = has(&["irnos", "nos vamos", "me voy", "salir", "salimos", "quedarnos", "nos quedamos", "quedarme"]);
        let day = chrono::Days::new(1);
        if one_day && arrive && has(&["antes"]) {
            out.check_in = b.stay.check_in.checked_sub_days(day);
        } else if one_day && arrive && has(&["despues", "mas tarde"]) {
            out.check_in = b.stay.check_in.checked_add_days(day);
        } else if one_day && leave && has(&["antes"]) {
            out.check_out = b.stay.check_out.checked_sub_days(day);
        } else if one_day && (has(&["mas", "despues"]) && (leave || !arrive)) {
            out.check_out = b.stay.check_out.checked_add_days(day);
        }
        if out.check_in.is_some() && out.check_out.is_none() {
            out.check_out = Some(b.stay.check_out);
        }
        if out.check_out.is_some() && out.check_in.is_none() {
            out.check_in = Some(b.stay.check_in);
        }
        let more = if has(&["uno mas", "una mas", "una persona mas", "un huesped mas", "se suma uno", "se suma una"]) {
            1
        } else if has(&["dos mas", "se suman dos", "2 mas"]) {
            2
        } else {
            0
        };
        if more > 0 {
            out.guests = Some(b.guests + more);
        }
        out
    }

    /// "somos 5 al final", "se suma uno más", "¿podemos llegar un día antes?" with one paid
    /// booking and no search going on: a change of that booking.
    pub(super) fn booking_change_in(&self, a: &Analysis, text: &str) -> Option<BookingInfo> {
        if self.in_flow() || matches!(a.intent, Intent::Cancel | Intent::Human | Intent::Payment | Intent::Status) {
            return None;
        }
        let paid: Vec<BookingInfo> =
            self.open_bookings().into_iter().filter(|b| b.status == ReservationStatus::Confirmed).collect();
        let [b] = paid.as_slice() else { return None };
        let rel = self.relative_change(text, b);
        let n = normalize(text);
        let finally = ["al final", "finalmente", "ahora somos", "en realidad somos", "al fin somos"]
            .iter()
            .any(|w| n.contains(w));
        let more_people = a.guests.is_some_and(|g| g != b.guests) && finally && a.check_in.is_none();
        (rel != Slots::default() || more_people).then(|| b.clone())
    }

    pub(super) fn change_booking(&mut self, b: &BookingInfo, a: Option<&Analysis>, text: &str) {
        self.st.choices.clear();
        let days_left = (b.stay.check_in - self.ctx.today).num_days();
        match b.status {
            ReservationStatus::Confirmed if days_left < crate::CHANGE_NOTICE_DAYS => {
                let who = self.who();
                let wish = a
                    .and_then(|a| a.check_in)
                    .map(|d| format!(" (quiere pasarla al {})", say::date(d, self.ctx.today)))
                    .unwrap_or_default();
                self.fx.push(Effect::HandOff);
                self.fx.push(Effect::AlertOwner {
                    text: format!(
                        "{who} pide cambiar la reserva pagada {}: {}, {}{wish}.",
                        b.code,
                        self.unit_name(b.unit_id),
                        self.range(&b.stay)
                    ),
                });
                let policy = self.policy_line(&self.ctx.property.date_changes);
                self.text(format!(
                    "Tu reserva *{}* ya está paga y la llegada está muy cerca, así que el cambio lo ve el dueño{policy}. Ya le avisé y te escribe por acá 🙏",
                    b.code
                ));
                self.give_to_person();
            }
            ReservationStatus::PreReserved | ReservationStatus::Confirmed => {
                self.st.moving = Some(b.code.clone());
                self.st.slots.check_in = Some(b.stay.check_in);
                self.st.slots.check_out = Some(b.stay.check_out);
                self.st.slots.nights = None;
                self.st.slots.guests = Some(b.guests);
                self.st.slots.unit = Some(b.unit_id);
                self.st.slots.window = None;
                self.st.slots.period = None;
                let mut new = match a {
                    Some(_) if b.status == ReservationStatus::Confirmed => self.slots_of(&self.analyze_for(text, b)),
                    Some(a) => self.slots_of(a),
                    None => Slots::default(),
                };
                if b.status == ReservationStatus::Confirmed {
                    let rel = self.relative_change(text, b);
                    if new.check_in.is_none() && new.check_out.is_none() && rel.check_in.is_some() {
                        new.check_in = rel.check_in;
                        new.check_out = rel.check_out;
                    }
                    if new.guests.is_none() {
                        new.guests = rel.guests;
                    }
                }
                if new.check_in.is_none() && new.check_out.is_none() && new.nights.is_none() && new.guests.is_none() {
                    self.st.slots.check_in = None;
                    self.st.slots.check_out = None;
                    self.st.slots.nights = Some(b.stay.nights());
                    self.st.stage = Stage::AwaitingDates;
                    return self.text(format!(
                        "Dale. ¿A qué fechas querés pasar la reserva *{}*? Ahora es {} en {}.",
                        b.code,
                        self.range(&b.stay),
                        self.unit_name(b.unit_id)
                    ));
                }
                memory::merge(&mut self.st.slots, &new);
                self.proceed();
            }
            _ => {
                self.st.stage = Stage::Idle;
                self.text(format!(
                    "La reserva *{}* ya no está activa. Si querés, armamos una nueva: decime fechas y cuántos son 🙂",
                    b.code
                ));
            }
        }
    }

    /// The paid booking being moved, if any: availability ignores its own nights for it.
    pub(super) fn moving_paid(&self) -> Option<BookingInfo> {
        let code = self.st.moving.as_deref()?;
        self.booking(code).filter(|b| b.status == ReservationStatus::Confirmed)
    }

    /// The move's quote: the new stay's total against the old one, and an explicit question.
    pub(super) fn quote_move(&mut self, before: BookingInfo, w: &UnitOption, r: &AvailabilityResult) {
        let offer = Offer { unit_id: w.unit_id, stay: r.stay, guests: r.guests, total: w.quote.total };
        let what = format!(
            "{}, {} ({}) para {}",
            self.the_unit(offer.unit_id),
            self.range(&offer.stay),
            say::nights(offer.stay.nights()),
            offer.guests
        );
        let diff = offer.total - before.total;
        let difference = if diff > Money::ZERO {
            format!("Son {} más, que se suman al saldo{}.", say::money(diff), self.balance_when())
        } else if diff < Money::ZERO {
            format!(
                "Son {} menos: quedan a tu favor y el dueño te dice si te los devuelve o quedan como crédito.",
                say::money(Money::ZERO - diff)
            )
        } else {
            "El precio no cambia.".to_string()
        };
        let body = format!(
            "Puedo pasar tu reserva *{}* a {what}.\nTotal nuevo: {} (antes {}). {difference}\n¿La cambio?",
            before.code,
            say::money(offer.total),
            say::money(before.total)
        );
        self.fx.push(Effect::RecordQuote { unit_id: offer.unit_id, stay: offer.stay, total: offer.total });
        let yes = Choice::new(offer_id("move", Some(offer.unit_id), &offer.stay, offer.guests), "Sí, cambiarla");
        let keep = Choice::new(format!("keep:{}", before.code), "No, dejarla así");
        self.st.stage = Stage::ConfirmMove { before, offer };
        self.choices(body, vec![yes, keep]);
    }

    /// " (el saldo se paga al llegar…)" from the owner's words, when written.
    fn balance_when(&self) -> String {
        let b = self.ctx.property.balance.trim();
        if b.is_empty() {
            return String::new();
        }
        let b = say::clip(b.trim_end_matches('.'), 120);
        let mut c = b.chars();
        let lower: String = c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default();
        format!(" (el saldo se paga {lower})")
    }

    /// The guest's yes to the quote: the move itself.
    pub(super) fn confirm_move(&mut self, unit: i64, stay: Stay, guests: u32) -> bool {
        let Stage::ConfirmMove { before, offer } = self.st.stage.clone() else { return false };
        if (offer.unit_id, offer.stay, offer.guests) != (unit, stay, guests) {
            return false;
        }
        self.st.choices.clear();
        self.fx.push(Effect::MoveBooking { code: before.code, unit_id: unit, stay, guests });
        true
    }

    pub(super) fn on_moved(&mut self, after: BookingInfo) {
        let before = match self.st.stage.clone() {
            Stage::ConfirmMove { before, .. } if before.code == after.code => before,
            _ => self.booking(&after.code).unwrap_or_else(|| after.clone()),
        };
        self.st.moving = None;
        self.st.stage = Stage::Idle;
        self.st.choices.clear();
        self.st.slots.check_in = None;
        self.st.slots.check_out = None;
        self.st.slots.nights = None;
        self.st.slots.unit = None;
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == after.code) {
            *h = after.clone();
        }
        let diff = after.total - before.total;
        let balance = after.total - after.deposit;
        let mut t = format!(
            "¡Listo! Cambié tu reserva *{}* ✅\n{} · {} · {} · {}\nTotal: {} · Seña pagada: {} · Saldo: {}",
            after.code,
            self.unit_name(after.unit_id),
            capital(&self.range(&after.stay)),
            say::nights(after.stay.nights()),
            say::people(after.guests),
            say::money(after.total),
            say::money(after.deposit),
            say::money(balance.max(Money::ZERO))
        );
        if diff < Money::ZERO {
            t.push_str(&format!(
                "\nQuedan {} a tu favor: ya le avisé al dueño y te escribe para devolvértelos o dejarlos como crédito.",
                say::money(Money::ZERO - diff)
            ));
        } else if diff > Money::ZERO {
            t.push_str(&format!("\nLa diferencia ({}) se paga con el saldo{}.", say::money(diff), self.balance_when()));
        }
        self.text(t);
        let who = self.who();
        let money = if diff > Money::ZERO {
            format!("el saldo sube {}", diff.to_ars())
        } else if diff < Money::ZERO {
            format!(
                "quedan {} a favor del huésped: resolvé si se devuelven o quedan como crédito",
                (Money::ZERO - diff).to_ars()
            )
        } else {
            "el total no cambia".to_string()
        };
        self.fx.push(Effect::AlertOwner {
            text: format!(
                "{who} cambió desde el chat la reserva pagada {}: {}, {}, {} → {}, {}, {}. Total {} → {}: {money}.",
                after.code,
                self.unit_name(before.unit_id),
                self.range(&before.stay),
                say::people(before.guests),
                self.unit_name(after.unit_id),
                self.range(&after.stay),
                say::people(after.guests),
                before.total.to_ars(),
                after.total.to_ars()
            ),
        });
    }

    pub(super) fn on_move_failed(&mut self, code: &str, reason: HoldFailure) {
        let offer = match &self.st.stage {
            Stage::ConfirmMove { offer, .. } => Some(*offer),
            _ => None,
        };
        self.st.choices.clear();
        match (reason, offer) {
            (HoldFailure::Taken, Some(o)) => {
                self.text(format!(
                    "Uy, justo se ocupó {} para esas fechas 😕 Tu reserva sigue como estaba. Te busco otras opciones…",
                    self.the_unit(o.unit_id)
                ));
                self.st.moving = Some(code.to_string());
                self.st.stage = Stage::Checking { reserve: false, after_taken: true };
                self.fx.push(Effect::CheckAvailability {
                    stay: o.stay,
                    guests: o.guests,
                    unit: Some(o.unit_id),
                    among: Vec::new(),
                    except: Some(code.to_string()),
                });
            }
            (reason, _) => {
                self.st.stage = Stage::Idle;
                let why = match reason {
                    HoldFailure::Invalid(why) if !why.trim().is_empty() && !why.contains(['_', '{', '}']) => {
                        format!(": {}", why.trim().trim_end_matches('.'))
                    }
                    _ => String::new(),
                };
                self.choices(
                    format!(
                        "No pude cambiar la reserva *{code}*{why} 😕 Sigue como estaba. ¿Probamos con otras fechas?"
                    ),
                    vec![
                        Choice::new("other_dates", "Otras fechas"),
                        Choice::new(format!("keep:{code}"), "No, dejarla así"),
                    ],
                );
            }
        }
    }

    // ---- status --------------------------------------------------------------------------------

    /// "¿está confirmada?", "¿qué pasó con mi reserva?", "¿por qué me cancelaron?".
    pub(super) fn status(&mut self, text: &str) {
        self.st.choices.clear();
        let b = self
            .mentioned_code(text)
            .or_else(|| self.open_bookings().into_iter().next())
            .or_else(|| self.ctx.reservations.first().cloned())
            .or_else(|| self.st.hold.clone());
        let Some(b) = b else {
            return self.text(
                "No veo reservas hechas desde este número. Si tenés un código de reserva, escribímelo y lo reviso.",
            );
        };
        let what = format!("*{}* ({}, {})", b.code, self.unit_name(b.unit_id), self.range(&b.stay));
        match b.status {
            ReservationStatus::Confirmed => {
                self.text(format!("Tu reserva {what} está confirmada ✅ ¡Te esperamos!"));
            }
            ReservationStatus::PreReserved => {
                let until = b.expires_at.map(|at| format!(" {}", self.until(at))).unwrap_or_default();
                let link = b.payment_link.as_ref().map(|l| format!(" Pagá acá: {l}")).unwrap_or_default();
                self.text(format!(
                    "Tu reserva {what} está esperando la seña de {}{until}.{link}",
                    say::money(b.deposit)
                ));
            }
            ReservationStatus::Cancelled if self.st.owner_cancelled.contains(&b.code) => {
                let who = self.who();
                self.fx.push(Effect::HandOff);
                self.fx.push(Effect::AlertOwner {
                    text: format!(
                        "{who} pregunta por la reserva {} que cancelaste ({}, {}). Último mensaje: “{}”",
                        b.code,
                        self.unit_name(b.unit_id),
                        self.range(&b.stay),
                        say::clip(text.trim(), 300)
                    ),
                });
                let deposit = if b.paid { " (y lo de la seña que pagaste)" } else { "" };
                self.text(format!(
                    "La reserva {what} la canceló el alojamiento. El motivo{deposit} te lo explica el dueño: ya le avisé que preguntaste y te escribe por acá 🙏"
                ));
                self.give_to_person();
            }
            ReservationStatus::Cancelled => {
                self.text(format!(
                    "La reserva {what} está cancelada. Si querés armar otra, decime fechas y cuántos son 🙂"
                ));
            }
            ReservationStatus::Expired => {
                let body =
                    format!("La reserva {what} venció sin el pago y las fechas se liberaron. ¿La armamos de nuevo?");
                let again = Choice::new(offer_id("check", Some(b.unit_id), &b.stay, b.guests), "Buscar de nuevo")
                    .with_description(format!("{}, {}", self.unit_name(b.unit_id), self.range(&b.stay)));
                self.choices(body, vec![again, Choice::new("other_dates", "Otras fechas")]);
            }
            ReservationStatus::Blocked => self.text(format!("La reserva {what} la maneja el dueño directamente.")),
        }
    }

    // ---- payment -------------------------------------------------------------------------------

    pub(super) fn payment(&mut self, text: &str) {
        self.st.choices.clear();
        let norm = normalize(text);
        let says_paid = [
            "ya pague",
            "ya pagamos",
            "ya transferi",
            "ya hice el pago",
            "ya lo pague",
            "te transferi",
            "les transferi",
            "comprobante",
        ]
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
            return self.payment_methods(text);
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
                let by_transfer = says_paid && norm.contains("transf") && self.ctx.property.transfer.is_some();
                let t = match (&b.payment_link, says_paid) {
                    (_, true) if by_transfer => {
                        let who = self.who();
                        self.fx.push(Effect::AlertOwner {
                            text: format!(
                                "{who} dice que pagó la seña de la reserva {} por transferencia. Revisá la cuenta y confirmala.",
                                b.code
                            ),
                        });
                        format!(
                            "¡Gracias! Le aviso al dueño para que confirme la reserva *{}* apenas vea la transferencia.{until}",
                            b.code
                        )
                    }
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

    pub(super) fn on_payment_link(&mut self, code: &str, url: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.payment_link = Some(url.to_string());
        }
        let b = self.booking(code);
        let deposit = b.as_ref().map(|b| format!(" de {}", say::money(b.deposit))).unwrap_or_default();
        let until =
            b.and_then(|b| b.expires_at).map(|at| format!("\nTe la guardo {}.", self.until(at))).unwrap_or_default();
        self.text(format!("Acá tenés el link para pagar la seña{deposit} de la reserva *{code}*: {url}{until}"));
    }

    pub(super) fn on_paid(&mut self, code: &str) {
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

    pub(super) fn on_reminder(&mut self, code: &str) {
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

    pub(super) fn on_expired(&mut self, code: &str) {
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.status = ReservationStatus::Expired;
        }
        let b = self.booking(code);
        if b.as_ref().is_some_and(|b| matches!(b.status, ReservationStatus::Confirmed | ReservationStatus::Cancelled)) {
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

    // ---- what the owner did ----------------------------------------------------------------------

    /// The owner cancelled a reservation of this chat: the guest hears it here and a person
    /// takes the chat (it shows as waiting in Conversaciones).
    pub(super) fn on_owner_cancelled(&mut self, code: &str) {
        if !self.st.owner_cancelled.iter().any(|c| c == code) {
            self.st.owner_cancelled.push(code.to_string());
        }
        if let Some(h) = self.st.hold.as_mut().filter(|h| h.code == code) {
            h.status = ReservationStatus::Cancelled;
        }
        if self.st.moving.as_deref() == Some(code) {
            self.st.moving = None;
        }
        let booking = self.booking(code);
        let what = match &booking {
            Some(b) => format!("*{code}* en {} ({})", self.unit_name(b.unit_id), self.range(&b.stay)),
            None => format!("*{code}*"),
        };
        // A paid reservation: the guest's first worry is the deposit; no promise, a person.
        let options = if booking.is_some_and(|b| b.paid) {
            "ver qué hacemos con la seña que pagaste (devolvértela u otras fechas)"
        } else {
            "ver opciones"
        };
        self.fx.push(Effect::HandOff);
        self.text(format!(
            "Hola{}. Te escribimos por tu reserva {what}: el alojamiento tuvo que cancelarla 😔 En un rato te escribe una persona por acá para explicarte y {options}.",
            self.name()
        ));
        self.give_to_person();
    }

    /// A payment that cannot become a booking: kind words, and a person takes over.
    pub(super) fn on_payment_needs_owner(&mut self, code: &str, amount: Money, reason: PaymentProblem) {
        let why = match reason {
            PaymentProblem::Cancelled => "esa reserva ya estaba cancelada",
            PaymentProblem::DatesTaken => "la reserva había vencido y esas fechas ya se ocuparon",
        };
        self.fx.push(Effect::HandOff);
        self.text(format!(
            "Recibimos tu pago de {} para la reserva *{code}*, pero {why} 😔 No te preocupes: ya le avisé al dueño y te escribe por acá para devolvértelo o buscar otras fechas 🙏",
            say::money(amount)
        ));
        self.give_to_person();
    }
}
