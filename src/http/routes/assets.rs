//! Files compiled into the binary: the browser client, its types, the demo page and the
//! OpenAPI description of this API.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::snapshot::ETag;

pub const OPENAPI_YAML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"));
const PRESENCE_JS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/js/presence.js"));
const PRESENCE_D_TS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/js/presence.d.ts"));
const DEMO_HTML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/demo.html"));
const DEMO_JS: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/demo.js"));
/// The client files' tags, hashed once: the files are fixed for the life of the binary.
static PRESENCE_JS_TAG: LazyLock<ETag> = LazyLock::new(|| ETag::of(PRESENCE_JS.as_bytes()));
static PRESENCE_D_TS_TAG: LazyLock<ETag> = LazyLock::new(|| ETag::of(PRESENCE_D_TS.as_bytes()));
static DEMO_JS_TAG: LazyLock<ETag> = LazyLock::new(|| ETag::of(DEMO_JS.as_bytes()));

/// The client's URL carries no version, so browsers keep it a day and then revalidate
/// with the ETag: an upgrade reaches every tab within a day at the cost of one 304.
const CLIENT_CACHE: &str = "public, max-age=86400";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(demo)))
        .service(web::resource("/demo.js").route(web::get().to(demo_js)))
        .service(web::resource("/presence.js").route(web::get().to(presence_js)))
        .service(web::resource("/presence.d.ts").route(web::get().to(presence_d_ts)))
        .service(web::resource("/openapi.yaml").route(web::get().to(openapi)));
}

/// `getDemo`: a page that shows who else is here, built on `/presence.js`.
async fn demo() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(DEMO_HTML)
}

/// `getDemoScript`: the demo page's script, an ES module.
async fn demo_js(req: HttpRequest) -> HttpResponse {
    cached(&req, "text/javascript; charset=utf-8", DEMO_JS, *DEMO_JS_TAG)
}

/// `getClient`: the browser client, an ES module.
async fn presence_js(req: HttpRequest) -> HttpResponse {
    cached(&req, "text/javascript; charset=utf-8", PRESENCE_JS, *PRESENCE_JS_TAG)
}

/// `getClientTypes`: TypeScript declarations of the browser client.
async fn presence_d_ts(req: HttpRequest) -> HttpResponse {
    cached(&req, "application/typescript; charset=utf-8", PRESENCE_D_TS, *PRESENCE_D_TS_TAG)
}

/// `getOpenApi`: the repository's `openapi.yaml`, as is.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(OPENAPI_YAML)
}

fn cached(req: &HttpRequest, content_type: &str, body: &'static str, etag: ETag) -> HttpResponse {
    let fresh = etag.held_by(req.headers());
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::ETAG, etag.header_value())).insert_header((header::CACHE_CONTROL, CLIENT_CACHE));
    if fresh {
        return response.finish();
    }
    response.content_type(content_type).body(body)
}
