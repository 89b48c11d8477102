//! `openapi.yaml` says exactly what the server does:
//! - every documented operation is driven to each status it documents (all but the few in
//!   `UNREACHED`), and each answer is checked against the document: the status is documented
//!   for that operation, the content type is one it documents, the JSON body validates against
//!   the documented schema (the whole document is loaded into `jsonschema` as `urn:openapi`),
//!   and the documented headers are there and match their schemas;
//! - other methods (405, with `Allow`), unknown paths (404) and CORS preflights from foreign
//!   origins (403) answer the shared components;
//! - the documented `pagePath`, `tabId` and dev-profile rules accept what the server accepts;
//! - the server's routes (read from `src/http/routes/*.rs`) and the documented operations are the
//!   same set, and each handler's doc comment names its `operationId`;
//! - `GET /openapi.yaml` serves the repository file byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use presence::configuration::Settings;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, IF_NONE_MATCH, ORIGIN};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app, spawn_app_with, Caller, EventStream, TestApp};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Statuses documented but not produced here, each with the reason.
const UNREACHED: &[(&str, &str, u16, &str)] = &[
    (
        "GET",
        "/readyz",
        503,
        "readyz pings the database with `SELECT 1`, which needs no table or lock, so a test cannot make it \
         fail without killing the connection pool; the other 503s below check the same Unavailable response",
    ),
    (
        "POST",
        "/api/presence/leave",
        503,
        "only the registry failing makes a leave 503 (it reads no profile, and a bearer token's is written \
         behind the request); redis_mode.rs answers it with Redis gone",
    ),
    (
        "GET",
        "/api/presence/pages",
        503,
        "only the registry failing makes the pages 503 (they read no profile, and a bearer token's is written \
         behind the request); redis_mode.rs answers them with Redis gone",
    ),
];

/// The session key of two apps that share their sessions, as instances of one deployment.
const SHARED_SESSION_KEY: &str =
    "CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW+yBFao+02f4jSG2St9wBJg==";

fn repo_file(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `/api/presence/join` as a JSON pointer token: `~1api~1presence~1join`.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The parsed `openapi.yaml`, compiled validators, and which answers the tests produced.
struct Spec {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    exercised: Mutex<BTreeSet<(String, String, u16)>>,
}

/// A checked answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    /// The JSON (or YAML) body, or `Null` when the body is empty or neither.
    json: Value,
    bytes: Vec<u8>,
}

impl Spec {
    fn load() -> Self {
        let text = std::fs::read_to_string(repo_file("openapi.yaml")).expect("openapi.yaml is readable");
        let doc: Value = serde_yaml::from_str(&text).expect("openapi.yaml is YAML");
        assert_eq!(doc["openapi"], "3.1.0");
        Spec { doc, validators: Mutex::default(), exercised: Mutex::default() }
    }

    /// A validator for the schema at `pointer` (a JSON pointer into the document). The whole
    /// document is registered as `urn:openapi`, so its `#/components/...` references resolve.
    fn validator(&self, pointer: &str) -> Arc<jsonschema::Validator> {
        let mut validators = self.validators.lock().unwrap();
        validators
            .entry(pointer.to_owned())
            .or_insert_with(|| {
                assert!(self.doc.pointer(pointer).is_some(), "no schema at {pointer}");
                let resource = jsonschema::Draft::Draft202012.create_resource(self.doc.clone());
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .with_resource("urn:openapi", resource)
                    .build(&json!({"$ref": format!("urn:openapi#{pointer}")}))
                    .unwrap_or_else(|e| panic!("the schema at {pointer} compiles: {e}"));
                Arc::new(validator)
            })
            .clone()
    }

    /// The validation errors of `instance` against the schema at `pointer`, one per line.
    fn errors(&self, pointer: &str, instance: &Value) -> Vec<String> {
        self.validator(pointer).iter_errors(instance).map(|e| format!("{e} (at {})", e.instance_path)).collect()
    }

    fn assert_valid(&self, pointer: &str, instance: &Value, context: &str) {
        let errors = self.errors(pointer, instance);
        assert!(errors.is_empty(), "{context}: {instance} does not match {pointer}:\n  {}", errors.join("\n  "));
    }

