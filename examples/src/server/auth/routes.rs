//! `POST /api/auth/sign-in`, `POST /api/auth/sign-out`, `GET /api/auth/me`.

use super::{client_ip, password, Auth, SESSION_COOKIE};
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The sign-in routes; request bodies over `max_body` bytes get 413.
pub fn router(auth: Auth, max_body: usize) -> Router {
    Router::new()
        .route("/api/auth/sign-in", post(sign_in))
        .route("/api/auth/sign-out", post(sign_out))
        .route("/api/auth/me", get(me))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(auth)
}

/// The body of `POST /api/auth/sign-in`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignInRequest {
    /// The user id.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Who is signed in, and the token state-changing requests must send in
/// `X-CSRF-Token`; or, from `GET /api/auth/me`, that nobody is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedInAs {
    /// Whether the request is signed in; when `false` only `reason` is
    /// given.
    pub signed_in: bool,
    /// The user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// How the request authenticated: `session`, `token` or
    /// `trusted_header`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    /// The CSRF token (cookie sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// When the session ends (cookie sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the request is not signed in (signed out only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn cookie(auth: &Auth, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = if auth.inner.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::internal(format!("cannot build the session cookie: {e}")))
}

#[utoipa::path(
    post,
    path = "/api/auth/sign-in",
    tag = "auth",
    description = "Signs in with a password; sets the `chatlines_session` cookie (HttpOnly, SameSite=Strict).",
    request_body = SignInRequest,
    responses(
        (status = 200, description = "signed in; the cookie is set", body = SignedInAs),
        (status = 401, description = "wrong user or password", body = crate::openapi::ErrorBody),
        (status = 413, description = "the body is over the limit", body = crate::openapi::ErrorBody),
        (status = 429, description = "too many attempts; see Retry-After", body = crate::openapi::ErrorBody)
    ),
    security(())
)]
pub(crate) async fn sign_in(
    State(auth): State<Auth>,
    parts: Parts,
    body: Result<Json<SignInRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::body(&e))?;
    auth.count_attempt(&request.user, client_ip(&parts))?;
    // An unknown user costs the same verification as a known one, so the
    // answer's timing does not tell which users exist.
    let known = auth.inner.passwords.get(&request.user).cloned();
    let reference = known
        .clone()
        .or_else(|| auth.inner.passwords.values().next().cloned());
    let matches = match reference {
        Some(hash) => {
            let password = request.password.clone();
            tokio::task::spawn_blocking(move || password::verify(&password, &hash))
                .await
                .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?
        }
        None => false,
    };
    if !(matches && known.is_some()) {
        tracing::info!(user = %request.user, "sign-in refused");
        auth.inner.metrics.sign_in("refused");
        return Err(ApiError::unauthenticated("wrong user or password"));
    }
    let (id, session) = auth.open_session(&request.user).await?;
    tracing::info!(user = %request.user, "signed in");
    auth.inner.metrics.sign_in("ok");
    let set_cookie = cookie(&auth, &id, auth.inner.ttl.num_seconds())?;
    let body = SignedInAs {
        signed_in: true,
        user: Some(request.user),
        via: Some(super::Via::Session.as_str()),
        csrf_token: Some(session.csrf),
        expires_at: Some(session.expires),
        reason: None,
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie);
    Ok(response)
}

/// Query of `POST /api/auth/sign-out`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignOutQuery {
    /// End every session of the user, not only this one.
    #[serde(default)]
    pub everywhere: bool,
}

#[utoipa::path(
    post,
    path = "/api/auth/sign-out",
    tag = "auth",
    description = "Ends the cookie session (with `everywhere`, every session of the user).",
    params(SignOutQuery),
    responses(
        (status = 204, description = "signed out; the cookie is cleared"),
        (status = 400, description = "the request has no cookie session", body = crate::openapi::ErrorBody),
        (status = 401, description = "not signed in", body = crate::openapi::ErrorBody),
        (status = 403, description = "the CSRF token is missing", body = crate::openapi::ErrorBody)
    ),
    security(("session_cookie" = [], "csrf_token" = []))
)]
pub(crate) async fn sign_out(
    State(auth): State<Auth>,
    parts: Parts,
    Query(q): Query<SignOutQuery>,
) -> Result<Response, ApiError> {
    // Signing out is state-changing: the session must be valid and the
    // CSRF token present.
    let (user, via) = auth.authenticate(&parts.method, &parts.headers).await?;
    if via != super::Via::Session {
        return Err(ApiError::bad_request(
            "sign-out ends a cookie session; this request has none",
        ));
    }
    if let Some(id) = super::session_cookie(&parts.headers) {
        auth.revoke(id, q.everywhere).await?;
    }
    tracing::info!(user = %user, everywhere = q.everywhere, "signed out");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&auth, "", 0)?);
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    description = "Who the request acts as, and the session's CSRF token. A request without \
                   credentials, or with a session cookie that expired or was signed out, is \
                   answered 200 with `signed_in: false` and the `reason` (and an expired \
                   cookie is cleared), so a page can ask before it signs in; a wrong API \
                   token is refused with 401.",
    responses(
        (status = 200, description = "the acting user, or `signed_in: false`", body = SignedInAs),
        (status = 401, description = "the API token is wrong", body = crate::openapi::ErrorBody)
    ),
    security((), ("session_cookie" = []), ("api_token" = []), ("trusted_user_header" = []))
)]
pub(crate) async fn me(State(auth): State<Auth>, parts: Parts) -> Result<Response, ApiError> {
    let (user, via) = match auth.authenticate(&parts.method, &parts.headers).await {
        Ok(found) => found,
        // Scripts that send a token want to know it is wrong.
        Err(e) if parts.headers.contains_key(header::AUTHORIZATION) => return Err(e),
        Err(e) => {
            let body = SignedInAs {
                signed_in: false,
                user: None,
                via: None,
                csrf_token: None,
                expires_at: None,
                reason: Some(e.message().to_owned()),
            };
            let mut response = Json(body).into_response();
            if super::session_cookie(&parts.headers).is_some() {
                response
                    .headers_mut()
                    .insert(header::SET_COOKIE, cookie(&auth, "", 0)?);
            }
            return Ok(response);
        }
    };
    let session = match super::session_cookie(&parts.headers) {
        Some(id) if via == super::Via::Session => auth.session(id).await?,
        _ => None,
    };
    Ok(Json(SignedInAs {
        signed_in: true,
        user: Some(user.to_string()),
        via: Some(via.as_str()),
        csrf_token: session.as_ref().map(|s| s.csrf.clone()),
        expires_at: session.map(|s| s.expires),
        reason: None,
    })
    .into_response())
}
