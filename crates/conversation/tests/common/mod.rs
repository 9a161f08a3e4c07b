//! A fixed catalogue (Coihue for 2, Arrayán for 4, Cabaña Grande for 6) and a fake server that
//! carries out the engine's effects the way the real one does, feeding results back in.
#![allow(dead_code)]

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use conversation::*;
use domain::pricing::{self, UnitPricing};
use domain::{Money, Multiplier, RateRule, ReservationStatus, RuleEffect, RuleScope, Stay};

pub const CODES: [&str; 8] = ["K7M2QA", "P3XW9R", "H8TN4C", "B5VY6D", "M2RQ7E", "T9KC3F", "W4HZ8G", "N6PD2H"];

pub fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

pub fn catalogue() -> Vec<UnitInfo> {
    let mut coihue = UnitInfo::new(1, "coihue", "Coihue", 2, Money::from_pesos(40_000));
    coihue.weekend_multiplier = Multiplier(12_000);
    coihue.description = "Cabaña para dos con hogar a leña y vista al bosque.".into();
    coihue.amenities = vec!["Wi-Fi".into(), "Parrilla".into(), "Hogar a leña".into()];

    let mut arrayan = UnitInfo::new(2, "arrayan", "Arrayán", 4, Money::from_pesos(60_000));
    arrayan.weekend_multiplier = Multiplier(12_000);
    arrayan.min_nights = 2;
    arrayan.description = "Dos dormitorios, living con vista al lago y deck.".into();
    arrayan.amenities = vec!["Wi-Fi".into(), "Parrilla".into(), "Estacionamiento".into(), "Vista al lago".into()];
    arrayan.photos = vec![
        Photo { url: "https://fotos.example.com/arrayan-1.jpg".into(), caption: "Living con vista al lago".into() },
        Photo { url: "https://fotos.example.com/arrayan-2.jpg".into(), caption: "Dormitorio principal".into() },
    ];
    arrayan.pets_allowed = true;

    let mut grande = UnitInfo::new(3, "cabana-grande", "Cabaña Grande", 6, Money::from_pesos(90_000));
    grande.weekend_multiplier = Multiplier(12_000);
    grande.min_nights = 2;
    grande.description = "Tres dormitorios, dos baños y quincho.".into();
    grande.amenities = vec![
        "Wi-Fi".into(),
        "Pileta climatizada".into(),
        "Parrilla".into(),
        "Estacionamiento".into(),
        "Lavarropas".into(),
    ];
    grande.photos = vec![Photo { url: "https://fotos.example.com/grande-1.jpg".into(), caption: String::new() }];
    grande.pets_allowed = true;
    vec![coihue, arrayan, grande]
}

pub fn rules() -> Vec<RateRule> {
    vec![RateRule {
        id: 1,
        unit_id: None,
        name: "Temporada alta".into(),
        start: Some(d("2027-01-01")),
        end: Some(d("2027-03-01")),
        scope: RuleScope::AllNights,
        effect: RuleEffect::Multiplier(Multiplier(13_000)),
        min_nights: Some(3),
    }]
}

/// The fake server: a calendar, the contact's reservations and a clock.
pub struct Server {
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    pub name: Option<String>,
    pub units: Vec<UnitInfo>,
    pub rules: Vec<RateRule>,
    /// Nights taken by other guests.
    pub booked: Vec<(i64, Stay)>,
    /// This contact's reservations, newest first.
    pub reservations: Vec<BookingInfo>,
    pub fail_next_hold: Option<HoldFailure>,
    /// The next move finds its nights taken by someone else just now.
    pub fail_next_move: bool,
    pub payment_links: bool,
    pub codes_used: usize,
    /// What the owner wrote in "Tu alojamiento".
    pub property: PropertyInfo,
}

