//! The user directory over sqlx: who a user id is (name, avatar, role).
//!
//! SQLite by default, any database sqlx's `Any` driver speaks when the URL says so; the
//! schema lives in `migrations/`. Profiles are cached in memory and written through, so a
//! snapshot costs no query once its viewers have been seen. The viewer stats share the
//! database: see [`stats`].

pub mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool, Row};

use quick_cache::sync::Cache;

use crate::domain::time::unix_millis;
use crate::domain::{Profile, UserId};

/// The most profiles cached; beyond, the least used are evicted.
const MAX_CACHED_PROFILES: usize = 100_000;

pub struct Directory {
    pool: AnyPool,
    cache: Cache<UserId, Arc<Profile>>,
    /// Counts profile changes, so cached snapshots know when their names went stale.
    generation: AtomicU64,
}

impl Directory {
    /// Connects (creating the database if it is missing) and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        install_default_drivers();
        if !Any::database_exists(url).await.context("checking that the database exists")? {
            Any::create_database(url).await.context("creating the database")?;
        }
        let pool = AnyPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .context("connecting to the database")?;
        sqlx::migrate!("./migrations").run(&pool).await.context("running the migrations")?;
        Ok(Self { pool, cache: Cache::new(MAX_CACHED_PROFILES), generation: AtomicU64::new(0) })
    }

    /// Readiness: the database answers a query.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.context("pinging the database")?;
        Ok(())
    }

    /// Stores the profile unless the directory already holds exactly this one; answers it,
    /// and whether it was stored.
    pub async fn upsert(&self, profile: Profile) -> anyhow::Result<(Arc<Profile>, bool)> {
        if let Some(cached) = self.cached(&profile.id).filter(|cached| **cached == profile) {
            return Ok((cached, false));
        }
        let updated_at = unix_millis(SystemTime::now());
        sqlx::query(
            "INSERT INTO users (id, name, avatar, role, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, avatar = excluded.avatar, \
             role = excluded.role, updated_at = excluded.updated_at",
        )
        .bind(profile.id.as_str())
        .bind(&profile.name)
        .bind(profile.avatar.as_deref())
        .bind(profile.role.as_deref())
        .bind(updated_at)
        .execute(&self.pool)
        .await
        .with_context(|| format!("saving the profile of user {}", profile.id))?;
        self.generation.fetch_add(1, Ordering::Release);
        Ok((self.remember(profile), true))
    }

    /// Drops a cached profile that changed elsewhere, so the next read goes to SQL.
    pub fn forget(&self, id: &UserId) {
        self.cache.remove(id);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Drops every cached profile, when changes elsewhere may have been missed.
    pub fn forget_all(&self) {
        self.cache.clear();
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever a profile does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The profile of a user; one the directory has never seen is shown by id.
    pub async fn profile(&self, id: &UserId) -> anyhow::Result<Arc<Profile>> {
        if let Some(cached) = self.cached(id) {
            return Ok(cached);
        }
        let row = sqlx::query("SELECT name, avatar, role FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("loading the profile of user {id}"))?;
        let profile = match row {
            Some(row) => Profile {
                id: id.clone(),
                name: row.try_get("name")?,
                avatar: row.try_get("avatar")?,
                role: row.try_get("role")?,
            },
            None => Profile { id: id.clone(), name: id.to_string(), avatar: None, role: None },
        };
        Ok(self.remember(profile))
    }

    /// The profiles of several users, keyed by id.
    pub async fn profiles<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a UserId>,
    ) -> anyhow::Result<HashMap<UserId, Arc<Profile>>> {
        let mut profiles = HashMap::new();
        for id in ids {
            profiles.insert(id.clone(), self.profile(id).await?);
        }
        Ok(profiles)
    }

    fn cached(&self, id: &UserId) -> Option<Arc<Profile>> {
        self.cache.get(id)
    }

    fn remember(&self, profile: Profile) -> Arc<Profile> {
        let profile = Arc::new(profile);
        self.cache.insert(profile.id.clone(), profile.clone());
        profile
    }
}
