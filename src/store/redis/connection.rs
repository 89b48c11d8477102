//! How the store's Redis connection (which the sessions share) is made, so every call waits
//! a bounded time for a Redis that is down and the connection comes back on its own.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion};

/// The most a call waits for Redis to accept a connection, and then for each answer.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection to the Redis at `url`, made with `config` on top of the service's bounds:
/// connect and response timeouts, and one attempt per reconnect (a call that meets a Redis
/// that is down fails at once, where retries would back off by a second or more, and the
/// next call tries again).
pub(super) async fn connect(url: &str, config: ConnectionManagerConfig) -> anyhow::Result<ConnectionManager> {
    let mut info = url.into_connection_info().context("reading the Redis URL")?;
    // Pub/sub messages pushed on the connection the commands use need RESP3.
    info.redis.protocol = ProtocolVersion::RESP3;
    let config = config
        .set_connection_timeout(CONNECTION_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        .set_number_of_retries(0);
    Client::open(info)?.get_connection_manager_with_config(config).await.context("connecting to Redis")
}
