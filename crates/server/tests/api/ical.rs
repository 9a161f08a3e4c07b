//! Calendar sync end to end: our export, and imports from a local server that plays Airbnb,
//! Booking and Vrbo (changing feeds, 304, 500, HTML, timeouts, vanishing UIDs, echoes).

use crate::both_engines;
use crate::helpers::*;
use axum::http::Method;
use chrono::NaiveDate;
use serde_json::{Value, json};

both_engines!(
    the_export_has_our_stays_only_and_honours_etags_and_token_rotation,
    imports_block_nights_and_survive_bad_fetches,
    our_stay_echoed_back_is_not_a_conflict_but_an_ota_booking_is,
    a_confirmation_refetches_the_feeds_first,
    health_degrades_when_feeds_go_stale,
);

fn date(days: i64) -> NaiveDate {
    property_today() + chrono::Duration::days(days)
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// An Airbnb-shaped feed: reservations with HM codes and "Not available" blocks.
fn airbnb_feed(events: &[(&str, NaiveDate, NaiveDate, bool)]) -> String {
    let mut s = String::from(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n",
    );
    for (uid, a, b, reserved) in events {
        s += &format!(
            "BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{}\r\nDTSTART;VALUE=DATE:{}\r\nUID:{uid}@airbnb.com\r\n",
            ymd(*b),
            ymd(*a)
        );
        if *reserved {
            s += "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABC123XY\\nPhone\r\n Number (Last 4 Digits): 1234\r\nSUMMARY:Reserved\r\n";
        } else {
            s += "SUMMARY:Airbnb (Not available)\r\n";
        }
        s += "END:VEVENT\r\n";
    }
    s + "END:VCALENDAR\r\n"
}

/// A Booking.com-shaped feed: everything is "CLOSED - Not available".
fn booking_feed(events: &[(&str, NaiveDate, NaiveDate)]) -> String {
    let mut s = String::from(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//booking.com//NONSGML Booking.com Calendar//EN\nMETHOD:PUBLISH\n",
    );
    for (uid, a, b) in events {
        s += &format!(
            "BEGIN:VEVENT\nUID:{uid}\nDTSTART;VALUE=DATE:{}\nDTEND;VALUE=DATE:{}\nSUMMARY:CLOSED - Not available\nEND:VEVENT\n",
            ymd(*a),
            ymd(*b)
        );
    }
    s + "END:VCALENDAR\n"
}

async fn add_feed(app: &TestApp, token: &str, unit: i64, url: &str, source: &str) -> Value {
    let r = app
        .admin_send(
            Method::POST,
            &format!("/api/v1/admin/accommodations/{unit}/ical-feeds"),
            token,
            Some(&json!({"url": url, "source": source})),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn sync(app: &TestApp, token: &str) -> Value {
    let r = app.admin_send(Method::POST, "/api/v1/admin/ical/sync", token, None).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn available(app: &TestApp, unit: i64, a: NaiveDate, b: NaiveDate) -> bool {
    let v: Value = app.get(&format!("/api/v1/availability?check_in={a}&check_out={b}")).await.json().await.unwrap();
    let u = v["accommodations"].as_array().unwrap().iter().find(|u| u["accommodation_id"] == unit).unwrap().clone();
    u["reason"] != "dates_unavailable"
}

async fn the_export_has_our_stays_only_and_honours_etags_and_token_rotation(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let unit = 2; // Arrayán
    let hold: Value = app
        .pre_reserve(&app.hold_body(unit, &date(20).to_string(), &date(23).to_string(), "+5492944000001"))
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .admin_send(
            Method::POST,
            "/api/v1/admin/reservations",
            &token,
            Some(&json!({"accommodation_id": unit, "check_in": date(30), "check_out": date(32), "kind": "block"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    // An imported event must never be echoed back out.
    let ota = FakeUpstream::start().await;
    ota.respond_always(Canned::text(200, "text/calendar", &airbnb_feed(&[("imp1", date(40), date(45), true)])));
    add_feed(&app, &token, unit, &format!("{}/a.ics", ota.address), "airbnb").await;
    sync(&app, &token).await;

    let info: Value =
        app.admin_get(&format!("/api/v1/admin/accommodations/{unit}/ical"), &token).await.json().await.unwrap();
    let url = info["export_url"].as_str().unwrap().to_string();
    let path = url.trim_start_matches(&app.address).to_string();
    assert!(path.starts_with("/ical/arrayan/") && path.ends_with(".ics"), "{path}");
    let r = app.get(&path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/calendar; charset=utf-8");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.contains("PRODID:-//Posada//"), "{body}");
    for secret in ["Ana", "+5492944000001", "ana@example.test", "imp1", "HMABC"] {
        assert!(!body.contains(secret), "{secret} leaked into the export");
    }
    let events = ical::parse_feed(&body, chrono_tz::America::Argentina::Buenos_Aires).unwrap();
    assert_eq!(events.len(), 2);
    let ours = events.iter().find(|e| e.uid.starts_with(hold["code"].as_str().unwrap())).unwrap();
    assert_eq!((ours.check_in, ours.check_out), (date(20), date(23)));
    // The original's path answers the same feed.
    let by_id = info["export_url_by_id"].as_str().unwrap().trim_start_matches(&app.address).to_string();
    assert_eq!(app.get(&by_id).await.text().await.unwrap(), body);
    // Conditional GET.
    let r = app.client.get(app.url(&path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    // Wrong tokens: a plain 404 with no hint.
    for bad in
        ["/ical/arrayan/nope.ics", "/ical/no-such-cabin/x.ics", "/api/v1/ical/export/2/nope", "/api/v1/ical/export/x/y"]
    {
        let r = app.get(bad).await;
        assert_eq!(r.status(), 404, "{bad}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["message"], "No existe.");
    }
    // Rotation: the old URL stops at once.
    let r = app
        .admin_send(Method::POST, &format!("/api/v1/admin/accommodations/{unit}/ical/rotate-token"), &token, None)
        .await;
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(app.get(&path).await.status(), 404);
    let new_path = fresh["export_url"].as_str().unwrap().trim_start_matches(&app.address).to_string();
    assert_eq!(app.get(&new_path).await.status(), 200);
    // When the hold lapses it leaves the export.
    app.clock.advance(chrono::Duration::minutes(61));
    let body = app.get(&new_path).await.text().await.unwrap();
    assert_eq!(ical::parse_feed(&body, chrono_tz::UTC).unwrap().len(), 1);
}

async fn imports_block_nights_and_survive_bad_fetches(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options { env: vec![("POSADA_ICAL_FETCH_TIMEOUT_S", "1".into())], ..Default::default() },
    )
    .await;
    let token = app.owner_token().await;
    let unit = 3; // Cabaña Grande, min 1 night
    let ota = FakeUpstream::start().await;
    let feed_body = booking_feed(&[("b1", date(10), date(12)), ("b2", date(50), date(55))]);
    ota.respond_next(Canned::text(200, "text/calendar", &feed_body).header("etag", "\"v1\""));
    let feed = add_feed(&app, &token, unit, &format!("{}/booking.ics", ota.address), "booking").await;
    let report = sync(&app, &token).await;
    assert_eq!(report["feeds"][0]["result"], "updated", "{report}");
    assert_eq!(report["feeds"][0]["changes"]["added"], 2);
    assert!(!available(&app, unit, date(11), date(12)).await);
    assert!(available(&app, unit, date(12), date(13)).await, "back-to-back with an import is fine");
    let r = app.pre_reserve(&app.hold_body(unit, &date(10).to_string(), &date(11).to_string(), "+5491100000101")).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "dates_unavailable");

    // 304: conditional GET with our ETag, nothing changes.
    ota.respond_next(Canned::text(304, "text/calendar", ""));
    assert_eq!(sync(&app, &token).await["feeds"][0]["result"], "not_modified");
    let sent = ota.requests();
    assert_eq!(sent.last().unwrap().headers["if-none-match"], "\"v1\"");
    // 500, an HTML error page, an empty body, a timeout: errors, and the calendar stays as it was.
    for (canned, kind) in [
        (Canned::text(500, "text/plain", "boom"), "http_status"),
        (Canned::text(200, "text/html", "<html><body>Service unavailable</body></html>"), "not_ical"),
        (Canned::text(200, "text/calendar", ""), "not_ical"),
        (Canned::text(200, "text/calendar", &feed_body).delayed(2_500), "timeout"),
    ] {
        ota.respond_next(canned);
        let report = sync(&app, &token).await;
        assert_eq!(
            (report["feeds"][0]["result"].as_str(), report["feeds"][0]["error_type"].as_str()),
            (Some("error"), Some(kind))
        );
        assert!(!available(&app, unit, date(11), date(12)).await, "a failed fetch never empties a calendar ({kind})");
    }
    let info: Value =
        app.admin_get(&format!("/api/v1/admin/accommodations/{unit}/ical"), &token).await.json().await.unwrap();
    assert_eq!(info["feeds"][0]["consecutive_failures"], 4);
    assert_eq!(info["feeds"][0]["status"], "error");
    // A UID that vanishes keeps blocking (Booking/Vrbo may just be flaky), then returns.
    let without_b1 = booking_feed(&[("b2", date(50), date(55))]);
    ota.respond_next(Canned::text(200, "text/calendar", &without_b1));
    assert_eq!(sync(&app, &token).await["feeds"][0]["changes"]["missing"], 1);
    assert!(!available(&app, unit, date(11), date(12)).await);
    ota.respond_next(Canned::text(200, "text/calendar", &feed_body));
    sync(&app, &token).await;
    // Gone from two fetches at least 24 h apart: released.
    ota.respond_always(Canned::text(200, "text/calendar", &without_b1));
    sync(&app, &token).await;
    app.clock.advance(chrono::Duration::hours(25));
    let token = app.owner_token().await;
    let report = sync(&app, &token).await;
    assert_eq!(report["feeds"][0]["changes"]["removed"], 1, "{report}");
    assert!(available(&app, unit, date(11), date(12)).await);
    // Removing the feed releases its nights.
    let r = app
        .admin_send(
            Method::DELETE,
            &format!("/api/v1/admin/accommodations/{unit}/ical-feeds/{}", feed["id"]),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(available(&app, unit, date(51), date(52)).await);
    // Bad feed input.
    for body in [json!({"url": "ftp://x/y.ics"}), json!({"url": "https://x.test/a.ics", "source": "expedia"})] {
        let r = app
            .admin_send(Method::POST, &format!("/api/v1/admin/accommodations/{unit}/ical-feeds"), &token, Some(&body))
            .await;
        assert_eq!(r.status(), 422, "{body}");
    }
}

async fn our_stay_echoed_back_is_not_a_conflict_but_an_ota_booking_is(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let unit = 3;
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &date(20).to_string(), &date(24).to_string(), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    let r = app.admin_send(Method::POST, &format!("/api/v1/reservations/{code}/confirm"), &token, None).await;
    assert_eq!(r.status(), 200);
    // Booking imports our export and sends our stay back as a CLOSED block.
    let booking = FakeUpstream::start().await;
    booking.respond_always(Canned::text(200, "text/calendar", &booking_feed(&[("echo-1", date(20), date(24))])));
    add_feed(&app, &token, unit, &format!("{}/b.ics", booking.address), "booking").await;
    let report = sync(&app, &token).await;
    assert_eq!(report["feeds"][0]["changes"]["echoes"], 1, "{report}");
    let conflicts: Value = app.admin_get("/api/v1/admin/ical/conflicts", &token).await.json().await.unwrap();
    assert!(conflicts["items"].as_array().unwrap().is_empty());
    let r: Value = app.admin_get(&format!("/api/v1/admin/reservations/{code}"), &token).await.json().await.unwrap();
    assert_eq!(r["flags"], json!([]));
    // An Airbnb reservation over the same nights is a real double booking.
    let airbnb = FakeUpstream::start().await;
    airbnb.respond_always(Canned::text(200, "text/calendar", &airbnb_feed(&[("HM-1", date(22), date(25), true)])));
    add_feed(&app, &token, unit, &format!("{}/a.ics", airbnb.address), "airbnb").await;
    let report = sync(&app, &token).await;
    let conflicts_found: usize = report["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["changes"]["new_conflicts"].as_array().map_or(0, |c| c.len()))
        .sum();
    assert_eq!(conflicts_found, 1, "{report}");
    let conflicts: Value = app.admin_get("/api/v1/admin/ical/conflicts", &token).await.json().await.unwrap();
    assert_eq!(conflicts["items"][0]["reservation_code"], code.as_str());
    let r: Value = app.admin_get(&format!("/api/v1/admin/reservations/{code}"), &token).await.json().await.unwrap();
    assert_eq!((r["flags"].clone(), r["status"].clone()), (json!(["conflict"]), json!("confirmed")));
    // The owner is told through the job queue, once.
    sync(&app, &token).await;
    let worker = server::jobs::Worker::new(app.state.clone());
    assert!(worker.run_once().await.unwrap() >= 1);
    let samples = crate::health::parse_prometheus(&app.metrics().await.text().await.unwrap());
    assert!(samples.iter().any(|(n, _, v)| n == "ical_conflicts_total" && *v >= 1.0));
    assert!(
        samples
            .iter()
            .any(|(n, l, _)| n == "ical_sync_total" && l.get("result").map(String::as_str) == Some("updated"))
    );
}

async fn a_confirmation_refetches_the_feeds_first(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let unit = 3;
    let airbnb = FakeUpstream::start().await;
    airbnb.respond_next(Canned::text(200, "text/calendar", &airbnb_feed(&[])));
    add_feed(&app, &token, unit, &format!("{}/a.ics", airbnb.address), "airbnb").await;
    sync(&app, &token).await;
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &date(20).to_string(), &date(22).to_string(), "+5491100000101"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    // Meanwhile someone booked those nights on Airbnb; the confirm sees it right away.
    airbnb.respond_next(Canned::text(200, "text/calendar", &airbnb_feed(&[("HM-2", date(21), date(23), true)])));
    let before = airbnb.requests().len();
    let r = app.admin_send(Method::POST, &format!("/api/v1/reservations/{code}/confirm"), &token, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(airbnb.requests().len(), before + 1, "the feed was fetched before confirming");
    let r: Value = app.admin_get(&format!("/api/v1/admin/reservations/{code}"), &token).await.json().await.unwrap();
    assert_eq!(r["flags"], json!(["conflict"]));
    // With the feed down, the confirmation still goes through, flagged stale.
    let v: Value = app
        .pre_reserve(&app.hold_body(unit, &date(30).to_string(), &date(32).to_string(), "+5491100000102"))
        .await
        .json()
        .await
        .unwrap();
    let code = v["code"].as_str().unwrap().to_string();
    airbnb.respond_always(Canned::text(503, "text/plain", "down"));
    let r = app.admin_send(Method::POST, &format!("/api/v1/reservations/{code}/confirm"), &token, None).await;
    assert_eq!(r.status(), 200);
    let r: Value = app.admin_get(&format!("/api/v1/admin/reservations/{code}"), &token).await.json().await.unwrap();
    assert_eq!((r["status"].clone(), r["flags"].clone()), (json!("confirmed"), json!(["stale_sync"])));
}

async fn health_degrades_when_feeds_go_stale(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    let ota = FakeUpstream::start().await;
    ota.respond_next(Canned::text(200, "text/calendar", &airbnb_feed(&[])));
    add_feed(&app, &token, 1, &format!("{}/a.ics", ota.address), "airbnb").await;
    sync(&app, &token).await;
    let v: Value = app.get("/api/v1/healthz").await.json().await.unwrap();
    assert_eq!((v["status"].as_str(), v["checks"]["ical_sync"]["status"].as_str()), (Some("healthy"), Some("ok")));
    ota.respond_always(Canned::text(500, "text/plain", "down"));
    app.clock.advance(chrono::Duration::minutes(31));
    sync(&app, &token).await;
    let r = app.get("/api/v1/healthz").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["status"].as_str(), v["checks"]["ical_sync"]["status"].as_str()), (Some("degraded"), Some("stale")));
    app.clock.advance(chrono::Duration::minutes(30));
    let r = app.get("/api/v1/healthz").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["checks"]["ical_sync"]["status"], "error");
}
