//! Posada's booking rules, free of I/O: the caller passes "today" and "now".
//!
//! - [`money`]: amounts in integer centavos (ARS), never floats.
//! - [`stay`]: a stay is `[check_in, check_out)` of plain dates, and its validation.
//! - [`pricing`]: nightly prices from the unit, rate rules, weekends and holidays; quotes.
//! - [`holidays`]: Argentine public holidays, a table per year.
//! - [`periods`]: long weekends, Carnaval, Semana Santa, fortnights, winter breaks by province.
//! - [`reservation`]: states, allowed transitions, attention flags, codes.
//! - [`phone`]: phone numbers as the hold limit counts them (E.164).
//! - [`text`]: which characters text may hold (no control characters), accent folding.
//! - [`months`]: month names in Spanish.
//! - [`message`]: a conversation message's delivery status.
//! - [`stay_messages`]: a confirmed stay's automatic messages: when each is due, their texts.
//! - [`cancellation`]: the owner's cancellation policy and what a cancellation gives back.

pub mod cancellation;
pub mod holidays;
pub mod message;
pub mod money;
pub mod months;
pub mod periods;
pub mod phone;
pub mod pricing;
pub mod reservation;
pub mod stay;
pub mod stay_messages;
pub mod text;

pub use cancellation::{CancellationPolicy, PolicyError, RefundBand, RefundDecision, RefundStatus};
pub use message::MessageStatus;
pub use money::Money;
pub use phone::{Phone, PhoneError};
pub use pricing::{Multiplier, NightPrice, PricingPolicy, Quote, RateRule, RuleEffect, RuleScope, UnitPricing};
pub use reservation::{AttentionFlag, BalanceMethod, Channel, ReservationCode, ReservationStatus, TransitionError};
pub use stay::{MAX_NIGHTS, Stay, StayError};
pub use stay_messages::{StayMessageKind, StayMessageStatus};
