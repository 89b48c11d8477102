//! Entity tags: a tag per exact body, and whether the client already holds it.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use actix_web::http::header::{EntityTag, IfNoneMatch};
use actix_web::{HttpMessage, HttpRequest};

/// A strong tag that changes exactly when the bytes do.
pub fn etag_of(body: &[u8]) -> EntityTag {
    EntityTag::new_strong(format!("{:016x}", BuildHasherDefault::<DefaultHasher>::default().hash_one(body)))
}

/// Whether the request's `If-None-Match` names `etag` (or `*`).
pub fn client_has(req: &HttpRequest, etag: &EntityTag) -> bool {
    match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(etag)),
        None => false,
    }
}
