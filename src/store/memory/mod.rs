//! The in-process registry, shared by every worker.
//!
//! Pages are spread over shards by the hash of their path, each behind its own lock, so
//! requests for different pages rarely wait for each other. As in mini-redis `db.rs`,
//! expiry order is kept beside the data (the shards' wheels, and each page's own queue), so
//! the sweep and lazy expiry visit what is due and never scan live tabs, and a lock is only
//! held for short, synchronous steps (never across an `.await`).

mod clock;
mod compact_tab_id;
mod expiry;
mod peaks;
mod quota;
mod shard;
mod viewers;
mod wheel;

use std::hash::BuildHasher;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hashbrown::DefaultHashBuilder;
use parking_lot::{Mutex, MutexGuard};

use super::events::PageEvents;
use super::{PresenceStore, TabLimits, TouchError};
use crate::domain::{PageCounts, PagePath, PagePresence, Peak, TabKey, UserId, Version, ViewerPresence};
use clock::Clock;
use quota::Quota;
use shard::{Context, Editing, Shard};

/// Enough shards that two busy pages seldom share a lock on any machine we run on.
const SHARDS: usize = 32;
/// The most expiry entries one sweep step visits under a shard's lock (well under a
/// millisecond's work).
const SWEEP_BATCH: usize = 1_000;
/// After a sweep removed this many tabs, the shards let go of the room they held.
const SHRINK_AFTER: usize = 10_000;

pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    shards: Box<[Mutex<Shard>]>,
    shard_hasher: DefaultHashBuilder,
    versions: AtomicU64,
    events: PageEvents,
    quota: Quota,
    ttl: Duration,
    clock: Clock,
}

impl MemoryStore {
    /// Makes the store and starts its background sweep, which ends when the store is dropped.
    /// Must be called inside a tokio runtime.
    pub fn start(ttl: Duration, sweep_every: Duration, limits: TabLimits) -> Self {
        let shared = Arc::new(Shared {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_hasher: DefaultHashBuilder::default(),
            versions: AtomicU64::new(0),
            events: PageEvents::default(),
            quota: Quota::new(limits),
            ttl,
            clock: Clock::start(),
        });
        crate::periodic::every(sweep_every, Arc::downgrade(&shared), |shared| async move {
            let removed = shared.sweep().await;
            if removed > 0 {
                tracing::debug!(removed, "swept expired tabs");
            }
        });
        Self { shared }
    }

    fn touch(&self, page: &PagePath, key: &TabKey, editing: Editing) -> Result<Version, TouchError> {
        let cx = self.shared.context();
        let deadline = cx.now.after(self.shared.ttl);
        self.shared.shard(page).touch(page, key, deadline, editing, &cx)
    }

    /// `(pages, tabs, expiry entries)` over all shards, for tests and benchmarks.
    pub fn sizes(&self) -> (usize, usize, usize) {
        self.shared
            .shards
            .iter()
            .map(|shard| shard.lock().sizes())
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    }
}

