//! Cross-site safety: the origin check on cookie-authenticated changes, CORS for the
//! allowed origins, and the session cookie's SameSite setting.

use presence::configuration::CookieSameSite;
use presence::startup::Application;
use reqwest::header::{HeaderMap, CONTENT_TYPE, ORIGIN};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app_with, Caller, TestApp};

const ALLOWED: &str = "https://app.example.com";
const FOREIGN: &str = "https://evil.example";

async fn spawn_app_allowing(origin: &str) -> TestApp {
    spawn_app_with(|settings| settings.allowed_origins = vec![origin.to_owned()]).await
}

#[derive(Clone, Copy)]
enum Auth {
    Cookie,
    Bearer,
    Nobody,
}

#[derive(Clone, Copy)]
enum Origin {
    None,
    /// The service's own: `http://` and the `Host` it is called at (the tests' cookies are not Secure).
    Own,
    /// The own host with the other scheme: not the own origin.
    OwnOverHttps,
    Allowed,
    Foreign,
    Literal(&'static str),
}

struct Case {
    name: &'static str,
    auth: Auth,
    method: Method,
    path: &'static str,
    content_type: &'static str,
    origin: Origin,
    sec_fetch_site: Option<&'static str>,
    status: u16,
}

fn case(name: &'static str, auth: Auth, method: Method, path: &'static str, origin: Origin, status: u16) -> Case {
    Case { name, auth, method, path, content_type: "application/json", origin, sec_fetch_site: None, status }
}

fn cases() -> Vec<Case> {
    use Auth::*;
    const JOIN: &str = "/api/presence/join";
    const HEARTBEAT: &str = "/api/presence/heartbeat";
    const LEAVE: &str = "/api/presence/leave";
    const SESSION: &str = "/api/session";
    const DEV: &str = "/api/session/dev";
    vec![
        case("cookie join from a foreign origin", Cookie, Method::POST, JOIN, Origin::Foreign, 403),
        case("cookie heartbeat from a foreign origin", Cookie, Method::POST, HEARTBEAT, Origin::Foreign, 403),
        Case {
            content_type: "text/plain;charset=UTF-8",
            ..case("beacon leave from a foreign origin", Cookie, Method::POST, LEAVE, Origin::Foreign, 403)
        },
        case("cookie join from Origin: null", Cookie, Method::POST, JOIN, Origin::Literal("null"), 403),
        case("cookie join from the own host over https", Cookie, Method::POST, JOIN, Origin::OwnOverHttps, 403),
        Case {
            content_type: "text/plain",
            ..case(
                "login CSRF: a form post of a token from a foreign origin",
                Nobody,
                Method::POST,
                SESSION,
                Origin::Foreign,
                403,
            )
        },
        case("dev login from a foreign origin", Nobody, Method::POST, DEV, Origin::Foreign, 403),
        case("sign out from a foreign origin", Cookie, Method::DELETE, SESSION, Origin::Foreign, 403),
        Case {
            sec_fetch_site: Some("cross-site"),
            ..case(
                "cookie join without Origin, Sec-Fetch-Site: cross-site",
                Cookie,
                Method::POST,
                JOIN,
                Origin::None,
                403,
            )
        },
        Case {
            sec_fetch_site: Some("same-origin"),
            ..case(
                "cookie join without Origin, Sec-Fetch-Site: same-origin",
                Cookie,
                Method::POST,
                JOIN,
                Origin::None,
                200,
            )
        },
        case("cookie join without Origin (curl)", Cookie, Method::POST, JOIN, Origin::None, 200),
        case("cookie join from the own origin", Cookie, Method::POST, JOIN, Origin::Own, 200),
        case("cookie join from an allowed origin", Cookie, Method::POST, JOIN, Origin::Allowed, 200),
        case("cookie leave from an allowed origin", Cookie, Method::POST, LEAVE, Origin::Allowed, 200),
        case("sign-in from an allowed origin", Nobody, Method::POST, SESSION, Origin::Allowed, 200),
        case("dev login from the own origin", Nobody, Method::POST, DEV, Origin::Own, 200),
        case("sign out from an allowed origin", Cookie, Method::DELETE, SESSION, Origin::Allowed, 204),
        case("bearer join from a foreign origin", Bearer, Method::POST, JOIN, Origin::Foreign, 200),
        case("bearer sign-in from a foreign origin", Bearer, Method::POST, SESSION, Origin::Foreign, 200),
        case(
            "cookie list from a foreign origin (a read)",
            Cookie,
            Method::GET,
            "/api/presence/list",
            Origin::Foreign,
            200,
        ),
    ]
}

/// What a refused request must leave alone: the page's snapshot and the caller's session.
async fn observe(app: &TestApp, caller: &Caller, page: &str) -> (Value, u16) {
    let snapshot = app.bearer_user("observer", "Observer").snapshot(page).await;
    (snapshot, caller.get("/api/session").await.status().as_u16())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn cookie_changes_from_foreign_origins_are_refused_and_change_nothing() {
    let app = spawn_app_allowing(ALLOWED).await;
    for (i, case) in cases().into_iter().enumerate() {
        let name = case.name;
        let page = format!("/cross-site/{i}");
        let caller = match case.auth {
            Auth::Cookie => app.dev_user(&format!("user-{i}"), "User").await,
            Auth::Bearer => app.bearer_user(&format!("user-{i}"), "User"),
            Auth::Nobody => app.anonymous(),
        };
        let tab = json!({"pagePath": page, "tabId": "t", "isEditing": true});
        if case.path == "/api/presence/leave" {
            assert_eq!(caller.join(&page, "t").await.status(), 200, "{name}: the tab to leave");
        }
        let before = observe(&app, &caller, &page).await;

        let body = match case.path {
            "/api/session" => json!({"token": app.token(&format!("user-{i}"), "User")}),
            "/api/session/dev" => json!({"id": format!("user-{i}"), "name": "User"}),
            _ => tab,
        };
        let mut request = match case.method {
            Method::GET => caller.request(Method::GET, "/api/presence/list").query(&[("pagePath", &page)]),
            Method::DELETE => caller.request(Method::DELETE, case.path),
            method => caller.request(method, case.path).header(CONTENT_TYPE, case.content_type).body(body.to_string()),
        };
        let origin = match case.origin {
            Origin::None => None,
            Origin::Own => Some(app.address.clone()),
            Origin::Allowed => Some(ALLOWED.to_owned()),
            Origin::Foreign => Some(FOREIGN.to_owned()),
            Origin::OwnOverHttps => Some(app.address.replace("http://", "https://")),
            Origin::Literal(origin) => Some(origin.to_owned()),
        };
        if let Some(origin) = &origin {
            request = request.header(ORIGIN, origin);
        }
        if let Some(site) = case.sec_fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{name}");
        let headers = response.headers().clone();

        let allowed = matches!(case.origin, Origin::Allowed);
        assert_eq!(header(&headers, "access-control-allow-origin"), allowed.then_some(ALLOWED), "{name}");
        if allowed {
            assert_eq!(header(&headers, "access-control-allow-credentials"), Some("true"), "{name}");
            let exposed = header(&headers, "access-control-expose-headers").unwrap_or_default().to_lowercase();
            for name_exposed in ["etag", "retry-after", "preference-applied", "x-request-id"] {
                assert!(exposed.contains(name_exposed), "{name}: {name_exposed} is exposed ({exposed})");
            }
        }
        if case.status == 403 {
            assert!(!headers.contains_key("set-cookie"), "{name}: no cookie is set");
            let body = problem(response, 403).await;
            assert_eq!(body["type"], "urn:presence:problem:cross-site", "{name}");
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains("PRESENCE_ALLOWED_ORIGINS"), "{name}: the detail says what to do: {detail}");
            if let Some(origin) = &origin {
                assert!(detail.contains(origin.as_str()), "{name}: the detail names the origin: {detail}");
            }
            assert_eq!(observe(&app, &caller, &page).await, before, "{name}: nothing changed");
        }
    }
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_and_a_foreign_one_refused() {
    let app = spawn_app_allowing(ALLOWED).await;
    let caller = app.anonymous();
    let preflight = |origin: &str| {
        caller
            .request(Method::OPTIONS, "/api/presence/join")
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, prefer, authorization, if-none-match")
    };

    let response = preflight(ALLOWED).send().await.unwrap();
    assert_eq!(response.status(), 200, "allowed preflight");
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(header(headers, "access-control-allow-credentials"), Some("true"));
    let methods = header(headers, "access-control-allow-methods").unwrap();
    for method in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(method), "{method} is allowed: {methods}");
    }
    let allowed_headers = header(headers, "access-control-allow-headers").unwrap().to_lowercase();
    for name in ["content-type", "authorization", "if-none-match", "prefer"] {
        assert!(allowed_headers.contains(name), "{name} is allowed: {allowed_headers}");
    }