    /// Follows a local `$ref` (`#/components/...`) to (pointer, value).
    fn resolve(&self, pointer: String) -> (String, &Value) {
        let value = self.doc.pointer(&pointer).unwrap_or_else(|| panic!("nothing at {pointer}"));
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {reference}"));
                self.resolve(target.to_owned())
            }
            None => (pointer, value),
        }
    }

    fn operation_pointer(path: &str, method: &Method) -> String {
        format!("/paths/{}/{}", escape(path), method.as_str().to_lowercase())
    }

    /// Checks an answer of the documented operation `method path` against its documented
    /// response for that status, and records that the status was produced.
    async fn check(&self, method: Method, path: &str, response: Response) -> Answer {
        let operation = Self::operation_pointer(path, &method);
        assert!(self.doc.pointer(&operation).is_some(), "{method} {path} is not documented");
        let status = response.status().as_u16();
        let responses = self.doc.pointer(&format!("{operation}/responses")).expect("responses");
        assert!(
            responses.get(status.to_string()).is_some(),
            "{method} {path} answered {status}, which is not documented (documented: {:?})",
            responses.as_object().unwrap().keys().collect::<Vec<_>>()
        );
        self.exercised.lock().unwrap().insert((method.to_string(), path.to_owned(), status));
        let context = format!("{method} {path} → {status}");
        self.check_response(&format!("{operation}/responses/{status}"), response, &context).await
    }

    /// Checks the status and headers of a stream's answer (its body never ends) and
    /// records that the status was produced.
    fn check_stream_head(&self, path: &str, response: &Response) {
        let status = response.status().as_u16();
        let documented = format!("{}/responses/{status}", Self::operation_pointer(path, &Method::GET));
        let (_, documented) = self.resolve(documented);
        assert!(documented["content"]["text/event-stream"].is_object(), "GET {path} → {status} is a stream");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(
            response.headers()["cache-control"].to_str().unwrap(),
            documented["headers"]["Cache-Control"]["schema"]["const"]
        );
        self.exercised.lock().unwrap().insert(("GET".into(), path.to_owned(), status));
    }

    /// Checks an answer against the documented response at `pointer`.
    async fn check_response(&self, pointer: &str, response: Response, context: &str) -> Answer {
        let (pointer, documented) = self.resolve(pointer.to_owned());
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the body is read").to_vec();

        let documented_headers = documented.get("headers").and_then(Value::as_object).cloned().unwrap_or_default();
        for name in documented_headers.keys() {
            let (header_pointer, header) = self.resolve(format!("{pointer}/headers/{}", escape(name)));
            let values: Vec<&str> =
                headers.get_all(name.as_str()).iter().map(|v| v.to_str().expect("an ASCII header")).collect();
            if header["required"] == true {
                assert!(!values.is_empty(), "{context}: the documented header {name} is missing ({headers:?})");
            }
            for value in values {
                let schema = format!("{header_pointer}/schema");
                let instance = match header["schema"]["type"].as_str() {
                    Some("integer") => json!(value
                        .parse::<i64>()
                        .unwrap_or_else(|_| panic!("{context}: header {name}: {value:?} is not an integer"))),
                    _ => json!(value),
                };
                self.assert_valid(&schema, &instance, &format!("{context}, header {name}"));
            }
        }

        let content = documented.get("content").and_then(Value::as_object);
        let mut json = Value::Null;
        match content {
            None => {
                assert!(bytes.is_empty(), "{context}: no body is documented, got {:?}", String::from_utf8_lossy(&bytes))
            }
            Some(content) => {
                let content_type =
                    headers.get(CONTENT_TYPE).unwrap_or_else(|| panic!("{context}: no Content-Type")).to_str().unwrap();
                let media_type = content_type.split(';').next().unwrap().trim().to_ascii_lowercase();
                assert!(
                    content.contains_key(&media_type),
                    "{context}: Content-Type {content_type} is not documented (documented: {:?})",
                    content.keys().collect::<Vec<_>>()
                );
                // YAML too: it is a data format whose documented schema holds (what schemathesis checks).
                let parsed = if media_type.ends_with("json") {
                    Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
                } else if media_type.ends_with("yaml") {
                    Some(serde_yaml::from_slice(&bytes).map_err(|e| e.to_string()))
                } else {
                    None
                };
                if let Some(parsed) = parsed {
                    json = parsed.unwrap_or_else(|e| {
                        panic!("{context}: the body is not {media_type} ({e}): {:?}", String::from_utf8_lossy(&bytes))
                    });
                    self.assert_valid(&format!("{pointer}/content/{}/schema", escape(&media_type)), &json, context);
                }
            }
        }
        Answer { status, headers, json, bytes }
    }

    /// Every documented (method, path).
    fn operations(&self) -> BTreeMap<(String, String), &Value> {
        let mut operations = BTreeMap::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                if METHODS.contains(&method.as_str()) {
                    operations.insert((method.to_uppercase(), path.clone()), operation);
                }
            }
        }
        operations
    }
}

fn post_raw(caller: &Caller, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
    caller.request(Method::POST, path).header(CONTENT_TYPE, content_type).body(body)
}

/// The request as a page of another site sends it: with a foreign `Origin`.
fn from_foreign_origin(request: RequestBuilder) -> RequestBuilder {
    request.header(ORIGIN, "https://evil.example")
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("the request is sent")
}

/// A JSON body larger than the server's 4096-byte limit.
fn too_large() -> String {
    json!({"pagePath": "/a", "tabId": "t", "padding": "x".repeat(5000)}).to_string()
}

/// A body over the limit is 413 and one of a foreign media type is 415, as documented.
async fn check_size_and_media_type(spec: &Spec, caller: &Caller, path: &str) {
    let request = post_raw(caller, path, "application/json", too_large());
    assert_eq!(spec.check(Method::POST, path, send(request).await).await.status, 413);
    let request = post_raw(caller, path, "application/xml", "<tab/>");
    assert_eq!(spec.check(Method::POST, path, send(request).await).await.status, 415);
}

#[tokio::test]
async fn every_documented_status_is_answered_as_documented() {
    let spec = Spec::load();
    let app = spawn_app().await;

    presence_operations(&spec, &app).await;
    list_operation(&spec, &app).await;
    session_operations(&spec, &app).await;
    dev_session_operation(&spec, &app).await;
    operations_endpoints(&spec, &app).await;
    stream_operation(&spec, &app).await;
    stats_operations(&spec, &app).await;
    limit_refusals(&spec).await;

    // Dev login off: the path is unknown.
    let production = spawn_app_with(|settings| settings.dev_login = false).await;
    let answer = spec
        .check(
            Method::POST,
            "/api/session/dev",
            production.anonymous().post("/api/session/dev", json!({"id": "u", "name": "U"})).await,
        )
        .await;
    assert_eq!(answer.status, 404);

    // 503: the user directory is gone. A bearer token's profile is written behind the
    // request, so what fails is what must read a profile the app does not hold (a user
    // signed in on another app of the deployment) or wait for a sign-in's write.
    let shared_sessions = |settings: &mut Settings| settings.session_key = Some(SHARED_SESSION_KEY.into());
    let broken = spawn_app_with(shared_sessions).await;
    let elsewhere = spawn_app_with(shared_sessions).await.dev_user("stranger", "Stranger").await;
    let stranger = Caller { address: broken.address.clone(), ..elsewhere };
    refuse_directory_writes(&broken).await;
    directory_down(&spec, &broken, &stranger).await;

    // Every status an operation documents was produced, except the ones listed as unreached.
    let exercised = spec.exercised.lock().unwrap().clone();
    let mut missing = Vec::new();
    for ((method, path), operation) in spec.operations() {
        for status in operation["responses"].as_object().unwrap().keys() {
            let status: u16 = status.parse().expect("a numeric status");
            let key = (method.clone(), path.clone(), status);
            let unreached = UNREACHED.iter().any(|(m, p, s, _)| (m.to_string(), p.to_string(), *s) == key);
            if !exercised.contains(&key) && !unreached {
                missing.push(format!("{method} {path} {status}"));
            }
            assert!(
                !(exercised.contains(&key) && unreached),
                "{method} {path} {status} is reached; drop it from UNREACHED"
            );
        }
    }
    assert!(missing.is_empty(), "documented but never produced by a test: {missing:#?}");
}

