//! `spawn_app()` and a typed client per endpoint: what every API test starts from.

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use presence::auth::mint;
use presence::configuration::Settings;
use presence::domain::{Profile, UserId};
use presence::startup::Application;
use presence::telemetry;
use reqwest::{Method, RequestBuilder, Response};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

pub use crate::common::eventually;

pub const JWT_SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        telemetry::init(presence::configuration::LogFormat::Pretty);
    }
});

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub state: actix_web::web::Data<presence::state::AppState>,
    server: ServerHandle,
    running: Option<JoinHandle<std::io::Result<()>>>,
    _database_dir: tempfile::TempDir,
}

/// The service on a free port with a fresh SQLite file, dev login on and plain-HTTP cookies.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The app with tabs that expire after `ttl_ms` and a sweep every 100 ms, for expiry tests.
pub async fn spawn_app_with_ttl(ttl_ms: u64) -> TestApp {
    spawn_app_with(|settings| {
        settings.ttl = std::time::Duration::from_millis(ttl_ms);
        settings.heartbeat_interval = std::time::Duration::from_millis(ttl_ms / 3);
        settings.sweep_interval = std::time::Duration::from_millis(100);
    })
    .await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let database_dir = tempfile::tempdir().expect("a temp dir");
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().expect("an address"),
        database_url: fresh_database_url(&database_dir),
        jwt_secret: Some(SecretString::from(JWT_SECRET)),
        cookie_secure: false,
        dev_login: true,
        ..Settings::default()
    };
    configure(&mut settings);
    let application = Application::build(settings.clone()).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let state = application.state();
    let server = application.server_handle();
    let running = Some(tokio::spawn(application.run_until_stopped()));
    TestApp { address, settings, state, server, running, _database_dir: database_dir }
}

/// A new, empty database: on the Postgres server of `PRESENCE_TEST_DATABASE_URL` when it
/// is set (`scripts/test.sh` runs the suite both ways), else a SQLite file in `dir`.
fn fresh_database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("PRESENCE_TEST_DATABASE_URL") {
        // The directory creates the database it is pointed at; the name is what is new.
        Ok(server) => format!("{}/presence_test_{:016x}", server.trim_end_matches('/'), rand::random::<u64>()),
        Err(_) => format!("sqlite:{}", dir.path().join("presence.db").display()),
    }
}

impl TestApp {
    /// Stops the app as SIGTERM would, and waits until `run_until_stopped` has returned
    /// (it writes the queued profiles first). Its database stays, for the test to read.
    pub async fn stop(&mut self) {
        self.server.stop(true).await;
        let running = self.running.take().expect("the app is running");
        running.await.expect("run_until_stopped did not panic").expect("the server ran");
    }

    /// A caller with an empty cookie jar and no token.
    pub fn anonymous(&self) -> Caller {
        Caller {
            http: reqwest::Client::builder().cookie_store(true).build().unwrap(),
            address: self.address.clone(),
            bearer: None,
        }
    }

    /// A caller signed in through `POST /api/session/dev`.
    pub async fn dev_user(&self, id: &str, name: &str) -> Caller {
        let caller = self.anonymous();
        let response = caller.post("/api/session/dev", json!({"id": id, "name": name})).await;
        assert_eq!(response.status(), 200, "dev login of {id}");
        caller
    }

    /// A caller that sends `Authorization: Bearer` with a token for this profile.
    pub fn bearer_user(&self, id: &str, name: &str) -> Caller {
        Caller { bearer: Some(self.token(id, name)), ..self.anonymous() }
    }

    /// An HS256 token signed with the app's secret.
    pub fn token(&self, id: &str, name: &str) -> String {
        let profile = Profile { id: UserId::parse(id).unwrap(), name: name.into(), avatar: None, role: None };
        mint(&self.settings, &profile, Duration::from_secs(3600)).unwrap()
    }
}

pub struct Caller {
    pub http: reqwest::Client,
    pub address: String,
    pub bearer: Option<String>,
}

