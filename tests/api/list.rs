//! GET /api/presence/list: snapshots, ETags and profiles from the directory.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{problem, spawn_app, viewer_ids};

#[tokio::test]
async fn listing_does_not_make_the_caller_a_viewer() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/docs", "a1").await;
    let snapshot = bob.snapshot("/docs").await;
    assert_eq!(viewer_ids(&snapshot), ["alice"]);
    assert_eq!(snapshot["viewers"][0]["isCurrentUser"], false);
    assert_eq!(bob.snapshot("/docs/").await, snapshot, "the path is normalized");
}

#[tokio::test]
async fn an_unchanged_snapshot_answers_304() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let first = alice.list("/docs").await;
    let etag = first.headers()["etag"].clone();
    let conditional = |etag: reqwest::header::HeaderValue| {
        alice.request(Method::GET, "/api/presence/list?pagePath=/docs").header("if-none-match", etag).send()
    };
    let unchanged = conditional(etag.clone()).await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"], etag);
    assert!(unchanged.bytes().await.unwrap().is_empty());

    app.dev_user("bob", "Bob").await.join("/docs", "b1").await;
    let changed = conditional(etag.clone()).await.unwrap();
    assert_eq!(changed.status(), 200, "a join changes the snapshot");
    assert_ne!(changed.headers()["etag"], etag);
}

#[tokio::test]
async fn a_profile_update_shows_in_the_next_snapshot() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let before = alice.list("/docs").await;
    let etag = before.headers()["etag"].clone();
    let renamed =
        json!({"id": "alice", "name": "Alice Liddell", "avatar": "https://example.com/a.png", "role": "editor"});
    assert_eq!(alice.post("/api/session/dev", renamed).await.status(), 200);
    let after = alice.snapshot("/docs").await;
    assert_eq!(after["viewers"][0]["name"], "Alice Liddell");
    assert_eq!(after["viewers"][0]["avatar"], "https://example.com/a.png");
    assert_eq!(after["viewers"][0]["role"], "editor");
    let conditional = alice.request(Method::GET, "/api/presence/list?pagePath=/docs").header("if-none-match", etag);
    assert_eq!(conditional.send().await.unwrap().status(), 200, "the ETag follows the profile");
}

#[tokio::test]
async fn a_bearer_tokens_profile_names_the_viewer() {
    let app = spawn_app().await;
    let carol = app.bearer_user("carol", "Carol");
    assert_eq!(carol.join("/docs", "c1").await.status(), 200);
    let snapshot = app.dev_user("bob", "Bob").await.snapshot("/docs").await;
    assert_eq!(snapshot["viewers"][0]["name"], "Carol");
    let color = snapshot["viewers"][0]["color"].as_str().unwrap();
    assert!(color.len() == 7 && color.starts_with('#'), "color {color}");
}

#[tokio::test]
async fn list_needs_a_valid_page_path() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    for (query, field) in [("", "pagePath"), ("?pagePath=docs", "pagePath"), ("?pagePath=/a/../b", "pagePath")] {
        let body = problem(alice.get(&format!("/api/presence/list{query}")).await, 400).await;
        assert_eq!(body["errors"][0]["field"], field, "query {query:?}");
    }
    problem(app.anonymous().list("/docs").await, 401).await;
}
