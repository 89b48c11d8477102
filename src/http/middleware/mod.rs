//! The middleware every request passes, outermost first as `startup` wraps them: tracing,
//! the request id, the metrics, the per-address rate limit, the origin check
//! (`auth::refuse_foreign_origins`), CORS, problem+json for the framework's own errors,
//! and the sessions.

mod cors;
mod rate_limit;
mod record;
mod request_id;
mod session;

pub use cors::cors;
pub use rate_limit::limit_addresses;
pub use record::record_requests;
pub use request_id::echo_request_id;
pub use session::{session_key, session_store_down_is_unavailable, sessions};
