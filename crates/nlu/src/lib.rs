//! # nlu — Argentine Spanish understanding for guest messages
//!
//! A pure, deterministic crate: no I/O, no clock. [`analyze`] turns one WhatsApp/e-mail message
//! into an [`Analysis`]: the intent with a calibrated confidence, the stay (check-in, check-out,
//! nights), the party size and the cabin mentioned. The caller passes `today` (in the property's
//! time zone) and its unit catalogue.
//!
//! ```
//! use chrono::NaiveDate;
//! use nlu::{Intent, UnitRef, analyze};
//!
//! let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(); // a Monday
//! let units = [UnitRef { id: 1, name: "Cabaña Grande".into(), slug: "cabana-grande".into() }];
//! let a = analyze("hola! tienen la cabaña grande del 30 al 3 de diciembre? somos 4", today, &units);
//! assert_eq!(a.intent, Intent::Availability);
//! assert_eq!(a.check_in, NaiveDate::from_ymd_opt(2026, 11, 30));
//! assert_eq!(a.check_out, NaiveDate::from_ymd_opt(2026, 12, 3));
//! assert_eq!((a.nights, a.guests), (Some(3), Some(4)));
//! assert_eq!(a.unit.as_deref(), Some("cabana-grande"));
//! ```
//!
//! ## Pipeline
//! 1. **Normalise** (lower case, accents stripped, `holaaa`→`hola`, `15dic`→`15 dic`,
//!    `1ro`→`1`, `$100.000`→ one money number) and **tokenise** into words, numbers and the
//!    symbols `/ - . : $ ? %`. Input longer than [`MAX_TEXT_CHARS`] characters is cut there.
//! 2. **Dates and lengths** are read first by a small hand-written grammar; the numbers they
//!    use are then off-limits for the party size.
//! 3. **Party size**, **unit** and **intent cues** are read from the rest.
//!
//! ## Date rules
//! * **Day and month, no year** → the next occurrence *on or after today* (`20/11` read on
//!   2026-11-23 is 2027-11-20). `dd/mm`, `d/m`, `dd-mm`, `dd.mm` and `dd/mm/yyyy`
//!   (or `/yy`) are always day first. Month names and abbreviations (`ene feb mar abr may jun
//!   jul ago sep set oct nov dic`, `setiembre`), in any case, with or without accents and
//!   with common typos (`febero`, `dicienbre`) are read after a day number
//!   (`15 de dic`, `15dic`, `15-dic`); an optional year follows (`de 2027`).
//! * **A bare day** (`el 15`, `del 10 al 12`, `para el 20`) is the next such day of the month on
//!   or after today. A month named on its own elsewhere in the message gives the month
//!   (`para enero del 4 al 11`).
//! * **Ranges**: the first date is the check-in, the second the departure day (`check_out`):
//!   `del 15 al 20 de diciembre`, `15/12 al 20/12`, `15/12 - 20/12`, `desde el 10 hasta el 14
//!   de febrero`, `entre el 20 y el 23 de enero`, `entrada 6 de marzo salida 9 de marzo`,
//!   `llegamos el 8 y nos vamos el 11`, `check in 1/3 check out 5/3`, `del viernes al domingo`,
//!   `desde mañana hasta el domingo`. Markers (`entrada`, `llegamos`, `check in`, `desde` /
//!   `salida`, `nos vamos`, `check out`, `hasta`) win over word order. A month (and year)
//!   written only on one side applies to both; **in `del 30 al 3 de diciembre` the first day
//!   belongs to the month before** (30 Nov), and in `del 28 de diciembre al 2` the second to
//!   the month after. The check-out is the first such date *after* the check-in, so ranges
//!   cross months and years (`del 28 de diciembre al 2 de enero`, `del 30 al 2`).
//! * **Lengths**: `3 noches`, `tres noches`, `una noche`, `un par de noches` (2), `una semana`
//!   (7), `dos semanas` (14), `N días` (N nights). With a start date the length gives the
//!   check-out (`para el 20, 2 noches`); without one only `nights` is set. When both an end
//!   date and a length are written, the end date wins (and confidence drops).
//! * **Relative words**: `hoy`, `mañana` (but not `a la mañana` / `por la mañana`, the
//!   morning), `pasado mañana`; `esta noche`, `hoy a la noche` = tonight, one night
//!   (check-in today, check-out tomorrow). `ayer` is yesterday (and therefore past).
//! * **Weekdays**: `el viernes`, `el próximo viernes`, `el viernes que viene` → the next
//!   Friday strictly after today (on a Friday, a week later). As the end of a range, the first
//!   such weekday after the check-in. `el lunes 30` is day 30 on a Monday (the first month
//!   where day 30 is a Monday, else simply the next day 30). `el sábado pasado` → past.
//! * **Weekend**: `finde`, `fin de semana`, `este finde`, `el próximo finde`, `fds` → the
//!   coming Saturday (today on a Saturday; on a Sunday the next Saturday) to Sunday, one
//!   night. `finde largo` is read the same way (no holiday calendar here). A weekend plus a
//!   length runs from the Saturday. Explicit dates in the same message win over the weekend.
//! * **A lone check-in** with no end or length leaves `check_out` null; a lone end
//!   (`hasta el 15`) fills only `check_out`.
//! * **Past dates** can only come from a written year (`15/12/2025`) or a relative word
//!   (`ayer`, `el sábado pasado`); they are reported with `past_date = true` and never moved.
//! * `check_out` is always after `check_in` when both are set: an end date that is not after
//!   the start (possible only with written years) is dropped.
//!
//! ## Party size
//! `somos 4`, `para 4`, `4 personas/pax/huéspedes`, `4 adultos y 2 niños/chicos/menores/nenes`
//! (summed), number words up to veinte (and veinticinco, treinta), `una pareja` / `mi pareja y
//! yo` / `con mi novia` (2), `2 parejas` (4), `un matrimonio con 3 hijos` (5), `familia de 5`,
//! `grupo de 8`, `vamos a ser seis`, `voy solo` (1). Numbers read as dates or lengths, money
//! (`$`, `mil`, `100.000`), times (`10hs`, `a las 10`, `10:30`) and booking codes are never
//! counted. Sizes outside 1..=60 are ignored.
//!
//! ## Intents and confidence
//! Cues are matched on normalised words; the decision order is cancel > human > payment >
//! reserve > availability > price > info > (dates / party size only → availability) >
//! thanks > greeting > unknown. A price question with a check-in becomes `availability` (the
//! guest wants a quote for a stay); an info question with a stay is `availability` too.
//! "¿Se puede reservar…?" asks whether, so it is `availability`. The confidence reflects how
//! clear the cue was and whether cues competed; it is capped at 0.7 when the dates did not add
//! up or are in the past, and `unknown` is always below 0.45. Thresholds for the dialogue:
//! below 0.45 ask to rephrase, 0.45–0.75 confirm, above 0.75 act.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

