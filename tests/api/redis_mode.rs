//! The Redis mode (`PRESENCE_REDIS_URL`): several instances on one Redis share sessions,
//! presence, ETags and live updates; with Redis gone they answer 503 and recover when it
//! is back. Skipped (saying so) when `PRESENCE_TEST_REDIS_URL` is not set.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::header::{COOKIE, IF_NONE_MATCH, SET_COOKIE};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::common::TestRedis;
use crate::helpers::{eventually, problem, spawn_app_with, viewer_ids, Caller, EventStream, TestApp, JWT_SECRET};
use crate::metrics::{scrape, Scrape};

/// Every instance of a deployment signs its cookies with the same key.
const SESSION_KEY: &str = "CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW+yBFao+02f4jSG2St9wBJg==";
const SOON: Duration = Duration::from_secs(10);

/// An instance on `redis_url` under `prefix`, with the user directory of `beside` if given,
/// as instances of one deployment share it.
async fn instance(redis_url: &str, prefix: &str, beside: Option<&TestApp>, ttl_ms: u64) -> TestApp {
    spawn_app_with(|settings| {
        settings.redis_url = Some(SecretString::from(redis_url));
        settings.redis_prefix = prefix.into();
        settings.session_key = Some(SecretString::from(SESSION_KEY));
        settings.ttl = std::time::Duration::from_millis(ttl_ms);
        settings.heartbeat_interval = std::time::Duration::from_millis(ttl_ms / 3);
        settings.sweep_interval = std::time::Duration::from_millis(100);
        if let Some(first) = beside {
            settings.database_url = first.settings.database_url.clone();
        }
    })
    .await
}

/// Two instances of one deployment on the test's own Redis prefix.
async fn two_instances(redis: &TestRedis, ttl_ms: u64) -> (TestApp, TestApp) {
    let a = instance(&redis.url, &redis.prefix, None, ttl_ms).await;
    let b = instance(&redis.url, &redis.prefix, Some(&a), ttl_ms).await;
    (a, b)
}

/// The same identity as `caller`, asking another instance.
fn at(caller: &Caller, app: &TestApp) -> Caller {
    Caller { http: caller.http.clone(), address: app.address.clone(), bearer: caller.bearer.clone() }
}

#[tokio::test]
async fn a_session_opened_on_one_instance_works_on_another_until_either_ends_it() {
    let Some(redis) = TestRedis::for_test(module_path!()) else { return };
    let (a, b) = two_instances(&redis, 45_000).await;
    let signed_in = a.anonymous().post("/api/session/dev", json!({"id": "alice", "name": "Alice"})).await;
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let who_am_i = |app: &TestApp| {
        reqwest::Client::new().get(format!("{}/api/session", app.address)).header(COOKIE, &cookie).send()
    };

    let on_b = who_am_i(&b).await.unwrap();
    assert_eq!(on_b.status(), 200, "the session is in Redis, not in one instance");
    assert_eq!(on_b.json::<Value>().await.unwrap()["user"]["name"], "Alice");
    let signed_out =
        reqwest::Client::new().delete(format!("{}/api/session", a.address)).header(COOKIE, &cookie).send().await;
    assert_eq!(signed_out.unwrap().status(), 204);
    problem(who_am_i(&b).await.unwrap(), 401).await;
    problem(who_am_i(&a).await.unwrap(), 401).await;
}

/// No session fixation: signing in renews the session, so a session key known before (an
/// attacker's, planted in the browser) is worth nothing after.
#[tokio::test]
async fn signing_in_renews_the_session_and_the_old_key_stops_working() {
    let Some(redis) = TestRedis::for_test(module_path!()) else { return };
    let app = instance(&redis.url, &redis.prefix, None, 45_000).await;
    let sign_in = |cookie: Option<String>, id: &'static str| {
        let request = reqwest::Client::new().post(format!("{}/api/session/dev", app.address));
        let request = match cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        request.json(&json!({"id": id, "name": id})).send()
    };
    let cookie_of = |response: &reqwest::Response| {
        response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned()
    };
    let who_am_i =
        |cookie: &str| reqwest::Client::new().get(format!("{}/api/session", app.address)).header(COOKIE, cookie).send();
    let planted = cookie_of(&sign_in(None, "mallory").await.unwrap());
    let renewed = sign_in(Some(planted.clone()), "alice").await.unwrap();
    assert_eq!(renewed.status(), 200);
    let fresh = cookie_of(&renewed);
    assert_ne!(fresh, planted, "a new session key");
    assert_eq!(who_am_i(&fresh).await.unwrap().json::<Value>().await.unwrap()["user"]["id"], "alice");
    problem(who_am_i(&planted).await.unwrap(), 401).await;
}

