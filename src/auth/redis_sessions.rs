//! `RedisSessions`: sessions in Redis, on the registry's own connection (see
//! `store::redis`), so a Redis that is down fails a session call within the same bounds,
//! the next call reconnects, and `/readyz` speaks for both. The commands and the JSON are
//! actix-session's own Redis store's, so sessions it wrote stay valid.

use std::collections::HashMap;

use crate::store::redis::RedisConnection;
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as Ttl;
use anyhow::Context;
use rand::distr::{Alphanumeric, SampleString};

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct RedisSessions {
    redis: RedisConnection,
    prefix: String,
}

impl RedisSessions {
    /// Sessions on `redis`, under the keys `<prefix>:session:<session key>`.
    pub fn new(redis: RedisConnection, prefix: &str) -> Self {
        Self { redis, prefix: prefix.to_owned() }
    }

    fn key(&self, session: &SessionKey) -> String {
        format!("{}:session:{}", self.prefix, session.as_ref())
    }

    /// Writes the state under `session` for `ttl`, `if_exists` it is there (`XX`) or not
    /// (`NX`); answers whether it was written.
    async fn set(&self, session: &SessionKey, state: &State, ttl: &Ttl, if_exists: bool) -> anyhow::Result<bool> {
        let body = serde_json::to_string(state).context("writing the session state")?;
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(session))
            .arg(body)
            .arg(if if_exists { "XX" } else { "NX" })
            .arg("EX")
            .arg(ttl.whole_seconds())
            .query_async(&mut self.redis.clone())
            .await
            .context("writing a session to Redis")?;
        Ok(written.is_some())
    }
}

/// A new session key: 64 random letters and digits, as actix-session makes them.
fn new_session_key() -> SessionKey {
    SessionKey::try_from(Alphanumeric.sample_string(&mut rand::rng(), 64)).expect("64 bytes is a valid key")
}

impl SessionStore for RedisSessions {
    async fn load(&self, session: &SessionKey) -> Result<Option<State>, LoadError> {
        let body: Option<String> = redis::cmd("GET")
            .arg(self.key(session))
            .query_async(&mut self.redis.clone())
            .await
            .context("reading a session from Redis")
            .map_err(LoadError::Other)?;
        body.map(|body| serde_json::from_str(&body).context("reading the session state"))
            .transpose()
            .map_err(LoadError::Deserialization)
    }

    async fn save(&self, state: State, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        let session = new_session_key();
        self.set(&session, &state, ttl, false).await.map_err(SaveError::Other)?;
        Ok(session)
    }

    async fn update(&self, session: SessionKey, state: State, ttl: &Ttl) -> Result<SessionKey, UpdateError> {
        if self.set(&session, &state, ttl, true).await.map_err(UpdateError::Other)? {
            return Ok(session);
        }
        // The session expired since it was loaded: it gets a new key, as a new one would.
        self.save(state, ttl).await.map_err(|error| match error {
            SaveError::Serialization(error) => UpdateError::Serialization(error),
            SaveError::Other(error) => UpdateError::Other(error),
        })
    }

    async fn update_ttl(&self, session: &SessionKey, ttl: &Ttl) -> anyhow::Result<()> {
        redis::cmd("EXPIRE")
            .arg(self.key(session))
            .arg(ttl.whole_seconds())
            .query_async::<()>(&mut self.redis.clone())
            .await
            .context("extending a session in Redis")
    }

    async fn delete(&self, session: &SessionKey) -> anyhow::Result<()> {
        redis::cmd("DEL")
            .arg(self.key(session))
            .query_async::<()>(&mut self.redis.clone())
            .await
            .context("deleting a session in Redis")
    }
}
