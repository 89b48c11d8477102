//! Who is asking: a session cookie or a JWT the host app signed, never the request body.

mod current_user;
mod session;
mod session_store;
mod token;

pub use current_user::{bearer_token, CurrentUser};
pub use session::TypedSession;
pub use session_store::SessionStorage;
pub use token::{mint, TokenVerifier};
