//! "Tu alojamiento" (owner only; staff can read it): what the bot tells guests about the place —
//! address and map, check-in and check-out, how the deposit and the balance are paid (Mercado
//! Pago link, transfer with alias/CBU), cancellation and date-change policy, pets, children,
//! what is included, how to get there, what is near. Stored with [`store::SettingsStore`]; the
//! bot answers from it or offers a person, and never invents what is not written here.

use super::html::{self, Errors, Nav, e, err, inv};
use super::reservations::OkQuery;
use super::session::{CsrfForm, Session};
use super::{UiResult, done, page};
use crate::property::{FIELDS, Field, Kind, PropertySettings};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// The page's sections, in order, with the keys each shows and a line of help.
const SECTIONS: &[(&str, &str, &[&str])] = &[
    (
        "Dónde está",
        "El bot manda esto cuando preguntan «¿dónde queda?» o «¿cómo llego?».",
        &["name", "address", "map_url", "directions", "nearby"],
    ),
    ("Horarios", "", &["check_in_from", "check_out_until"]),
    (
        "Pagos",
        "La seña es la parte del total que se paga para confirmar: vale para las cotizaciones y reservas nuevas (las ya hechas mantienen la suya). La cobra el link de Mercado Pago que el bot manda con la reserva. Si también aceptás transferencia, el bot da estos datos y te avisa cuando el huésped manda el comprobante (la confirmás vos).",
        &[
            "deposit_percent",
            "payment.mercado_pago",
            "payment.transfer",
            "payment.transfer.alias",
            "payment.transfer.cbu",
            "payment.transfer.holder",
            "payment.transfer.bank",
            "balance",
        ],
    ),
    (
        "Políticas",
        "Con tus palabras. Lo que dejes vacío, el bot no lo inventa: ofrece que le escribas vos. «Devolución de la seña» es la regla que se aplica al cancelar una reserva pagada: plazos de días antes de la entrada y el porcentaje de la seña que se devuelve (con menos días que el último plazo, no se devuelve nada), o «crédito» para guardar la seña para otra fecha. Las devoluciones esperan tu aprobación en la reserva, salvo que elijas aprobarlas automáticamente.",
        &[
            "policy.cancellation",
            "policy.refunds",
            "policy.refunds.auto",
            "policy.date_changes",
            "policy.pets",
            "policy.children",
            "policy.house_rules",
        ],
    ),
    ("La estadía", "", &["included"]),
];

fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

fn placeholder(key: &str) -> &'static str {
    match key {
        "address" => "Ruta 40 km 2130, Villa La Angostura",
        "map_url" => "https://maps.app.goo.gl/…",
        "directions" => "Desde la terminal: remís (10 min) o el colectivo 15 hasta la rotonda…",
        "nearby" => "Lago Correntoso a 300 m, proveeduría a 1 km, el centro a 3 km.",
        "deposit_percent" => "30",
        "check_in_from" => "14:00",
        "check_out_until" => "10:00",
        "balance" => "Al llegar, en efectivo o por transferencia.",
        "payment.transfer.alias" => "lago.escondido.mp",
        "payment.transfer.cbu" => "22 números",
        "policy.cancellation" => "Hasta 15 días antes te devolvemos la seña; después, no.",
        "policy.refunds" => "30 días 100 %, 15 días 50 % — o «crédito»",
        "policy.date_changes" => "Se puede cambiar una vez, según disponibilidad, hasta 7 días antes.",
        "policy.pets" => "Mascotas chicas, con aviso. No se suben a las camas.",
        "policy.children" => "Chicos bienvenidos; cuna sin cargo avisando antes.",
        "policy.house_rules" => "No se fuma adentro. Silencio desde las 23.",
        "included" => "Ropa de cama, toallas, wifi y leña para el hogar.",
        _ => "",
    }
}

fn form_field(f: &Field, v: &str, errors: &Errors, readonly: bool) -> String {
    let id = format!("p-{}", f.key.replace('.', "-"));
    let dis = if readonly { " disabled" } else { "" };
    let ph = e(placeholder(f.key));
    match f.kind {
        Kind::Switch => {
            let on = v == "on";
            format!(
                r#"<div class="field"><label for="{id}">{label}</label><select id="{id}" name="{key}"{dis}{inv}><option value="on"{s1}>Sí</option><option value="off"{s2}>No</option></select>{err}</div>"#,
                label = e(f.label),
                key = f.key,
                inv = inv(errors, f.key),
                s1 = if on { " selected" } else { "" },
                s2 = if on { "" } else { " selected" },
                err = err(errors, f.key),
            )
        }
        Kind::Text => format!(
            r#"<div class="field"><label for="{id}">{label}</label><textarea id="{id}" name="{key}" rows="3" maxlength="{max}" placeholder="{ph}"{dis}{inv}>{v}</textarea>{err}</div>"#,
            label = e(f.label),
            key = f.key,
            max = f.max,
            v = e(v),
            inv = inv(errors, f.key),
            err = err(errors, f.key),
        ),
        _ => {
            let kind = match f.kind {
                Kind::Url => "url",
                Kind::Time => "time",
                Kind::Percent => "number",
                _ => "text",
            };
            let mode = match f.kind {
                Kind::Cbu => r#" inputmode="numeric""#,
                Kind::Percent => r#" inputmode="numeric" min="0" max="100" step="1" required"#,
                _ => "",
            };
            format!(
                r#"<div class="field"><label for="{id}">{label}</label><input id="{id}" name="{key}" type="{kind}" maxlength="{max}" value="{v}" placeholder="{ph}"{mode}{dis}{inv}>{err}</div>"#,
                label = e(f.label),
                key = f.key,
                max = f.max,
                v = e(v),
                inv = inv(errors, f.key),
                err = err(errors, f.key),
            )
        }
    }
}