/// The owner's settings the scripts run with (`= property …` changes them).
pub fn property() -> PropertyInfo {
    PropertyInfo {
        name: "Cabañas Lago Escondido".into(),
        address: "Ruta 40 km 2130, a 3 km del centro de Villa La Angostura".into(),
        map_link: Some("https://maps.example.com/?q=lago-escondido".into()),
        check_in_from: "14:00".into(),
        check_out_until: "10:00".into(),
        mercado_pago: true,
        cancellation: "Si cancelás con más de 15 días de anticipación, te devolvemos la seña.".into(),
        ..PropertyInfo::default()
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            today: d("2026-11-23"),
            now: Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap(),
            name: Some("Juana Pérez".into()),
            units: catalogue(),
            rules: rules(),
            booked: Vec::new(),
            reservations: Vec::new(),
            fail_next_hold: None,
            fail_next_move: false,
            payment_links: true,
            codes_used: 0,
            property: property(),
        }
    }
}

impl Server {
    pub fn ctx(&self) -> Context {
        let tz = chrono_tz::America::Argentina::Buenos_Aires;
        let mut ctx = Context::new(self.today, self.now, tz);
        ctx.property = self.property.clone();
        ctx.units = self.units.clone();
        ctx.rate_rules = self.rules.clone();
        ctx.contact_name = self.name.clone();
        ctx.reservations = self.reservations.clone();
        ctx
    }

    pub fn unit_slug(&self, id: i64) -> String {
        self.units.iter().find(|u| u.id == id).map(|u| u.slug.clone()).unwrap_or_else(|| format!("#{id}"))
    }

    fn taken(&self, unit: i64, stay: &Stay) -> bool {
        self.taken_except(unit, stay, None)
    }

    fn taken_except(&self, unit: i64, stay: &Stay, except: Option<&str>) -> bool {
        self.booked.iter().any(|(u, s)| *u == unit && s.overlaps(stay))
            || self.reservations.iter().any(|b| {
                Some(b.code.as_str()) != except
                    && b.unit_id == unit
                    && b.stay.overlaps(stay)
                    && matches!(b.status, ReservationStatus::PreReserved | ReservationStatus::Confirmed)
            })
    }

    fn pricing(u: &UnitInfo) -> UnitPricing {
        UnitPricing {
            unit_id: u.id,
            base_price: u.base_price,
            weekend_multiplier: u.weekend_multiplier,
            min_nights: u.min_nights,
        }
    }

    fn option(&self, u: &UnitInfo, stay: Stay, guests: u32) -> UnitOption {
        self.option_except(u, stay, guests, None)
    }

    fn option_except(&self, u: &UnitInfo, stay: Stay, guests: u32, except: Option<&str>) -> UnitOption {
        let quote = pricing::quote(&Self::pricing(u), &self.rules, &domain::PricingPolicy::default(), stay);
        let reason = if self.taken_except(u.id, &stay, except) {
            Some(Unavailable::Taken)
        } else if guests > u.capacity {
            Some(Unavailable::TooManyGuests { capacity: u.capacity })
        } else if stay.nights() < quote.min_nights {
            Some(Unavailable::MinNights { min: quote.min_nights })
        } else {
            None
        };
        UnitOption { unit_id: u.id, available: reason.is_none(), reason, quote }
    }

    pub fn availability(&self, stay: Stay, guests: u32, unit: Option<i64>, among: &[i64]) -> AvailabilityResult {
        self.availability_except(stay, guests, unit, among, None)
    }

