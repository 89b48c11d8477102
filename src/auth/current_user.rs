//! `CurrentUser`: the extractor every presence handler starts with. Fails closed.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::TypedSession;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::profile_sync;
use crate::state::AppState;

/// The caller, from `Authorization: Bearer <jwt>` if the request has one, else from the
/// session cookie. A bearer token's profile is written to the directory, so a client that
/// never opens a session still shows up with its name. Each request counts against the
/// user's rate limit.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub UserId);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned().expect("AppState is registered");
        let bearer = bearer_token(req);
        let session_user =
            TypedSession::from_request(req, &mut Payload::None).into_inner().ok().and_then(|s| s.user_id());
        Box::pin(async move {
            match bearer? {
                Some(token) => {
                    let profile = state.tokens.verify(&token)?;
                    // Before the profile is saved, so a flood never reaches the directory.
                    state.rate_limits.check_user(&profile.id)?;
                    let profile = profile_sync::save(&state, profile).await?;
                    Ok(CurrentUser(profile.id.clone()))
                }
                None => {
                    let user = session_user.ok_or_else(|| {
                        ApiError::Unauthorized(
                            "sign in first: open a session with POST /api/session, or send Authorization: Bearer <jwt>"
                                .into(),
                        )
                    })?;
                    state.rate_limits.check_user(&user)?;
                    Ok(CurrentUser(user))
                }
            }
        })
    }
}

/// The token of an `Authorization: Bearer` header; any other scheme is refused rather
/// than silently falling back to the cookie.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    match token {
        Some(token) => Ok(Some(token.to_owned())),
        None => Err(ApiError::Unauthorized("the Authorization header must be `Bearer <jwt>`".into())),
    }
}
