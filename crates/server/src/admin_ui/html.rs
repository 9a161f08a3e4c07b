//! The dashboard's small template layer: every piece of text that did not come from a string
//! literal goes through [`e`] (HTML escaping), and every page goes through [`layout`].

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use domain::{AttentionFlag, Money, ReservationStatus};
use std::collections::BTreeMap;
use std::fmt::{self, Write};
use store::Role;

/// Escapes `& < > " '` so any text is safe in element content and quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

/// The mandatory escaping helper: `write!(out, "<td>{}</td>", e(&guest_name))`.
pub fn e(text: &str) -> Esc<'_> {
    Esc(text)
}

/// Percent-encodes a query value.
pub fn q(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Field errors of a form, by field name, in Spanish.
pub type Errors = BTreeMap<&'static str, String>;

/// The error next to a field (empty when none).
pub fn err(errors: &Errors, field: &str) -> String {
    match errors.get(field) {
        Some(m) => format!(r#"<p class="err" id="err-{field}" role="alert">{}</p>"#, e(m)),
        None => String::new(),
    }
}

/// `aria-invalid` for a field with an error.
pub fn inv(errors: &Errors, field: &str) -> &'static str {
    if errors.contains_key(field) { r#" aria-invalid="true""# } else { "" }
}

/// "$ 40.000" or "$ 40.000,50" (Argentine style).
pub fn money(m: Money) -> String {
    m.to_ars_spaced()
}

/// Who did something, as the owner reads it: `payment:mercadopago` is "Mercado Pago",
/// `guest:whatsapp` "Huésped (WhatsApp)"; a person's e-mail stays as it is.
pub fn actor_label(actor: &str) -> String {
    match actor.split_once(':') {
        Some(("payment", name)) => match crate::config::PaymentProvider::parse(name) {
            Some(crate::config::PaymentProvider::MercadoPago) => "Mercado Pago".into(),
            Some(crate::config::PaymentProvider::Sandbox) => "Pago (sandbox)".into(),
            _ => format!("Pago ({name})"),
        },
        Some(("guest", channel)) => match domain::Channel::parse(channel) {
            Some(c) => format!("Huésped ({})", c.label()),
            None => "Huésped".into(),
        },
        _ => match actor {
            "ical" => "Calendarios importados".into(),
            "system" => "Sistema".into(),
            "hold_sweeper" | "sweeper" => "Vencimiento automático".into(),
            other => other.to_string(),
        },
    }
}

/// A reservation's notes with each line's time in the property's zone and its actor in
/// Spanish. The store writes `[YYYY-MM-DD HH:MM actor] text` in UTC; other lines stay as typed.
pub fn notes_local(notes: &str, tz: chrono_tz::Tz) -> String {
    notes
        .lines()
        .map(|line| {
            let parsed = line.strip_prefix('[').and_then(|rest| {
                let (head, text) = rest.split_once("] ")?;
                let (stamp, actor) = (head.get(..16)?, head.get(17..)?);
                let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M").ok()?.and_utc();
                Some(format!("{} · {} — {}", time(at, tz), actor_label(actor), text))
            });
            parsed.unwrap_or_else(|| line.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Mercado Pago's `status_detail` in words.
pub fn payment_detail_label(detail: &str) -> String {
    match detail {
        "accredited" => "acreditado".into(),
        "pending_contingency" => "en revisión de Mercado Pago".into(),
        "pending_review_manual" => "en revisión manual de Mercado Pago".into(),
        "pending_waiting_payment" | "pending_waiting_transfer" => "esperando que el huésped pague".into(),
        "cc_rejected_insufficient_amount" => "rechazado: fondos insuficientes".into(),
        "cc_rejected_bad_filled_security_code" => "rechazado: código de seguridad incorrecto".into(),
        "cc_rejected_bad_filled_date" => "rechazado: fecha de vencimiento incorrecta".into(),
        "cc_rejected_bad_filled_card_number" | "cc_rejected_bad_filled_other" => {
            "rechazado: datos de la tarjeta incorrectos".into()
        }
        "cc_rejected_call_for_authorize" => "rechazado: el huésped debe autorizarlo con su banco".into(),
        "cc_rejected_card_disabled" => "rechazado: tarjeta deshabilitada".into(),
        "cc_rejected_duplicated_payment" => "rechazado: pago duplicado".into(),
        "cc_rejected_high_risk" => "rechazado por prevención de fraude".into(),
        "cc_rejected_max_attempts" => "rechazado: demasiados intentos".into(),
        "cc_rejected_blacklist" | "cc_rejected_other_reason" => "rechazado por el banco".into(),
        "refunded" => "devuelto".into(),
        "partially_refunded" => "devuelto en parte".into(),
        "by_collector" => "cancelado por nosotros".into(),
        "by_payer" => "cancelado por el huésped".into(),
        "expired" => "vencido".into(),
        other => format!("detalle de Mercado Pago: {other}"),
    }
}

pub fn weekday_short(d: NaiveDate) -> &'static str {
    match d.weekday() {
        Weekday::Mon => "lu",
        Weekday::Tue => "ma",
        Weekday::Wed => "mi",
        Weekday::Thu => "ju",
        Weekday::Fri => "vi",
        Weekday::Sat => "sá",
        Weekday::Sun => "do",
    }
}

/// "lu 24/11/2026".
pub fn date(d: NaiveDate) -> String {
    format!("{} {:02}/{:02}/{}", weekday_short(d), d.day(), d.month(), d.year())
}

/// "24/11 14:05" in the property's time zone.
pub fn time(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

pub fn status_label(s: ReservationStatus) -> &'static str {
    match s {
        ReservationStatus::PreReserved => "Pre-reserva",
        ReservationStatus::Confirmed => "Confirmada",
        ReservationStatus::Cancelled => "Cancelada",
        ReservationStatus::Expired => "Vencida",
        ReservationStatus::Blocked => "Bloqueo del dueño",
    }
}

pub fn status_badge(s: ReservationStatus) -> String {
    format!(r#"<span class="badge st-{}">{}</span>"#, s.as_str(), status_label(s))
}

pub fn flag_label(f: AttentionFlag) -> &'static str {
    match f {
        AttentionFlag::NeedsRefund => "Reintegro pendiente",
        AttentionFlag::AmountMismatch => "Monto no coincide",
        AttentionFlag::Conflict => "Conflicto con otro canal",
        AttentionFlag::StaleSync => "Calendario sin sincronizar",
    }
}

pub fn source_label(source: &str) -> &'static str {
    match source {
        "airbnb" => "Airbnb",
        "booking" => "Booking",
        "vrbo" => "Vrbo",
        _ => "Otro calendario",
    }
}

/// A feed's stored failure (`kind: detail`, see `ical_sync::import`) said to the owner: what
/// happened and what to do. The technical detail stays in the logs and `posada doctor`.
pub fn feed_problem(last_error: &str) -> String {
    let (kind, detail) = last_error.split_once(": ").unwrap_or((last_error, ""));
    let status: Option<u16> = detail.strip_prefix("HTTP ").and_then(|n| n.trim().parse().ok());
    let copy_again = "copiá de nuevo la dirección de exportar calendario (.ics) desde Airbnb, Booking o Vrbo, quitá este calendario y agregalo con la dirección nueva";
    match (kind, status) {
        ("connect", _) => format!(
            "No se pudo conectar con el calendario: el sitio no responde o la dirección no existe. Revisá la dirección; si está bien, suele ser pasajero y volvemos a probar solos. Si sigue así, {copy_again}."
        ),
        ("timeout", _) => "No se pudo leer el calendario: el sitio tardó demasiado en responder. Suele ser pasajero: volvemos a probar solos en unos minutos, o tocá «Sincronizar ahora».".into(),
        ("http_status", Some(404 | 410)) => format!("No se pudo leer el calendario: la dirección ya no existe (el sitio respondió {}). Pasa cuando el canal cambia la dirección: {copy_again}.", status.unwrap_or(404)),
        ("http_status", Some(401 | 403)) => format!("No se pudo leer el calendario: el sitio no nos deja leerlo (respondió {}). Puede que la dirección haya cambiado o sea privada: {copy_again}.", status.unwrap_or(403)),
        ("http_status", Some(code)) if code >= 500 => format!("No se pudo leer el calendario: el sitio tiene problemas (respondió {code}). No hace falta hacer nada: volvemos a probar solos."),
        ("http_status", _) => format!("No se pudo leer el calendario: el sitio respondió con un error ({}). Revisá la dirección; si sigue, {copy_again}.", detail.trim_start_matches("HTTP ")),
        ("not_ical", _) => format!("La dirección no devuelve un calendario (.ics): quizá es una página web o de inicio de sesión. {}.", capitalize(copy_again)),
        ("too_large", _) => "No se pudo leer el calendario: es demasiado grande. Revisá que sea la dirección del calendario de esta cabaña y no de toda la cuenta.".into(),
        ("redirect", _) => format!("No se pudo leer el calendario: la dirección redirige demasiadas veces. {}.", capitalize(copy_again)),
        ("store", _) => "Se leyó el calendario pero no se pudo guardar. Volvemos a probar solos; si sigue, avisale a quien administra el servidor.".into(),
        _ => "No se pudo leer el calendario: falló la conexión. Suele ser pasajero: volvemos a probar solos, o tocá «Sincronizar ahora».".into(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub fn channel_label(channel: domain::Channel) -> &'static str {
    channel.label()
}

/// The channel's icon with its name: a small inline SVG (no image request, no emoji, drawn in
/// the channel's colour by CSS) and the name as text — which a phone-width screen hides
/// visually but a screen reader still reads, so the badge always has its accessible name.
pub fn channel_badge(channel: domain::Channel) -> String {
    use domain::Channel;
    let shape = match channel {
        // A speech bubble with a tail at the bottom left, a handset inside.
        Channel::Whatsapp => {
            r#"<path d="M4.5 19.5l1.1-3.6A8 8 0 1 1 8.3 18.6z"/><path d="M9 8.5c0 3 2.5 6 5.5 6.5l1-1.5-2-1-.8.8c-1-.5-1.8-1.3-2.3-2.3l.8-.8-1-2-1.2.3z"/>"#
        }
        Channel::Email => r#"<rect x="3" y="5.5" width="18" height="13" rx="2"/><path d="M3.5 7l8.5 6 8.5-6"/>"#,
        // A rounded square, the lens and the flash dot.
        Channel::Instagram => {
            r#"<rect x="3.5" y="3.5" width="17" height="17" rx="5"/><circle cx="12" cy="12" r="4"/><circle cx="17" cy="7" r="0.6"/>"#
        }
        // A round bubble with the lightning zigzag.
        Channel::Messenger => {
            r#"<path d="M12 3.5c-4.8 0-8.5 3.5-8.5 8 0 2.4 1 4.5 2.8 6v3l2.7-1.5c1 .3 1.9.4 3 .4 4.8 0 8.5-3.5 8.5-8s-3.7-7.9-8.5-7.9z"/><path d="M7.5 13.5l3-3 2.5 2 3.5-3-3 3-2.5-2z"/>"#
        }
        // The demo chat: a square bubble with three dots.
        Channel::Sandbox => {
            r#"<path d="M4 5h16v11H9l-4 3.5V16H4z"/><path d="M8.5 10.5h.01M12 10.5h.01M15.5 10.5h.01"/>"#
        }
        Channel::Admin | Channel::Web | Channel::Api => r#"<circle cx="12" cy="12" r="8"/>"#,
    };
    format!(
        r#"<span class="chan chan-{id}" title="{label}"><svg class="chan-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">{shape}</svg><span class="chan-name">{label}</span></span>"#,
        id = channel.as_str(),
        label = channel.label(),
    )
}

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Hoy,
    Calendario,
    Reservas,
    Conversaciones,
    Cabanas,
    Alojamiento,
    Canales,
    Estadisticas,
    None,
}

/// Who is looking at the page.
pub struct Viewer<'a> {
    pub email: &'a str,
    pub role: Role,
    pub csrf: &'a str,
}

/// A notice shown at the top after a redirect (`?ok=…`): only fixed texts, never echoed input.
pub fn notice(ok: Option<&str>) -> &'static str {
    match ok.unwrap_or("") {
        "creada" => "Listo: la reserva o el bloqueo quedó creado.",
        "confirmada" => "Listo: la reserva quedó confirmada.",
        "cancelada" => "Listo: la reserva quedó cancelada.",
        "cambiada" => "Listo: las fechas o la cabaña cambiaron.",
        "marca" => "Listo: la marca se quitó.",
        "guardada" => "Listo: los cambios se guardaron.",
        "regla" => "Listo: la regla de precio se guardó.",
        "regla_borrada" => "Listo: la regla de precio se borró.",
        "feed" => "Listo: el calendario se agregó; se importa en unos segundos.",
        "feed_borrado" => "Listo: el calendario dejó de importarse.",
        "rotada" => "Listo: hay una dirección de exportación nueva; la anterior dejó de funcionar.",
        "sincronizado" => "Listo: se leyeron todos los calendarios importados.",
        "sincronizado_con_errores" => {
            "Atención: no se pudo leer al menos un calendario; abajo, en rojo, dice cuál y qué hacer. Los demás se leyeron."
        }
        "sincronizado_sin_lectura" => {
            "Atención: no se pudo leer ningún calendario; abajo, en rojo, dice qué pasó y qué hacer."
        }
        "respondido" => "Listo: tu mensaje quedó en camino al huésped.",
        "respondido_tomado" => {
            "Listo: tu mensaje quedó en camino al huésped. Tomaste el chat: el bot no le responde hasta que lo devuelvas."
        }
        "tomado" => "Listo: tomaste el chat; el bot no responde hasta que lo devuelvas.",
        "devuelto" => "Listo: el bot vuelve a atender este chat.",
        "link" => "Listo: el link de pago va en camino al huésped.",
        "link_creando" => {
            "Listo: se está creando el link de pago; si la reserva vino de un chat, se lo mandamos al huésped."
        }
        "saldo" => "Listo: el saldo quedó registrado como cobrado.",
        "link_saldo" => {
            "Listo: se está preparando el link del saldo; si la reserva vino de un chat, se lo mandamos al huésped."
        }
        "mensaje_enviado" => "Listo: el mensaje sale ahora.",
        "mensaje_salteado" => "Listo: ese mensaje no se manda.",
        "cancelada_avisada" => "Listo: la reserva quedó cancelada y le avisamos al huésped.",
        "devolucion_aprobada" => {
            "Listo: la devolución está aprobada y en camino; cuando Mercado Pago la haga, le avisamos al huésped."
        }
        "devolucion_no" => "Listo: la seña no se devuelve.",
        "devolucion_calculada" => "Listo: la devolución quedó calculada según tu política.",
        _ => "",
    }
}

pub fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, e(csrf))
}

/// The whole page: header, navigation, notice, content, toasts, script.
pub fn layout(v: Option<&Viewer>, nav: Nav, title: &str, ok: Option<&str>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 3000);
    let csrf_attr = v.map(|v| format!(r#" data-csrf="{}""#, e(v.csrf))).unwrap_or_default();
    let live = if v.is_some() { r#" data-live-url="/admin/events""# } else { "" };
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="es">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · Posada</title>
<link rel="stylesheet" href="/admin/static/app.css">
<script src="/admin/static/app.js" defer></script>
</head>
<body{csrf_attr}{live}>
"#,
        e(title)
    );
    if let Some(v) = v {
        out.push_str(r#"<header class="top"><a class="brand" href="/admin">Posada</a><nav aria-label="Secciones">"#);
        let mut items: Vec<(Nav, &str, &str)> = vec![
            (Nav::Hoy, "/admin", "Hoy"),
            (Nav::Calendario, "/admin/calendario", "Calendario"),
            (Nav::Reservas, "/admin/reservas", "Reservas"),
            (Nav::Conversaciones, "/admin/conversaciones", "Conversaciones"),
            (Nav::Alojamiento, "/admin/alojamiento", "Tu alojamiento"),
        ];
        if v.role == Role::Owner {
            items.push((Nav::Cabanas, "/admin/cabanas", "Cabañas y precios"));
            items.push((Nav::Canales, "/admin/canales", "Canales"));
        }
        items.push((Nav::Estadisticas, "/admin/estadisticas", "Estadísticas"));
        for (n, href, label) in items {
            let cur = if n == nav { r#" aria-current="page""# } else { "" };
            let _ = write!(out, r#"<a href="{href}"{cur}>{label}</a>"#);
        }
        let _ = write!(
            out,
            r#"</nav><form class="logout" method="post" action="/admin/logout">{}<span class="who">{}</span> <button type="submit" class="link">Salir</button></form></header>"#,
            csrf_field(v.csrf),
            e(v.email)
        );
    }
    out.push_str(r#"<main id="main">"#);
    let n = notice(ok);
    if !n.is_empty() {
        // A partial failure is announced at once and does not look like a success.
        let (class, role) = if n.starts_with("Atención") { ("notice warn", "alert") } else { ("notice", "status") };
        let _ = write!(out, r#"<p class="{class}" role="{role}">{n}</p>"#);
    }
    out.push_str(body);
    out.push_str(r#"</main><div id="toasts" aria-live="polite"></div></body></html>"#);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            e(r#"<script>alert("x")</script> & 'y'"#).to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(e("Ñandú").to_string(), "Ñandú");
        assert_eq!(q("a b&c=ñ"), "a%20b%26c%3D%C3%B1");
    }

    #[test]
    fn money_reads_like_argentina() {
        assert_eq!(money(Money(4_000_000)), "$ 40.000");
        assert_eq!(money(Money(123_456_789)), "$ 1.234.567,89");
        assert_eq!(money(Money(500)), "$ 5");
        assert_eq!(money(Money(-150_000)), "-$ 1.500");
    }
}
