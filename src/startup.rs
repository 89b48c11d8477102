//! `Application`: checks the settings, builds the shared state, starts the background
//! tasks, binds the listener and wires the middleware and routes. `main` and the tests
//! start the service through the same `build`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, Condition, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::{ensure, Context};
use tracing_actix_web::TracingLogger;

use crate::auth::{refuse_foreign_origins, OriginCheck, RedisSessions, SessionStorage, TokenVerifier};
use crate::configuration::{CookieSameSite, Settings};
use crate::directory::Directory;
use crate::error::framework_error_to_problem;
use crate::http::middleware::{
    cors, echo_request_id, limit_addresses, record_requests, session_key, session_store_down_is_unavailable, sessions,
};
use crate::limits::{OpenStreams, RateLimits, TrustedProxies};
use crate::metrics::Metrics;
use crate::snapshot::{SnapshotCache, Timing};
use crate::state::AppState;
use crate::store::memory::MemoryStore;
use crate::store::redis::{RedisStore, RedisTarget};
use crate::store::PresenceStore;
use crate::{http, tasks};

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        check(&settings)?;
        let metrics = Arc::new(Metrics::default());
        let (store, sessions) = stores(&settings, &metrics).await?;
        let state = web::Data::new(app_state(&settings, store, metrics).await?);
        tasks::start(
            Arc::downgrade(&state.clone().into_inner()),
            settings.stats_sample_interval,
            settings.stats_retention,
        );
        if settings.dev_login {
            tracing::warn!("PRESENCE_DEV_LOGIN is on: anyone can sign in as anyone through POST /api/session/dev");
        }
        let key = session_key(&settings)?;
        let listener = TcpListener::bind(settings.listen).with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let server = serve(listener, state.clone(), sessions, key, settings)?;
        tracing::info!(port, "listening");
        Ok(Self { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the handlers share: for tests and background tasks that look inside.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The server's handle, for tests that run the app in-process: its `stop(true)` stops
    /// the server gracefully, as SIGTERM would.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM (or a stop through [`Application::server_handle`]),
    /// finishes the requests in flight, then writes every profile still queued. An app
    /// dropped without a stop writes nothing more and waits for nothing.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // No request is left to save a profile: what is queued now is all there is.
        match self.state.directory.flush(FLUSH_ON_STOP).await {
            Ok(()) => tracing::info!("every saved profile is written"),
            Err(error) => tracing::error!(error = format!("{error:#}"), "saved profiles are lost"),
        }
        served
    }
}

/// How long a stop waits for the queued profiles to be written: the database may be down,
/// and a stop must end.
const FLUSH_ON_STOP: Duration = Duration::from_secs(15);

/// Refuses settings that cannot work together.
fn check(settings: &Settings) -> anyhow::Result<()> {
    ensure!(
        settings.heartbeat_interval < settings.ttl,
        "the heartbeat interval ({:?}) must be shorter than the TTL ({:?}), or live tabs would expire",
        settings.heartbeat_interval,
        settings.ttl
    );
    ensure!(
        settings.cookie_secure || settings.cookie_same_site != CookieSameSite::None,
        "PRESENCE_COOKIE_SAME_SITE=none needs PRESENCE_COOKIE_SECURE=true: browsers drop a SameSite=None cookie \
         that is not Secure"
    );
    Ok(())
}

/// The registry and the sessions: in this process and its cookies, or in Redis when
/// `PRESENCE_REDIS_URL` or `PRESENCE_REDIS_CLUSTER` is set.
async fn stores(settings: &Settings, metrics: &Metrics) -> anyhow::Result<(Arc<dyn PresenceStore>, SessionStorage)> {
    let Some(target) = settings.redis_target()? else {
        let store = MemoryStore::start(settings.ttl, settings.sweep_interval, settings.tab_limits());
        return Ok((Arc::new(store), SessionStorage::Cookie));
    };
    let prefix = &settings.redis_prefix;
    let store = RedisStore::connect(
        &target,
        prefix,
        settings.ttl,
        settings.sweep_interval,
        settings.tab_limits(),
        metrics.sweep_failures(),
    )
    .await
    .context("opening the registry in Redis (PRESENCE_REDIS_URL or PRESENCE_REDIS_CLUSTER)")?;
    let sessions = SessionStorage::Redis(RedisSessions::new(store.connection(), prefix));
    let cluster = matches!(target, RedisTarget::Cluster(_));
    tracing::info!(prefix, cluster, "the registry, sessions and live updates are in Redis");
    Ok((Arc::new(store), sessions))
}

/// The services the handlers share, around the store.
async fn app_state(
    settings: &Settings,
    store: Arc<dyn PresenceStore>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<AppState> {
    let timing = Timing { ttl_ms: millis(settings.ttl), heartbeat_interval_ms: millis(settings.heartbeat_interval) };
    Ok(AppState {
        store,
        directory: Directory::connect(&settings.database_url)
            .await
            .with_context(|| format!("opening the user directory at {}", settings.database_url))?,
        tokens: TokenVerifier::from_settings(settings)?,
        timing,
        snapshots: SnapshotCache::new(timing),
        stream_keepalive: settings.stream_keepalive,
        stats_retention: settings.stats_retention,
        rate_limits: RateLimits::new(settings.rate_limit_per_user, settings.rate_limit_per_ip),
        trusted_proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
        open_streams: OpenStreams::new(settings.max_streams_per_user),
        metrics,
    })
}

/// The HTTP server on `listener`: each worker's app wraps the routes in the middleware,
/// innermost first.
fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    session_storage: SessionStorage,
    key: Key,
    settings: Settings,
) -> anyhow::Result<Server> {
    let origin_check = web::Data::new(OriginCheck::from_settings(&settings));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(origin_check.clone())
            .wrap(sessions(session_storage.clone(), key.clone(), &settings))
            .wrap(from_fn(session_store_down_is_unavailable))
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
            .wrap(from_fn(echo_request_id))
            .wrap(TracingLogger::default())
            .configure(|cfg| http::configure(cfg, settings.dev_login))
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

/// A duration in whole milliseconds, as the snapshot tells it to clients.
fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}
