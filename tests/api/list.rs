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

#[tokio::test]
async fn a_limit_caps_the_viewers_but_keeps_the_caller_and_the_counts() {
    let app = spawn_app().await;
    let mut callers = Vec::new();
    for id in ["u1", "u2", "u3", "u4"] {
        let caller = app.dev_user(id, id).await;
        caller.join("/docs", "t").await;
        callers.push(caller);
    }
    let snapshot: serde_json::Value =
        callers[0].get("/api/presence/list?pagePath=/docs&limit=2").await.json().await.unwrap();
    assert_eq!(viewer_ids(&snapshot), ["u1", "u2"]);
    assert_eq!((snapshot["viewerCount"].clone(), snapshot["tabCount"].clone()), (json!(4), json!(4)));
    let snapshot: serde_json::Value =
        callers[3].get("/api/presence/list?pagePath=/docs&limit=2").await.json().await.unwrap();
    assert_eq!(viewer_ids(&snapshot), ["u1", "u4"], "the caller is always shown");
    assert_eq!(snapshot["viewers"][1]["isCurrentUser"], true);
    for bad in ["0", "1001", "x", "-1"] {
        let body = problem(callers[0].get(&format!("/api/presence/list?pagePath=/docs&limit={bad}")).await, 400).await;
        assert_eq!(body["errors"][0]["field"], "limit", "limit={bad}");
    }
}

#[tokio::test]
async fn each_caller_gets_a_tag_of_their_own_view() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/docs", "a1").await;
    bob.join("/docs", "b1").await;
    let (for_alice, for_bob) = (alice.list("/docs").await, bob.list("/docs").await);
    assert_ne!(for_alice.headers()["etag"], for_bob.headers()["etag"], "isCurrentUser differs");
    let stale = for_alice.headers()["etag"].clone();
    let conditional = bob.request(Method::GET, "/api/presence/list?pagePath=/docs").header("if-none-match", stale);
    assert_eq!(conditional.send().await.unwrap().status(), 200, "alice's tag is not bob's view");
}
