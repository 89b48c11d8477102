//! Profiles across instances: saving one tells the other instances on the same store, and
//! what they announce makes this instance drop its cached copy.
//!
//! Each instance caches the profiles it has read (see [`crate::directory`]); without this,
//! a name changed through one instance would stay stale on the others.

use std::sync::{Arc, Weak};

use tokio::sync::broadcast::error::RecvError;

use crate::domain::Profile;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::events::ProfileChange;

/// Stores the profile (from a token or a sign-in) and, if it changed, tells the other
/// instances.
pub async fn save(state: &AppState, profile: Profile) -> Result<Arc<Profile>, ApiError> {
    let (profile, changed) = state.directory.upsert(profile).await.map_err(ApiError::Unavailable)?;
    if changed {
        state.store.announce_profile_change(&profile.id).await.map_err(ApiError::Unavailable)?;
    }
    Ok(profile)
}

/// Follows the other instances' announcements until the app is gone. Must be called inside
/// a tokio runtime.
pub fn start(state: Weak<AppState>) {
    let Some(mut changes) = state.upgrade().map(|state| state.store.events().subscribe_profiles()) else { return };
    tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                Err(RecvError::Lagged(_)) => ProfileChange::Unknown,
                Err(RecvError::Closed) => return,
            };
            let Some(state) = state.upgrade() else { return };
            state.directory.forget(&change);
        }
    });
}
