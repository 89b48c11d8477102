//! `GET /metrics`: this instance's metrics for Prometheus to scrape.

use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::metrics::{StoreOperation, CONTENT_TYPE};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(scrape)));
}

/// `getMetrics`: every metric of this instance, with the live tabs and pages read from the
/// registry now. Unauthenticated, and aggregates only: no page, user or tab is named.
async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let live = match state.store.page_counts().await {
        Ok(pages) => Some(pages),
        // The other metrics matter most while a store is down, so they are answered
        // without the live counts rather than not at all.
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "serving the metrics without the live counts");
            state.metrics.store_failed(StoreOperation::Scrape);
            None
        }
    };
    let text = state.metrics.render(live.as_deref()).map_err(|error| ApiError::Internal(error.into()))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}
