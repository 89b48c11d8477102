//! `POST /bench/baseline`: the floor that `bench/run.sh` measures every route against.
//!
//! Compiled only with the `bench-baseline` cargo feature (off by default), so a normal build
//! has no such route and `openapi.yaml` does not document it. It reads the same
//! `{pagePath, tabId, isEditing}` body as a heartbeat, through the same `Body` extractor,
//! and answers 200 without touching the registry, the directory or the session. Being
//! wired in `Application::build` like every other group, it runs behind the same
//! middleware (tracing, request id, error handlers, sessions), so a route's ratio to it is
//! what that route costs beyond the HTTP stack and the JSON body.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::body::Body;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/bench/baseline").route(web::post().to(baseline)));
}

/// A heartbeat's body, parsed and not checked further.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BaselineRequest {
    page_path: Option<String>,
    tab_id: Option<String>,
    is_editing: Option<bool>,
}

/// `benchBaseline` (not in `openapi.yaml`): parses the body and answers a tiny JSON.
async fn baseline(body: Body<BaselineRequest>) -> HttpResponse {
    let BaselineRequest { page_path, tab_id, is_editing } = body.0;
    let ok = page_path.is_some() && tab_id.is_some();
    HttpResponse::Ok().json(serde_json::json!({"ok": ok, "isEditing": is_editing.unwrap_or(false)}))
}
