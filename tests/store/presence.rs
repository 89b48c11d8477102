//! Joining, heartbeating and leaving, and what a page's presence says about it.

use crate::for_each_store;
use crate::harness::{counts, page, tab, users, Backend, LONG, NEVER};
use presence::domain::Version;

for_each_store!(
    join_heartbeat_and_leave,
    a_second_join_keeps_joined_at,
    the_earliest_editor_is_the_editor,
    pages_are_independent,
);

async fn join_heartbeat_and_leave(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
    let joined = store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
    assert_eq!(users(&*store, &docs).await, [("alice".into(), 2), ("bob".into(), 1)]);
    assert_eq!(store.presence(&docs, usize::MAX).await.unwrap().tab_count, 3);
    assert_eq!(store.heartbeat(&docs, &tab("bob", "t1"), false).await.unwrap(), joined, "a refresh changes nothing");
    assert_eq!(store.leave(&docs, &tab("mallory", "t1")).await.unwrap(), joined, "same tab id, other user");

    store.leave(&docs, &tab("alice", "t1")).await.unwrap();
    assert_eq!(users(&*store, &docs).await, [("alice".into(), 1), ("bob".into(), 1)]);
    store.leave(&docs, &tab("alice", "t2")).await.unwrap();
    assert_eq!(store.leave(&docs, &tab("bob", "t1")).await.unwrap(), Version::EMPTY);
    assert_eq!(store.leave(&docs, &tab("bob", "t1")).await.unwrap(), Version::EMPTY, "leaving twice is fine");
    let empty = store.presence(&docs, usize::MAX).await.unwrap();
    assert_eq!((empty.viewers.len(), empty.tab_count, empty.version), (0, 0, Version::EMPTY));
    assert!(counts(&*store).await.is_empty());
}

async fn a_second_join_keeps_joined_at(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    let first = store.presence(&docs, usize::MAX).await.unwrap().viewers[0].joined_at;
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
    assert_eq!(store.presence(&docs, usize::MAX).await.unwrap().viewers[0].joined_at, first);
    store.join(&docs, &tab("alice", "t2"), None).await.unwrap();
    let viewer = &store.presence(&docs, usize::MAX).await.unwrap().viewers[0];
    assert_eq!((viewer.tab_count, viewer.joined_at), (2, first), "a viewer joined with their earliest tab");
}

async fn the_earliest_editor_is_the_editor(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    let editor = || async { store.presence(&docs, usize::MAX).await.unwrap().editor.map(|user| user.to_string()) };
    store.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
    store.heartbeat(&docs, &tab("alice", "t1"), true).await.unwrap();
    store.heartbeat(&docs, &tab("bob", "t1"), true).await.unwrap();
    assert_eq!(editor().await.as_deref(), Some("bob"), "still editing keeps the start");
    store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
    assert_eq!(editor().await.as_deref(), Some("bob"), "a join without isEditing keeps it");
    store.join(&docs, &tab("bob", "t1"), Some(false)).await.unwrap();
    assert_eq!(editor().await.as_deref(), Some("alice"), "a join with isEditing sets it");
    let presence = store.presence(&docs, usize::MAX).await.unwrap();
    let editing: Vec<bool> = presence.viewers.iter().map(|v| v.editing_since.is_some()).collect();
    assert_eq!(editing, [false, true], "bob joined first and stopped editing");
    store.heartbeat(&docs, &tab("alice", "t1"), false).await.unwrap();
    assert_eq!(editor().await, None);
}

async fn pages_are_independent(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    store.join(&page("/a"), &tab("alice", "t1"), None).await.unwrap();
    store.join(&page("/b"), &tab("bob", "t1"), None).await.unwrap();
    assert_eq!(users(&*store, &page("/b")).await, [("bob".into(), 1)]);
    assert!(users(&*store, &page("/c")).await.is_empty());
    assert_eq!(store.version(&page("/c")).await.unwrap(), Version::EMPTY);
    assert_eq!(counts(&*store).await, [("/a".into(), 1, 1), ("/b".into(), 1, 1)], "reading /c made no page");
}
