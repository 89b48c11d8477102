//! The `presence` binary itself: --help, the token tool, and a clean stop on SIGTERM.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{eventually, spawn_app};

fn presence() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_presence"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn help_documents_every_setting() {
    let output = presence().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "PRESENCE_LISTEN",
        "PRESENCE_TTL_MS",
        "PRESENCE_HEARTBEAT_INTERVAL_MS",
        "PRESENCE_SWEEP_INTERVAL_MS",
        "PRESENCE_JWT_SECRET",
        "PRESENCE_JWT_PUBLIC_KEY_FILE",
        "PRESENCE_JWT_ISSUER",
        "PRESENCE_JWT_AUDIENCE",
        "PRESENCE_SESSION_KEY",
        "PRESENCE_COOKIE_NAME",
        "PRESENCE_COOKIE_SECURE",
        "PRESENCE_COOKIE_SAME_SITE",
        "PRESENCE_ALLOWED_ORIGINS",
        "PRESENCE_DEV_LOGIN",
        "PRESENCE_STREAM_KEEPALIVE_MS",
        "PRESENCE_MAX_TABS_PER_USER",
        "PRESENCE_MAX_TABS",
        "PRESENCE_MAX_STREAMS_PER_USER",
        "PRESENCE_RATE_LIMIT_PER_USER",
        "PRESENCE_RATE_LIMIT_PER_IP",
        "PRESENCE_TRUSTED_PROXIES",
        "PRESENCE_STATS_SAMPLE_INTERVAL_MS",
        "PRESENCE_STATS_RETENTION",
        "PRESENCE_DATABASE_URL",
        "PRESENCE_REDIS_URL",
        "PRESENCE_REDIS_PREFIX",
        "PRESENCE_LOG_FORMAT",
    ] {
        assert!(help.contains(variable), "--help names {variable}");
    }
}

#[test]
fn a_bad_allowed_origin_fails_start_saying_what_an_origin_is() {
    let output =
        presence().env("PRESENCE_ALLOWED_ORIGINS", "https://app.example.com,app.example.com").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("app.example.com") && stderr.contains("scheme://host[:port]"), "{stderr}");
}

#[tokio::test]
async fn the_token_tool_mints_a_token_the_service_accepts() {
    let app = spawn_app().await;
    let output = presence()
        .env("PRESENCE_JWT_SECRET", crate::helpers::JWT_SECRET)
        .args(["token", "--sub", "u1", "--name", "Alice", "--picture", "https://example.com/a.png", "--ttl", "10m"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let caller = crate::helpers::Caller { bearer: Some(token), ..app.anonymous() };
    let me: serde_json::Value = caller.get("/api/session").await.json().await.unwrap();
    assert_eq!(me["user"], serde_json::json!({"id": "u1", "name": "Alice", "avatar": "https://example.com/a.png"}));
}

#[test]
fn the_token_tool_says_what_is_missing() {
    let output = presence().args(["token", "--sub", "u1"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PRESENCE_JWT_SECRET"));
}

/// The binary serving on a free loopback port with a fresh SQLite file, once it answers.
struct Served {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

async fn serve(configure: impl FnOnce(&mut Command) -> &mut Command) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = presence();
    command
        .env("PRESENCE_LISTEN", format!("127.0.0.1:{port}"))
        .env("PRESENCE_DATABASE_URL", format!("sqlite:{}", dir.path().join("p.db").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = configure(&mut command).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let healthz = format!("{base}/healthz");
    let up =
        eventually(Duration::from_secs(20), || async { reqwest::get(&healthz).await.is_ok_and(|r| r.status() == 200) })
            .await;
    assert!(up, "the service came up");
    Served { child, base, _dir: dir }
}

impl Served {
    /// Sends SIGTERM and waits for the exit, which must be clean.
    async fn stop(mut self) -> Child {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let mut exit = None;
        let stopped = eventually(Duration::from_secs(15), || {
            exit = self.child.try_wait().unwrap();
            std::future::ready(exit.is_some())
        })
        .await;
        assert!(stopped, "the service stopped after SIGTERM");
        assert!(exit.unwrap().success(), "exit status {exit:?}");
        self.child
    }
}

#[tokio::test]
async fn sigterm_stops_the_service_cleanly() {
    serve(|command| command).await.stop().await;
}

/// With `PRESENCE_LOG_FORMAT=json`, a line logged while a request is served is one JSON
/// object whose request span carries the request id the answer's `X-Request-Id` gave.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let served = serve(|command| {
        command
            .env("PRESENCE_LOG_FORMAT", "json")
            .env("PRESENCE_DEV_LOGIN", "true")
            .env("PRESENCE_COOKIE_SECURE", "false")
            .stderr(Stdio::piped())
    })
    .await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/session/dev", served.base))
        .json(&serde_json::json!({"id": "alice", "name": "Alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut stderr = String::new();
    served.stop().await.stderr.unwrap().read_to_string(&mut stderr).unwrap();
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    let opened = lines.iter().find(|line| line["message"] == "session opened").expect("the sign-in is logged");
    let request_span = &opened["spans"][0];
    assert_eq!(request_span["name"], "HTTP request", "{opened}");
    assert_eq!(request_span["request_id"], request_id.as_str(), "{opened}");
    assert_eq!(opened["user"], "alice", "{opened}");
}
