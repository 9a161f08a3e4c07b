//! Reservation states, the transitions between them, attention flags and codes.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The original system's state names. A `pre_reserved` reservation is a "hold".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    PreReserved,
    Confirmed,
    Cancelled,
    Expired,
    /// The owner's manual block.
    Blocked,
}

impl ReservationStatus {
    pub const ALL: [ReservationStatus; 5] = [
        ReservationStatus::PreReserved,
        ReservationStatus::Confirmed,
        ReservationStatus::Cancelled,
        ReservationStatus::Expired,
        ReservationStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::PreReserved => "pre_reserved",
            ReservationStatus::Confirmed => "confirmed",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::Expired => "expired",
            ReservationStatus::Blocked => "blocked",
        }
    }

    pub fn parse(text: &str) -> Option<ReservationStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Active stays occupy their nights; the database forbids two active overlapping stays.
    pub fn is_active(self) -> bool {
        matches!(self, ReservationStatus::PreReserved | ReservationStatus::Confirmed | ReservationStatus::Blocked)
    }

    /// Whether `self → to` is allowed. `expired → confirmed` exists only for a late payment
    /// and must be re-checked against overlaps (the database does that on update).
    pub fn can_become(self, to: ReservationStatus) -> bool {
        use ReservationStatus::*;
        matches!(
            (self, to),
            (PreReserved, Confirmed | Cancelled | Expired)
                | (Expired, Confirmed)
                | (Confirmed, Cancelled)
                | (Blocked, Cancelled)
        )
    }

    pub fn transition(self, to: ReservationStatus) -> Result<ReservationStatus, TransitionError> {
        if self.can_become(to) { Ok(to) } else { Err(TransitionError { from: self, to }) }
    }

    /// Dates or unit may change only while the stay is active.
    pub fn can_change_stay(self) -> bool {
        self.is_active()
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("una reserva en estado {from} no puede pasar a {to}")]
pub struct TransitionError {
    pub from: ReservationStatus,
    pub to: ReservationStatus,
}

/// Where a reservation came from. The conversation channels (the bot's funnel), the owner's
/// dashboard, and the public API: `Web` for a website's booking form, `Api` for other clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Whatsapp,
    Email,
    /// Instagram Direct (Meta's Messenger Platform).
    Instagram,
    /// Facebook Messenger (Meta's Messenger Platform).
    Messenger,
    /// The demo's chat (`/sandbox/chat`, `posada chat`).
    Sandbox,
    /// Made by the owner or staff (dashboard or admin API).
    Admin,
    Web,
    Api,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Channel::Whatsapp,
        Channel::Email,
        Channel::Instagram,
        Channel::Messenger,
        Channel::Sandbox,
        Channel::Admin,
        Channel::Web,
        Channel::Api,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
            Channel::Instagram => "instagram",
            Channel::Messenger => "messenger",
            Channel::Sandbox => "sandbox",
            Channel::Admin => "admin",
            Channel::Web => "web",
            Channel::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// What the owner reads.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Whatsapp => "WhatsApp",
            Channel::Email => "E-mail",
            Channel::Instagram => "Instagram",
            Channel::Messenger => "Messenger",
            Channel::Sandbox => "Chat de prueba",
            Channel::Admin => "Panel",
            Channel::Web => "Web",
            Channel::Api => "API",
        }
    }

    /// A guest's conversation with the bot: what the conversation funnel counts.
    pub fn is_conversation(self) -> bool {
        matches!(self, Channel::Whatsapp | Channel::Email | Channel::Instagram | Channel::Messenger | Channel::Sandbox)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the guest paid the balance (the deposit goes through the payment provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceMethod {
    Cash,
    Transfer,
    MercadoPago,
}

impl BalanceMethod {
    pub const ALL: [BalanceMethod; 3] = [BalanceMethod::Cash, BalanceMethod::Transfer, BalanceMethod::MercadoPago];

    pub fn as_str(self) -> &'static str {
        match self {
            BalanceMethod::Cash => "cash",
            BalanceMethod::Transfer => "transfer",
            BalanceMethod::MercadoPago => "mercadopago",
        }
    }

    pub fn parse(text: &str) -> Option<BalanceMethod> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            BalanceMethod::Cash => "efectivo",
            BalanceMethod::Transfer => "transferencia",
            BalanceMethod::MercadoPago => "Mercado Pago",
        }
    }
}

/// Things the owner must look at, independent of the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionFlag {
    NeedsRefund,
    AmountMismatch,
    Conflict,
    StaleSync,
}

impl AttentionFlag {
    pub const ALL: [AttentionFlag; 4] =
        [AttentionFlag::NeedsRefund, AttentionFlag::AmountMismatch, AttentionFlag::Conflict, AttentionFlag::StaleSync];

    pub fn as_str(self) -> &'static str {
        match self {
            AttentionFlag::NeedsRefund => "needs_refund",
            AttentionFlag::AmountMismatch => "amount_mismatch",
            AttentionFlag::Conflict => "conflict",
            AttentionFlag::StaleSync => "stale_sync",
        }
    }

    pub fn parse(text: &str) -> Option<AttentionFlag> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// Six characters a guest can read aloud: no 0/O, no 1/I/L.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReservationCode(String);

impl ReservationCode {
    pub fn generate(rng: &mut impl Rng) -> ReservationCode {
        let code = (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect();
        ReservationCode(code)
    }

    /// Accepts what a guest types: any case, surrounding spaces.
    pub fn parse(text: &str) -> Option<ReservationCode> {
        let code = text.trim().to_ascii_uppercase();
        (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(ReservationCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReservationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReservationStatus::*;

    #[test]
    fn allowed_transitions_are_exactly_these() {
        let allowed = [
            (PreReserved, Confirmed),
            (PreReserved, Cancelled),
            (PreReserved, Expired),
            (Expired, Confirmed),
            (Confirmed, Cancelled),
            (Blocked, Cancelled),
        ];
        for from in ReservationStatus::ALL {
            for to in ReservationStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} → {to}");
            }
        }
        assert_eq!(Cancelled.transition(Confirmed), Err(TransitionError { from: Cancelled, to: Confirmed }));
    }

    #[test]
    fn statuses_and_flags_round_trip_as_text() {
        for s in ReservationStatus::ALL {
            assert_eq!(ReservationStatus::parse(s.as_str()), Some(s));
        }
        for f in AttentionFlag::ALL {
            assert_eq!(AttentionFlag::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let code = ReservationCode::generate(&mut rng);
            assert_eq!(code.as_str().len(), 6);
            assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']));
            assert_eq!(ReservationCode::parse(&code.as_str().to_lowercase()), Some(code));
        }
        assert_eq!(ReservationCode::parse("R0K2Q9"), None);
        assert_eq!(ReservationCode::parse("R7K2Q"), None);
    }
}
