//! POST /api/presence/heartbeat, and expiry by TTL.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app, spawn_app_with_ttl, viewer_ids};

#[tokio::test]
async fn a_heartbeat_for_an_unknown_tab_creates_it() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let response = alice.heartbeat("/docs", "never-joined", false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(viewer_ids(&response.json().await.unwrap()), ["alice"]);
}

#[tokio::test]
async fn editing_makes_the_earliest_editor_the_editor() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/docs", "a1").await;
    bob.heartbeat("/docs", "b1", true).await;
    alice.heartbeat("/docs", "a1", true).await;
    let snapshot = alice.snapshot("/docs").await;
    assert_eq!(snapshot["editorUserId"], "bob");
    assert_eq!(snapshot["viewers"][0]["isEditing"], true);
    assert_eq!(snapshot["viewers"][1]["isEditing"], true);

    bob.heartbeat("/docs", "b1", false).await;
    assert_eq!(alice.snapshot("/docs").await["editorUserId"], "alice");

    // isEditing may be left out, and then means false.
    alice.post("/api/presence/heartbeat", serde_json::json!({"pagePath": "/docs", "tabId": "a1"})).await;
    let snapshot = alice.snapshot("/docs").await;
    assert!(snapshot.get("editorUserId").is_none(), "no editor is omitted: {snapshot}");
    assert_eq!(snapshot["viewers"][0]["isEditing"], false);
}

#[tokio::test]
async fn a_heartbeat_that_changes_nothing_keeps_the_etag() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_owned();
    let joined = etag(&alice.join("/docs", "a1").await);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let beat = etag(&alice.heartbeat("/docs", "a1", false).await);
    assert_eq!(joined, beat, "lastSeenAt is not part of the snapshot");
    let editing = etag(&alice.heartbeat("/docs", "a1", true).await);
    assert_ne!(beat, editing, "editing changes the snapshot");
}

#[tokio::test]
async fn a_tab_that_stops_heartbeating_expires() {
    let app = spawn_app_with_ttl(600).await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/docs", "a1").await;
    bob.join("/docs", "b1").await;
    // Bob keeps heartbeating; Alice goes quiet and must vanish.
    let gone = eventually(Duration::from_secs(5), || async {
        bob.heartbeat("/docs", "b1", false).await;
        viewer_ids(&bob.snapshot("/docs").await) == ["bob"]
    })
    .await;
    assert!(gone, "alice expired while bob stayed");
    assert_eq!(bob.snapshot("/docs").await["ttlMs"], 600);
}

#[tokio::test]
async fn an_expired_tab_heals_with_its_next_heartbeat() {
    let app = spawn_app_with_ttl(300).await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let expired =
        eventually(Duration::from_secs(5), || async { alice.snapshot("/docs").await["viewerCount"] == 0 }).await;
    assert!(expired);
    let snapshot: serde_json::Value = alice.heartbeat("/docs", "a1", false).await.json().await.unwrap();
    assert_eq!(viewer_ids(&snapshot), ["alice"]);
}

#[tokio::test]
async fn a_heartbeat_that_prefers_minimal_answers_the_tag_alone() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let joined = alice.join("/docs", "a1").await;
    let beat = |is_editing: bool| {
        alice.post_minimal(
            "/api/presence/heartbeat",
            json!({"pagePath": "/docs", "tabId": "a1", "isEditing": is_editing}),
        )
    };
    let minimal = beat(false).await;
    assert_eq!(minimal.status(), 204);
    assert_eq!(minimal.headers()["preference-applied"], "return=minimal");
    assert_eq!(minimal.headers()["etag"], joined.headers()["etag"], "the tag the snapshot carries");
    assert!(minimal.bytes().await.unwrap().is_empty());

    let editing = beat(true).await;
    assert_eq!(editing.status(), 204);
    assert_ne!(editing.headers()["etag"], joined.headers()["etag"], "editing changes the snapshot");
    let listed = alice.list("/docs").await;
    assert_eq!(listed.headers()["etag"], editing.headers()["etag"]);
    let snapshot: Value = listed.json().await.unwrap();
    assert_eq!(snapshot["viewers"][0]["isEditing"], true, "the heartbeat did its work");
}