mod dates;
mod intent;
mod party;
mod periods;
mod rating;
mod text;
mod units;
mod wants;
pub use rating::{Rating, rating};

pub use domain::periods::Province;

/// Longest text analysed; longer input is cut at this many characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// One unit (cabin) of the caller's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRef {
    pub id: i64,
    pub name: String,
    pub slug: String,
}

/// What the guest wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Greeting,
    Availability,
    Reserve,
    Price,
    Info,
    Payment,
    Cancel,
    /// Move an existing booking to other dates ("cambiame al 14").
    Change,
    /// Asks about the guest's own reservation ("¿está confirmada?", "¿por qué me cancelaron?").
    Status,
    Human,
    Thanks,
    Unknown,
}

impl Intent {
    pub const ALL: [Intent; 12] = [
        Intent::Greeting,
        Intent::Availability,
        Intent::Reserve,
        Intent::Price,
        Intent::Info,
        Intent::Payment,
        Intent::Cancel,
        Intent::Change,
        Intent::Status,
        Intent::Human,
        Intent::Thanks,
        Intent::Unknown,
    ];

    /// The snake_case label used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Greeting => "greeting",
            Intent::Availability => "availability",
            Intent::Reserve => "reserve",
            Intent::Price => "price",
            Intent::Info => "info",
            Intent::Payment => "payment",
            Intent::Cancel => "cancel",
            Intent::Change => "change",
            Intent::Status => "status",
            Intent::Human => "human",
            Intent::Thanks => "thanks",
            Intent::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Intent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Intent::ALL.into_iter().find(|i| i.as_str() == s).ok_or_else(|| format!("unknown intent {s:?}"))
    }
}

/// For `info` questions: what about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Pets,
    Pool,
    Wifi,
    Parking,
    Grill,
    Location,
    Directions,
    /// Check-in / check-out times, opening hours.
    Schedule,
    Photos,
    /// Bedding, heating, kitchen, views, capacity and other equipment.
    Amenities,
    /// House rules and policies in general.
    Policies,
    /// What happens if the guest cancels ("¿y si tengo que cancelar?").
    Cancellation,
    /// Whether and how dates can be changed ("¿se puede cambiar la fecha?").
    DateChange,
    /// How one can pay ("¿se puede pagar con transferencia?").
    PaymentMethods,
    /// The deposit and the balance ("¿cuánto es la seña?", "¿el saldo cuándo se paga?").
    Deposit,
    /// Children, babies, cots.
    Children,
    /// What the stay includes: bed linen, towels, breakfast.
    Included,
    /// Things to do and places near by.
    Nearby,
    /// Access for wheelchairs, reduced mobility.
    Accessibility,
}