    pub fn availability_except(
        &self,
        stay: Stay,
        guests: u32,
        unit: Option<i64>,
        among: &[i64],
        except: Option<&str>,
    ) -> AvailabilityResult {
        let results: Vec<UnitOption> = self.units.iter().map(|u| self.option_except(u, stay, guests, except)).collect();
        let nothing_fits = !results.iter().any(|o| o.available);
        let none_among = !among.is_empty() && !results.iter().any(|o| o.available && among.contains(&o.unit_id));
        let candidates: Vec<&UnitInfo> = match unit {
            Some(w) => self.units.iter().filter(|u| u.id == w).collect(),
            None if none_among => self.units.iter().filter(|u| among.contains(&u.id) && u.capacity >= guests).collect(),
            None if nothing_fits => self.units.iter().filter(|u| u.capacity >= guests).collect(),
            None => Vec::new(),
        };
        let mut alternatives = Vec::new();
        'outer: for k in 1..=21i64 {
            for shift in [k, -k] {
                let Some(s) = stay.shifted(shift) else { continue };
                if s.check_in < self.today {
                    continue;
                }
                for u in &candidates {
                    if self.option_except(u, s, guests, except).available {
                        alternatives.push(Alternative { unit_id: u.id, stay: s });
                        if alternatives.len() == 3 {
                            break 'outer;
                        }
                    }
                }
            }
        }
        AvailabilityResult { stay, guests, unit, results, alternatives }
    }

    pub fn place_hold(&mut self, unit_id: i64, stay: Stay, guests: u32) -> Event {
        if let Some(reason) = self.fail_next_hold.take() {
            if reason == HoldFailure::Taken {
                self.booked.push((unit_id, stay));
            }
            return Event::HoldFailed { reason };
        }
        let Some(u) = self.units.iter().find(|u| u.id == unit_id).cloned() else {
            return Event::HoldFailed { reason: HoldFailure::Invalid("esa cabaña no existe".into()) };
        };
        let o = self.option(&u, stay, guests);
        match o.reason {
            Some(Unavailable::Taken) => return Event::HoldFailed { reason: HoldFailure::Taken },
            Some(Unavailable::TooManyGuests { capacity }) => {
                return Event::HoldFailed {
                    reason: HoldFailure::Invalid(format!("la cantidad de huéspedes debe estar entre 1 y {capacity}")),
                };
            }
            Some(Unavailable::MinNights { min }) => {
                return Event::HoldFailed {
                    reason: HoldFailure::Invalid(format!("la estadía mínima es de {min} noches")),
                };
            }
            None => {}
        }
        let code = CODES[self.codes_used % CODES.len()].to_string();
        self.codes_used += 1;
        let b = BookingInfo {
            code: code.clone(),
            unit_id,
            stay,
            guests,
            status: ReservationStatus::PreReserved,
            total: o.quote.total,
            deposit: o.quote.deposit,
            expires_at: Some(self.now + chrono::Duration::minutes(60)),
            payment_link: self.payment_links.then(|| format!("https://pagos.example.com/p/{code}")),
            paid: false,
            rated: false,
            pending: None,
        };
        self.reservations.insert(0, b.clone());
        Event::HoldPlaced(b)
    }

    /// A paid booking moved the way the store does it: refused on nights someone else has;
    /// the new total from the same pricing, the deposit kept.
    pub fn move_booking(&mut self, code: &str, unit_id: i64, stay: Stay, guests: u32) -> Event {
        if std::mem::take(&mut self.fail_next_move) {
            self.booked.push((unit_id, stay));
            return Event::MoveFailed { code: code.into(), reason: HoldFailure::Taken };
        }
        let Some(u) = self.units.iter().find(|u| u.id == unit_id).cloned() else {
            return Event::MoveFailed {
                code: code.into(),
                reason: HoldFailure::Invalid("esa cabaña no existe".into()),
            };
        };
        let o = self.option_except(&u, stay, guests, Some(code));
        if o.reason == Some(Unavailable::Taken) {
            return Event::MoveFailed { code: code.into(), reason: HoldFailure::Taken };
        }
        let Some(b) = self.reservations.iter_mut().find(|b| b.code == code) else {
            return Event::MoveFailed { code: code.into(), reason: HoldFailure::Invalid(String::new()) };
        };
        b.unit_id = unit_id;
        b.stay = stay;
        b.guests = guests;
        b.total = o.quote.total;
        Event::Moved { after: b.clone() }
    }

    pub fn set_status(&mut self, code: &str, status: ReservationStatus) {
        for b in self.reservations.iter_mut().filter(|b| b.code == code) {
            b.status = status;
            b.paid |= status == ReservationStatus::Confirmed;
        }
    }

    pub fn last_code(&self) -> String {
        self.reservations.first().map(|b| b.code.clone()).unwrap_or_else(|| "K7M2QA".into())
    }

    /// Runs one event through the engine and answers every effect that needs an answer, like
    /// the real server does, until nothing is left. Returns every effect in order.
    pub fn drive(&mut self, state: &mut State, event: Event) -> Vec<Effect> {
        let mut all = Vec::new();
        let mut queue = vec![event];
        let mut guard = 0;
        while let Some(ev) = queue.pop() {
            guard += 1;
            assert!(guard < 20, "effect loop does not settle");
            let out = step(state, ev, &self.ctx());
            *state = out.state;
            for e in out.effects {
                match &e {
                    Effect::CheckAvailability { stay, guests, unit, among, except } => {
                        let r = self.availability_except(*stay, *guests, *unit, among, except.as_deref());
                        queue.insert(0, Event::Availability(r));
                    }
                    Effect::MoveBooking { code, unit_id, stay, guests } => {
                        let ev = self.move_booking(code, *unit_id, *stay, *guests);
                        queue.insert(0, ev);
                    }
                    Effect::PlaceHold { unit_id, stay, guests, .. } => {
                        let ev = self.place_hold(*unit_id, *stay, *guests);
                        queue.insert(0, ev);
                    }
                    Effect::CancelHold { code } => {
                        self.set_status(code, ReservationStatus::Cancelled);
                        queue.insert(0, Event::Cancelled { code: code.clone() });
                    }
                    Effect::RecordReview { code, .. } => {
                        self.reservations.iter_mut().filter(|b| &b.code == code).for_each(|b| b.rated = true);
                    }
                    _ => {}
                }
                all.push(e);
            }
        }
        all
    }

    pub fn advance(&mut self, minutes: i64) {
        self.now += chrono::Duration::minutes(minutes);
        let local = self.now.with_timezone(&chrono_tz::America::Argentina::Buenos_Aires).date_naive();
        if local > self.today {
            self.today = local;
        }
    }

    pub fn set_today(&mut self, today: NaiveDate) {
        self.today = today;
        // 17:00 in Argentina.
        self.now = Utc.from_utc_datetime(&today.and_hms_opt(20, 0, 0).unwrap());
    }
}

