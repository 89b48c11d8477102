//! What handlers read from a request: who is asking, the JSON body, the query and the
//! `Prefer` header.

mod body;
mod current_user;
mod prefer;
mod query;

pub use body::{decode, Body, MAX_BODY_BYTES};
pub use current_user::CurrentUser;
pub use prefer::{prefers_minimal, PREFERENCE_APPLIED, RETURN_MINIMAL};
pub use query::{optional, read_query, required, whole_number, PageQuery, DEFAULT_LIMIT, MAX_LIMIT};
