//! One shard of the registry: the pages whose path hashes to it, their tabs, their expiry
//! order and their peaks. Its methods run under the shard's lock and never wait.
//!
//! Tabs live in one slab of compact records (72 bytes); a page finds its tabs through a
//! table of slot numbers (4 bytes each) hashed by user and tab id, so a heartbeat is two
//! hash probes and three stores, with no allocation. Each page's peak is raised in `commit`,
//! which every change passes through, so it is exact rather than sampled; it outlives an
//! emptied page until the stats sampler has saved it.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use slab::Slab;

use super::clock::{Clock, Ticks};
use super::compact_tab_id::CompactTabId;
use super::expiry::{self, ExpiryQueue, Queued};
use super::peaks::Peaks;
use super::quota::Quota;
use super::viewers::{PageViewers, TabTimes};
use super::wheel::{Bucket, Wheel};
use crate::domain::{PageCounts, PagePresence, Peak, TabKey, Version, ViewerPresence};
use crate::domain::{PagePath, UserId};
use crate::store::events::{PageEvent, PageEvents};
use crate::store::TouchError;

/// What a change needs from outside its shard.
pub struct Context<'a> {
    pub now: Ticks,
    pub clock: &'a Clock,
    /// The store-wide version counter: versions never repeat, even for a page re-created.
    pub versions: &'a AtomicU64,
    pub events: &'a PageEvents,
    pub quota: &'a Quota,
}

/// How a touch changes a tab's editing state.
#[derive(Clone, Copy)]
pub enum Editing {
    Keep,
    Set(bool),
}

#[derive(Default)]
pub struct Shard {
    pages: Slab<Page>,
    page_slots: HashMap<PagePath, u32>,
    tabs: Slab<Tab>,
    wheel: Wheel,
    peaks: Peaks,
    hasher: DefaultHashBuilder,
}

struct Page {
    path: PagePath,
    /// Slots of its tabs, hashed by user and tab id.
    tabs: HashTable<u32>,
    /// Its viewers, folded from its tabs as they change, in join order.
    viewers: PageViewers,
    /// Its tabs in the order they may expire, so lazy expiry visits only those that may.
    expiry: ExpiryQueue,
    version: Version,
}

struct Tab {
    user: UserId,
    id: CompactTabId,
    page: u32,
    /// The wheel bucket its slot was queued in; its slot in any other bucket is stale.
    queued_in: Bucket,
    joined_at: Ticks,
    /// When this tab began editing; `None` while it is not editing.
    editing_since: Option<Ticks>,
    deadline: Ticks,
}

/// What one operation did to a page, to publish once it is done.
#[derive(Default)]
struct Changes {
    changed: bool,
    events: Vec<PageEvent>,
}

impl Shard {
    /// Adds the tab, if the quota admits it, or refreshes it until `deadline`; answers the
    /// page's version.
    pub fn touch(
        &mut self,
        path: &PagePath,
        key: &TabKey,
        deadline: Ticks,
        editing: Editing,
        cx: &Context,
    ) -> Result<Version, TouchError> {
        let mut changes = Changes::default();
        let page = self.page_slots.get(path).copied();
        if let Some(page) = page {
            self.purge(page, cx, &mut changes);
        }
        let id = CompactTabId::from(&key.tab);
        let hash = self.hasher.hash_one((&key.user, &id));
        let slot = match page.and_then(|page| self.find_tab(page, hash, &key.user, &id)) {
            Some(slot) => {
                self.tabs[slot as usize].deadline = deadline;
                slot
            }
            None => {
                if let Err(refused) = cx.quota.admit(&key.user) {
                    // What lazy expiry found still goes out.
                    if let Some(page) = page {
                        self.commit(page, changes, cx);
                    }
                    return Err(refused);
                }
                let page = page.unwrap_or_else(|| self.add_page(path));
                self.add_tab(page, hash, Tab::new(key.user.clone(), id, page, cx.now, deadline), &mut changes)
            }
        };
        let page = self.tabs[slot as usize].page;
        if let Editing::Set(is_editing) = editing {
            let tab = &mut self.tabs[slot as usize];
            if is_editing != tab.editing_since.is_some() {
                tab.editing_since = is_editing.then_some(cx.now);
                changes.changed = true;
                let tabs = &self.tabs;
                self.pages[page as usize].viewers.tab_changed(&key.user, |slot| times(tabs, slot));
            }
        }
        Ok(self.commit(page, changes, cx))
    }

