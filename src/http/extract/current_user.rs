//! `CurrentUser`: the extractor every presence handler starts with. Fails closed.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use anyhow::anyhow;
use futures_util::future::LocalBoxFuture;

use crate::auth::{bearer_token, TypedSession};
use crate::domain::UserId;
use crate::error::ApiError;
use crate::state::AppState;

/// The caller, from `Authorization: Bearer <jwt>` if the request has one, else from the
/// session cookie. A bearer token's profile is saved to the directory (written to SQL
/// behind the request), so a client that never opens a session still shows up with its
/// name. Each request counts against the user's rate limit.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub UserId);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer_token(req);
        let session_user =
            TypedSession::from_request(req, &mut Payload::None).into_inner().ok().and_then(|s| s.user_id());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow!("the app state is not registered")))?;
            match bearer? {
                Some(token) => {
                    let profile = state.tokens.verify(&token)?;
                    // Before the profile is saved, so a flood never reaches the directory.
                    state.rate_limits.check_user(&profile.id)?;
                    let profile = state.save_profile(profile).await?;
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
