//! The in-process registry: one map of pages behind a mutex, shared by every worker.
//!
//! As in mini-redis `db.rs`, expiry order is kept beside the data (a `BTreeSet` of
//! deadlines), so the sweep pops what is due and never scans live tabs, and the lock is
//! only held for short, synchronous steps (never across an `.await`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{aggregate, PagePresence, PresenceStore, TabKey, TabState};
use crate::domain::PagePath;

/// The most expired tabs one sweep step removes before it lets requests take the lock.
const SWEEP_BATCH: usize = 10_000;

pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    ttl: Duration,
    /// Maps the monotonic clock used for expiry to wall time for `joinedAt`.
    started: (Instant, SystemTime),
}

#[derive(Default)]
struct State {
    pages: HashMap<PagePath, HashMap<TabKey, Tab>>,
    expirations: BTreeSet<(Instant, PagePath, TabKey)>,
}

struct Tab {
    state: TabState,
    expires_at: Instant,
}

/// How a touch changes a tab's editing state.
#[derive(Clone, Copy)]
enum Editing {
    Keep,
    Set(bool),
}

impl MemoryStore {
    /// Makes the store and starts its background sweep, which ends when the store is dropped.
    /// Must be called inside a tokio runtime.
    pub fn start(ttl: Duration, sweep_every: Duration) -> Self {
        let shared =
            Arc::new(Shared { state: Mutex::new(State::default()), ttl, started: (Instant::now(), SystemTime::now()) });
        tokio::spawn(sweep_until_dropped(Arc::downgrade(&shared), sweep_every));
        Self { shared }
    }

    fn touch(&self, page: &PagePath, tab: &TabKey, editing: Editing) -> PagePresence {
        let now = Instant::now();
        let wall_now = self.shared.wall_time(now);
        let mut state = self.shared.lock();
        state.purge_page(page, now);
        state.touch(page, tab, now + self.shared.ttl, wall_now, editing);
        state.presence(page)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (every step is a
        // single insert or remove), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wall_time(&self, at: Instant) -> SystemTime {
        self.started.1 + at.duration_since(self.started.0)
    }

    fn sweep(&self) -> usize {
        let mut removed = 0;
        loop {
            let batch = self.lock().sweep_batch(Instant::now(), SWEEP_BATCH);
            removed += batch;
            if batch < SWEEP_BATCH {
                return removed;
            }
        }
    }
}

impl State {
    /// Lazy expiry: drops the page's expired tabs, and the page once it is empty.
    fn purge_page(&mut self, page: &PagePath, now: Instant) {
        let Some(tabs) = self.pages.get_mut(page) else {
            return;
        };
        let expirations = &mut self.expirations;
        tabs.retain(|key, tab| {
            let live = tab.expires_at >= now;
            if !live {
                expirations.remove(&(tab.expires_at, page.clone(), key.clone()));
            }
            live
        });
        if tabs.is_empty() {
            self.pages.remove(page);
        }
    }

    fn touch(&mut self, page: &PagePath, key: &TabKey, expires_at: Instant, now: SystemTime, editing: Editing) {
        let tabs = self.pages.entry(page.clone()).or_default();
        let tab = tabs
            .entry(key.clone())
            .or_insert_with(|| Tab { state: TabState { joined_at: now, editing_since: None }, expires_at });
        self.expirations.remove(&(tab.expires_at, page.clone(), key.clone()));
        tab.expires_at = expires_at;
        self.expirations.insert((expires_at, page.clone(), key.clone()));
        if let Editing::Set(is_editing) = editing {
            tab.state.editing_since = match (is_editing, tab.state.editing_since) {
                (false, _) => None,
                (true, since) => since.or(Some(now)),
            };
        }
    }

    fn remove(&mut self, page: &PagePath, key: &TabKey) {
        let Some(tabs) = self.pages.get_mut(page) else {
            return;
        };
        if let Some(tab) = tabs.remove(key) {
            self.expirations.remove(&(tab.expires_at, page.clone(), key.clone()));
        }
        if tabs.is_empty() {
            self.pages.remove(page);
        }
    }

    fn presence(&self, page: &PagePath) -> PagePresence {
        self.pages
            .get(page)
            .map(|tabs| aggregate(tabs.iter().map(|(key, tab)| (&key.user, &tab.state))))
            .unwrap_or_default()
    }

