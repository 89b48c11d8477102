//! The Redis registry: what the instances of a scaled-out deployment share, so they agree
//! on who is on which page.
//!
//! # Keys
//! Each page has seven keys under one hash tag, `<prefix>:{<page>}:…`, so `page.lua`, the
//! script that does every step on a page atomically, touches one Redis Cluster slot:
//! - `:tabs`, a hash of tab (`<tab id>:<user id>`) → `<joinedAt µs> <editing since µs, or 0>`;
//! - `:deadlines`, a sorted set of tab → the Redis time (µs) after which it has expired;
//! - `:users`, a hash of user → live tabs, so a first tab is a join and a last one a leave;
//! - `:owned`, a hash of user → their tab ids on the page, space-separated;
//! - `:viewers`, a sorted set of user → their earliest `joinedAt` (µs): the snapshot's order,
//!   ties by id as Redis orders equal scores;
//! - `:editors`, a sorted set of each editing user → their earliest editing start (µs): the
//!   editor is the first;
//! - `:meta`, a hash of the page's `version`, the version its viewers were last `indexed`
//!   at, and its `peak`, `peak_at` (µs) and `saved`.
//!
//! A change refolds only its user's few tabs (`:owned` names them), so it costs O(log n) in
//! the page, and a list reads the first `limit` of `:viewers`: no step reads a whole page.
//! Releases before these three keys kept only the other four; a page one of them changed
//! (its `indexed` behind its `version`) is reindexed once by the next step, so instances
//! can be upgraded one at a time.
//!
//! Each user with live tabs has `<prefix>:user:{<user>}:tabs`, a sorted set of their tabs over
//! all pages (`<page>\n<tab id>` → a deadline a little past the page's), which `user.lua`
//! counts against the per-user [`TabLimits`]; a join or heartbeat runs it and `page.lua` in
//! one round trip. The total is checked against a count of the tabs the sweep takes every
//! sweep interval, so it can be passed by the tabs added in one.
//!
//! Two keys belong to no page, so no script touches them: `<prefix>:pages`, every page with
//! tabs scored by (a lower bound of) its earliest deadline, which the sweep reads instead of
//! scanning the keyspace; and `<prefix>:unsaved-peaks`, the pages whose peak the stats sampler
//! has yet to save.
//!
//! # Versions
//! A change gives the page the version max(previous + 1, Redis time in µs): it changes
//! exactly when the snapshot does, every instance reads the same clock, and a page that
//! emptied (and lost its keys) comes back at a version it never had.
//!
//! # Events
//! The script publishes each change on the page's own channel, `<prefix>:{<page>}:events`
//! (`<page>\n<version>`, then `+<user>` per join and `-<user>` per leave). A store listens to
//! a page's channel from the first watch of the page on this instance (`watch`, which a
//! stream calls before its first read) until the sweep finds nobody watching it, so an
//! instance receives the events of the pages it has streams on, and no others. On a Redis
//! Cluster they are shard channels (`SPUBLISH`, `SSUBSCRIBE`: Redis 7), so only the page's
//! master carries them, not every node of the cluster. Instances
//! announce profile changes on `<prefix>:profiles` (the user id), which all of them hear, and
//! each skips its own announcements when they come back. Subscriptions ride RESP3 pushes on
//! the store's connection, are made again after a reconnect, and feed its own
//! [`PageEvents`], so a stream on any instance hears what was done on, or found expired by,
//! any other.
//!
//! # Faults
//! Connection and response timeouts and a single attempt per reconnect bound how long a
//! call waits for a Redis that is down (a second to connect, a second for the answer: about
//! two at most); the error becomes a 503. A later call reconnects (the background sweep
//! makes one every sweep interval), so the store recovers by itself. On a Redis Cluster the
//! client tries a call a few times more, to follow a MOVED, an ASK or a failover.
//!
//! # Cluster
//! Every key of a page shares its hash tag, and so does every key of a user; the two
//! indexes (`:pages`, `:unsaved-peaks`) are a key each. No call or pipeline spans two
//! slots: a user's call and a page's go at once, not pipelined, and pages are counted one
//! round trip a page.
//!
//! # Layout
//! - `keys`: the key and channel names and every text encoding above, pinned by tests;
//! - `script`: the typed calls of `page.lua` and `user.lua` and the steps on a page built on them;
//! - `read`: a page's first viewers, counts and editor, or one viewer, read after its expiry;
//! - `refresh`: the heartbeat that changes nothing, in plain commands, and the clock it dates by;
//! - `sweep`: the sweep, the page and tab counts, and the background task that sweeps;
//! - `connection`: the connection, to one Redis or a cluster, with its bounds (the sessions
//!   share it);
//! - `feed`: the RESP3 push handler that feeds [`PageEvents`] and the profile changes.

