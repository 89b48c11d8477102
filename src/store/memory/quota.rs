//! The memory store's count of live tabs, per user over all pages and in all: what the
//! [`TabLimits`] are checked against when a tab is added.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::{DefaultHashBuilder, HashMap};
use parking_lot::Mutex;

use crate::domain::UserId;
use crate::store::{TabLimits, TouchError};

/// Enough locks that adding tabs of different users seldom waits.
const SHARDS: usize = 32;

pub struct Quota {
    limits: TabLimits,
    total: AtomicUsize,
    /// Live tabs of each user with any; a user is in one shard, by the hash of their id.
    per_user: Box<[Mutex<HashMap<UserId, u32>>]>,
    hasher: DefaultHashBuilder,
}

impl Quota {
    pub fn new(limits: TabLimits) -> Self {
        Self {
            limits,
            total: AtomicUsize::new(0),
            per_user: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// Counts a new tab of the user's, or refuses it if it is one too many.
    pub fn admit(&self, user: &UserId) -> Result<(), TouchError> {
        let mut counts = self.shard(user).lock();
        let count = counts.get(user).copied().unwrap_or(0);
        if count >= self.limits.per_user {
            return Err(TouchError::TooManyTabs(self.limits.per_user));
        }
        let below_total = |total: usize| (total < self.limits.total).then_some(total + 1);
        if self.total.fetch_update(Ordering::Relaxed, Ordering::Relaxed, below_total).is_err() {
            return Err(TouchError::Full(self.limits.total));
        }
        counts.insert(user.clone(), count + 1);
        Ok(())
    }

    /// Uncounts a tab that went.
    pub fn release(&self, user: &UserId) {
        let mut counts = self.shard(user).lock();
        if let Some(count) = counts.get_mut(user) {
            *count -= 1;
            if *count == 0 {
                counts.remove(user);
            }
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
    }

    /// Gives back the room of users who left, after a large sweep.
    pub fn shrink(&self) {
        for shard in self.per_user.iter() {
            let mut counts = shard.lock();
            if counts.len() < counts.capacity() / 4 {
                counts.shrink_to_fit();
            }
        }
    }

    fn shard(&self, user: &UserId) -> &Mutex<HashMap<UserId, u32>> {
        &self.per_user[self.hasher.hash_one(user) as usize % SHARDS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn counts_each_user_and_all_against_their_limits() {
        let quota = Quota::new(TabLimits { per_user: 2, total: 3 });
        let (alice, bob) = (user("alice"), user("bob"));
        quota.admit(&alice).unwrap();
        quota.admit(&alice).unwrap();
        assert!(matches!(quota.admit(&alice), Err(TouchError::TooManyTabs(2))));
        quota.admit(&bob).unwrap();
        assert!(matches!(quota.admit(&bob), Err(TouchError::Full(3))), "a refusal counts nothing");
        quota.release(&alice);
        quota.admit(&bob).unwrap();
        assert!(matches!(quota.admit(&alice), Err(TouchError::Full(3))));
    }

    #[test]
    fn a_user_whose_tabs_all_went_is_forgotten() {
        let quota = Quota::new(TabLimits::NONE);
        let alice = user("alice");
        quota.admit(&alice).unwrap();
        quota.release(&alice);
        assert!(quota.per_user.iter().all(|shard| shard.lock().is_empty()));
        assert_eq!(quota.total.load(Ordering::Relaxed), 0);
    }
}
