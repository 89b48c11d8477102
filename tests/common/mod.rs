//! What the test binaries share (each includes this file as its `common` module).

use std::future::Future;
use std::time::Duration;

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
