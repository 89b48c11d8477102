//! Refuses a request beyond its client address's rate, before anything else is done for it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;

/// The middleware (`from_fn`): the address is the one behind the trusted proxies.
pub async fn limit_addresses(
    state: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(peer) = req.peer_addr() {
        state.rate_limits.check_address(state.trusted_proxies.client_address(peer.ip(), req.headers()))?;
    }
    next.call(req).await
}
