//! "Cabañas y precios" (owner only): every field of a cabin (photos in order), rate rules, and
//! a preview of the nightly prices of the next 60 days computed by `domain::pricing`.

use super::html::{self, Errors, Nav, e, err, inv};
use super::reservations::{OkQuery, parse_date};
use super::session::{CsrfForm, Session};
use super::{UiError, UiResult, done, page};
use crate::http::admin::{new_ical_token, slugify};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration};
use domain::pricing::night_price;
use domain::{Money, Multiplier, RateRule, RuleEffect, RuleScope};
use std::collections::HashMap;
use std::fmt::Write;
use store::{Photo, RateRuleInput, StoreError, Unit, UnitInput};

/// A photo is a web address: `http(s)://host…` only (no `javascript:`, `data:` or `file:`: the
/// URL goes into pages and into the bot's messages), without spaces, quotes or angle brackets.
pub fn photo_url_ok(url: &str) -> bool {
    // The demo's own photos are paths on this server; keeping them must not block saving a cabin.
    if let Some(name) = url.strip_prefix(crate::demo::PHOTO_PATH).and_then(|r| r.strip_prefix('/')) {
        return crate::demo::photo_svg(name).is_some();
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '`'))
}

pub const PREVIEW_DAYS: i64 = 60;

fn nights_text(n: u32) -> String {
    if n == 1 { "1 noche".into() } else { format!("{n} noches") }
}

fn rule_effect(r: &RateRule) -> String {
    match r.effect {
        RuleEffect::NightlyPrice(p) => format!("{} por noche", html::money(p)),
        RuleEffect::Multiplier(m) => format!("× {}", m.as_f64()),
    }
}

fn rule_span(r: &RateRule) -> String {
    format!(
        "{} → {}",
        r.start.map(html::date).unwrap_or_else(|| "siempre".into()),
        r.end.map(html::date).unwrap_or_else(|| "sin fin".into())
    )
}

/// "40.000", "40000", "40000,50", "$ 40.000" → Money.
pub fn parse_money(text: &str) -> Option<Money> {
    let t: String = text.chars().filter(|c| !c.is_whitespace() && *c != '$').collect();
    let normal = if t.contains(',') {
        t.replace('.', "").replace(',', ".")
    } else if t.matches('.').count() >= 1 && t.rsplit('.').next().is_some_and(|last| last.len() == 3) {
        t.replace('.', "")
    } else {
        t
    };
    Money::parse(&normal).filter(|m| m.0 > 0)
}

pub fn parse_multiplier(text: &str) -> Option<Multiplier> {
    text.trim().replace(',', ".").parse::<f64>().ok().and_then(Multiplier::from_f64).filter(|m| m.0 > 0)
}

fn money_input(m: Money) -> String {
    if m.0 % 100 == 0 { (m.0 / 100).to_string() } else { m.to_string() }
}

fn unit_values(u: &Unit) -> HashMap<String, String> {
    let mut v = HashMap::new();
    v.insert("name".into(), u.name.clone());
    v.insert("slug".into(), u.slug.clone());
    v.insert("description".into(), u.description.clone());
    v.insert("capacity".into(), u.capacity.to_string());
    v.insert("base_price".into(), money_input(u.base_price));
    v.insert("weekend_multiplier".into(), format!("{}", u.weekend_multiplier.as_f64()));
    v.insert("min_nights".into(), u.min_nights.to_string());
    v.insert("amenities".into(), u.amenities.join("\n"));
    let photos: Vec<String> = u
        .photos
        .iter()
        .map(|p| if p.caption.is_empty() { p.url.clone() } else { format!("{} | {}", p.url, p.caption) })
        .collect();
    v.insert("photos".into(), photos.join("\n"));
    if u.active {
        v.insert("active".into(), "on".into());
    }
    v
}

