//! Limits: a store takes only so many live tabs per user (over all pages) and in all. A
//! refused tab changes nothing, a live tab is always refreshed, and a tab that went makes room.

use std::cell::Cell;
use std::time::Duration;

use crate::for_each_store;
use crate::harness::{eventually, page, tab, users, Backend, LONG, NEVER, PATIENCE, SHORT};
use presence::domain::Version;
use presence::store::{TabLimits, TouchError};

for_each_store!(
    a_user_gets_no_tab_beyond_their_limit_over_all_pages,
    a_tab_that_left_or_expired_makes_room,
    the_registry_takes_no_tab_beyond_its_total,
);

const PER_USER: TabLimits = TabLimits { per_user: 3, total: usize::MAX };

async fn a_user_gets_no_tab_beyond_their_limit_over_all_pages(backend: Backend) {
    let store = backend.open_limited(LONG, NEVER, PER_USER).await;
    let (docs, blog, new) = (page("/docs"), page("/blog"), page("/new"));
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
    store.heartbeat(&blog, &tab("alice", "t3"), false).await.unwrap();
    let blog_before = store.version(&blog).await.unwrap();
    for refused in [
        store.join(&blog, &tab("alice", "t4"), Some(true)).await,
        store.heartbeat(&new, &tab("alice", "t4"), false).await,
        store.join(&blog, &tab("alice", "t1"), None).await,
    ] {
        assert!(matches!(refused, Err(TouchError::TooManyTabs(3))), "{refused:?}");
    }
    assert_eq!(store.version(&blog).await.unwrap(), blog_before, "a refused tab changes nothing");
    assert_eq!(store.version(&new).await.unwrap(), Version::EMPTY, "nor makes a page");
    store.heartbeat(&docs, &tab("alice", "t1"), true).await.expect("a live tab is refreshed");
    store.join(&blog, &tab("alice", "t3"), None).await.expect("and joined again");
    store.join(&blog, &tab("bob", "t1"), None).await.expect("the limit is each user's own");
    assert_eq!(users(&*store, &blog).await, [("alice".into(), 1), ("bob".into(), 1)]);
}

async fn a_tab_that_left_or_expired_makes_room(backend: Backend) {
    let store = backend.open_limited(SHORT, NEVER, TabLimits { per_user: 1, ..PER_USER }).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    // While t1 is live, or in the moment Redis still counts it (a second past its page).
    assert!(matches!(store.join(&docs, &tab("alice", "t2"), None).await, Err(TouchError::TooManyTabs(1))));
    store.leave(&docs, &tab("alice", "t1")).await.unwrap();
    store.join(&docs, &tab("alice", "t2"), None).await.expect("a tab that left makes room");
    let admitted = eventually(PATIENCE, || async { store.join(&docs, &tab("alice", "t3"), None).await.is_ok() });
    assert!(admitted.await, "a tab that expired makes room");
}

async fn the_registry_takes_no_tab_beyond_its_total(backend: Backend) {
    // Redis checks the total against the sweep's count, so the sweep runs often here.
    let sweep_every = Duration::from_millis(50);
    let store = backend.open_limited(LONG, sweep_every, TabLimits { per_user: u32::MAX, total: 2 }).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
    let extra = Cell::new(0);
    let full = eventually(PATIENCE, || async {
        extra.set(extra.get() + 1);
        matches!(store.join(&docs, &tab("carol", &format!("t{}", extra.get())), None).await, Err(TouchError::Full(2)))
    });
    assert!(full.await, "a new tab is refused once the registry is full");
    store.heartbeat(&docs, &tab("alice", "t1"), true).await.expect("a live tab is refreshed when full");
    for i in 1..extra.get() {
        store.leave(&docs, &tab("carol", &format!("t{i}"))).await.unwrap();
    }
    store.leave(&docs, &tab("bob", "t1")).await.unwrap();
    let admitted = eventually(PATIENCE, || async { store.join(&docs, &tab("dave", "t1"), None).await.is_ok() });
    assert!(admitted.await, "a tab that left makes room");
}