/// A named period or a month the guest talks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// "en enero": a window to search in.
    Month,
    /// "todo febrero": the whole month (the dialogue asks how many nights).
    WholeMonth,
    /// "la primera quincena de enero": the 1st to the 16th, or the 16th to the month's end.
    Fortnight,
    /// "esta semana": today to next Monday.
    ThisWeek,
    /// "la semana que viene": next Monday to the Monday after.
    NextWeek,
    /// "el finde largo (de octubre)": a run of days off around a holiday.
    LongWeekend,
    Carnaval,
    /// Holy Thursday to Easter Sunday.
    SemanaSanta,
    /// The 24th to the 26th of December.
    Navidad,
    /// The 31st of December to the 2nd of January.
    AnoNuevo,
    /// The province's winter school break (dates only when the province is known).
    WinterHolidays,
}

/// A period: for stay-like kinds its start and end are the proposed check-in and check-out,
/// for windows the days to search in (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// The dates are an estimate (winter breaks not yet published).
    #[serde(default)]
    pub estimated: bool,
}

impl Period {
    /// Whether the period is itself a stay (Carnaval, a long weekend, a fortnight…), rather than
    /// a window in which the guest still has to choose nights (a month, a week, a winter break).
    pub fn is_stay(&self) -> bool {
        matches!(
            self.kind,
            PeriodKind::Fortnight
                | PeriodKind::LongWeekend
                | PeriodKind::Carnaval
                | PeriodKind::SemanaSanta
                | PeriodKind::Navidad
                | PeriodKind::AnoNuevo
        )
    }
}

/// "la más barata" / "la más grande".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    Cheapest,
    Biggest,
}

/// "hasta 300 mil" (the whole stay) or "80 lucas por noche".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Whole pesos.
    pub amount: u64,
    pub per_night: bool,
}

/// What the conversation already knows, so a partial message can be read against it: a period
/// being talked about ("del 20 al 24" after "en enero") and the stay last discussed ("el finde
/// siguiente", "no, de enero").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    /// The period's days, end exclusive.
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Check-in and check-out.
    pub stay: Option<(NaiveDate, NaiveDate)>,
}

/// The understanding of one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub intent: Intent,
    /// In [0, 1], rounded to two decimals. < 0.45 ask to rephrase; 0.45–0.75 confirm; > 0.75 act.
    pub confidence: f32,
    pub check_in: Option<NaiveDate>,
    /// The departure day (exclusive end of the stay).
    pub check_out: Option<NaiveDate>,
    pub nights: Option<u32>,
    pub guests: Option<u32>,
    /// The slug of the unit mentioned.
    pub unit: Option<String>,
    /// A written year or a relative word put a date before today.
    pub past_date: bool,
    /// For `info`: the topic asked about.
    #[serde(default)]
    pub topic: Option<Topic>,
    /// How many of `guests` are children, when said.
    #[serde(default)]
    pub children: Option<u32>,
    /// A named period or a month ("carnaval", "en enero").
    #[serde(default)]
    pub period: Option<Period>,
    /// Where the guests come from (winter breaks depend on it).
    #[serde(default)]
    pub province: Option<Province>,
    /// Travelling with a pet (`Some(false)`: "sin mascotas").
    #[serde(default)]
    pub pets: Option<bool>,
    /// Needs step-free access.
    #[serde(default)]
    pub accessible: bool,
    /// Amenities required ("con parrilla", "que tenga pileta"): `pool`, `wifi`, `parking`, `grill`.
    #[serde(default)]
    pub amenities: Vec<Topic>,
    #[serde(default)]
    pub sort: Option<Sort>,
    #[serde(default)]
    pub budget: Option<Budget>,
}

/// Understand one message. `today` is the property's local date; `units` the catalogue.
pub fn analyze(text: &str, today: NaiveDate, units: &[UnitRef]) -> Analysis {
    analyze_with(text, today, units, &Hint::default())
}

