//! End-to-end in headless Chromium over WebDriver: log in, the calendar with a hold and an
//! imported block, an owner block by selecting nights, a manual confirmation, a cancellation,
//! a price edit that changes the preview, a live update after a hold placed through the API,
//! and taking over and answering a chat that a guest started in the sandbox. Screenshots of the main pages at 360 px and desktop width go to `docs/screenshots/`
//! when `UPDATE_SCREENSHOTS=1` (to a temporary directory otherwise).

use crate::dashboard_chat::{guest_says, guest_sees};
use crate::helpers::*;
use crate::ui::*;
use crate::webdriver::Driver;
use crate::whatsapp::date_words;
use std::time::Duration;

/// Whether the page is no wider than the window (`document.documentElement.scrollWidth <=
/// innerWidth`), and if not, the first elements that stick out (outside any scrolling box).
const FITS: &str = r#"
const w = innerWidth, sw = document.documentElement.scrollWidth, wide = [];
if (sw > w) {
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right <= w + 1 || r.width === 0) continue;
    let p = el.parentElement, clipped = false;
    while (p && p !== document.body) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { clipped = true; break; }
      p = p.parentElement;
    }
    if (!clipped) wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).join('.') : '')
      + ' right=' + Math.round(r.right) + ' width=' + Math.round(r.width));
  }
}
return {fits: sw <= w, scrollWidth: sw, innerWidth: w, wide: wide.slice(0, 8)};
"#;

fn screenshot_dir() -> std::path::PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        std::env::temp_dir().join("posada-screenshots")
    }
}

