//! # conversation — the guest dialogue as a pure state machine
//!
//! `(state, event, facts) → (state, effects)`. No I/O, no clock: the server passes the
//! [`Context`] (today, now, the property's time zone, the unit catalogue, the contact's
//! reservations), the stored [`State`] of the contact and one [`Event`]; [`step`] returns the
//! new state and a list of [`Effect`]s — data the server carries out (send a reply, check
//! availability, place a hold, alert the owner…). Effects whose result the dialogue needs
//! ([`Effect::CheckAvailability`], [`Effect::PlaceHold`], [`Effect::CancelHold`]) are answered by
//! the server with a new event ([`Event::Availability`], [`Event::HoldPlaced`] /
//! [`Event::HoldFailed`], [`Event::Cancelled`]) fed back into [`step`] in the same unit of work:
//!
//! ```text
//! guest "¿tienen lugar del 15 al 20 de enero para 4?"
//!   step(state, Message) → [CheckAvailability{stay, 4, None}]
//!   server runs the availability query
//!   step(state, Availability{…}) → [Reply(Photo), Reply(Choices "Reservar Arrayán" …), RecordQuote…]
//! guest taps "Reservar Arrayán" (button id "reserve:2:2027-01-15:2027-01-20:4")
//!   step(state, Message{Button}) → [PlaceHold{2, stay, 4, Some("Juana")}]
//!   server places the hold
//!   step(state, HoldPlaced{code, …}) → [Reply(Text summary)]
//! ```
//!
//! ```
//! use chrono::{NaiveDate, TimeZone, Utc};
//! use conversation::{Context, Effect, Event, State, UnitInfo, step};
//! use domain::Money;
//!
//! let mut ctx = Context::new(
//!     NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
//!     Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap(),
//!     chrono_tz::America::Argentina::Buenos_Aires,
//! );
//! ctx.units.push(UnitInfo::new(2, "arrayan", "Arrayán", 4, Money::from_pesos(60_000)));
//! let out = step(&State::default(), Event::text("¿tienen lugar del 15 al 20 de enero para 4?"), &ctx);
//! assert!(matches!(out.effects[0], Effect::CheckAvailability { guests: 4, .. }));
//! ```
//!
//! ## Stages
//! [`Stage`]: `Idle` → (`AwaitingDates` | `AwaitingGuests` | `Confirming`) → `Checking` →
//! `Offered` → `Reserving` → `Holding`; `ConfirmCancel` while a cancellation waits for an explicit
//! "sí"; `ConfirmMove` while a paid booking's change (new quote and difference) waits for one; `HandedOff` while a person answers (the engine emits nothing until
//! [`Event::HandOffReleased`]). The state also remembers the slots said so far (dates, party,
//! cabin), the consecutive failures, the choices last offered (so "2" or the option's words pick
//! one) and the last hold.
//!
//! ## Replies
//! [`Reply`] is abstract: text, photo, or choices. Channels render choices as WhatsApp reply
//! buttons (≤ 3 options) or a list (more), or as numbered text ([`render_numbered`]) where
//! buttons do not exist. Every reply the engine produces fits WhatsApp's limits
//! ([`Reply::check_limits`]).
//!
//! ## Inactivity
//! The server stores [`State`] as JSON per contact. After 30 minutes without a guest message
//! ([`State::expired`]) the conversation starts afresh ([`State::fresh_keeping_name`]); [`step`]
//! also does this itself when a guest message arrives on an expired state.

use chrono::{DateTime, NaiveDate, Utc};
use domain::{Money, PricingPolicy, Quote, RateRule, ReservationStatus, Stay};
pub use nlu::{Budget, PeriodKind, Province, Sort, Topic};
use serde::{Deserialize, Serialize};

mod engine;
mod render;
mod say;

pub use render::{LIMITS, Limits, render_numbered, reserve_title, select_choice};

