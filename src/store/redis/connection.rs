//! The store's Redis connection (which the sessions share): to one Redis, or to a Redis
//! Cluster through its seed nodes, with the same bounds either way, so every call waits a
//! bounded time for a Redis that is down and the connection comes back on its own. The
//! cluster client follows resharding and failover (MOVED, ASK, topology refreshes) itself.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{AsyncPushSender, ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, RedisResult, ToRedisArgs, Value};

/// The most a call waits for Redis to accept a connection, and then for each answer.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the cluster client tries a call again after a MOVED, an ASK or a lost node,
/// each within the timeouts above: enough to follow a failover, few enough to stay bounded.
const CLUSTER_RETRIES: u32 = 3;

/// Where the registry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis, by its URL.
    Single(String),
    /// A Redis Cluster, by the URLs of some of its nodes.
    Cluster(Vec<String>),
}

#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A connection to `target` that hands pub/sub messages (RESP3 pushes) to `pushes`: one
/// attempt per reconnect on a single Redis (a call that meets a Redis that is down fails at
/// once, where retries would back off by a second or more, and the next call tries again).
pub(super) async fn connect(target: &RedisTarget, pushes: impl AsyncPushSender) -> anyhow::Result<RedisConnection> {
    match target {
        RedisTarget::Single(url) => {
            let mut info = url.as_str().into_connection_info().context("reading the Redis URL")?;
            // Pub/sub messages pushed on the connection the commands use need RESP3.
            info.redis.protocol = ProtocolVersion::RESP3;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(CONNECTION_TIMEOUT)
                .set_response_timeout(RESPONSE_TIMEOUT)
                .set_number_of_retries(0)
                .set_push_sender(pushes)
                .set_automatic_resubscription();
            let manager = Client::open(info)?.get_connection_manager_with_config(config).await;
            Ok(RedisConnection::Single(manager.context("connecting to Redis")?))
        }
        RedisTarget::Cluster(seeds) => {
            let client = ClusterClientBuilder::new(seeds.iter().map(String::as_str))
                .use_protocol(ProtocolVersion::RESP3)
                .connection_timeout(CONNECTION_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(CLUSTER_RETRIES)
                .push_sender(pushes)
                .build()
                .context("reading the Redis Cluster seed URLs")?;
            let connection = client.get_async_connection().await.context("connecting to the Redis Cluster")?;
            Ok(RedisConnection::Cluster(connection))
        }
    }
}

impl RedisConnection {
    /// Subscribes to `channel`, again after every reconnect.
    pub async fn subscribe(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        match self {
            Self::Single(redis) => redis.subscribe(channel).await,
            Self::Cluster(redis) => redis.subscribe(channel).await,
        }
    }

    /// How `page.lua` publishes a page's events: on a cluster, sharded (Redis 7), so only the
    /// page's master and the instances listening to the page carry them; on one Redis, as
    /// usual (a channel per page either way).
    pub fn publish_command(&self) -> &'static str {
        match self {
            Self::Single(_) => "PUBLISH",
            Self::Cluster(_) => "SPUBLISH",
        }
    }

    /// Subscribes to a page's events channel, as `publish_command` publishes there.
    pub async fn subscribe_page(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        match self {
            Self::Single(redis) => redis.subscribe(channel).await,
            Self::Cluster(redis) => redis.ssubscribe(channel).await,
        }
    }

    pub async fn unsubscribe_page(&mut self, channel: impl ToRedisArgs) -> RedisResult<()> {
        match self {
            Self::Single(redis) => redis.unsubscribe(channel).await,
            Self::Cluster(redis) => redis.sunsubscribe(channel).await,
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(redis) => redis.req_packed_command(cmd),
            Self::Cluster(redis) => redis.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(redis) => redis.req_packed_commands(cmd, offset, count),
            Self::Cluster(redis) => redis.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(redis) => redis.get_db(),
            Self::Cluster(redis) => redis.get_db(),
        }
    }
}
