//! The typed calls of `page.lua` and `user.lua`: what each operation sends, what each
//! answer means, and the steps on a page built on them. The scripts' header comments are
//! the other half of this contract.

use std::sync::atomic::Ordering;

use anyhow::Context;
use redis::{AsyncCommands, ErrorKind, FromRedisValue, Pipeline, RedisResult, Script, Value};

use super::connection::RedisConnection;
use super::keys::{self, Keys};
use super::refresh::QuickRefresh;
use super::Shared;
use crate::domain::time::unix_micros;
use crate::domain::{PagePath, Peak, TabKey, Version};
use crate::store::TouchError;

/// How much longer than on its page a tab counts for its user: more than a round trip, so
/// a live tab never stops counting first.
pub(super) const USER_SLACK_US: u64 = 1_000_000;

/// What `page.lua` does once the page's due tabs are expired.
#[derive(Clone, Copy)]
pub(super) enum Op<'a> {
    /// Adds or refreshes the tab, setting its editing state if one is given.
    Touch(&'a TabKey, Option<bool>),
    /// Touches the tab if it is there.
    Refresh(&'a TabKey, Option<bool>),
    Leave(&'a TabKey),
    /// Expiry only, before a read of the page.
    Read,
    /// The sweep's read, which puts the page back in the index if it has tabs left.
    Sweep,
    /// The stats sampler saved this peak.
    Saved(Peak),
}

impl Op<'_> {
    fn name(self) -> &'static str {
        match self {
            Op::Touch(..) => "touch",
            Op::Refresh(..) => "refresh",
            Op::Leave(_) => "leave",
            Op::Read | Op::Sweep => "read",
            Op::Saved(_) => "saved",
        }
    }

    /// Whether the page's earliest deadline may now be earlier than its place in the index
    /// (see [`Shared::index`]).
    fn may_move_earlier(self) -> bool {
        matches!(self, Op::Touch(..) | Op::Sweep)
    }
}

/// What `user.lua` does with a user's count of one tab.
#[derive(Clone, Copy)]
enum UserOp {
    /// Counts the tab for `ttl_us` more, if it is counted already or the user has fewer
    /// than `per_user` tabs and the registry is not `full`.
    Admit {
        ttl_us: u64,
        per_user: u32,
        full: bool,
    },
    Release,
}

/// What `user.lua` answers an admit.
enum Admission {
    Admitted,
    TooManyTabs,
    Full,
}

impl FromRedisValue for Admission {
    fn from_redis_value(value: &Value) -> RedisResult<Self> {
        Ok(match i64::from_redis_value(value)? {
            0 => Self::TooManyTabs,
            -1 => Self::Full,
            _ => Self::Admitted,
        })
    }
}

/// What `page.lua` answers, whatever the operation.
#[derive(Debug, PartialEq)]
pub(super) struct PageAnswer {
    /// `Version::EMPTY` once the page has no live tabs.
    pub version: Version,
    /// The page's earliest tab deadline (Redis time, µs); 0 if it has no tabs.
    pub earliest_deadline: u64,
    /// Whether the page's peak is yet to be saved.
    pub unsaved_peak: bool,
    /// Tabs the step found past their deadline and removed.
    pub expired: usize,
    /// Whether the tab touched was there.
    pub found: bool,
}

/// The answer as the script writes it: an array in the order of `PageAnswer`'s fields.
type Wire = (u64, u64, bool, usize, bool);

impl From<Wire> for PageAnswer {
    fn from((version, earliest_deadline, unsaved_peak, expired, found): Wire) -> Self {
        Self { version: Version(version), earliest_deadline, unsaved_peak, expired, found }
    }
}

impl FromRedisValue for PageAnswer {
    fn from_redis_value(value: &Value) -> RedisResult<Self> {
        Wire::from_redis_value(value).map(Self::from)
    }

    fn from_owned_redis_value(value: Value) -> RedisResult<Self> {
        Wire::from_owned_redis_value(value).map(Self::from)
    }
}

