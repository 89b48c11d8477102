//! `SnapshotCache`: each page's snapshot serialized once per version and reused by every
//! poll and stream until the page (or a viewer's profile) changes.
//!
//! Viewers are kept as JSON, each as everyone but its own user sees it; answering a caller
//! copies the fragments it needs and marks the caller's own as `isCurrentUser`.
//!
//! ETags come from the content, not from the version: versions differ between a restarted
//! process and its predecessor, and profiles are cached per process, so only a digest of
//! what the body is made of gives the same snapshot the same tag on every instance.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use actix_web::http::header::EntityTag;
use serde_json::value::RawValue;

use crate::directory::Directory;
use crate::domain::{PagePath, Snapshot, Timing, UserId, Viewer};
use crate::routes::etag_of;
use crate::store::{PresenceStore, Version};

/// Above this many cached pages the cache starts over, so it cannot grow without bound.
const MAX_CACHED_PAGES: usize = 50_000;

pub struct SnapshotCache {
    built: Mutex<HashMap<PagePath, Arc<BuiltSnapshot>>>,
    timing: Timing,
}

pub struct BuiltSnapshot {
    page: PagePath,
    version: Version,
    /// The directory's generation the profiles were read at.
    generation: u64,
    viewers: Vec<(UserId, Box<RawValue>)>,
    editor: Option<UserId>,
    tab_count: usize,
    timing: Timing,
    /// A digest of everything every caller's body is made of (see [`BuiltSnapshot::etag`]).
    content: u64,
}

impl SnapshotCache {
    pub fn new(timing: Timing) -> Self {
        Self { built: Mutex::default(), timing }
    }

    /// The page's snapshot at `version` (or later), built only if the cache lacks it.
    pub async fn get(
        &self,
        store: &dyn PresenceStore,
        directory: &Directory,
        page: &PagePath,
        version: Version,
    ) -> anyhow::Result<Arc<BuiltSnapshot>> {
        let generation = directory.generation();
        let cached = self.lock().get(page).cloned();
        if let Some(built) = cached.filter(|b| b.version == version && b.generation == generation) {
            return Ok(built);
        }
        let presence = store.presence(page).await?;
        let profiles = directory.profiles(presence.viewers.iter().map(|viewer| &viewer.user)).await?;
        let viewers = presence
            .viewers
            .iter()
            .map(|viewer| {
                let json = serde_json::to_string(&Viewer::new(viewer, profiles.get(&viewer.user).map(|p| &**p)))?;
                Ok((viewer.user.clone(), RawValue::from_string(json)?))
            })
            .collect::<serde_json::Result<_>>()?;
        let mut built = BuiltSnapshot {
            page: page.clone(),
            version: presence.version,
            generation,
            viewers,
            editor: presence.editor().cloned(),
            tab_count: presence.tab_count,
            timing: self.timing,
            content: 0,
        };
        built.content = built.digest();
        let built = Arc::new(built);
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_PAGES {
            cache.clear();
        }
        cache.insert(page.clone(), built.clone());
        Ok(built)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PagePath, Arc<BuiltSnapshot>>> {
        self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl BuiltSnapshot {
    /// What every caller's body is made of, hashed: equal content gives an equal digest on
    /// every instance running the same build.
    fn digest(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.page.as_str().hash(&mut hasher);
        for (_, json) in &self.viewers {
            json.get().hash(&mut hasher);
        }
        (
            self.editor.as_ref().map(UserId::as_str),
            self.tab_count,
            self.timing.ttl_ms,
            self.timing.heartbeat_interval_ms,
        )
            .hash(&mut hasher);
        hasher.finish()
    }

    /// Which viewers `caller` gets under `limit`: the first ones, and always the caller.
    fn shown(&self, caller: &UserId, limit: usize) -> (Vec<usize>, Option<usize>) {
        let mine = self.viewers.iter().position(|(user, _)| user == caller);
        let mut shown: Vec<usize> = (0..self.viewers.len().min(limit)).collect();
        if let Some(mine) = mine.filter(|&mine| mine >= limit) {
            shown.pop();
            shown.push(mine);
        }
        (shown, mine)
    }

    /// Changes exactly when the body for this caller and limit does, and is the same for
    /// the same body on every instance: the content, and which of its viewers are shown.
    pub fn etag(&self, caller: &UserId, limit: usize) -> EntityTag {
        let (shown, mine) = self.shown(caller, limit);
        let key = format!("{:x}:{}:{:?}", self.content, shown.len(), mine);
        etag_of(key.as_bytes())
    }

    /// The snapshot as JSON, as `caller` sees it, with at most `limit` viewers.
    pub fn render(&self, caller: &UserId, limit: usize) -> Vec<u8> {
        let (shown, mine) = self.shown(caller, limit);
        let viewers: Vec<Cow<'_, RawValue>> = shown.into_iter().map(|i| self.viewer_json(i, mine == Some(i))).collect();
        let snapshot = Snapshot {
            page_path: self.page.as_str(),
            viewers,
            editor_user_id: self.editor.as_ref().map(UserId::as_str),
            viewer_count: self.viewers.len(),
            tab_count: self.tab_count,
            ttl_ms: self.timing.ttl_ms,
            heartbeat_interval_ms: self.timing.heartbeat_interval_ms,
        };
        serde_json::to_vec(&snapshot).expect("a snapshot serializes")
    }

    /// One viewer's JSON as `caller` sees it, if that user is on the page.
    pub fn viewer(&self, user: &UserId, caller: &UserId) -> Option<Cow<'_, RawValue>> {
        let index = self.viewers.iter().position(|(id, _)| id == user)?;
        Some(self.viewer_json(index, user == caller))
    }

    fn viewer_json(&self, index: usize, is_current_user: bool) -> Cow<'_, RawValue> {
        let json = &self.viewers[index].1;
        if !is_current_user {
            return Cow::Borrowed(json);
        }
        let mine = Viewer::as_current_user(json.get());
        Cow::Owned(RawValue::from_string(mine).expect("marking the caller keeps valid JSON"))
    }
}
