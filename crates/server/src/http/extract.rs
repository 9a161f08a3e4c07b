//! Extractors whose rejections speak our JSON error format.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `axum::Json` with 400 for malformed JSON, 422 for well-formed JSON of the wrong shape,
/// 413 for bodies over the limit.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_request(req.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(bytes_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether the request declares a JSON body (`application/json`, `application/x+json`).
pub fn is_json_request(headers: &axum::http::HeaderMap) -> bool {
    let essence = |v: &str| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(essence)
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Esta ruta recibe JSON: enviá el cuerpo con Content-Type: application/json.",
    )
}

fn bytes_rejection(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(e.status(), "payload_too_large", "El cuerpo supera el máximo de 1 MiB.")
    } else {
        body_unreadable()
    }
}

/// 400: the body could not be read (the client hung up or sent broken framing).
pub fn body_unreadable() -> ApiError {
    ApiError::bad_request("bad_request", "No se pudo leer el cuerpo de la solicitud: envialo de nuevo.")
}

/// `axum::Query` with 422 and a JSON error for bad parameters.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_pairs(query));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let field = e.path().to_string();
            let sent = |name: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                    .ok()
                    .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
            };
            let (code, message, field) = explain(&field, &e.into_inner().to_string(), Noun::Parameter, &sent);
            ApiError::unprocessable(code, message).with_details(serde_json::json!({"field": field}))
        })
    }
}

fn form_urlencoded_pairs(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// An optional JSON body: empty is `None`, anything else must be valid JSON of `T`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(bytes_rejection)?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// Parses raw bytes with the same errors as [`ApiJson`]: 400 for malformed JSON, 422 for a
/// control character in any string (a NUL byte or an escape sequence is never text) and for
/// JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Err(malformed_json(&e)),
    };
    if let Some(field) = field_with_control(&value, &mut String::new()) {
        return Err(control_character(&field));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // The whole body already parsed as one JSON value: nothing can trail it.
        Ok(v) => Ok(v),
        Err(e) if e.inner().is_syntax() || e.inner().is_eof() => Err(malformed_json(e.inner())),
        Err(e) => {
            let path = e.path().to_string();
            let sent = |name: &str| value_at(&value, &path, name);
            let (code, message, field) = explain(&path, &e.inner().to_string(), Noun::Field, &sent);
            Err(ApiError::unprocessable(code, message).with_details(serde_json::json!({"field": field})))
        }
    }
}

/// 400 `malformed_json`: where the JSON breaks and what to check.
fn malformed_json(e: &serde_json::Error) -> ApiError {
    let message = if e.is_eof() {
        "El JSON está incompleto: falta cerrar una llave, un corchete o unas comillas. Revisalo y probá de nuevo."
            .to_string()
    } else {
        format!(
            "El cuerpo no es JSON válido (línea {}, columna {}): revisá comillas, comas y llaves, por ejemplo {{\"guests\": 2}}.",
            e.line(),
            e.column()
        )
    };
    ApiError::bad_request("malformed_json", message)
}

/// What a refused value was called: a body field or a query parameter.
#[derive(Clone, Copy)]
enum Noun {
    Field,
    Parameter,
}

impl Noun {
    fn the(self) -> &'static str {
        match self {
            Noun::Field => "el campo",
            Noun::Parameter => "el parámetro",
        }
    }
}

/// The value the client sent at `path` (a body's dotted path), as text, when it is a string.
fn value_at(root: &serde_json::Value, path: &str, leaf: &str) -> Option<String> {
    let mut v = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !key.is_empty() {
            v = v.get(key)?;
        }
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    if !leaf.is_empty() && path.rsplit('.').next() != Some(leaf) {
        v = v.get(leaf)?;
    }
    v.as_str().map(str::to_string)
}

/// The words between the first pair of backticks: serde's way of naming a field.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// The names serde lists after "expected" (`one of `a`, `b`` or a single `a`). Read from the
/// end: the client's name, quoted before, may hold any words.
fn expected_list(message: &str) -> String {
    message
        .rsplit_once("`, expected ")
        .map(|(_, list)| {
            let list = list.strip_prefix("one of ").unwrap_or(list);
            list.split(", ").map(|n| n.trim_matches('`')).collect::<Vec<_>>().join(", ")
        })
        .unwrap_or_default()
}

/// The client's name in serde's "unknown field `name`, expected …" (it may hold backticks).
fn unknown_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.rsplit_once("`, expected ").or_else(|| rest.rsplit_once("`, there are no fields")).map(|(n, _)| n)
}