/// `page.lua` and `user.lua`, called by hash and loaded again when Redis lost them.
pub(super) struct Scripts {
    page: Script,
    user: Script,
    /// How `page.lua` publishes a page's events (see `RedisConnection::publish_command`).
    publish: &'static str,
}

impl Scripts {
    pub fn new(publish: &'static str) -> Self {
        Self { page: Script::new(include_str!("page.lua")), user: Script::new(include_str!("user.lua")), publish }
    }

    /// `EVALSHA` of `page.lua` doing `op` on the page, whose tabs live `ttl_us`.
    fn page_call(&self, keys: &Keys, ttl_us: u64, page: &PagePath, op: Op<'_>) -> redis::Cmd {
        let page_keys = keys.page(page);
        let page_keys = page_keys.as_args();
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.page.get_hash()).arg(page_keys.len()).arg(&page_keys);
        call.arg(op.name()).arg(page.as_str()).arg(self.publish).arg(keys.page_events(page)).arg(ttl_us);
        match op {
            Op::Touch(tab, editing) | Op::Refresh(tab, editing) => {
                call.arg(keys::tab_field(tab)).arg(editing.map_or("keep", |on| if on { "true" } else { "false" }))
            }
            Op::Leave(tab) => call.arg(keys::tab_field(tab)),
            Op::Saved(peak) => call.arg(peak.viewer_count).arg(unix_micros(peak.at)),
            Op::Read | Op::Sweep => &mut call,
        };
        call
    }

    /// `EVALSHA` of `user.lua` doing `op` on its user's count of the tab.
    fn user_call(&self, keys: &Keys, page: &PagePath, tab: &TabKey, op: UserOp) -> redis::Cmd {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.user.get_hash()).arg(1).arg(keys.user_tabs(&tab.user));
        let name = match op {
            UserOp::Admit { .. } => "admit",
            UserOp::Release => "release",
        };
        call.arg(name).arg(keys::user_tab(page, &tab.tab));
        if let UserOp::Admit { ttl_us, per_user, full } = op {
            call.arg(ttl_us).arg(per_user).arg(full);
        }
        call
    }

    /// Runs the calls in one round trip; if Redis has lost the scripts (a restart), loads
    /// them and runs the calls again, which each script allows.
    async fn eval<T: FromRedisValue>(&self, redis: &RedisConnection, calls: &Pipeline) -> RedisResult<T> {
        let mut redis = redis.clone();
        match calls.query_async(&mut redis).await {
            Err(error) if error.kind() == ErrorKind::NoScriptError => {
                for script in [&self.page, &self.user] {
                    script.prepare_invoke().load_async(&mut redis).await?;
                }
                calls.query_async(&mut redis).await
            }
            answer => answer,
        }
    }
}

impl Shared {
    fn page_call(&self, page: &PagePath, op: Op<'_>) -> redis::Cmd {
        self.scripts.page_call(&self.keys, self.ttl_us, page, op)
    }

    fn user_call(&self, page: &PagePath, tab: &TabKey, op: UserOp) -> redis::Cmd {
        self.scripts.user_call(&self.keys, page, tab, op)
    }

    /// Runs one script call.
    async fn eval_one<T: FromRedisValue>(&self, call: redis::Cmd) -> RedisResult<T> {
        let (answer,) = self.scripts.eval(&self.redis, redis::pipe().add_command(call)).await?;
        Ok(answer)
    }

    /// Runs `page.lua` on the page, then indexes the page as the script's answer says.
    pub(super) async fn run(&self, page: &PagePath, op: Op<'_>) -> anyhow::Result<PageAnswer> {
        let answer = self.eval_one(self.page_call(page, op)).await.with_context(|| updating(page))?;
        self.index(page, op, answer).await
    }

    /// `page.lua`'s read of the page, for `read_page` to run with the reads that follow it.
    /// (An expiry neither raises a peak nor brings a deadline forward, so it leaves the
    /// index as it is.)
    pub(super) fn expiry_then(&self, page: &PagePath) -> Pipeline {
        let mut calls = redis::pipe();
        calls.add_command(self.page_call(page, Op::Read));
        calls
    }