/// Minutes of guest silence after which a pending question or offer is stale: the next message
/// starts from what the guest said, not from the last question.
pub const INACTIVITY_MINUTES: i64 = 30;

/// Hours of guest silence after which the conversation starts clean (the guest's name, the last
/// hold and what the owner did stay).
pub const MEMORY_HOURS: i64 = 48;

/// Below this transcript confidence the reply first says what was heard.
pub const VOICE_CONFIDENCE_FLOOR: f32 = 0.6;

/// Consecutive messages not understood before a person is offered.
pub const MAX_FAILURES: u32 = 3;
/// How long after checkout a "5" or "⭐⭐⭐⭐" is read as the stay's rating.
pub const RATING_DAYS: i64 = 30;

/// Whether a stay that leaves on `check_out` may be rated on `today` (the engine asks it; the
/// server asks it too, to look up only those stays' ratings).
pub fn rateable(check_out: NaiveDate, today: NaiveDate) -> bool {
    check_out <= today && (today - check_out).num_days() <= RATING_DAYS
}

/// A paid booking is changed in the chat (dates, cabin, party) only while its check-in is at
/// least this many days away in the property's zone; closer than that (or once the stay has
/// started) the change goes to the owner, who may still have to prepare the cabin.
pub const CHANGE_NOTICE_DAYS: i64 = 2;

// ---------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------

/// What the server knows and the dialogue needs. Built per event; nothing here is stored.
#[derive(Debug, Clone)]
pub struct Context {
    /// The property's local date.
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    /// The property's time zone (hold expiry times are said in it).
    pub tz: chrono_tz::Tz,
    /// What the owner wrote about the place ("Tu alojamiento"): the bot answers from it, or
    /// offers a person; it never makes things up.
    pub property: PropertyInfo,
    /// Active units, in display order.
    pub units: Vec<UnitInfo>,
    /// Weekend nights and deposit percent.
    pub pricing: PricingPolicy,
    /// Seasons and long-weekend rules, to explain prices.
    pub rate_rules: Vec<RateRule>,
    /// The contact's WhatsApp profile name (or e-mail display name).
    pub contact_name: Option<String>,
    /// The contact's reservations the server knows about (holds and bookings), newest first.
    pub reservations: Vec<BookingInfo>,
    /// How long a hold lasts.
    pub hold_minutes: u32,
}

impl Context {
    /// A context with no units, default pricing policy and 60-minute holds.
    pub fn new(today: NaiveDate, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Context {
        Context {
            today,
            now,
            tz,
            property: PropertyInfo { name: "Posada".into(), ..PropertyInfo::default() },
            units: Vec::new(),
            pricing: PricingPolicy::default(),
            rate_rules: Vec::new(),
            contact_name: None,
            reservations: Vec::new(),
            hold_minutes: 60,
        }
    }

    pub fn unit(&self, id: i64) -> Option<&UnitInfo> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The catalogue as the understanding crate wants it.
    pub fn unit_refs(&self) -> Vec<nlu::UnitRef> {
        self.units.iter().map(|u| nlu::UnitRef { id: u.id, name: u.name.clone(), slug: u.slug.clone() }).collect()
    }
}

/// The owner's words about the place. Empty texts mean "not said": the bot then offers a person
/// instead of guessing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PropertyInfo {
    /// The name the bot introduces (e.g. "Cabañas del Bosque").
    pub name: String,
    /// Street address or where it is, in words.
    pub address: String,
    pub map_link: Option<String>,
    /// How to get there (from the bus terminal, by car…).
    pub directions: String,
    /// What there is near by.
    pub nearby: String,
    /// "14:00"
    pub check_in_from: String,
    /// "10:00"
    pub check_out_until: String,
    /// When and how the balance is paid ("al llegar, en efectivo o transferencia").
    pub balance: String,
    /// The deposit is paid with the Mercado Pago link the bot sends.
    pub mercado_pago: bool,
    /// Bank transfer, when the owner takes it.
    pub transfer: Option<Transfer>,
    /// Cancellation policy.
    pub cancellation: String,
    /// The owner's typed refund policy ([`domain::CancellationPolicy::to_text`]), empty when
    /// none: with one, a guest can cancel a paid booking in the chat after an explicit yes.
    pub refund_policy: String,
    /// Changes of dates.
    pub date_changes: String,
    /// Pets (on top of which cabins take them).
    pub pets: String,
    /// Children, babies, cots.
    pub children: String,
    /// What the stay includes (bed linen, towels, wifi…).
    pub included: String,
    /// House rules.
    pub house_rules: String,
}