impl Caller {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.address));
        match &self.bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("the request is sent")
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path).json(&body).send().await.expect("the request is sent")
    }

    /// A POST with `Prefer: return=minimal`: join and heartbeat then answer 204 and the tag.
    pub async fn post_minimal(&self, path: &str, body: Value) -> Response {
        let request = self.request(Method::POST, path).header("prefer", "return=minimal").json(&body);
        request.send().await.expect("the request is sent")
    }

    pub async fn join(&self, page: &str, tab: &str) -> Response {
        self.post("/api/presence/join", json!({"pagePath": page, "tabId": tab})).await
    }

    pub async fn heartbeat(&self, page: &str, tab: &str, is_editing: bool) -> Response {
        self.post("/api/presence/heartbeat", json!({"pagePath": page, "tabId": tab, "isEditing": is_editing})).await
    }

    pub async fn leave(&self, page: &str, tab: &str) -> Response {
        self.post("/api/presence/leave", json!({"pagePath": page, "tabId": tab})).await
    }

    pub async fn list(&self, page: &str) -> Response {
        self.request(Method::GET, "/api/presence/list").query(&[("pagePath", page)]).send().await.unwrap()
    }

    /// The snapshot of `page`, asserting the list answered 200.
    pub async fn snapshot(&self, page: &str) -> Value {
        let response = self.list(page).await;
        assert_eq!(response.status(), 200, "list {page}");
        response.json().await.unwrap()
    }

    pub async fn stats(&self, page: &str) -> Response {
        self.request(Method::GET, "/api/presence/stats").query(&[("pagePath", page)]).send().await.unwrap()
    }

    /// The stats of `page`, asserting they answered 200.
    pub async fn stats_of(&self, page: &str) -> Value {
        let response = self.stats(page).await;
        assert_eq!(response.status(), 200, "stats {page}");
        response.json().await.unwrap()
    }

    /// `GET /api/presence/pages`, with `?limit=` when given.
    pub async fn pages(&self, limit: Option<usize>) -> Response {
        let query: Vec<(&str, String)> = limit.map(|limit| ("limit", limit.to_string())).into_iter().collect();
        self.request(Method::GET, "/api/presence/pages").query(&query).send().await.unwrap()
    }
}

/// The viewer ids of a snapshot, in order.
pub fn viewer_ids(snapshot: &Value) -> Vec<&str> {
    snapshot["viewers"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect()
}

/// A problem+json answer, checked for its shape.
pub async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/problem+json"), "content type {content_type}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "problem field {field} in {body}");
    }
    body
}

/// A client of `GET /api/presence/stream`, reading one server-sent event at a time.
pub struct EventStream {
    response: Response,
    buffer: String,
    /// The `id` of the last event read that had one.
    pub last_id: Option<String>,
}

impl EventStream {
    pub async fn open(caller: &Caller, page: &str) -> EventStream {
        let response =
            caller.request(Method::GET, "/api/presence/stream").query(&[("pagePath", page)]).send().await.unwrap();
        assert_eq!(response.status(), 200, "stream {page}");
        EventStream::new(response)
    }

    /// Reads the events of an answer already checked to be 200.
    pub fn new(response: Response) -> EventStream {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream { response, buffer: String::new(), last_id: None }
    }

    /// The next event as (name, data), skipping comments; `None` if none came within `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| block.lines().find_map(|line| line.strip_prefix(name)).map(str::to_owned);
                if let Some(id) = field("id: ") {
                    self.last_id = Some(id);
                }
                if let (Some(event), Some(data)) = (field("event: "), field("data: ")) {
                    return Some((event, serde_json::from_str(&data).expect("event data is JSON")));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event called `name`, skipping others; `None` if none came within `limit`.
    pub async fn next_named(&mut self, name: &str, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (event, data) = self.next(deadline.saturating_duration_since(tokio::time::Instant::now())).await?;
            if event == name {
                return Some(data);
            }
        }
    }
}
