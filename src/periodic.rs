//! `every`: the one loop behind each background task (the sweeps, the stats sampler,
//! forgetting idle rate-limit keys).

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

/// Runs `step` on `owner` every `period`, first one period from now, until `owner` is
/// dropped. The task holds `owner` only while a step runs, so it never keeps it alive. A
/// step that overruns delays the next one rather than making them bunch up.
pub fn every<T, S, F>(period: Duration, owner: Weak<T>, mut step: S)
where
    T: Send + Sync + 'static,
    S: FnMut(Arc<T>) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(owner) = owner.upgrade() else { return };
            step(owner).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn steps_each_period_until_the_owner_is_dropped() {
        let owner = Arc::new(AtomicUsize::new(0));
        every(Duration::from_secs(1), Arc::downgrade(&owner), |owner| async move {
            owner.fetch_add(1, Ordering::Relaxed);
        });
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(owner.load(Ordering::Relaxed), 3);
        let weak = Arc::downgrade(&owner);
        drop(owner);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(weak.upgrade().is_none(), "the task let go of its owner");
    }
}
