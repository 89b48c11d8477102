//! The stats sampler: a background task that, every sample interval (a minute by
//! default), writes each live page's viewer count and every risen peak to SQL, and
//! forgets stats older than the retention.
//!
//! It holds the app's state weakly, like the memory store's sweeper, so it ends when the
//! app does; it runs apart from requests, which only ever wait for the store's lock.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::domain::time::start_of_interval;
use crate::domain::PagePath;
use crate::metrics::StoreOperation;
use crate::periodic;
use crate::state::AppState;

/// Samples every `every` until the app is gone, and forgets what is older than `retention`.
pub fn start(state: Weak<AppState>, every: Duration, retention: Duration) {
    let sampler = Arc::new(tokio::sync::Mutex::new(Sampler { every, retention, last_live: HashSet::new() }));
    periodic::every(every, state, move |state| {
        let sampler = sampler.clone();
        async move {
            if let Err(error) = sampler.lock().await.sample(&state).await {
                state.metrics.store_failed(StoreOperation::StatsSample);
                tracing::warn!(error = format!("{error:#}"), "could not sample the viewer stats");
            }
        }
    });
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
        // Dated at the start of its interval, so instances sharing a registry (which count
        // the same viewers) write the same row, once, instead of one each.
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
