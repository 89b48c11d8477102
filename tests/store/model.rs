//! Each store against a model of the contract: random joins, heartbeats, leaves and edits
//! (and, in the memory store, whose clock a test can move, expiries) must leave a page with
//! the viewers, order, tab counts, editor and counts that the model says, and each user
//! read alone (`viewer`) as the model has them.

use std::collections::BTreeMap;
use std::time::Duration;

use presence::domain::PagePresence;
use presence::store::memory::MemoryStore;
use presence::store::{PresenceStore, TabLimits};
use proptest::prelude::*;

use crate::harness::{page, tab, Backend, NEVER};

const TTL_MS: u64 = 10_000;

#[derive(Debug, Clone)]
enum Op {
    Join {
        user: u8,
        tab: u8,
        editing: Option<bool>,
    },
    Heartbeat {
        user: u8,
        tab: u8,
        editing: bool,
    },
    Leave {
        user: u8,
        tab: u8,
    },
    /// Lets this many milliseconds pass (memory store only).
    Wait(u64),
}

fn ops(with_waits: bool) -> impl Strategy<Value = Vec<Op>> {
    let (user, tab) = (0..6u8, 0..3u8);
    let op = prop_oneof![
        4 => (user.clone(), tab.clone(), proptest::option::of(any::<bool>()))
            .prop_map(|(user, tab, editing)| Op::Join { user, tab, editing }),
        3 => (user.clone(), tab.clone(), any::<bool>()).prop_map(|(user, tab, editing)| Op::Heartbeat { user, tab, editing }),
        2 => (user, tab).prop_map(|(user, tab)| Op::Leave { user, tab }),
        if with_waits { 1 } else { 0 } => (1..2 * TTL_MS).prop_map(Op::Wait),
    ];
    proptest::collection::vec(op, 1..40)
}

/// A tab as the contract describes it, times in the model's milliseconds.
#[derive(Debug, Clone, Copy)]
struct ModelTab {
    joined: u64,
    editing_since: Option<u64>,
    deadline: u64,
}

#[derive(Default)]
struct Model {
    now: u64,
    tabs: BTreeMap<(u8, u8), ModelTab>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        let now = self.now;
        self.tabs.retain(|_, tab| tab.deadline >= now);
        match *op {
            Op::Join { user, tab, editing } => self.touch((user, tab), editing),
            Op::Heartbeat { user, tab, editing } => self.touch((user, tab), Some(editing)),
            Op::Leave { user, tab } => {
                self.tabs.remove(&(user, tab));
            }
            Op::Wait(ms) => self.now += ms,
        }
        let now = self.now;
        self.tabs.retain(|_, tab| tab.deadline >= now);
    }

    fn touch(&mut self, key: (u8, u8), editing: Option<bool>) {
        let now = self.now;
        let tab = self.tabs.entry(key).or_insert(ModelTab { joined: now, editing_since: None, deadline: now });
        tab.deadline = now + TTL_MS;
        if let Some(on) = editing.filter(|on| *on != tab.editing_since.is_some()) {
            tab.editing_since = on.then_some(now);
        }
    }

    /// `(viewers as (id, tabs, editing) in order, editor, tabs)`.
    fn expected(&self) -> (Vec<(String, u32, bool)>, Option<String>, usize) {
        let mut viewers: BTreeMap<u8, (u64, u32, Option<u64>)> = BTreeMap::new();
        for (&(user, _), tab) in &self.tabs {
            let viewer = viewers.entry(user).or_insert((tab.joined, 0, None));
            viewer.0 = viewer.0.min(tab.joined);
            viewer.1 += 1;
            viewer.2 = match (viewer.2, tab.editing_since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let mut ordered: Vec<_> = viewers.iter().collect();
        ordered.sort_by_key(|(user, (joined, ..))| (*joined, name(**user)));
        let editor = viewers.iter().filter_map(|(user, (_, _, since))| Some((since.as_ref()?, name(*user)))).min();
        (
            ordered.iter().map(|(user, (_, tabs, since))| (name(**user), *tabs, since.is_some())).collect(),
            editor.map(|(_, user)| user),
            self.tabs.len(),
        )
    }
}

fn name(user: u8) -> String {
    format!("u{user}")
}

fn observed(presence: &PagePresence) -> (Vec<(String, u32, bool)>, Option<String>, usize) {
    let viewers =
        presence.viewers.iter().map(|v| (v.user.to_string(), v.tab_count, v.editing_since.is_some())).collect();
    (viewers, presence.editor.as_ref().map(ToString::to_string), presence.tab_count)
}

/// Runs `ops` on the store and the model side by side, comparing the page after each.
async fn check(store: &dyn PresenceStore, ops: &[Op], moves_clock: bool) -> Result<(), TestCaseError> {
    let (docs, mut model) = (page("/docs"), Model::default());
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Join { user, tab: t, editing } => {
                store.join(&docs, &tab(&name(user), &t.to_string()), editing).await.map(drop).unwrap()
            }
            Op::Heartbeat { user, tab: t, editing } => {
                store.heartbeat(&docs, &tab(&name(user), &t.to_string()), editing).await.map(drop).unwrap()
            }
            Op::Leave { user, tab: t } => {
                store.leave(&docs, &tab(&name(user), &t.to_string())).await.map(drop).unwrap()
            }
            Op::Wait(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
        }
        model.apply(op);
        let presence = store.presence(&docs, usize::MAX).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = model.expected();
        prop_assert_eq!(observed(&presence), expected.clone(), "after step {} ({:?})", step, op);
        for user in 0..6 {
            let viewer = store.viewer(&docs, &crate::harness::user(&name(user))).await.unwrap();
            let viewer = viewer.map(|v| (v.user.to_string(), v.tab_count, v.editing_since.is_some()));
            let listed = expected.0.iter().find(|(id, ..)| *id == name(user)).cloned();
            prop_assert_eq!(viewer, listed, "viewer u{} after step {} ({:?})", user, step, op);
        }
        // One millisecond between steps, so no two changes share a moment and join order
        // is decided by what came first, as in the model.
        if moves_clock {
            tokio::time::advance(Duration::from_millis(1)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        model.now += 1;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_memory_store_matches_the_model(ops in ops(true)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        runtime.block_on(async {
            let store = MemoryStore::start(Duration::from_millis(TTL_MS), NEVER, TabLimits::NONE);
            check(&store, &ops, true).await
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Without expiries: Redis keeps its own clock, which a test cannot move.
    #[test]
    fn the_redis_store_matches_the_model(ops in ops(false)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let Some(backend) = Backend::redis(module_path!()) else { return Ok(()) };
            let store = backend.open(Duration::from_secs(600), NEVER).await;
            check(&*store, &ops, false).await
        })?;
    }
}
