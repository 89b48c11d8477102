//! Time as the registry keeps it: whole microseconds since the store started, on the
//! monotonic clock, in 8 bytes instead of the 16 of an `Instant` or a `SystemTime`.

use std::num::NonZeroU64;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// A moment, in microseconds since the store started (fine enough that two requests one
/// after the other never share one, so "who began editing first" stays decided). Counted from 1 so that
/// `Option<Ticks>` is as small as `Ticks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(NonZeroU64);

impl Ticks {
    pub fn micros(self) -> u64 {
        self.0.get()
    }

    pub fn after(self, duration: Duration) -> Ticks {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        Ticks(self.0.saturating_add(micros))
    }
}

/// The store's clock: tokio's (so tests can pause it), with the wall time it started at.
pub struct Clock {
    started: Instant,
    started_wall: SystemTime,
}

impl Clock {
    pub fn start() -> Self {
        Self { started: Instant::now(), started_wall: SystemTime::now() }
    }

    pub fn now(&self) -> Ticks {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        Ticks(NonZeroU64::MIN.saturating_add(micros))
    }

    /// The wall time of a moment, for `joinedAt` and peaks.
    pub fn wall(&self, at: Ticks) -> SystemTime {
        self.started_wall + Duration::from_micros(at.micros() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_moment_costs_nothing_extra() {
        assert_eq!(size_of::<Option<Ticks>>(), size_of::<u64>());
    }

    #[tokio::test(start_paused = true)]
    async fn ticks_follow_the_clock_and_map_back_to_wall_time() {
        let clock = Clock::start();
        let start = clock.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        let later = clock.now();
        assert_eq!(later.micros() - start.micros(), 1_500_000);
        assert_eq!(clock.wall(later).duration_since(clock.wall(start)).unwrap(), Duration::from_millis(1500));
        assert_eq!(start.after(Duration::from_secs(45)).micros(), start.micros() + 45_000_000);
    }
}