/// Whether serde/chrono's message is about a date (chrono's parse errors, or a date expected).
fn is_date_error(message: &str) -> bool {
    [
        "input contains invalid characters",
        "premature end of input",
        "input is out of range",
        "trailing input",
        "input is not enough",
        "no possible date and time",
        "bad or unsupported format",
        "formatted date",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// A dd/mm/yyyy date said the Argentine way, turned around: the likely intended ISO date.
fn iso_guess(sent: &str) -> Option<String> {
    let parts: Vec<&str> = sent.trim().split(['/', '-', '.']).collect();
    let [d, m, y] = parts.as_slice() else { return None };
    let (d, m, y) = (d.parse::<u32>().ok()?, m.parse::<u32>().ok()?, y.parse::<i32>().ok()?);
    if y < 1000 {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(y, m, d).map(|date| date.format("%Y-%m-%d").to_string())
}

/// serde's English refusal (`message`, at `path`) said in Spanish with what to do: (code,
/// message, field). `sent` looks up what the client sent for a field name.
fn explain(
    path: &str,
    message: &str,
    noun: Noun,
    sent: &dyn Fn(&str) -> Option<String>,
) -> (&'static str, String, String) {
    let message = message.split(" at line ").next().unwrap_or(message);
    let path = if path == "." { "" } else { path };
    let join = |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
    let the = noun.the();
    if message.starts_with("missing field") {
        let field = join(quoted(message).unwrap_or("?"));
        return ("missing_field", format!("Falta {the} {field}: agregalo y probá de nuevo."), field);
    }
    if message.starts_with("unknown field") {
        let name = unknown_name(message).or(quoted(message)).unwrap_or("?");
        let field = if path.ends_with(name) { path.to_string() } else { join(name) };
        let valid = expected_list(message);
        let hint = if valid.is_empty() { String::new() } else { format!(" Los válidos son: {valid}.") };
        return ("unknown_field", format!("No conocemos {the} {field}: revisá cómo está escrito.{hint}"), field);
    }
    let field = path.to_string();
    let leaf = field.rsplit('.').next().unwrap_or("");
    let label = if field.is_empty() {
        "El cuerpo".to_string()
    } else {
        format!("{}{} {field}", &the[..1].to_uppercase(), &the[1..])
    };
    if is_date_error(message) {
        let example = "la fecha debe tener el formato AAAA-MM-DD, por ejemplo 2027-02-15";
        let guess =
            sent(leaf).and_then(|s| iso_guess(&s)).map(|g| format!(" ¿Quisiste decir {g}?")).unwrap_or_default();
        let message = if message.contains("out of range") {
            format!("{label}: esa fecha no existe en el calendario; {example}.")
        } else {
            format!("{label}: {example}.{guess}")
        };
        return ("invalid_date", message, field);
    }
    if message.starts_with("unknown variant") {
        let valid = expected_list(message);
        return ("invalid_value", format!("{label} debe ser uno de estos valores: {valid}."), field);
    }
    let expected = message.rsplit("expected ").next().unwrap_or("");
    let unsigned = ["u8", "u16", "u32", "u64", "usize"].iter().any(|t| expected.starts_with(t));
    let integer = unsigned || ["i8", "i16", "i32", "i64", "isize"].iter().any(|t| expected.starts_with(t));
    let number_text = message.contains("invalid digit")
        || message.contains("number too large")
        || message.contains("cannot parse integer");
    let what = if message.starts_with("invalid value") && unsigned || (number_text && message.contains("invalid digit"))
    {
        "debe ser un número entero positivo, por ejemplo 2".to_string()
    } else if integer || number_text {
        "debe ser un número entero, por ejemplo 2".to_string()
    } else if expected.starts_with("f32") || expected.starts_with("f64") {
        "debe ser un número, por ejemplo 45000".to_string()
    } else if expected.starts_with("a string") || expected.starts_with("a borrowed string") {
        "debe ser un texto entre comillas".to_string()
    } else if expected.starts_with("a boolean") {
        "debe ser true o false".to_string()
    } else if expected.starts_with("a sequence") {
        "debe ser una lista entre corchetes, por ejemplo [\"a\", \"b\"]".to_string()
    } else if expected.starts_with("struct") || expected.starts_with("a map") {
        "debe ser un objeto entre llaves".to_string()
    } else {
        "no tiene un valor válido: revisalo".to_string()
    };
    let what = if message.contains("invalid type: null") { format!("no puede ir vacío (null): {what}") } else { what };
    let code = if message.starts_with("invalid type") { "invalid_type" } else { "invalid_value" };
    (code, format!("{label} {what}."), field)
}

/// 422 `invalid_text`: `field` holds a control character.
pub fn control_character(field: &str) -> ApiError {
    let message = if field.is_empty() {
        "El texto tiene caracteres de control (por ejemplo un byte nulo); borralos y probá de nuevo.".to_string()
    } else {
        format!("El campo {field} tiene caracteres de control (por ejemplo un byte nulo); borralos y probá de nuevo.")
    };
    ApiError::unprocessable("invalid_text", message).with_details(serde_json::json!({"field": field}))
}

/// The path (`contact_name`, `photos[0].url`) of the first string or key with a forbidden
/// control character.
fn field_with_control(v: &serde_json::Value, path: &mut String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => domain::text::has_forbidden(s).then(|| path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = field_with_control(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&domain::text::strip(k));
            let found =
                if domain::text::has_forbidden(k) { Some(path.clone()) } else { field_with_control(item, path) };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        guests: u32,
    }

    /// Found by `fuzz/`'s public_json target: an unknown field whose name holds serde's own words
    /// ("expected one of") split serde's message there, so the list of valid fields was the rest
    /// of the name followed by serde's English.
    #[test]
    fn an_unknown_field_named_like_serdes_message_still_lists_the_valid_fields() {
        let e = parse_json::<Body>(br#"{"x, expected one of `a`, `b`": 1}"#).unwrap_err();
        assert_eq!(e.code, "unknown_field");
        assert!(e.message.ends_with("Los válidos son: guests."), "{}", e.message);
    }
}
