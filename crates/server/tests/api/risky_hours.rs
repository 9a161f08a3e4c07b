//! "Today" is the property's date (America/Argentina/Buenos_Aires), never the UTC one. Between
//! 21:00 and 24:00 in Argentina the UTC date is already tomorrow; these tests pin the app's clock
//! to 23:30 and 00:30 local time so a UTC "today" anywhere (product or tests) fails here, at any
//! hour the suite runs.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Argentina::Buenos_Aires;
use serde_json::{Value, json};

both_engines!(at_half_past_eleven_at_night, at_half_past_midnight);

async fn at_half_past_eleven_at_night(engine: Engine) {
    one_today_everywhere(engine, 23, 30).await;
}

async fn at_half_past_midnight(engine: Engine) {
    one_today_everywhere(engine, 0, 30).await;
}

/// A local date a few weeks ahead (a plain weekday, no holiday games) at `hour:minute` there.
fn local(hour: u32, minute: u32) -> (NaiveDate, DateTime<Utc>) {
    let day = property_today() + Duration::days(20);
    let at = Buenos_Aires.from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap()).unwrap();
    (day, at.with_timezone(&Utc))
}

async fn one_today_everywhere(engine: Engine, hour: u32, minute: u32) {
    let (day, now) = local(hour, minute);
    let app = spawn_app_with(engine, Options { now: Some(now), ..Default::default() }).await;
    assert_eq!(app.today(), day, "the tests' today is the property's");
    if hour >= 21 {
        assert_eq!(now.date_naive(), day + Duration::days(1), "the UTC date is already tomorrow");
    }

    // A stay starting today is not in the past; one starting yesterday is.
    let tonight = app.pre_reserve(&app.hold_body(3, &app.in_days(0), &app.in_days(2), "+5491100000001")).await;
    assert_eq!(tonight.status(), 201, "{}", tonight.text().await.unwrap());
    let r = app.pre_reserve(&app.hold_body(1, &app.in_days(-1), &app.in_days(2), "+5491100000002")).await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "check_in_past");
    let tomorrow = hold(&app, 2, 1, 3, "Llega Mañana", "+5491100000003").await;

    // Availability for tonight answers (no "past" refusal), and tonight's cabin is taken.
    let r = app.get(&format!("/api/v1/availability?check_in={}&check_out={}", app.in_days(0), app.in_days(1))).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let grande = v["accommodations"].as_array().unwrap().iter().find(|c| c["accommodation_id"] == 3).unwrap();
    assert_eq!(grande["available"], false, "{v}");

    // The owner's Hoy page: tonight's guest arrives today, the other one tomorrow.
    let ui = owner_ui(&app).await;
    let html = ui.page("/admin").await;
    assert!(html.contains(&tomorrow) && html.contains("llega mañana"), "{html}");
    assert!(html.contains("llega hoy"), "{html}");
    let calendar = ui.page("/admin/calendario").await;
    assert!(calendar.contains(&format!(r#"data-date="{}""#, app.in_days(0))), "the calendar starts today");

    // "mañana" in a guest's message is the property's tomorrow.
    let r = app.post_json("/api/v1/nlu/analyze", &json!({"text": "tienen lugar para mañana 2 noches para 2?"})).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["check_in"].as_str(), Some(app.in_days(1).as_str()), "{v}");
}
