//! A bare actix-web app: the limit of any handler in this service, for `loadtest/run.sh`.
//!
//! It answers `POST /bench/baseline` as the service's own baseline route does
//! (`src/http/routes/bench.rs`, built with `--features bench-baseline`): it parses a
//! heartbeat's `{pagePath, tabId, isEditing}` body and answers a small JSON, padded to N
//! bytes with `?bytes=N`. But it has no middleware at all (no tracing, request id, metrics,
//! rate limit, origin check, error handlers or sessions), actix-web's own `web::Json`
//! extractor and nothing else of the service but the baseline's body and answer, so the load driver's "× bare actix-web"
//! column is each figure against what actix-web alone does on the same machine and run.
//! Two workers and jemalloc, like the service on the load test's machine.
//!
//! ```sh
//! cargo build --release --features bench-baseline --example bare_baseline
//! target/release/examples/bare_baseline 8099     # or BARE_BASELINE_PORT=8099; on 127.0.0.1 only
//! ```

use actix_web::{web, App, HttpResponse, HttpServer};
use presence::http::routes::bench::{padded, BaselineRequest, MAX_BYTES};
use serde::Deserialize;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Deserialize)]
struct SizeQuery {
    bytes: Option<usize>,
}

async fn baseline(query: web::Query<SizeQuery>, body: web::Json<BaselineRequest>) -> HttpResponse {
    let answer = body.into_inner().answer();
    match query.bytes {
        None => HttpResponse::Ok().json(answer),
        Some(bytes) if bytes <= MAX_BYTES => {
            HttpResponse::Ok().content_type("application/json").body(padded(&answer, bytes))
        }
        Some(_) => HttpResponse::BadRequest().body(format!("bytes must be 0 to {MAX_BYTES}")),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).or_else(|| std::env::var("BARE_BASELINE_PORT").ok());
    let Some(port) = port.and_then(|port| port.parse::<u16>().ok()).filter(|&port| port != 0) else {
        eprintln!("usage: bare_baseline PORT (or BARE_BASELINE_PORT=PORT): the loopback port to listen on");
        std::process::exit(2);
    };
    HttpServer::new(|| App::new().route("/bench/baseline", web::post().to(baseline)))
        .workers(2)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
