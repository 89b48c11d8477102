//! What the test binaries share (each includes this file as its `common` module): waiting
//! with a bound, and a Redis of the test's own.

use std::future::Future;
use std::io::Write;
use std::sync::Once;
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

impl TestRedis {
    /// `None`, saying once per test binary that the Redis cases were skipped, when
    /// `PRESENCE_TEST_REDIS_URL` is not set.
    pub fn for_test(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("PRESENCE_TEST_REDIS_URL") else {
            static SKIPPED: Once = Once::new();
            SKIPPED.call_once(|| {
                let tests = env!("CARGO_CRATE_NAME");
                let note =
                    format!("PRESENCE_TEST_REDIS_URL is not set: the Redis cases of the {tests} tests were SKIPPED\n");
                // Straight to stderr, which the test harness does not capture.
                let _ = std::io::stderr().write_all(note.as_bytes());
            });
            return None;
        };
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let prefix = format!("presence-test:{}:{}-{nanos}", test.replace("::", "."), std::process::id());
        Some(Self { url, prefix })
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let pattern = format!("{}:*", self.prefix);
        let deleted = (|| -> redis::RedisResult<()> {
            let mut redis = redis::Client::open(self.url.as_str())?.get_connection()?;
            let keys: Vec<String> = redis::Commands::scan_match(&mut redis, &pattern)?.collect();
            if !keys.is_empty() {
                redis::cmd("DEL").arg(keys).exec(&mut redis)?;
            }
            Ok(())
        })();
        if let Err(error) = deleted {
            eprintln!("could not delete the test keys {pattern}: {error}");
        }
    }
}
