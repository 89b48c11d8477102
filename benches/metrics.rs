//! Criterion benchmark of what the metrics middleware adds to a request: the heartbeat's
//! route, answered by a handler that does nothing, called through actix-web's service
//! (no socket) without and with `record_requests` wired as `startup` wires it.
//! `cargo bench --bench metrics`.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use actix_web::middleware::from_fn;
use actix_web::rt::System;
use actix_web::{test, web, App, HttpResponse};
use criterion::{criterion_group, criterion_main, Criterion};
use presence::configuration::Settings;
use presence::http::middleware::record_requests;
use presence::startup::Application;

/// The service's allocator, as `src/main.rs` sets it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const HEARTBEAT: &str = "/api/presence/heartbeat";

async fn ok() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// The time of `iterations` calls.
async fn timed<F: Future>(iterations: u64, mut call: impl FnMut() -> F) -> Duration {
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(call().await);
    }
    started.elapsed()
}

fn middleware(c: &mut Criterion) {
    let mut group = c.benchmark_group("heartbeat route");
    group.bench_function("without metrics", |b| {
        b.iter_custom(|iterations| {
            System::new().block_on(async {
                let service = test::init_service(App::new().route(HEARTBEAT, web::post().to(ok))).await;
                timed(iterations, || {
                    test::call_service(&service, test::TestRequest::post().uri(HEARTBEAT).to_request())
                })
                .await
            })
        })
    });
    group.bench_function("with metrics", |b| {
        b.iter_custom(|iterations| {
            System::new().block_on(async {
                // A real app's state (its metrics among it), not its server.
                let database = tempfile::tempdir().expect("a scratch directory");
                let settings = Settings {
                    listen: "127.0.0.1:0".parse().expect("an address"),
                    database_url: format!("sqlite:{}", database.path().join("bench.db").display()),
                    ..Settings::default()
                };
                let application = Application::build(settings).await.expect("the app starts");
                let app = App::new()
                    .app_data(application.state())
                    .wrap(from_fn(record_requests))
                    .route(HEARTBEAT, web::post().to(ok));
                let service = test::init_service(app).await;
                timed(iterations, || {
                    test::call_service(&service, test::TestRequest::post().uri(HEARTBEAT).to_request())
                })
                .await
            })
        })
    });
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
