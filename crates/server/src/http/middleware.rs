//! What every request goes through: a trace id, a log span and a log line, metrics, security
//! headers, the body size limit, the per-IP rate limit, and JSON bodies for bare errors.

use crate::config::IpNet;
use crate::error::ApiError;
use crate::metrics as m;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use tracing::Instrument;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug)]
pub struct TraceId(pub String);

fn valid_trace_id(v: &str) -> bool {
    (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn trace_id(headers: &HeaderMap) -> String {
    ["x-request-id", "x-trace-id"]
        .iter()
        .filter_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .find(|v| valid_trace_id(v))
        .map(String::from)
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()))
}

pub async fn request_context(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = trace_id(req.headers());
    req.extensions_mut().insert(TraceId(id.clone()));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!("request", trace_id = %id, method = %method, route = %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1000.0, "request done")
    });
    let labels = [("method", method.to_string()), ("path", route), ("status", status.as_u16().to_string())];
    metrics::counter!(m::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(m::HTTP_DURATION, &labels[..2]).record(elapsed.as_secs_f64());

    if status.as_u16() >= 400 && !response.headers().contains_key(header::CONTENT_TYPE) {
        response = json_for_bare_error(response);
    }
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v.clone());
        h.insert("x-trace-id", v);
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !h.contains_key("content-security-policy") {
        h.insert("content-security-policy", HeaderValue::from_static("frame-ancestors 'none'"));
    }
    response
}

/// Errors produced by the framework (405, 413 from a layer…) get our JSON shape too.
fn json_for_bare_error(response: Response) -> Response {
    let status = response.status();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "No existe."),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Método no permitido para esta ruta."),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "El cuerpo supera el máximo de 1 MiB."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Tipo de contenido no soportado."),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "La solicitud tardó demasiado."),
        s if s.is_server_error() => ("internal", "Ocurrió un error interno."),
        _ => ("bad_request", "Solicitud inválida."),
    };
    let mut fresh = ApiError::new(status, code, message).into_response();
    for (k, v) in response.headers() {
        if k != header::CONTENT_LENGTH && k != header::CONTENT_TYPE {
            fresh.headers_mut().insert(k.clone(), v.clone());
        }
    }
    fresh
}

/// Runs the request in its own task, so a client that hangs up cannot cancel a handler in the
/// middle of a database transaction (a cancelled `BEGIN` can leave a pooled connection inside a
/// transaction: seen as "database is locked" on SQLite under load).
pub async fn detach(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(response) => response,
        Err(e) => ApiError::internal(format!("handler task failed: {e}")).into_response(),
    }
}

/// Refuses a declared body over the limit before reading it, on every route. Bodies without a
/// length are cut at the same limit by the extractors.
pub async fn body_limit(req: Request, next: Next) -> Response {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "El cuerpo supera el máximo de 1 MiB.",
        )
        .into_response();
    }
    next.run(req).await
}

/// Input checks that hold for every route, before any handler runs:
/// - a URL whose path or query decodes to a control character (`%00`, `%1b`) is 422 — for
///   search boxes, slugs and codes alike — so it never reaches the database;
/// - a body declared as something other than JSON on a JSON route is 415 (webhooks and the
///   dashboard's forms excepted: they have their own formats).
pub async fn input_guard(req: Request, next: Next) -> Response {
    let uri = req.uri();
    // A provider's webhook is stored whatever it carries (its handler cleans the text).
    let webhook = is_webhook(uri.path());
    let decoded_has_control = |s: &str| domain::text::has_forbidden(&percent_decoded(s));
    if !webhook && (decoded_has_control(uri.path()) || uri.query().is_some_and(decoded_has_control)) {
        let e = super::extract::control_character("");
        if uri.path().starts_with("/admin") {
            return crate::admin_ui::UiError::BadInput(e.message).into_response();
        }
        return e.into_response();
    }
    let sends_body =
        matches!(*req.method(), axum::http::Method::POST | axum::http::Method::PUT | axum::http::Method::PATCH);
    if sends_body
        && json_route(uri.path())
        && req.headers().contains_key(header::CONTENT_TYPE)
        && !super::extract::is_json_request(req.headers())
    {
        return super::extract::unsupported_media_type().into_response();
    }
    next.run(req).await
}

/// The sandbox's routes do not exist when it is off: 404 before any extractor can answer 422
/// about a body or a query (which would tell a scanner the route is there).
pub async fn sandbox_gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let off = if path == "/sandbox/chat" || path.starts_with("/sandbox/api/") {
        !state.config.sandbox
    } else if path.starts_with("/sandbox/pay/") || path.starts_with("/sandbox/mp/") {
        state.config.payments.provider != crate::config::PaymentProvider::Sandbox
    } else {
        false
    };
    if off {
        return ApiError::not_found("No existe.").into_response();
    }
    next.run(req).await
}

fn is_webhook(path: &str) -> bool {
    path.starts_with("/api/v1/webhooks/") || path == "/api/v1/mercadopago/webhook"
}

/// Routes whose bodies are JSON (a provider's webhook is taken in whatever it declares).
fn json_route(path: &str) -> bool {
    (path.starts_with("/api/v1/") || path.starts_with("/sandbox/api/") || path.starts_with("/sandbox/mp/"))
        && !is_webhook(path)
}

/// `%XX` sequences decoded (invalid UTF-8 becomes U+FFFD, which is not a control character).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The client's address: the peer, or the `X-Forwarded-For` entry added by a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // Walk back from the nearest hop; the first address that is not our proxy is the client.
    forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer)
}

/// Readiness does no I/O and providers' webhooks have their own bound (bad signatures per
/// address). Deep health and metrics query the database, so they count like any request.
fn exempt(path: &str) -> bool {
    path == "/api/v1/readyz" || path.starts_with("/api/v1/webhooks/")
}

pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.limiter.enabled() || exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let peer =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = client_ip(peer, req.headers(), &state.config.trusted_proxies);
    match state.limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            metrics::counter!(m::RATE_LIMITED).increment(1);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Demasiadas solicitudes; probá de nuevo en unos segundos.",
            );
            e.retry_after = Some(wait);
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_trusted_only_from_proxies() {
        let trusted = vec![IpNet::parse("10.0.0.0/8").unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4, 10.0.0.7"));
        assert_eq!(client_ip("10.0.0.1".parse().unwrap(), &h, &trusted), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip("8.8.8.8".parse().unwrap(), &h, &trusted), "8.8.8.8".parse::<IpAddr>().unwrap());
        assert_eq!(
            client_ip("10.0.0.1".parse().unwrap(), &HeaderMap::new(), &trusted),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn percent_decoding_finds_control_characters() {
        assert_eq!(percent_decoded("a%00b%"), "a\0b%");
        assert_eq!(percent_decoded("%C3%B1%1b%zz%4"), "ñ\u{1b}%zz%4");
        assert!(domain::text::has_forbidden(&percent_decoded("q=%00")));
        assert!(!domain::text::has_forbidden(&percent_decoded("q=%C3%B1and%C3%BA")));
    }

    #[test]
    fn trace_ids_are_taken_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert("x-trace-id", HeaderValue::from_static("abc-123"));
        assert_eq!(trace_id(&h), "abc-123");
        h.insert("x-request-id", HeaderValue::from_static("req.9"));
        assert_eq!(trace_id(&h), "req.9");
        let mut bad = HeaderMap::new();
        bad.insert("x-request-id", HeaderValue::from_static("has space"));
        assert_eq!(trace_id(&bad).len(), 32);
    }
}
