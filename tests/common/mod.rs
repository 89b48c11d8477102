//! What the test binaries share (each includes this file as its `common` module): waiting
//! with a bound, and a Redis of the test's own.

use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Polls `condition` every 50 ms for at most `limit`; answers whether it came true.
pub async fn eventually<F: Future<Output = bool>>(limit: Duration, mut condition: impl FnMut() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The Redis named by `PRESENCE_TEST_REDIS_URL` and a key prefix no other test (nor an
/// earlier run) uses; its keys are deleted when it drops.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

/// The Redis Cluster whose seed nodes `PRESENCE_TEST_REDIS_CLUSTER` names (comma-separated
/// URLs) and a key prefix of the test's own; its keys are deleted from every node when it
/// drops.
pub struct TestCluster {
    pub seeds: Vec<String>,
    pub prefix: String,
}

/// The value of `variable`, or `None`, saying once per test binary and variable that the
/// cases needing it were skipped.
fn setting_or_skip(variable: &'static str) -> Option<String> {
    static SKIPPED: std::sync::Mutex<Vec<&str>> = std::sync::Mutex::new(Vec::new());
    let value = std::env::var(variable).ok();
    let mut skipped = SKIPPED.lock().unwrap();
    if value.is_none() && !skipped.contains(&variable) {
        skipped.push(variable);
        let tests = env!("CARGO_CRATE_NAME");
        let note = format!("{variable} is not set: the cases of the {tests} tests that need it were SKIPPED\n");
        // Straight to stderr, which the test harness does not capture.
        let _ = std::io::stderr().write_all(note.as_bytes());
    }
    value
}

/// A key prefix for `test` that no other test, nor an earlier run, uses.
fn prefix_of(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("presence-test:{}:{}-{nanos}", test.replace("::", "."), std::process::id())
}

/// Deletes the keys under `prefix` that the Redis at `url` holds; errors are answered.
fn delete_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let mut redis = redis::Client::open(url)?.get_connection()?;
    let keys: Vec<String> = redis::Commands::scan_match(&mut redis, format!("{prefix}:*"))?.collect();
    for key in keys {
        redis::cmd("DEL").arg(key).exec(&mut redis)?;
    }
    Ok(())
}

impl TestRedis {
    /// `None` (saying so) when `PRESENCE_TEST_REDIS_URL` is not set.
    pub fn for_test(test: &str) -> Option<Self> {
        Some(Self { url: setting_or_skip("PRESENCE_TEST_REDIS_URL")?, prefix: prefix_of(test) })
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Err(error) = delete_keys(&self.url, &self.prefix) {
            eprintln!("could not delete the test keys under {}: {error}", self.prefix);
        }
    }
}

impl TestCluster {
    /// `None` (saying so) when `PRESENCE_TEST_REDIS_CLUSTER` is not set.
    pub fn for_test(test: &str) -> Option<Self> {
        let seeds = setting_or_skip("PRESENCE_TEST_REDIS_CLUSTER")?;
        Some(Self { seeds: seeds.split(',').map(String::from).collect(), prefix: prefix_of(test) })
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Each master deletes its own keys; a replica refuses, and its master deletes them.
        for seed in &self.seeds {
            let _ = delete_keys(seed, &self.prefix);
        }
    }
}
