//! Files compiled into the binary: the OpenAPI description of this API.

use actix_web::{web, HttpResponse};

pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.yaml").route(web::get().to(openapi)));
}

/// `getOpenApi`: the repository's `openapi.yaml`, as is.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml").body(OPENAPI_YAML)
}
