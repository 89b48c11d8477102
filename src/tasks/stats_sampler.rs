//! The stats sampler: a background task that, every sample interval (a minute by
//! default), writes each live page's viewer count and every risen peak to SQL, and
//! forgets stats older than the retention (SPEC §6).
//!
//! It holds the app's state weakly, like the memory store's sweeper, so it ends when the
//! app does; it runs apart from requests, which only ever wait for the store's lock.

use std::collections::HashSet;
use std::sync::Weak;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::time::MissedTickBehavior;

use crate::domain::PagePath;
use crate::metrics::StoreOperation;
use crate::state::AppState;

/// Starts sampling every `every`, keeping `retention` of history. Must be called inside a
/// tokio runtime.
pub fn start(state: Weak<AppState>, every: Duration, retention: Duration) {
    tokio::spawn(sample_until_dropped(state, every, retention));
}

async fn sample_until_dropped(state: Weak<AppState>, every: Duration, retention: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut sampler = Sampler { every, retention, last_live: HashSet::new() };
    loop {
        ticks.tick().await;
        let Some(state) = state.upgrade() else { return };
        if let Err(error) = sampler.sample(&state).await {
            state.metrics.store_failed(StoreOperation::StatsSample);
            // The next sample tries again; unsaved peaks stay in the store until then.
            tracing::warn!(error = format!("{error:#}"), "could not sample the viewer stats");
        }
    }
}

struct Sampler {
    every: Duration,
    retention: Duration,
    /// The pages that had viewers at the last sample: one that has none now gets a 0, so
    /// the history shows where the viewers went instead of a gap.
    last_live: HashSet<PagePath>,
}

impl Sampler {
    async fn sample(&mut self, state: &AppState) -> anyhow::Result<()> {
        let at = start_of_interval(SystemTime::now(), self.every);
        let counts = state.store.page_counts().await.context("counting the live pages")?;
        let peaks = state.store.unsaved_peaks().await.context("reading the peaks")?;
        let live: HashSet<PagePath> = counts.iter().map(|c| c.page.clone()).collect();
        let gone = self.last_live.difference(&live).map(|page| (page.clone(), 0));
        let samples: Vec<(PagePath, usize)> =
            counts.iter().map(|c| (c.page.clone(), c.viewer_count)).chain(gone).collect();
        state.directory.record_stats(at, &samples, &peaks).await?;
        // Only now that SQL has them may the store forget peaks of pages that are gone.
        state.store.peaks_saved(&peaks).await?;
        state.snapshots.keep_only(&live);
        self.last_live = live;
        let cutoff = at.checked_sub(self.retention).unwrap_or(UNIX_EPOCH);
        let forgotten = state.directory.forget_stats_before(cutoff).await?;
        tracing::debug!(pages = samples.len(), peaks = peaks.len(), forgotten, "sampled the viewer stats");
        Ok(())
    }
}

/// Samples are dated at the start of their interval, so instances sharing a registry
/// (which count the same viewers) write the same row, once, instead of one each.
fn start_of_interval(now: SystemTime, every: Duration) -> SystemTime {
    let every_ms = every.as_millis().max(1);
    let since_epoch_ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let start_ms = u64::try_from(since_epoch_ms - since_epoch_ms % every_ms).unwrap_or(u64::MAX);
    UNIX_EPOCH + Duration::from_millis(start_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_dated_at_the_start_of_their_interval() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let minute = Duration::from_secs(60);
        assert_eq!(start_of_interval(at(120_000), minute), at(120_000));
        assert_eq!(start_of_interval(at(179_999), minute), at(120_000));
        assert_eq!(start_of_interval(at(180_001), minute), at(180_000));
        assert_eq!(start_of_interval(at(5), Duration::ZERO), at(5));
    }
}
