//! The Redis registry: what the instances of a scaled-out deployment share, so they agree
//! on who is on which page.
//!
//! # Keys
//! Each page has four keys under one hash tag, `<prefix>:{<page>}:…`, so `page.lua`, the
//! script that does every step on a page atomically, touches one Redis Cluster slot:
//! - `:tabs`, a hash of tab (`<tab id>:<user id>`) → `<joinedAt µs> <editing since µs, or 0>`;
//! - `:deadlines`, a sorted set of tab → the Redis time (µs) after which it has expired;
//! - `:users`, a hash of user → live tabs, so a first tab is a join and a last one a leave;
//! - `:meta`, a hash of the page's `version` and its `peak`, `peak_at` and `saved`.
//!
//! Each user with live tabs has `<prefix>:user:{<user>}:tabs`, a sorted set of their tabs over
//! all pages, which `user.lua` counts against the per-user [`TabLimits`]; a join or heartbeat
//! runs it and `page.lua` in one round trip. The total is checked against a count of the
//! tabs the sweep takes every sweep interval, so it can be passed by the tabs added in one.
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
//! The script publishes each change on `<prefix>:events` (page, version, who joined or
//! left). Every store subscribes through RESP3 pushes on its connection, re-subscribed after
//! a reconnect, and feeds its own [`PageEvents`], so a stream on any instance hears what was
//! done on, or found expired by, any other.
//!
//! # Faults
//! Connection and response timeouts and a single attempt per reconnect bound how long a
//! call waits for a Redis that is down (about a second at most); the error becomes a 503. A later call reconnects (the
//! background sweep makes one every sweep interval), so the store recovers by itself.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    AsyncCommands, Client, ErrorKind, FromRedisValue, IntoConnectionInfo, Msg, Pipeline, ProtocolVersion, PushInfo,
    PushKind, Script,
};
use tokio::time::MissedTickBehavior;

use super::events::{PageEvent, PageEvents, ProfileChange};
use super::{PresenceStore, TabLimits, TouchError};
use crate::domain::{aggregate, PageCounts, PagePath, PagePresence, Peak, TabKey, TabState, UserId, Version};

/// The most a call waits for Redis to accept a connection, and then for each answer.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pages the sweep reads from the index at a time.
const SWEEP_BATCH: usize = 500;
/// How much longer than on its page a tab counts for its user: more than a round trip, so
/// a live tab never stops counting first.
const USER_SLACK_US: u64 = 1_000_000;

pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    redis: ConnectionManager,
    page_script: Script,
    user_script: Script,
    keys: Keys,
    ttl_us: u64,
    limits: TabLimits,
    /// Live tabs in the registry, as the sweep last counted them.
    live_tabs: AtomicUsize,
    events: Arc<PageEvents>,
}

struct Keys {
    prefix: String,
}

impl Keys {
    /// The page's tabs, deadlines, users and meta: the `KEYS` of `page.lua`.
    fn page(&self, page: &PagePath) -> [String; 4] {
        [":tabs", ":deadlines", ":users", ":meta"].map(|part| format!("{}:{{{}}}{part}", self.prefix, page.as_str()))
    }

    /// The user's tabs over all pages: the `KEYS` of `user.lua`.
    fn user_tabs(&self, user: &UserId) -> String {
        format!("{}:user:{{{user}}}:tabs", self.prefix)
    }

    fn pages(&self) -> String {
        format!("{}:pages", self.prefix)
    }

    fn unsaved_peaks(&self) -> String {
        format!("{}:unsaved-peaks", self.prefix)
    }

    fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Where instances announce profile changes: the payload is the user id.
    fn profiles(&self) -> String {
        format!("{}:profiles", self.prefix)
    }
}

