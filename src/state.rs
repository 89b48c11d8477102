//! `AppState`: what every handler can reach, built once and shared by all workers.

use std::sync::Arc;

use crate::auth::TokenVerifier;
use crate::directory::Directory;
use crate::domain::Timing;
use crate::snapshot_cache::SnapshotCache;
use crate::store::PresenceStore;

pub struct AppState {
    pub store: Arc<dyn PresenceStore>,
    pub directory: Directory,
    pub tokens: TokenVerifier,
    pub timing: Timing,
    pub snapshots: SnapshotCache,
}
