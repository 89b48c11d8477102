//! /api/session and /api/session/dev: turning a token into a cookie, and back out.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_bearer_token_opens_a_session_that_ends_with_delete() {
    let app = spawn_app().await;
    let token = app.token("alice", "Alice");
    let browser = app.anonymous();
    let response = browser.request(Method::POST, "/api/session").bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("presence_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("alice"), "the cookie is encrypted: {cookie}");
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"user": {"id": "alice", "name": "Alice"}}));

    let me: serde_json::Value = browser.get("/api/session").await.json().await.unwrap();
    assert_eq!(me["user"]["id"], "alice");
    assert_eq!(browser.join("/docs", "t1").await.status(), 200, "the cookie alone is enough");

    let gone = browser.request(Method::DELETE, "/api/session").send().await.unwrap();
    assert_eq!(gone.status(), 204);
    problem(browser.get("/api/session").await, 401).await;
    problem(browser.join("/docs", "t1").await, 401).await;
}

#[tokio::test]
async fn a_token_in_the_body_opens_a_session() {
    let app = spawn_app().await;
    let browser = app.anonymous();
    let response = browser.post("/api/session", json!({"token": app.token("bob", "Bob")})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(browser.get("/api/session").await.json::<serde_json::Value>().await.unwrap()["user"]["name"], "Bob");
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = spawn_app().await;
    let good = app.token("alice", "Alice");
    let other_key = spawn_app_with(|s| s.jwt_secret = Some("another-secret-of-enough-length-123".into())).await;
    let mut tampered = good.clone();
    tampered.replace_range(good.len() - 4.., "AAAA");
    let expired = crate::tokens::hs256(json!({"sub": "alice", "exp": now() - 3600}));
    for (case, token) in [
        ("signed with another key", other_key.token("alice", "Alice")),
        ("tampered signature", tampered),
        ("expired", expired),
        ("not a JWT", "hello".into()),
        ("unsigned (alg none)", unsigned(json!({"sub": "alice", "exp": now() + 3600}))),
        ("no sub", crate::tokens::hs256(json!({"exp": now() + 3600}))),
        ("no exp", crate::tokens::hs256(json!({"sub": "alice"}))),
        (
            "a javascript: picture",
            crate::tokens::hs256(json!({"sub": "a", "exp": now() + 60, "picture": "javascript:x"})),
        ),
        (
            "a picture that is not a URI",
            crate::tokens::hs256(json!({"sub": "a", "exp": now() + 60, "picture": "https://\u{cf}/a.png"})),
        ),
    ] {
        let caller = app.anonymous();
        let response = caller.request(Method::POST, "/api/session").bearer_auth(&token).send().await.unwrap();
        let body = problem(response, 401).await;
        assert!(body["detail"].as_str().unwrap().contains("refused"), "{case}: {body}");
        problem(
            caller.request(Method::GET, "/api/presence/list?pagePath=/").bearer_auth(&token).send().await.unwrap(),
            401,
        )
        .await;
    }
    let no_token = app.anonymous().request(Method::POST, "/api/session").send().await.unwrap();
    problem(no_token, 401).await;
    let basic = app
        .anonymous()
        .request(Method::GET, "/api/session")
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    problem(basic, 401).await;
}

/// A token that says it needs no signature, with an empty one.
fn unsigned(claims: serde_json::Value) -> String {
    use base64::engine::{general_purpose::URL_SAFE_NO_PAD, Engine};
    let part = |value: serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", part(json!({"alg": "none", "typ": "JWT"})), part(claims))
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn a_tampered_cookie_is_signed_out_not_a_crash() {
    let app = spawn_app().await;
    let browser = app.dev_user("alice", "Alice").await;
    let response = browser.get("/api/session").await;
    assert_eq!(response.status(), 200);
    let url = reqwest::Url::parse(&app.address).unwrap();
    let jar = reqwest::cookie::Jar::default();
    jar.add_cookie_str("presence_session=dGFtcGVyZWQtY29va2llLXZhbHVl", &url);
    let forged = reqwest::Client::builder().cookie_provider(std::sync::Arc::new(jar)).build().unwrap();
    let response = forged.get(format!("{}/api/session", app.address)).send().await.unwrap();
    problem(response, 401).await;
    let alive = reqwest::get(format!("{}/healthz", app.address)).await.unwrap();
    assert_eq!(alive.status(), 200);
}

#[tokio::test]
async fn signing_in_again_switches_the_user() {
    let app = spawn_app().await;
    let browser = app.dev_user("alice", "Alice").await;
    assert_eq!(browser.post("/api/session/dev", json!({"id": "bob", "name": "Bob"})).await.status(), 200);
    let me: serde_json::Value = browser.get("/api/session").await.json().await.unwrap();
    assert_eq!(me["user"]["id"], "bob");
}

#[tokio::test]
async fn dev_login_exists_only_when_enabled() {
    let app = spawn_app_with(|s| s.dev_login = false).await;
    let response = app.anonymous().post("/api/session/dev", json!({"id": "alice", "name": "Alice"})).await;
    problem(response, 404).await;
}

#[tokio::test]
async fn dev_login_checks_the_profile() {
    let app = spawn_app().await;
    let long = "x".repeat(129);
    for (case, body, field) in [
        ("no id", json!({"name": "A"}), None),
        ("no name", json!({"id": "a"}), Some("name")),
        ("empty id", json!({"id": "", "name": "A"}), Some("id")),
        ("long id", json!({"id": long, "name": "A"}), Some("id")),
        ("empty name", json!({"id": "a", "name": ""}), Some("name")),
        ("avatar not a URL", json!({"id": "a", "name": "A", "avatar": "nope"}), Some("avatar")),
        ("avatar javascript:", json!({"id": "a", "name": "A", "avatar": "javascript:alert(1)"}), Some("avatar")),
        // Found by scripts/schemathesis.sh: answered as is, this broke the promised `format: uri`.
        ("avatar an IRI, not a URI", json!({"id": "a", "name": "A", "avatar": "https://\u{cf}"}), Some("avatar")),
        (
            "avatar with a space",
            json!({"id": "a", "name": "A", "avatar": "https://example.com/a b.png"}),
            Some("avatar"),
        ),
        ("empty role", json!({"id": "a", "name": "A", "role": ""}), Some("role")),
    ] {
        let body = problem(app.anonymous().post("/api/session/dev", body).await, 400).await;
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["field"], field, "{case}: {body}");
        }
    }
}
