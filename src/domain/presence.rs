//! What the registry knows of a page: its tabs, folded into viewers, its version, counts
//! and peak. Every store answers in these terms, so stores cannot disagree on what a
//! snapshot means.

use std::time::SystemTime;

use super::{PagePath, TabId, UserId};

/// One tab, named by its owner and the client's tab id: a tab id is the client's choice,
/// so keying by user too means nobody can touch another user's tab.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TabKey {
    pub user: UserId,
    pub tab: TabId,
}

/// What a store keeps of a live tab besides its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabState {
    pub joined_at: SystemTime,
    /// When this tab began editing; `None` while it is not editing.
    pub editing_since: Option<SystemTime>,
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

/// Folds a page's live tabs into its viewers.
pub fn aggregate<'a>(tabs: impl IntoIterator<Item = (&'a UserId, &'a TabState)>) -> PagePresence {
    let mut tabs: Vec<_> = tabs.into_iter().collect();
    // Sorted by user, each user's tabs are neighbours: one pass folds them, no hashing.
    tabs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut viewers: Vec<ViewerPresence> = Vec::new();
    for &(user, tab) in &tabs {
        match viewers.last_mut() {
            Some(viewer) if viewer.user == *user => {
                viewer.tab_count += 1;
                viewer.joined_at = viewer.joined_at.min(tab.joined_at);
                viewer.editing_since = earliest(viewer.editing_since, tab.editing_since);
            }
            _ => viewers.push(ViewerPresence {
                user: user.clone(),
                tab_count: 1,
                joined_at: tab.joined_at,
                editing_since: tab.editing_since,
            }),
        }
    }
    viewers.sort_by(|a, b| (a.joined_at, &a.user).cmp(&(b.joined_at, &b.user)));
    let editor =
        viewers.iter().filter_map(|viewer| Some((viewer.editing_since?, &viewer.user))).min().map(|(_, u)| u.clone());
    PagePresence { viewer_count: viewers.len(), viewers, tab_count: tabs.len(), editor, version: Version::EMPTY }
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

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn folds_tabs_into_viewers_in_join_order() {
        let (alice, bob) = (user("alice"), user("bob"));
        let tabs = [
            (&bob, TabState { joined_at: at(5), editing_since: None }),
            (&alice, TabState { joined_at: at(9), editing_since: Some(at(20)) }),
            (&alice, TabState { joined_at: at(7), editing_since: Some(at(30)) }),
            (&bob, TabState { joined_at: at(1), editing_since: Some(at(25)) }),
        ];
        let page = aggregate(tabs.iter().map(|(u, t)| (*u, t)));
        assert_eq!(page.tab_count, 4);
        assert_eq!(
            page.viewers,
            vec![
                ViewerPresence { user: bob.clone(), tab_count: 2, joined_at: at(1), editing_since: Some(at(25)) },
                ViewerPresence { user: alice, tab_count: 2, joined_at: at(7), editing_since: Some(at(20)) },
            ]
        );
        assert_eq!(page.editor, Some(user("alice")), "alice began editing first");
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

    #[test]
    fn ties_in_join_time_order_by_id() {
        let (a, b) = (user("a"), user("b"));
        let tab = TabState { joined_at: at(1), editing_since: None };
        let page = aggregate([(&b, &tab), (&a, &tab)]);
        assert_eq!(page.viewers.iter().map(|v| v.user.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(page.editor, None);
    }
}