async fn presence_operations(spec: &Spec, app: &TestApp) {
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.bearer_user("bob", "Bob");
    let carol = app.anonymous();
    let signed_in = carol
        .post(
            "/api/session/dev",
            json!({"id": "carol", "name": "Carol", "avatar": "https://example.com/c.png", "role": "editor"}),
        )
        .await;
    assert_eq!(signed_in.status(), 200);

    for path in ["/api/presence/join", "/api/presence/heartbeat", "/api/presence/leave"] {
        // 200: JSON with a cookie, JSON with a bearer token, text/plain as sendBeacon sends it.
        let body = json!({"pagePath": "/docs//a/", "tabId": "tab-1", "isEditing": true});
        let answer = spec.check(Method::POST, path, alice.post(path, body.clone()).await).await;
        assert_eq!(answer.json["pagePath"], "/docs/a", "{path} echoes the normalized path");
        spec.check(Method::POST, path, bob.post(path, body.clone()).await).await;
        let answer = spec
            .check(Method::POST, path, send(post_raw(&carol, path, "text/plain;charset=UTF-8", body.to_string())).await)
            .await;
        assert_eq!(answer.status, 200, "{path} takes text/plain");

        // 204 for `Prefer: return=minimal` on join and heartbeat, with the snapshot's tag;
        // leave answers the snapshot all the same.
        let full = spec.check(Method::POST, path, alice.post(path, body.clone()).await).await;
        let answer = spec.check(Method::POST, path, alice.post_minimal(path, body.clone()).await).await;
        if path == "/api/presence/leave" {
            assert_eq!(answer.status, 200, "{path} ignores Prefer");
        } else {
            assert_eq!(answer.status, 204, "{path} with Prefer: return=minimal");
            assert_eq!(answer.headers["etag"], full.headers["etag"], "{path}: the snapshot's tag");
        }

        // 400: a validation problem, several malformed bodies.
        let answer = spec
            .check(Method::POST, path, alice.post(path, json!({"pagePath": "docs", "tabId": "no spaces"})).await)
            .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.json["errors"].as_array().unwrap().len(), 2, "{}", answer.json);
        let answer =
            spec.check(Method::POST, path, alice.post(path, json!({"tabId": "t", "isEditing": "yes"})).await).await;
        assert_eq!(answer.json["type"], "urn:presence:problem:validation");
        for (content_type, body) in
            [("application/json", "{not json"), ("application/json", ""), ("text/plain", "\"a string\"")]
        {
            let answer = spec.check(Method::POST, path, send(post_raw(&alice, path, content_type, body)).await).await;
            assert_eq!(answer.status, 400, "{path} with {body:?}");
            assert_eq!(answer.json["type"], "urn:presence:problem:malformed");
        }

        // 401: nobody, a bad token, a header that is not Bearer.
        let anonymous = app.anonymous();
        let answer = spec.check(Method::POST, path, anonymous.post(path, body.clone()).await).await;
        assert_eq!(answer.status, 401);
        let forged = Caller { bearer: Some("not.a.jwt".into()), ..app.anonymous() };
        assert_eq!(spec.check(Method::POST, path, forged.post(path, body.clone()).await).await.status, 401);
        let basic = anonymous.request(Method::POST, path).header(AUTHORIZATION, "Basic YWxpY2U6eA==").json(&body);
        assert_eq!(spec.check(Method::POST, path, send(basic).await).await.status, 401);

        // 403: the session cookie, sent by a page of a foreign origin.
        let foreign = from_foreign_origin(alice.request(Method::POST, path).json(&body));
        assert_eq!(spec.check(Method::POST, path, send(foreign).await).await.status, 403);

        // 413 and 415.
        check_size_and_media_type(spec, &alice, path).await;
    }

    // A snapshot with everything optional present: an editor, and a viewer with avatar and role.
    let answer = spec.check(Method::POST, "/api/presence/heartbeat", carol.heartbeat("/full", "c1", true).await).await;
    spec.check(Method::POST, "/api/presence/join", alice.join("/full", "a1").await).await;
    assert_eq!(answer.json["editorUserId"], "carol");
    let viewer = &answer.json["viewers"][0];
    assert_eq!((&viewer["avatar"], &viewer["role"]), (&json!("https://example.com/c.png"), &json!("editor")));
}

async fn list_operation(spec: &Spec, app: &TestApp) {
    const LIST: &str = "/api/presence/list";
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.bearer_user("bob", "Bob");
    alice.join("/listed", "t1").await;

    let answer = spec.check(Method::GET, LIST, alice.list("/listed").await).await;
    assert_eq!(answer.status, 200);
    let etag = answer.headers["etag"].to_str().unwrap().to_owned();
    spec.check(Method::GET, LIST, bob.list("//listed//").await).await;

    // 304 for the tag, its weak form and `*`; a stale tag gets the snapshot.
    for tag in [etag.clone(), format!("W/{etag}"), "*".into(), format!("\"0000000000000000\", {etag}")] {
        let request = alice.request(Method::GET, LIST).query(&[("pagePath", "/listed")]).header(IF_NONE_MATCH, &tag);
        let answer = spec.check(Method::GET, LIST, send(request).await).await;
        assert_eq!(answer.status, 304, "If-None-Match: {tag}");
        assert_eq!(answer.headers["etag"].to_str().unwrap(), etag);
    }
    let request = alice
        .request(Method::GET, LIST)
        .query(&[("pagePath", "/listed")])
        .header(IF_NONE_MATCH, "\"0000000000000000\"");
    assert_eq!(spec.check(Method::GET, LIST, send(request).await).await.status, 200);

    // 400: missing, invalid, given twice.
    let answer = spec.check(Method::GET, LIST, alice.get(LIST).await).await;
    assert_eq!((answer.status, &answer.json["type"]), (400, &json!("urn:presence:problem:validation")));
    let answer = spec.check(Method::GET, LIST, alice.list("/a/../b").await).await;
    assert_eq!(answer.json["errors"][0]["field"], "pagePath");
    let answer = spec.check(Method::GET, LIST, alice.get(&format!("{LIST}?pagePath=/a&pagePath=/b")).await).await;
    assert_eq!((answer.status, &answer.json["type"]), (400, &json!("urn:presence:problem:malformed")));

    // 401.
    assert_eq!(spec.check(Method::GET, LIST, app.anonymous().list("/listed").await).await.status, 401);
}

