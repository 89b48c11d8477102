//! CORS (actix-cors) for the host apps on other origins that `PRESENCE_ALLOWED_ORIGINS`
//! names; none is set up when it names none.

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};
use actix_web::http::Method;

/// CORS for exactly the allowed origins, with credentials (the session cookie), the request
/// headers the API reads and the response headers a client needs to see.
pub fn cors(allowed_origins: &[String]) -> Cors {
    allowed_origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .supports_credentials()
        .allowed_methods([Method::GET, Method::POST, Method::DELETE])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            HeaderName::from_static("prefer"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("preference-applied"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
}