fn unit_input(form: &CsrfForm, errors: &mut Errors) -> Option<UnitInput> {
    let name = form.get("name").to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.insert("name", "El nombre debe tener entre 1 y 100 caracteres.".into());
    }
    let slug = slugify(if form.get("slug").is_empty() { &name } else { form.get("slug") });
    if slug.is_empty() {
        errors.insert("slug", "El identificador no puede quedar vacío (usá letras y números).".into());
    }
    let capacity = form.get("capacity").parse::<u32>().ok().filter(|c| (1..=100).contains(c));
    if capacity.is_none() {
        errors.insert("capacity", "La capacidad debe estar entre 1 y 100.".into());
    }
    let base_price = parse_money(form.get("base_price"));
    if base_price.is_none() {
        errors.insert("base_price", "Escribí un precio por noche mayor que cero (p. ej. 45000).".into());
    }
    let weekend_multiplier = if form.get("weekend_multiplier").is_empty() {
        Some(Multiplier::ONE)
    } else {
        parse_multiplier(form.get("weekend_multiplier"))
    };
    if weekend_multiplier.is_none() {
        errors.insert("weekend_multiplier", "El multiplicador debe ser un número mayor que 0 (p. ej. 1,2).".into());
    }
    let min_nights = form.get("min_nights").parse::<u32>().ok().filter(|m| (1..=domain::MAX_NIGHTS).contains(m));
    if min_nights.is_none() {
        errors.insert("min_nights", "Las noches mínimas deben estar entre 1 y 60.".into());
    }
    let description = form.get("description").to_string();
    if description.chars().count() > 5000 {
        errors.insert("description", "La descripción puede tener hasta 5000 caracteres.".into());
    }
    let amenities: Vec<String> =
        form.get("amenities").lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    let mut photos = Vec::new();
    for line in form.get("photos").lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (url, caption) = match line.split_once('|') {
            Some((u, c)) => (u.trim(), c.trim()),
            None => (line, ""),
        };
        if !photo_url_ok(url) {
            errors.insert(
                "photos",
                format!(
                    "Cada foto va en una línea: «https://… | descripción». Revisá: {}",
                    line.chars().take(80).collect::<String>()
                ),
            );
            break;
        }
        photos.push(Photo { url: url.to_string(), caption: caption.to_string() });
    }
    if !errors.is_empty() {
        return None;
    }
    Some(UnitInput {
        slug,
        name,
        capacity: capacity?,
        base_price: base_price?,
        weekend_multiplier: weekend_multiplier?,
        min_nights: min_nights?,
        description,
        amenities,
        photos,
        active: form.get("active") == "on",
    })
}

