//! The presence registry: which tabs of which users are live on which page.
//!
//! `PresenceStore` is the contract; `memory` keeps it in this process, `redis` in Redis,
//! shared by every instance of a scaled-out deployment. Every store answers a page as a
//! `PagePresence` (its viewers in join order, its counts and its editor), so they cannot
//! disagree on what a snapshot means. Stores also count: each live page's viewers and tabs, and each
//! page's `Peak`, which the stats sampler saves to SQL. Both enforce the same
//! [`TabLimits`], so neither grows without bound.

pub mod events;
pub mod memory;
pub mod redis;

use async_trait::async_trait;

use crate::domain::{PageCounts, PagePath, PagePresence, Peak, TabKey, UserId, Version, ViewerPresence};
use events::{PageEvent, PageEvents};
use tokio::sync::broadcast;

/// The most live tabs a store takes: per user (over all pages) and in all. Only a new tab
/// counts against them; a live tab is always refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabLimits {
    pub per_user: u32,
    pub total: usize,
}

impl TabLimits {
    /// No limit, for tests and benchmarks that are about something else.
    pub const NONE: TabLimits = TabLimits { per_user: u32::MAX, total: usize::MAX };
}

/// Why a join or heartbeat did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TouchError {
    #[error("the user has {0} live tabs, the most allowed")]
    TooManyTabs(u32),
    #[error("the registry holds {0} live tabs, the most allowed")]
    Full(usize),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// The registry of live tabs. Every call first drops the page's expired tabs, so an answer
/// never lists a tab older than the TTL; `sweep` frees pages nobody touches any more.
/// Changes answer the page's new version, so a caller holding that version's snapshot
/// need not read the page again.
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Adds the tab, or refreshes it (keeping `joined_at`) if it is live; sets its editing
    /// state if `is_editing` says one, else keeps it. A new tab beyond the [`TabLimits`] is
    /// refused and changes nothing.
    async fn join(&self, page: &PagePath, tab: &TabKey, is_editing: Option<bool>) -> Result<Version, TouchError>;

    /// Refreshes the tab and sets its editing state; re-creates it if it was unknown or
    /// expired, within the [`TabLimits`].
    async fn heartbeat(&self, page: &PagePath, tab: &TabKey, is_editing: bool) -> Result<Version, TouchError>;

    /// Removes the tab; an unknown tab is not an error.
    async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<Version>;

    /// The page's version as it is now.
    async fn version(&self, page: &PagePath) -> anyhow::Result<Version>;

    /// The page as it is now, with its first `limit` viewers in join order (and exact counts
    /// of all of them).
    async fn presence(&self, page: &PagePath, limit: usize) -> anyhow::Result<PagePresence>;

    /// One user on the page as it is now; `None` if the user has no live tab there.
    async fn viewer(&self, page: &PagePath, user: &UserId) -> anyhow::Result<Option<ViewerPresence>>;

    /// Removes the expired tabs of every page (a tab may wait a fraction of a second past
    /// its deadline for this; reads drop it at once); answers how many it removed.
    async fn sweep(&self) -> anyhow::Result<usize>;

    /// Every page with live tabs, with its counts, in no particular order.
    async fn page_counts(&self) -> anyhow::Result<Vec<PageCounts>>;

    /// The page's peak as far as this store knows it. Once a peak is saved and its page
    /// has no live tabs the store forgets it, so read this before the saved peak (and
    /// keep the higher): the other order could miss a peak saved in between.
    async fn peak(&self, page: &PagePath) -> anyhow::Result<Option<Peak>>;

    /// The peaks that rose since they were last saved.
    async fn unsaved_peaks(&self) -> anyhow::Result<Vec<(PagePath, Peak)>>;

    /// Tells the store these peaks are saved: the ones that have not risen since count as
    /// saved, and those of pages without live tabs are forgotten.
    async fn peaks_saved(&self, saved: &[(PagePath, Peak)]) -> anyhow::Result<()>;

    /// Tells every instance on this store that the user's profile changed, so they read it
    /// again; a store no other instance shares has no one to tell.
    async fn announce_profile_change(&self, _user: &UserId) -> anyhow::Result<()> {
        Ok(())
    }

    /// Where the store announces joins, leaves and changes, page by page.
    fn events(&self) -> &PageEvents;

    /// The page's joins, leaves and changes from now on, wherever they are made. A store
    /// shared with other instances listens to the page from the first watch on (and stops
    /// some time after the last).
    async fn watch(&self, page: &PagePath) -> anyhow::Result<broadcast::Receiver<PageEvent>> {
        Ok(self.events().subscribe(page))
    }

    /// Readiness: whether the service the store keeps its data in answers. An in-process
    /// store always does.
    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