#[tokio::test]
async fn instances_share_presence_etags_and_live_updates_including_expiry() {
    let Some(redis) = TestRedis::for_test(module_path!()) else { return };
    let (a, b) = two_instances(&redis, 3_000).await;
    let bob = b.dev_user("bob", "Bob").await;
    let mut stream = EventStream::open(&bob, "/docs").await;
    let first = stream.next_named("snapshot", SOON).await.expect("the first snapshot");
    assert!(viewer_ids(&first).is_empty());

    let alice = a.dev_user("alice", "Alice").await;
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    let joined = stream.next_named("join", SOON).await.expect("alice's join, made on the other instance");
    assert_eq!(joined["id"], "alice");
    let snapshot = stream.next_named("snapshot", SOON).await.expect("a snapshot with alice");
    assert_eq!(viewer_ids(&snapshot), ["alice"]);

    // A fresh heartbeat gives alice a whole TTL, so the page stays as it is while both answer.
    alice.heartbeat("/docs", "a1", false).await;
    let carol = a.bearer_user("carol", "Carol");
    let on_a = carol.list("/docs").await;
    let etag = on_a.headers()["etag"].clone();
    let on_b = at(&carol, &b).request(Method::GET, "/api/presence/list?pagePath=/docs").header(IF_NONE_MATCH, &etag);
    assert_eq!(on_b.send().await.unwrap().status(), StatusCode::NOT_MODIFIED, "one snapshot, one ETag everywhere");

    let left = stream.next_named("leave", SOON).await.expect("alice's tab expired, found by a sweep");
    assert_eq!(left["id"], "alice");
}

#[tokio::test]
async fn a_profile_changed_through_one_instance_shows_on_the_others() {
    let Some(redis) = TestRedis::for_test(module_path!()) else { return };
    let (a, b) = two_instances(&redis, 45_000).await;
    let alice = a.dev_user("alice", "Alice").await;
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    let bob = b.bearer_user("bob", "Bob");
    let name_on_b = || async { bob.snapshot("/docs").await["viewers"][0]["name"].as_str().map(str::to_owned) };
    assert_eq!(name_on_b().await.as_deref(), Some("Alice"), "b has read and cached alice's profile");

    let renamed = a.anonymous().post("/api/session/dev", json!({"id": "alice", "name": "Alice Martin"})).await;
    assert_eq!(renamed.status(), 200);
    let seen = eventually(SOON, || async { name_on_b().await.as_deref() == Some("Alice Martin") }).await;
    assert!(seen, "b dropped its cached profile when a announced the change");
}