impl Shared {
    fn shard(&self, page: &PagePath) -> MutexGuard<'_, Shard> {
        let index = self.shard_hasher.hash_one(page) as usize % self.shards.len();
        self.shards[index].lock()
    }

    fn context(&self) -> Context<'_> {
        Context {
            now: self.clock.now(),
            clock: &self.clock,
            versions: &self.versions,
            events: &self.events,
            quota: &self.quota,
        }
    }

    /// Sweeps the shards one batch at a time. Each batch hands the lock straight to a
    /// waiting request (`unlock_fair`), so no request waits for more than one batch.
    async fn sweep(&self) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            loop {
                let (batch, more) = self.sweep_batch(shard);
                removed += batch;
                if !more {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        self.events.prune();
        if removed >= SHRINK_AFTER {
            for shard in self.shards.iter() {
                shard.lock().shrink();
            }
            self.quota.shrink();
        }
        removed
    }

    fn sweep_batch(&self, shard: &Mutex<Shard>) -> (usize, bool) {
        let mut locked = shard.lock();
        let swept = locked.sweep_batch(SWEEP_BATCH, &self.context());
        MutexGuard::unlock_fair(locked);
        swept
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn join(&self, page: &PagePath, tab: &TabKey, is_editing: Option<bool>) -> Result<Version, TouchError> {
        self.touch(page, tab, is_editing.map_or(Editing::Keep, Editing::Set))
    }

    async fn heartbeat(&self, page: &PagePath, tab: &TabKey, is_editing: bool) -> Result<Version, TouchError> {
        self.touch(page, tab, Editing::Set(is_editing))
    }

    async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<Version> {
        let cx = self.shared.context();
        Ok(self.shared.shard(page).leave(page, tab, &cx))
    }

    async fn version(&self, page: &PagePath) -> anyhow::Result<Version> {
        let cx = self.shared.context();
        Ok(self.shared.shard(page).version(page, &cx))
    }

    async fn presence(&self, page: &PagePath, limit: usize) -> anyhow::Result<PagePresence> {
        let cx = self.shared.context();
        Ok(self.shared.shard(page).presence(page, limit, &cx))
    }

    async fn viewer(&self, page: &PagePath, user: &UserId) -> anyhow::Result<Option<ViewerPresence>> {
        let cx = self.shared.context();
        Ok(self.shared.shard(page).viewer(page, user, &cx))
    }

    async fn sweep(&self) -> anyhow::Result<usize> {
        Ok(self.shared.sweep().await)
    }

    async fn page_counts(&self) -> anyhow::Result<Vec<PageCounts>> {
        let cx = self.shared.context();
        Ok(self.shared.shards.iter().flat_map(|shard| shard.lock().page_counts(&cx)).collect())
    }

    async fn peak(&self, page: &PagePath) -> anyhow::Result<Option<Peak>> {
        Ok(self.shared.shard(page).peak(page))
    }

    async fn unsaved_peaks(&self) -> anyhow::Result<Vec<(PagePath, Peak)>> {
        Ok(self.shared.shards.iter().flat_map(|shard| shard.lock().unsaved_peaks().collect::<Vec<_>>()).collect())
    }

    async fn peaks_saved(&self, saved: &[(PagePath, Peak)]) -> anyhow::Result<()> {
        for (page, peak) in saved {
            self.shared.shard(page).peak_saved(page, peak);
        }
        Ok(())
    }

    fn events(&self) -> &PageEvents {
        &self.shared.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TabId, UserId};
    use tokio::time::advance;

    const TTL: Duration = Duration::from_secs(45);
    /// Long enough that the background sweep never runs unless a test asks for it.
    const NEVER: Duration = Duration::from_secs(3600);
    /// How long past its deadline a tab may wait for the sweep.
    const SWEEP_LAG: Duration = Duration::from_millis(250);

    fn page(path: &str) -> PagePath {
        PagePath::parse(path).unwrap()
    }

    fn tab(user: &str, tab: &str) -> TabKey {
        TabKey { user: UserId::parse(user).unwrap(), tab: TabId::parse(tab).unwrap() }
    }

    async fn users(store: &MemoryStore, page: &PagePath) -> Vec<(String, u32)> {
        let presence = store.presence(page, usize::MAX).await.unwrap();
        presence.viewers.iter().map(|v| (v.user.to_string(), v.tab_count)).collect()
    }

    impl MemoryStore {
        /// `(pages, tabs)` held, live or not yet swept.
        fn tab_entries(&self) -> (usize, usize) {
            let (pages, tabs, _) = self.sizes();
            (pages, tabs)
        }

        fn peak_entries(&self) -> usize {
            self.shared.shards.iter().map(|shard| shard.lock().bookkeeping().0).sum()
        }

        fn expiry_entries(&self) -> usize {
            self.shared.shards.iter().map(|shard| shard.lock().bookkeeping().1).sum()
        }
    }

    /// `(page, viewers, tabs)` of every live page, by path.
    async fn counts(store: &MemoryStore) -> Vec<(String, usize, usize)> {
        let mut counts: Vec<_> = store
            .page_counts()
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.page.to_string(), c.viewer_count, c.tab_count))
            .collect();
        counts.sort();
        counts
    }

    async fn unsaved(store: &MemoryStore) -> Vec<(PagePath, Peak)> {
        let mut peaks = store.unsaved_peaks().await.unwrap();
        peaks.sort_by(|a, b| a.0.cmp(&b.0));
        peaks
    }

    #[tokio::test(start_paused = true)]
    async fn tabs_expire_after_the_ttl_unless_refreshed() {
        let store = MemoryStore::start(TTL, NEVER, TabLimits::NONE);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        advance(Duration::from_secs(30)).await;
        store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap();
        advance(Duration::from_secs(15)).await;
        assert_eq!(users(&store, &docs).await.len(), 2, "exactly TTL is live");
        advance(Duration::from_millis(1)).await;
        assert_eq!(users(&store, &docs).await, [("bob".into(), 1)]);
        assert_eq!(store.tab_entries(), (1, 1), "lazy expiry freed alice's entry");
    }

    /// Lazy expiry visits only what may be due: a big page's queue stays about its size
    /// however many tabs come and go, and finds the one tab that expired among them.
    #[tokio::test(start_paused = true)]
    async fn a_busy_page_s_expiry_queue_stays_its_size() {
        let store = MemoryStore::start(TTL, NEVER, TabLimits::NONE);
        let big = page("/big");
        for i in 0..1_000 {
            store.join(&big, &tab(&format!("u{i}"), "t"), None).await.unwrap();
        }
        for i in 0..10_000 {
            let churn = tab(&format!("u{}", i % 1_000), "churn");
            store.join(&big, &churn, None).await.unwrap();
            store.leave(&big, &churn).await.unwrap();
        }
        assert!(store.expiry_entries() <= 2 * 1_000 + 64, "{} queued", store.expiry_entries());
        advance(Duration::from_secs(30)).await;
        for i in 1..1_000 {
            store.heartbeat(&big, &tab(&format!("u{i}"), "t"), false).await.unwrap();
        }
        advance(Duration::from_secs(16)).await;
        let presence = store.presence(&big, 0).await.unwrap();
        assert_eq!((presence.viewer_count, presence.tab_count), (999, 999), "u0 expired, nobody else");
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_sweep_frees_pages_nobody_reads() {
        let store = MemoryStore::start(TTL, Duration::from_secs(5), TabLimits::NONE);
        for i in 0..100 {
            store.join(&page(&format!("/p{i}")), &tab("alice", "t1"), None).await.unwrap();
        }
        advance(Duration::from_secs(30)).await;
        store.join(&page("/p0"), &tab("alice", "t1"), None).await.unwrap();
        // Sleeping (unlike `advance`) lets the sweeper's tick run on this paused clock.
        tokio::time::sleep(TTL - Duration::from_secs(20)).await;
        assert_eq!(store.sizes(), (1, 1, 1), "only the refreshed tab is left, queued once");
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_does_not_keep_the_store_alive() {
        let store = MemoryStore::start(TTL, Duration::from_secs(1), TabLimits::NONE);
        let weak = Arc::downgrade(&store.shared);
        drop(store);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(weak.upgrade().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweep_keeps_refreshed_tabs_and_forgets_departed_ones() {
        let store = MemoryStore::start(TTL, NEVER, TabLimits::NONE);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        store.leave(&docs, &tab("bob", "t1")).await.unwrap();
        // Carol's tab may take the slot bob's left, in the same bucket of the wheel.
        store.join(&docs, &tab("carol", "t1"), None).await.unwrap();
        advance(Duration::from_secs(30)).await;
        store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap();
        advance(Duration::from_secs(15) + SWEEP_LAG).await;
        assert_eq!(store.sweep().await.unwrap(), 1, "carol expired; alice's deadline moved on");
        assert_eq!(users(&store, &docs).await, [("alice".into(), 1)]);
        assert_eq!(store.sizes(), (1, 1, 1), "alice queued again under her new deadline, once");
        advance(Duration::from_secs(30)).await;
        assert_eq!(store.sweep().await.unwrap(), 1);
        assert_eq!(store.sizes(), (0, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn every_tab_is_found_again_among_many_on_many_pages() {
        let store = MemoryStore::start(TTL, NEVER, TabLimits::NONE);
        for i in 0..500 {
            store
                .join(&page(&format!("/p{}", i % 7)), &tab(&format!("u{}", i % 50), &format!("t{i}")), None)
                .await
                .unwrap();
        }
        for i in (0..500).step_by(2) {
            store.leave(&page(&format!("/p{}", i % 7)), &tab(&format!("u{}", i % 50), &format!("t{i}"))).await.unwrap();
        }
        let tabs: usize = counts(&store).await.iter().map(|(_, _, tabs)| tabs).sum();
        assert_eq!(tabs, 250);
        for i in (1..500).step_by(2) {
            let (path, key) = (page(&format!("/p{}", i % 7)), tab(&format!("u{}", i % 50), &format!("t{i}")));
            let version = store.version(&path).await.unwrap();
            assert_eq!(store.join(&path, &key, None).await.unwrap(), version, "tab {i} is still there");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_saved_peak_is_forgotten_once_its_page_is_gone() {
        let store = MemoryStore::start(TTL, NEVER, TabLimits::NONE);
        let (a, b) = (page("/a"), page("/b"));
        store.join(&a, &tab("alice", "t1"), None).await.unwrap();
        store.join(&b, &tab("bob", "t1"), None).await.unwrap();
        let saving = unsaved(&store).await;
        assert_eq!(
            saving.iter().map(|(p, peak)| (p.as_str(), peak.viewer_count)).collect::<Vec<_>>(),
            [("/a", 1), ("/b", 1)]
        );
        // /a rises while the sampler writes what it read.
        store.join(&a, &tab("carol", "t1"), None).await.unwrap();
        store.peaks_saved(&saving).await.unwrap();
        let still = unsaved(&store).await;
        assert_eq!(still.iter().map(|(p, peak)| (p.as_str(), peak.viewer_count)).collect::<Vec<_>>(), [("/a", 2)]);
        assert_eq!(store.peak_entries(), 2, "live pages keep their peaks");

        store.leave(&b, &tab("bob", "t1")).await.unwrap();
        assert_eq!((store.peak(&b).await.unwrap(), store.peak_entries()), (None, 1), "saved and gone: freed");
        store.leave(&a, &tab("alice", "t1")).await.unwrap();
        store.leave(&a, &tab("carol", "t1")).await.unwrap();
        assert_eq!(store.peak(&a).await.unwrap().map(|p| p.viewer_count), Some(2), "gone but not saved: kept");
        store.peaks_saved(&still).await.unwrap();
        assert_eq!(store.peak_entries(), 0, "saved: freed");
        assert!(unsaved(&store).await.is_empty());
    }
}
