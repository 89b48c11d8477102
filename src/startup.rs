//! `Application`: builds the shared state, the middleware and the routes, and binds the
//! listener. `main` and the tests start the service through the same `build`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_session::config::CookieContentSecurity;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, Service};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Condition, ErrorHandlers};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use anyhow::{anyhow, ensure, Context};
use base64::Engine;
use futures_util::TryFutureExt;
use secrecy::ExposeSecret;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::auth::{refuse_foreign_origins, OriginCheck, SessionStorage, TokenVerifier};
use crate::configuration::{CookieSameSite, Settings};
use crate::directory::Directory;
use crate::domain::Timing;
use crate::error::{framework_error_to_problem, ApiError};
use crate::metrics::{record_requests, Metrics};
use crate::open_streams::OpenStreams;
use crate::profile_sync;
use crate::rate_limit::{self, limit_addresses, RateLimits};
use crate::routes::{assets, health, metrics, presence, session, stats, stream};
use crate::snapshot_cache::SnapshotCache;
use crate::state::AppState;
use crate::stats_sampler;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::PresenceStore;

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        ensure!(
            settings.heartbeat_interval_ms < settings.ttl_ms,
            "the heartbeat interval ({} ms) must be shorter than the TTL ({} ms), or live tabs would expire",
            settings.heartbeat_interval_ms,
            settings.ttl_ms
        );
        ensure!(
            settings.cookie_secure || settings.cookie_same_site != CookieSameSite::None,
            "PRESENCE_COOKIE_SAME_SITE=none needs PRESENCE_COOKIE_SECURE=true: browsers drop a SameSite=None cookie \
             that is not Secure"
        );
        let timing = Timing { ttl_ms: settings.ttl_ms, heartbeat_interval_ms: settings.heartbeat_interval_ms };
        let app_metrics = Arc::new(Metrics::default());
        let (store, sessions) = stores(&settings, &app_metrics).await?;
        let state = web::Data::new(AppState {
            store,
            directory: Directory::connect(&settings.database_url)
                .await
                .with_context(|| format!("opening the user directory at {}", settings.database_url))?,
            tokens: TokenVerifier::from_settings(&settings)?,
            timing,
            snapshots: SnapshotCache::new(timing),
            stream_keepalive: Duration::from_millis(settings.stream_keepalive_ms),
            stats_retention: settings.stats_retention,
            rate_limits: RateLimits::new(settings.rate_limit_per_user, settings.rate_limit_per_ip),
            trusted_proxies: settings.trusted_proxies(),
            open_streams: OpenStreams::new(settings.max_streams_per_user),
            metrics: app_metrics.clone(),
        });
        // Weak, so these tasks end with the app instead of keeping its state alive.
        let weak_state = Arc::downgrade(&state.clone().into_inner());
        profile_sync::start(weak_state.clone());
        rate_limit::start(weak_state.clone());
        stats_sampler::start(weak_state, settings.stats_sample_interval(), settings.stats_retention);
        let session_key = session_key(&settings)?;
        if settings.dev_login {
            tracing::warn!("PRESENCE_DEV_LOGIN is on: anyone can sign in as anyone through POST /api/session/dev");
        }
        let listener = TcpListener::bind(&settings.listen).with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let dev_login = settings.dev_login;
        let shared_state = state.clone();
        let origin_check = web::Data::new(OriginCheck::from_settings(&settings));
        let app_metrics = web::Data::from(app_metrics);
        let same_site = match settings.cookie_same_site {
            CookieSameSite::Lax => SameSite::Lax,
            CookieSameSite::Strict => SameSite::Strict,
            CookieSameSite::None => SameSite::None,
        };
        let server = HttpServer::new(move || {
            let app = App::new()
                .app_data(state.clone())
                .app_data(origin_check.clone())
                .app_data(app_metrics.clone())
                .wrap(
                    SessionMiddleware::builder(sessions.clone(), session_key.clone())
                        .cookie_name(settings.cookie_name.clone())
                        .cookie_secure(settings.cookie_secure)
                        .cookie_http_only(true)
                        .cookie_same_site(same_site)
                        .cookie_content_security(CookieContentSecurity::Private)
                        .build(),
                )
                // actix-session answers a session store that fails with a bare 500; that is
                // a backing store that is down, so the client is told to retry, as for the
                // registry.
                .wrap_fn(|req, service| {
                    service
                        .call(req)
                        .map_err(|error| ApiError::Unavailable(anyhow!("the session store failed: {error}")).into())
                })
                .wrap(ErrorHandlers::new().default_handler(framework_error_to_problem))
                // Only when another origin may call: actix-cors writes its headers on every
                // answer, about 200 bytes that a same-origin deployment never reads.
                .wrap(Condition::new(!settings.allowed_origins.is_empty(), cors(&settings.allowed_origins)))
                // Outside CORS, so a foreign origin's preflight is refused as problem+json
                // rather than answered by actix-cors; outside the session, so a refused
                // request never loads or touches one.
                .wrap(from_fn(refuse_foreign_origins))
                // Before anything else is done for a request, so a flood costs least.
                .wrap(from_fn(limit_addresses))
                // Outside everything that can refuse a request, so every answer is counted.
                .wrap(from_fn(record_requests))
                .wrap_fn(|req, service| {
                    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
                    let response = service.call(req);
                    async move {
                        let mut response = response.await?;
                        if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                            response.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
                        }
                        Ok(response)
                    }
                })
                .wrap(TracingLogger::default())
                .configure(presence::configure)
                .configure(stream::configure)
                .configure(stats::configure)
                .configure(|cfg| session::configure(cfg, dev_login))
                .configure(health::configure)
                .configure(metrics::configure)
                .configure(assets::configure);
            // Only in `bench/run.sh`'s build: the baseline route its figures are ratios to.
            #[cfg(feature = "bench-baseline")]
            let app = app.configure(crate::routes::bench::configure);
            app.default_service(web::to(not_found))
        })
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        tracing::info!(port, "listening");
        Ok(Self { port, server, state: shared_state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the handlers share: for tests and background tasks that look inside.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The registry and the sessions: in this process and its cookies, or in Redis when
/// `PRESENCE_REDIS_URL` is set.
async fn stores(settings: &Settings, metrics: &Metrics) -> anyhow::Result<(Arc<dyn PresenceStore>, SessionStorage)> {
    let Some(url) = &settings.redis_url else {
        let store = MemoryStore::start(settings.ttl(), settings.sweep_interval(), settings.tab_limits());
        return Ok((Arc::new(store), SessionStorage::Cookie));
    };
    let (url, prefix) = (url.expose_secret(), &settings.redis_prefix);
    let store = RedisStore::connect(
        url,
        prefix,
        settings.ttl(),
        settings.sweep_interval(),
        settings.tab_limits(),
        metrics.sweep_failures(),
    )
    .await
    .context("opening the registry in Redis (PRESENCE_REDIS_URL)")?;
    let sessions = SessionStorage::redis(url, prefix).await.context("opening the sessions in Redis")?;
    tracing::info!(prefix, "the registry, sessions and live updates are in Redis");
    Ok((Arc::new(store), sessions))
}

/// CORS for exactly the allowed origins, with credentials (the session cookie), the request
/// headers the API reads and the response headers a client needs to see.
fn cors(allowed_origins: &[String]) -> Cors {
    allowed_origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .supports_credentials()
        .allowed_methods([Method::GET, Method::POST, Method::DELETE])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            HeaderName::from_static("prefer"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("preference-applied"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("there is no {} on this server", req.path())))
}

fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    let Some(encoded) = &settings.session_key else {
        tracing::warn!("PRESENCE_SESSION_KEY is not set: using a random key, so sessions end when this process does");
        return Ok(Key::generate());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.expose_secret().trim())
        .context("PRESENCE_SESSION_KEY must be base64")?;
    Key::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("PRESENCE_SESSION_KEY must decode to at least 64 bytes"))
}
