//! `SessionStorage`: where sessions live. In the encrypted cookie itself by default; in
//! Redis when `PRESENCE_REDIS_URL` is set, so signing out on one instance signs out on all.
//! Each Redis call is bounded in time, so a Redis that is down fails a request (503, see
//! `startup`) instead of holding it.

use std::collections::HashMap;

use actix_session::storage::{CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as Ttl;

pub use super::redis_sessions::RedisSessions;

type State = HashMap<String, String>;

#[derive(Clone)]
pub enum SessionStorage {
    Cookie,
    Redis(RedisSessions),
}

impl SessionStore for SessionStorage {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        match self {
            Self::Cookie => CookieSessionStore::default().load(key).await,
            Self::Redis(redis) => redis.load(key).await,
        }
    }

    async fn save(&self, state: State, ttl: &Ttl) -> Result<SessionKey, SaveError> {
        match self {
            Self::Cookie => CookieSessionStore::default().save(state, ttl).await,
            Self::Redis(redis) => redis.save(state, ttl).await,
        }
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Ttl) -> Result<SessionKey, UpdateError> {
        match self {
            Self::Cookie => CookieSessionStore::default().update(key, state, ttl).await,
            Self::Redis(redis) => redis.update(key, state, ttl).await,
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Ttl) -> anyhow::Result<()> {
        match self {
            Self::Cookie => CookieSessionStore::default().update_ttl(key, ttl).await,
            Self::Redis(redis) => redis.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        match self {
            Self::Cookie => CookieSessionStore::default().delete(key).await,
            Self::Redis(redis) => redis.delete(key).await,
        }
    }
}