fn unit_form(action: &str, csrf: &str, v: &HashMap<String, String>, errors: &Errors) -> String {
    let val = |k: &str| e(v.get(k).map(String::as_str).unwrap_or("")).to_string();
    let field = |name: &str, label: &str, kind: &str, extra: &str| {
        format!(
            r#"<div class="field"><label for="u-{name}">{label}</label><input id="u-{name}" name="{name}" type="{kind}" value="{}"{extra}{}>{}</div>"#,
            val(name),
            inv(errors, name),
            err(errors, name)
        )
    };
    let mut f = format!(
        r#"<form method="post" action="{action}" class="card" id="form-cabana">{}{}"#,
        html::csrf_field(csrf),
        err(errors, "general")
    );
    f += &field("name", "Nombre", "text", " required maxlength=\"100\"");
    f += &field("slug", "Identificador en direcciones (slug)", "text", "");
    f += r#"<div class="row">"#;
    f += &field("capacity", "Capacidad (personas)", "number", r#" min="1" max="100""#);
    f += &field("min_nights", "Noches mínimas", "number", r#" min="1" max="60""#);
    f += "</div><div class=\"row\">";
    f += &field("base_price", "Precio base por noche ($)", "text", r#" inputmode="decimal""#);
    f += &field("weekend_multiplier", "Multiplicador de fin de semana", "text", r#" inputmode="decimal""#);
    f += "</div>";
    let _ = write!(
        f,
        r#"<div class="field"><label for="u-description">Descripción</label><textarea id="u-description" name="description" rows="4"{}>{}</textarea>{}</div>
<div class="field"><label for="u-amenities">Comodidades (una por línea)</label><textarea id="u-amenities" name="amenities" rows="4">{}</textarea></div>
<div class="field"><label for="u-photos">Fotos, en orden (una por línea: «https://… | descripción»)</label><textarea id="u-photos" name="photos" rows="4"{}>{}</textarea>{}</div>
<label class="check"><input type="checkbox" name="active" value="on"{}> Activa (se ofrece a los huéspedes)</label>
<button type="submit" class="primary" id="btn-guardar-cabana">Guardar</button></form>"#,
        inv(errors, "description"),
        val("description"),
        err(errors, "description"),
        val("amenities"),
        inv(errors, "photos"),
        val("photos"),
        err(errors, "photos"),
        if v.contains_key("active") { " checked" } else { "" },
    );
    f
}

/// GET /admin/cabanas
pub async fn list(State(s): State<AppState>, sess: Session, q: Query<OkQuery>) -> UiResult<Response> {
    sess.require_owner()?;
    rules_page(&s, &sess, &Errors::new(), &HashMap::new(), q.ok.as_deref(), StatusCode::OK).await
}

fn rule_values(r: &RateRule) -> HashMap<String, String> {
    let mut v = HashMap::new();
    v.insert("name".into(), r.name.clone());
    v.insert("unit".into(), r.unit_id.map(|u| u.to_string()).unwrap_or_default());
    v.insert("start".into(), r.start.map(|d| d.to_string()).unwrap_or_default());
    v.insert("end".into(), r.end.map(|d| d.to_string()).unwrap_or_default());
    v.insert("scope".into(), if r.scope == RuleScope::HolidayEves { "holiday_eves" } else { "all_nights" }.into());
    match r.effect {
        RuleEffect::NightlyPrice(p) => {
            v.insert("effect".into(), "price".into());
            v.insert("value".into(), money_input(p));
        }
        RuleEffect::Multiplier(m) => {
            v.insert("effect".into(), "multiplier".into());
            v.insert("value".into(), format!("{}", m.as_f64()));
        }
    }
    v.insert("min_nights".into(), r.min_nights.map(|m| m.to_string()).unwrap_or_default());
    v
}

fn rule_form(
    action: &str,
    id: &str,
    csrf: &str,
    units: &[Unit],
    v: &HashMap<String, String>,
    errors: &Errors,
    button: &str,
) -> String {
    let val = |k: &str| e(v.get(k).map(String::as_str).unwrap_or("")).to_string();
    let cur = |k: &str| v.get(k).cloned().unwrap_or_default();
    let mut unit_opts = String::from(r#"<option value="">Todas las cabañas</option>"#);
    for u in units {
        let sel = if cur("unit") == u.id.to_string() { " selected" } else { "" };
        let _ = write!(unit_opts, r#"<option value="{}"{sel}>{}</option>"#, u.id, e(&u.name));
    }
    let sel = |k: &str, want: &str| if cur(k) == want { " selected" } else { "" };
    format!(
        r#"<form method="post" action="{action}" class="rule" id="{id}">{csrf}{general}
<div class="row"><div class="field"><label for="{id}-name">Nombre</label><input id="{id}-name" name="name" value="{name}"{iname}>{ename}</div>
<div class="field"><label for="{id}-unit">Cabaña</label><select id="{id}-unit" name="unit">{unit_opts}</select></div></div>
<div class="row"><div class="field"><label for="{id}-start">Desde (primera noche)</label><input id="{id}-start" type="date" name="start" value="{start}"{istart}>{estart}</div>
<div class="field"><label for="{id}-end">Hasta (primera noche que NO cubre)</label><input id="{id}-end" type="date" name="end" value="{end}"{iend}>{eend}</div></div>
<div class="row"><div class="field"><label for="{id}-scope">Qué noches</label><select id="{id}-scope" name="scope"><option value="all_nights"{s1}>Todas las noches</option><option value="holiday_eves"{s2}>Solo vísperas de feriado (fines de semana largos)</option></select></div>
<div class="field"><label for="{id}-effect">Efecto</label><select id="{id}-effect" name="effect"><option value="price"{e1}>Precio por noche ($)</option><option value="multiplier"{e2}>Multiplicador del precio base</option></select></div>
<div class="field"><label for="{id}-value">Valor</label><input id="{id}-value" name="value" inputmode="decimal" value="{value}"{ivalue}>{evalue}</div>
<div class="field"><label for="{id}-min">Noches mínimas</label><input id="{id}-min" type="number" min="1" max="60" name="min_nights" value="{min}"{imin}>{emin}</div></div>
<button type="submit">{button}</button></form>"#,
        csrf = html::csrf_field(csrf),
        general = err(errors, "general"),
        name = val("name"),
        iname = inv(errors, "name"),
        ename = err(errors, "name"),
        start = val("start"),
        istart = inv(errors, "start"),
        estart = err(errors, "start"),
        end = val("end"),
        iend = inv(errors, "end"),
        eend = err(errors, "end"),
        s1 = sel("scope", "all_nights"),
        s2 = sel("scope", "holiday_eves"),
        e1 = sel("effect", "price"),
        e2 = sel("effect", "multiplier"),
        value = val("value"),
        ivalue = inv(errors, "value"),
        evalue = err(errors, "value"),
        min = val("min_nights"),
        imin = inv(errors, "min_nights"),
        emin = err(errors, "min_nights"),
    )
}

/// `editing`: which rule form the errors belong to ("new" or the rule id).
async fn rules_page(
    s: &AppState,
    sess: &Session,
    errors: &Errors,
    values: &HashMap<String, String>,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let units = s.store.list_units(true).await?;
    let rules = s.store.list_rate_rules().await?;
    let editing = values.get("_editing").cloned().unwrap_or_default();
    let no_errors = Errors::new();
    let mut b = String::from(
        r#"<h1>Cabañas y precios</h1><section class="card"><h2>Cabañas</h2><div class="scroll"><table class="list"><thead><tr><th>Cabaña</th><th>Capacidad</th><th>Precio base</th><th>Fin de semana</th><th>Mín. noches</th><th>Estado</th></tr></thead><tbody>"#,
    );
    for u in &units {
        let _ = write!(
            b,
            r#"<tr><td><a href="/admin/cabanas/{}">{}</a></td><td>{}</td><td class="num">{}</td><td>× {}</td><td>{}</td><td>{}</td></tr>"#,
            u.id,
            e(&u.name),
            u.capacity,
            html::money(u.base_price),
            u.weekend_multiplier.as_f64(),
            u.min_nights,
            if u.active { "Activa" } else { "Inactiva" }
        );
    }
    b += r#"</tbody></table></div><p><a class="button" href="/admin/cabanas/nueva">+ Nueva cabaña</a></p></section>"#;
    b += r#"<section class="card" id="reglas"><h2>Reglas de precio</h2><p class="muted">Temporadas, feriados y fines de semana largos. Si dos reglas cubren la misma noche, gana la más específica.</p>"#;
    for r in &rules {
        let unit =
            r.unit_id.and_then(|id| units.iter().find(|u| u.id == id)).map(|u| u.name.as_str()).unwrap_or("Todas");
        let effect = rule_effect(r);
        let span = rule_span(r);
        let mine = editing == r.id.to_string();
        let v = if mine { values.clone() } else { rule_values(r) };
        let _ = write!(
            b,
            r#"<details class="rule-item"{open}><summary><strong>{name}</strong> · {unit} · {span} · {effect}{min}{eves}</summary>{form}
<form method="post" action="/admin/precios/reglas/{id}/borrar" class="inline">{csrf}<button type="submit" class="danger link">Borrar esta regla</button></form></details>"#,
            open = if mine { " open" } else { "" },
            name = e(&r.name),
            unit = e(unit),
            span = e(&span),
            effect = e(&effect),
            min = r.min_nights.map(|n| format!(" · mínimo {}", nights_text(n))).unwrap_or_default(),
            eves = if r.scope == RuleScope::HolidayEves { " · vísperas de feriado" } else { "" },
            form = rule_form(
                &format!("/admin/precios/reglas/{}", r.id),
                &format!("rule-{}", r.id),
                &sess.csrf,
                &units,
                &v,
                if mine { errors } else { &no_errors },
                "Guardar la regla"
            ),
            id = r.id,
            csrf = sess.csrf_field(),
        );
    }
    if rules.is_empty() {
        b += r#"<p class="muted">Todavía no hay reglas: todas las noches usan el precio base.</p>"#;
    }
    let new_values = if editing == "new" {
        values.clone()
    } else {
        HashMap::from([("effect".to_string(), "multiplier".to_string())])
    };
    let _ = write!(
        b,
        r#"<h3>Nueva regla</h3>{}</section>"#,
        rule_form(
            "/admin/precios/reglas",
            "rule-new",
            &sess.csrf,
            &units,
            &new_values,
            if editing == "new" { errors } else { &no_errors },
            "Agregar la regla"
        )
    );
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Cabanas, "Cabañas y precios", ok, &b))).into_response())
}

/// GET /admin/cabanas/nueva
pub async fn new_form(sess: Session) -> UiResult<Response> {
    sess.require_owner()?;
    let v = HashMap::from([
        ("capacity".to_string(), "4".to_string()),
        ("min_nights".to_string(), "2".to_string()),
        ("weekend_multiplier".to_string(), "1".to_string()),
        ("active".to_string(), "on".to_string()),
    ]);
    let body = format!(
        r#"<p><a href="/admin/cabanas">‹ Cabañas</a></p><h1>Nueva cabaña</h1>{}"#,
        unit_form("/admin/cabanas/nueva", &sess.csrf, &v, &Errors::new())
    );
    Ok(page(html::layout(Some(&sess.viewer()), Nav::Cabanas, "Nueva cabaña", None, &body)))
}

/// POST /admin/cabanas/nueva
pub async fn create(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let mut errors = Errors::new();
    if let Some(input) = unit_input(&form, &mut errors) {
        match s.store.create_unit(&input, &new_ical_token(), s.clock.now()).await {
            Ok(u) => {
                s.store.record_audit(None, &form.session.email, "unit_created", &u.name, s.clock.now()).await?;
                return Ok(done(&format!("/admin/cabanas/{}", u.id), "guardada"));
            }
            Err(StoreError::Duplicate(_)) => {
                errors.insert("slug", "Ya hay otra cabaña con ese identificador.".into());
            }
            Err(other) => return Err(UiError::from(other)),
        }
    }
    let body = format!(
        r#"<h1>Nueva cabaña</h1>{}"#,
        unit_form("/admin/cabanas/nueva", &form.session.csrf, &form.fields, &errors)
    );
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        page(html::layout(Some(&form.session.viewer()), Nav::Cabanas, "Nueva cabaña", None, &body)),
    )
        .into_response())
}

fn parse_id(text: &str) -> UiResult<i64> {
    text.parse().map_err(|_| UiError::NotFound)
}

async fn edit_page(
    s: &AppState,
    sess: &Session,
    unit: &Unit,
    values: &HashMap<String, String>,
    errors: &Errors,
    ok: Option<&str>,
    status: StatusCode,
) -> UiResult<Response> {
    let rules = s.store.list_rate_rules().await?;
    let policy = s.config.pricing_policy();
    let today = s.booking.today();
    let pricing = unit.pricing();
    let nights: Vec<_> =
        (0..PREVIEW_DAYS).map(|i| night_price(&pricing, &rules, &policy, today + Duration::days(i))).collect();
    let max = nights.iter().map(|n| n.price.0).max().unwrap_or(1).max(1);
    let mut b = format!(
        r#"<p><a href="/admin/cabanas">‹ Cabañas</a></p><h1>{}</h1><div class="grid wide"><div>{}</div>"#,
        e(&unit.name),
        unit_form(&format!("/admin/cabanas/{}", unit.id), &sess.csrf, values, errors)
    );
    // 60 bars, weekends and rule nights marked.
    let (w, h, bar) = (600.0_f64, 160.0_f64, 10.0_f64);
    let _ = write!(
        b,
        r#"<section class="card" id="preview"><h2>Precios de los próximos {PREVIEW_DAYS} días</h2><svg class="chart" viewBox="0 0 {w} {h2}" role="img" aria-label="Precio por noche, próximos {PREVIEW_DAYS} días">"#,
        h2 = h + 16.0
    );
    for (i, n) in nights.iter().enumerate() {
        let bh = (n.price.0 as f64 / max as f64) * (h - 10.0);
        let x = i as f64 * bar;
        let cls = if n.rule.is_some() {
            "bar rule"
        } else if n.weekend {
            "bar we"
        } else {
            "bar"
        };
        let _ = write!(
            b,
            r#"<rect class="{cls}" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}"><title>{} · {}</title></rect>"#,
            html::date(n.date),
            html::money(n.price),
            y = h - bh,
            bw = bar - 2.0,
        );
        if n.date.day() == 1 || i == 0 {
            let _ = write!(
                b,
                r#"<text x="{x:.1}" y="{}" class="axis">{}/{}</text>"#,
                h + 13.0,
                n.date.day(),
                n.date.month()
            );
        }
    }
    b += r#"</svg><ul class="legend"><li><i class="c-bar"></i>Precio base</li><li><i class="c-bar-we"></i>Fin de semana</li><li><i class="c-bar-rule"></i>Con regla</li></ul>"#;
    b += r#"<div class="scroll"><table class="list compact" id="preview-table"><thead><tr><th>Noche</th><th>Precio</th><th>Por qué</th></tr></thead><tbody>"#;
    for n in &nights {
        let mut why = Vec::new();
        if n.weekend {
            why.push("fin de semana".to_string());
        }
        if n.holiday_eve {
            why.push("víspera de feriado".to_string());
        }
        if let Some(r) = &n.rule {
            why.push(r.clone());
        }
        let _ = write!(
            b,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="muted">{}</td></tr>"#,
            html::date(n.date),
            html::money(n.price),
            e(&why.join(" · "))
        );
    }
    b += "</tbody></table></div></section>";
    // The rules this cabin follows, minimum nights included, where the owner looks at the cabin.
    let _ = write!(
        b,
        r#"<section class="card" id="reglas-cabana"><h2>Reglas de esta cabaña</h2><ul><li>Mínimo de la cabaña: {}</li>"#,
        nights_text(unit.min_nights)
    );
    for r in rules.iter().filter(|r| r.unit_id.is_none_or(|id| id == unit.id)) {
        let _ = write!(
            b,
            "<li><strong>{}</strong> · {}{}{}</li>",
            e(&r.name),
            e(&rule_span(r)),
            e(&rule_effect(r)),
            r.min_nights.map(|n| format!(" · mínimo {}", nights_text(n))).unwrap_or_default()
        );
    }
    b += r#"</ul><p><a href="/admin/cabanas#reglas">Editar las reglas de precio</a></p></section>"#;
    b += &super::messages::unit_card(s, sess, unit.id, errors).await?;
    b += "</div>";
    Ok((status, page(html::layout(Some(&sess.viewer()), Nav::Cabanas, &unit.name, ok, &b))).into_response())
}

/// GET /admin/cabanas/{id}
pub async fn edit(
    State(s): State<AppState>,
    sess: Session,
    Path(id): Path<String>,
    q: Query<OkQuery>,
) -> UiResult<Response> {
    sess.require_owner()?;
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    edit_page(&s, &sess, &unit, &unit_values(&unit), &Errors::new(), q.ok.as_deref(), StatusCode::OK).await
}

/// POST /admin/cabanas/{id}
pub async fn update(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let unit = s.store.get_unit(parse_id(&id)?).await?;
    let mut errors = Errors::new();
    if let Some(input) = unit_input(&form, &mut errors) {
        match s.store.update_unit(unit.id, &input, s.clock.now()).await {
            Ok(u) => {
                s.store.record_audit(None, &form.session.email, "unit_updated", &u.name, s.clock.now()).await?;
                return Ok(done(&format!("/admin/cabanas/{}", u.id), "guardada"));
            }
            Err(StoreError::Duplicate(_)) => {
                errors.insert("slug", "Ya hay otra cabaña con ese identificador.".into());
            }
            Err(other) => return Err(UiError::from(other)),
        }
    }
    edit_page(&s, &form.session, &unit, &form.fields, &errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn rule_input(s: &AppState, form: &CsrfForm, errors: &mut Errors) -> UiResult<Option<RateRuleInput>> {
    let name = form.get("name").to_string();
    if name.is_empty() || name.chars().count() > 100 {
        errors.insert("name", "El nombre debe tener entre 1 y 100 caracteres.".into());
    }
    let unit_id = match form.get("unit") {
        "" => None,
        t => match t.parse::<i64>() {
            Ok(id) if s.store.get_unit(id).await.is_ok() => Some(id),
            _ => {
                errors.insert("general", "La cabaña elegida no existe.".into());
                None
            }
        },
    };
    let opt_date = |field: &'static str, errors: &mut Errors| match form.get(field) {
        "" => None,
        t => {
            let d = parse_date(t);
            if d.is_none() {
                errors.insert(field, "Fecha inválida.".into());
            }
            d
        }
    };
    let start = opt_date("start", errors);
    let end = opt_date("end", errors);
    if let (Some(a), Some(b)) = (start, end)
        && a >= b
    {
        errors.insert("end", "Tiene que ser posterior a «Desde».".into());
    }
    let scope = if form.get("scope") == "holiday_eves" { RuleScope::HolidayEves } else { RuleScope::AllNights };
    let effect = if form.get("effect") == "price" {
        parse_money(form.get("value")).map(RuleEffect::NightlyPrice)
    } else {
        parse_multiplier(form.get("value")).map(RuleEffect::Multiplier)
    };
    if effect.is_none() {
        errors
            .insert("value", "Escribí un precio (p. ej. 60000) o un multiplicador (p. ej. 1,5) mayor que cero.".into());
    }
    let min_nights = match form.get("min_nights") {
        "" => None,
        t => match t.parse::<u32>() {
            Ok(m) if (1..=domain::MAX_NIGHTS).contains(&m) => Some(m),
            _ => {
                errors.insert("min_nights", "Entre 1 y 60, o vacío.".into());
                None
            }
        },
    };
    if !errors.is_empty() {
        return Ok(None);
    }
    Ok(effect.map(|effect| RateRuleInput { unit_id, name, start, end, scope, effect, min_nights }))
}

async fn rule_refused(s: &AppState, form: &CsrfForm, editing: &str, errors: &Errors) -> UiResult<Response> {
    let mut values = form.fields.clone();
    values.remove("csrf");
    values.insert("_editing".into(), editing.into());
    rules_page(s, &form.session, errors, &values, None, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// POST /admin/precios/reglas
pub async fn create_rule(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let mut errors = Errors::new();
    match rule_input(&s, &form, &mut errors).await? {
        Some(input) => {
            s.store.create_rate_rule(&input, s.clock.now()).await?;
            s.store.record_audit(None, &form.session.email, "rate_rule_created", &input.name, s.clock.now()).await?;
            Ok(done("/admin/cabanas#reglas", "regla"))
        }
        None => rule_refused(&s, &form, "new", &errors).await,
    }
}

/// POST /admin/precios/reglas/{id}
pub async fn update_rule(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let id = parse_id(&id)?;
    if !s.store.list_rate_rules().await?.iter().any(|r| r.id == id) {
        return Err(UiError::NotFound);
    }
    let mut errors = Errors::new();
    match rule_input(&s, &form, &mut errors).await? {
        Some(input) => {
            s.store.update_rate_rule(id, &input, s.clock.now()).await?;
            s.store.record_audit(None, &form.session.email, "rate_rule_updated", &input.name, s.clock.now()).await?;
            Ok(done("/admin/cabanas#reglas", "regla"))
        }
        None => rule_refused(&s, &form, &id.to_string(), &errors).await,
    }
}

/// POST /admin/precios/reglas/{id}/borrar
pub async fn delete_rule(State(s): State<AppState>, Path(id): Path<String>, form: CsrfForm) -> UiResult<Response> {
    form.session.require_owner()?;
    let id = parse_id(&id)?;
    let rule = s.store.list_rate_rules().await?.into_iter().find(|r| r.id == id).ok_or(UiError::NotFound)?;
    s.store.delete_rate_rule(id).await?;
    s.store.record_audit(None, &form.session.email, "rate_rule_deleted", &rule.name, s.clock.now()).await?;
    Ok(done("/admin/cabanas#reglas", "regla_borrada"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_the_way_owners_write_them() {
        assert_eq!(parse_money("45000"), Some(Money(4_500_000)));
        assert_eq!(parse_money("$ 45.000"), Some(Money(4_500_000)));
        assert_eq!(parse_money("45.000,50"), Some(Money(4_500_050)));
        assert_eq!(parse_money("45000.5"), Some(Money(4_500_050)));
        assert_eq!(parse_money("0"), None);
        assert_eq!(parse_money("abc"), None);
        assert_eq!(parse_multiplier("1,2").map(|m| m.0), Some(12_000));
    }
}
