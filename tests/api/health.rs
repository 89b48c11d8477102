//! /healthz and /readyz

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_answer_without_a_session() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.anonymous().get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().contains_key("x-request-id"), "every answer names its request");
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["status"], "ok");
    }
}
