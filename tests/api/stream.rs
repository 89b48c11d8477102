//! GET /api/presence/stream: snapshots, joins and leaves as server-sent events.

use std::time::Duration;

use crate::helpers::{
    eventually, problem, spawn_app, spawn_app_with, spawn_app_with_ttl, viewer_ids, Caller, EventStream, TestApp,
};

const SOON: Duration = Duration::from_secs(5);

/// Alice on /docs with tab `a1`, and Bob's stream of /docs past its first snapshot.
async fn bob_watches_alice_on_docs(app: &TestApp) -> (Caller, EventStream) {
    let bob = app.dev_user("bob", "Bob").await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let mut stream = EventStream::open(&bob, "/docs").await;
    stream.next_named("snapshot", SOON).await.expect("the first snapshot");
    (alice, stream)
}

#[tokio::test]
async fn a_stream_opens_with_the_snapshot_and_does_not_join() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let bob = app.dev_user("bob", "Bob").await;
    let mut stream = EventStream::open(&bob, "/docs/").await;
    let (event, snapshot) = stream.next(SOON).await.expect("a first event");
    assert_eq!(event, "snapshot");
    assert_eq!(snapshot["pagePath"], "/docs");
    assert_eq!(viewer_ids(&snapshot), ["alice"], "watching is not viewing");
}

/// A snapshot event's id is the tag the same caller's heartbeat or list answers, so a
/// client that heartbeats with `Prefer: return=minimal` can tell when its stream is behind.
#[tokio::test]
async fn each_snapshot_event_carries_the_tag_of_the_callers_list() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let mut stream = EventStream::open(&alice, "/docs").await;
    stream.next_named("snapshot", SOON).await.expect("the first snapshot");
    let listed = alice.list("/docs").await.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(stream.last_id.as_deref(), Some(listed.as_str()));

    let bob = app.dev_user("bob", "Bob").await;
    bob.join("/docs", "b1").await;
    stream.next_named("snapshot", SOON).await.expect("a snapshot with bob");
    let minimal =
        alice.post_minimal("/api/presence/heartbeat", serde_json::json!({"pagePath": "/docs", "tabId": "a1"})).await;
    let tag = minimal.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(tag, listed, "bob came");
    assert_eq!(stream.last_id, Some(tag), "the stream's last snapshot is the one the heartbeat names");
}

#[tokio::test]
async fn a_join_on_one_session_reaches_another_sessions_stream() {
    let app = spawn_app().await;
    let bob = app.dev_user("bob", "Bob").await;
    bob.join("/docs", "b1").await;
    let mut stream = EventStream::open(&bob, "/docs").await;
    stream.next_named("snapshot", SOON).await.expect("the first snapshot");

    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let joined = stream.next_named("join", SOON).await.expect("a join event");
    assert_eq!(joined["id"], "alice");
    assert_eq!(joined["name"], "Alice");
    assert!(joined["color"].as_str().unwrap().starts_with('#'));
    let snapshot = stream.next_named("snapshot", SOON).await.expect("a new snapshot");
    assert_eq!(viewer_ids(&snapshot), ["bob", "alice"]);
    assert_eq!(snapshot["viewers"][0]["isCurrentUser"], true, "the stream is bob's");
}

#[tokio::test]
async fn a_second_tab_is_no_join_and_the_last_tab_leaving_is_a_leave() {
    let app = spawn_app().await;
    let (alice, mut stream) = bob_watches_alice_on_docs(&app).await;

    alice.join("/docs", "a2").await;
    let (event, snapshot) = stream.next(SOON).await.unwrap();
    assert_eq!(event, "snapshot", "a second tab only changes the snapshot");
    assert_eq!(snapshot["viewers"][0]["tabCount"], 2);

    alice.leave("/docs", "a1").await;
    let (event, _) = stream.next(SOON).await.unwrap();
    assert_eq!(event, "snapshot", "one tab left: alice is still here");
    alice.leave("/docs", "a2").await;
    let (event, left) = stream.next(SOON).await.unwrap();
    assert_eq!((event.as_str(), &left["id"]), ("leave", &serde_json::json!("alice")));
    let snapshot = stream.next_named("snapshot", SOON).await.unwrap();
    assert_eq!(snapshot["viewerCount"], 0);
}

#[tokio::test]
async fn a_tab_that_stops_heartbeating_leaves_the_stream_within_ttl_and_a_sweep() {
    let app = spawn_app_with_ttl(500).await;
    let (_alice, mut stream) = bob_watches_alice_on_docs(&app).await;
    // Nobody reads the page: only the background sweep can notice the expiry.
    let left = stream.next_named("leave", SOON).await.expect("a leave by expiry");
    assert_eq!(left["id"], "alice");
}

#[tokio::test]
async fn editing_changes_reach_the_stream() {
    let app = spawn_app().await;
    let (alice, mut stream) = bob_watches_alice_on_docs(&app).await;
    alice.heartbeat("/docs", "a1", true).await;
    let snapshot = stream.next_named("snapshot", SOON).await.unwrap();
    assert_eq!(snapshot["editorUserId"], "alice");
}

#[tokio::test]
async fn a_stream_needs_identity_and_a_valid_page() {
    let app = spawn_app().await;
    problem(app.anonymous().get("/api/presence/stream?pagePath=/docs").await, 401).await;
    let alice = app.dev_user("alice", "Alice").await;
    let body = problem(alice.get("/api/presence/stream?pagePath=docs").await, 400).await;
    assert_eq!(body["errors"][0]["field"], "pagePath");
    let body = problem(alice.get("/api/presence/stream?pagePath=/docs&limit=0").await, 400).await;
    assert_eq!(body["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn a_stream_is_cleaned_up_when_its_client_goes_away() {
    // The server notices a closed connection when a keepalive write to it fails.
    let app = spawn_app_with(|settings| settings.stream_keepalive = std::time::Duration::from_millis(50)).await;
    let bob = app.dev_user("bob", "Bob").await;
    let mut stream = EventStream::open(&bob, "/docs").await;
    stream.next_named("snapshot", SOON).await.unwrap();
    let events = app.state.store.events();
    assert_eq!(events.watched_pages(), 1);
    drop(stream);
    let released = eventually(SOON, || async {
        events.prune();
        events.watched_pages() == 0
    })
    .await;
    assert!(released, "the page's channel went with its last stream");
}
