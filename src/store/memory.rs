//! The in-process registry: one map of pages behind a mutex, shared by every worker.
//!
//! As in mini-redis `db.rs`, expiry order is kept beside the data (a `BTreeSet` of
//! deadlines), so the sweep pops what is due and never scans live tabs, and the lock is
//! only held for short, synchronous steps (never across an `.await`).
//!
//! Each page's peak is kept beside the pages and raised in `commit`, which every change
//! passes through, so it is exact rather than sampled. It outlives an emptied page until
//! the stats sampler has saved it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::time::Instant;

use super::events::{PageEvent, PageEvents};
use super::{aggregate, PageCounts, PagePresence, Peak, PresenceStore, TabKey, TabState, Version};
use crate::domain::{PagePath, UserId};

/// The most expired tabs one sweep step removes under the lock (about a millisecond's
/// work at a million tabs)...
const SWEEP_BATCH: usize = 1_000;
/// ...and the pause after it: `std::sync::Mutex` is not fair, so a sweep that took the
/// lock straight back would starve the requests waiting for it until it was done.
const SWEEP_PAUSE: Duration = Duration::from_millis(1);

pub struct MemoryStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    events: PageEvents,
    ttl: Duration,
    /// Maps the monotonic clock used for expiry to wall time for `joinedAt`.
    started: (Instant, SystemTime),
}

#[derive(Default)]
struct State {
    pages: HashMap<PagePath, Page>,
    expirations: BTreeSet<(Instant, PagePath, TabKey)>,
    last_version: u64,
    /// Peaks of live pages, and of pages gone since their peak was last saved: nothing
    /// else, so the map stays as small as the pages are.
    peaks: HashMap<PagePath, PeakEntry>,
}

struct PeakEntry {
    peak: Peak,
    /// Whether the stats sampler has saved this peak; a saved one of a gone page is dropped.
    saved: bool,
}

#[derive(Default)]
struct Page {
    tabs: HashMap<TabKey, Tab>,
    /// No tab expires before this (a lower bound: refreshes only move deadlines later),
    /// so lazy expiry scans the page only when a tab may really be due.
    earliest_expiry: Option<Instant>,
    /// Live tabs per user, so a user's first tab is a join and their last a leave.
    tabs_per_user: HashMap<UserId, u32>,
    version: Version,
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

/// What one operation did to a page, to publish once it is done.
#[derive(Default)]
struct Changes {
    changed: bool,
    events: Vec<PageEvent>,
}

impl MemoryStore {
    /// Makes the store and starts its background sweep, which ends when the store is dropped.
    /// Must be called inside a tokio runtime.
    pub fn start(ttl: Duration, sweep_every: Duration) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            events: PageEvents::default(),
            ttl,
            started: (Instant::now(), SystemTime::now()),
        });
        tokio::spawn(sweep_until_dropped(Arc::downgrade(&shared), sweep_every));
        Self { shared }
    }

    /// Runs `operation` on the page after dropping its expired tabs, then bumps the page's
    /// version and tells its watchers if anything changed.
    fn update(
        &self,
        page: &PagePath,
        operation: impl FnOnce(&mut State, &mut Changes),
    ) -> (MutexGuard<'_, State>, Version) {
        let now = Instant::now();
        let wall_now = self.shared.wall_time(now);
        let mut state = self.shared.lock();
        let mut changes = Changes::default();
        state.purge_page(page, now, &mut changes);
        operation(&mut state, &mut changes);
        let version = state.commit(page, changes, &self.shared.events, wall_now);
        (state, version)
    }

    fn touch(&self, page: &PagePath, key: &TabKey, editing: Editing) -> Version {
        let now = Instant::now();
        let (expires_at, wall_now) = (now + self.shared.ttl, self.shared.wall_time(now));
        self.update(page, |state, changes| state.touch(page, key, expires_at, wall_now, editing, changes)).1
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

    async fn sweep(&self) -> usize {
        let mut removed = 0;
        loop {
            let now = Instant::now();
            let batch = self.lock().sweep_batch(now, self.wall_time(now), SWEEP_BATCH, &self.events);
            removed += batch;
            if batch < SWEEP_BATCH {
                self.events.prune();
                return removed;
            }
            tokio::time::sleep(SWEEP_PAUSE).await;
        }
    }
}

