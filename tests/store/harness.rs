//! How a store test gets its stores: `Backend` makes them, `for_each_store!` runs a test
//! against each backend, and the helpers wait for what takes time, with a bound.

use std::time::Duration;

use presence::domain::{PageCounts, TabKey};
use presence::domain::{PagePath, TabId, UserId};
use presence::store::events::PageEvent;
use presence::store::memory::MemoryStore;
use presence::store::redis::{RedisStore, RedisTarget};
use presence::store::{PresenceStore, TabLimits};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::broadcast::Receiver;

pub use crate::common::eventually;
use crate::common::{TestCluster, TestRedis};

/// A TTL no test outlasts, for tests that are not about expiry...
pub const LONG: Duration = Duration::from_secs(600);
/// ...and one short enough to wait for.
pub const SHORT: Duration = Duration::from_millis(300);
/// A sweep interval that never comes within a test.
pub const NEVER: Duration = Duration::from_secs(3600);
/// The most a test waits for something that takes time: expiry, an event from Redis.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Runs each named `async fn case(backend: Backend)` against the memory store and, when
/// `PRESENCE_TEST_REDIS_URL` (`PRESENCE_TEST_REDIS_CLUSTER`) is set, the Redis store on one
/// Redis (on a cluster), as `case::memory`, `case::redis` and `case::redis_cluster`.
#[macro_export]
macro_rules! for_each_store {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn memory() {
                super::$case($crate::harness::Backend::memory()).await
            }

            #[tokio::test]
            async fn redis() {
                if let Some(backend) = $crate::harness::Backend::redis(module_path!()) {
                    super::$case(backend).await
                }
            }

            #[tokio::test]
            async fn redis_cluster() {
                if let Some(backend) = $crate::harness::Backend::cluster(module_path!()) {
                    super::$case(backend).await
                }
            }
        }
    )*};
}

/// Where a test's stores keep their registry.
pub enum Backend {
    /// Each store is a registry of its own.
    Memory,
    /// Every store is another instance on one registry: the test's own key prefix.
    Redis(TestRedis),
    /// The same on a Redis Cluster.
    Cluster(TestCluster),
}

impl Backend {
    pub fn memory() -> Self {
        Backend::Memory
    }

    /// A Redis registry of the test's own, or `None` without a Redis to use.
    pub fn redis(test: &str) -> Option<Self> {
        TestRedis::for_test(test).map(Backend::Redis)
    }

    /// The same on a Redis Cluster, or `None` without one to use.
    pub fn cluster(test: &str) -> Option<Self> {
        TestCluster::for_test(test).map(Backend::Cluster)
    }

    /// A store with this TTL, sweeping in the background every `sweep_every`.
    pub async fn open(&self, ttl: Duration, sweep_every: Duration) -> Box<dyn PresenceStore> {
        self.open_limited(ttl, sweep_every, TabLimits::NONE).await
    }

    /// A store that takes only so many tabs.
    pub async fn open_limited(
        &self,
        ttl: Duration,
        sweep_every: Duration,
        limits: TabLimits,
    ) -> Box<dyn PresenceStore> {
        let (target, prefix) = match self {
            Backend::Memory => return Box::new(MemoryStore::start(ttl, sweep_every, limits)),
            Backend::Redis(redis) => (RedisTarget::Single(redis.url.clone()), &redis.prefix),
            Backend::Cluster(cluster) => (RedisTarget::Cluster(cluster.seeds.clone()), &cluster.prefix),
        };
        let store = RedisStore::connect(&target, prefix, ttl, sweep_every, limits, Counter::default()).await;
        Box::new(store.expect("Redis answers"))
    }
}

pub fn page(path: &str) -> PagePath {
    PagePath::parse(path).unwrap()
}

pub fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

pub fn tab(user_id: &str, tab: &str) -> TabKey {
    TabKey { user: user(user_id), tab: TabId::parse(tab).unwrap() }
}

/// The page's viewers as (id, tab count), in order.
pub async fn users(store: &dyn PresenceStore, page: &PagePath) -> Vec<(String, u32)> {
    let presence = store.presence(page, usize::MAX).await.unwrap();
    presence.viewers.iter().map(|v| (v.user.to_string(), v.tab_count)).collect()
}

/// Every live page as (path, viewers, tabs), by path.
pub async fn counts(store: &dyn PresenceStore) -> Vec<(String, usize, usize)> {
    let mut counts: Vec<(String, usize, usize)> = store
        .page_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|PageCounts { page, viewer_count, tab_count }| (page.to_string(), viewer_count, tab_count))
        .collect();
    counts.sort();
    counts
}

/// The next `count` events, each waited for at most `PATIENCE`; fewer if they do not come.
/// Redis delivers events a moment after the change, the memory store at once.
pub async fn next_events(events: &mut Receiver<PageEvent>, count: usize) -> Vec<PageEvent> {
    let mut received = Vec::new();
    while received.len() < count {
        match tokio::time::timeout(PATIENCE, events.recv()).await {
            Ok(Ok(event)) => received.push(event),
            _ => break,
        }
    }
    received
}