/// What `page.lua` does once the page's due tabs are expired.
#[derive(Clone, Copy)]
enum Op<'a> {
    /// Adds or refreshes the tab, setting its editing state if one is given.
    Touch(&'a TabKey, Option<bool>),
    /// Touches the tab if it is there.
    Refresh(&'a TabKey, Option<bool>),
    Leave(&'a TabKey),
    Read,
    /// A read that answers the tabs too.
    Presence,
    /// The sweep's read, which puts the page back in the index if it has tabs left.
    Sweep,
    /// The stats sampler saved this peak.
    Saved(Peak),
}

/// What `page.lua` answers.
struct Outcome {
    version: Version,
    expired: usize,
    /// Field and state of each tab, for `Op::Presence` only.
    tabs: Vec<(String, String)>,
    /// Whether the tab touched was there.
    found: bool,
}

/// `page.lua`'s answer, as it comes.
type Answer = (u64, u64, bool, usize, Vec<(String, String)>, bool);

impl RedisStore {
    /// Connects to Redis at `url`, subscribes to the page events and starts the background
    /// sweep, which ends when the store is dropped and counts its failures in
    /// `sweep_failures`. Every key and channel starts with `prefix`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        ttl: Duration,
        sweep_every: Duration,
        limits: TabLimits,
        sweep_failures: Counter,
    ) -> anyhow::Result<Self> {
        let mut info = url.into_connection_info().context("reading the Redis URL")?;
        // Pub/sub messages pushed on the connection the commands use need RESP3.
        info.redis.protocol = ProtocolVersion::RESP3;
        let events = Arc::new(PageEvents::default());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECTION_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            // One attempt per reconnect: a call that meets a Redis that is down fails at
            // once (retries back off by a second or more), and the next call tries again.
            .set_number_of_retries(0)
            .set_push_sender(feed(events.clone(), format!("{prefix}:profiles")))
            .set_automatic_resubscription();
        let mut redis =
            Client::open(info)?.get_connection_manager_with_config(config).await.context("connecting to Redis")?;
        let keys = Keys { prefix: prefix.to_owned() };
        redis.subscribe(keys.events()).await.context("subscribing to the page events")?;
        redis.subscribe(keys.profiles()).await.context("subscribing to the profile changes")?;
        let ttl_us = u64::try_from(ttl.as_micros()).context("the TTL is too long")?;
        let shared = Arc::new(Shared {
            redis,
            page_script: Script::new(include_str!("page.lua")),
            user_script: Script::new(include_str!("user.lua")),
            keys,
            ttl_us,
            limits,
            live_tabs: AtomicUsize::new(0),
            events,
        });
        shared.count_live_tabs().await?;
        tokio::spawn(sweep_until_dropped(Arc::downgrade(&shared), sweep_every, sweep_failures));
        Ok(Self { shared })
    }
}

impl Shared {
    /// Runs `page.lua` on the page, then indexes the page as the script's answer says.
    async fn run(&self, page: &PagePath, op: Op<'_>) -> anyhow::Result<Outcome> {
        let (answer,) =
            self.eval(redis::pipe().add_command(self.page_call(page, op))).await.with_context(|| updating(page))?;
        self.index(page, op, answer).await
    }

    /// Adds or refreshes the tab within the limits. A live tab takes one round trip, which
    /// counts it for its user and refreshes it; a new one two more, to add it and index it.
    async fn touch(&self, page: &PagePath, tab: &TabKey, editing: Option<bool>) -> Result<Version, TouchError> {
        let full = self.live_tabs.load(Ordering::Relaxed) >= self.limits.total;
        let admit = self
            .user_call(tab, page, "admit")
            .arg(self.ttl_us + USER_SLACK_US)
            .arg(self.limits.per_user)
            .arg(full)
            .to_owned();
        let refresh = Op::Refresh(tab, editing);
        let (admitted, answer): (i64, Answer) = self
            .eval(redis::pipe().add_command(admit).add_command(self.page_call(page, refresh)))
            .await
            .with_context(|| updating(page))?;
        let outcome = self.index(page, refresh, answer).await?;
        if outcome.found {
            return Ok(outcome.version);
        }
        match admitted {
            0 => Err(TouchError::TooManyTabs(self.limits.per_user)),
            -1 => Err(TouchError::Full(self.limits.total)),
            _ => Ok(self.run(page, Op::Touch(tab, editing)).await?.version),
        }
    }

    /// Removes the tab from its page and from its user's count, in one round trip.
    async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<Version> {
        let op = Op::Leave(tab);
        let (answer, _released): (Answer, i64) = self
            .eval(redis::pipe().add_command(self.page_call(page, op)).add_command(self.user_call(tab, page, "release")))
            .await
            .with_context(|| updating(page))?;
        Ok(self.index(page, op, answer).await?.version)
    }

    /// `EVALSHA` of `page.lua` doing `op` on the page.
    fn page_call(&self, page: &PagePath, op: Op<'_>) -> redis::Cmd {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.page_script.get_hash()).arg(4).arg(&self.keys.page(page));
        let name = match op {
            Op::Touch(..) => "touch",
            Op::Refresh(..) => "refresh",
            Op::Leave(_) => "leave",
            Op::Read | Op::Sweep => "read",
            Op::Presence => "presence",
            Op::Saved(_) => "saved",
        };
        call.arg(name).arg(page.as_str()).arg(self.keys.events()).arg(self.ttl_us);
        match op {
            Op::Touch(tab, editing) | Op::Refresh(tab, editing) => {
                call.arg(field(tab)).arg(editing.map_or("keep", |on| if on { "true" } else { "false" }))
            }
            Op::Leave(tab) => call.arg(field(tab)),
            Op::Saved(peak) => call.arg(peak.viewer_count).arg(micros(peak.at)),
            Op::Read | Op::Presence | Op::Sweep => &mut call,
        };
        call
    }

    /// `EVALSHA` of `user.lua` doing `op` on the user's count of the tab.
    fn user_call(&self, tab: &TabKey, page: &PagePath, op: &str) -> redis::Cmd {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.user_script.get_hash()).arg(1).arg(self.keys.user_tabs(&tab.user));
        call.arg(op).arg(format!("{page}\n{}", tab.tab.as_str()));
        call
    }

    /// Runs the calls in one round trip; if Redis has lost the scripts (a restart), loads
    /// them and runs the calls again, which each script allows.
    async fn eval<T: FromRedisValue>(&self, calls: &Pipeline) -> redis::RedisResult<T> {
        let mut redis = self.redis.clone();
        match calls.query_async(&mut redis).await {
            Err(error) if error.kind() == ErrorKind::NoScriptError => {
                for script in [&self.page_script, &self.user_script] {
                    script.prepare_invoke().load_async(&mut redis).await?;
                }
                calls.query_async(&mut redis).await
            }
            answer => answer,
        }
    }

    /// Keeps the page's place in the index and among the unsaved peaks, as `page.lua`
    /// answered `op`.
    async fn index(&self, page: &PagePath, op: Op<'_>, answer: Answer) -> anyhow::Result<Outcome> {
        let (version, earliest, unsaved_peak, expired, tabs, found) = answer;
        // The index is kept a lower bound of each page's earliest deadline: only adding a tab
        // adds an earlier deadline (unless the sweep took the page out, which puts it back),
        // and only the sweep takes a page out, before its script runs. A connection lost
        // between the script and this leaves the page to its next new tab or read.
        let mut index = redis::pipe();
        if matches!(op, Op::Touch(..) | Op::Sweep) && earliest > 0 {
            index.cmd("ZADD").arg(self.keys.pages()).arg("LT").arg(earliest).arg(page.as_str()).ignore();
        }
        if unsaved_peak {
            index.sadd(self.keys.unsaved_peaks(), page.as_str()).ignore();
        }
        if !index.is_empty() {
            index
                .query_async::<()>(&mut self.redis.clone())
                .await
                .with_context(|| format!("indexing page {page} in Redis"))?;
        }
        Ok(Outcome { version: Version(version), expired, tabs, found })
    }

    /// Counts the live tabs of every page in the index (after a sweep, these are all live).
    async fn counts(&self) -> anyhow::Result<Vec<PageCounts>> {
        let mut redis = self.redis.clone();
        let indexed: Vec<String> =
            redis.zrange(self.keys.pages(), 0, -1).await.context("reading the pages with tabs")?;
        let pages: Vec<PagePath> = indexed.iter().filter_map(|page| PagePath::parse(page).ok()).collect();
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let mut counts = redis::pipe();
        for page in &pages {
            let [tabs, _, users, _] = self.keys.page(page);
            counts.hlen(users).hlen(tabs);
        }
        let counts: Vec<usize> = counts.query_async(&mut redis).await.context("counting the pages' viewers")?;
        Ok(pages
            .into_iter()
            .zip(counts.chunks(2))
            .filter(|(_, counts)| counts[1] > 0)
            .map(|(page, counts)| PageCounts { page, viewer_count: counts[0], tab_count: counts[1] })
            .collect())
    }

    /// Counts the tabs in the registry, for the limit on the total.
    async fn count_live_tabs(&self) -> anyhow::Result<()> {
        let total = self.counts().await?.iter().map(|page| page.tab_count).sum();
        self.live_tabs.store(total, Ordering::Relaxed);
        Ok(())
    }

    async fn sweep(&self) -> anyhow::Result<usize> {
        let mut redis = self.redis.clone();
        let mut removed = 0;
        loop {
            let (seconds, micros): (u64, u64) =
                redis::cmd("TIME").query_async(&mut redis).await.context("reading the Redis clock")?;
            let now = format!("({}", seconds * 1_000_000 + micros);
            let due: Vec<String> = redis
                .zrangebyscore_limit(self.keys.pages(), "-inf", now, 0, SWEEP_BATCH as isize)
                .await
                .context("reading the pages due for a sweep")?;
            for page in &due {
                // Whoever takes the page out of the index sweeps it, so it is swept once.
                let claimed: bool = redis.zrem(self.keys.pages(), page).await.context("claiming a page to sweep")?;
                match PagePath::parse(page) {
                    Ok(page) if claimed => removed += self.run(&page, Op::Sweep).await?.expired,
                    Ok(_) => {}
                    Err(_) => tracing::warn!(page, "dropped a malformed page from the sweep index"),
                }
            }
            if due.len() < SWEEP_BATCH {
                self.events.prune();
                return Ok(removed);
            }
        }
    }
}