/// Understand one message of a conversation, reading partial dates against what was said
/// before ([`Hint`]).
pub fn analyze_with(text: &str, today: NaiveDate, units: &[UnitRef], hint: &Hint) -> Analysis {
    let (text, truncated) = match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => (&text[..cut], true),
        None => (text, false),
    };
    let toks = text::tokenize(text);
    let found = periods::extract(&toks, today, hint);
    let wants = wants::extract(&toks);
    let taken: Vec<bool> = found.consumed.iter().zip(&wants.consumed).map(|(a, b)| *a || *b).collect();
    let anchor = hint.window.map(|(start, _)| start);
    let mut dates = dates::extract(&toks, today, &taken, anchor);
    let blocked: Vec<bool> = dates.consumed.iter().zip(&taken).map(|(a, b)| *a || *b).collect();
    let (guests, children) = party::extract(&toks, &blocked);
    let unit = units::find(&toks, units);
    let cues = intent::cues(&toks);
    let mut period = found.period;
    if period.is_none()
        && let Some(m) = dates.lone_month
    {
        let span = (today.year()..=today.year() + 1)
            .filter_map(|y| domain::periods::month(y, m))
            .find(|s| s.end > today)
            .map(|s| (s.start.max(today), s.end));
        period = Some(Period {
            kind: PeriodKind::Month,
            start: span.map(|s| s.0),
            end: span.map(|s| s.1),
            estimated: false,
        });
    }
    fill_stay(&mut dates, period.as_ref(), found.shift, hint, today);
    let facts = intent::Facts {
        check_in: dates.check_in.is_some(),
        any_date: dates.any_date,
        length: dates.any_length,
        guests: guests.is_some(),
        unit: unit.is_some(),
        period: period.is_some_and(|p| p.start.is_some() || p.kind == PeriodKind::WinterHolidays)
            || found.shift.is_some(),
        wants: wants.pets == Some(false) || wants.budget.is_some() || !wants.amenities.is_empty() || wants.accessible,
        required: !wants.amenities.is_empty(),
        window: period.is_some_and(|p| !p.is_stay()) && dates.check_in.is_none(),
        whole_month: period.is_some_and(|p| p.kind == PeriodKind::WholeMonth),
    };
    let (intent, mut confidence, topic) = intent::decide(&cues, &facts);
    if intent != Intent::Unknown && (dates.doubtful || dates.past) {
        confidence = confidence.min(0.7);
    }
    if truncated {
        confidence *= 0.9;
    }
    let confidence = ((confidence.clamp(0.0, 1.0) * 100.0).round() / 100.0).clamp(0.0, 1.0);
    Analysis {
        intent,
        confidence,
        check_in: dates.check_in,
        check_out: dates.check_out,
        nights: dates.nights,
        guests,
        unit,
        past_date: dates.past,
        topic,
        children,
        period,
        province: found.province,
        pets: wants.pets,
        accessible: wants.accessible,
        amenities: wants.amenities,
        sort: wants.sort,
        budget: wants.budget,
    }
}

/// Dates from what was not written as dates: a stay-like period ("carnaval"), a shift of the
/// remembered stay ("el finde siguiente"), or a month correcting it ("no, de enero").
fn fill_stay(d: &mut dates::Dates, period: Option<&Period>, shift: Option<i64>, hint: &Hint, today: NaiveDate) {
    if d.check_in.is_some() || d.check_out.is_some() {
        return;
    }
    let set = |d: &mut dates::Dates, ci: NaiveDate, co: NaiveDate| {
        if co > ci && ci >= today {
            d.check_in = Some(ci);
            d.check_out = Some(co);
            d.nights = u32::try_from((co - ci).num_days()).ok();
            d.any_date = true;
        }
    };
    if let (Some(days), Some((ci, co))) = (shift, hint.stay) {
        let by = chrono::Days::new(days.unsigned_abs());
        if let (Some(a), Some(b)) = (ci.checked_add_days(by), co.checked_add_days(by)) {
            set(d, a, b);
        }
        return;
    }
    let Some(p) = period else { return };
    match (p.kind, p.start, p.end) {
        (_, Some(start), Some(end)) if p.is_stay() => match d.nights {
            // "carnaval, 2 noches": from the period's first day.
            Some(n) => {
                if let Some(co) = start.checked_add_days(chrono::Days::new(u64::from(n))) {
                    set(d, start, co);
                }
            }
            None => set(d, start, end),
        },
        (PeriodKind::Month, Some(start), _) => {
            // "no, de enero": the same days in that month.
            if let Some((ci, co)) = hint.stay {
                let nights = (co - ci).num_days();
                let moved = NaiveDate::from_ymd_opt(start.year(), start.month(), ci.day())
                    .filter(|m| *m >= today)
                    .or_else(|| NaiveDate::from_ymd_opt(start.year() + 1, start.month(), ci.day()));
                if let Some(m) = moved
                    && let Some(out) = m.checked_add_days(chrono::Days::new(nights.unsigned_abs()))
                {
                    set(d, m, out);
                }
            }
        }
        _ => {}
    }
}
