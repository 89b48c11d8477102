//! The user directory over sqlx: who a user id is (name, avatar, role).
//!
//! SQLite by default, any database sqlx's `Any` driver speaks when the URL says so; the
//! schema lives in `migrations/`. Profiles are cached in memory, so a snapshot costs no
//! query once its viewers have been seen, and a cold one costs one query per 500 viewers
//! (`profiles`). A saved profile is seen by this instance at once and written to SQL
//! behind the request, in batches, through a bounded queue (`write_behind`; the writer
//! is `tasks::profile_writer`). The viewer stats share the database: see [`stats`].

mod migrate;
mod profiles;
pub mod stats;
mod write_behind;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use parking_lot::Mutex;
use quick_cache::sync::Cache;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyPool};

use crate::domain::{Profile, UserId};

pub use write_behind::{Batch, QueuedWrites, WRITE_QUEUE_CAPACITY};

/// The most profiles cached; beyond, the least used are evicted. As many as the live tabs
/// the service takes by default, so the users of a full registry stay cached: a bearer
/// user whose profile is not cached saves it again.
const MAX_CACHED_PROFILES: usize = 1_000_000;

pub struct Directory {
    pool: AnyPool,
    cache: Cache<UserId, Arc<Profile>>,
    /// Profiles saved but not yet in SQL, at most the queue's capacity. Reads look here
    /// before SQL, so a profile the cache evicted (or an announcement dropped) before its
    /// write is never read back stale.
    unwritten: Mutex<HashMap<UserId, Arc<Profile>>>,
    queue: write_behind::Queue,
    /// Counts profile changes, so cached snapshots know when their names went stale.
    generation: AtomicU64,
    /// SQL queries that read profiles: what shows a cold snapshot reads them in batches.
    profile_reads: AtomicU64,
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
        migrate::run(&pool).await?;
        Ok(Self {
            pool,
            cache: Cache::new(MAX_CACHED_PROFILES),
            unwritten: Mutex::default(),
            queue: write_behind::Queue::new(WRITE_QUEUE_CAPACITY),
            generation: AtomicU64::new(0),
            profile_reads: AtomicU64::new(0),
        })
    }

    /// Readiness: the database answers a query.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.context("pinging the database")?;
        Ok(())
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

    /// How many SQL queries have read profiles so far.
    pub fn profile_reads(&self) -> u64 {
        self.profile_reads.load(Ordering::Relaxed)
    }

    /// The profile this instance holds for the user: cached, or saved and not yet written.
    fn known(&self, id: &UserId) -> Option<Arc<Profile>> {
        self.cache.get(id).or_else(|| self.unwritten.lock().get(id).cloned())
    }

    /// The profile held for `profile`'s user, if it is exactly `profile`.
    fn unchanged(&self, profile: &Profile) -> Option<Arc<Profile>> {
        self.known(&profile.id).filter(|known| **known == *profile)
    }
}