/// Bank details for a transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Transfer {
    pub alias: String,
    pub cbu: String,
    pub holder: String,
    pub bank: String,
}

/// One cabin of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitInfo {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub capacity: u32,
    pub min_nights: u32,
    pub base_price: Money,
    pub weekend_multiplier: domain::Multiplier,
    pub description: String,
    /// Owner's words: "Wi-Fi", "Parrilla", "Pileta climatizada"…
    pub amenities: Vec<String>,
    /// In display order; may be empty.
    pub photos: Vec<Photo>,
    /// "14:00"
    pub check_in_from: String,
    /// "10:00"
    pub check_out_until: String,
    pub pets_allowed: bool,
    /// Step-free access (from the amenities: "accesible", "silla de ruedas", "planta baja").
    #[serde(default)]
    pub accessible: bool,
}

impl UnitInfo {
    /// A unit with the usual defaults: 1 night minimum, no weekend surcharge, 14:00 / 10:00.
    pub fn new(id: i64, slug: &str, name: &str, capacity: u32, base_price: Money) -> UnitInfo {
        UnitInfo {
            id,
            slug: slug.into(),
            name: name.into(),
            capacity,
            min_nights: 1,
            base_price,
            weekend_multiplier: domain::Multiplier::ONE,
            description: String::new(),
            amenities: Vec::new(),
            photos: Vec::new(),
            check_in_from: "14:00".into(),
            check_out_until: "10:00".into(),
            pets_allowed: false,
            accessible: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    pub url: String,
    #[serde(default)]
    pub caption: String,
}

/// A hold or booking of this contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingInfo {
    pub code: String,
    pub unit_id: i64,
    pub stay: Stay,
    pub guests: u32,
    pub status: ReservationStatus,
    pub total: Money,
    pub deposit: Money,
    /// When an unpaid hold lapses.
    pub expires_at: Option<DateTime<Utc>>,
    pub payment_link: Option<String>,
    /// The deposit was paid (it was confirmed at some point): what the owner cancels then is the
    /// guest's money too, and the guest hears that a person will see to it.
    #[serde(default)]
    pub paid: bool,
    /// The guest already rated this stay (only known for stays that ended lately).
    #[serde(default)]
    pub rated: bool,
    /// What is still to pay of a confirmed booking's balance, when the server knows it (balance
    /// payments received count); `None`: total − deposit.
    #[serde(default)]
    pub pending: Option<Money>,
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// Something that happened: a guest message, or the result of an effect the server carried out,
/// or a timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message from the guest. For a voice note `text` is the transcript (empty when nothing
    /// could be transcribed).
    Message { text: String, kind: MessageKind },
    /// Answer to [`Effect::CheckAvailability`].
    Availability(AvailabilityResult),
    /// Answer to [`Effect::PlaceHold`]: the hold exists.
    HoldPlaced(BookingInfo),
    /// Answer to [`Effect::PlaceHold`]: no hold.
    HoldFailed { reason: HoldFailure },
    /// Answer to [`Effect::CancelHold`].
    Cancelled { code: String },
    /// Answer to [`Effect::MoveBooking`]: the booking moved (`after` is what it is now).
    Moved { after: BookingInfo },
    /// Answer to [`Effect::MoveBooking`]: nothing changed.
    MoveFailed { code: String, reason: HoldFailure },
    /// Timer: 15 minutes before the hold lapses.
    HoldReminder { code: String },
    /// Timer: the hold lapsed unpaid.
    HoldExpired { code: String },
    /// The payment provider produced the link for a hold.
    PaymentLink { code: String, url: String },
    /// The deposit was paid; the booking is confirmed.
    PaymentConfirmed { code: String },
    /// The owner gave the conversation back to the bot.
    HandOffReleased,
    /// The owner cancelled a reservation this conversation made: the guest is told and a person
    /// takes the chat.
    OwnerCancelled { code: String },
    /// Money arrived that the bot cannot turn into a booking (the hold was cancelled, or its
    /// nights were taken after it lapsed): the guest hears it kindly and a person takes over.
    PaymentNeedsOwner { code: String, amount: Money, reason: PaymentProblem },
}

/// Why a payment needs the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentProblem {
    /// The reservation had been cancelled.
    Cancelled,
    /// The hold had lapsed and someone else took the nights.
    DatesTaken,
}

