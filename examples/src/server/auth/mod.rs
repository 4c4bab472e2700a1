//! Who is asking: where a request's credentials become the acting user.
//!
//! Three ways in, tried in this order by the [`Actor`] extractor:
//!
//! 1. `Authorization: Bearer <token>` — an API token for scripts, stored
//!    in the configuration as its SHA-256 only ([`password::new_token`]
//!    makes one);
//! 2. the `chatlines_session` cookie a password sign-in set (HttpOnly,
//!    SameSite=Strict); a state-changing request must also carry the
//!    session's CSRF token in `X-CSRF-Token`. Sessions live in the
//!    server's database ([`SignIns`]), so every server process over one
//!    database honours the same cookies;
//! 3. `X-User: <user>`, only when the configuration says
//!    `trust_user_header = true` (a trusted proxy in front authenticates).
//!
//! The user found acts through the hub's policy; nothing here grants
//! rights.

pub mod password;
pub(crate) mod routes;
pub mod sign_ins;

pub use routes::router;
pub use sign_ins::SignIns;

use crate::config::AuthConfig;
use crate::error::ApiError;
use crate::http::ClientAddr;
use crate::metrics::Metrics;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use chatlines_core::{Clock, UserId};
use governor::{DefaultKeyedRateLimiter, Quota};
use sign_ins::SignIn;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "chatlines_session";
/// The header carrying the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header naming the acting user (trusted only when configured).
pub const USER_HEADER: &str = "x-user";

/// How the acting user proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A password sign-in's session cookie.
    Session,
    /// An API token.
    Token,
    /// The `X-User` header of a trusted proxy.
    TrustedHeader,
}

impl Via {
    /// A short name for answers and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Token => "token",
            Via::TrustedHeader => "trusted_header",
        }
    }
}

/// The acting user of a request.
#[derive(Clone, Debug)]
pub struct Actor(pub UserId);

/// The credentials the server accepts, and the signed-in sessions.
/// Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    passwords: HashMap<String, String>,
    tokens: HashMap<String, UserId>,
    sessions: SignIns,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    trust_user_header: bool,
    secure_cookie: bool,
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    metrics: Metrics,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.inner.passwords.len())
            .field("tokens", &self.inner.tokens.len())
            .field("trust_user_header", &self.inner.trust_user_header)
            .finish_non_exhaustive()
    }
}

/// The configuration's credentials are unusable.
#[derive(Debug)]
pub struct AuthConfigError(pub String);

impl std::fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthConfigError {}

fn per_minute(n: u32, what: &str) -> Result<Quota, AuthConfigError> {
    NonZeroU32::new(n)
        .map(Quota::per_minute)
        .ok_or_else(|| AuthConfigError(format!("auth.{what} must be at least 1")))
}

impl Auth {
    /// Checks the configuration's hashes and builds the credential set;
    /// `clock` decides when sessions expire; sign-in attempts are counted
    /// in `metrics`. Sign-in sessions are kept in this process
    /// ([`with_sign_ins`](Self::with_sign_ins) keeps them in a database).
    pub fn new(
        config: &AuthConfig,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
    ) -> Result<Self, AuthConfigError> {
        Self::with_sign_ins(config, clock, metrics, SignIns::memory())
    }

