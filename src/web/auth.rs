//! Logging in and out, and the `CurrentUser` extractor.
//!
//! A session is a random 256-bit token in a signed, HttpOnly, SameSite=Lax cookie; the database
//! keeps its SHA-256 only. Sessions live in the database, not in the cookie, so several servers
//! share them and logging out really ends one.
use super::AppState;
use crate::domain::account::User;
use crate::error::AppError;
use crate::{password, store};
use actix_web::cookie::{Cookie, CookieJar, SameSite, time::Duration as CookieDuration};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

pub const SESSION_COOKIE: &str = "renke_session";
pub const SESSION_HOURS: i64 = 12;

/// Limits login attempts: per client address (burst 30, then one every 2 s) and per account
/// (burst 10, then one a minute). Kept in memory: each server limits on its own.
pub struct LoginLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
}

fn quota(period: Duration, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            per_address: RateLimiter::keyed(quota(Duration::from_secs(2), 30)),
            per_account: RateLimiter::keyed(quota(Duration::from_secs(60), 10)),
        }
    }
}

impl LoginLimiter {
    pub fn check(&self, ip: Option<IpAddr>, username: &str) -> Result<(), AppError> {
        if self.per_address.len() > 100_000 {
            self.per_address.retain_recent();
        }
        if self.per_account.len() > 100_000 {
            self.per_account.retain_recent();
        }
        if let Some(ip) = ip
            && self.per_address.check_key(&ip).is_err()
        {
            return Err(AppError::TooManyRequests);
        }
        let account = username.trim().to_lowercase();
        if self.per_account.check_key(&account).is_err() {
            return Err(AppError::TooManyRequests);
        }
        Ok(())
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token, URL-safe base64 of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks a username and password, within the login rate limits.
pub async fn authenticate(
    state: &AppState,
    ip: Option<IpAddr>,
    username: &str,
    password_text: &str,
) -> Result<User, AppError> {
    state.login_limiter.check(ip, username)?;
    let found = store::users::find_for_login(&state.db, username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, password::dummy_hash().to_owned()),
    };
    // Hashing is slow on purpose: keep it off the async workers.
    let password_text = password_text.to_owned();
    let ok = web::block(move || password::verify(&password_text, &hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let address = ip.map_or_else(String::new, |i| i.to_string());
    match user {
        Some(user) if ok && user.active => {
            super::audit(state, &user.username, "login", "", &address).await;
            Ok(user)
        }
        _ => {
            let who: String = username.trim().chars().take(64).collect();
            super::audit(state, &who, "login_failed", "", &address).await;
            Err(AppError::BadCredentials)
        }
    }
}

fn cookie_base(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .finish()
}

/// Starts a session for `user` and returns its cookie. Any session the browser had before is
/// ended, so a session id planted before login is worthless after it.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
) -> Result<Cookie<'static>, AppError> {
    if let Some(old) = session_token(state, req) {
        store::sessions::delete(&state.db, &token_hash(&old)).await?;
    }
    // Logins are rare: a good moment to forget sessions that have run out.
    store::sessions::delete_expired(&state.db, chrono::Utc::now()).await?;
    let token = random_token();
    let expires = chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS);
    store::sessions::create(&state.db, user.id, token_hash(&token), expires).await?;
    let mut jar = CookieJar::new();
    jar.signed_mut(&state.cookie_key)
        .add(Cookie::new(SESSION_COOKIE, token));
    let signed = jar
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let mut cookie = cookie_base(state, signed);
    cookie.set_max_age(CookieDuration::hours(SESSION_HOURS));
    Ok(cookie)
}

/// Ends the request's session (if any) and returns a cookie that clears it in the browser.
pub async fn end_session(state: &AppState, req: &HttpRequest) -> Result<Cookie<'static>, AppError> {
    if let Some(token) = session_token(state, req) {
        store::sessions::delete(&state.db, &token_hash(&token)).await?;
    }
    let mut cookie = cookie_base(state, String::new());
    cookie.make_removal();
    Ok(cookie)
}

/// The session token from the request's cookie, if its signature is good.
fn session_token(state: &AppState, req: &HttpRequest) -> Option<String> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    jar.signed(&state.cookie_key)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// The logged-in user. Fails with 401 (on pages: a redirect to the login page).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl std::ops::Deref for CurrentUser {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0
    }
}

impl CurrentUser {
    /// Fails with 403 unless the user may change surveys.
    pub fn require_organizer(&self) -> Result<(), AppError> {
        if self.role.can_organize() {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }

    /// Fails with 403 unless the user is a platform admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.role == crate::domain::account::Role::Admin {
            Ok(())
        } else {
            Err(AppError::forbidden())
        }
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(user) = req.extensions().get::<CurrentUser>() {
                return Ok(user.clone());
            }
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AppError::Internal("application state missing".into()))?;
            let token = session_token(state, &req).ok_or(AppError::Unauthenticated)?;
            let user =
                store::sessions::find_user(&state.db, &token_hash(&token), chrono::Utc::now())
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
            let user = CurrentUser(user);
            req.extensions_mut().insert(user.clone());
            Ok(user)
        })
    }
}

/// The logged-in user if there is one; never fails.
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            match fut.await {
                Ok(u) => Ok(MaybeUser(Some(u))),
                Err(AppError::Unauthenticated) => Ok(MaybeUser(None)),
                Err(e) => Err(e),
            }
        })
    }
}
