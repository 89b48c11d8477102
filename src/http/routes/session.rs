//! Sessions: trade a host-app JWT (or, in development, a plain profile) for a cookie.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::auth::{bearer_token, TypedSession};
use crate::domain::{Profile, ProfileFields};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::Body;
use crate::http::extract::CurrentUser;
use crate::state::AppState;

/// Wires the session routes; `/api/session/dev` exists only when `dev_login` is on.
pub fn configure(cfg: &mut web::ServiceConfig, dev_login: bool) {
    cfg.service(
        web::resource("/api/session")
            .route(web::post().to(sign_in))
            .route(web::get().to(who_am_i))
            .route(web::delete().to(sign_out)),
    );
    if dev_login {
        cfg.service(web::resource("/api/session/dev").route(web::post().to(dev_sign_in)));
    }
}

#[derive(Deserialize)]
struct SignInRequest {
    token: Option<String>,
}

#[derive(Serialize)]
struct UserResponse<'a> {
    user: &'a Profile,
}

/// `createSession`: verifies the host app's JWT (bearer header or `{token}`) and opens a session.
#[tracing::instrument(name = "sign in", skip_all)]
async fn sign_in(
    req: HttpRequest,
    body: Body<Option<SignInRequest>>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let token = match (bearer_token(&req)?, body.0.and_then(|body| body.token)) {
        (Some(token), _) | (None, Some(token)) => token,
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "send the host app's JWT as Authorization: Bearer <jwt> or as {\"token\": \"<jwt>\"}".into(),
            ))
        }
    };
    let profile = state.tokens.verify(&token)?;
    open_session(profile, &session, &state).await
}

/// `devSession`: signs in as whoever the body says. Only when PRESENCE_DEV_LOGIN=true.
#[tracing::instrument(name = "dev sign in", skip_all)]
async fn dev_sign_in(
    body: Body<ProfileFields>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    if body.0.name.is_none() {
        return Err(ApiError::Validation(vec![FieldError { field: "name".into(), message: "is required".into() }]));
    }
    let profile = Profile::try_from(body.0)?;
    open_session(profile, &session, &state).await
}

async fn open_session(profile: Profile, session: &TypedSession, state: &AppState) -> Result<HttpResponse> {
    // Waits for the write, unlike a bearer request: a sign-in is answered once it is stored.
    let profile = state.save_profile_and_wait(profile).await?;
    session.sign_in(&profile.id).map_err(|e| ApiError::Internal(e.into()))?;
    tracing::info!(user = %profile.id, "session opened");
    Ok(HttpResponse::Ok().json(UserResponse { user: &profile }))
}

/// `getSession`: who the session (or bearer token) belongs to.
async fn who_am_i(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse> {
    let profile = state.directory.profile(&user.0).await.map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(UserResponse { user: &profile }))
}

/// `deleteSession`: ends the session; ending none is fine too.
async fn sign_out(session: TypedSession) -> HttpResponse {
    session.sign_out();
    HttpResponse::NoContent().finish()
}
