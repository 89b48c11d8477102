//! `AppState`: what every handler can reach, built once and shared by all workers.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenVerifier;
use crate::client_address::TrustedProxies;
use crate::directory::Directory;
use crate::domain::Timing;
use crate::metrics::Metrics;
use crate::open_streams::OpenStreams;
use crate::rate_limit::RateLimits;
use crate::snapshot_cache::SnapshotCache;
use crate::store::PresenceStore;

pub struct AppState {
    pub store: Arc<dyn PresenceStore>,
    pub directory: Directory,
    pub tokens: TokenVerifier,
    pub timing: Timing,
    pub snapshots: SnapshotCache,
    /// How often an idle stream gets a keepalive comment.
    pub stream_keepalive: Duration,
    /// How far back the stats history goes (`PRESENCE_STATS_RETENTION`), which bounds
    /// what `GET /api/presence/stats` may ask for.
    pub stats_retention: Duration,
    pub rate_limits: RateLimits,
    /// Whose `X-Forwarded-For` names the client the rate limit is kept for.
    pub trusted_proxies: TrustedProxies,
    pub open_streams: OpenStreams,
    /// This app's own metrics, which `GET /metrics` serves.
    pub metrics: Arc<Metrics>,
}
