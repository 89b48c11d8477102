//! Limits: live tabs per user and in all, request rates per user and per client address,
//! and live-update streams per user. A refusal is problem+json with `Retry-After` and
//! changes nothing; the defaults never refuse a browser that behaves.

use std::time::Duration;

use reqwest::Response;
use serde_json::Value;

use crate::helpers::{eventually, problem, spawn_app, spawn_app_with, viewer_ids, EventStream};

const PATIENCE: Duration = Duration::from_secs(10);

/// A refusal, checked for its problem type and its `Retry-After`, in whole seconds.
async fn refused(response: Response, status: u16, kind: &str) -> (Value, u64) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{kind}: a Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    let body = problem(response, status).await;
    assert_eq!(body["type"], format!("urn:presence:problem:{kind}"), "{body}");
    (body, retry_after)
}

#[tokio::test]
async fn a_user_gets_no_tab_beyond_their_limit() {
    let app = spawn_app_with(|settings| settings.max_tabs_per_user = 2).await;
    let alice = app.dev_user("alice", "Alice").await;
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    assert_eq!(alice.heartbeat("/blog", "a2", false).await.status(), 200);
    let (body, retry_after) = refused(alice.join("/docs", "a3").await, 429, "too-many-tabs").await;
    assert!(body["detail"].as_str().unwrap().contains("2 live tabs"), "{body}");
    assert_eq!(retry_after, app.settings.heartbeat_interval.as_secs(), "retry at the next heartbeat");
    refused(alice.heartbeat("/other", "a3", true).await, 429, "too-many-tabs").await;
    assert_eq!(viewer_ids(&alice.snapshot("/other").await), Vec::<&str>::new(), "nothing changed");
    assert_eq!(alice.snapshot("/docs").await["tabCount"], 1);

    assert_eq!(alice.heartbeat("/docs", "a1", true).await.status(), 200, "a live tab is refreshed");
    let bob = app.dev_user("bob", "Bob").await;
    assert_eq!(bob.join("/docs", "b1").await.status(), 200, "the limit is each user's own");
    alice.leave("/docs", "a1").await;
    assert_eq!(alice.join("/docs", "a3").await.status(), 200, "a tab that left makes room");
}

#[tokio::test]
async fn a_full_registry_refuses_new_tabs_for_now() {
    let app = spawn_app_with(|settings| settings.max_tabs = 1).await;
    let (alice, bob) = (app.dev_user("alice", "Alice").await, app.dev_user("bob", "Bob").await);
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    let (_, retry_after) = refused(bob.join("/docs", "b1").await, 503, "full").await;
    assert!(retry_after > 0);
    assert_eq!(viewer_ids(&bob.snapshot("/docs").await), ["alice"], "nothing changed");
    assert_eq!(alice.heartbeat("/docs", "a1", false).await.status(), 200, "a live tab is refreshed");
    alice.leave("/docs", "a1").await;
    assert_eq!(bob.join("/docs", "b1").await.status(), 200);
}

#[tokio::test]
async fn a_user_beyond_their_rate_is_told_when_to_retry() {
    // One a second, so a burst of ten.
    let app = spawn_app_with(|settings| settings.rate_limit_per_user = 1).await;
    let alice = app.bearer_user("alice", "Alice");
    for _ in 0..10 {
        assert_eq!(alice.list("/docs").await.status(), 200);
    }
    let (_, retry_after) = refused(alice.join("/docs", "a1").await, 429, "rate-limited").await;
    assert_eq!(retry_after, 1, "the next request passes within a second");
    let bob = app.dev_user("bob", "Bob").await;
    assert_eq!(bob.list("/docs").await.status(), 200, "each user has a rate of their own");
    assert_eq!(viewer_ids(&bob.snapshot("/docs").await), Vec::<&str>::new(), "the refused join changed nothing");
}

#[tokio::test]
async fn a_client_address_beyond_its_rate_is_refused_signed_in_or_not() {
    let app = spawn_app_with(|settings| settings.rate_limit_per_ip = 1).await;
    let anonymous = app.anonymous();
    for _ in 0..10 {
        assert_eq!(anonymous.get("/healthz").await.status(), 200);
    }
    refused(anonymous.get("/healthz").await, 429, "rate-limited").await;
    refused(app.bearer_user("alice", "Alice").join("/docs", "a1").await, 429, "rate-limited").await;
}

/// Behind a trusted proxy, each client address in `X-Forwarded-For` has a rate of its own,
/// and what a client writes at the left end of that header changes nothing.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_rate() {
    let app = spawn_app_with(|settings| {
        settings.rate_limit_per_ip = 1;
        settings.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let anonymous = app.anonymous();
    let from = |forwarded: &'static str| {
        anonymous.request(reqwest::Method::GET, "/healthz").header("x-forwarded-for", forwarded).send()
    };
    for _ in 0..10 {
        assert_eq!(from("203.0.113.9").await.unwrap().status(), 200);
    }
    refused(from("203.0.113.9").await.unwrap(), 429, "rate-limited").await;
    refused(from("198.51.100.1, 203.0.113.9").await.unwrap(), 429, "rate-limited").await;
    assert_eq!(from("198.51.100.1").await.unwrap().status(), 200, "another client");
    assert_eq!(anonymous.get("/healthz").await.status(), 200, "the proxy's own requests");
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app_with(|settings| settings.rate_limit_per_ip = 1).await;
    let anonymous = app.anonymous();
    for client in 0..10 {
        let forwarded = format!("203.0.113.{client}");
        let response =
            anonymous.request(reqwest::Method::GET, "/healthz").header("x-forwarded-for", forwarded).send().await;
        assert_eq!(response.unwrap().status(), 200);
    }
    refused(anonymous.get("/healthz").await, 429, "rate-limited").await;
}

#[tokio::test]
async fn a_user_holds_only_so_many_streams_and_a_closed_one_frees_its_place() {
    // Short keepalives, so the server soon notices a stream whose client went.
    let app = spawn_app_with(|settings| {
        settings.max_streams_per_user = 1;
        settings.stream_keepalive = std::time::Duration::from_millis(50);
    })
    .await;
    let alice = app.dev_user("alice", "Alice").await;
    let first = EventStream::open(&alice, "/docs").await;
    let again = || alice.request(reqwest::Method::GET, "/api/presence/stream").query(&[("pagePath", "/blog")]).send();
    refused(again().await.unwrap(), 429, "too-many-streams").await;
    let bob = app.dev_user("bob", "Bob").await;
    let _bobs = EventStream::open(&bob, "/docs").await;
    drop(first);
    let reopened = eventually(PATIENCE, || async { again().await.unwrap().status() == 200 });
    assert!(reopened.await, "the closed stream's place is free again");
}

/// A browser restoring a session of 30 tabs at once: each joins, opens its stream and
/// lists, then heartbeats; the default limits let all of it through.
#[tokio::test]
async fn the_defaults_let_a_browser_restore_thirty_tabs_at_once() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let mut streams = Vec::new();
    for tab in 0..30 {
        let page = format!("/doc/{tab}");
        assert_eq!(alice.join(&page, &format!("t{tab}")).await.status(), 200, "join {tab}");
        streams.push(EventStream::open(&alice, &page).await);
        assert_eq!(alice.list(&page).await.status(), 200, "list {tab}");
    }
    for tab in 0..30 {
        let status = alice.heartbeat(&format!("/doc/{tab}"), &format!("t{tab}"), false).await.status();
        assert_eq!(status, 200, "heartbeat {tab}");
    }
}
