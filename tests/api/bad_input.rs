//! Every bad input on every POST endpoint: a clear problem+json, and nothing changes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app};

/// (case, content type, body, status, field named in `errors` if any)
fn cases() -> Vec<(&'static str, &'static str, String, u16, Option<&'static str>)> {
    let body = |value: Value| value.to_string();
    let json = "application/json";
    vec![
        ("missing pagePath", json, body(json!({"tabId": "t1"})), 400, Some("pagePath")),
        ("missing tabId", json, body(json!({"pagePath": "/docs"})), 400, Some("tabId")),
        ("relative path", json, body(json!({"pagePath": "docs", "tabId": "t1"})), 400, Some("pagePath")),
        ("empty path", json, body(json!({"pagePath": "", "tabId": "t1"})), 400, Some("pagePath")),
        ("path with query", json, body(json!({"pagePath": "/docs?a=1", "tabId": "t1"})), 400, Some("pagePath")),
        ("path with fragment", json, body(json!({"pagePath": "/docs#x", "tabId": "t1"})), 400, Some("pagePath")),
        ("dot segment", json, body(json!({"pagePath": "/docs/./a", "tabId": "t1"})), 400, Some("pagePath")),
        ("dot-dot segment", json, body(json!({"pagePath": "/docs/../etc", "tabId": "t1"})), 400, Some("pagePath")),
        ("control character", json, body(json!({"pagePath": "/do\u{1}cs", "tabId": "t1"})), 400, Some("pagePath")),
        (
            "path over 512 bytes",
            json,
            body(json!({"pagePath": format!("/{}", "a".repeat(512)), "tabId": "t1"})),
            400,
            Some("pagePath"),
        ),
        ("empty tabId", json, body(json!({"pagePath": "/docs", "tabId": ""})), 400, Some("tabId")),
        ("tabId over 64", json, body(json!({"pagePath": "/docs", "tabId": "a".repeat(65)})), 400, Some("tabId")),
        ("tabId with space", json, body(json!({"pagePath": "/docs", "tabId": "a b"})), 400, Some("tabId")),
        ("tabId not a string", json, body(json!({"pagePath": "/docs", "tabId": 7})), 400, Some("tabId")),
        (
            "isEditing not a bool",
            json,
            body(json!({"pagePath": "/docs", "tabId": "t1", "isEditing": "yes"})),
            400,
            Some("isEditing"),
        ),
        ("malformed JSON", json, "{\"pagePath\": ".into(), 400, None),
        ("trailing garbage", json, body(json!({"pagePath": "/docs", "tabId": "t1"})) + "x", 400, None),
        ("an array", json, "[]".into(), 400, None),
        ("empty body", json, String::new(), 400, None),
        (
            "body over 4 KiB",
            json,
            body(json!({"pagePath": "/docs", "tabId": "t1", "pad": "x".repeat(4096)})),
            413,
            None,
        ),
        ("form body", "application/x-www-form-urlencoded", "pagePath=/docs&tabId=t1".into(), 415, None),
        ("xml body", "application/xml", "<join/>".into(), 415, None),
    ]
}

#[tokio::test]
async fn bad_bodies_get_a_problem_and_change_nothing() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    for endpoint in ["/api/presence/join", "/api/presence/heartbeat", "/api/presence/leave"] {
        for (case, content_type, body, status, field) in cases() {
            let response = alice
                .request(Method::POST, endpoint)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let answer = problem(response, status).await;
            if let Some(field) = field {
                let fields: Vec<&str> =
                    answer["errors"].as_array().expect(case).iter().map(|e| e["field"].as_str().unwrap()).collect();
                assert_eq!(fields, [field], "{endpoint}: {case}: {answer}");
                assert!(answer["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}");
            }
        }
    }
    assert_eq!(alice.snapshot("/docs").await["viewerCount"], 0, "no bad request joined anyone");
}

#[tokio::test]
async fn several_bad_fields_are_all_named() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let answer = problem(alice.post("/api/presence/join", json!({"pagePath": "x", "tabId": "?"})).await, 400).await;
    assert_eq!(answer["errors"].as_array().unwrap().len(), 2, "{answer}");
    assert_eq!(answer["type"], "urn:presence:problem:validation");
}

#[tokio::test]
async fn a_body_without_content_type_is_refused() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let response = alice
        .request(Method::POST, "/api/presence/join")
        .body(r#"{"pagePath":"/docs","tabId":"t1"}"#)
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problems() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    problem(alice.get("/api/presence/nothing").await, 404).await;
    let wrong_method = alice.request(Method::PUT, "/api/presence/join").send().await.unwrap();
    assert_eq!(wrong_method.headers()["allow"], "POST");
    problem(wrong_method, 405).await;
}