    /// Removes the tab if it is there; answers the page's version.
    pub fn leave(&mut self, path: &PagePath, key: &TabKey, cx: &Context) -> Version {
        let Some(&page) = self.page_slots.get(path) else { return Version::EMPTY };
        let mut changes = Changes::default();
        self.purge(page, cx, &mut changes);
        let id = CompactTabId::from(&key.tab);
        let hash = self.hasher.hash_one((&key.user, &id));
        if let Some(slot) = self.find_tab(page, hash, &key.user, &id) {
            self.remove_tab(slot, cx.quota, &mut changes);
        }
        self.commit(page, changes, cx)
    }

    /// The page's version after lazy expiry.
    pub fn version(&mut self, path: &PagePath, cx: &Context) -> Version {
        self.read(path, cx, |_| ()).map_or(Version::EMPTY, |((), version)| version)
    }

    /// The page after lazy expiry: its first `limit` viewers in join order, read from the
    /// order kept, and its counts.
    pub fn presence(&mut self, path: &PagePath, limit: usize, cx: &Context) -> PagePresence {
        let read = self.read(path, cx, |entry| PagePresence {
            viewers: entry.viewers.in_join_order().take(limit).map(|(user, v)| v.presence(user, cx.clock)).collect(),
            viewer_count: entry.viewers.len(),
            tab_count: entry.tabs.len(),
            editor: entry.viewers.editor().cloned(),
            version: Version::EMPTY,
        });
        read.map_or_else(PagePresence::default, |(presence, version)| PagePresence { version, ..presence })
    }

    /// One user on the page, after lazy expiry.
    pub fn viewer(&mut self, path: &PagePath, user: &UserId, cx: &Context) -> Option<ViewerPresence> {
        let read = |entry: &Page| entry.viewers.get(user).map(|(user, v)| v.presence(user, cx.clock));
        self.read(path, cx, read)?.0
    }

    /// Removes up to about `max` expired tabs, committing each page they were on once.
    /// Answers how many it removed, and whether expired tabs may be left.
    pub fn sweep_batch(&mut self, max: usize, cx: &Context) -> (usize, bool) {
        let mut changed_pages: HashMap<u32, Changes> = HashMap::new();
        let (mut visited, mut removed) = (0, 0);
        while visited < max {
            let Some((bucket, slots)) = self.wheel.take_due(cx.now, max - visited) else { break };
            visited += slots.len();
            for slot in slots {
                let Some(tab) = self.tabs.get_mut(slot as usize).filter(|tab| tab.queued_in == bucket) else {
                    // Left or lazily expired before its bucket came due.
                    continue;
                };
                if tab.deadline >= cx.now {
                    tab.queued_in = self.wheel.push(slot, tab.deadline);
                    continue;
                }
                let page = tab.page;
                self.remove_tab(slot, cx.quota, changed_pages.entry(page).or_default());
                removed += 1;
            }
        }
        for (page, changes) in changed_pages {
            self.commit(page, changes, cx);
        }
        (removed, visited >= max)
    }

    /// Gives back memory that a large sweep left unused.
    pub fn shrink(&mut self) {
        if self.tabs.len() < self.tabs.capacity() / 4 {
            self.tabs.shrink_to_fit();
        }
        if self.pages.len() < self.pages.capacity() / 4 {
            self.pages.shrink_to_fit();
        }
        if self.page_slots.len() < self.page_slots.capacity() / 4 {
            self.page_slots.shrink_to_fit();
        }
        self.peaks.shrink();
    }