async fn session_operations(spec: &Spec, app: &TestApp) {
    const SESSION: &str = "/api/session";

    // 200: a bearer header, `{token}` as JSON, `{token}` as text/plain.
    let by_header = app.bearer_user("dave", "Dave");
    let answer = spec.check(Method::POST, SESSION, send(by_header.request(Method::POST, SESSION)).await).await;
    assert_eq!(answer.json, json!({"user": {"id": "dave", "name": "Dave"}}));
    let by_body = app.anonymous();
    let answer = spec
        .check(Method::POST, SESSION, by_body.post(SESSION, json!({"token": app.token("erin", "Erin")})).await)
        .await;
    assert_eq!(answer.status, 200);
    let beacon = app.anonymous();
    let body = json!({"token": app.token("frank", "Frank")}).to_string();
    assert_eq!(
        spec.check(Method::POST, SESSION, send(post_raw(&beacon, SESSION, "text/plain", body)).await).await.status,
        200
    );

    // 400, 401, 413, 415.
    let anonymous = app.anonymous();
    let answer = spec.check(Method::POST, SESSION, anonymous.post(SESSION, json!({"token": 5})).await).await;
    assert_eq!((answer.status, &answer.json["errors"][0]["field"]), (400, &json!("token")));
    let answer =
        spec.check(Method::POST, SESSION, send(post_raw(&anonymous, SESSION, "application/json", "{")).await).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        spec.check(Method::POST, SESSION, send(anonymous.request(Method::POST, SESSION)).await).await.status,
        401
    );
    assert_eq!(spec.check(Method::POST, SESSION, anonymous.post(SESSION, json!({})).await).await.status, 401);
    let answer = spec.check(Method::POST, SESSION, anonymous.post(SESSION, json!({"token": "not.a.jwt"})).await).await;
    assert_eq!(answer.status, 401);
    check_size_and_media_type(spec, &anonymous, SESSION).await;
    // 403: a login forged by a foreign page.
    let forged = from_foreign_origin(post_raw(
        &anonymous,
        SESSION,
        "text/plain",
        json!({"token": app.token("mallory", "M")}).to_string(),
    ));
    assert_eq!(spec.check(Method::POST, SESSION, send(forged).await).await.status, 403);

    // GET: the cookie from the body sign-in, a bearer token, nobody.
    let answer = spec.check(Method::GET, SESSION, by_body.get(SESSION).await).await;
    assert_eq!(answer.json, json!({"user": {"id": "erin", "name": "Erin"}}));
    assert_eq!(spec.check(Method::GET, SESSION, app.bearer_user("gina", "Gina").get(SESSION).await).await.status, 200);
    assert_eq!(spec.check(Method::GET, SESSION, anonymous.get(SESSION).await).await.status, 401);

    // DELETE: refused from a foreign page; with a session (its cookie is expired), and with none.
    let forged = from_foreign_origin(by_body.request(Method::DELETE, SESSION));
    assert_eq!(spec.check(Method::DELETE, SESSION, send(forged).await).await.status, 403);
    let answer = spec.check(Method::DELETE, SESSION, send(by_body.request(Method::DELETE, SESSION)).await).await;
    assert_eq!(answer.status, 204);
    assert!(answer.headers.contains_key("set-cookie"), "the session cookie is cleared");
    assert_eq!(spec.check(Method::GET, SESSION, by_body.get(SESSION).await).await.status, 401);
    let answer = spec.check(Method::DELETE, SESSION, send(anonymous.request(Method::DELETE, SESSION)).await).await;
    assert_eq!(answer.status, 204);
}