impl Event {
    /// A typed text message.
    pub fn text(text: &str) -> Event {
        Event::Message { text: text.into(), kind: MessageKind::Text }
    }

    /// A tapped reply button.
    pub fn button(id: &str, title: &str) -> Event {
        Event::Message { text: title.into(), kind: MessageKind::Button { id: id.into() } }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    /// A reply button; `text` is its title.
    Button {
        id: String,
    },
    /// A list row; `text` is its title.
    ListReply {
        id: String,
    },
    /// A voice note; `text` is the transcript; confidence in [0, 1].
    Voice {
        confidence: f32,
    },
    /// Image, sticker, location, document…: nothing the dialogue can read.
    Other,
}

/// The availability of every active unit for one stay and party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityResult {
    pub stay: Stay,
    pub guests: u32,
    /// The unit asked about, echoed from the request.
    pub unit: Option<i64>,
    /// One row per active unit.
    pub results: Vec<UnitOption>,
    /// Nearest free windows of the same length: for the unit asked about, or (when none was
    /// asked about and nothing fits) for any unit big enough. Nearest first.
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitOption {
    pub unit_id: i64,
    pub available: bool,
    pub reason: Option<Unavailable>,
    pub quote: Quote,
}

/// Why a unit cannot take the stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unavailable {
    /// Another stay occupies some night.
    Taken,
    TooManyGuests {
        capacity: u32,
    },
    MinNights {
        min: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    pub unit_id: i64,
    pub stay: Stay,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum HoldFailure {
    /// Someone else took the nights first (HTTP 409).
    Taken,
    /// The contact already has too many unpaid holds.
    TooManyHolds,
    /// Rejected by the booking rules; the text is a guest-readable Spanish sentence.
    Invalid(String),
}

// ---------------------------------------------------------------------------------------------
// Effects
// ---------------------------------------------------------------------------------------------

/// What the server must do. Carried out in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Send this to the guest.
    Reply(Reply),
    /// Query availability; answer with [`Event::Availability`]. `among`: when none of these
    /// units is free (the ones that meet the guest's constraints), the nearest free windows are
    /// looked for in them.
    CheckAvailability {
        stay: Stay,
        guests: u32,
        unit: Option<i64>,
        #[serde(default)]
        among: Vec<i64>,
        /// The booking being moved: its own nights do not count as taken.
        #[serde(default)]
        except: Option<String>,
    },
    /// Place a hold; answer with [`Event::HoldPlaced`] or [`Event::HoldFailed`].
    PlaceHold { unit_id: i64, stay: Stay, guests: u32, guest_name: Option<String> },
    /// Cancel an unpaid hold; answer with [`Event::Cancelled`].
    CancelHold { code: String },
    /// Move a paid booking (after the guest's explicit yes to the quote and its difference) in
    /// one transaction; answer with [`Event::Moved`] or [`Event::MoveFailed`].
    MoveBooking { code: String, unit_id: i64, stay: Stay, guests: u32 },
    /// Message the owner (WhatsApp to the owner's phone).
    AlertOwner { text: String },
    /// Mark the conversation as handed off to a person.
    HandOff,
    /// A price was shown (for the funnel).
    RecordQuote { unit_id: i64, stay: Stay, total: Money },
    /// The guest rated the stay `code` (1–5) after it ended.
    RecordReview { code: String, stars: u8, comment: String },
    /// Send the guest the payment link of the booking's balance (made by the payments job).
    SendBalanceLink { code: String },
}

/// A channel-agnostic reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Text(String),
    Photo {
        url: String,
        caption: String,
    },
    /// Buttons when ≤ 3 options, else a list; numbered text where neither exists.
    Choices {
        body: String,
        options: Vec<Choice>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Machine-readable; comes back as the button / list-reply id.
    pub id: String,
    /// ≤ 20 characters.
    pub title: String,
    /// Shown in lists and numbered text (≤ 72 characters); may be empty.
    #[serde(default)]
    pub description: String,
}

impl Choice {
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Choice {
        Choice { id: id.into(), title: title.into(), description: String::new() }
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Choice {
        self.description = description.into();
        self
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// Per-contact memory, stored as JSON by the server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub stage: Stage,
    /// What the guest has said so far about the stay.
    pub slots: Slots,
    /// Consecutive messages not understood.
    pub failures: u32,
    /// The choices last offered; a reply "2" or the option's words select one.
    pub choices: Vec<Choice>,
    /// The guest's name: the profile's, or the one given for the reservation (kept across fresh
    /// starts).
    pub name: Option<String>,
    /// The full name given for the reservation (asked once, at the first hold, when the
    /// profile has none).
    pub reservation_name: Option<String>,
    /// The reservation name was asked already: never twice.
    pub name_asked: bool,
    /// Reservations of this chat the owner cancelled (the bot knows when the guest asks).
    pub owner_cancelled: Vec<String>,
    /// An unpaid hold being moved to other dates: the next hold replaces it.
    pub moving: Option<String>,
    /// The hold a move replaced, cancelled quietly (the new hold's summary says so).
    pub replaced: Option<String>,
    /// The last hold placed in this conversation (kept across fresh starts).
    pub hold: Option<BookingInfo>,
    /// The last guest message.
    pub last_message_at: Option<DateTime<Utc>>,
}

/// What the guest said about the stay, kept until the guest changes it: every part optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Slots {
    pub check_in: Option<NaiveDate>,
    pub check_out: Option<NaiveDate>,
    /// A length said without an end date ("3 noches").
    pub nights: Option<u32>,
    pub guests: Option<u32>,
    pub unit: Option<i64>,
    /// How many of the guests are children.
    pub children: Option<u32>,
    /// The period talked about ("en enero", "la semana que viene"): partial dates are read in it.
    pub window: Option<Window>,
    /// Travelling with a pet.
    pub pets: Option<bool>,
    /// Needs step-free access.
    pub accessible: bool,
    /// Amenities required (pool, wifi, parking, grill).
    pub amenities: Vec<Topic>,
    pub sort: Option<Sort>,
    pub budget: Option<Budget>,
    /// Where the guests come from (winter breaks depend on it).
    pub province: Option<Province>,
    /// The named period the dates came from ("Carnaval"), to say it back.
    pub period: Option<PeriodKind>,
}

/// A period the guest is talking about, to search in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kind: PeriodKind,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
    #[serde(default)]
    pub estimated: bool,
}

/// Where the conversation is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    #[default]
    Idle,
    /// Asked for the dates (or the missing end / start).
    AwaitingDates,
    /// Asked how many they are.
    AwaitingGuests,
    /// Asked how many nights, within the period talked about.
    AwaitingNights,
    /// Asked which province they come from (winter breaks).
    AwaitingProvince,
    /// Asked the name for the reservation; these offers are held once it comes.
    AskingName { offers: Vec<Offer> },
    /// Understood with medium confidence; asked "¿…, no?". `pending` is what was understood;
    /// `reserve` whether the guest asked to book rather than to look.
    Confirming { pending: Slots, reserve: bool },
    /// Sent [`Effect::CheckAvailability`]; `reserve`: book at once if the wanted unit is free.
    /// `after_taken`: the guest was already told the unit was just taken.
    Checking {
        #[serde(default)]
        reserve: bool,
        #[serde(default)]
        after_taken: bool,
    },
    /// Showed these priced options. `group`: cabins offered together for a large party.
    Offered {
        offers: Vec<Offer>,
        #[serde(default)]
        group: Vec<Offer>,
    },
    /// Sent [`Effect::PlaceHold`] for this offer; `rest` are held next (a party in several
    /// cabins), `placed` were held already in this round.
    Reserving {
        offer: Offer,
        #[serde(default)]
        rest: Vec<Offer>,
        #[serde(default)]
        placed: Vec<BookingInfo>,
    },
    /// A hold is waiting for payment.
    Holding { code: String },
    /// Asked "¿la cancelo?" for this code.
    ConfirmCancel { code: String },
    /// Quoted moving the paid booking `before` to `offer` and asked "¿la cambio?".
    ConfirmMove { before: BookingInfo, offer: Offer },
    /// A person is answering; the bot stays silent.
    HandedOff,
}

