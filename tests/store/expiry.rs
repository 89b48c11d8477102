//! Expiry: a tab unheard of for a TTL is gone, found lazily by whoever touches its page or
//! by the sweep when nobody does.

use std::cell::Cell;

use crate::for_each_store;
use crate::harness::{counts, eventually, next_events, page, tab, user, users, Backend, NEVER, PATIENCE, SHORT};
use presence::domain::Version;
use presence::store::events::PageEvent;

for_each_store!(
    a_page_drops_its_expired_tabs_when_touched,
    a_heartbeat_re_creates_an_expired_tab,
    the_sweep_removes_expired_tabs_and_tells_watchers,
    the_background_sweep_frees_pages_nobody_reads,
    the_sweep_goes_on_past_a_batch,
    page_counts_leave_out_expired_tabs,
);

async fn a_page_drops_its_expired_tabs_when_touched(backend: Backend) {
    let store = backend.open(SHORT, NEVER).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    assert!(eventually(PATIENCE, || async { users(&*store, &docs).await.is_empty() }).await, "alice expired");
    assert_eq!(store.version(&docs).await.unwrap(), Version::EMPTY);
}

async fn a_heartbeat_re_creates_an_expired_tab(backend: Backend) {
    let store = backend.open(SHORT, NEVER).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    let first = store.presence(&docs, usize::MAX).await.unwrap().viewers.first().map(|viewer| viewer.joined_at);
    assert!(eventually(PATIENCE, || async { users(&*store, &docs).await.is_empty() }).await, "alice expired");
    store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap();
    let healed = store.presence(&docs, usize::MAX).await.unwrap();
    assert_eq!(healed.viewers.len(), 1);
    // `first` is `None` only on a machine slow enough to let the tab expire at once.
    assert!(first.is_none_or(|first| healed.viewers[0].joined_at > first), "a new tab, a new joinedAt");
}

async fn the_sweep_removes_expired_tabs_and_tells_watchers(backend: Backend) {
    let store = backend.open(SHORT, NEVER).await;
    let docs = page("/docs");
    let mut events = store.watch(&docs).await.unwrap();
    let joined = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.join(&page("/other"), &tab("bob", "t1"), None).await.unwrap();
    store.join(&page("/other"), &tab("bob", "t2"), None).await.unwrap();
    let removed = Cell::new(0);
    let swept = eventually(PATIENCE, || async {
        removed.set(removed.get() + store.sweep().await.unwrap());
        removed.get() >= 3
    });
    assert!(swept.await, "the sweep found the three tabs");
    assert_eq!(removed.get(), 3);
    assert!(counts(&*store).await.is_empty());
    assert_eq!(store.leave(&docs, &tab("alice", "t1")).await.unwrap(), Version::EMPTY, "a swept tab is gone");
    let bob = store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
    let mut heard = came_and_went("alice", joined).to_vec();
    heard.extend([PageEvent::Joined(user("bob")), PageEvent::Changed(bob)]);
    assert_eq!(next_events(&mut events, 6).await, heard, "leaving a swept tab tells nobody");
}

async fn the_background_sweep_frees_pages_nobody_reads(backend: Backend) {
    let store = backend.open(SHORT, SHORT / 3).await;
    let docs = page("/docs");
    let mut events = store.watch(&docs).await.unwrap();
    let joined = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    assert_eq!(
        next_events(&mut events, 4).await,
        came_and_went("alice", joined),
        "nothing but the background sweep touched the page"
    );
    assert!(counts(&*store).await.is_empty());
}

/// More expired pages (and tabs) than either store sweeps in one batch.
async fn the_sweep_goes_on_past_a_batch(backend: Backend) {
    let store = backend.open(SHORT, NEVER).await;
    for i in 0..1_100 {
        store.join(&page(&format!("/p{i}")), &tab("alice", "t1"), None).await.unwrap();
    }
    let removed = Cell::new(0);
    let swept = eventually(PATIENCE, || async {
        removed.set(removed.get() + store.sweep().await.unwrap());
        removed.get() >= 1_100
    });
    assert!(swept.await, "swept {} of 1100", removed.get());
    assert!(counts(&*store).await.is_empty());
}

async fn page_counts_leave_out_expired_tabs(backend: Backend) {
    let store = backend.open(SHORT, NEVER).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
    // Bob heartbeats all along, so only Alice's tabs expire.
    let counted = eventually(PATIENCE, || async {
        store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap();
        counts(&*store).await == [("/docs".into(), 1, 1)]
    })
    .await;
    assert!(counted, "only bob is left: {:?}", counts(&*store).await);
}

/// What watchers hear of a user whose one tab joined an empty page at `joined` and expired.
fn came_and_went(id: &str, joined: Version) -> [PageEvent; 4] {
    [
        PageEvent::Joined(user(id)),
        PageEvent::Changed(joined),
        PageEvent::Left(user(id)),
        PageEvent::Changed(Version::EMPTY),
    ]
}
