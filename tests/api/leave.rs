//! POST /api/presence/leave, including the text/plain bodies of sendBeacon.

use reqwest::Method;

use crate::helpers::{spawn_app, viewer_ids};

#[tokio::test]
async fn leave_removes_the_tab_and_is_idempotent() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    alice.join("/docs", "a2").await;
    let snapshot: serde_json::Value = alice.leave("/docs", "a1").await.json().await.unwrap();
    assert_eq!(snapshot["viewers"][0]["tabCount"], 1);
    alice.leave("/docs", "a2").await;
    let again = alice.leave("/docs", "a2").await;
    assert_eq!(again.status(), 200, "leaving an unknown tab is not an error");
    assert_eq!(alice.snapshot("/docs").await["viewerCount"], 0);
}

#[tokio::test]
async fn a_beacon_with_a_text_plain_body_leaves() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    let response = alice
        .request(Method::POST, "/api/presence/leave")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(r#"{"pagePath":"/docs","tabId":"a1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(alice.snapshot("/docs").await["viewerCount"], 0);
}

#[tokio::test]
async fn nobody_can_close_another_users_tab() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let mallory = app.dev_user("mallory", "Mallory").await;
    alice.join("/docs", "shared-id").await;
    mallory.leave("/docs", "shared-id").await;
    assert_eq!(viewer_ids(&alice.snapshot("/docs").await), ["alice"]);
}
