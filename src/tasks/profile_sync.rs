//! Profiles across instances: what the other instances on the same store announce (see
//! `AppState::save_profile`) makes this instance drop its cached copy.
//!
//! Each instance caches the profiles it has read (see [`crate::directory`]); without this,
//! a name changed through one instance would stay stale on the others.

use std::sync::Weak;

use tokio::sync::broadcast::error::RecvError;

use crate::state::AppState;
use crate::store::events::ProfileChange;

/// Follows the other instances' announcements until the app is gone. Must be called inside
/// a tokio runtime.
pub fn start(state: Weak<AppState>) {
    let Some(mut changes) = state.upgrade().map(|state| state.store.events().subscribe_profiles()) else { return };
    tokio::spawn(async move {
        loop {
            let change = match changes.recv().await {
                Ok(change) => change,
                // Announcements were missed: any cached profile may be stale.
                Err(RecvError::Lagged(_)) => ProfileChange::Unknown,
                Err(RecvError::Closed) => return,
            };
            let Some(state) = state.upgrade() else { return };
            match change {
                ProfileChange::User(user) => state.directory.forget(&user),
                ProfileChange::Unknown => state.directory.forget_all(),
            }
        }
    });
}
