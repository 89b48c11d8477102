//! The session middleware (actix-session), configured from the settings, and what its
//! store's failures answer.

use actix_session::config::CookieContentSecurity;
use actix_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use anyhow::{anyhow, Context};
use base64::Engine;
use secrecy::ExposeSecret;

use crate::auth::SessionStorage;
use crate::configuration::{CookieSameSite, Settings};
use crate::error::ApiError;

/// Sessions in `storage`, in an http-only cookie encrypted with `key`.
pub fn sessions(storage: SessionStorage, key: Key, settings: &Settings) -> SessionMiddleware<SessionStorage> {
    let same_site = match settings.cookie_same_site {
        CookieSameSite::Lax => SameSite::Lax,
        CookieSameSite::Strict => SameSite::Strict,
        CookieSameSite::None => SameSite::None,
    };
    SessionMiddleware::builder(storage, key)
        .cookie_name(settings.cookie_name.clone())
        .cookie_secure(settings.cookie_secure)
        .cookie_http_only(true)
        .cookie_same_site(same_site)
        .cookie_content_security(CookieContentSecurity::Private)
        .build()
}

/// The middleware (`from_fn`, just outside the sessions): actix-session answers a session
/// store that fails with a bare 500; that is a backing store that is down, so the client
/// is told to retry, as for the registry.
pub async fn session_store_down_is_unavailable(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    next.call(req).await.map_err(|error| ApiError::Unavailable(anyhow!("the session store failed: {error}")).into())
}

/// The key that signs and encrypts the cookie: `PRESENCE_SESSION_KEY`, or a random one.
pub fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    let Some(encoded) = &settings.session_key else {
        tracing::warn!("PRESENCE_SESSION_KEY is not set: using a random key, so sessions end when this process does");
        return Ok(Key::generate());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.expose_secret().trim())
        .context("PRESENCE_SESSION_KEY must be base64")?;
    Key::try_from(bytes.as_slice()).map_err(|_| anyhow!("PRESENCE_SESSION_KEY must decode to at least 64 bytes"))
}
