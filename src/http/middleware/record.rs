//! Counts and times every request in the metrics, by route pattern and status, and every
//! problem answer by its reason.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::error::{ApiError, Rejection};
use crate::state::AppState;

/// The middleware (`from_fn`): the reason of a problem answer is the one
/// `ApiError::error_response` (or `framework_error_to_problem`) left on it.
pub async fn record_requests(
    state: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    let started = Instant::now();
    // Read before the call: a middleware inside may fail before routing, and the request is
    // gone with its error.
    let route = req.match_pattern();
    let method = req.method().clone();
    let outcome = next.call(req).await;
    let (status, rejection) = match &outcome {
        Ok(response) => (response.status(), response.response().extensions().get::<Rejection>().copied()),
        // An inner middleware's error (the session store failing): the server makes the
        // answer from it after this, so its reason comes from the error itself.
        Err(error) => {
            let status = error.as_response_error().status_code();
            (
                status,
                Some(error.as_error::<ApiError>().map_or_else(|| Rejection::of_status(status), ApiError::rejection)),
            )
        }
    };
    state.metrics.record_request(method.as_str(), route, status, started.elapsed(), rejection);
    outcome
}