    let response = preflight(FOREIGN).send().await.unwrap();
    let cors_headers: Vec<_> =
        response.headers().keys().filter(|name| name.as_str().starts_with("access-control-")).cloned().collect();
    assert!(cors_headers.is_empty(), "a foreign preflight gets no CORS headers: {cors_headers:?}");
    problem(response, 403).await;
}

#[tokio::test]
async fn without_allowed_origins_only_the_own_origin_may_use_the_cookie() {
    let app = spawn_app_with(|_| {}).await;
    let alice = app.dev_user("alice", "Alice").await;
    let join = |origin: &str| {
        alice
            .request(Method::POST, "/api/presence/join")
            .header(ORIGIN, origin)
            .json(&json!({"pagePath": "/a", "tabId": "t"}))
    };
    let response = join(ALLOWED).send().await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));
    problem(response, 403).await;
    assert_eq!(join(&app.address).send().await.unwrap().status(), 200);
}

async fn session_cookie(app: &TestApp) -> String {
    let response = app.anonymous().post("/api/session/dev", json!({"id": "u", "name": "U"})).await;
    assert_eq!(response.status(), 200);
    response.headers()["set-cookie"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_session_cookie_is_same_site_lax_unless_configured() {
    let lax = spawn_app_with(|_| {}).await;
    assert!(session_cookie(&lax).await.contains("SameSite=Lax"));
    let none = spawn_app_with(|settings| {
        settings.cookie_secure = true;
        settings.cookie_same_site = CookieSameSite::None;
    })
    .await;
    let cookie = session_cookie(&none).await;
    assert!(cookie.contains("SameSite=None") && cookie.contains("Secure"), "{cookie}");
    let strict = spawn_app_with(|settings| settings.cookie_same_site = CookieSameSite::Strict).await;
    assert!(session_cookie(&strict).await.contains("SameSite=Strict"));
}

#[tokio::test]
async fn same_site_none_without_secure_cookies_refuses_to_start() {
    // Refused before anything is opened or bound, so the defaults do.
    let settings = presence::configuration::Settings {
        cookie_same_site: CookieSameSite::None,
        cookie_secure: false,
        ..Default::default()
    };
    let error = Application::build(settings).await.err().expect("the app refuses to start").to_string();
    assert!(error.contains("PRESENCE_COOKIE_SECURE"), "{error}");
}
