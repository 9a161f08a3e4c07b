//! Dashboard sessions: login with e-mail and password (argon2), a server-side session behind an
//! `HttpOnly; SameSite=Strict` cookie (`Secure` over https), a CSRF token per session checked on
//! every POST, and failed logins throttled like the JSON API's ([`crate::login`]).

use super::html::{self, Errors, Nav, Viewer, e, err, inv};
use super::{UiError, UiResult, page};
use crate::http::middleware::client_ip;
use crate::login::{self, Attempt, Door};
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
use store::{NewAdminSession, Role, StoreError};

pub const SESSION_COOKIE: &str = "posada_session";
pub const LOGIN_COOKIE: &str = "posada_login";
pub const SESSION_TTL_HOURS: i64 = 12;

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
            Err(other) => Err(UiError::from(other)),
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
    let user = match login::attempt(&s, Door::Dashboard, &email, SecretString::from(password), ip).await {
        Ok(Attempt::In(user)) => user,
        Ok(Attempt::Wrong) => {
            errors.insert("general", "E-mail o contraseña incorrectos.".into());
            return login_page(&s, &fresh, &email, &next, &errors, StatusCode::UNAUTHORIZED);
        }
        Ok(Attempt::Refused(r)) => {
            errors.insert("general", r.message());
            let mut page = login_page(&s, &fresh, &email, &next, &errors, StatusCode::TOO_MANY_REQUESTS);
            page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(r.retry_after()));
            return page;
        }
        Err(other) => return UiError::from(other).into_response(),
    };
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
        return UiError::from(e).into_response();
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
    s.store.delete_admin_session(&form.session.token_hash).await.map_err(UiError::from)?;
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&s, SESSION_COOKIE, "", 0));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

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