    /// [`new`](Self::new), keeping sign-in sessions in `sessions`.
    pub fn with_sign_ins(
        config: &AuthConfig,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        sessions: SignIns,
    ) -> Result<Self, AuthConfigError> {
        let mut passwords = HashMap::new();
        for (user, hash) in &config.passwords {
            password::check_hash(hash).map_err(|why| {
                AuthConfigError(format!(
                    "auth.passwords.{user}: {why}; make a hash with `server hash-password`"
                ))
            })?;
            passwords.insert(user.clone(), hash.clone());
        }
        let mut tokens = HashMap::new();
        for spec in &config.tokens {
            let digest = spec.sha256.trim().to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AuthConfigError(format!(
                    "auth.tokens for {:?}: sha256 must be 64 hex digits; make a token with \
                     `server new-token USER`",
                    spec.user
                )));
            }
            tokens.insert(digest, UserId::from(spec.user.as_str()));
        }
        let ttl = i64::try_from(config.session_ttl_secs)
            .ok()
            .filter(|s| *s > 0)
            .map(chrono::Duration::seconds)
            .ok_or_else(|| AuthConfigError("auth.session_ttl_secs must be positive".into()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                passwords,
                tokens,
                sessions,
                clock,
                ttl,
                trust_user_header: config.trust_user_header,
                secure_cookie: config.secure_cookie,
                per_account: DefaultKeyedRateLimiter::keyed(per_minute(
                    config.sign_in_per_minute_per_account,
                    "sign_in_per_minute_per_account",
                )?),
                per_address: DefaultKeyedRateLimiter::keyed(per_minute(
                    config.sign_in_per_minute_per_address,
                    "sign_in_per_minute_per_address",
                )?),
                metrics,
            }),
        })
    }

    /// Whether `X-User` is believed.
    pub fn trusts_user_header(&self) -> bool {
        self.inner.trust_user_header
    }

    /// Starts a session for `user` (whose password was checked): the
    /// cookie's secret and the session. Only the secret's digest is
    /// stored.
    async fn open_session(&self, user: &str) -> Result<(String, SignIn), ApiError> {
        let secret = password::random_hex(32).map_err(ApiError::internal)?;
        let csrf = password::random_hex(32).map_err(ApiError::internal)?;
        let now = self.inner.clock.now();
        let session = SignIn {
            user: UserId::from(user),
            csrf,
            // Stored to the millisecond: the answer shows what is kept.
            expires: chrono::SubsecRound::trunc_subsecs(now + self.inner.ttl, 3),
        };
        self.inner
            .sessions
            .insert(&password::token_digest(&secret), &session, now)
            .await
            .map_err(unavailable)?;
        Ok((secret, session))
    }

    /// Ends the session of cookie `secret`; with `everywhere`, every
    /// session of its user.
    async fn revoke(&self, secret: &str, everywhere: bool) -> Result<(), ApiError> {
        self.inner
            .sessions
            .remove(&password::token_digest(secret), everywhere)
            .await
            .map_err(unavailable)
    }

    /// The live session of cookie `secret`.
    async fn session(&self, secret: &str) -> Result<Option<SignIn>, ApiError> {
        self.inner
            .sessions
            .get(&password::token_digest(secret), self.inner.clock.now())
            .await
            .map_err(unavailable)
    }

    /// Resolves the acting user of a request.
    pub async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(UserId, Via), ApiError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::unauthenticated("Authorization must be `Bearer <API token>`")
                })?;
            return self
                .inner
                .tokens
                .get(&password::token_digest(token))
                .map(|u| (u.clone(), Via::Token))
                .ok_or_else(|| ApiError::unauthenticated("unknown API token"));
        }
        if let Some(id) = session_cookie(headers) {
            let Some(session) = self.session(id).await? else {
                return Err(ApiError::unauthenticated(
                    "the session expired or was signed out: sign in again",
                ));
            };
            if !is_safe(method) {
                let sent = headers
                    .get(CSRF_HEADER)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                if !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
                    return Err(ApiError::csrf(
                        "missing or wrong X-CSRF-Token: send the token sign-in returned \
                         (GET /api/auth/me shows it)",
                    ));
                }
            }
            return Ok((session.user, Via::Session));
        }
        if self.inner.trust_user_header {
            if let Some(user) = headers
                .get(USER_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return Ok((UserId::from(user), Via::TrustedHeader));
            }
        }
        Err(ApiError::unauthenticated(
            "not signed in: sign in at POST /api/auth/sign-in or send \
             `Authorization: Bearer <API token>`",
        ))
    }

    /// Counts a sign-in attempt for `user` from `addr`; refused with 429
    /// once either has used its attempts for now.
    fn count_attempt(&self, user: &str, addr: Option<IpAddr>) -> Result<(), ApiError> {
        use governor::clock::{Clock as _, DefaultClock};
        let inner = &self.inner;
        // Forget keys whose attempts have fully replenished, so guessing
        // many names cannot grow the maps without bound.
        if inner.per_account.len() > 4096 {
            inner.per_account.retain_recent();
        }
        if inner.per_address.len() > 4096 {
            inner.per_address.retain_recent();
        }
        let refused = match addr {
            Some(addr) => inner.per_address.check_key(&addr).err(),
            None => None,
        }
        .or_else(|| inner.per_account.check_key(&user.to_owned()).err());
        match refused {
            None => Ok(()),
            Some(not_until) => {
                inner.metrics.sign_in("limited");
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                tracing::warn!(user, addr = ?addr, "sign-in attempts over the limit");
                Err(ApiError::too_many(
                    "too many sign-in attempts: wait and try again",
                    wait,
                ))
            }
        }
    }
}

/// The sign-in table failed: 503, try again.
fn unavailable(e: sign_ins::SignInsError) -> ApiError {
    tracing::warn!(error = %e, "sign-in sessions unavailable");
    ApiError::unavailable("sign-in sessions cannot be read now; try again")
}

/// GET, HEAD and OPTIONS change nothing and need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session id in the request's cookies.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// State that holds an [`Auth`].
pub trait HasAuth {
    /// The credentials.
    fn auth(&self) -> &Auth;
}

impl HasAuth for Auth {
    fn auth(&self) -> &Auth {
        self
    }
}

impl<S: HasAuth + Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (user, _) = state
            .auth()
            .authenticate(&parts.method, &parts.headers)
            .await?;
        Ok(Actor(user))
    }
}

/// The client address of a request, when the server recorded it.
fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ClientAddr>().map(|a| a.0.ip())
}