/// One unit offered for one stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub unit_id: i64,
    pub stay: Stay,
    pub guests: u32,
    pub total: Money,
}

impl State {
    /// Whether the last question or offer is stale (30 minutes of silence). A handed-off
    /// conversation never expires (a person owns it until released).
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        if self.stage == Stage::HandedOff {
            return false;
        }
        self.last_message_at.is_some_and(|t| now - t > chrono::Duration::minutes(INACTIVITY_MINUTES))
    }

    /// Whether the conversation is old enough to start clean (48 hours of silence).
    pub fn forgotten(&self, now: DateTime<Utc>) -> bool {
        self.stage != Stage::HandedOff
            && self.last_message_at.is_some_and(|t| now - t > chrono::Duration::hours(MEMORY_HOURS))
    }

    /// The same memory without the pending question or offer (after [`State::expired`]).
    pub fn without_pending(&self) -> State {
        let stage = match &self.stage {
            Stage::Holding { code } => Stage::Holding { code: code.clone() },
            _ => Stage::Idle,
        };
        State { stage, choices: Vec::new(), failures: 0, moving: None, ..self.clone() }
    }

    /// A fresh conversation that still knows the guest's name, the last hold and what the owner
    /// did (after [`State::forgotten`]).
    pub fn fresh_keeping_name(&self) -> State {
        State {
            name: self.name.clone(),
            reservation_name: self.reservation_name.clone(),
            name_asked: self.name_asked,
            hold: self.hold.clone(),
            owner_cancelled: self.owner_cancelled.clone(),
            ..State::default()
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("state serialises")
    }

    /// Reads a stored state; anything unreadable becomes a fresh state.
    pub fn from_json(json: &str) -> State {
        serde_json::from_str(json).unwrap_or_default()
    }
}

/// The outcome of one [`step`].
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub state: State,
    pub effects: Vec<Effect>,
}

impl Step {
    /// Just the replies, in order.
    pub fn replies(&self) -> impl Iterator<Item = &Reply> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Reply(r) => Some(r),
            _ => None,
        })
    }
}

/// Advances the conversation by one event. Pure and total: never panics, whatever the input.
pub fn step(state: &State, event: Event, ctx: &Context) -> Step {
    engine::step(state, event, ctx)
}
