//! Who is asking: a session cookie or a JWT the host app signed, never the request body;
//! and whether a cookie-carrying request comes from a page allowed to send it.

mod bearer;
mod origin;
mod redis_sessions;
mod session;
mod session_store;
mod token;

pub use bearer::bearer_token;
pub use origin::{refuse_foreign_origins, OriginCheck};
pub use session::TypedSession;
pub use session_store::{RedisSessions, SessionStorage};
pub use token::{mint, TokenVerifier};
