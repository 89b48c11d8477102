//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
}

/// `healthz`: the process answers.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `readyz`: the stores this instance needs answer too: the database, and Redis if the
/// registry is there.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse> {
    state.directory.ping().await.map_err(ApiError::Unavailable)?;
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}
