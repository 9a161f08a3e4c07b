//! Guest changes in the chat (#17 step 3): a paid booking moved to other dates, another cabin
//! or a bigger party — quoted with the difference, moved only on an explicit yes, in one
//! transaction under the no-overlap rule, audited; taken nights leave it as it was and offer
//! alternatives; a check-in too close goes to the owner. The clock sits at 23:30 in Argentina,
//! when the UTC date is already tomorrow: "today" and "too close" are the property's.

use crate::both_engines;
use crate::conversation::say;
use crate::helpers::*;
use crate::whatsapp::drain;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Argentina::Buenos_Aires;
use domain::{Money, ReservationStatus, Stay};
use store::{HoldLimits, NewReservation, Reservation};

both_engines!(
    a_paid_booking_moves_a_day_earlier_and_grows_only_on_yes,
    taken_nights_offer_alternatives_and_change_nothing,
    a_check_in_too_close_goes_to_the_owner,
);

/// A sandbox app whose clock is at 23:30 in Argentina, 20 days from now.
async fn late_evening_app(engine: Engine) -> TestApp {
    let day = Utc::now().with_timezone(&Buenos_Aires).date_naive() + Duration::days(20);
    let at = Buenos_Aires.from_local_datetime(&day.and_hms_opt(23, 30, 0).unwrap()).unwrap().with_timezone(&Utc);
    let env = vec![("POSADA_SANDBOX", "true".to_string())];
    let app = spawn_app_with(engine, Options { env, now: Some(at), ..Default::default() }).await;
    assert_eq!(app.today(), day);
    assert_eq!(at.date_naive(), day + Duration::days(1), "the UTC date is already tomorrow");
    app
}

async fn unit_id(app: &TestApp, slug: &str) -> i64 {
    app.state.store.list_units(false).await.unwrap().into_iter().find(|u| u.slug == slug).unwrap().id
}

/// A paid booking of the sandbox guest `session`, priced like any other.
async fn paid(app: &TestApp, session: &str, slug: &str, from: i64, to: i64, guests: u32) -> Reservation {
    let unit = app.state.store.get_unit(unit_id(app, slug).await).await.unwrap();
    let stay = Stay::new(app.today() + Duration::days(from), app.today() + Duration::days(to)).unwrap();
    let q = app.state.booking.quote(&unit, stay).await.unwrap();
    let new = NewReservation {
        unit_id: unit.id,
        stay,
        guests,
        status: ReservationStatus::Confirmed,
        channel: domain::Channel::Sandbox,
        guest_name: "Lucía Gómez".into(),
        guest_phone: session.into(),
        guest_email: None,
        total: q.total,
        deposit: q.deposit,
        hold_expires_at: None,
        notes: String::new(),
        actor: "test".into(),
        request_key: None,
        client_address: None,
        jobs: Vec::new(),
    };
    app.state.store.create_reservation(&new, HoldLimits::default(), app.clock.now()).await.unwrap()
}

async fn moves(app: &TestApp, r: &Reservation) -> Vec<store::AuditEntry> {
    app.state.store.audit_for(r.id).await.unwrap().into_iter().filter(|a| a.action == "moved").collect()
}

async fn a_paid_booking_moves_a_day_earlier_and_grows_only_on_yes(engine: Engine) {
    let app = late_evening_app(engine).await;
    let s = "change-earlier";
    // Check-in in three days, local; a day earlier is then exactly the notice the chat asks
    // (with a UTC "today" it would already be too close).
    let r = paid(&app, s, "arrayan", 3, 6, 3).await;
    let ask = say(&app, s, "hola! ¿podemos llegar un día antes?").await;
    assert!(ask.contains(&r.code) && ask.contains("Total nuevo") && ask.contains("¿La cambio?"), "{ask}");
    let unit = app.state.store.get_unit(r.unit_id).await.unwrap();
    let earlier = Stay::new(r.stay.check_in - Duration::days(1), r.stay.check_out).unwrap();
    let q = app.state.booking.quote(&unit, earlier).await.unwrap();
    let diff = q.total - r.total;
    assert!(diff > Money::ZERO && ask.contains("se suman al saldo"), "one night more: {ask}");
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().stay, r.stay, "a quote moves nothing");
    let done = say(&app, s, "sí").await;
    assert!(done.contains("Cambié tu reserva") && done.contains(&r.code), "{done}");
    let now = app.state.store.get_reservation(&r.code).await.unwrap();
    assert_eq!(
        (now.stay, now.total, now.deposit, now.status),
        (earlier, q.total, r.deposit, ReservationStatus::Confirmed)
    );
    let audit = moves(&app, &r).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "guest:sandbox");
    assert!(audit[0].note.contains(&diff.to_ars()), "{}", audit[0].note);
    // The stay's automatic messages follow the new dates.
    let plan = app.state.store.stay_messages(r.id).await.unwrap();
    let welcome = plan.iter().find(|m| m.kind == domain::StayMessageKind::Welcome).expect("planned");
    assert_eq!(welcome.due_at.with_timezone(&Buenos_Aires).date_naive(), earlier.check_in);

    // One more guest: capacity checked, the same price said as such.
    let ask = say(&app, s, "se suma uno más").await;
    assert!(ask.contains("para 4") && ask.contains("El precio no cambia"), "{ask}");
    let no = say(&app, s, "no").await;
    assert!(no.contains("la dejamos como está"), "{no}");
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().guests, 3);
    say(&app, s, "se suma uno más").await;
    say(&app, s, "dale").await;
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().guests, 4);
    // Too many for the cabin: never moved into it.
    let big = say(&app, s, "somos 7 al final").await;
    assert!(!big.contains("¿La cambio?") || !big.contains("Arrayán,"), "{big}");
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().guests, 4);
    assert_eq!(moves(&app, &r).await.len(), 2);
    drain(&app).await;
}

async fn taken_nights_offer_alternatives_and_change_nothing(engine: Engine) {
    let app = late_evening_app(engine).await;
    let s = "change-taken";
    let r = paid(&app, s, "arrayan", 10, 13, 2).await;
    let other = paid(&app, "someone-else", "arrayan", 20, 23, 2).await;
    let d = |n: i64| -> NaiveDate { app.today() + Duration::days(n) };
    let ask = format!("quiero pasar la reserva del {} al {}", words(d(20)), words(d(23)));
    let answer = say(&app, s, &ask).await;
    assert!(answer.contains("ocupada"), "{answer}");
    assert!(!answer.contains("¿La cambio?"), "{answer}");
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().stay, r.stay);
    assert_eq!(app.state.store.get_reservation(&other.code).await.unwrap().stay, other.stay);
    assert!(moves(&app, &r).await.is_empty());
}

async fn a_check_in_too_close_goes_to_the_owner(engine: Engine) {
    let app = late_evening_app(engine).await;
    let s = "change-close";
    let r = paid(&app, s, "arrayan", 1, 3, 2).await;
    let answer = say(&app, s, "¿podemos llegar un día después?").await;
    assert!(answer.contains("lo ve el dueño"), "{answer}");
    assert_eq!(app.state.store.get_reservation(&r.code).await.unwrap().stay, r.stay);
    let contact = app.state.store.find_contact(domain::Channel::Sandbox, s).await.unwrap();
    assert!(contact.handed_off, "a person takes the chat");
}

/// "15 de enero".
fn words(d: NaiveDate) -> String {
    use chrono::Datelike;
    let months = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    format!("{} de {}", d.day(), months[d.month0() as usize])
}
