//! Events: joins, leaves and changes reach the watchers of a page, on this instance and,
//! with Redis, from every other.

use crate::for_each_store;
use crate::harness::{next_events, page, tab, user, users, Backend, LONG, NEVER, PATIENCE, SHORT};
use presence::domain::Version;
use presence::store::events::PageEvent;

for_each_store!(watchers_hear_joins_leaves_and_changes);

async fn watchers_hear_joins_leaves_and_changes(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    let mut events = store.watch(&docs).await.unwrap();
    let mut elsewhere = store.watch(&page("/elsewhere")).await.unwrap();
    let v1 = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    let v2 = store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
    store.heartbeat(&docs, &tab("alice", "t2"), false).await.unwrap();
    let v3 = store.heartbeat(&docs, &tab("alice", "t2"), true).await.unwrap();
    let v4 = store.leave(&docs, &tab("alice", "t1")).await.unwrap();
    store.leave(&docs, &tab("alice", "t2")).await.unwrap();
    assert_eq!(
        next_events(&mut events, 7).await,
        [
            PageEvent::Joined(user("alice")),
            PageEvent::Changed(v1),
            PageEvent::Changed(v2),
            PageEvent::Changed(v3),
            PageEvent::Changed(v4),
            PageEvent::Left(user("alice")),
            PageEvent::Changed(Version::EMPTY),
        ],
        "a second tab is no join, a refresh no change, the last tab's leave a leave"
    );
    store.join(&page("/elsewhere"), &tab("bob", "t1"), None).await.unwrap();
    assert_eq!(next_events(&mut elsewhere, 1).await, [PageEvent::Joined(user("bob"))], "only its own page's events");
}

/// Two instances on one Redis: what one does, or finds expired, the other's watchers hear,
/// and both read the same page at the same version.
#[tokio::test]
async fn another_instance_s_changes_and_expiries_reach_watchers() {
    let Some(backend) = Backend::redis(module_path!()) else { return };
    let here = backend.open(LONG, NEVER).await;
    // The other instance's tabs expire soon, and its background sweep finds them.
    let there = backend.open(SHORT, SHORT / 3).await;
    let docs = page("/docs");
    let mut events = here.watch(&docs).await.unwrap();

    let alice = here.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    assert_eq!(there.version(&docs).await.unwrap(), alice, "one registry, one version");
    assert_eq!(users(&*there, &docs).await, [("alice".into(), 1)]);
    let bob = there.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
    assert_eq!(
        next_events(&mut events, 6).await,
        [
            PageEvent::Joined(user("alice")),
            PageEvent::Changed(alice),
            PageEvent::Joined(user("bob")),
            PageEvent::Changed(bob),
            PageEvent::Left(user("bob")),
            PageEvent::Changed(here.version(&docs).await.unwrap()),
        ],
        "bob's tab expired there, and here heard it"
    );
    assert_eq!(users(&*here, &docs).await, [("alice".into(), 1)]);
}

/// The page channels of the test's prefix that some instance listens to: on one Redis its
/// channels, on a cluster the shard channels of every node.
fn listened(backend: &Backend) -> Vec<String> {
    let (nodes, prefix, command) = match backend {
        Backend::Redis(redis) => (vec![redis.url.clone()], &redis.prefix, "CHANNELS"),
        Backend::Cluster(cluster) => (cluster.seeds.clone(), &cluster.prefix, "SHARDCHANNELS"),
        Backend::Memory => unreachable!("only a store shared over Redis listens"),
    };
    let mut channels: Vec<String> = nodes
        .iter()
        .flat_map(|node| {
            let mut connection = redis::Client::open(node.as_str()).unwrap().get_connection().unwrap();
            let pattern = format!("{prefix}:{{*}}:events");
            redis::cmd("PUBSUB").arg(command).arg(pattern).query::<Vec<String>>(&mut connection).unwrap()
        })
        .collect();
    channels.sort();
    channels.dedup();
    channels
}

/// An instance listens to a page's channel while something on it watches the page, and only
/// then: it does not receive every page's events.
#[tokio::test]
async fn an_instance_listens_only_to_the_pages_it_watches() {
    for backend in [Backend::redis(module_path!()), Backend::cluster(module_path!())].into_iter().flatten() {
        let store = backend.open(LONG, SHORT / 3).await;
        assert!(listened(&backend).is_empty());
        store.join(&page("/elsewhere"), &tab("alice", "t1"), None).await.unwrap();
        let watcher = store.watch(&page("/docs")).await.unwrap();
        let prefix = match &backend {
            Backend::Redis(redis) => &redis.prefix,
            Backend::Cluster(cluster) => &cluster.prefix,
            Backend::Memory => unreachable!(),
        };
        assert_eq!(listened(&backend), [format!("{prefix}:{{/docs}}:events")], "the watched page's channel only");
        drop(watcher);
        let deadline = std::time::Instant::now() + PATIENCE;
        while !listened(&backend).is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(SHORT / 3).await;
        }
        assert!(listened(&backend).is_empty(), "the sweep unsubscribed once nobody watched");
    }
}