    /// Runs `calls` (from `expiry_then`) in one round trip, answering each call's answer.
    pub(super) async fn read_page<T: FromRedisValue>(&self, page: &PagePath, calls: &Pipeline) -> anyhow::Result<T> {
        self.scripts.eval(&self.redis, calls).await.with_context(|| format!("reading page {page} in Redis"))
    }

    /// Adds or refreshes the tab within the limits. A live tab that changes nothing takes
    /// one round trip of plain commands (`refresh_quickly`); another live tab the scripts
    /// count for its user and refresh (two calls at once: the user's key and the page's are
    /// in different Cluster slots); a new one is admitted for its user, then added and
    /// indexed.
    pub(super) async fn touch(
        &self,
        page: &PagePath,
        tab: &TabKey,
        editing: Option<bool>,
    ) -> Result<Version, TouchError> {
        let may_be_there = match self.refresh_quickly(page, tab, editing).await? {
            QuickRefresh::Done(version) => return Ok(version),
            QuickRefresh::Absent => false,
            QuickRefresh::ForScripts => true,
        };
        let admit = self.user_call(
            page,
            tab,
            UserOp::Admit {
                ttl_us: self.ttl_us + USER_SLACK_US,
                per_user: self.limits.per_user,
                full: self.live_tabs.load(Ordering::Relaxed) >= self.limits.total,
            },
        );
        let admission: Admission = if may_be_there {
            let refresh = Op::Refresh(tab, editing);
            let (admission, answer): (Admission, PageAnswer) =
                tokio::try_join!(self.eval_one(admit), self.eval_one(self.page_call(page, refresh)))
                    .with_context(|| updating(page))?;
            let answer = self.index(page, refresh, answer).await?;
            if answer.found {
                return Ok(answer.version);
            }
            admission
        } else {
            // Not on the page a moment ago: no refresh to try, only a new tab to admit.
            self.eval_one(admit).await.with_context(|| updating(page))?
        };
        match admission {
            Admission::TooManyTabs => Err(TouchError::TooManyTabs(self.limits.per_user)),
            Admission::Full => Err(TouchError::Full(self.limits.total)),
            Admission::Admitted => Ok(self.run(page, Op::Touch(tab, editing)).await?.version),
        }
    }

    /// Removes the tab from its page and from its user's count, at once.
    pub(super) async fn leave(&self, page: &PagePath, tab: &TabKey) -> anyhow::Result<Version> {
        let op = Op::Leave(tab);
        let (answer, _released): (PageAnswer, i64) = tokio::try_join!(
            self.eval_one(self.page_call(page, op)),
            self.eval_one(self.user_call(page, tab, UserOp::Release))
        )
        .with_context(|| updating(page))?;
        Ok(self.index(page, op, answer).await?.version)
    }

    /// Keeps the page's place in the index and among the unsaved peaks, as `page.lua`
    /// answered `op`.
    async fn index(&self, page: &PagePath, op: Op<'_>, answer: PageAnswer) -> anyhow::Result<PageAnswer> {
        // The index is kept a lower bound of each page's earliest deadline: only adding a tab
        // adds an earlier deadline (unless the sweep took the page out, which puts it back),
        // and only the sweep takes a page out, before its script runs. A connection lost
        // between the script and this leaves the page to its next new tab or read.
        // Two keys of no page, each its own command: they may be in different Cluster slots.
        let indexing = || format!("indexing page {page} in Redis");
        let mut redis = self.redis.clone();
        if op.may_move_earlier() && answer.earliest_deadline > 0 {
            let mut earlier = redis::cmd("ZADD");
            earlier.arg(self.keys.pages()).arg("LT").arg(answer.earliest_deadline).arg(page.as_str());
            earlier.query_async::<()>(&mut redis).await.with_context(indexing)?;
        }
        if answer.unsaved_peak {
            redis.sadd::<_, _, ()>(self.keys.unsaved_peaks(), page.as_str()).await.with_context(indexing)?;
        }
        Ok(answer)
    }
}

