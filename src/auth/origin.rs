//! The origin check: a request that rides on the session cookie to change something, sent by
//! a page of a foreign origin, is refused with 403 before the session or a handler sees it.
//!
//! Browsers attach the cookie to cross-site form posts and beacons (and to every request
//! once the cookie is `SameSite=None`), so the cookie alone does not prove the user meant it;
//! the `Origin` header, which a page cannot forge, does. A request with
//! `Authorization: Bearer` is exempt: a page can only send that header cross-origin after a
//! preflight, which this check refuses to foreign origins too.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use super::bearer_token;
use crate::configuration::Settings;
use crate::error::ApiError;

/// The origins whose pages may use the session cookie to change state.
pub struct OriginCheck {
    /// The scheme of the service's own origin: https when cookies are Secure (a Secure
    /// cookie only ever reaches an https page), http when `PRESENCE_COOKIE_SECURE=false`.
    /// The connection's own scheme is no guide behind a proxy that terminates TLS.
    own_scheme: &'static str,
    /// `PRESENCE_ALLOWED_ORIGINS`, already in the form browsers send.
    allowed: Vec<String>,
}

impl OriginCheck {
    pub fn from_settings(settings: &Settings) -> Self {
        let own_scheme = if settings.cookie_secure { "https" } else { "http" };
        Self { own_scheme, allowed: settings.allowed_origins.clone() }
    }

    /// Refuses a state change (any method but GET, HEAD, OPTIONS and TRACE) that does not
    /// carry a bearer token, and a CORS preflight, when they come from a foreign origin.
    /// Without `Origin` (curl, servers, old browsers' same-origin posts) only
    /// `Sec-Fetch-Site: cross-site` is refused: browsers that send it also send `Origin`, so
    /// it is a belt to the braces.
    fn check(&self, req: &ServiceRequest) -> Result<(), ApiError> {
        let headers = req.headers();
        let preflight = req.method() == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let cookie_change = !req.method().is_safe() && !matches!(bearer_token(req.request()), Ok(Some(_)));
        if !preflight && !cookie_change {
            return Ok(());
        }
        let own = format!("{}://{}", self.own_scheme, req.connection_info().host());
        match headers.get(header::ORIGIN) {
            Some(origin) if self.allows(origin, &own) => Ok(()),
            Some(origin) => Err(ApiError::CrossSite(format!(
                "{} is neither this service's origin ({own}) nor in PRESENCE_ALLOWED_ORIGINS, so its pages may \
                 not change anything here with the session cookie: if it is your app, add it to \
                 PRESENCE_ALLOWED_ORIGINS; other clients can send Authorization: Bearer <jwt>",
                String::from_utf8_lossy(origin.as_bytes())
            ))),
            None if headers.get("sec-fetch-site").is_some_and(|site| site == "cross-site") => Err(ApiError::CrossSite(
                "a cross-site request may not change anything here with the session cookie: call from this \
                     service's origin or one in PRESENCE_ALLOWED_ORIGINS, or send Authorization: Bearer <jwt>"
                    .into(),
            )),
            None => Ok(()),
        }
    }

    fn allows(&self, origin: &HeaderValue, own: &str) -> bool {
        let origin = origin.as_bytes();
        std::iter::once(own)
            .chain(self.allowed.iter().map(String::as_str))
            .any(|allowed| origin.eq_ignore_ascii_case(allowed.as_bytes()))
    }
}

/// The middleware (`from_fn`): answers the refusal as problem+json, or passes the request on.
pub async fn refuse_foreign_origins(
    check: web::Data<OriginCheck>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    match check.check(&req) {
        Ok(()) => next.call(req).await.map(ServiceResponse::map_into_left_body),
        Err(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
    }
}
