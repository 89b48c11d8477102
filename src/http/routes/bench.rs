//! `POST /bench/baseline`: the floor that `loadtest/run.sh` measures every route against.
//!
//! Compiled only with the `bench-baseline` cargo feature (off by default), so a normal build
//! has no such route and `openapi.yaml` does not document it. It reads the same
//! `{pagePath, tabId, isEditing}` body as a heartbeat, through the same `Body` extractor,
//! and answers 200 without touching the registry, the directory or the session. Being
//! wired in `Application::build` like every other group, it runs behind the same
//! middleware (tracing, request id, error handlers, sessions), so a route's ratio to it is
//! what that route costs beyond the HTTP stack and the JSON body.
//!
//! `?bytes=N` pads the answer to N bytes, written on every request as a handler that
//! copies its answer does: the floor of a route that answers that much (a heartbeat's
//! snapshot, say).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::error::{ApiError, Result};
use crate::http::extract::Body;
use crate::http::extract::{optional, read_query, whole_number};

/// The largest padded answer: far above any snapshot (1000 viewers are about 190 KB).
pub const MAX_BYTES: usize = 1 << 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/bench/baseline").route(web::post().to(baseline)));
}

/// A heartbeat's body, parsed and not checked further.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineRequest {
    page_path: Option<String>,
    tab_id: Option<String>,
    is_editing: Option<bool>,
}

impl BaselineRequest {
    /// The tiny JSON the baseline answers (the load test's bare actix-web app answers it too).
    pub fn answer(self) -> serde_json::Value {
        let ok = self.page_path.is_some() && self.tab_id.is_some();
        serde_json::json!({"ok": ok, "isEditing": self.is_editing.unwrap_or(false)})
    }
}

#[derive(Deserialize)]
struct SizeQuery {
    bytes: Option<String>,
}

/// `benchBaseline` (not in `openapi.yaml`): parses the body and answers a tiny JSON, or
/// one of `?bytes=N` bytes.
async fn baseline(req: HttpRequest, body: Body<BaselineRequest>) -> Result<HttpResponse> {
    let query: SizeQuery = read_query(req.query_string())?;
    let bytes = optional("bytes", query.bytes, None, |raw| whole_number(raw, 0..=MAX_BYTES).map(Some))
        .map_err(|error| ApiError::Validation(vec![error]))?;
    let answer = body.0.answer();
    let Some(bytes) = bytes else {
        return Ok(HttpResponse::Ok().json(answer));
    };
    Ok(HttpResponse::Ok().content_type("application/json").body(padded(&answer, bytes)))
}

/// `answer` with a `padding` string that makes it `bytes` long (or just long enough for
/// the field, when `bytes` is less).
pub fn padded(answer: &serde_json::Value, bytes: usize) -> Vec<u8> {
    let mut json = answer.to_string().into_bytes();
    json.pop(); // its closing brace
    json.extend_from_slice(br#","padding":""#);
    json.resize(bytes.saturating_sub(2).max(json.len()), b'x');
    json.extend_from_slice(br#""}"#);
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_the_answer_to_the_asked_size() {
        let answer = serde_json::json!({"ok": true, "isEditing": false});
        let shortest = padded(&answer, 0).len();
        for bytes in [0, 10, shortest, shortest + 1, 19_000] {
            let json = padded(&answer, bytes);
            let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(parsed["ok"], true, "{bytes} bytes");
            assert_eq!(json.len(), bytes.max(shortest), "{bytes} bytes");
        }
    }
}
