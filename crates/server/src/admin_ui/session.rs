//! Dashboard sessions: login with e-mail and password (argon2), a server-side session behind an
//! `HttpOnly; SameSite=Strict` cookie (`Secure` over https), a CSRF token per session checked on
//! every POST, and failed logins limited per account and per address.

use super::html::{self, Errors, Nav, Viewer, e, err, inv};
use super::{UiError, UiResult, page};
use crate::auth;
use crate::http::middleware::client_ip;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use store::{NewAdminSession, Role, StoreError};

pub const SESSION_COOKIE: &str = "posada_session";
pub const LOGIN_COOKIE: &str = "posada_login";
pub const SESSION_TTL_HOURS: i64 = 12;

/// Failed logins allowed in [`THROTTLE_WINDOW`] before refusing: per account, per address.
pub const MAX_FAILS_PER_ACCOUNT: usize = 5;
pub const MAX_FAILS_PER_IP: usize = 20;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// In-process memory of failed logins (rate limits are per instance, like the API's).
#[derive(Default)]
pub struct LoginThrottle {
    fails: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginThrottle {
    /// Minutes to wait when `key` is over `max`.
    fn blocked(&self, key: &str, max: usize, now: Instant) -> Option<u64> {
        let mut map = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < THROTTLE_WINDOW);
        if list.len() >= max {
            let oldest = list[0];
            let wait = THROTTLE_WINDOW.saturating_sub(now.duration_since(oldest));
            Some(wait.as_secs().div_ceil(60).max(1))
        } else {
            None
        }
    }

    fn fail(&self, key: String, now: Instant) {
        let mut map = self.fails.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 50_000 {
            map.retain(|_, l| l.iter().any(|t| now.duration_since(*t) < THROTTLE_WINDOW));
        }
        map.entry(key).or_default().push(now);
    }

    fn clear(&self, key: &str) {
        self.fails.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn hash_token(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn secure(s: &AppState) -> &'static str {
    if s.config.public_url.starts_with("https://") { "; Secure" } else { "" }
}

fn set_cookie(s: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let v = format!("{name}={value}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{}", secure(s));
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

/// Constant-time string comparison.
pub fn same(a: &str, b: &str) -> bool {
    crate::ical_sync::same_token(a, b)
}

/// A logged-in dashboard user. Without a valid session the request is sent to the login page.
#[derive(Clone)]
pub struct Session {
    pub email: String,
    pub role: Role,
    pub csrf: String,
    pub token_hash: String,
}

impl Session {
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer { email: &self.email, role: self.role, csrf: &self.csrf }
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    /// Prices, users and channel settings are the owner's.
    pub fn require_owner(&self) -> UiResult<()> {
        if self.is_owner() { Ok(()) } else { Err(UiError::Forbidden) }
    }

    pub fn csrf_field(&self) -> String {
        html::csrf_field(&self.csrf)
    }
}

fn login_redirect(parts: &Parts) -> UiError {
    let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/admin");
    let next = if parts.method == axum::http::Method::GET && next.starts_with("/admin") { next } else { "/admin" };
    UiError::Login(format!("/admin/login?next={}", html::q(next)))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(login_redirect(parts));
        };
        match s.store.get_admin_session(&hash_token(&token), s.clock.now()).await {
            Ok(row) => {
                Ok(Session { email: row.email, role: row.role, csrf: row.csrf_token, token_hash: row.token_hash })
            }
            Err(StoreError::NotFound) => Err(login_redirect(parts)),
            Err(other) => Err(UiError::internal(other)),
        }
    }
}

/// A POSTed form from a logged-in user whose CSRF token matched: the only way a handler gets
/// at form fields, so no POST can skip the check.
pub struct CsrfForm {
    pub session: Session,
    pub fields: HashMap<String, String>,
}

impl CsrfForm {
    /// A trimmed field ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(|v| v.trim()).unwrap_or("")
    }
}

