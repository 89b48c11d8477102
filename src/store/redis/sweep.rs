//! Freeing the tabs nobody touches any more: the sweep of the pages whose earliest deadline
//! passed, the counts it leaves behind, and the background task that runs it.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use anyhow::Context;
use futures_util::{stream, StreamExt, TryStreamExt};
use prometheus_client::metrics::counter::Counter;
use redis::AsyncCommands;

use super::script::Op;
use super::Shared;
use crate::domain::{PageCounts, PagePath};

/// Pages the sweep reads from the index at a time.
const SWEEP_BATCH: usize = 500;
/// Pages counted at once, each in a round trip of its own.
pub(super) const PAGES_AT_ONCE: usize = 64;

/// Sweeps every `every` until the store is dropped, then recounts the live tabs for the
/// limit on the total; counts the rounds that failed in `failures`.
pub(super) fn start(shared: Weak<Shared>, every: Duration, failures: Counter) {
    crate::periodic::every(every, shared, move |shared| {
        let failures = failures.clone();
        async move {
            let swept = async {
                let removed = shared.sweep().await?;
                shared.count_live_tabs().await?;
                anyhow::Ok(removed)
            };
            match swept.await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "swept expired tabs"),
                // The next round tries again, and its first call reconnects.
                Err(error) => {
                    failures.inc();
                    tracing::warn!(error = format!("{error:#}"), "could not sweep expired tabs");
                }
            }
        }
    });
}

impl Shared {
    /// Runs `page.lua` on every page whose earliest deadline has passed by Redis's clock;
    /// answers how many tabs expired.
    pub(super) async fn sweep(&self) -> anyhow::Result<usize> {
        let mut redis = self.redis.clone();
        let mut removed = 0;
        loop {
            // Exclusive, as `page.lua` expires a tab only once its deadline is behind.
            let now = format!("({}", self.read_clock().await?);
            let due: Vec<String> = redis
                .zrangebyscore_limit(self.keys.pages(), "-inf", now, 0, SWEEP_BATCH as isize)
                .await
                .context("reading the pages due for a sweep")?;
            for page in &due {
                // Whoever takes the page out of the index sweeps it, so it is swept once.
                let claimed: bool = redis.zrem(self.keys.pages(), page).await.context("claiming a page to sweep")?;
                match PagePath::parse(page) {
                    Ok(page) if claimed => removed += self.run(&page, Op::Sweep).await?.expired,
                    Ok(_) => {}
                    Err(_) => tracing::warn!(page, "dropped a malformed page from the sweep index"),
                }
            }
            if due.len() < SWEEP_BATCH {
                self.events.prune();
                self.unsubscribe_unwatched().await?;
                return Ok(removed);
            }
        }
    }

    /// Stops listening to the pages nobody on this instance watches any more.
    async fn unsubscribe_unwatched(&self) -> anyhow::Result<()> {
        let mut subscribed = self.subscribed.lock().await;
        let unwatched: Vec<PagePath> =
            subscribed.iter().filter(|page| !self.events.is_watched(page)).cloned().collect();
        for page in unwatched {
            let channel = self.keys.page_events(&page);
            self.redis.clone().unsubscribe_page(channel).await.context("unsubscribing from a page's events")?;
            subscribed.remove(&page);
        }
        Ok(())
    }

    /// Counts the live tabs of every page in the index (after a sweep, these are all live):
    /// each page's two counts in one round trip (its keys share a Cluster slot), and
    /// `PAGES_AT_ONCE` pages' at a time.
    pub(super) async fn counts(&self) -> anyhow::Result<Vec<PageCounts>> {
        let mut redis = self.redis.clone();
        let indexed: Vec<String> =
            redis.zrange(self.keys.pages(), 0, -1).await.context("reading the pages with tabs")?;
        let pages: Vec<PagePath> = indexed.into_iter().filter_map(|page| PagePath::parse(&page).ok()).collect();
        let counted = stream::iter(pages).map(|page| {
            let keys = self.keys.page(&page);
            let mut redis = self.redis.clone();
            async move {
                let (viewer_count, tab_count): (usize, usize) =
                    redis::pipe().hlen(keys.users).hlen(keys.tabs).query_async(&mut redis).await?;
                anyhow::Ok(PageCounts { page, viewer_count, tab_count })
            }
        });
        let counts: Vec<PageCounts> =
            counted.buffer_unordered(PAGES_AT_ONCE).try_collect().await.context("counting the pages' viewers")?;
        Ok(counts.into_iter().filter(|page| page.tab_count > 0).collect())
    }

    /// Counts the tabs in the registry, for the limit on the total.
    pub(super) async fn count_live_tabs(&self) -> anyhow::Result<()> {
        let total = self.counts().await?.iter().map(|page| page.tab_count).sum();
        self.live_tabs.store(total, Ordering::Relaxed);
        Ok(())
    }
}
