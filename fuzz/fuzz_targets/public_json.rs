//! Fuzz the JSON bodies anyone may send, through the path their routes use (`parse_json`, and
//! for a hold every check that needs no database): any bytes give a value or a 4xx with a
//! Spanish message, never a panic, never serde's English.
#![no_main]

use chrono::NaiveDate;
use domain::{Phone, Stay};
use libfuzzer_sys::fuzz_target;
use server::booking::{BookingError, check_contact};
use server::error::ApiError;
use server::http::extract::parse_json;
use server::http::public::pre_reserve_request;
use server::http::{admin::LoginBody, nlu::AnalyzeBody, sandbox::SendBody};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    match which % 4 {
        0 => check(parse_json::<LoginBody>(body).map(|_| ())),
        1 => check(parse_json::<AnalyzeBody>(body).map(|_| ())),
        2 => check(parse_json::<SendBody>(body).map(|_| ())),
        _ => check(pre_reserve(body)),
    }
});

/// `POST /api/v1/reservations/pre-reserve` up to the database: the body, the stay, the horizon,
/// guests and nights, the contact. What passes is what the store would be asked to write.
fn pre_reserve(body: &[u8]) -> Result<(), ApiError> {
    let req = pre_reserve_request(body, [203, 0, 113, 7].into())?;
    let today = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let (stay, name, phone) = (|| -> Result<_, BookingError> {
        let stay = Stay::new(req.check_in, req.check_out)?;
        stay.within_horizon(today, 540)?;
        stay.validate_request(today, req.guests, 6, 2)?;
        let (name, phone) = check_contact(&req)?;
        Ok((stay, name, phone))
    })()?;
    assert!(stay.check_in >= today && stay.check_out > stay.check_in);
    assert!(stay.check_out <= today + chrono::Days::new(540));
    assert!((1..=6).contains(&req.guests));
    assert!(!name.is_empty() && name == name.trim() && !domain::text::has_forbidden(&name));
    let again = Phone::parse(&phone).expect("a normalised phone parses again");
    assert_eq!(again.to_string(), phone, "normalising twice changes the phone");
    Ok(())
}

fn check(result: Result<(), ApiError>) {
    let Err(e) = result else { return };
    assert!(e.status.is_client_error(), "{} for a client's body: {}", e.status, e.message);
    assert!(!e.code.is_empty());
    assert!(e.message.trim().len() > 10, "an empty error message: {:?}", e.message);
    assert!(e.message.ends_with(['.', '?']), "not a sentence: {:?}", e.message);
    // What the client sent may be quoted back (a field name); the rest must be ours, in Spanish.
    let mut ours = e.message.clone();
    if let Some(field) = e.details.as_ref().and_then(|d| d["field"].as_str()).filter(|f| !f.is_empty()) {
        ours = ours.replace(field, "");
    }
    for english in
        ["expected", "invalid type", "missing field", "unknown field", "at line", "EOF", "trailing", "invalid value"]
    {
        assert!(!ours.contains(english), "serde's English in {:?}", e.message);
    }
}