impl FromRequest<AppState> for CsrfForm {
    type Rejection = UiError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, s).await?;
        let header_token = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(String::from);
        let req = Request::from_parts(parts, body);
        let fields = match axum::Form::<HashMap<String, String>>::from_request(req, s).await {
            Ok(axum::Form(f)) => f,
            Err(_) => HashMap::new(),
        };
        let sent = fields.get("csrf").cloned().or(header_token).unwrap_or_default();
        if sent.is_empty() || !same(&sent, &session.csrf) {
            tracing::warn!("dashboard form refused: bad CSRF token");
            return Err(UiError::Csrf);
        }
        // No field of ours takes control characters (a NUL byte would reach the database).
        if let Some(name) = fields
            .iter()
            .find(|(k, v)| domain::text::has_forbidden(k) || domain::text::has_forbidden(v))
            .map(|(k, _)| k)
        {
            return Err(UiError::BadInput(format!(
                "El campo «{}» tiene caracteres de control (por ejemplo un byte nulo); borralos y probá de nuevo.",
                domain::text::strip(name)
            )));
        }
        Ok(CsrfForm { session, fields })
    }
}

#[derive(serde::Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

fn safe_next(next: Option<&str>) -> String {
    match next {
        // Only our own pages: no "//evil", no scheme.
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/admin".to_string(),
    }
}

fn login_page(s: &AppState, token: &str, email: &str, next: &str, errors: &Errors, status: StatusCode) -> Response {
    let general = err(errors, "general");
    let body = format!(
        r#"<section class="login card">
<h1>Ingresar</h1>
<p class="muted">Panel de Posada: calendario, reservas y cabañas.</p>
{general}
<form method="post" action="/admin/login" novalidate>
<input type="hidden" name="csrf" value="{tok}">
<input type="hidden" name="next" value="{next}">
<label for="email">E-mail</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{email}"{inv_e}>
{err_e}
<label for="password">Contraseña</label>
<input id="password" name="password" type="password" autocomplete="current-password" required{inv_p}>
{err_p}
<button type="submit" class="primary" id="login-submit">Ingresar</button>
</form>
</section>"#,
        tok = e(token),
        next = e(next),
        email = e(email),
        inv_e = inv(errors, "email"),
        err_e = err(errors, "email"),
        inv_p = inv(errors, "password"),
        err_p = err(errors, "password"),
    );
    let mut r = (status, page(html::layout(None, Nav::None, "Ingresar", None, &body))).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(s, LOGIN_COOKIE, token, 3600));
    r
}

/// GET /admin/login
pub async fn login_form(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    // Already logged in: straight to the dashboard.
    if let Some(t) = cookie(&headers, SESSION_COOKIE)
        && s.store.get_admin_session(&hash_token(&t), s.clock.now()).await.is_ok()
    {
        return Redirect::to("/admin").into_response();
    }
    let next = safe_next(q.next.as_deref());
    let token = random_token();
    login_page(&s, &token, "", &next, &Errors::new(), StatusCode::OK)
}

fn peer_ip(s: &AppState, req: &Request) -> IpAddr {
    let peer =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
    client_ip(peer, req.headers(), &s.config.trusted_proxies)
}

