//! Conversation memory: what the guest said stays until the guest changes it (dates or the
//! period talked about, party, pets, cabin, constraints). Each message is read against it
//! ([`nlu::Hint`]), corrections replace the right slot, and the engine asks only for what is
//! still missing.

use super::*;
use chrono::Datelike;

impl Engine<'_> {
    /// What the understanding should read a partial message against.
    pub(super) fn hint(&self) -> nlu::Hint {
        let s = &self.st.slots;
        nlu::Hint {
            window: s.window.map(|w| (w.start, w.end)),
            stay: match (s.check_in, s.check_out) {
                (Some(a), Some(b)) if b > a => Some((a, b)),
                _ => None,
            },
        }
    }

    /// Dates that went by while the guest was away are not offered again.
    pub(super) fn forget_the_past(&mut self) {
        let today = self.ctx.today;
        let s = &mut self.st.slots;
        if s.check_in.is_some_and(|d| d < today) || s.check_out.is_some_and(|d| d <= today) {
            s.check_in = None;
            s.check_out = None;
        }
        if s.window.is_some_and(|w| w.end <= today) {
            s.window = None;
        }
    }

    /// "del 20 al 24 de enero para 2", when the guest left a full search behind.
    pub(super) fn remembered_search(&self) -> Option<String> {
        let s = &self.st.slots;
        let stay = Stay::new(s.check_in?, s.check_out?).ok()?;
        let mut t = self.range(&stay);
        if let Some(g) = s.guests {
            t.push_str(&format!(" para {g}"));
        }
        if let Some(u) = s.unit {
            t.push_str(&format!(" en {}", self.the_unit(u)));
        }
        Some(t)
    }

    pub(super) fn slots_of(&self, a: &Analysis) -> Slots {
        let window = a
            .period
            .filter(|p| !p.is_stay())
            .and_then(|p| Some(Window { kind: p.kind, start: p.start?, end: p.end?, estimated: p.estimated }));
        Slots {
            check_in: a.check_in,
            check_out: a.check_out,
            nights: a.nights,
            guests: a.guests.filter(|g| (1..=60).contains(g)),
            unit: a.unit.as_deref().and_then(|s| self.unit_by_slug(s)),
            children: a.children,
            window,
            pets: a.pets,
            accessible: a.accessible,
            amenities: a.amenities.clone(),
            sort: a.sort,
            budget: a.budget,
            province: a.province,
            period: a.period.filter(|p| p.is_stay() && a.check_in == p.start).map(|p| p.kind),
        }
    }

    /// "Para Carnaval, del 6 al 9 de febrero" when the dates came from a named period.
    pub(super) fn dates_words(&self, stay: &Stay) -> String {
        let range = self.range(stay);
        let s = &self.st.slots;
        let named = s.period.filter(|_| s.check_in == Some(stay.check_in) && s.check_out == Some(stay.check_out));
        match named.and_then(say::period_name) {
            Some(name) => format!("para {name}, {range}"),
            None => range,
        }
    }

    /// Whether the memory holds a whole stay and a party: enough to check availability.
    pub(super) fn search_ready(&self) -> bool {
        let s = &self.st.slots;
        matches!((s.check_in, s.check_out), (Some(a), Some(b)) if b > a) && s.guests.is_some()
    }

    /// An availability question or a partial answer: remember it, then check or ask.
    pub(super) fn request(&mut self, a: &Analysis, fresh: bool) {
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
        let said_something = new.check_in.is_some()
            || new.check_out.is_some()
            || new.nights.is_some()
            || new.guests.is_some()
            || new.unit.is_some()
            || new.window.is_some();
        if !fresh && !self.in_flow() && a.confidence < SURE && said_something {
            let mut pending = self.st.slots.clone();
            merge(&mut pending, &new);
            self.st.stage = Stage::Confirming { pending, reserve: a.intent == Intent::Reserve };
            let q = self.confirm_question(&new);
            self.choices(q, vec![Choice::new("yes:confirm", "Sí"), Choice::new("no:confirm", "No")]);
            return;
        }
        // "¿tenés algo más barato?" looks across every cabin.
        if a.sort.is_some() && a.unit.is_none() {
            self.st.slots.unit = None;
        }
        merge(&mut self.st.slots, &new);
        if let Some(p) = a.period.filter(|p| p.kind == PeriodKind::WinterHolidays && p.start.is_none()) {
            let _ = p;
            self.st.slots.window = None;
            if self.st.slots.province.is_none() {
                self.st.stage = Stage::AwaitingProvince;
                self.st.choices.clear();
                return self
                    .text("¡Buenísimo! Las vacaciones de invierno cambian según la provincia: ¿de qué provincia son?");
            }
        }
        self.proceed();
    }

    /// Asks for what is missing, or checks availability when everything is known.
    pub(super) fn proceed(&mut self) {
        self.st.choices.clear();
        let s = self.st.slots.clone();
        // The winter break of the province just said.
        if s.window.is_none()
            && s.check_in.is_none()
            && self.st.stage == Stage::AwaitingProvince
            && let Some(p) = s.province
        {
            let year = if self.ctx.today.month() > 8 { self.ctx.today.year() + 1 } else { self.ctx.today.year() };
            if let Some(wh) = domain::periods::winter_holidays(year, p) {
                let win = wh.window();
                self.st.slots.window = Some(Window {
                    kind: PeriodKind::WinterHolidays,
                    start: win.start,
                    end: win.end,
                    estimated: wh.estimated,
                });
                return self.proceed();
            }
        }
        let (check_in, check_out) = match (s.check_in, s.check_out) {
            (Some(a), Some(b)) => (a, b),
            (None, None) => return self.ask_dates(&s),
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
                capital(&self.dates_words(&stay)),
                say::nights(stay.nights())
            );
            return self.text(t);
        };
        self.st.stage = Stage::Checking { reserve: false, after_taken: false };
        let among = self.fitting_units();
        let among = if among.len() == self.ctx.units.len() { Vec::new() } else { among };
        let except = self.moving_paid().map(|b| b.code);
        self.fx.push(Effect::CheckAvailability { stay, guests, unit: s.unit, among, except });
    }

    /// No dates yet: ask for them, using what is known (a period, a length, a cabin).
    fn ask_dates(&mut self, s: &Slots) {
        self.st.stage = Stage::AwaitingDates;
        if let Some(w) = s.window {
            let last = w.end.pred_opt().unwrap_or(w.end);
            let within = say::days(w.start, last, self.ctx.today, ("entre el", "y el"));
            let short = (w.end - w.start).num_days() <= 9;
            match (s.nights, w.kind) {
                (Some(n), _) if short => {
                    // "la semana que viene, 3 noches": from the first day of the week.
                    if let Some(out) = w.start.checked_add_days(chrono::Days::new(u64::from(n)))
                        && let Ok(_stay) = Stay::new(w.start, out)
                    {
                        self.st.slots.check_in = Some(w.start);
                        self.st.slots.check_out = Some(out);
                        return self.proceed();
                    }
                }
                (Some(n), _) => {
                    return self.text(format!("Dale, {}. ¿Desde qué día? ({within})", say::nights(n)));
                }
                (None, PeriodKind::WholeMonth) => {
                    self.st.stage = Stage::AwaitingNights;
                    let days = (w.end - w.start).num_days();
                    return self.text(format!(
                        "¿Todo {} ({days} noches) o algunas noches? Decime cuántas noches o desde qué día.",
                        say::month(w.start)
                    ));
                }
                (None, PeriodKind::WinterHolidays) => {
                    self.st.stage = Stage::AwaitingNights;
                    let who = s.province.map(|p| format!(" de {}", p.name())).unwrap_or_default();
                    let approx = if w.estimated { " (aproximadas: las confirma cada provincia)" } else { "" };
                    let first_monday = w.start + chrono::Days::new(2);
                    let last_friday = w.end - chrono::Days::new(3);
                    return self.text(format!(
                        "Las vacaciones de invierno{who} son {}{approx}. ¿Cuántas noches serían, y desde qué día?",
                        say::days(first_monday, last_friday, self.ctx.today, ("del", "al"))
                    ));
                }
                (None, PeriodKind::Month) => {
                    return self
                        .text(format!("¡Dale! ¿Qué días de {}? Por ejemplo: «del 10 al 15».", say::month(w.start)));
                }
                (None, _) => {
                    self.st.stage = Stage::AwaitingNights;
                    return self.text(format!("¿Cuántas noches serían, y desde qué día? ({within})"));
                }
            }
        }
        let t = match (s.nights, s.unit) {
            (Some(n), _) => format!("Dale, {}. ¿Desde qué día?", say::nights(n)),
            (None, Some(u)) => format!(
                "¡Buena elección, {}! ¿Para qué fechas la querés? Por ejemplo: «del 15 al 20 de enero»",
                self.unit_name(u)
            ),
            (None, None) => "¿Para qué fechas buscás? Por ejemplo: «del 15 al 20 de enero» o «el finde»".into(),
        };
        self.text(t)
    }

    /// The units that meet the guest's constraints (all of them when there are none).
    pub(super) fn fitting_units(&self) -> Vec<i64> {
        self.ctx.units.iter().filter(|u| self.fits(u)).map(|u| u.id).collect()
    }

    /// Whether a cabin meets the guest's pets / access / amenities constraints (not the budget,
    /// which depends on the stay).
    pub(super) fn fits(&self, u: &UnitInfo) -> bool {
        let s = &self.st.slots;
        if s.pets == Some(true) && !u.pets_allowed {
            return false;
        }
        if s.accessible && !u.accessible {
            return false;
        }
        s.amenities.iter().all(|t| info::has_amenity(u, *t))
    }
}

