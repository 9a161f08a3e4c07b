//! Fuzz `nlu::analyze`: no panic, and the output invariants hold, for any bytes and any "today".
#![no_main]

use chrono::{Days, NaiveDate};
use libfuzzer_sys::fuzz_target;
use nlu::{UnitRef, analyze};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let offset = u64::from(u16::from_le_bytes([data[0], data[1]]));
    let today = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Days::new(offset);
    let text = String::from_utf8_lossy(&data[2..]);
    let units = [
        UnitRef { id: 1, name: "Coihue".into(), slug: "coihue".into() },
        UnitRef { id: 2, name: "Cabaña Grande".into(), slug: "cabana-grande".into() },
    ];
    let a = analyze(&text, today, &units);
    assert!((0.0..=1.0).contains(&a.confidence));
    if let (Some(ci), Some(co)) = (a.check_in, a.check_out) {
        assert!(co > ci);
        assert_eq!(a.nights, Some((co - ci).num_days() as u32));
    }
    assert_eq!(a, analyze(&text, today, &units));
});
