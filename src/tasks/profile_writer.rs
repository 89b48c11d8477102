//! The profile writer: drains the directory's queue of saved profiles (see
//! `Directory::save`), writes each batch to SQL in one transaction, then announces every
//! written user to the other instances on the store (`profile_sync` is their side). Only
//! after the write, so an instance that drops its copy reads the new row.
//!
//! A batch that fails is retried, after a pause that doubles up to [`MAX_PAUSE`], until it
//! is written or the app is gone: a saved profile is never dropped. Failures are logged
//! with how many attempts failed (the store-error metric's operations are a fixed set that
//! has no place for them yet).

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::domain::Profile;
use crate::metrics::StoreOperation;
use crate::state::AppState;

/// The pause after a first failed write.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between attempts, as long as the `Retry-After` of a 503.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Writes what the directory queues until the app is gone. Must be called inside a tokio
/// runtime; the writer holds the state only while it writes, so it never keeps it alive.
pub fn start(state: Weak<AppState>) {
    let Some(mut queue) = state.upgrade().and_then(|state| state.directory.take_queued_writes()) else { return };
    tokio::spawn(async move {
        while let Some(batch) = queue.next_batch().await {
            if !batch.profiles.is_empty() && !write_until_done(&state, &batch.profiles).await {
                return;
            }
            batch.done();
        }
    });
}

/// Writes and announces the profiles, retrying until they are written; answers false if
/// the app went away first.
async fn write_until_done(state: &Weak<AppState>, profiles: &[Arc<Profile>]) -> bool {
    let (mut pause, mut failures) = (FIRST_PAUSE, 0_u32);
    loop {
        let Some(state) = state.upgrade() else { return false };
        match state.directory.write_profiles(profiles).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(profiles = profiles.len(), failures, "wrote the profiles after all");
                }
                announce(&state, profiles).await;
                return true;
            }
            Err(error) => {
                failures += 1;
                state.metrics.store_failed(StoreOperation::ProfileWrite);
                tracing::warn!(
                    error = format!("{error:#}"),
                    profiles = profiles.len(),
                    failures,
                    retry_in = ?pause,
                    "could not write saved profiles to SQL; retrying"
                );
            }
        }
        drop(state);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Tells the other instances, one user at a time, that these profiles changed. One that
/// is not told keeps its copy until it evicts it or hears of the user again.
async fn announce(state: &AppState, profiles: &[Arc<Profile>]) {
    let mut unannounced = 0_usize;
    let mut last_error = None;
    for profile in profiles {
        if let Err(error) = state.store.announce_profile_change(&profile.id).await {
            unannounced += 1;
            last_error = Some(error);
        }
    }
    if let Some(error) = last_error {
        tracing::warn!(error = format!("{error:#}"), unannounced, "could not announce changed profiles");
    }
}
