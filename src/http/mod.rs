//! The HTTP face of the service: routes, what they extract from a request, how a snapshot
//! is answered, and the middleware around them. Everything here works through
//! `state::AppState`; nothing below this module knows of HTTP requests.

pub mod extract;
pub mod middleware;
pub mod routes;
mod snapshot_answer;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

/// Every route group, and problem+json for any path none of them has.
pub fn configure(cfg: &mut web::ServiceConfig, dev_login: bool) {
    cfg.configure(routes::presence::configure)
        .configure(routes::stream::configure)
        .configure(routes::stats::configure)
        .configure(|cfg| routes::session::configure(cfg, dev_login))
        .configure(routes::health::configure)
        .configure(routes::metrics::configure)
        .configure(routes::assets::configure);
    // Only in the load test's build: the baseline route its figures are ratios to.
    #[cfg(feature = "bench-baseline")]
    cfg.configure(routes::bench::configure);
    cfg.default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("there is no {} on this server", req.path())))
}
