//! Answers a page's snapshot as JSON with an `ETag`, or 304 when the client has it already,
//! or 204 with the tag alone when the client prefers `return=minimal`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::extract::{PREFERENCE_APPLIED, RETURN_MINIMAL};
use crate::domain::{PagePath, UserId, Version};
use crate::error::{ApiError, Result};
use crate::snapshot::ETag;
use crate::state::AppState;

/// Snapshots are per caller, and change without notice.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, no-cache");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// What a snapshot answer carries.
pub enum Answer {
    /// The snapshot, or a 304 to a GET whose `If-None-Match` holds it.
    Snapshot,
    /// 204 with the tag alone, for a client that prefers `return=minimal`.
    TagOnly,
}

/// The page's snapshot at `version` as `caller` sees it, at most `limit` viewers, tagged
/// with its `ETag`. The body is built only when it is sent: not for a 304 (which only a
/// GET gets, as a 304 only answers reads) nor for a tag-only answer.
pub async fn respond(
    req: &HttpRequest,
    state: &AppState,
    page: &PagePath,
    version: Version,
    caller: &UserId,
    limit: usize,
    answer: Answer,
) -> Result<HttpResponse> {
    let view = state
        .snapshots
        .view(&*state.store, &state.directory, page, version, caller, limit)
        .await
        .map_err(ApiError::Unavailable)?;
    let etag = view.etag();
    if let Answer::TagOnly = answer {
        return Ok(tagged(StatusCode::NO_CONTENT, etag).insert_header((PREFERENCE_APPLIED, RETURN_MINIMAL)).finish());
    }
    if req.method() == Method::GET && etag.held_by(req.headers()) {
        return Ok(tagged(StatusCode::NOT_MODIFIED, etag).finish());
    }
    Ok(tagged(StatusCode::OK, etag).insert_header((header::CONTENT_TYPE, JSON)).body(view.body()))
}

fn tagged(status: StatusCode, etag: ETag) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::ETAG, etag.header_value())).insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    response
}
