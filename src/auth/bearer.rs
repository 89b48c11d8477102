//! The token of an `Authorization: Bearer` header, the way every caller but a browser on
//! its session cookie says who it is.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

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