    /// Every live page with its counts, after lazy expiry of each.
    pub fn page_counts(&mut self, cx: &Context) -> Vec<PageCounts> {
        let pages: Vec<u32> = self.pages.iter().map(|(page, _)| slot_number(page)).collect();
        let mut counts = Vec::with_capacity(pages.len());
        for page in pages {
            let mut changes = Changes::default();
            self.purge(page, cx, &mut changes);
            if self.commit(page, changes, cx) == Version::EMPTY {
                continue;
            }
            let entry = &self.pages[page as usize];
            counts.push(PageCounts {
                page: entry.path.clone(),
                viewer_count: entry.viewers.len(),
                tab_count: entry.tabs.len(),
            });
        }
        counts
    }

    pub fn peak(&self, path: &PagePath) -> Option<Peak> {
        self.peaks.get(path)
    }

    pub fn unsaved_peaks(&self) -> impl Iterator<Item = (PagePath, Peak)> + '_ {
        self.peaks.unsaved()
    }

    /// Marks the peak saved, unless it rose since; forgets a saved peak of a gone page.
    pub fn peak_saved(&mut self, path: &PagePath, peak: &Peak) {
        self.peaks.saved(path, peak, self.page_slots.contains_key(path));
    }

    /// `(pages, tabs, wheel entries)`, for tests and benchmarks.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.pages.len(), self.tabs.len(), self.wheel.len())
    }

    /// Peaks held, and entries in the pages' expiry queues.
    #[cfg(test)]
    pub fn bookkeeping(&self) -> (usize, usize) {
        (self.peaks.len(), self.pages.iter().map(|(_, page)| page.expiry.len()).sum())
    }

    fn add_page(&mut self, path: &PagePath) -> u32 {
        let page = Page {
            path: path.clone(),
            tabs: HashTable::new(),
            viewers: PageViewers::default(),
            expiry: ExpiryQueue::default(),
            version: Version::EMPTY,
        };
        let slot = slot_number(self.pages.insert(page));
        self.page_slots.insert(path.clone(), slot);
        slot
    }

    fn find_tab(&self, page: u32, hash: u64, user: &UserId, id: &CompactTabId) -> Option<u32> {
        let tabs = &self.tabs;
        self.pages[page as usize]
            .tabs
            .find(hash, |&slot| {
                let tab = &tabs[slot as usize];
                tab.user == *user && tab.id == *id
            })
            .copied()
    }

    fn add_tab(&mut self, page: u32, hash: u64, mut tab: Tab, changes: &mut Changes) -> u32 {
        let entry = &mut self.pages[page as usize];
        changes.changed = true;
        let slot = slot_number(self.tabs.vacant_key());
        entry.expiry.push(Queued { deadline: tab.deadline, slot, tag: expiry::tag(tab.joined_at) });
        tab.queued_in = self.wheel.push(slot, tab.deadline);
        let user = tab.user.clone();
        self.tabs.insert(tab);
        let (tabs, hasher) = (&self.tabs, &self.hasher);
        entry.tabs.insert_unique(hash, slot, |&slot| tabs[slot as usize].hash(hasher));
        if entry.viewers.tab_added(&user, slot, |slot| times(tabs, slot)) {
            changes.events.push(PageEvent::Joined(user));
        }
        slot
    }

    fn remove_tab(&mut self, slot: u32, quota: &Quota, changes: &mut Changes) {
        let tab = self.tabs.remove(slot as usize);
        quota.release(&tab.user);
        let entry = &mut self.pages[tab.page as usize];
        if let Ok(found) = entry.tabs.find_entry(tab.hash(&self.hasher), |&other| other == slot) {
            found.remove();
        }
        changes.changed = true;
        let tabs = &self.tabs;
        if entry.viewers.tab_removed(&tab.user, slot, |slot| times(tabs, slot)) {
            changes.events.push(PageEvent::Left(tab.user));
        }
        entry.expiry.compact(entry.tabs.len(), || entry.tabs.iter().map(|&slot| queued(tabs, slot)).collect());
    }

    /// Reads the page after lazy expiry, and answers its version then; `None` if it has
    /// no tabs.
    fn read<T>(&mut self, path: &PagePath, cx: &Context, read: impl FnOnce(&Page) -> T) -> Option<(T, Version)> {
        let &page = self.page_slots.get(path)?;
        let mut changes = Changes::default();
        self.purge(page, cx, &mut changes);
        let value = read(&self.pages[page as usize]);
        Some((value, self.commit(page, changes, cx)))
    }

    /// Lazy expiry: drops the page's expired tabs, visiting only those its queue says may
    /// be due (a tab refreshed since it was queued is queued again, under its deadline now).
    fn purge(&mut self, page: u32, cx: &Context, changes: &mut Changes) {
        while let Some(due) = self.pages[page as usize].expiry.pop_due(cx.now) {
            let queued_tab = self.tabs.get(due.slot as usize).filter(|tab| tab.page == page);
            let Some(tab) = queued_tab.filter(|tab| expiry::tag(tab.joined_at) == due.tag) else {
                continue; // It left: its slot is empty, or another tab's.
            };
            if tab.deadline < cx.now {
                self.remove_tab(due.slot, cx.quota, changes);
            } else {
                let again = queued(&self.tabs, due.slot);
                self.pages[page as usize].expiry.push(again);
            }
        }
    }

    /// Gives the page a new version if it changed (an empty page is dropped and is at
    /// version 0), raises its peak, and publishes what happened.
    fn commit(&mut self, page: u32, changes: Changes, cx: &Context) -> Version {
        let entry = &mut self.pages[page as usize];
        // Only a change empties a page, so an unchanged one is live and keeps its version:
        // the path of a heartbeat that changes nothing.
        if !changes.changed {
            return entry.version;
        }
        entry.version = Version(cx.versions.fetch_add(1, Ordering::Relaxed) + 1);
        let viewer_count = entry.viewers.len();
        let path = entry.path.clone();
        let version = if entry.tabs.is_empty() {
            self.pages.remove(page as usize);
            self.page_slots.remove(&path);
            self.peaks.page_gone(&path);
            Version::EMPTY
        } else {
            entry.version
        };
        self.peaks.raise(&path, viewer_count, cx.clock.wall(cx.now));
        cx.events.publish(&path, changes.events.into_iter().chain([PageEvent::Changed(version)]));
        version
    }
}

impl Tab {
    fn new(user: UserId, id: CompactTabId, page: u32, now: Ticks, deadline: Ticks) -> Self {
        Tab { user, id, page, queued_in: 0, joined_at: now, editing_since: None, deadline }
    }

    fn hash(&self, hasher: &DefaultHashBuilder) -> u64 {
        hasher.hash_one((&self.user, &self.id))
    }
}

/// The tab in `slot` as its page's expiry queue holds it.
fn queued(tabs: &Slab<Tab>, slot: u32) -> Queued {
    let tab = &tabs[slot as usize];
    Queued { deadline: tab.deadline, slot, tag: expiry::tag(tab.joined_at) }
}

fn times(tabs: &Slab<Tab>, slot: u32) -> TabTimes {
    let tab = &tabs[slot as usize];
    TabTimes { joined_at: tab.joined_at, editing_since: tab.editing_since }
}

fn slot_number(key: usize) -> u32 {
    u32::try_from(key).expect("fewer than 4 billion tabs or pages in one shard")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tab_record_stays_compact() {
        assert_eq!(size_of::<Tab>(), 72);
    }
}
