//! How many live-update streams each user has open on this instance: each holds a
//! connection and a task here, so one user may hold only so many.

use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::domain::UserId;

pub struct OpenStreams {
    max_per_user: u32,
    counts: Arc<Mutex<HashMap<UserId, u32>>>,
}

/// One open stream, counted until it is dropped.
pub struct StreamSlot {
    user: UserId,
    counts: Arc<Mutex<HashMap<UserId, u32>>>,
}

impl OpenStreams {
    pub fn new(max_per_user: u32) -> Self {
        Self { max_per_user, counts: Arc::default() }
    }

    /// A slot for one more stream of the user's; `None` if they have the most allowed.
    pub fn open(&self, user: &UserId) -> Option<StreamSlot> {
        let mut counts = self.counts.lock();
        let count = counts.entry(user.clone()).or_insert(0);
        if *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        Some(StreamSlot { user: user.clone(), counts: self.counts.clone() })
    }

    pub fn max_per_user(&self) -> u32 {
        self.max_per_user
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(count) = counts.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_limit_and_a_closed_stream_frees_its_slot() {
        let streams = OpenStreams::new(2);
        let (alice, bob) = (UserId::parse("alice").unwrap(), UserId::parse("bob").unwrap());
        let first = streams.open(&alice).unwrap();
        let second = streams.open(&alice).unwrap();
        assert!(streams.open(&alice).is_none());
        assert!(streams.open(&bob).is_some(), "the limit is each user's own");
        drop(first);
        assert!(streams.open(&alice).is_some());
        drop(second);
        assert!(streams.counts.lock().is_empty(), "users without streams are forgotten");
    }
}
