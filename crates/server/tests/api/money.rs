//! Money at a glance (issue 19, defect 4): a paid reservation shows what was paid and what is
//! still to collect — on its page, in the list and on Hoy — in Spanish, local time and `$ 153.900`;
//! it no longer shows the hold's deadline nor the payment link.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use crate::whatsapp::drain;
use serde_json::Value;

both_engines!(a_paid_reservation_shows_seña_and_saldo_not_the_hold);

async fn a_paid_reservation_shows_seña_and_saldo_not_the_hold(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![("POSADA_SANDBOX", "true".into()), ("POSADA_PAYMENT_PROVIDER", "sandbox".into())],
            ..Default::default()
        },
    )
    .await;
    // Arrives today, two nights in Coihue (2 guests).
    let r = app.pre_reserve(&app.hold_body(1, &app.in_days(0), &app.in_days(2), "+5491100000301")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    drain(&app).await;
    let v: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
    let link = v["payment_link"].as_str().expect("a payment link").to_string();
    let ui = owner_ui(&app).await;
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(page.contains("Pre-reserva vence") && page.contains(&link), "a live hold shows both");
    assert!(page.contains("todavía no se pagó"), "{page}");
    let pref = link.rsplit('/').next().unwrap();
    let paid = app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    assert!(paid.status().is_success());
    drain(&app).await;
    let r = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(r.status, domain::ReservationStatus::Confirmed);
    let (deposit, balance) = (r.deposit.to_ars_spaced(), (r.total - r.deposit).to_ars_spaced());
    assert!(deposit.starts_with("$ ") && deposit.contains('.'), "{deposit}");

    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(!page.contains("Pre-reserva vence"), "a paid reservation has no deadline");
    assert!(!page.contains(&link) && !page.contains(pref), "nor a payment link");
    assert!(page.contains(&format!("<dt>Seña pagada</dt><dd>{deposit}</dd>")), "{page}");
    assert!(page.contains(&format!("<dt>Saldo a cobrar</dt><dd>{balance}</dd>")), "{page}");
    assert!(page.contains("acreditado") && !page.contains("accredited"), "status detail in Spanish");
    assert!(page.contains("Pago (sandbox)") && !page.contains("payment:sandbox"), "actors in Spanish");
    // The note says the amount as the owner reads it, at the property's time.
    let raw = r.deposit.to_string();
    assert!(!page.contains(&raw), "no {raw} in the page");
    assert!(page.contains(&format!("aprobado por {deposit}")), "{page}");
    let local = app.clock.now().with_timezone(&app.state.config.timezone).format("%d/%m/%Y").to_string();
    let notes = page.split(r#"<pre class="notes">"#).nth(1).unwrap().split("</pre>").next().unwrap();
    assert!(notes.contains(&local) && !notes.contains("[20"), "notes in local time: {notes}");

    let list = ui.page("/admin/reservas").await;
    assert!(list.contains("<th>Saldo a cobrar</th>"), "a column in the list");
    let row = list.split("<tr>").find(|r| r.contains(&code)).unwrap();
    assert!(row.contains(&format!(r#"<td class="num">{balance}</td>"#)), "{row}");

    let home = ui.page("/admin").await;
    assert!(home.contains(&format!("Llegan hoy: saldo {balance} a cobrar.")), "{home}");
    assert!(home.contains(&format!("saldo {balance}")), "{home}");
    record_the_balance(&app, &ui, &code, &balance).await;
}

/// The owner records the balance as paid: once, with how, in the history.
pub async fn record_the_balance(app: &TestApp, ui: &Ui<'_>, code: &str, balance: &str) {
    let r = ui.post(&format!("/admin/reservas/{code}/saldo"), &[("method", "bitcoin")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Elegí cómo pagó"));
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(page.contains(r#"id="form-saldo""#) && page.contains("Transferencia") && page.contains("Efectivo"));
    let r = ui
        .post(&format!("/admin/reservas/{code}/saldo"), &[("method", "transfer"), ("note", "CBU terminado en 123")])
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (reqwest::StatusCode::SEE_OTHER, format!("/admin/reservas/{code}?ok=saldo"))
    );
    let stored = app.state.store.get_reservation(code).await.unwrap();
    assert_eq!(stored.balance_paid.map(|b| b.method), Some(domain::BalanceMethod::Transfer));
    let audit = app.state.store.audit_for(stored.id).await.unwrap();
    let row = audit.iter().find(|a| a.action == "balance_paid").expect("an audit row");
    assert_eq!(row.actor, OWNER_EMAIL);
    assert!(
        row.note.contains(&format!("Saldo de {balance} cobrado: transferencia (CBU terminado en 123)")),
        "{}",
        row.note
    );
    let page = ui.page(&format!("/admin/reservas/{code}")).await;
    assert!(page.contains("<dt>Saldo a cobrar</dt><dd>cobrado, transferencia ("), "{page}");
    assert!(page.contains("Saldo cobrado") && !page.contains(r#"id="form-saldo""#));
    let list = ui.page("/admin/reservas").await;
    let row = list.split("<tr>").find(|r| r.contains(code)).unwrap();
    assert!(row.contains(r#"<td class="num">pagado</td>"#), "{row}");
    let home = ui.page("/admin").await;
    assert!(!home.contains("Llegan hoy: saldo") && home.contains("saldo pagado"), "{home}");
    let v: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
    assert_eq!(v["balance_amount"], "0.00", "nothing left to pay on arrival: {v}");
    let r = ui.post(&format!("/admin/reservas/{code}/saldo"), &[("method", "cash")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("ya estaba registrado"));
}