async fn dev_session_operation(spec: &Spec, app: &TestApp) {
    const DEV: &str = "/api/session/dev";
    let caller = app.anonymous();
    let full = json!({"id": "hana", "name": "Hana", "avatar": "https://example.com/h.png", "role": "admin"});
    let answer = spec.check(Method::POST, DEV, caller.post(DEV, full.clone()).await).await;
    assert_eq!(answer.json, json!({"user": full}));
    let answer = spec
        .check(Method::POST, DEV, send(post_raw(&caller, DEV, "text/plain", r#"{"id":"ivan","name":"Ivan"}"#)).await)
        .await;
    assert_eq!(answer.status, 200);

    for body in [
        json!({"id": "hana"}),
        json!({"id": "hana", "name": ""}),
        json!({"id": "hana", "name": "Hana", "avatar": "javascript:alert(1)"}),
        json!({"id": "", "name": "Hana", "role": ""}),
    ] {
        let answer = spec.check(Method::POST, DEV, caller.post(DEV, body.clone()).await).await;
        assert_eq!((answer.status, &answer.json["type"]), (400, &json!("urn:presence:problem:validation")), "{body}");
    }
    for body in [json!({"name": "No id"}), json!(null)] {
        let answer = spec.check(Method::POST, DEV, caller.post(DEV, body.clone()).await).await;
        assert_eq!((answer.status, &answer.json["type"]), (400, &json!("urn:presence:problem:malformed")), "{body}");
    }
    check_size_and_media_type(spec, &caller, DEV).await;
    let forged = from_foreign_origin(post_raw(&caller, DEV, "text/plain", r#"{"id":"mallory","name":"M"}"#));
    assert_eq!(spec.check(Method::POST, DEV, send(forged).await).await.status, 403);
}

async fn operations_endpoints(spec: &Spec, app: &TestApp) {
    let caller = app.anonymous();
    assert_eq!(spec.check(Method::GET, "/healthz", caller.get("/healthz").await).await.json, json!({"status": "ok"}));
    assert_eq!(spec.check(Method::GET, "/readyz", caller.get("/readyz").await).await.json, json!({"status": "ok"}));
    let answer = spec.check(Method::GET, "/metrics", caller.get("/metrics").await).await;
    assert!(String::from_utf8_lossy(&answer.bytes).contains("presence_http_requests_total{"), "the metrics");
    let answer = spec.check(Method::GET, "/openapi.yaml", caller.get("/openapi.yaml").await).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.bytes == std::fs::read(repo_file("openapi.yaml")).unwrap(),
        "GET /openapi.yaml is the repository file"
    );
    let answer = spec.check(Method::GET, "/", caller.get("/").await).await;
    assert!(String::from_utf8_lossy(&answer.bytes).contains("/demo.js"), "the demo loads its script");
    for (path, file) in [
        ("/demo.js", "src/web/demo.js"),
        ("/presence.js", "clients/js/presence.js"),
        ("/presence.d.ts", "clients/js/presence.d.ts"),
    ] {
        let answer = spec.check(Method::GET, path, caller.get(path).await).await;
        assert!(answer.bytes == std::fs::read(repo_file(file)).unwrap(), "GET {path} is {file}");
        let etag = answer.headers["etag"].clone();
        let revalidated = send(caller.request(Method::GET, path).header("if-none-match", etag)).await;
        let answer = spec.check(Method::GET, path, revalidated).await;
        assert_eq!(answer.status, 304, "{path} revalidated");
        assert!(answer.bytes.is_empty());
    }
}

async fn stream_operation(spec: &Spec, app: &TestApp) {
    const STREAM: &str = "/api/presence/stream";
    let watcher = app.dev_user("watcher", "Watcher").await;
    let response = send(watcher.request(Method::GET, STREAM).query(&[("pagePath", "/streamed"), ("limit", "5")])).await;
    spec.check_stream_head(STREAM, &response);
    let mut stream = EventStream::new(response);
    let wait = std::time::Duration::from_secs(5);
    // The event as a whole (what the documented schema describes), then its JSON data.
    let check_event = |event: &str, data: &Value, data_schema: &str, context: &str| {
        let whole = json!({"event": event, "data": data.to_string()});
        spec.assert_valid("/components/schemas/StreamEvent", &whole, context);
        spec.assert_valid(data_schema, data, context);
    };
    let (event, snapshot) = stream.next(wait).await.expect("the first event");
    assert_eq!(event, "snapshot");
    check_event("snapshot", &snapshot, "/components/schemas/Snapshot", "the first snapshot event");
    let visitor = app.dev_user("visitor", "Visitor").await;
    visitor.join("/streamed", "v1").await;
    let joined = stream.next_named("join", wait).await.expect("a join event");
    check_event("join", &joined, "/components/schemas/Person", "a join event");
    let snapshot = stream.next_named("snapshot", wait).await.expect("a snapshot after the join");
    check_event("snapshot", &snapshot, "/components/schemas/Snapshot", "a later snapshot event");
    visitor.leave("/streamed", "v1").await;
    let left = stream.next_named("leave", wait).await.expect("a leave event");
    check_event("leave", &left, "/components/schemas/Person", "a leave event");

    let bad = spec.check(Method::GET, STREAM, watcher.get("/api/presence/stream?pagePath=nope").await).await;
    assert_eq!(bad.status, 400);
    let anonymous = spec.check(Method::GET, STREAM, app.anonymous().get("/api/presence/stream?pagePath=/").await).await;
    assert_eq!(anonymous.status, 401);
}

/// 429 on every operation (the rate per client address), and for too many tabs or streams
/// of one user; 503 when the registry is full.
async fn limit_refusals(spec: &Spec) {
    let throttled = spawn_app_with(|settings| settings.rate_limit_per_ip = 1).await;
    let caller = throttled.anonymous();
    for _ in 0..10 {
        assert_eq!(caller.get("/healthz").await.status(), 200, "a burst of ten seconds' worth passes");
    }
    for (method, path) in spec.operations().into_keys() {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let answer = spec.check(method.clone(), &path, send(caller.request(method.clone(), &path)).await).await;
        assert_eq!(answer.status, 429, "{method} {path} beyond the rate of its address");
    }

    let app = spawn_app_with(|settings| {
        settings.max_tabs_per_user = 1;
        settings.max_streams_per_user = 1;
    })
    .await;
    let alice = app.dev_user("alice", "Alice").await;
    alice.join("/docs", "a1").await;
    for path in ["/api/presence/join", "/api/presence/heartbeat"] {
        let answer =
            spec.check(Method::POST, path, alice.post(path, json!({"pagePath": "/docs", "tabId": "a2"})).await).await;
        assert_eq!(answer.json["type"], "urn:presence:problem:too-many-tabs", "{path}");
    }
    const STREAM: &str = "/api/presence/stream";
    let _open = EventStream::open(&alice, "/docs").await;
    let answer = spec.check(Method::GET, STREAM, alice.get("/api/presence/stream?pagePath=/docs").await).await;
    assert_eq!(answer.json["type"], "urn:presence:problem:too-many-streams");

    let full = spawn_app_with(|settings| settings.max_tabs = 1).await;
    full.dev_user("alice", "Alice").await.join("/docs", "a1").await;
    let bob = full.dev_user("bob", "Bob").await;
    for path in ["/api/presence/join", "/api/presence/heartbeat"] {
        let answer =
            spec.check(Method::POST, path, bob.post(path, json!({"pagePath": "/docs", "tabId": "b1"})).await).await;
        assert_eq!((answer.status, &answer.json["type"]), (503, &json!("urn:presence:problem:full")), "{path}");
    }
}

async fn stats_operations(spec: &Spec, app: &TestApp) {
    const STATS: &str = "/api/presence/stats";
    const PAGES: &str = "/api/presence/pages";
    let example = &spec.doc["components"]["schemas"]["PageStats"]["examples"][0];
    spec.assert_valid("/components/schemas/PageStats", example, "the PageStats example");

    // 200: a page with a peak and viewers gone, one nobody viewed, and a sampled history.
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.bearer_user("bob", "Bob");
    alice.join("/counted", "t1").await;
    bob.join("/counted", "t1").await;
    bob.leave("/counted", "t1").await;
    let answer = spec.check(Method::GET, STATS, alice.stats("/counted").await).await;
    assert_eq!((&answer.json["viewerCount"], &answer.json["peakViewerCount"]), (&json!(1), &json!(2)));
    let answer = spec.check(Method::GET, STATS, bob.get(&format!("{STATS}?pagePath=/nobody/&minutes=5")).await).await;
    assert_eq!((&answer.json["pagePath"], answer.json.get("peakAt")), (&json!("/nobody"), None));
    let sampled =
        spawn_app_with(|settings| settings.stats_sample_interval = std::time::Duration::from_millis(50)).await;
    let carol = sampled.dev_user("carol", "Carol").await;
    carol.join("/sampled", "t1").await;
    let has_history = eventually(std::time::Duration::from_secs(10), || async {
        carol.stats_of("/sampled").await["history"].as_array().is_some_and(|history| !history.is_empty())
    })
    .await;
    assert!(has_history, "the sampler wrote a sample");
    let answer = spec.check(Method::GET, STATS, carol.stats("/sampled").await).await;
    assert_eq!(answer.json["history"][0]["viewerCount"], 1);
    let answer = spec.check(Method::GET, PAGES, alice.pages(None).await).await;
    let counted = json!({"pagePath": "/counted", "viewerCount": 1, "tabCount": 1});
    assert!(answer.json["pages"].as_array().unwrap().contains(&counted), "{}", answer.json);
    spec.check(Method::GET, PAGES, bob.pages(Some(100)).await).await;

    // 400: validation problems naming the field, and a parameter given twice.
    for (query, field) in [
        ("", "pagePath"),
        ("?pagePath=x", "pagePath"),
        ("?pagePath=/a&minutes=0", "minutes"),
        ("?pagePath=/a&minutes=99999", "minutes"),
    ] {
        let answer = spec.check(Method::GET, STATS, alice.get(&format!("{STATS}{query}")).await).await;
        assert_eq!((answer.status, &answer.json["errors"][0]["field"]), (400, &json!(field)), "stats{query}");
    }
    for (query, field) in [("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=many", "limit")] {
        let answer = spec.check(Method::GET, PAGES, alice.get(&format!("{PAGES}{query}")).await).await;
        assert_eq!((answer.status, &answer.json["errors"][0]["field"]), (400, &json!(field)), "pages{query}");
    }
    for path in [format!("{STATS}?pagePath=/a&pagePath=/b"), format!("{PAGES}?limit=1&limit=2")] {
        let answer = spec.check(Method::GET, path.split('?').next().unwrap(), alice.get(&path).await).await;
        assert_eq!((answer.status, &answer.json["type"]), (400, &json!("urn:presence:problem:malformed")), "{path}");
    }

    // 401.
    assert_eq!(spec.check(Method::GET, STATS, app.anonymous().stats("/counted").await).await.status, 401);
    assert_eq!(spec.check(Method::GET, PAGES, app.anonymous().pages(None).await).await.status, 401);

    // 503: the stats tables are gone.
    let broken = spawn_app().await;
    let dave = broken.dev_user("dave", "Dave").await;
    drop_stats_tables(&broken).await;
    assert_eq!(spec.check(Method::GET, STATS, dave.stats("/counted").await).await.status, 503);
}

/// Drops the viewer stats tables, as a database that lost them would answer.
pub(crate) async fn drop_stats_tables(app: &TestApp) {
    execute(app, &["DROP TABLE viewer_samples", "DROP TABLE page_peaks"]).await;
}

pub(crate) async fn drop_users_table(app: &TestApp) {
    execute(app, &["DROP TABLE users"]).await;
}

/// Runs statements on the app's database, whichever kind it is.
async fn execute(app: &TestApp, statements: &[&str]) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(&app.settings.database_url).await.expect("the test database");
    for statement in statements {
        sqlx::query(statement).execute(&mut connection).await.expect(statement);
    }
}

/// Every documented path answers 405 (with `Allow` naming exactly its documented methods)
/// to any other method, and an unknown path 404, both as the shared components say.
#[tokio::test]
async fn other_methods_and_unknown_paths_answer_the_documented_problems() {
    let spec = Spec::load();
    let app = spawn_app().await;
    let caller = app.dev_user("alice", "Alice").await;
    let paths: BTreeSet<String> = spec.operations().keys().map(|(_, path)| path.clone()).collect();
    for path in &paths {
        let documented: BTreeSet<String> =
            spec.operations().keys().filter(|(_, p)| p == path).map(|(method, _)| method.clone()).collect();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            if documented.contains(method) {
                continue;
            }
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = send(caller.request(method.clone(), path)).await;
            assert_eq!(response.status(), 405, "{method} {path}");
            let context = format!("{method} {path}");
            let answer = spec.check_response("/components/responses/MethodNotAllowed", response, &context).await;
            let allowed: BTreeSet<String> =
                answer.headers["allow"].to_str().unwrap().split(',').map(|m| m.trim().to_owned()).collect();
            assert_eq!(allowed, documented, "Allow of {path}");
        }
        // A CORS preflight from a foreign origin is refused; OPTIONS without one is a 405 above.
        let preflight =
            from_foreign_origin(caller.request(Method::OPTIONS, path)).header("access-control-request-method", "POST");
        let context = format!("preflight of {path} from a foreign origin");
        let answer =
            spec.check_response("/components/responses/CrossSiteRefused", send(preflight).await, &context).await;
        assert_eq!(answer.status, 403, "{context}");
        // HEAD is not routed (actix-web's `web::get()` does not take it), so it is a 405 too,
        // without the body a HEAD answer cannot have.
        let response = send(caller.request(Method::HEAD, path)).await;
        assert_eq!(response.status(), 405, "HEAD {path}");
        assert!(response.headers().contains_key("allow"), "HEAD {path}");
    }
    for (method, path) in [(Method::GET, "/nope"), (Method::POST, "/api/presence/join/extra"), (Method::DELETE, "/api")]
    {
        let response = send(caller.request(method.clone(), path)).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        let answer = spec.check_response("/components/responses/NotFound", response, &format!("{method} {path}")).await;
        assert!(answer.json["detail"].as_str().unwrap().contains(path));
    }
}

/// The documented `pagePath` and `tabId` rules accept exactly what the server accepts.
#[tokio::test]
async fn documented_input_rules_agree_with_the_server() {
    let spec = Spec::load();
    let app = spawn_app().await;
    let caller = app.bearer_user("alice", "Alice");
    let long = |n: usize| format!("/{}", "a".repeat(n - 1));
    // Non-ASCII paths are left out near the limit: the server counts 512 bytes, `maxLength`
    // counts characters, so the schema is looser there (and says so).
    let pages = [
        "/",
        "//",
        "/docs/",
        "/docs//a///b/",
        "/a.b/c..d/.e",
        "/...",
        "/é/ü",
        "/a b",
        &long(512),
        "",
        "docs",
        &long(513),
        "/a\nb",
        "/a\u{7f}",
        "/a\u{85}",
        "/a?b=1",
        "/a#top",
        "/a/./b",
        "/a/..",
        "/..//",
        "/.",
    ];
    for page in pages {
        let documented = spec.errors("/components/schemas/PagePath", &json!(page)).is_empty();
        let response = caller.join(page, "tab").await;
        assert_eq!(
            response.status() == 200,
            documented,
            "pagePath {page:?}: server {}, schema {documented}",
            response.status()
        );
    }
    let tabs = [
        "a",
        "5f0c2a3e-9b7d-4c1e-8f3a-2b6d9e0c1a7f",
        "tab_1-X",
        &"z".repeat(64),
        "",
        &"z".repeat(65),
        "a b",
        "a/b",
        "é",
        "t\n",
    ];
    for tab in tabs {
        let documented = spec.errors("/components/schemas/TabId", &json!(tab)).is_empty();
        let response = caller.join("/tabs", tab).await;
        assert_eq!(
            response.status() == 200,
            documented,
            "tabId {tab:?}: server {}, schema {documented}",
            response.status()
        );
    }
    let dev = app.anonymous();
    let profiles = [
        json!({"id": "u1", "name": "A"}),
        json!({"id": "x".repeat(128), "name": "n".repeat(100), "avatar": "http://example.com/a.png", "role": "r".repeat(64)}),
        json!({"id": "x".repeat(129), "name": "A"}),
        json!({"id": "u\u{0}", "name": "A"}),
        json!({"id": "u1", "name": "n".repeat(101)}),
        json!({"id": "u1", "name": "A\nB"}),
        json!({"id": "u1", "name": "A", "avatar": "ftp://example.com/a.png"}),
        json!({"id": "u1", "name": "A", "avatar": "not a url"}),
        json!({"id": "u1", "name": "A", "avatar": "https://\u{cf}"}),
        json!({"id": "u1", "name": "A", "avatar": "https://example.com/a b.png"}),
        json!({"id": "u1", "name": "A", "avatar": "https://xn--0ca.example/a%20b.png"}),
        json!({"id": "u1", "name": "A", "avatar": format!("https://example.com/{}", "a".repeat(2030))}),
        json!({"id": "u1", "name": "A", "role": ""}),
        json!({"id": "u1", "name": "A", "role": "r".repeat(65)}),
    ];
    for profile in profiles {
        let documented = spec.errors("/components/schemas/DevSignInRequest", &profile).is_empty();
        let response = dev.post("/api/session/dev", profile.clone()).await;
        assert_eq!(
            response.status() == 200,
            documented,
            "dev profile {profile}: server {}, schema {documented}",
            response.status()
        );
    }
}

#[tokio::test]
async fn the_served_document_is_the_repository_file() {
    let app = spawn_app().await;
    let response = app.anonymous().get("/openapi.yaml").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/yaml");
    let served = response.bytes().await.unwrap();
    assert!(served == std::fs::read(repo_file("openapi.yaml")).unwrap(), "the served bytes differ from openapi.yaml");
}

/// A route of the server as `src/http/routes` wires it.
#[derive(Debug)]
struct Route {
    file: String,
    handler: String,
}

/// The route files that `src/http/routes/mod.rs` declares under `#[cfg(feature = "bench-baseline")]`:
/// the bench-only baseline of `loadtest/run.sh`, which the service as built and shipped does not
/// have, so the contract does not document it.
fn bench_only_route_files() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_file("src/http/routes/mod.rs")).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|pair| pair[0] == r#"#[cfg(feature = "bench-baseline")]"#)
        .filter_map(|pair| pair[1].strip_prefix("pub ").unwrap_or(pair[1]).strip_prefix("mod ")?.strip_suffix(';'))
        .map(|module| format!("{module}.rs"))
        .collect()
}

