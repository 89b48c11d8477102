//! Answers a page's snapshot as JSON with an `ETag`, or 304 when the client has it already.

use actix_web::http::header;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use super::etag::{client_has, etag_of};
use crate::domain::{PagePath, Snapshot, UserId};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::PagePresence;

/// Builds the snapshot `caller` sees; a GET whose `If-None-Match` holds it gets a 304 (a
/// POST always gets its snapshot, as a 304 only answers reads). The ETag is a hash of the exact bytes, so it changes
/// exactly when the content does (including `isCurrentUser`, which differs per caller).
pub async fn respond(
    req: &HttpRequest,
    state: &AppState,
    page: &PagePath,
    presence: &PagePresence,
    caller: &UserId,
) -> Result<HttpResponse> {
    let profiles = state
        .directory
        .profiles(presence.viewers.iter().map(|viewer| &viewer.user))
        .await
        .map_err(ApiError::Unavailable)?;
    let snapshot = Snapshot::new(page, presence, &profiles, caller, state.timing);
    let body = serde_json::to_vec(&snapshot).map_err(|e| ApiError::Internal(e.into()))?;
    let etag = etag_of(&body);
    let cache_control = (header::CACHE_CONTROL, "private, no-cache");
    if req.method() == Method::GET && client_has(req, &etag) {
        return Ok(HttpResponse::NotModified().insert_header(header::ETag(etag)).insert_header(cache_control).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag))
        .insert_header(cache_control)
        .content_type("application/json")
        .body(body))
}
