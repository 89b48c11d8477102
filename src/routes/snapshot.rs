//! Answers a page's snapshot as JSON with an `ETag`, or 304 when the client has it already.

use actix_web::http::header;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use super::etag::client_has;
use crate::domain::{PagePath, UserId};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::Version;

/// The page's snapshot at `version` as `caller` sees it, at most `limit` viewers. A GET
/// whose `If-None-Match` holds it gets a 304 without the body being built (a POST always
/// gets its snapshot, as a 304 only answers reads).
pub async fn respond(
    req: &HttpRequest,
    state: &AppState,
    page: &PagePath,
    version: Version,
    caller: &UserId,
    limit: usize,
) -> Result<HttpResponse> {
    let built =
        state.snapshots.get(&*state.store, &state.directory, page, version).await.map_err(ApiError::Unavailable)?;
    let etag = built.etag(caller, limit);
    let cache_control = (header::CACHE_CONTROL, "private, no-cache");
    if req.method() == Method::GET && client_has(req, &etag) {
        return Ok(HttpResponse::NotModified().insert_header(header::ETag(etag)).insert_header(cache_control).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(etag))
        .insert_header(cache_control)
        .content_type("application/json")
        .body(built.render(caller, limit)))
}
