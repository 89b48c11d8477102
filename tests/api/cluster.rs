//! The Redis Cluster mode (`PRESENCE_REDIS_CLUSTER`): instances on a cluster share
//! sessions, presence and live updates, the keys spread over every master, and the service
//! comes through a master's failover without a restart. Skipped (saying so) when
//! `PRESENCE_TEST_REDIS_CLUSTER` is not set; the failover test starts a cluster of its own
//! (`scripts/redis-cluster.sh`), so the others are not disturbed.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use secrecy::SecretString;
use serde_json::json;

use crate::common::TestCluster;
use crate::helpers::{eventually, spawn_app_with, viewer_ids, EventStream, TestApp};

/// Every instance of a deployment signs its cookies with the same key.
const SESSION_KEY: &str = "CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYar0PUaP2SJrtP4HUJnjLHW+yBFao+02f4jSG2St9wBJg==";
const SOON: Duration = Duration::from_secs(10);

/// An instance on the cluster of `seeds` under `prefix`, with the user directory of `beside`
/// if given, as instances of one deployment share it.
async fn instance(seeds: &[String], prefix: &str, beside: Option<&TestApp>) -> TestApp {
    spawn_app_with(|settings| {
        settings.redis_cluster = Some(SecretString::from(seeds.join(",")));
        settings.redis_prefix = prefix.into();
        settings.session_key = Some(SecretString::from(SESSION_KEY));
        settings.sweep_interval = Duration::from_millis(200);
        if let Some(first) = beside {
            settings.database_url = first.settings.database_url.clone();
        }
    })
    .await
}

/// The masters of the cluster `seeds` belong to, by address, with how many keys under
/// `prefix` each holds.
fn keys_per_master(seeds: &[String], prefix: &str) -> BTreeMap<String, usize> {
    let mut redis = redis::Client::open(seeds[0].as_str()).unwrap().get_connection().unwrap();
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut redis).unwrap();
    let masters = nodes.lines().filter(|line| line.contains("master") && !line.contains("fail"));
    masters
        .map(|line| {
            let address = line.split(' ').nth(1).unwrap().split('@').next().unwrap().to_owned();
            let mut node = redis::Client::open(format!("redis://{address}")).unwrap().get_connection().unwrap();
            let keys: Vec<String> = redis::Commands::scan_match(&mut node, format!("{prefix}:*")).unwrap().collect();
            (address, keys.len())
        })
        .collect()
}

#[tokio::test]
async fn instances_on_a_cluster_share_sessions_presence_and_live_updates() {
    let Some(cluster) = TestCluster::for_test(module_path!()) else { return };
    let a = instance(&cluster.seeds, &cluster.prefix, None).await;
    let b = instance(&cluster.seeds, &cluster.prefix, Some(&a)).await;

    let signed_in = a.anonymous().post("/api/session/dev", json!({"id": "alice", "name": "Alice"})).await;
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let on_b = reqwest::Client::new().get(format!("{}/api/session", b.address)).header(COOKIE, &cookie).send();
    assert_eq!(on_b.await.unwrap().status(), 200, "a session opened on a works on b");

    let bob = b.bearer_user("bob", "Bob");
    let mut stream = EventStream::open(&bob, "/docs").await;
    stream.next_named("snapshot", SOON).await.expect("the first snapshot");
    let alice = a.bearer_user("alice", "Alice");
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    let joined = stream.next_named("join", SOON).await.expect("a join on a reaches a stream on b");
    assert_eq!(joined["id"], "alice");
    assert_eq!(viewer_ids(&bob.snapshot("/docs").await), ["alice"]);

    for page in 0..30 {
        assert_eq!(alice.join(&format!("/spread/{page}"), "a1").await.status(), 200);
    }
    let spread = keys_per_master(&cluster.seeds, &cluster.prefix);
    assert_eq!(spread.len(), 3, "three masters: {spread:?}");
    assert!(spread.values().all(|&keys| keys > 0), "every master holds some of the keys: {spread:?}");
}

/// A cluster of the test's own, stopped when dropped.
struct OwnCluster {
    dir: tempfile::TempDir,
    seeds: Vec<String>,
}

impl OwnCluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let started = Command::new("bash")
            .args(["scripts/redis-cluster.sh", "start"])
            .arg(dir.path())
            .env("PRESENCE_CLUSTER_BASE_PORT", "7300")
            .output()
            .expect("scripts/redis-cluster.sh runs");
        assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
        let seeds = String::from_utf8(started.stdout).unwrap().trim().split(',').map(String::from).collect();
        Self { dir, seeds }
    }

    /// Kills (SIGKILL) the master that holds `key`; answers its address.
    fn kill_master_of(&self, key: &str) -> String {
        let mut redis = redis::Client::open(self.seeds[0].as_str()).unwrap().get_connection().unwrap();
        let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut redis).unwrap();
        let shards: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(&mut redis).unwrap();
        let redis::Value::Array(ranges) = shards else { panic!("CLUSTER SLOTS answers an array") };
        let port = ranges
            .iter()
            .find_map(|range| {
                let redis::Value::Array(range) = range else { return None };
                let (redis::Value::Int(first), redis::Value::Int(last)) = (&range[0], &range[1]) else { return None };
                let redis::Value::Array(master) = &range[2] else { return None };
                let redis::Value::Int(port) = master[1] else { return None };
                (*first..=*last).contains(&i64::from(slot)).then_some(port)
            })
            .expect("a master holds the slot");
        let pid = std::fs::read_to_string(self.dir.path().join(format!("node-{port}.pid"))).unwrap();
        Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
        format!("127.0.0.1:{port}")
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").args(["scripts/redis-cluster.sh", "stop"]).arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn the_service_comes_through_a_master_failover_without_a_restart() {
    let Some(_) = TestCluster::for_test(module_path!()) else { return };
    let cluster = OwnCluster::start();
    let app = instance(&cluster.seeds, "presence", None).await;
    let alice = app.bearer_user("alice", "Alice");
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);

    let killed = cluster.kill_master_of("presence:{/docs}:tabs");
    let started = Instant::now();
    let recovered =
        eventually(Duration::from_secs(30), || async { alice.heartbeat("/docs", "a1", false).await.status() == 200 })
            .await;
    let outage = started.elapsed();
    assert!(recovered, "heartbeats succeed again once a replica of {killed} took over");
    eprintln!("the page's master {killed} was killed; heartbeats failed for {:.1} s", outage.as_secs_f64());
    assert_eq!(viewer_ids(&alice.snapshot("/docs").await), ["alice"], "the replica kept the page");
    assert!(eventually(SOON, || async { alice.get("/readyz").await.status() == 200 }).await, "ready again");
}
