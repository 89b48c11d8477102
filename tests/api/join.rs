//! POST /api/presence/join

use serde_json::json;

use crate::helpers::{problem, spawn_app, viewer_ids};

#[tokio::test]
async fn join_answers_the_snapshot_with_the_caller_in_it() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let response = alice.join("/docs//intro/", "tab-1").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    let snapshot: serde_json::Value = response.json().await.unwrap();
    assert_eq!(snapshot["pagePath"], "/docs/intro", "the path is echoed normalized");
    assert_eq!(snapshot["viewers"][0]["name"], "Alice");
    assert_eq!(snapshot["viewers"][0]["isCurrentUser"], true);
    assert_eq!(snapshot["viewerCount"], 1);
    assert_eq!(snapshot["ttlMs"], 45_000);
    assert_eq!(snapshot["heartbeatIntervalMs"], 15_000);
}

#[tokio::test]
async fn joining_again_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let first: serde_json::Value = alice.join("/docs", "tab-1").await.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second: serde_json::Value = alice.join("/docs", "tab-1").await.json().await.unwrap();
    assert_eq!(first, second, "same tab, same joinedAt, one tab");
}

#[tokio::test]
async fn tabs_of_one_user_are_one_viewer_with_a_tab_count() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/docs", "a1").await;
    bob.join("/docs", "b1").await;
    alice.join("/docs", "a2").await;
    let snapshot = bob.snapshot("/docs").await;
    assert_eq!(viewer_ids(&snapshot), ["alice", "bob"], "ordered by join time");
    assert_eq!(snapshot["viewers"][0]["tabCount"], 2);
    assert_eq!(snapshot["viewers"][1]["tabCount"], 1);
    assert_eq!(snapshot["viewers"][1]["isCurrentUser"], true);
    assert_eq!(snapshot["viewerCount"], 2);
    assert_eq!(snapshot["tabCount"], 3);
}

#[tokio::test]
async fn a_user_id_in_the_body_is_ignored() {
    let app = spawn_app().await;
    let mallory = app.dev_user("mallory", "Mallory").await;
    let body = json!({"pagePath": "/docs", "tabId": "t1", "userId": "alice", "id": "alice", "user": {"id": "alice"}});
    let response = mallory.post("/api/presence/join", body).await;
    assert_eq!(response.status(), 200);
    let snapshot = mallory.snapshot("/docs").await;
    assert_eq!(viewer_ids(&snapshot), ["mallory"]);
}

#[tokio::test]
async fn an_unknown_caller_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    problem(anonymous.join("/docs", "t1").await, 401).await;
    let alice = app.dev_user("alice", "Alice").await;
    assert_eq!(alice.snapshot("/docs").await["viewerCount"], 0);
}

#[tokio::test]
async fn pages_are_independent() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/a", "t1").await;
    let bob = app.dev_user("bob", "Bob").await;
    bob.join("/b", "t1").await;
    assert_eq!(viewer_ids(&alice.snapshot("/a").await), ["alice"]);
    assert_eq!(viewer_ids(&alice.snapshot("/b").await), ["bob"]);
}

#[tokio::test]
async fn a_join_that_prefers_minimal_joins_and_answers_the_tag_alone() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let minimal = alice.post_minimal("/api/presence/join", json!({"pagePath": "/docs", "tabId": "a1"})).await;
    assert_eq!(minimal.status(), 204);
    assert_eq!(minimal.headers()["preference-applied"], "return=minimal");
    let listed = alice.list("/docs").await;
    assert_eq!(listed.headers()["etag"], minimal.headers()["etag"], "the tag the snapshot carries");
    assert!(minimal.bytes().await.unwrap().is_empty());
    assert_eq!(viewer_ids(&listed.json().await.unwrap()), ["alice"]);

    let representation = alice
        .request(reqwest::Method::POST, "/api/presence/join")
        .header("prefer", "return=representation")
        .json(&json!({"pagePath": "/docs", "tabId": "a1"}));
    assert_eq!(representation.send().await.unwrap().status(), 200, "any other preference gets the snapshot");
}
