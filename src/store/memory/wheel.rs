//! The expiry order: tab slots in buckets by deadline, a quarter second each.
//!
//! A heartbeat only moves its tab's deadline and leaves the wheel alone: when the bucket a
//! tab was queued in comes due, the sweep finds the tab still live and queues it again
//! under its new deadline. So every tab sits in the wheel once (4 bytes), a heartbeat
//! costs no wheel work at all, and a tab is queued again about once a TTL.

use std::collections::BTreeMap;

use super::clock::Ticks;

/// How many microseconds of deadlines one bucket holds.
const BUCKET_MICROS: u64 = 250_000;

/// Names one bucket of deadlines.
pub type Bucket = u32;

#[derive(Default)]
pub struct Wheel {
    buckets: BTreeMap<Bucket, Vec<u32>>,
}

impl Wheel {
    /// Queues `slot` under `deadline`; answers the bucket it went into.
    pub fn push(&mut self, slot: u32, deadline: Ticks) -> Bucket {
        let bucket = Bucket::try_from(deadline.micros() / BUCKET_MICROS).unwrap_or(Bucket::MAX);
        self.buckets.entry(bucket).or_default().push(slot);
        bucket
    }

    /// Takes at most `max` slots of the earliest bucket whose every deadline is before
    /// `now`: the tabs in it have expired, unless their deadline moved on since.
    pub fn take_due(&mut self, now: Ticks, max: usize) -> Option<(Bucket, Vec<u32>)> {
        let mut earliest = self.buckets.first_entry()?;
        let bucket = *earliest.key();
        if (u64::from(bucket) + 1) * BUCKET_MICROS > now.micros() {
            return None;
        }
        let slots = earliest.get_mut();
        let taken = if slots.len() <= max { earliest.remove() } else { slots.split_off(slots.len() - max) };
        Some((bucket, taken))
    }

    pub fn len(&self) -> usize {
        self.buckets.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::clock::Clock;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn only_buckets_wholly_in_the_past_come_due() {
        let clock = Clock::start();
        let start = clock.now();
        let mut wheel = Wheel::default();
        let first = wheel.push(1, start.after(Duration::from_millis(100)));
        wheel.push(2, start.after(Duration::from_millis(100)));
        let later = wheel.push(3, start.after(Duration::from_secs(10)));
        assert!(wheel.take_due(start.after(Duration::from_millis(101)), 10).is_none(), "its bucket is not over");
        let due = start.after(Duration::from_micros(BUCKET_MICROS));
        assert_eq!(wheel.take_due(due, 1), Some((first, vec![2])), "at most `max` at a time");
        assert_eq!(wheel.take_due(due, 10), Some((first, vec![1])));
        assert!(wheel.take_due(due, 10).is_none());
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.take_due(start.after(Duration::from_secs(11)), 10), Some((later, vec![3])));
    }
}
