//! JSON views. Amounts go out as 2-decimal strings ("40000.00"), as the original API did.

use chrono::{DateTime, Utc};
use domain::Money;
use domain::pricing::Quote;
use serde_json::{Value, json};
use store::{AuditEntry, Reservation, Unit};

pub fn unit(u: &Unit) -> Value {
    json!({
        "id": u.id,
        "slug": u.slug,
        "name": u.name,
        "type": "cabin",
        "capacity": u.capacity,
        "base_price": u.base_price.to_string(),
        "weekend_multiplier": u.weekend_multiplier.as_f64(),
        "min_nights": u.min_nights,
        "description": u.description,
        "amenities": u.amenities,
        "photos": u.photos.iter().enumerate().map(|(i, p)| json!({"url": p.url, "caption": p.caption, "order": i})).collect::<Vec<_>>(),
        "active": u.active,
    })
}

pub fn quote(q: &Quote) -> Value {
    json!({
        "nights": q.nights.len(),
        "total_price": q.total.to_string(),
        "deposit_amount": q.deposit.to_string(),
        "deposit_percent": q.deposit_percent,
        "min_nights": q.min_nights,
        "nightly": q.nights.iter().map(|n| json!({
            "date": n.date,
            "price": n.price.to_string(),
            "weekend": n.weekend,
            "holiday_eve": n.holiday_eve,
            "rule": n.rule,
        })).collect::<Vec<_>>(),
    })
}

/// What is left of the balance (total − seña, from the current total) after what was received
/// of it, by hand or through a balance link.
fn balance(r: &Reservation) -> Money {
    let saldo = r.money().balance;
    if saldo > r.balance_received { saldo - r.balance_received } else { Money::ZERO }
}

fn ts(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| json!(t.to_rfc3339())).unwrap_or(Value::Null)
}

/// What anyone holding the code may see: no guest name, phone or e-mail.
pub fn public_reservation(r: &Reservation, unit_name: Option<&str>) -> Value {
    json!({
        "code": r.code,
        "accommodation_id": r.unit_id,
        "accommodation_name": unit_name,
        "check_in": r.stay.check_in,
        "check_out": r.stay.check_out,
        "nights": r.stay.nights(),
        "guests_count": r.guests,
        "total_price": r.total.to_string(),
        "deposit_amount": r.deposit.to_string(),
        "balance_amount": balance(r).to_string(),
        // Seña, saldo (total − seña), pagado, pendiente: the reservation page's figures.
        "money": {
            "deposit": r.money().deposit.to_string(),
            "balance": r.money().balance.to_string(),
            "paid": r.money().paid.to_string(),
            "pending": r.money().pending.to_string(),
        },
        "reservation_status": r.status.as_str(),
        "status": r.status.as_str(),
        "payment_status": if r.status == domain::ReservationStatus::Confirmed { "paid" } else { "pending" },
        "channel_source": r.channel.as_str(),
        "created_at": r.created_at.to_rfc3339(),
        "confirmed_at": ts(r.confirmed_at),
        "expires_at": ts(r.hold_expires_at.filter(|_| r.status == domain::ReservationStatus::PreReserved)),
        "payment_link": Value::Null,
    })
}

pub fn admin_reservation(r: &Reservation, unit_name: Option<&str>) -> Value {
    let mut v = public_reservation(r, unit_name);
    let extra = json!({
        "id": r.id,
        "guest_name": r.guest_name,
        "guest_phone": r.guest_phone,
        "guest_email": r.guest_email,
        "flags": r.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "notes": r.notes,
        "hold_expires_at": ts(r.hold_expires_at),
        "cancelled_at": ts(r.cancelled_at),
        "balance_paid_at": ts(r.balance_paid.map(|b| b.at)),
        "balance_method": r.balance_paid.map(|b| b.method.as_str()),
        "balance_received": r.balance_received.to_string(),
        "updated_at": r.updated_at.to_rfc3339(),
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
}

pub fn audit(a: &AuditEntry) -> Value {
    json!({
        "id": a.id,
        "actor": a.actor,
        "action": a.action,
        "before": a.before,
        "after": a.after,
        "note": a.note,
        "at": a.created_at.to_rfc3339(),
    })
}

/// A money amount from JSON: a number (45000 or 45000.5) or a string ("45000.50").
pub fn money_from(v: &Value) -> Option<Money> {
    match v {
        Value::Number(n) => Money::parse(&n.to_string()),
        Value::String(s) => Money::parse(s),
        _ => None,
    }
    .filter(|m| m.0 >= 0)
}