async fn shot(d: &Driver, name: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let png = d.screenshot().await;
    assert_eq!(&png[1..4], b"PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Realistic data for the pages and the screenshots.
async fn seed(app: &TestApp) -> (String, String) {
    let to_confirm = hold(app, 1, 2, 5, "Martina Gómez", "+5492944111111").await;
    let to_cancel = hold(app, 2, 8, 11, "Julián Fernández", "+5492944222222").await;
    let confirmed = hold(app, 3, 0, 3, "Familia Rossi", "+5492944333333").await;
    app.state.booking.confirm(&confirmed, OWNER_EMAIL, "transferencia", false).await.unwrap();
    let flagged = hold(app, 2, 14, 18, "Lucía Benítez", "+5492944444444").await;
    app.state.booking.confirm(&flagged, OWNER_EMAIL, "", false).await.unwrap();
    let flag = store::Change { actor: "system".into(), note: "pagó de menos".into(), allow_expired: false };
    app.state
        .store
        .set_flag(&flagged, domain::AttentionFlag::AmountMismatch, true, &flag, app.clock.now())
        .await
        .unwrap();
    imported_block(app, 3, 6, 10).await;
    (to_confirm, to_cancel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_works_in_a_real_browser() {
    let Some(d) = Driver::start(360, 780).await else { return };
    let app = spawn_app_with(
        Engine::Sqlite,
        Options {
            env: vec![("POSADA_SANDBOX", "true".into()), ("POSADA_PAYMENT_PROVIDER", "sandbox".into())],
            ..Default::default()
        },
    )
    .await;
    let (to_confirm, to_cancel) = seed(&app).await;

    // Log in (phone width).
    d.goto(&app.url("/admin/calendario")).await;
    d.find("#login-submit").await;
    shot(&d, "login-360").await;
    // The login page fits the phone too (the signed-in pages are checked further down).
    let v = d.script(FITS).await;
    assert_eq!(v["fits"], serde_json::Value::Bool(true), "the login page is wider than the phone: {v}");
    d.type_into("#email", OWNER_EMAIL).await;
    d.type_into("#password", "wrong").await;
    d.click("#login-submit").await;
    d.wait_text("main", "E-mail o contraseña incorrectos.", Duration::from_secs(10)).await;
    d.clear("#password").await;
    d.type_into("#password", OWNER_PASSWORD).await;
    d.click("#login-submit").await;
    // Back where we wanted to go.
    d.wait_text("h1", "Calendario", Duration::from_secs(10)).await;

    // The calendar shows the hold and the imported block.
    let hold_cell = d.text(&format!("td.c-pre_reserved a[href='/admin/reservas/{to_confirm}']")).await;
    assert!(hold_cell.contains("Martina"), "the guest's first name, not the code: {hold_cell}");
    d.find("td.c-airbnb").await;
    shot(&d, "calendario-360").await;

    // An owner block by selecting two free nights of the first cabin.
    let (a, b) = (app.in_days(20), app.in_days(21));
    d.goto(&app.url(&format!("/admin/calendario?desde={}", app.in_days(14)))).await;
    d.click(&format!("td.c-free[data-unit='1'][data-date='{a}']")).await;
    d.click(&format!("td.c-free[data-unit='1'][data-date='{b}']")).await;
    assert_eq!(d.value("#n-in").await, a);
    assert_eq!(d.value("#n-out").await, app.in_days(22));
    assert_eq!(d.value("#n-unit").await, "1");
    d.type_into("#n-note", "Mantenimiento").await;
    d.click("#btn-nueva").await;
    d.wait_text("main", "Listo: la reserva o el bloqueo quedó creado.", Duration::from_secs(10)).await;
    d.wait_text("main", "Bloqueo del dueño", Duration::from_secs(5)).await;
    let block = d.url().await.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let r = app.state.store.get_reservation(&block).await.unwrap();
    assert_eq!((r.status, r.stay.check_in.to_string()), (domain::ReservationStatus::Blocked, a.clone()));

    // Confirm a hold by hand.
    d.goto(&app.url(&format!("/admin/reservas/{to_confirm}"))).await;
    shot(&d, "reserva-360").await;
    d.type_into("#confirm-note", "Pagó en efectivo").await;
    d.click("#btn-confirmar").await;
    d.wait_text("main", "Listo: la reserva quedó confirmada.", Duration::from_secs(15)).await;
    d.wait_text("#historial", "Pagó en efectivo", Duration::from_secs(5)).await;

    // Cancel a reservation.
    d.goto(&app.url(&format!("/admin/reservas/{to_cancel}"))).await;
    d.type_into("#cancel-reason", "El huésped no viaja").await;
    d.click("#btn-cancelar").await;
    d.wait_text("main", "Listo: la reserva quedó cancelada.", Duration::from_secs(10)).await;
    assert_eq!(app.state.store.get_reservation(&to_cancel).await.unwrap().status, domain::ReservationStatus::Cancelled);

    // Edit a price and see the preview change.
    d.goto(&app.url("/admin/cabanas/1")).await;
    assert!(!d.text("#preview-table").await.contains("$ 61.000"));
    d.clear("#u-base_price").await;
    d.type_into("#u-base_price", "61000").await;
    d.click("#btn-guardar-cabana").await;
    d.wait_text("main", "Listo: los cambios se guardaron.", Duration::from_secs(10)).await;
    d.wait_text("#preview-table", "$ 61.000", Duration::from_secs(5)).await;

    // A live update: a hold placed through the API shows up on the open "Hoy" page.
    d.goto(&app.url("/admin")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while d.script("return document.body.dataset.live || ''").await != "on" {
        assert!(std::time::Instant::now() < deadline, "the page never connected to /admin/events");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = hold(&app, 2, 1, 4, "Sofía Live", "+5492944555555").await;
    d.wait_text("#toasts", &format!("Nueva pre-reserva {live}"), Duration::from_secs(15)).await;
    d.wait_text("#llegadas", "Sofía Live", Duration::from_secs(10)).await;

    // Take over and answer a chat: a guest asks the bot, then asks for a person.
    let ask = format!("hola, ¿tienen lugar del {} al {} para 2?", date_words(40), date_words(43));
    guest_says(&app, "browser-2", "Pedro Alonso", "hola").await;
    guest_says(&app, "browser-1", "Carla Ruiz", &ask).await;
    let carla = guest_says(&app, "browser-1", "Carla Ruiz", "quiero hablar con una persona").await;
    assert!(carla.handed_off);
    let thread = format!("/admin/conversaciones/{}", carla.id);
    d.goto(&app.url("/admin")).await;
    d.wait_text("#chats-handoff", "Carla Ruiz", Duration::from_secs(10)).await;
    d.click(&format!("#chats-handoff a[href='{thread}']")).await;
    d.wait_text("h1", "Carla Ruiz", Duration::from_secs(10)).await;
    d.wait_text("#hilo", "quiero hablar con una persona", Duration::from_secs(5)).await;
    d.find("#btn-devolver").await;
    d.goto(&app.url("/admin/conversaciones")).await;
    d.wait_text("#chats-espera", "Carla Ruiz", Duration::from_secs(5)).await;
    d.wait_text("#chats-recientes", "Pedro Alonso", Duration::from_secs(5)).await;
    // A guest on every channel: each chat shows its channel's icon, and at 360 px the name
    // beside it is hidden from sight but still there for a screen reader.
    let now = chrono::Utc::now();
    for (channel, address, name) in [
        (domain::Channel::Whatsapp, "5492944111222", "Wanda Whatsapp"),
        (domain::Channel::Email, "ines@example.com", "Inés Email"),
        (domain::Channel::Instagram, "17841400000000009", "Iris Instagram"),
        (domain::Channel::Messenger, "27000000000000009", "Mara Messenger"),
    ] {
        app.state.store.upsert_contact(channel, address, name, now).await.unwrap();
    }
    d.goto(&app.url("/admin/conversaciones")).await;
    d.wait_text("#chats-recientes", "Mara Messenger", Duration::from_secs(5)).await;
    let icons = d
        .script(
            "return [...document.querySelectorAll('#chats-recientes .chan')].map(b => { \
               const i = b.querySelector('svg').getBoundingClientRect(); \
               const n = b.querySelector('.chan-name'); \
               return {cls: b.className, icon_w: i.width, icon_h: i.height, \
                       hidden: b.querySelector('svg').getAttribute('aria-hidden'), \
                       name: n.textContent, name_w: n.getBoundingClientRect().width, \
                       color: getComputedStyle(b).color}; });",
        )
        .await;
    let icons = icons.as_array().cloned().unwrap_or_default();
    for (channel, label) in [
        ("whatsapp", "WhatsApp"),
        ("email", "E-mail"),
        ("instagram", "Instagram"),
        ("messenger", "Messenger"),
        ("sandbox", "Chat de prueba"),
    ] {
        let b = icons
            .iter()
            .find(|b| b["cls"] == format!("chan chan-{channel}"))
            .unwrap_or_else(|| panic!("{channel}: {icons:?}"));
        assert!(
            b["icon_w"].as_f64().unwrap() >= 16.0 && b["icon_h"].as_f64().unwrap() >= 16.0,
            "{channel} icon shows: {b}"
        );
        assert_eq!((b["hidden"].as_str(), b["name"].as_str()), (Some("true"), Some(label)), "{b}");
        assert!(b["name_w"].as_f64().unwrap() <= 1.0, "at 360 px the name is only for screen readers: {b}");
    }
    let colors: std::collections::BTreeSet<_> = icons.iter().map(|b| b["color"].to_string()).collect();
    assert!(colors.len() >= 5, "each channel its colour: {icons:?}");
    shot(&d, "conversaciones-360").await;
    d.goto(&app.url(&thread)).await;
    let reply = "Hola Carla, soy Marta, la dueña. Sí, la Arrayán está libre esas noches. ¿Te la reservo?";
    d.type_into("#reply-text", reply).await;
    d.click("#btn-responder").await;
    d.wait_text("main", "Listo: tu mensaje quedó en camino al huésped.", Duration::from_secs(10)).await;
    d.wait_text("#hilo", "soy Marta", Duration::from_secs(5)).await;
    // The outbox delivers it to the guest's sandbox thread.
    crate::whatsapp::drain(&app).await;
    assert!(guest_sees(&app, "browser-1").await.iter().any(|m| m["direction"] == "out" && m["body"] == reply));
    for (w, h, suffix) in [(1280, 860, "desktop"), (360, 780, "360")] {
        d.resize(w, h).await;
        d.goto(&app.url(&thread)).await;
        d.find("#hilo .tick.sent").await;
        shot(&d, &format!("conversacion-{suffix}")).await;
    }
    d.click("#btn-devolver").await;
    d.wait_text("main", "Listo: el bot vuelve a atender este chat.", Duration::from_secs(10)).await;
    d.find("#btn-tomar").await;
    assert!(!app.state.store.get_contact(carla.id).await.unwrap().handed_off);
    // Another guest waits for a person, for the screenshots.
    guest_says(&app, "browser-3", "Tomás Aguirre", "quiero hablar con una persona").await;

    // Screenshots of the main pages, phone and desktop.
    for (w, h, suffix) in [(360, 780, "360"), (1280, 860, "desktop")] {
        d.resize(w, h).await;
        for (path, name) in [
            ("/admin", "hoy"),
            ("/admin/calendario", "calendario"),
            ("/admin/reservas", "reservas"),
            (&*format!("/admin/reservas/{to_confirm}"), "reserva"),
            ("/admin/cabanas/1", "cabana"),
            ("/admin/canales", "canales"),
            ("/admin/estadisticas", "estadisticas"),
            ("/admin/conversaciones", "conversaciones"),
        ] {
            d.goto(&app.url(path)).await;
            d.find("main h1").await;
            shot(&d, &format!("{name}-{suffix}")).await;
        }
    }
    // Every page fits a phone: nothing makes the page wider than the screen at 360 and 390 px
    // (tables scroll inside their own box). Issue 19, defect 6.
    let paid = hold(&app, 3, 24, 26, "Saldo Pendiente", "+5492944666666").await;
    app.state.booking.confirm(&paid, OWNER_EMAIL, "transferencia", false).await.unwrap();
    let pages: Vec<String> = [
        "/admin",
        "/admin/calendario",
        "/admin/reservas",
        &format!("/admin/reservas/{to_confirm}"),
        &format!("/admin/reservas/{paid}"),
        "/admin/conversaciones",
        &thread,
        "/admin/alojamiento",
        "/admin/mensajes",
        "/admin/cabanas",
        "/admin/cabanas/1",
        "/admin/canales",
        "/admin/estadisticas",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let mut too_wide = Vec::new();
    for w in [360, 390] {
        d.resize(w, 780).await;
        for path in &pages {
            d.goto(&app.url(path)).await;
            d.find("main h1").await;
            let v = d.script(FITS).await;
            if v["fits"] != serde_json::Value::Bool(true) {
                too_wide.push(format!("{path} at {w} px: {v}"));
            }
        }
    }
    // The guest's side: the sandbox chat.
    for w in [360, 390] {
        d.resize(w, 780).await;
        d.goto(&app.url("/sandbox/chat")).await;
        d.find("#t").await;
        let v = d.script(FITS).await;
        if v["fits"] != serde_json::Value::Bool(true) {
            too_wide.push(format!("/sandbox/chat at {w} px: {v}"));
        }
    }
    assert!(too_wide.is_empty(), "pages wider than the phone:\n{}", too_wide.join("\n"));
    // Calendar bars say who — the guest's first name, the OTA's name —, not a code or a letter.
    d.goto(&app.url("/admin/calendario")).await;
    let cal = d.text("table.cal").await;
    assert!(cal.contains("Martina") && cal.contains("Airbnb"), "{cal}");
    // "Salir" is white on the dark header, not dark green on dark green.
    let salir = d.script("return getComputedStyle(document.querySelector('.logout button')).color").await;
    assert_eq!(salir, serde_json::json!("rgb(255, 255, 255)"));
    d.resize(1280, 860).await;
    // The conversation funnel (further down the statistics page).
    d.goto(&app.url("/admin/estadisticas#embudo")).await;
    d.find("#chart-embudo").await;
    shot(&d, "embudo-desktop").await;
    d.quit().await;
    app.stop().await;
}
