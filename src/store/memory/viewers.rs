//! A page's viewers in the memory store, kept up to date as its tabs come and go: which
//! tabs each user has on the page, their earliest `joinedAt` and editing, and the viewers in
//! join order and in editing order. A change costs O(log n) in the page's viewers (plus the
//! user's own few tabs), so a read never sorts the page and a big page costs a change no
//! more than a small one.

use std::collections::BTreeSet;

use hashbrown::HashMap;

use super::clock::{Clock, Ticks};
use crate::domain::{earliest, UserId, ViewerPresence};

/// When a tab joined and began editing: what a viewer is folded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabTimes {
    pub joined_at: Ticks,
    pub editing_since: Option<Ticks>,
}

/// One user on the page, folded from their tabs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The slots of the user's tabs on this page.
    tabs: Vec<u32>,
    /// The earliest of their tabs' times.
    pub joined_at: Ticks,
    pub editing_since: Option<Ticks>,
}

impl Viewer {
    /// The viewer as the store answers it.
    pub fn presence(&self, user: &UserId, clock: &Clock) -> ViewerPresence {
        ViewerPresence {
            user: user.clone(),
            tab_count: u32::try_from(self.tabs.len()).unwrap_or(u32::MAX),
            joined_at: clock.wall(self.joined_at),
            editing_since: self.editing_since.map(|at| clock.wall(at)),
        }
    }
}

#[derive(Default)]
pub struct PageViewers {
    by_user: HashMap<UserId, Viewer>,
    /// `(joined_at, user)` of every viewer: the snapshot's order.
    in_join_order: BTreeSet<(Ticks, UserId)>,
    /// `(editing_since, user)` of every viewer editing: the editor is the first.
    editing: BTreeSet<(Ticks, UserId)>,
}

impl PageViewers {
    /// Counts a new tab of `user`; answers whether it is the user's first on the page.
    pub fn tab_added(&mut self, user: &UserId, slot: u32, times: impl Fn(u32) -> TabTimes) -> bool {
        let Some(viewer) = self.by_user.get_mut(user) else {
            let TabTimes { joined_at, editing_since } = times(slot);
            self.by_user.insert(user.clone(), Viewer { tabs: vec![slot], joined_at, editing_since });
            self.index(user, joined_at, editing_since);
            return true;
        };
        viewer.tabs.push(slot);
        self.tab_changed(user, times);
        false
    }

    /// Stops counting a tab of `user`; answers whether it was the user's last on the page.
    pub fn tab_removed(&mut self, user: &UserId, slot: u32, times: impl Fn(u32) -> TabTimes) -> bool {
        let Some(viewer) = self.by_user.get_mut(user) else { return false };
        viewer.tabs.retain(|&tab| tab != slot);
        if !viewer.tabs.is_empty() {
            self.tab_changed(user, times);
            return false;
        }
        let (joined_at, editing_since) = (viewer.joined_at, viewer.editing_since);
        self.unindex(user, joined_at, editing_since);
        self.by_user.remove(user);
        true
    }

    /// Folds the user's tabs again after one of them changed.
    pub fn tab_changed(&mut self, user: &UserId, times: impl Fn(u32) -> TabTimes) {
        let Some(viewer) = self.by_user.get_mut(user) else { return };
        let old = (viewer.joined_at, viewer.editing_since);
        let folded = viewer.tabs.iter().map(|&slot| times(slot)).fold(None, |folded: Option<TabTimes>, tab| {
            Some(match folded {
                None => tab,
                Some(folded) => TabTimes {
                    joined_at: folded.joined_at.min(tab.joined_at),
                    editing_since: earliest(folded.editing_since, tab.editing_since),
                },
            })
        });
        let Some(new) = folded.map(|f| (f.joined_at, f.editing_since)).filter(|new| *new != old) else { return };
        (viewer.joined_at, viewer.editing_since) = new;
        self.unindex(user, old.0, old.1);
        self.index(user, new.0, new.1);
    }

    pub fn get(&self, user: &UserId) -> Option<(&UserId, &Viewer)> {
        self.by_user.get_key_value(user)
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    /// The viewers in join order (then by id).
    pub fn in_join_order(&self) -> impl Iterator<Item = (&UserId, &Viewer)> + '_ {
        self.in_join_order.iter().filter_map(|(_, user)| self.by_user.get_key_value(user))
    }

    /// The viewer whose editing began first.
    pub fn editor(&self) -> Option<&UserId> {
        self.editing.first().map(|(_, user)| user)
    }

    fn index(&mut self, user: &UserId, joined_at: Ticks, editing_since: Option<Ticks>) {
        self.in_join_order.insert((joined_at, user.clone()));
        if let Some(since) = editing_since {
            self.editing.insert((since, user.clone()));
        }
    }

    fn unindex(&mut self, user: &UserId, joined_at: Ticks, editing_since: Option<Ticks>) {
        self.in_join_order.remove(&(joined_at, user.clone()));
        if let Some(since) = editing_since {
            self.editing.remove(&(since, user.clone()));
        }
    }
}
