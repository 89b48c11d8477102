//! JWTs signed with public-key algorithms, issuer and audience checks.

use std::path::PathBuf;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, spawn_app_with, JWT_SECRET};
use crate::session::now;

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

fn sign(algorithm: Algorithm, key: EncodingKey, claims: Value) -> String {
    encode(&Header::new(algorithm), &claims, &key).unwrap()
}

/// An HS256 token with exactly these claims, signed with the test secret.
pub fn hs256(claims: Value) -> String {
    sign(Algorithm::HS256, EncodingKey::from_secret(JWT_SECRET.as_bytes()), claims)
}

async fn session_status(app: &crate::helpers::TestApp, token: &str) -> u16 {
    let response = app.anonymous().request(Method::POST, "/api/session").bearer_auth(token).send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn public_key_algorithms_are_accepted_with_their_key() {
    let claims = || json!({"sub": "alice", "exp": now() + 600, "name": "Alice"});
    let pem = |name| std::fs::read(key_file(name)).unwrap();
    for (algorithm, public, private) in [
        (Algorithm::RS256, "rsa_public.pem", EncodingKey::from_rsa_pem(&pem("rsa_private.pem")).unwrap()),
        (Algorithm::ES256, "ec_public.pem", EncodingKey::from_ec_pem(&pem("ec_private.pem")).unwrap()),
        (Algorithm::EdDSA, "ed_public.pem", EncodingKey::from_ed_pem(&pem("ed_private.pem")).unwrap()),
    ] {
        let app = spawn_app_with(|s| {
            s.jwt_secret = None;
            s.jwt_public_key_file = Some(key_file(public));
        })
        .await;
        let token = sign(algorithm, private, claims());
        assert_eq!(session_status(&app, &token).await, 200, "{algorithm:?}");
        let hs = hs256(claims());
        assert_eq!(session_status(&app, &hs).await, 401, "{algorithm:?} app takes no HS256 tokens");
    }
}

#[tokio::test]
async fn a_public_key_is_never_used_as_an_hs256_secret() {
    let public_pem = std::fs::read(key_file("rsa_public.pem")).unwrap();
    let app = spawn_app_with(|s| {
        s.jwt_secret = None;
        s.jwt_public_key_file = Some(key_file("rsa_public.pem"));
    })
    .await;
    let forged =
        sign(Algorithm::HS256, EncodingKey::from_secret(&public_pem), json!({"sub": "root", "exp": now() + 60}));
    assert_eq!(session_status(&app, &forged).await, 401);
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let app = spawn_app_with(|s| {
        s.jwt_issuer = Some("https://app.example".into());
        s.jwt_audience = Some("presence".into());
    })
    .await;
    let exp = now() + 600;
    assert_eq!(session_status(&app, &app.token("alice", "Alice")).await, 200, "presence token sets iss and aud");
    for (case, claims) in [
        ("no iss", json!({"sub": "a", "exp": exp, "aud": "presence"})),
        ("wrong iss", json!({"sub": "a", "exp": exp, "iss": "https://evil.example", "aud": "presence"})),
        ("no aud", json!({"sub": "a", "exp": exp, "iss": "https://app.example"})),
        ("wrong aud", json!({"sub": "a", "exp": exp, "iss": "https://app.example", "aud": "other"})),
    ] {
        assert_eq!(session_status(&app, &hs256(claims)).await, 401, "{case}");
    }
}

#[tokio::test]
async fn an_audience_is_ignored_when_none_is_configured() {
    let app = spawn_app().await;
    let token = hs256(json!({"sub": "a", "exp": now() + 600, "aud": "anything"}));
    assert_eq!(session_status(&app, &token).await, 200);
}

#[tokio::test]
async fn a_token_without_any_configured_key_is_refused() {
    let app = spawn_app_with(|s| s.jwt_secret = None).await;
    let token = hs256(json!({"sub": "alice", "exp": now() + 600}));
    let response = app.anonymous().request(Method::GET, "/api/session").bearer_auth(token).send().await.unwrap();
    let body = problem(response, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("not accepted"), "{body}");
}
