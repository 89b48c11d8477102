//! `SessionStorage`: where sessions live. In the encrypted cookie itself by default; in
//! Redis when `PRESENCE_REDIS_URL` is set, so signing out on one instance signs out on all.
//! Each Redis call is bounded in time, so a Redis that is down fails a request (503, see
//! `startup`) instead of holding it.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use actix_session::storage::{
    CookieSessionStore, LoadError, RedisSessionStore, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::cookie::time::Duration as Ttl;

/// How long one session read or write may wait for Redis.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

type State = HashMap<String, String>;

#[derive(Clone)]
pub enum SessionStorage {
    Cookie,
    Redis(RedisSessionStore),
}

impl SessionStorage {
    /// Sessions in Redis at `url`, under the keys `<prefix>:session:<session key>`.
    pub async fn redis(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let prefix = prefix.to_owned();
        let store =
            RedisSessionStore::builder(url).cache_keygen(move |key| format!("{prefix}:session:{key}")).build().await?;
        Ok(Self::Redis(store))
    }
}

/// `call`, failed with `error` if Redis takes longer than `REDIS_TIMEOUT` to answer.
async fn bounded<T, E>(
    call: impl Future<Output = Result<T, E>>,
    error: impl FnOnce(anyhow::Error) -> E,
) -> Result<T, E> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(error(anyhow::anyhow!("Redis did not answer within {REDIS_TIMEOUT:?}"))),
    }
}

impl SessionStore for SessionStorage {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        match self {
            Self::Cookie => CookieSessionStore::default().load(key).await,
            Self::Redis(redis) => bounded(redis.load(key), LoadError::Other).await,
        }
    }

    async fn save(&self, state: State, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        match self {
            Self::Cookie => CookieSessionStore::default().save(state, ttl).await,
            Self::Redis(redis) => bounded(redis.save(state, ttl), SaveError::Other).await,
        }
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Ttl) -> Result<SessionKey, UpdateError> {
        match self {
            Self::Cookie => CookieSessionStore::default().update(key, state, ttl).await,
            Self::Redis(redis) => bounded(redis.update(key, state, ttl), UpdateError::Other).await,
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Ttl) -> anyhow::Result<()> {
        match self {
            Self::Cookie => CookieSessionStore::default().update_ttl(key, ttl).await,
            Self::Redis(redis) => bounded(redis.update_ttl(key, ttl), |error| error).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        match self {
            Self::Cookie => CookieSessionStore::default().delete(key).await,
            Self::Redis(redis) => bounded(redis.delete(key), |error| error).await,
        }
    }
}
