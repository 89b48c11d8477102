//! The app's background tasks, each on a timer (`periodic::every`), a feed or a queue, each
//! holding the app's state weakly so it ends with the app. The stores' own sweeps start
//! with them (`store::memory`, `store::redis`).

mod profile_sync;
mod profile_writer;
mod stats_sampler;

use std::sync::Weak;
use std::time::Duration;

use crate::limits::FORGET_IDLE_EVERY;
use crate::periodic;
use crate::state::AppState;

/// Starts every task: the profile writer and sync, the stats sampler (every
/// `sample_every`, keeping `retention`), and forgetting idle clients of the rate limits.
pub fn start(state: Weak<AppState>, sample_every: Duration, retention: Duration) {
    profile_writer::start(state.clone());
    profile_sync::start(state.clone());
    stats_sampler::start(state.clone(), sample_every, retention);
    periodic::every(FORGET_IDLE_EVERY, state, |state| async move { state.rate_limits.forget_idle() });
}