async fn sweep_until_dropped(shared: Weak<Shared>, every: Duration, failures: Counter) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        let swept = async {
            let removed = shared.sweep().await?;
            shared.count_live_tabs().await?;
            anyhow::Ok(removed)
        };
        match swept.await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "swept expired tabs"),
            // The next tick tries again, and its first call reconnects.
            Err(error) => {
                failures.inc();
                tracing::warn!(error = format!("{error:#}"), "could not sweep expired tabs");
            }
        }
    }
}

/// Feeds the store's watchers with what `page.lua` publishes, and with the profile changes
/// instances announce on the channel `profiles`, from whichever instance.
fn feed(
    events: Arc<PageEvents>,
    profiles: String,
) -> impl Fn(PushInfo) -> Result<(), Infallible> + Send + Sync + 'static {
    move |push| {
        if push.kind == PushKind::Disconnection {
            // Messages published until the reconnect are lost: a stream that went on would
            // miss them, so every stream ends and its client starts again from a snapshot.
            events.close_all();
        } else if let Some(message) = Msg::from_push_info(push) {
            let payload = message.get_payload_bytes();
            if message.get_channel_name() == profiles {
                match std::str::from_utf8(payload).ok().and_then(|id| UserId::parse(id).ok()) {
                    Some(user) => events.profile_changed(ProfileChange::User(user)),
                    None => tracing::warn!("ignored a malformed message on the profile changes channel"),
                }
                return Ok(());
            }
            match parse_message(payload) {
                Some((page, changes)) => events.publish(&page, changes),
                None => tracing::warn!("ignored a malformed message on the page events channel"),
            }
        }
        Ok(())
    }
}