/// Reads `web::resource("PATH")` and the `.route(web::METHOD().to(HANDLER))` calls after it
/// (up to the next resource) out of `src/http/routes/*.rs`, leaving out the bench-only files.
fn server_routes() -> BTreeMap<(String, String), Route> {
    const RESOURCE: &str = "web::resource(\"";
    const ROUTE: &str = ".route(web::";
    let mut routes = BTreeMap::new();
    let bench_only = bench_only_route_files();
    let mut files: Vec<_> =
        std::fs::read_dir(repo_file("src/http/routes")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "rs")) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if bench_only.contains(&name) {
            continue;
        }
        // Whitespace removed, so the parser does not care how rustfmt wraps the chain.
        let text: String = std::fs::read_to_string(&file).unwrap().chars().filter(|c| !c.is_whitespace()).collect();
        let mut rest = text.as_str();
        while let Some(start) = rest.find(RESOURCE) {
            rest = &rest[start + RESOURCE.len()..];
            let path = &rest[..rest.find('"').unwrap()];
            let scope = &rest[..rest.find("web::resource(").unwrap_or(rest.len())];
            let mut calls = scope;
            let mut found = false;
            while let Some(at) = calls.find(ROUTE) {
                calls = &calls[at + ROUTE.len()..];
                let method = calls[..calls.find('(').unwrap()].to_uppercase();
                let to = calls.find(".to(").expect("a .to(handler)") + ".to(".len();
                let handler = calls[to..to + calls[to..].find(')').unwrap()].trim().to_owned();
                let previous = routes.insert((method.clone(), path.to_owned()), Route { file: name.clone(), handler });
                assert!(previous.is_none(), "{method} {path} is routed twice");
                found = true;
            }
            assert!(
                found,
                "web::resource(\"{path}\") in {name} has no .route(web::METHOD()...) the parser understands"
            );
        }
    }
    assert!(routes.len() >= 5, "the route parser found too little: {routes:?}");
    routes
}

