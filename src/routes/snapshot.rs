//! Answers a page's snapshot as JSON with an `ETag`, or 304 when the client has it already,
//! or 204 with the tag alone when the client prefers `return=minimal`.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::etag::ETag;
use super::prefer::{PREFERENCE_APPLIED, RETURN_MINIMAL};
use crate::domain::{PagePath, UserId};
use crate::error::{ApiError, Result};
use crate::snapshot_cache::BuiltSnapshot;
use crate::state::AppState;
use crate::store::Version;

/// Snapshots are per caller, and change without notice.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, no-cache");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

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
    let built = built(state, page, version).await?;
    let view = built.view(caller, limit);
    let etag = view.etag();
    if req.method() == Method::GET && etag.held_by(req) {
        return Ok(tagged(StatusCode::NOT_MODIFIED, etag).finish());
    }
    Ok(tagged(StatusCode::OK, etag).insert_header((header::CONTENT_TYPE, JSON)).body(view.body()))
}

/// 204 with the `ETag` that [`respond`] would send, for a client that prefers
/// `return=minimal`: the body is never built.
pub async fn respond_minimal(
    state: &AppState,
    page: &PagePath,
    version: Version,
    caller: &UserId,
    limit: usize,
) -> Result<HttpResponse> {
    let etag = built(state, page, version).await?.view(caller, limit).etag();
    Ok(tagged(StatusCode::NO_CONTENT, etag).insert_header((PREFERENCE_APPLIED, RETURN_MINIMAL)).finish())
}

async fn built(state: &AppState, page: &PagePath, version: Version) -> Result<Arc<BuiltSnapshot>> {
    state.snapshots.get(&*state.store, &state.directory, page, version).await.map_err(ApiError::Unavailable)
}

fn tagged(status: StatusCode, etag: ETag) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ETAG, etag.header_value())).insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    response
}