mod connection;
mod feed;
mod keys;
mod read;
mod refresh;
mod script;
mod sweep;

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures_util::{stream, StreamExt, TryStreamExt};
use prometheus_client::metrics::counter::Counter;
use redis::AsyncCommands;
use tokio::sync::broadcast;

use super::events::{PageEvent, PageEvents};
use super::{PresenceStore, TabLimits, TouchError};
use crate::domain::{PageCounts, PagePath, PagePresence, Peak, TabKey, UserId, Version, ViewerPresence};
pub use connection::{RedisConnection, RedisTarget};
use feed::OwnAnnouncements;
use keys::{Keys, META_PEAK, META_PEAK_AT, META_SAVED};
use refresh::RedisClock;
use script::{Op, Scripts};
use sweep::PAGES_AT_ONCE;

pub struct RedisStore {
    shared: Arc<Shared>,
}

/// What the store's calls and its background sweep share.
struct Shared {
    redis: RedisConnection,
    scripts: Scripts,
    keys: Keys,
    ttl_us: u64,
    limits: TabLimits,
    /// Live tabs in the registry, as the sweep last counted them.
    live_tabs: AtomicUsize,
    events: Arc<PageEvents>,
    own_announcements: Arc<OwnAnnouncements>,
    /// Redis's time as this instance reckons it, for `refresh_quickly`.
    clock: RedisClock,
    /// The pages whose events channel this instance is subscribed to; held while one is
    /// subscribed or unsubscribed, so a watch and the sweep's unsubscribing never cross.
    subscribed: tokio::sync::Mutex<HashSet<PagePath>>,
}

impl RedisStore {
    /// Connects to Redis at `url`, subscribes to the page events and starts the background
    /// sweep, which ends when the store is dropped and counts its failures in
    /// `sweep_failures`. Every key and channel starts with `prefix`.
    pub async fn connect(
        target: &RedisTarget,
        prefix: &str,
        ttl: Duration,
        sweep_every: Duration,
        limits: TabLimits,
        sweep_failures: Counter,
    ) -> anyhow::Result<Self> {
        let keys = Keys::new(prefix);
        let events = Arc::new(PageEvents::default());
        let own_announcements = Arc::new(OwnAnnouncements::default());
        let pushes = feed::feed(events.clone(), own_announcements.clone(), keys.profiles());
        let mut redis = connection::connect(target, pushes).await?;
        redis.subscribe(keys.profiles()).await.context("subscribing to the profile changes")?;
        let ttl_us = u64::try_from(ttl.as_micros()).context("the TTL is too long")?;
        let shared = Arc::new(Shared {
            scripts: Scripts::new(redis.publish_command()),
            redis,
            keys,
            ttl_us,
            limits,
            live_tabs: AtomicUsize::new(0),
            events,
            own_announcements,
            clock: RedisClock::default(),
            subscribed: tokio::sync::Mutex::default(),
        });
        shared.read_clock().await?; // `refresh_quickly` dates deadlines by it
        shared.count_live_tabs().await?;
        sweep::start(Arc::downgrade(&shared), sweep_every, sweep_failures);
        Ok(Self { shared })
    }
}

impl RedisStore {
    /// The store's connection, for the sessions to share: one connection to keep healthy,
    /// and `ping` speaks for both.
    pub fn connection(&self) -> RedisConnection {
        self.shared.redis.clone()
    }
}

#[async_trait]
impl PresenceStore for RedisStore {
    async fn join(&self, page: &PagePath, tab: &TabKey, is_editing: Option<bool>) -> Result<Version, TouchError> {
        self.shared.touch(page, tab, is_editing).await
    }

    async fn heartbeat(&self, page: &PagePath, tab: &TabKey, is_editing: bool) -> Result<Version, TouchError> {
        self.shared.touch(page, tab, Some(is_editing)).await
    }

    async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<Version> {
        self.shared.leave(page, tab).await
    }

