//! The cheap heartbeat: a live tab whose editing state does not change is refreshed with
//! plain commands, no script, since it is by far the most common call and changes nothing
//! anyone sees. Its new deadline comes from this instance's clock set to Redis's (`RedisClock`,
//! which the sweep keeps in step), as `page.lua` would date it from Redis's own.
//!
//! `ZADD … XX GT CH` moves a deadline only if the tab is there and only later; anything else
//! (a tab gone or expired and removed, another editing state, a deadline not moved, a user's
//! count missing) falls back to the script, which decides it. A tab past its deadline but not
//! yet removed is refreshed here as if the heartbeat had come in time: no read had found it
//! expired, so nobody saw it go.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::keys;
use super::script::USER_SLACK_US;
use super::Shared;
use crate::domain::{PagePath, TabKey, Version};

/// `ZADD` flags: only a member that is there, only to a later score, and answer whether it
/// moved.
const LATER_IF_THERE: &[&str] = &["XX", "GT", "CH"];

/// What `refresh_quickly` did.
pub(super) enum QuickRefresh {
    /// Refreshed the live tab: the page is at this version.
    Done(Version),
    /// Nothing: the page holds no such tab, so only a new one can be added.
    Absent,
    /// Nothing: the scripts must decide (another editing state, a deadline not moved, …).
    ForScripts,
}

/// Redis's clock as this instance reckons it: its own, plus the difference last measured.
#[derive(Default)]
pub(super) struct RedisClock {
    offset_us: AtomicI64,
}

impl RedisClock {
    /// Sets the difference from a reading of Redis's `TIME` (µs) taken just now.
    pub fn set(&self, redis_now_us: u64) {
        let offset = i64::try_from(redis_now_us).unwrap_or(i64::MAX) - local_now_us();
        self.offset_us.store(offset, Ordering::Relaxed);
    }

    pub fn now_us(&self) -> u64 {
        u64::try_from(local_now_us() + self.offset_us.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

fn local_now_us() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

impl Shared {
    /// Reads Redis's clock (µs), and reckons it from this reading on.
    pub(super) async fn read_clock(&self) -> anyhow::Result<u64> {
        let (seconds, micros): (u64, u64) =
            redis::cmd("TIME").query_async(&mut self.redis.clone()).await.context("reading the Redis clock")?;
        let now = seconds * 1_000_000 + micros;
        self.clock.set(now);
        Ok(now)
    }

    /// Refreshes the live tab in place if nothing else about it changes (`editing`, if
    /// given, is its state already). Two calls at once, one per Cluster slot: the page's and
    /// the user's.
    pub(super) async fn refresh_quickly(
        &self,
        page: &PagePath,
        tab: &TabKey,
        editing: Option<bool>,
    ) -> anyhow::Result<QuickRefresh> {
        let now = self.clock.now_us();
        let deadline = now + self.ttl_us;
        let (page_keys, field) = (self.keys.page(page), keys::tab_field(tab));
        let mut on_page = redis::pipe();
        on_page.cmd("ZADD").arg(&page_keys.deadlines).arg(LATER_IF_THERE).arg(deadline).arg(&field);
        on_page.hget(&page_keys.tabs, &field).hget(&page_keys.meta, "version");
        let user_key = self.keys.user_tabs(&tab.user);
        let mut for_user = redis::pipe();
        let (counted_for, member) = (self.ttl_us + USER_SLACK_US, keys::user_tab(page, &tab.tab));
        for_user.cmd("ZADD").arg(&user_key).arg(LATER_IF_THERE).arg(now + counted_for).arg(member);
        // As `user.lua` keeps the user's key: as long as its latest tab counts.
        for_user.cmd("PEXPIRE").arg(&user_key).arg(counted_for.div_ceil(1000)).ignore();
        let (mut page_side, mut user_side) = (self.redis.clone(), self.redis.clone());
        let ((moved, state, version), (counted,)): ((bool, Option<String>, Option<u64>), (bool,)) =
            tokio::try_join!(on_page.query_async(&mut page_side), for_user.query_async(&mut user_side))
                .with_context(|| format!("refreshing a tab of page {page} in Redis"))?;
        let Some(state) = state else { return Ok(QuickRefresh::Absent) };
        let unchanged = editing.is_none_or(|editing| keys::is_editing(&state) == Some(editing));
        Ok(match version.filter(|_| moved && counted && unchanged) {
            Some(version) => QuickRefresh::Done(Version(version)),
            None => QuickRefresh::ForScripts,
        })
    }
}