impl State {
    /// Lazy expiry: drops the page's expired tabs.
    fn purge_page(&mut self, page: &PagePath, now: Instant, changes: &mut Changes) {
        let Some(entry) = self.pages.get_mut(page) else { return };
        if entry.earliest_expiry.is_none_or(|earliest| earliest >= now) {
            return;
        }
        let expired: Vec<TabKey> =
            entry.tabs.iter().filter(|(_, tab)| tab.expires_at < now).map(|(key, _)| key.clone()).collect();
        for key in expired {
            if let Some(expires_at) = entry.remove(&key, changes) {
                self.expirations.remove(&(expires_at, page.clone(), key));
            }
        }
        entry.earliest_expiry = entry.tabs.values().map(|tab| tab.expires_at).min();
    }

    fn touch(
        &mut self,
        page: &PagePath,
        key: &TabKey,
        expires_at: Instant,
        now: SystemTime,
        editing: Editing,
        changes: &mut Changes,
    ) {
        let entry = self.pages.entry(page.clone()).or_default();
        let tab = match entry.tabs.get_mut(key) {
            Some(tab) => {
                self.expirations.remove(&(tab.expires_at, page.clone(), key.clone()));
                tab.expires_at = expires_at;
                tab
            }
            None => entry.add(key, TabState { joined_at: now, editing_since: None }, expires_at, changes),
        };
        self.expirations.insert((expires_at, page.clone(), key.clone()));
        if let Editing::Set(is_editing) = editing {
            if is_editing != tab.state.editing_since.is_some() {
                tab.state.editing_since = is_editing.then_some(now);
                changes.changed = true;
            }
        }
    }

    fn leave(&mut self, page: &PagePath, key: &TabKey, changes: &mut Changes) {
        let Some(entry) = self.pages.get_mut(page) else { return };
        if let Some(expires_at) = entry.remove(key, changes) {
            self.expirations.remove(&(expires_at, page.clone(), key.clone()));
        }
    }

    /// Gives the page a new version if it changed (an empty page is dropped and is at
    /// version 0), raises its peak, and publishes what happened.
    fn commit(&mut self, page: &PagePath, changes: Changes, events: &PageEvents, now: SystemTime) -> Version {
        let Some(entry) = self.pages.get_mut(page) else { return Version::EMPTY };
        if changes.changed {
            self.last_version += 1;
            entry.version = Version(self.last_version);
        }
        let viewer_count = entry.tabs_per_user.len();
        let version = if entry.tabs.is_empty() {
            self.pages.remove(page);
            // A saved peak of a page that is gone lives on in SQL; memory can let it go.
            if self.peaks.get(page).is_some_and(|entry| entry.saved) {
                self.peaks.remove(page);
            }
            Version::EMPTY
        } else {
            entry.version
        };
        if changes.changed {
            self.raise_peak(page, viewer_count, now);
            events.publish(page, changes.events.into_iter().chain([PageEvent::Changed(version)]));
        }
        version
    }

    /// Keeps `viewer_count` as the page's peak if it is higher; an equal count keeps the
    /// earlier time, when the peak was first reached.
    fn raise_peak(&mut self, page: &PagePath, viewer_count: usize, at: SystemTime) {
        let risen = PeakEntry { peak: Peak { viewer_count, at }, saved: false };
        match self.peaks.get_mut(page) {
            Some(entry) if entry.peak.viewer_count >= viewer_count => {}
            Some(entry) => *entry = risen,
            None if viewer_count > 0 => {
                self.peaks.insert(page.clone(), risen);
            }
            None => {}
        }
    }

    fn page_counts(&self) -> Vec<PageCounts> {
        let counts = |(page, entry): (&PagePath, &Page)| PageCounts {
            page: page.clone(),
            viewer_count: entry.tabs_per_user.len(),
            tab_count: entry.tabs.len(),
        };
        self.pages.iter().map(counts).collect()
    }

    fn peaks_saved(&mut self, saved: &[(PagePath, Peak)]) {
        for (page, peak) in saved {
            let live = self.pages.contains_key(page);
            let Some(entry) = self.peaks.get_mut(page) else { continue };
            if entry.peak != *peak {
                // It rose while being saved: the higher one is still to save.
                continue;
            }
            if live {
                entry.saved = true;
            } else {
                self.peaks.remove(page);
            }
        }
    }

    fn presence(&self, page: &PagePath) -> PagePresence {
        let Some(entry) = self.pages.get(page) else { return PagePresence::default() };
        let mut presence = aggregate(entry.tabs.iter().map(|(key, tab)| (&key.user, &tab.state)));
        presence.version = entry.version;
        presence
    }

