//! A page's tabs in the order they may expire, for lazy expiry: a read or change of the page
//! pops only the tabs that may be due, however many the page holds.
//!
//! Like the shard's wheel, it is kept lazily so a heartbeat costs it nothing: a tab is
//! queued under the deadline it had then, and when that comes the page finds it expired, or
//! queues it again under its new deadline. A tab that left stays queued until it comes up,
//! or until stale entries outnumber the page's tabs, when the queue is rebuilt from them:
//! so the queue holds at most about twice the page's tabs, and each leave pays O(1) for it,
//! amortized.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::clock::Ticks;

/// Names a tab in a page's queue: its slot, and a tag of when it joined, so the tab a reused
/// slot holds later is not taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Queued {
    pub deadline: Ticks,
    pub slot: u32,
    pub tag: u32,
}

/// The tag of a tab that joined at `joined_at`.
pub fn tag(joined_at: Ticks) -> u32 {
    // The low bits of a time in µs: two tabs share a slot and a tag only by joining an
    // exact multiple of 2³² µs (71 minutes) apart.
    joined_at.micros() as u32
}

#[derive(Default)]
pub struct ExpiryQueue {
    queued: BinaryHeap<Reverse<Queued>>,
}

impl ExpiryQueue {
    pub fn push(&mut self, queued: Queued) {
        self.queued.push(Reverse(queued));
    }

    /// The earliest queued entry whose deadline is before `now`, taken off the queue.
    pub fn pop_due(&mut self, now: Ticks) -> Option<Queued> {
        let Reverse(first) = self.queued.peek()?;
        if first.deadline >= now {
            return None;
        }
        self.queued.pop().map(|Reverse(queued)| queued)
    }

    /// Rebuilds the queue from the page's `live` tabs once stale entries outnumber them.
    pub fn compact(&mut self, live: usize, tabs: impl FnOnce() -> Vec<Queued>) {
        if self.queued.len() > 2 * live + 64 {
            self.queued = tabs().into_iter().map(Reverse).collect();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queued.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::clock::Clock;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn only_what_is_due_comes_off_in_deadline_order() {
        let start = Clock::start().now();
        let at = |ms| start.after(Duration::from_millis(ms));
        let mut queue = ExpiryQueue::default();
        for (ms, slot) in [(30, 3), (10, 1), (20, 2)] {
            queue.push(Queued { deadline: at(ms), slot, tag: 0 });
        }
        assert_eq!(queue.pop_due(at(10)), None, "a deadline is due only once it is behind");
        assert_eq!(queue.pop_due(at(25)).map(|q| q.slot), Some(1));
        assert_eq!(queue.pop_due(at(25)).map(|q| q.slot), Some(2));
        assert_eq!(queue.pop_due(at(25)), None);
        queue.compact(0, Vec::new);
        assert_eq!(queue.len(), 1, "a few stale entries are not worth a rebuild");
        for slot in 0..100 {
            queue.push(Queued { deadline: at(50), slot, tag: 0 });
        }
        queue.compact(1, || vec![Queued { deadline: at(60), slot: 7, tag: 0 }]);
        assert_eq!(queue.len(), 1, "rebuilt from the live tabs");
    }
}
