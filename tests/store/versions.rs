//! Versions: a page's version changes exactly when its snapshot would, and never comes back.

use std::collections::HashSet;

use crate::for_each_store;
use crate::harness::{page, tab, Backend, LONG, NEVER};
use presence::domain::Version;

for_each_store!(versions_change_exactly_when_the_snapshot_does, versions_never_come_back_after_a_page_empties);

async fn versions_change_exactly_when_the_snapshot_does(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    let joined = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    assert_ne!(joined, Version::EMPTY);
    assert_eq!(store.version(&docs).await.unwrap(), joined);
    assert_eq!(store.join(&docs, &tab("alice", "t1"), None).await.unwrap(), joined, "a second join is a refresh");
    assert_eq!(store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap(), joined, "so is a heartbeat");

    let editing = store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
    let second_tab = store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
    let bob = store.join(&docs, &tab("bob", "t1"), Some(true)).await.unwrap();
    let left = store.leave(&docs, &tab("alice", "t2")).await.unwrap();
    let seen = [joined, editing, second_tab, bob, left];
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len(), "every change is a new version: {seen:?}");
    let presence = store.presence(&docs, usize::MAX).await.unwrap();
    assert_eq!(presence.version, left, "the presence is at the last change");
    assert_eq!(store.version(&docs).await.unwrap(), left);
}

async fn versions_never_come_back_after_a_page_empties(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    let mut seen = HashSet::new();
    for round in 0..5 {
        let joined = store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
        let editing = store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
        assert!(seen.insert(joined) && seen.insert(editing), "round {round}: a version came back");
        assert_eq!(store.leave(&docs, &tab("alice", "t1")).await.unwrap(), Version::EMPTY);
        assert_eq!(store.version(&docs).await.unwrap(), Version::EMPTY);
    }
}