#[tokio::test]
async fn an_instance_in_another_process_shares_sessions_and_presence() {
    let Some(redis) = TestRedis::for_test(module_path!()) else { return };
    let a = instance(&redis.url, &redis.prefix, None, 45_000).await;
    let port = free_port();
    let other_process = Command::new(env!("CARGO_BIN_EXE_presence"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PRESENCE_LISTEN", format!("127.0.0.1:{port}"))
        .env("PRESENCE_REDIS_URL", &redis.url)
        .env("PRESENCE_REDIS_PREFIX", &redis.prefix)
        .env("PRESENCE_DATABASE_URL", &a.settings.database_url)
        .env("PRESENCE_SESSION_KEY", SESSION_KEY)
        .env("PRESENCE_COOKIE_SECURE", "false")
        .env("PRESENCE_JWT_SECRET", JWT_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the presence binary runs");
    let _other_process = KillOnDrop(other_process);
    let b = format!("http://127.0.0.1:{port}");
    let ready = || async { reqwest::get(format!("{b}/readyz")).await.is_ok_and(|answer| answer.status() == 200) };
    assert!(eventually(SOON, ready).await, "the second process is ready");

    let alice = a.dev_user("alice", "Alice").await;
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    // The same cookie jar, asking the other process.
    let alice_on_b = Caller { http: alice.http.clone(), address: b.clone(), bearer: None };
    let snapshot = alice_on_b.snapshot("/docs").await;
    assert_eq!(viewer_ids(&snapshot), ["alice"], "the tab joined in the first process");
    assert_eq!(snapshot["viewers"][0]["isCurrentUser"], true, "the session opened in the first process");
}

/// A child process of the test, killed when dropped (also on a panic).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` of the test's own on `port`, killed when dropped.
struct RedisServer {
    _process: KillOnDrop,
    url: String,
}

impl RedisServer {
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        let server = Self { _process: KillOnDrop(child), url: format!("redis://127.0.0.1:{port}") };
        let client = redis::Client::open(server.url.as_str()).unwrap();
        let ping = || async {
            let Ok(mut connection) = client.get_multiplexed_async_connection().await else { return false };
            redis::cmd("PING").query_async::<String>(&mut connection).await.is_ok()
        };
        assert!(eventually(SOON, ping).await, "redis-server answers on port {port}");
        server
    }
}

#[tokio::test]
async fn with_redis_gone_presence_answers_503_and_it_recovers_when_redis_is_back() {
    let Some(_) = TestRedis::for_test(module_path!()) else { return };
    let port = free_port();
    let server = RedisServer::start(port).await;
    let app = instance(&server.url, "presence", None, 45_000).await;
    // Clients that give up on an answer that hangs, so a hang fails the test, not stalls it.
    let patient = |caller: Caller| Caller {
        http: reqwest::Client::builder().cookie_store(true).timeout(SOON).build().unwrap(),
        ..caller
    };
    let alice = patient(app.bearer_user("alice", "Alice"));
    let bob = patient(app.anonymous());
    assert_eq!(bob.post("/api/session/dev", json!({"id": "bob", "name": "Bob"})).await.status(), 200);
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);

    drop(server);
    for case in ["join", "heartbeat", "list", "leave", "stats", "pages", "a cookie session"] {
        let response = match case {
            "join" => alice.join("/docs", "a1").await,
            "heartbeat" => alice.heartbeat("/docs", "a1", true).await,
            "list" => alice.list("/docs").await,
            "leave" => alice.leave("/docs", "a1").await,
            "stats" => alice.stats("/docs").await,
            "pages" => alice.pages(None).await,
            _ => bob.list("/docs").await,
        };
        assert!(response.headers().contains_key("retry-after"), "{case}: Retry-After");
        let body = problem(response, 503).await;
        assert_eq!(body["type"], "urn:presence:problem:unavailable", "{case}: {body}");
    }
    problem(alice.get("/readyz").await, 503).await;
    // The metrics still answer, without the live counts, and count every failure.
    let store_errors =
        |metrics: &Scrape, operation: &str| metrics.count("presence_store_errors_total", &[("operation", operation)]);
    let metrics = scrape(&app).await;
    assert_eq!(store_errors(&metrics, "request"), 8.0, "the seven 503s above and readyz's");
    assert_eq!(store_errors(&metrics, "scrape"), 1.0);
    assert_eq!(metrics.value("presence_live_tabs", &[]), None, "the registry could not be read");
    let sweep_failed = eventually(SOON, || async { store_errors(&scrape(&app).await, "sweep") >= 1.0 }).await;
    assert!(sweep_failed, "the background sweep's failures are counted");

    let _server = RedisServer::start(port).await;
    let ready = eventually(SOON, || async { alice.get("/readyz").await.status() == 200 }).await;
    assert!(ready, "ready again once Redis is back");
    // Sessions share the registry's connection, so they are back with it: bob's died with
    // that Redis (it kept nothing), and signing in again works at once.
    problem(bob.list("/docs").await, 401).await;
    assert_eq!(bob.post("/api/session/dev", json!({"id": "bob", "name": "Bob"})).await.status(), 200);
    assert_eq!(bob.list("/docs").await.status(), 200, "a cookie session works again");
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    let mut stream = EventStream::open(&alice, "/docs").await;
    stream.next_named("snapshot", SOON).await.expect("the first snapshot");
    assert_eq!(app.bearer_user("carol", "Carol").join("/docs", "c1").await.status(), 200);
    let joined = stream.next_named("join", SOON).await.expect("live updates resumed");
    assert_eq!(joined["id"], "carol");
}