/// POST /admin/login
pub async fn login(State(s): State<AppState>, req: Request) -> Response {
    let ip = peer_ip(&s, &req);
    let headers = req.headers().clone();
    let fields = match axum::Form::<HashMap<String, String>>::from_request(req, &s).await {
        Ok(axum::Form(f)) => f,
        Err(_) => HashMap::new(),
    };
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let email = get("email").to_lowercase();
    let password = fields.get("password").cloned().unwrap_or_default();
    let next = safe_next(Some(&get("next")));
    let mut errors = Errors::new();
    // Login CSRF: the form's token must match the cookie set with the form.
    let cookie_token = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let fresh = random_token();
    if cookie_token.is_empty() || !same(&cookie_token, &get("csrf")) {
        errors.insert("general", "El formulario venció. Volvé a intentar.".into());
        return login_page(&s, &fresh, &email, &next, &errors, StatusCode::FORBIDDEN);
    }
    if email.is_empty() || !email.contains('@') || email.len() > 254 {
        errors.insert("email", "Escribí tu e-mail.".into());
    }
    if password.is_empty() {
        errors.insert("password", "Escribí tu contraseña.".into());
    }
    if !errors.is_empty() {
        return login_page(&s, &fresh, &email, &next, &errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let now_i = Instant::now();
    let acct_key = format!("acct:{email}");
    let ip_key = format!("ip:{ip}");
    let throttle = &s.ui.throttle;
    let blocked = throttle
        .blocked(&acct_key, MAX_FAILS_PER_ACCOUNT, now_i)
        .map(|m| format!("Demasiados intentos fallidos para esta cuenta. Esperá {m} minutos y probá de nuevo."))
        .or_else(|| {
            throttle.blocked(&ip_key, MAX_FAILS_PER_IP, now_i).map(|m| {
                format!("Demasiados intentos fallidos desde esta conexión. Esperá {m} minutos y probá de nuevo.")
            })
        });
    if let Some(message) = blocked {
        tracing::warn!(%ip, "dashboard login throttled");
        errors.insert("general", message);
        return login_page(&s, &fresh, &email, &next, &errors, StatusCode::TOO_MANY_REQUESTS);
    }
    let user = match s.store.get_admin_user(&email).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(other) => return UiError::internal(other).into_response(),
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| auth::DUMMY_HASH.clone());
    let ok = auth::verify_password(SecretString::from(password), hash).await;
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            throttle.fail(acct_key, now_i);
            throttle.fail(ip_key, now_i);
            tracing::info!("dashboard login refused");
            errors.insert("general", "E-mail o contraseña incorrectos.".into());
            return login_page(&s, &fresh, &email, &next, &errors, StatusCode::UNAUTHORIZED);
        }
    };
    throttle.clear(&acct_key);
    let token = random_token();
    let now = s.clock.now();
    let new = NewAdminSession {
        token_hash: hash_token(&token),
        user_id: user.id,
        csrf_token: random_token(),
        ip: Some(ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(300).collect()),
        expires_at: now + chrono::Duration::hours(SESSION_TTL_HOURS),
    };
    if let Err(e) = s.store.create_admin_session(&new, now).await {
        return UiError::internal(e).into_response();
    }
    // Now and then, forget expired sessions.
    if rand::random::<u8>() < 8 {
        let _ = s.store.purge_admin_sessions(now).await;
    }
    tracing::info!(role = user.role.as_str(), "dashboard login");
    let mut r = Redirect::to(&next).into_response();
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(&s, SESSION_COOKIE, &token, SESSION_TTL_HOURS * 3600));
    h.append(header::SET_COOKIE, set_cookie(&s, LOGIN_COOKIE, "", 0));
    r
}

/// POST /admin/logout
pub async fn logout(State(s): State<AppState>, form: CsrfForm) -> UiResult<Response> {
    s.store.delete_admin_session(&form.session.token_hash).await.map_err(UiError::internal)?;
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&s, SESSION_COOKIE, "", 0));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_failures_in_the_window() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..4 {
            t.fail("acct:a".into(), now);
        }
        assert_eq!(t.blocked("acct:a", 5, now), None);
        t.fail("acct:a".into(), now);
        assert_eq!(t.blocked("acct:a", 5, now), Some(15));
        assert_eq!(t.blocked("acct:a", 5, now + THROTTLE_WINDOW), None);
        t.clear("acct:a");
        assert_eq!(t.blocked("acct:a", 5, now), None);
    }

    #[test]
    fn next_is_only_ever_our_own_page() {
        assert_eq!(safe_next(Some("/admin/reservas?estado=confirmed")), "/admin/reservas?estado=confirmed");
        assert_eq!(safe_next(Some("https://evil.test/admin")), "/admin");
        assert_eq!(safe_next(Some("//evil.test")), "/admin");
        assert_eq!(safe_next(None), "/admin");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; posada_session=abc; b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "zz"), None);
    }
}