fn render(
    sess: &Session,
    values: &BTreeMap<String, String>,
    errors: &Errors,
    ok: Option<&str>,
    status: StatusCode,
) -> Response {
    let readonly = !sess.is_owner();
    let get = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    let mut b = String::from(
        r#"<h1>Tu alojamiento</h1><p class="muted">Lo que el bot les cuenta a los huéspedes. Si algo no está acá, no lo inventa: les ofrece hablar con vos.</p>"#,
    );
    b += r#"<p><a href="/admin/mensajes" id="link-mensajes">Mensajes automáticos</a>: el recordatorio del saldo, las instrucciones de llegada, la bienvenida, el recordatorio de salida y el agradecimiento.</p>"#;
    if readonly {
        b += r#"<p class="notice">Solo el dueño de la cuenta puede cambiar estos datos.</p>"#;
    }
    if !errors.is_empty() {
        b += r#"<p class="err" role="alert" id="err-general">Revisá los campos marcados: no se guardó nada.</p>"#;
    }
    let _ = write!(b, r#"<form method="post" action="/admin/alojamiento" id="form-alojamiento">{}"#, sess.csrf_field());
    for (title, help, keys) in SECTIONS {
        let _ = write!(b, r#"<section class="card"><h2>{}</h2>"#, e(title));
        if !help.is_empty() {
            let _ = write!(b, r#"<p class="muted">{}</p>"#, e(help));
        }
        let mut pair: Vec<String> = Vec::new();
        for key in *keys {
            let Some(f) = field(key) else { continue };
            let html = form_field(f, get(key), errors, readonly);
            // Short fields go two by two; long lines and text areas take the whole width.
            let short = matches!(f.kind, Kind::Time | Kind::Switch | Kind::Alias | Kind::Cbu | Kind::Percent)
                || (f.kind == Kind::Line && f.max <= 60);
            if !short {
                if !pair.is_empty() {
                    let _ = write!(b, r#"<div class="row">{}</div>"#, pair.join(""));
                    pair.clear();
                }
                b += &html;
            } else {
                pair.push(html);
                if pair.len() == 2 {
                    let _ = write!(b, r#"<div class="row">{}</div>"#, pair.join(""));
                    pair.clear();
                }
            }
        }
        if !pair.is_empty() {
            let _ = write!(b, r#"<div class="row">{}</div>"#, pair.join(""));
        }
        b += "</section>";
    }
    if !readonly {
        b += r#"<button type="submit" class="primary" id="btn-guardar-alojamiento">Guardar</button>"#;
    }
    b += "</form>";
    (status, page(html::layout(Some(&sess.viewer()), Nav::Alojamiento, "Tu alojamiento", ok, &b))).into_response()
}

/// GET /admin/alojamiento
pub async fn show(State(s): State<AppState>, sess: Session, q: Query<OkQuery>) -> UiResult<Response> {
    let settings = s.store.settings().await?;
    let mut values = settings;
    // What the bot uses when a time was never set.
    let p = PropertySettings::from_map(values.clone());
    values.entry("check_in_from".into()).or_insert_with(|| p.check_in_from().to_string());
    values.entry("check_out_until".into()).or_insert_with(|| p.check_out_until().to_string());
    values.entry("payment.mercado_pago".into()).or_insert_with(|| "on".into());
    values.entry("deposit_percent".into()).or_insert_with(|| s.config.deposit_percent.to_string());
    Ok(render(&sess, &values, &Errors::new(), q.ok.as_deref(), StatusCode::OK))
}

/// POST /admin/alojamiento: every field is checked first; nothing is saved unless all are fine.
pub async fn save(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let mut errors = Errors::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let raw: &HashMap<String, String> = &form.fields;
    for f in FIELDS {
        // The deposit prices every quote: a form without it (an older page) leaves it alone.
        if f.kind == Kind::Percent && !raw.contains_key(f.key) {
            continue;
        }
        let given = raw.get(f.key).map(String::as_str).unwrap_or("");
        let given = if f.kind == Kind::Switch && given.is_empty() { "off" } else { given };
        match crate::property::validate(f, given) {
            Ok(v) => {
                values.insert(f.key.to_string(), v);
            }
            Err(msg) => {
                errors.insert(f.key, msg);
                values.insert(f.key.to_string(), given.to_string());
            }
        }
    }
    let transfer_on = values.get("payment.transfer").is_some_and(|v| v == "on");
    let has_details = ["payment.transfer.alias", "payment.transfer.cbu"]
        .iter()
        .any(|k| values.get(*k).is_some_and(|v| !v.is_empty()));
    if transfer_on && !has_details && !errors.contains_key("payment.transfer.alias") {
        errors.insert("payment.transfer.alias", "Para aceptar transferencias, escribí el alias o el CBU.".into());
    }
    if !errors.is_empty() {
        return Ok(render(&form.session, &values, &errors, None, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let changes: Vec<(String, Option<String>)> = values.into_iter().map(|(k, v)| (k, Some(v))).collect();
    s.store.save_settings(&changes, &form.session.email, s.clock.now()).await?;
    Ok(done("/admin/alojamiento", "guardada"))
}
