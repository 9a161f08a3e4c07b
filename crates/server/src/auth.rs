//! Admin authentication: argon2 password hashes (computed off the async runtime) and HS256
//! JSON Web Tokens (the `jsonwebtoken` crate, HS256 only). Tokens carry the e-mail, role and the
//! user's token version and last 12 hours;
//! every request checks them against the user as stored now (one indexed read, no cache), so a
//! removed user, a demotion or a password change ends older tokens at once.

use crate::error::ApiError;
use crate::state::AppState;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use store::{Role, StoreError};

pub const TOKEN_TTL_SECONDS: i64 = 12 * 3600;

pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await?
}

/// Off the async runtime. Logins go through [`crate::login::PasswordGate`] instead, which
/// bounds how many run at once.
pub async fn verify_password(password: SecretString, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password_now(&password, &hash)).await.unwrap_or(false)
}

/// Constant-time through argon2's own comparison; a malformed stored hash never matches.
/// Blocks for tens of milliseconds and takes ~19 MiB while it runs.
pub fn verify_password_now(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so timing does not reveal e-mails.
pub static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::encode_b64(b"posada-dummy-salt").expect("salt");
    Argon2::default().hash_password(b"not-a-password", &salt).expect("hash").to_string()
});

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// The user's token version when issued; tokens without it (older builds) are refused.
    pub ver: i64,
    pub iat: i64,
    pub exp: i64,
}

/// HS256 is the only algorithm accepted: a token naming "none", another HMAC or a public-key
/// algorithm is refused before its signature is looked at.
fn validation() -> &'static jsonwebtoken::Validation {
    static V: std::sync::LazyLock<jsonwebtoken::Validation> = std::sync::LazyLock::new(|| {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        // Expiry is checked below against the app's clock (tests and the demo move it), not
        // the library's system time.
        v.validate_exp = false;
        v.required_spec_claims.clear();
        v
    });
    &V
}

pub fn issue_token(secret: &SecretString, email: &str, role: Role, ver: i64, now: i64) -> String {
    let claims = Claims { sub: email.to_string(), role, ver, iat: now, exp: now + TOKEN_TTL_SECONDS };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .expect("HS256 signs any claims")
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
}

pub fn verify_token(secret: &SecretString, token: &str, now: i64) -> Result<Claims, TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    let key = jsonwebtoken::DecodingKey::from_secret(secret.expose_secret().as_bytes());
    let claims = match jsonwebtoken::decode::<Claims>(token, &key, validation()) {
        Ok(data) => data.claims,
        Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => return Err(TokenError::BadSignature),
        Err(_) => return Err(TokenError::Malformed),
    };
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// An authenticated admin (owner or staff), from `Authorization: Bearer <jwt>`.
#[derive(Debug, Clone)]
pub struct Admin {
    pub email: String,
    pub role: Role,
}

impl Admin {
    pub fn require_owner(&self) -> Result<(), ApiError> {
        if self.role == Role::Owner { Ok(()) } else { Err(ApiError::forbidden("Esta acción es solo para el dueño.")) }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("Falta el token de acceso."))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("El token debe ir como 'Bearer <token>'."))?;
        let claims = match verify_token(&state.config.jwt_secret, token.trim(), state.clock.now().timestamp()) {
            Ok(claims) => claims,
            Err(TokenError::Expired) => return Err(ApiError::unauthorized("El token venció; iniciá sesión de nuevo.")),
            Err(_) => return Err(ApiError::unauthorized("Token inválido.")),
        };
        // The signature proves who we issued it to, not that they still have those rights.
        let user = match state.store.get_admin_user(&claims.sub).await {
            Ok(user) => user,
            Err(StoreError::NotFound | StoreError::Invalid(_)) => {
                tracing::info!("bearer token for a user that does not exist");
                return Err(ApiError::unauthorized("Token inválido."));
            }
            Err(other) => return Err(other.into()),
        };
        if !user.active || user.token_version != claims.ver || user.role != claims.role {
            tracing::info!(role = user.role.as_str(), "bearer token older than the user's rights");
            return Err(ApiError::unauthorized(
                "Tu sesión se cerró porque cambiaron tu contraseña o tus permisos; iniciá sesión de nuevo.",
            ));
        }
        Ok(Admin { email: user.email, role: user.role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn secret() -> SecretString {
        SecretString::from("0123456789abcdef0123456789abcdef".to_string())
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let t = issue_token(&secret(), "a@b.c", Role::Owner, 1, 1_000);
        let c = verify_token(&secret(), &t, 1_001).unwrap();
        assert_eq!((c.sub.as_str(), c.role, c.exp), ("a@b.c", Role::Owner, 1_000 + TOKEN_TTL_SECONDS));
        assert_eq!(verify_token(&secret(), &t, 1_000 + TOKEN_TTL_SECONDS), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let t = issue_token(&secret(), "a@b.c", Role::Staff, 1, 1_000);
        let other = SecretString::from("another-secret-another-secret-xx".to_string());
        assert_eq!(verify_token(&other, &t, 1_001), Err(TokenError::BadSignature));
        // Same signature, payload changed to owner.
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload =
            URL_SAFE_NO_PAD.encode(br#"{"sub":"a@b.c","role":"owner","ver":1,"iat":1000,"exp":99999999999}"#);
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify_token(&secret(), &forged, 1_001), Err(TokenError::BadSignature));
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), forged_payload);
        assert_eq!(verify_token(&secret(), &none_alg, 1_001), Err(TokenError::Malformed));
        assert_eq!(verify_token(&secret(), "garbage", 1_001), Err(TokenError::Malformed));
        // Signed with the right secret but another algorithm: refused by the allow-list.
        let claims = Claims { sub: "a@b.c".into(), role: Role::Owner, ver: 1, iat: 1_000, exp: 99_999 };
        let hs512 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret().expose_secret().as_bytes()),
        )
        .unwrap();
        assert_eq!(verify_token(&secret(), &hs512, 1_001), Err(TokenError::Malformed));
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = hash_password(SecretString::from("correct horse".to_string())).await.unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password(SecretString::from("correct horse".to_string()), h.clone()).await);
        assert!(!verify_password(SecretString::from("wrong".to_string()), h).await);
        assert!(!verify_password(SecretString::from("x".to_string()), "not a hash".into()).await);
    }
}