    fn sweep_batch(&mut self, now: Instant, max: usize) -> usize {
        let mut removed = 0;
        while removed < max && self.expirations.first().is_some_and(|(deadline, ..)| *deadline < now) {
            let Some((_, page, key)) = self.expirations.pop_first() else {
                break;
            };
            if let Some(tabs) = self.pages.get_mut(&page) {
                tabs.remove(&key);
                if tabs.is_empty() {
                    self.pages.remove(&page);
                }
            }
            removed += 1;
        }
        removed
    }
}

async fn sweep_until_dropped(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let removed = shared.sweep();
        if removed > 0 {
            tracing::debug!(removed, "swept expired tabs");
        }
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn join(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<PagePresence> {
        Ok(self.touch(page, tab, Editing::Keep))
    }

    async fn heartbeat(&self, page: &PagePath, tab: &TabKey, is_editing: bool) -> anyhow::Result<PagePresence> {
        Ok(self.touch(page, tab, Editing::Set(is_editing)))
    }

    async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<PagePresence> {
        let mut state = self.shared.lock();
        state.purge_page(page, Instant::now());
        state.remove(page, tab);
        Ok(state.presence(page))
    }

    async fn presence(&self, page: &PagePath) -> anyhow::Result<PagePresence> {
        let mut state = self.shared.lock();
        state.purge_page(page, Instant::now());
        Ok(state.presence(page))
    }

    async fn sweep(&self) -> anyhow::Result<usize> {
        Ok(self.shared.sweep())
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

    fn page(path: &str) -> PagePath {
        PagePath::parse(path).unwrap()
    }

    fn tab(user: &str, tab: &str) -> TabKey {
        TabKey { user: UserId::parse(user).unwrap(), tab: TabId::parse(tab).unwrap() }
    }

    fn users(presence: &PagePresence) -> Vec<(&str, u32)> {
        presence.viewers.iter().map(|v| (v.user.as_str(), v.tab_count)).collect()
    }

    impl MemoryStore {
        fn tab_entries(&self) -> (usize, usize, usize) {
            let state = self.shared.lock();
            (state.pages.len(), state.pages.values().map(HashMap::len).sum(), state.expirations.len())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tabs_of_one_user_are_one_viewer() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1")).await.unwrap();
        store.join(&docs, &tab("bob", "t1")).await.unwrap();
        let presence = store.join(&docs, &tab("alice", "t2")).await.unwrap();
        assert_eq!(users(&presence), [("alice", 2), ("bob", 1)]);
        assert_eq!(presence.tab_count, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn join_is_idempotent_and_keeps_joined_at() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        let first = store.join(&docs, &tab("alice", "t1")).await.unwrap();
        advance(Duration::from_secs(10)).await;
        let again = store.join(&docs, &tab("alice", "t1")).await.unwrap();
        assert_eq!(first, again);
    }

    #[tokio::test(start_paused = true)]
    async fn tabs_expire_after_the_ttl_unless_refreshed() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1")).await.unwrap();
        store.join(&docs, &tab("bob", "t1")).await.unwrap();
        advance(Duration::from_secs(30)).await;
        store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap();
        advance(Duration::from_secs(15)).await;
        assert_eq!(users(&store.presence(&docs).await.unwrap()), [("alice", 1), ("bob", 1)], "exactly TTL is live");
        advance(Duration::from_millis(1)).await;
        assert_eq!(users(&store.presence(&docs).await.unwrap()), [("bob", 1)]);
        assert_eq!(store.tab_entries(), (1, 1, 1), "lazy expiry freed alice's entry");
    }

    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_re_creates_an_expired_tab() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        let first = store.join(&docs, &tab("alice", "t1")).await.unwrap();
        advance(TTL * 2).await;
        let healed = store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap();
        assert_eq!(users(&healed), [("alice", 1)]);
        assert!(healed.viewers[0].joined_at > first.viewers[0].joined_at, "a new tab, a new joinedAt");
    }

    #[tokio::test(start_paused = true)]
    async fn leave_is_idempotent_and_only_touches_ones_own_tab() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1")).await.unwrap();
        let presence = store.leave(&docs, &tab("mallory", "t1")).await.unwrap();
        assert_eq!(users(&presence), [("alice", 1)], "same tab id, other user");
        store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        let presence = store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        assert!(presence.viewers.is_empty());
        assert_eq!(store.tab_entries(), (0, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_editor_is_the_editor() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
        advance(Duration::from_secs(1)).await;
        store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
        let presence = store.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
        assert_eq!(presence.editor().unwrap().as_str(), "bob", "still editing keeps the start");
        store.join(&docs, &tab("bob", "t1")).await.unwrap();
        assert_eq!(store.presence(&docs).await.unwrap().editor().unwrap().as_str(), "bob", "join keeps editing");
        let presence = store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap();
        assert_eq!(presence.editor().unwrap().as_str(), "alice");
    }

    #[tokio::test(start_paused = true)]
    async fn pages_are_independent() {
        let store = MemoryStore::start(TTL, NEVER);
        store.join(&page("/a"), &tab("alice", "t1")).await.unwrap();
        let b = store.join(&page("/b"), &tab("bob", "t1")).await.unwrap();
        assert_eq!(users(&b), [("bob", 1)]);
        assert!(store.presence(&page("/c")).await.unwrap().viewers.is_empty());
        assert_eq!(store.tab_entries().0, 2, "reading /c made no page");
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_sweep_frees_pages_nobody_reads() {
        let store = MemoryStore::start(TTL, Duration::from_secs(5));
        for i in 0..100 {
            store.join(&page(&format!("/p{i}")), &tab("alice", "t1")).await.unwrap();
        }
        advance(Duration::from_secs(30)).await;
        store.join(&page("/p0"), &tab("alice", "t1")).await.unwrap();
        // Sleeping (unlike `advance`) lets the sweeper's tick run on this paused clock.
        tokio::time::sleep(TTL - Duration::from_secs(20)).await;
        assert_eq!(store.tab_entries(), (1, 1, 1), "only the refreshed tab is left");
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_does_not_keep_the_store_alive() {
        let store = MemoryStore::start(TTL, Duration::from_secs(1));
        let weak = Arc::downgrade(&store.shared);
        drop(store);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(weak.upgrade().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn sweep_removes_more_than_one_batch() {
        let store = MemoryStore::start(TTL, NEVER);
        for i in 0..(SWEEP_BATCH + 5) {
            store.join(&page(&format!("/p{i}")), &tab("alice", "t")).await.unwrap();
        }
        advance(TTL + Duration::from_millis(1)).await;
        assert_eq!(store.sweep().await.unwrap(), SWEEP_BATCH + 5);
        assert_eq!(store.tab_entries(), (0, 0, 0));
    }
}