#[test]
fn the_documented_operations_are_the_served_routes() {
    let spec = Spec::load();
    let served: BTreeSet<(String, String)> = server_routes().into_keys().collect();
    let documented: BTreeSet<(String, String)> = spec.operations().into_keys().collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "routes the server has but openapi.yaml does not document: {undocumented:?}");
    assert!(unserved.is_empty(), "operations openapi.yaml documents but the server has no route for: {unserved:?}");
}

/// Each operation has a unique `operationId`, and the doc comment of the handler wired to
/// that route starts with it: "/// `joinPresence`: ...".
#[test]
fn every_operation_id_names_its_handler() {
    let spec = Spec::load();
    let routes = server_routes();
    let mut seen = BTreeSet::new();
    for ((method, path), operation) in spec.operations() {
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(seen.insert(id.to_owned()), "operationId {id} is used twice");
        let Some(route) = routes.get(&(method.clone(), path.clone())) else {
            continue;
        };
        let text = std::fs::read_to_string(repo_file(&format!("src/http/routes/{}", route.file))).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let signature = lines
            .iter()
            .position(|line| {
                line.strip_prefix("pub ")
                    .unwrap_or(line)
                    .strip_prefix("async ")
                    .unwrap_or(line)
                    .starts_with(&format!("fn {}(", route.handler))
                    || line.starts_with(&format!("async fn {}(", route.handler))
            })
            .unwrap_or_else(|| panic!("fn {} not found in src/http/routes/{}", route.handler, route.file));
        let docs: Vec<&str> = lines[..signature]
            .iter()
            .rev()
            .skip_while(|line| line.starts_with("#["))
            .take_while(|line| line.starts_with("///"))
            .copied()
            .collect();
        let first = docs.last().copied().unwrap_or_default();
        assert!(
            first.starts_with(&format!("/// `{id}`:")),
            "{method} {path} is handled by {}::{}, whose doc comment should start with \"/// `{id}`:\", not {first:?}",
            route.file,
            route.handler
        );
    }
    assert!(!seen.is_empty());
}

