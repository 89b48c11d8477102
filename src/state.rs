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

/// How long a sign-in waits for its profile to reach SQL.
const SIGN_IN_WRITE_WAIT: Duration = Duration::from_secs(5);

impl AppState {
    /// Saves a profile the caller proved (a JWT's claims, a dev sign-in). This instance
    /// shows it at once; the SQL write waits in the directory's queue, and once it is done
    /// `tasks::profile_writer` tells the other instances on the same store, so they drop
    /// their cached copy (`tasks::profile_sync` is their side). A first request never
    /// waits for its own write, only for room in a full queue.
    pub async fn save_profile(&self, profile: Profile) -> Result<Arc<Profile>, ApiError> {
        self.directory.save(profile).await.map_err(ApiError::Unavailable)
    }

    /// Saves a profile and waits until SQL has it, failing (503) if it cannot be written
    /// now. For sign-ins: they are rare, so waiting costs little, and one the directory
    /// cannot store is refused rather than opened with a profile only this instance knows.
    pub async fn save_profile_and_wait(&self, profile: Profile) -> Result<Arc<Profile>, ApiError> {
        let profile = self.save_profile(profile).await?;
        if self.directory.is_unwritten(&profile.id) {
            self.directory.flush_or_fail(SIGN_IN_WRITE_WAIT).await.map_err(ApiError::Unavailable)?;
        }
        Ok(profile)
    }
}