    fn sweep_batch(&mut self, now: Instant, wall_now: SystemTime, max: usize, events: &PageEvents) -> usize {
        let mut removed = 0;
        while removed < max && self.expirations.first().is_some_and(|(deadline, ..)| *deadline < now) {
            let Some((_, page, key)) = self.expirations.pop_first() else { break };
            let mut changes = Changes::default();
            if let Some(entry) = self.pages.get_mut(&page) {
                entry.remove(&key, &mut changes);
            }
            self.commit(&page, changes, events, wall_now);
            removed += 1;
        }
        removed
    }
}

impl Page {
    fn add(&mut self, key: &TabKey, state: TabState, expires_at: Instant, changes: &mut Changes) -> &mut Tab {
        let count = self.tabs_per_user.entry(key.user.clone()).or_default();
        *count += 1;
        if *count == 1 {
            changes.events.push(PageEvent::Joined(key.user.clone()));
        }
        changes.changed = true;
        self.earliest_expiry = Some(self.earliest_expiry.map_or(expires_at, |earliest| earliest.min(expires_at)));
        self.tabs.entry(key.clone()).or_insert(Tab { state, expires_at })
    }

    /// Removes the tab; answers its expiry if it was there.
    fn remove(&mut self, key: &TabKey, changes: &mut Changes) -> Option<Instant> {
        let tab = self.tabs.remove(key)?;
        changes.changed = true;
        if let Some(count) = self.tabs_per_user.get_mut(&key.user) {
            *count -= 1;
            if *count == 0 {
                self.tabs_per_user.remove(&key.user);
                changes.events.push(PageEvent::Left(key.user.clone()));
            }
        }
        Some(tab.expires_at)
    }
}