/// The document is self-consistent: every local `$ref` resolves, every security requirement
/// names a defined scheme, and every schema compiles.
#[test]
fn the_document_is_self_consistent() {
    let spec = Spec::load();
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    out.push(reference);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&spec.doc, &mut found);
    for reference in found {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {reference}"));
        assert!(spec.doc.pointer(pointer).is_some(), "$ref {reference} resolves to nothing");
    }
    let schemes = spec.doc["components"]["securitySchemes"].as_object().expect("security schemes");
    for ((method, path), operation) in spec.operations() {
        for requirement in
            operation["security"].as_array().unwrap_or_else(|| panic!("{method} {path} states its security"))
        {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(scheme), "{method} {path}: unknown security scheme {scheme}");
            }
        }
    }
    for name in spec.doc["components"]["schemas"].as_object().unwrap().keys() {
        spec.validator(&format!("/components/schemas/{}", escape(name)));
    }
    // The documented example is a valid snapshot.
    spec.assert_valid(
        "/components/schemas/Snapshot",
        &spec.doc["components"]["schemas"]["Snapshot"]["examples"][0],
        "example",
    );
}

/// Takes the user directory's table away, so it refuses every write (and read), as a
/// database that went away would.
async fn refuse_directory_writes(app: &TestApp) {
    execute(app, &["ALTER TABLE users RENAME TO users_gone"]).await;
}

/// `stranger` has a session `app` accepts and a profile `app` has never read.
async fn directory_down(spec: &Spec, app: &TestApp, stranger: &Caller) {
    let tab = json!({"pagePath": "/down", "tabId": "t"});
    for path in ["/api/presence/join", "/api/presence/heartbeat"] {
        let answer = spec.check(Method::POST, path, stranger.post(path, tab.clone()).await).await;
        assert_eq!(answer.status, 503, "{path}");
    }
    let list = stranger.list("/down").await;
    assert_eq!(spec.check(Method::GET, "/api/presence/list", list).await.status, 503);
    let stream = stranger.get("/api/presence/stream?pagePath=/down").await;
    assert_eq!(spec.check(Method::GET, "/api/presence/stream", stream).await.status, 503);
    let whoami = stranger.get("/api/session").await;
    assert_eq!(spec.check(Method::GET, "/api/session", whoami).await.status, 503);
    let sign_in = app.anonymous().post("/api/session", json!({"token": app.token("newcomer", "N")})).await;
    assert_eq!(spec.check(Method::POST, "/api/session", sign_in).await.status, 503);
    let dev = app.anonymous().post("/api/session/dev", json!({"id": "newcomer", "name": "N"})).await;
    let answer = spec.check(Method::POST, "/api/session/dev", dev).await;
    assert_eq!((answer.status, &answer.headers["retry-after"]), (503, &reqwest::header::HeaderValue::from_static("5")));
}

/// Request bodies are JSON objects, as the document says (`type: object`), so any other JSON
/// is a malformed body (serde's derived `Deserialize` would read a struct from an array,
/// field by field, were `src/http/extract/body.rs` not to refuse it).
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_malformed() {
    let spec = Spec::load();
    let app = spawn_app().await;
    let cases = [
        ("/api/presence/join", r#"["/a", "t"]"#, "TabRequest"),
        ("/api/presence/heartbeat", r#"["/a", "t", true]"#, "TabRequest"),
        ("/api/presence/leave", r#"["/a", "t"]"#, "TabRequest"),
        ("/api/session", r#"["a.jwt.token"]"#, "SignInRequest"),
        ("/api/session/dev", r#"["u1", "U"]"#, "DevSignInRequest"),
    ];
    for (path, body, schema) in cases {
        let instance: Value = serde_json::from_str(body).unwrap();
        let schema = format!("/components/schemas/{schema}");
        assert!(!spec.errors(&schema, &instance).is_empty(), "{schema} refuses {body}");
        let caller = match path {
            "/api/session" | "/api/session/dev" => app.anonymous(),
            _ => app.bearer_user("alice", "Alice"),
        };
        let response = send(post_raw(&caller, path, "application/json", body)).await;
        let answer = spec.check(Method::POST, path, response).await;
        assert_eq!(
            (answer.status, &answer.json["type"]),
            (400, &json!("urn:presence:problem:malformed")),
            "POST {path} with the array body {body} must be a malformed body, but answered {} {}",
            answer.status,
            answer.json
        );
    }
}