pub fn stay(a: &str, b: &str) -> Stay {
    Stay::new(d(a), d(b)).expect("stay")
}

pub fn plus_days(date: NaiveDate, n: u64) -> NaiveDate {
    date + Days::new(n)
}

/// Words a guest must never see.
pub const TECHNICAL: &[&str] = &[
    "null",
    "none",
    "some(",
    "error",
    "exception",
    "database",
    "constraint",
    "json",
    "slug",
    "check_in",
    "check_out",
    "unit_id",
    "reserve:",
    "other_dates",
    "yes:",
    "no:",
    "{",
    "}",
    "_",
    "tu nombre",
    "tu teléfono",
    "tu celular",
];

/// Checks one reply: WhatsApp limits, no technical words, few emojis.
pub fn check_reply(r: &Reply) -> Result<(), String> {
    r.check_limits()?;
    let visible = match r {
        Reply::Text(t) => t.clone(),
        Reply::Photo { caption, .. } => caption.clone(),
        Reply::Choices { body, options } => {
            let mut s = body.clone();
            for o in options {
                s.push('\n');
                s.push_str(&o.title);
                s.push('\n');
                s.push_str(&o.description);
            }
            s
        }
    };
    let lower = visible.to_lowercase();
    // Links may carry anything; look at the words around them.
    let words: String = lower.split_whitespace().filter(|w| !w.starts_with("http")).collect::<Vec<_>>().join(" ");
    for bad in TECHNICAL {
        if words.contains(bad) {
            return Err(format!("technical word {bad:?} in {visible:?}"));
        }
    }
    let emojis = visible.chars().filter(|c| (*c as u32) >= 0x1F300 || ('\u{2600}'..='\u{27BF}').contains(c)).count();
    if emojis > 3 {
        return Err(format!("{emojis} emojis in {visible:?}"));
    }
    Ok(())
}