async fn sweep_until_dropped(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let removed = shared.sweep().await;
        if removed > 0 {
            tracing::debug!(removed, "swept expired tabs");
        }
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn join(&self, page: &PagePath, tab: &TabKey, is_editing: Option<bool>) -> anyhow::Result<Version> {
        Ok(self.touch(page, tab, is_editing.map_or(Editing::Keep, Editing::Set)))
    }

    async fn heartbeat(&self, page: &PagePath, tab: &TabKey, is_editing: bool) -> anyhow::Result<Version> {
        Ok(self.touch(page, tab, Editing::Set(is_editing)))
    }

    async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<Version> {
        Ok(self.update(page, |state, changes| state.leave(page, tab, changes)).1)
    }

    async fn version(&self, page: &PagePath) -> anyhow::Result<Version> {
        Ok(self.update(page, |_, _| {}).1)
    }

    async fn presence(&self, page: &PagePath) -> anyhow::Result<PagePresence> {
        let (state, _) = self.update(page, |_, _| {});
        Ok(state.presence(page))
    }

    async fn sweep(&self) -> anyhow::Result<usize> {
        Ok(self.shared.sweep().await)
    }

    async fn page_counts(&self) -> anyhow::Result<Vec<PageCounts>> {
        // Tabs past the TTL are not live: drop the ones that are due before counting.
        self.shared.sweep().await;
        Ok(self.shared.lock().page_counts())
    }

    async fn peak(&self, page: &PagePath) -> anyhow::Result<Option<Peak>> {
        Ok(self.shared.lock().peaks.get(page).map(|entry| entry.peak))
    }

    async fn unsaved_peaks(&self) -> anyhow::Result<Vec<(PagePath, Peak)>> {
        let state = self.shared.lock();
        Ok(state
            .peaks
            .iter()
            .filter(|(_, entry)| !entry.saved)
            .map(|(page, entry)| (page.clone(), entry.peak))
            .collect())
    }

    async fn peaks_saved(&self, saved: &[(PagePath, Peak)]) -> anyhow::Result<()> {
        self.shared.lock().peaks_saved(saved);
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

    fn page(path: &str) -> PagePath {
        PagePath::parse(path).unwrap()
    }

    fn tab(user: &str, tab: &str) -> TabKey {
        TabKey { user: UserId::parse(user).unwrap(), tab: TabId::parse(tab).unwrap() }
    }

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    async fn users(store: &MemoryStore, page: &PagePath) -> Vec<(String, u32)> {
        let presence = store.presence(page).await.unwrap();
        presence.viewers.iter().map(|v| (v.user.to_string(), v.tab_count)).collect()
    }

    fn drain(receiver: &mut tokio::sync::broadcast::Receiver<PageEvent>) -> Vec<PageEvent> {
        std::iter::from_fn(|| receiver.try_recv().ok()).collect()
    }

    impl MemoryStore {
        fn tab_entries(&self) -> (usize, usize, usize) {
            let state = self.shared.lock();
            (state.pages.len(), state.pages.values().map(|page| page.tabs.len()).sum(), state.expirations.len())
        }

        fn peak_entries(&self) -> usize {
            self.shared.lock().peaks.len()
        }

        /// What the clock said `elapsed` after the store started.
        fn wall(&self, elapsed: Duration) -> SystemTime {
            self.shared.started.1 + elapsed
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
    async fn tabs_of_one_user_are_one_viewer() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
        assert_eq!(users(&store, &docs).await, [("alice".into(), 2), ("bob".into(), 1)]);
        assert_eq!(store.presence(&docs).await.unwrap().tab_count, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_keeps_the_version_and_a_change_moves_it() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        let joined = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        let first = store.presence(&docs).await.unwrap();
        advance(Duration::from_secs(10)).await;
        assert_eq!(store.join(&docs, &tab("alice", "t1"), None).await.unwrap(), joined, "join again");
        assert_eq!(store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap(), joined, "heartbeat");
        assert_eq!(store.presence(&docs).await.unwrap(), first, "joinedAt kept");
        let editing = store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
        assert!(editing > joined);
        let second_tab = store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
        assert!(second_tab > editing);
        store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        assert_eq!(store.leave(&docs, &tab("alice", "t2")).await.unwrap(), Version::EMPTY);
        assert_eq!(store.version(&docs).await.unwrap(), Version::EMPTY);
    }

    #[tokio::test(start_paused = true)]
    async fn tabs_expire_after_the_ttl_unless_refreshed() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        advance(Duration::from_secs(30)).await;
        store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap();
        advance(Duration::from_secs(15)).await;
        assert_eq!(users(&store, &docs).await.len(), 2, "exactly TTL is live");
        advance(Duration::from_millis(1)).await;
        assert_eq!(users(&store, &docs).await, [("bob".into(), 1)]);
        assert_eq!(store.tab_entries(), (1, 1, 1), "lazy expiry freed alice's entry");
    }

    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_re_creates_an_expired_tab() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        let first = store.presence(&docs).await.unwrap();
        advance(TTL * 2).await;
        store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap();
        let healed = store.presence(&docs).await.unwrap();
        assert_eq!(healed.viewers.len(), 1);
        assert!(healed.viewers[0].joined_at > first.viewers[0].joined_at, "a new tab, a new joinedAt");
    }

    #[tokio::test(start_paused = true)]
    async fn leave_is_idempotent_and_only_touches_ones_own_tab() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        let joined = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        assert_eq!(store.leave(&docs, &tab("mallory", "t1")).await.unwrap(), joined, "same tab id, other user");
        store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        assert_eq!(store.leave(&docs, &tab("alice", "t1")).await.unwrap(), Version::EMPTY);
        assert_eq!(store.tab_entries(), (0, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_editor_is_the_editor() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        let editor = || async { store.presence(&docs).await.unwrap().editor().map(ToString::to_string) };
        store.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
        advance(Duration::from_secs(1)).await;
        store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
        store.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
        assert_eq!(editor().await.as_deref(), Some("bob"), "still editing keeps the start");
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        assert_eq!(editor().await.as_deref(), Some("bob"), "a join without isEditing keeps it");
        store.join(&docs, &tab("bob", "t1"), Some(false)).await.unwrap();
        assert_eq!(editor().await.as_deref(), Some("alice"), "a join with isEditing sets it");
    }

    #[tokio::test(start_paused = true)]
    async fn pages_are_independent() {
        let store = MemoryStore::start(TTL, NEVER);
        store.join(&page("/a"), &tab("alice", "t1"), None).await.unwrap();
        store.join(&page("/b"), &tab("bob", "t1"), None).await.unwrap();
        assert_eq!(users(&store, &page("/b")).await, [("bob".into(), 1)]);
        assert!(users(&store, &page("/c")).await.is_empty());
        assert_eq!(store.tab_entries().0, 2, "reading /c made no page");
    }

    #[tokio::test(start_paused = true)]
    async fn watchers_hear_joins_leaves_and_changes() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        let mut events = store.events().subscribe(&docs);
        let v1 = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        let v2 = store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
        store.heartbeat(&docs, &tab("alice", "t2"), false).await.unwrap();
        let v3 = store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        store.leave(&docs, &tab("alice", "t2")).await.unwrap();
        assert_eq!(
            drain(&mut events),
            [
                PageEvent::Joined(user("alice")),
                PageEvent::Changed(v1),
                PageEvent::Changed(v2),
                PageEvent::Changed(v3),
                PageEvent::Left(user("alice")),
                PageEvent::Changed(Version::EMPTY),
            ],
            "a second tab is no join, a refresh no change, the last tab's leave a leave"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweep_tells_watchers_who_expired() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        let mut events = store.events().subscribe(&docs);
        advance(TTL + Duration::from_millis(1)).await;
        assert_eq!(store.sweep().await.unwrap(), 1);
        assert_eq!(drain(&mut events), [PageEvent::Left(user("alice")), PageEvent::Changed(Version::EMPTY)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_sweep_frees_pages_nobody_reads() {
        let store = MemoryStore::start(TTL, Duration::from_secs(5));
        for i in 0..100 {
            store.join(&page(&format!("/p{i}")), &tab("alice", "t1"), None).await.unwrap();
        }
        advance(Duration::from_secs(30)).await;
        store.join(&page("/p0"), &tab("alice", "t1"), None).await.unwrap();
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
            store.join(&page(&format!("/p{i}")), &tab("alice", "t"), None).await.unwrap();
        }
        advance(TTL + Duration::from_millis(1)).await;
        assert_eq!(store.sweep().await.unwrap(), SWEEP_BATCH + 5);
        assert_eq!(store.tab_entries(), (0, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_peak_outlives_the_viewers() {
        let store = MemoryStore::start(TTL, NEVER);
        let auction = page("/auction/1");
        store.join(&auction, &tab("alice", "t1"), None).await.unwrap();
        advance(Duration::from_secs(1)).await;
        store.join(&auction, &tab("bob", "t1"), None).await.unwrap();
        advance(Duration::from_secs(1)).await;
        store.join(&auction, &tab("bob", "t2"), None).await.unwrap();
        store.leave(&auction, &tab("alice", "t1")).await.unwrap();
        store.join(&auction, &tab("carol", "t1"), None).await.unwrap();
        let peak = Peak { viewer_count: 2, at: store.wall(Duration::from_secs(1)) };
        assert_eq!(store.peak(&auction).await.unwrap(), Some(peak), "a second tab is no viewer; a tie keeps the first");
        for (user, id) in [("bob", "t1"), ("bob", "t2"), ("carol", "t1")] {
            store.leave(&auction, &tab(user, id)).await.unwrap();
        }
        assert!(counts(&store).await.is_empty(), "everyone left");
        assert_eq!(store.peak(&auction).await.unwrap(), Some(peak), "the peak stays");
    }

    #[tokio::test(start_paused = true)]
    async fn counts_never_go_negative() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        store.leave(&docs, &tab("alice", "t1")).await.unwrap();
        store.leave(&docs, &tab("bob", "t1")).await.unwrap();
        let empty = store.presence(&docs).await.unwrap();
        assert_eq!((empty.viewers.len(), empty.tab_count), (0, 0));
        store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
        advance(TTL + Duration::from_millis(1)).await;
        store.sweep().await.unwrap();
        store.leave(&docs, &tab("alice", "t2")).await.unwrap();
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        assert_eq!(counts(&store).await, [("/docs".into(), 1, 1)], "extra leaves were not held against the page");
        assert_eq!(store.peak(&docs).await.unwrap().unwrap().viewer_count, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn counts_and_peaks_of_pages_are_independent() {
        let store = MemoryStore::start(TTL, NEVER);
        let (a, b) = (page("/a"), page("/b"));
        store.join(&a, &tab("alice", "t1"), None).await.unwrap();
        store.join(&a, &tab("bob", "t1"), None).await.unwrap();
        store.join(&b, &tab("alice", "t2"), None).await.unwrap();
        store.join(&b, &tab("alice", "t3"), None).await.unwrap();
        assert_eq!(counts(&store).await, [("/a".into(), 2, 2), ("/b".into(), 1, 2)]);
        store.leave(&a, &tab("alice", "t1")).await.unwrap();
        store.leave(&a, &tab("bob", "t1")).await.unwrap();
        assert_eq!(counts(&store).await, [("/b".into(), 1, 2)], "emptying /a leaves /b alone");
        assert_eq!(store.peak(&a).await.unwrap().map(|p| p.viewer_count), Some(2));
        assert_eq!(store.peak(&b).await.unwrap().map(|p| p.viewer_count), Some(1));
        assert_eq!(store.peak(&page("/c")).await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn page_counts_leave_out_expired_tabs() {
        let store = MemoryStore::start(TTL, NEVER);
        let docs = page("/docs");
        store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
        store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
        advance(Duration::from_secs(30)).await;
        store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap();
        advance(Duration::from_secs(16)).await;
        assert_eq!(counts(&store).await, [("/docs".into(), 1, 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_saved_peak_is_forgotten_once_its_page_is_gone() {
        let store = MemoryStore::start(TTL, NEVER);
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
