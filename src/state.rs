//! `AppState`: the services every handler can reach, built once and shared by all workers.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenVerifier;
use crate::directory::Directory;
use crate::domain::Profile;
use crate::error::ApiError;
use crate::limits::{OpenStreams, RateLimits, TrustedProxies};
use crate::metrics::Metrics;
use crate::snapshot::{SnapshotCache, Timing};
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

impl AppState {
    /// Saves a profile the caller proved (a JWT's claims, a dev sign-in); if it changed, the
    /// other instances on the same store are told, so they drop their cached copy
    /// (`tasks::profile_sync` is their side).
    pub async fn save_profile(&self, profile: Profile) -> Result<Arc<Profile>, ApiError> {
        let (profile, changed) = self.directory.upsert(profile).await.map_err(ApiError::Unavailable)?;
        if changed {
            self.store.announce_profile_change(&profile.id).await.map_err(ApiError::Unavailable)?;
        }
        Ok(profile)
    }
}