    async fn version(&self, page: &PagePath) -> anyhow::Result<Version> {
        Ok(self.shared.run(page, Op::Read).await?.version)
    }

    async fn presence(&self, page: &PagePath, limit: usize) -> anyhow::Result<PagePresence> {
        self.shared.presence(page, limit).await
    }

    async fn viewer(&self, page: &PagePath, user: &UserId) -> anyhow::Result<Option<ViewerPresence>> {
        self.shared.viewer(page, user).await
    }

    async fn sweep(&self) -> anyhow::Result<usize> {
        self.shared.sweep().await
    }

    async fn page_counts(&self) -> anyhow::Result<Vec<PageCounts>> {
        // Tabs past the TTL are not live: sweep the pages that are due before counting.
        self.shared.sweep().await?;
        self.shared.counts().await
    }

    async fn peak(&self, page: &PagePath) -> anyhow::Result<Option<Peak>> {
        let (viewer_count, at) = redis::cmd("HMGET")
            .arg(self.shared.keys.page(page).meta)
            .arg(&[META_PEAK, META_PEAK_AT])
            .query_async(&mut self.shared.redis.clone())
            .await
            .with_context(|| format!("reading the peak of page {page}"))?;
        Ok(keys::peak(viewer_count, at))
    }

    async fn unsaved_peaks(&self) -> anyhow::Result<Vec<(PagePath, Peak)>> {
        let mut redis = self.shared.redis.clone();
        let listed: Vec<String> =
            redis.smembers(self.shared.keys.unsaved_peaks()).await.context("reading the unsaved peaks")?;
        let pages: Vec<PagePath> = listed.into_iter().filter_map(|page| PagePath::parse(&page).ok()).collect();
        // A page at a time: pages' keys are in different Cluster slots.
        let peaks = stream::iter(pages).map(|page| {
            let meta = self.shared.keys.page(&page).meta;
            let mut redis = self.shared.redis.clone();
            async move {
                let (viewer_count, at, saved): (Option<usize>, Option<u64>, Option<String>) =
                    redis.hget(meta, &[META_PEAK, META_PEAK_AT, META_SAVED]).await?;
                anyhow::Ok(keys::peak(viewer_count, at).filter(|_| saved.is_none()).map(|peak| (page, peak)))
            }
        });
        let peaks: Vec<Option<(PagePath, Peak)>> =
            peaks.buffer_unordered(PAGES_AT_ONCE).try_collect().await.context("reading the unsaved peaks")?;
        Ok(peaks.into_iter().flatten().collect())
    }

    async fn peaks_saved(&self, saved: &[(PagePath, Peak)]) -> anyhow::Result<()> {
        let mut redis = self.shared.redis.clone();
        for (page, peak) in saved {
            // Out of the set first; the script puts the page back if its peak rose meanwhile,
            // so a rise on another instance cannot be lost in between.
            redis
                .srem::<_, _, ()>(self.shared.keys.unsaved_peaks(), page.as_str())
                .await
                .context("marking a peak saved")?;
            self.shared.run(page, Op::Saved(*peak)).await?;
        }
        Ok(())
    }

    fn events(&self) -> &PageEvents {
        &self.shared.events
    }

    /// Subscribes to the page's channel on the first watch; the sweep unsubscribes once
    /// nobody watches it.
    async fn watch(&self, page: &PagePath) -> anyhow::Result<broadcast::Receiver<PageEvent>> {
        let mut subscribed = self.shared.subscribed.lock().await;
        let receiver = self.shared.events.subscribe(page);
        if !subscribed.contains(page) {
            let channel = self.shared.keys.page_events(page);
            self.shared.redis.clone().subscribe_page(channel).await.context("subscribing to a page's events")?;
            subscribed.insert(page.clone());
        }
        Ok(receiver)
    }

    async fn announce_profile_change(&self, user: &UserId) -> anyhow::Result<()> {
        let channel = self.shared.keys.profiles();
        self.shared.own_announcements.expect(user);
        let published = self.shared.redis.clone().publish::<_, _, ()>(channel, user.as_str()).await;
        if published.is_err() {
            self.shared.own_announcements.cancel(user);
        }
        published.context("announcing a profile change")
    }

    async fn ping(&self) -> anyhow::Result<()> {
        redis::cmd("PING").query_async::<()>(&mut self.shared.redis.clone()).await.context("pinging Redis")
    }
}
