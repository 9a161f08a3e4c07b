//! Where a reservation came from (issue 19, defect 7): holds placed through the public API are
//! the website's or another client's, never WhatsApp's, and the funnel, the statistics and the
//! lists say so.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use domain::Channel;
use serde_json::{Value, json};

both_engines!(public_holds_are_attributed_to_the_web_or_the_api_never_to_whatsapp);

async fn public_holds_are_attributed_to_the_web_or_the_api_never_to_whatsapp(engine: Engine) {
    let app = spawn_app(engine).await;
    // A website's form that says nothing about the channel.
    let mut body = app.hold_body(1, &app.in_days(20), &app.in_days(22), "+5491100000201");
    body.as_object_mut().unwrap().remove("channel");
    let r = app.pre_reserve(&body).await;
    assert_eq!(r.status(), 201);
    let web = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    assert_eq!(app.state.store.get_reservation(&web).await.unwrap().channel, Channel::Web);
    let v: Value = app.get(&format!("/api/v1/reservations/{web}")).await.json().await.unwrap();
    assert_eq!(v["channel_source"], "web");
    // Another program says "api".
    let r = app.pre_reserve(&app.hold_body(2, &app.in_days(20), &app.in_days(22), "+5491100000202")).await;
    assert_eq!(r.status(), 201);
    let api = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    assert_eq!(app.state.store.get_reservation(&api).await.unwrap().channel, Channel::Api);
    // The conversation channels are Posada's to set: a client cannot claim one.
    for claimed in ["whatsapp", "email", "admin", "telegram"] {
        let mut body = app.hold_body(3, &app.in_days(20), &app.in_days(22), "+5491100000203");
        body["channel"] = json!(claimed);
        let r = app.pre_reserve(&body).await;
        assert_eq!(r.status(), 422, "{claimed}");
        let e = r.json::<Value>().await.unwrap()["error"].clone();
        assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_channel"), Some("channel")), "{e}");
    }
    // The conversation funnel counts no hold at all; the direct ones are shown apart.
    let now = app.clock.now();
    let f = app.state.store.funnel(now - chrono::Duration::days(1), now + chrono::Duration::days(1)).await.unwrap();
    assert_eq!((f.holds, f.direct_holds, f.direct_paid), (0, 2, 0), "{f:?}");
    let ui = owner_ui(&app).await;
    let stats = ui.page("/admin/estadisticas").await;
    assert!(stats.contains(r#"data-direct-holds="2""#), "the direct holds are on the statistics page");
    assert!(stats.contains("<title>Web: 1 (50%)</title>") && stats.contains("<title>API: 1 (50%)</title>"), "{stats}");
    assert!(!stats.contains("<title>WhatsApp"), "no WhatsApp booking was made");
    let list = ui.page("/admin/reservas").await;
    let row = |code: &str| list.split("<tr>").find(|r| r.contains(code)).unwrap_or_default().to_string();
    assert!(
        row(&web).contains(r#"<td class="wide-only">Web</td>"#)
            && row(&api).contains(r#"<td class="wide-only">API</td>"#),
        "{list}"
    );
    assert!(!list.contains(">WhatsApp</td>"));
    let only_web = ui.page("/admin/reservas?canal=web").await;
    assert!(only_web.contains(&web) && !only_web.contains(&api));
    let csv = ui.page("/admin/reservas.csv").await;
    assert!(csv.contains("\"web\"") && csv.contains("\"api\"") && !csv.contains("\"whatsapp\""), "{csv}");
}