/// `<page>\n<version>` and a line `+<user>` per join and `-<user>` per leave (page paths
/// and user ids have no control characters).
fn parse_message(payload: &[u8]) -> Option<(PagePath, Vec<PageEvent>)> {
    let mut lines = std::str::from_utf8(payload).ok()?.split('\n');
    let page = PagePath::parse(lines.next()?).ok()?;
    let version = Version(lines.next()?.parse().ok()?);
    let mut events = lines
        .map(|line| {
            let user = UserId::parse(line.get(1..)?).ok()?;
            match line.as_bytes().first()? {
                b'+' => Some(PageEvent::Joined(user)),
                b'-' => Some(PageEvent::Left(user)),
                _ => None,
            }
        })
        .collect::<Option<Vec<_>>>()?;
    events.push(PageEvent::Changed(version));
    Some((page, events))
}

fn updating(page: &PagePath) -> String {
    format!("updating page {page} in Redis")
}

/// A tab's field in the page's hashes; tab ids have no `:`.
fn field(tab: &TabKey) -> String {
    format!("{}:{}", tab.tab.as_str(), tab.user)
}

/// A tab as `page.lua` keeps it; `None` if it is not one.
fn parse_tab(field: &str, state: &str) -> Option<(UserId, TabState)> {
    let (_, user) = field.split_once(':')?;
    let (joined, since) = state.split_once(' ')?;
    let since: u64 = since.parse().ok()?;
    let tab = TabState {
        joined_at: from_micros(joined.parse().ok()?),
        editing_since: (since > 0).then(|| from_micros(since)),
    };
    Some((UserId::parse(user).ok()?, tab))
}

fn micros(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros().try_into().unwrap_or(u64::MAX)
}

fn from_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