/// Adds what the guest just said to what was known. New dates replace old ones; a new
/// check-in alone keeps a known length; a new length extends a known check-in; a new period
/// replaces the old one (and dates outside it); constraints add up, a "sin mascotas" undoes one.
pub(super) fn merge(slots: &mut Slots, new: &Slots) {
    if let Some(w) = new.window {
        slots.window = Some(w);
        let outside = |d: Option<NaiveDate>| d.is_some_and(|d| d < w.start || d >= w.end);
        if new.check_in.is_none() && (outside(slots.check_in) || slots.check_in.is_none()) {
            slots.check_in = None;
            slots.check_out = None;
        }
    } else if new.check_in.is_some() && new.check_out.is_some() {
        // A whole new stay: the old period no longer frames anything it does not contain.
        if let (Some(w), Some(ci)) = (slots.window, new.check_in)
            && (ci < w.start || ci >= w.end)
        {
            slots.window = None;
        }
    }
    if new.check_in.is_some() || new.check_out.is_some() {
        slots.period = new.period;
    }
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
        slots.children = new.children;
    }
    if new.unit.is_some() {
        slots.unit = new.unit;
    }
    if new.pets.is_some() {
        slots.pets = new.pets;
    }
    if new.accessible {
        slots.accessible = true;
    }
    for a in &new.amenities {
        if !slots.amenities.contains(a) {
            slots.amenities.push(*a);
        }
    }
    if new.sort.is_some() {
        slots.sort = new.sort;
    }
    if new.budget.is_some() {
        slots.budget = new.budget;
    }
    if new.province.is_some() {
        slots.province = new.province;
    }
}
