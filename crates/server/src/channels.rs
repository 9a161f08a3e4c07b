//! The channel clients and adapters live in `crates/channels` (no import of the server); this
//! module keeps their paths (`crate::channels::…`) for the rest of the server.

pub use ::channels::*;
