//! What the registry knows of a page: its viewers (each user's tabs folded into one), its
//! version, counts and peak. Every store answers in these terms, so stores cannot disagree
//! on what a snapshot means.

use std::time::SystemTime;

use super::{PagePath, TabId, UserId};

/// One tab, named by its owner and the client's tab id: a tab id is the client's choice,
/// so keying by user too means nobody can touch another user's tab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TabKey {
    pub user: UserId,
    pub tab: TabId,
}

/// A user's live tabs on one page, folded into one viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerPresence {
    pub user: UserId,
    pub tab_count: u32,
    /// The earliest `joined_at` of the user's tabs.
    pub joined_at: SystemTime,
    /// The earliest `editing_since` of the user's tabs.
    pub editing_since: Option<SystemTime>,
}

/// Names a page's content: it changes whenever the page's snapshot would, and never
/// comes back, so "same version" means "same snapshot" (given the same profiles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    /// The version of every page without live tabs.
    pub const EMPTY: Version = Version(0);
}

/// A page's live viewers (the first of them, as many as were asked for), ordered by
/// `joined_at`, then user id, with the counts of all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePresence {
    pub viewers: Vec<ViewerPresence>,
    pub viewer_count: usize,
    pub tab_count: usize,
    /// The viewer whose editing began earliest (then by id).
    pub editor: Option<UserId>,
    pub version: Version,
}

/// A live page and how many viewers (users) and tabs it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCounts {
    pub page: PagePath,
    pub viewer_count: usize,
    pub tab_count: usize,
}

/// The most viewers a page has had at once, and when it first had that many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peak {
    pub viewer_count: usize,
    pub at: SystemTime,
}

impl Peak {
    /// The higher of two peaks; of two equal ones the earlier, since a peak is dated by
    /// when it was first reached.
    pub fn higher(a: Option<Peak>, b: Option<Peak>) -> Option<Peak> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if (b.viewer_count, a.at) > (a.viewer_count, b.at) { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// The earlier of two moments that may be missing (a tab not editing, say).
pub fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn the_higher_peak_wins_and_a_tie_keeps_the_first() {
        let peak = |viewer_count, seconds| Some(Peak { viewer_count, at: at(seconds) });
        assert_eq!(Peak::higher(peak(3, 5), peak(2, 1)), peak(3, 5));
        assert_eq!(Peak::higher(peak(2, 1), peak(3, 5)), peak(3, 5));
        assert_eq!(Peak::higher(peak(3, 9), peak(3, 5)), peak(3, 5));
        assert_eq!(Peak::higher(peak(3, 5), peak(3, 9)), peak(3, 5));
        assert_eq!(Peak::higher(None, peak(1, 1)), peak(1, 1));
        assert_eq!(Peak::higher(None, None), None);
    }
}