fn peak_of(viewer_count: Option<usize>, at: Option<u64>) -> Option<Peak> {
    Some(Peak { viewer_count: viewer_count?, at: from_micros(at?) })
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

    async fn presence(&self, page: &PagePath) -> anyhow::Result<PagePresence> {
        let outcome = self.shared.run(page, Op::Presence).await?;
        let tabs: Vec<(UserId, TabState)> = outcome
            .tabs
            .iter()
            .filter_map(|(field, state)| {
                let tab = parse_tab(field, state);
                if tab.is_none() {
                    tracing::warn!(%page, field, "ignored a malformed tab in Redis");
                }
                tab
            })
            .collect();
        let mut presence = aggregate(tabs.iter().map(|(user, tab)| (user, tab)));
        presence.version = outcome.version;
        Ok(presence)
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
        let [.., meta] = self.shared.keys.page(page);
        let (viewer_count, at) = redis::cmd("HMGET")
            .arg(meta)
            .arg(&["peak", "peak_at"])
            .query_async(&mut self.shared.redis.clone())
            .await
            .with_context(|| format!("reading the peak of page {page}"))?;
        Ok(peak_of(viewer_count, at))
    }

    async fn unsaved_peaks(&self) -> anyhow::Result<Vec<(PagePath, Peak)>> {
        let mut redis = self.shared.redis.clone();
        let listed: Vec<String> =
            redis.smembers(self.shared.keys.unsaved_peaks()).await.context("reading the unsaved peaks")?;
        let pages: Vec<PagePath> = listed.iter().filter_map(|page| PagePath::parse(page).ok()).collect();
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let mut peaks = redis::pipe();
        for page in &pages {
            let [.., meta] = self.shared.keys.page(page);
            peaks.cmd("HMGET").arg(meta).arg(&["peak", "peak_at", "saved"]);
        }
        let peaks: Vec<(Option<usize>, Option<u64>, Option<String>)> =
            peaks.query_async(&mut redis).await.context("reading the unsaved peaks")?;
        Ok(pages
            .into_iter()
            .zip(peaks)
            .filter_map(|(page, (viewer_count, at, saved))| {
                Some((page, peak_of(viewer_count, at).filter(|_| saved.is_none())?))
            })
            .collect())
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

    async fn announce_profile_change(&self, user: &UserId) -> anyhow::Result<()> {
        let channel = self.shared.keys.profiles();
        self.shared
            .redis
            .clone()
            .publish::<_, _, ()>(channel, user.as_str())
            .await
            .context("announcing a profile change")
    }

    async fn ping(&self) -> anyhow::Result<()> {
        redis::cmd("PING").query_async::<()>(&mut self.shared.redis.clone()).await.context("pinging Redis")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn messages_carry_the_page_its_version_and_who_came_and_went() {
        let (page, events) = parse_message(b"/docs\n1700000000000001\n+alice\n-bob").unwrap();
        assert_eq!(page.as_str(), "/docs");
        assert_eq!(
            events,
            [
                PageEvent::Joined(user("alice")),
                PageEvent::Left(user("bob")),
                PageEvent::Changed(Version(1_700_000_000_000_001))
            ]
        );
        assert_eq!(parse_message(b"/\n0").unwrap().1, [PageEvent::Changed(Version::EMPTY)]);
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &b""[..],
            b"/docs",
            b"docs\n1",
            b"/docs\nv1",
            b"/docs\n1\nalice",
            b"/docs\n1\n+",
            b"/docs\n1\n\xe9a",
            b"\xff",
        ] {
            assert!(parse_message(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn tabs_round_trip_through_their_fields() {
        let key = TabKey { user: user("u:1"), tab: crate::domain::TabId::parse("t-1").unwrap() };
        let (owner, tab) = parse_tab(&field(&key), "1700000000000001 0").unwrap();
        assert_eq!(owner, user("u:1"), "a user id may hold a ':'");
        assert_eq!(tab, TabState { joined_at: from_micros(1_700_000_000_000_001), editing_since: None });
        assert_eq!(parse_tab("t:u", "5 7").unwrap().1.editing_since, Some(from_micros(7)));
        for (field, state) in [("t", "1 0"), ("t:u", "1"), ("t:u", "x 0"), ("t:", "1 0")] {
            assert!(parse_tab(field, state).is_none(), "{field} {state}");
        }
    }

    /// What Redis Cluster hashes of a key: the part between the first `{` and the next `}`.
    fn hash_tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn page_keys_share_one_hash_tag() {
        let keys = Keys { prefix: "p".into() };
        for (path, tag) in [("/docs", "/docs"), ("/docs/a}b", "/docs/a")] {
            let page_keys = keys.page(&PagePath::parse(path).unwrap());
            assert!(page_keys.iter().all(|key| hash_tag(key) == tag), "{page_keys:?}");
        }
    }
}
