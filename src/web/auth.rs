//! Logging in and out, and the `CurrentUser` extractor.
//!
//! A session is a random 256-bit token in a signed, HttpOnly, SameSite=Lax cookie; the database
//! keeps its SHA-256 only. Sessions live in the database, not in the cookie, so several servers
//! share them and logging out really ends one.
use super::AppState;
use crate::app::{self, Actor, accounts::SESSION_HOURS};
use crate::domain::account::User;
use crate::error::AppError;
use actix_web::cookie::{Cookie, CookieJar, SameSite, time::Duration as CookieDuration};
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

pub const SESSION_COOKIE: &str = "renke_session";

/// Limits login attempts: per client address (burst 30, then one every 2 s), per account from
/// one address (burst 10, then one a minute), and per account from all addresses together (the
/// same). The last does not lock out an address the account has logged in from before: someone
/// guessing from everywhere cannot keep a user out of their own office. Kept in memory: each
/// server limits on its own.
pub struct LoginLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_account_address: DefaultKeyedRateLimiter<(String, Option<IpAddr>)>,
    per_account: DefaultKeyedRateLimiter<String>,
}

/// Which login limit an attempt ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// This address: too many attempts from it (for any account, or for this one).
    Address,
    /// This account from everywhere: only addresses it logged in from before get through.
    Account,
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
            per_account_address: RateLimiter::keyed(quota(Duration::from_secs(60), 10)),
            per_account: RateLimiter::keyed(quota(Duration::from_secs(60), 10)),
        }
    }
}

impl LoginLimiter {
    pub fn check(&self, ip: Option<IpAddr>, username: &str) -> Result<(), Limited> {
        if self.per_address.len() > 100_000 {
            self.per_address.retain_recent();
        }
        if self.per_account_address.len() > 100_000 {
            self.per_account_address.retain_recent();
        }
        if self.per_account.len() > 100_000 {
            self.per_account.retain_recent();
        }
        if let Some(ip) = ip
            && self.per_address.check_key(&ip).is_err()
        {
            return Err(Limited::Address);
        }
        let account = username.trim().to_lowercase();
        if self
            .per_account_address
            .check_key(&(account.clone(), ip))
            .is_err()
        {
            return Err(Limited::Address);
        }
        if self.per_account.check_key(&account).is_err() {
            return Err(Limited::Account);
        }
        Ok(())
    }
}

/// Checks a username and password, within the login rate limits.
pub async fn authenticate(
    state: &AppState,
    ip: Option<IpAddr>,
    username: &str,
    password_text: &str,
) -> Result<User, AppError> {
    let address = ip.map_or_else(String::new, |i| i.to_string());
    match state.login_limiter.check(ip, username) {
        Ok(()) => {}
        Err(Limited::Account)
            if ip.is_some()
                && app::accounts::logged_in_from(&state.app, username, &address).await? => {}
        Err(_) => return Err(AppError::TooManyRequests),
    }
    app::accounts::authenticate(&state.app, &address, username, password_text).await
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
    let previous = session_token(state, req);
    let token = app::accounts::start_session(&state.app, previous.as_deref(), user).await?;
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
        app::accounts::end_session(&state.app, &token).await?;
    }
    let mut cookie = cookie_base(state, String::new());
    cookie.make_removal();
    Ok(cookie)
}

/// The session token from the request's cookie, if its signature is good.
pub(crate) fn session_token(state: &AppState, req: &HttpRequest) -> Option<String> {
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
    /// The user as the use cases see them.
    pub fn actor(&self) -> Actor<'_> {
        Actor::User(&self.0)
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
            let user = app::accounts::session_user(&state.app, &token)
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