fn updating(page: &PagePath) -> String {
    format!("updating page {page} in Redis")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::from_unix_micros;
    use crate::domain::{TabId, UserId};

    fn args(call: &redis::Cmd) -> Vec<String> {
        call.args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                redis::Arg::Cursor => "<cursor>".to_owned(),
            })
            .collect()
    }

    fn tab() -> TabKey {
        TabKey { user: UserId::parse("u:1").unwrap(), tab: TabId::parse("t-1").unwrap() }
    }

    #[test]
    fn page_calls_send_what_page_lua_reads() {
        let (scripts, keys, page, tab) =
            (Scripts::new("SPUBLISH"), Keys::new("p"), PagePath::parse("/docs").unwrap(), tab());
        let call = |op| args(&scripts.page_call(&keys, 30_000_000, &page, op));
        let sent = |op: &str, rest: &[&str]| {
            let hash = scripts.page.get_hash();
            let head = ["EVALSHA", hash, "7", "p:{/docs}:tabs", "p:{/docs}:deadlines", "p:{/docs}:users"];
            let keys = ["p:{/docs}:meta", "p:{/docs}:viewers", "p:{/docs}:editors", "p:{/docs}:owned"];
            let tail = [&keys[..], &[op, "/docs", "SPUBLISH", "p:{/docs}:events", "30000000"]].concat();
            [&head[..], &tail, rest].concat().into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(call(Op::Touch(&tab, None)), sent("touch", &["t-1:u:1", "keep"]));
        assert_eq!(call(Op::Touch(&tab, Some(true))), sent("touch", &["t-1:u:1", "true"]));
        assert_eq!(call(Op::Refresh(&tab, Some(false))), sent("refresh", &["t-1:u:1", "false"]));
        assert_eq!(call(Op::Leave(&tab)), sent("leave", &["t-1:u:1"]));
        assert_eq!(call(Op::Read), sent("read", &[]));
        assert_eq!(call(Op::Sweep), sent("read", &[]));
        let peak = Peak { viewer_count: 3, at: from_unix_micros(1_700_000_000_000_001) };
        assert_eq!(call(Op::Saved(peak)), sent("saved", &["3", "1700000000000001"]));
    }

    #[test]
    fn user_calls_send_what_user_lua_reads() {
        let (scripts, keys, page, tab) =
            (Scripts::new("SPUBLISH"), Keys::new("p"), PagePath::parse("/docs").unwrap(), tab());
        let hash = scripts.user.get_hash();
        let admit = UserOp::Admit { ttl_us: 31_000_000, per_user: 5, full: true };
        assert_eq!(
            args(&scripts.user_call(&keys, &page, &tab, admit)),
            ["EVALSHA", hash, "1", "p:user:{u:1}:tabs", "admit", "/docs\nt-1", "31000000", "5", "1"]
        );
        assert_eq!(
            args(&scripts.user_call(&keys, &page, &tab, UserOp::Release)),
            ["EVALSHA", hash, "1", "p:user:{u:1}:tabs", "release", "/docs\nt-1"]
        );
    }

    #[test]
    fn page_answers_are_read_in_their_order() {
        let wire = Value::Array(vec![Value::Int(9), Value::Int(8), Value::Int(1), Value::Int(2), Value::Int(0)]);
        let expected =
            PageAnswer { version: Version(9), earliest_deadline: 8, unsaved_peak: true, expired: 2, found: false };
        assert_eq!(PageAnswer::from_redis_value(&wire).unwrap(), expected);
        assert_eq!(PageAnswer::from_owned_redis_value(wire).unwrap(), expected);
        assert!(PageAnswer::from_redis_value(&Value::Array(vec![Value::Int(9)])).is_err());
    }

    #[test]
    fn admissions_are_read_from_user_lua_codes() {
        let read = |code| Admission::from_redis_value(&Value::Int(code)).unwrap();
        assert!(matches!(read(1), Admission::Admitted));
        assert!(matches!(read(0), Admission::TooManyTabs));
        assert!(matches!(read(-1), Admission::Full));
    }
}
