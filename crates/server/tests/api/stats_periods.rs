//! Estadísticas by default (issue 19, defect 5): the next 12 months and the last 12, not the
//! calendar year — a paid booking next January counts in December — and no empty charts.

use crate::both_engines;
use crate::helpers::*;
use crate::ui::*;
use reqwest::Method;
use serde_json::{Value, json};

both_engines!(statistics_show_the_next_and_the_last_twelve_months);

async fn statistics_show_the_next_and_the_last_twelve_months(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = app.owner_token().await;
    // A paid booking ~40 days ahead (in December, that is next year's January).
    let body = json!({"accommodation_id": 1, "check_in": app.in_days(40), "check_out": app.in_days(42),
                      "kind": "booking", "guests": 2, "guest_name": "Juan Pago"});
    let r = app.admin_send(Method::POST, "/api/v1/admin/reservations", &token, Some(&body)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    let booked = app.state.store.get_reservation(&code).await.unwrap();
    assert_eq!(booked.status, domain::ReservationStatus::Confirmed);
    let ui = owner_ui(&app).await;
    let html = ui.page("/admin/estadisticas").await;
    assert!(html.contains("Próximos 12 meses") && html.contains("Últimos 12 meses"), "{html}");
    let next = &html[html.find(r#"id="ingresos""#).unwrap()..];
    let next = &next[..next.find("</section>").unwrap()];
    assert!(next.contains(&format!("<strong>{}</strong> en total", booked.total.to_ars_spaced())), "{next}");
    assert!(!html.contains("Todavía no hay reservas este año"));
    // The last 12 months are empty: said in words, not drawn as an empty chart.
    let past = &html[html.find(r#"id="ocupacion-pasados""#).unwrap()..];
    let past = &past[..past.find("</section>").unwrap()];
    assert!(past.contains("Sin datos en este período.") && !past.contains("<svg"), "{past}");
    // The booking's month is labelled, with its year when the window spans two.
    let m = app.today() + chrono::Duration::days(40);
    let short = domain::months::short(m);
    let label = if chrono::Datelike::month(&app.today()) == 1 {
        short.to_string()
    } else {
        format!("{short} {:02}", chrono::Datelike::year(&m) % 100)
    };
    assert!(next.contains(&format!("<title>{label}: ")), "{next}");
    // One calendar year is still a click away.
    let year = chrono::Datelike::year(&app.today());
    assert!(html.contains(&format!("/admin/estadisticas?anio={year}")));
    assert!(ui.page(&format!("/admin/estadisticas?anio={year}")).await.contains(&format!("Estadísticas {year}")));
}
