//! `SnapshotCache`: each page's snapshot serialized once per version and reused by every
//! poll, heartbeat and stream until the page (or a viewer's profile) changes.
//!
//! A snapshot is kept as the JSON that a caller who is not on the page gets when every
//! viewer is listed, with where each viewer's JSON lies in it. Any other caller's body is
//! a few slices of that document (cut at its `limit`, its own viewer marked
//! `isCurrentUser`), and its `ETag` a hash of the document's digest and what picks those
//! slices: nothing is serialized per request.
//!
//! Tags come from the content, not from the version: versions differ between a restarted
//! process and its predecessor, and profiles are cached per process, so only a digest of
//! the document gives the same snapshot the same tag on every instance.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;

use crate::directory::Directory;
use crate::domain::{PagePath, Snapshot, Timing, UserId, Viewer};
use crate::routes::ETag;
use crate::store::{PresenceStore, Version};

/// Above this many cached pages the cache starts over, so it cannot grow without bound.
const MAX_CACHED_PAGES: usize = 50_000;
/// What opens the viewers' array in a snapshot's JSON.
const VIEWERS_KEY: &[u8] = br#""viewers":["#;

pub struct SnapshotCache {
    built: Mutex<HashMap<PagePath, Arc<BuiltSnapshot>>>,
    timing: Timing,
}

pub struct BuiltSnapshot {
    version: Version,
    /// The directory's generation the profiles were read at.
    generation: u64,
    /// The snapshot as a caller who is not on the page sees it, every viewer listed.
    json: Bytes,
    /// Where the viewers' array starts in `json` (just after its `[`).
    list_start: usize,
    /// Where each viewer's JSON lies in `json`, in the snapshot's order.
    viewers: Vec<Range<usize>>,
    /// Each user's place in that order.
    places: HashMap<UserId, usize>,
    /// A digest of `json`, which every caller's body is cut from.
    digest: u64,
}

/// A snapshot as one caller sees it: the first `shown` viewers, the caller's own always
/// among them (in the last shown place when it comes later).
pub struct View<'a> {
    built: &'a BuiltSnapshot,
    shown: usize,
    mine: Option<usize>,
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
        // The document without its viewers, which are then written into its empty array.
        let frame = serde_json::to_vec(&Snapshot {
            page_path: page.as_str(),
            viewers: Vec::new(),
            editor_user_id: presence.editor().map(UserId::as_str),
            viewer_count: presence.viewers.len(),
            tab_count: presence.tab_count,
            ttl_ms: self.timing.ttl_ms,
            heartbeat_interval_ms: self.timing.heartbeat_interval_ms,
        })?;
        // Only `pagePath` comes before the viewers, and a quote inside a JSON string is
        // escaped, so the first match is the key itself.
        let list_start =
            frame.windows(VIEWERS_KEY.len()).position(|w| w == VIEWERS_KEY).expect("a viewers key") + VIEWERS_KEY.len();
        let mut json = frame[..list_start].to_vec();
        let mut viewers = Vec::with_capacity(presence.viewers.len());
        for viewer in &presence.viewers {
            if !viewers.is_empty() {
                json.push(b',');
            }
            let start = json.len();
            serde_json::to_writer(&mut json, &Viewer::new(viewer, profiles.get(&viewer.user).map(|p| &**p)))?;
            viewers.push(start..json.len());
        }
        json.extend_from_slice(&frame[list_start..]);
        // Seeded alike in every process, so equal documents digest alike on every instance.
        let digest = foldhash::quality::FixedState::with_seed(0).hash_one(&json);
        let built = Arc::new(BuiltSnapshot {
            version: presence.version,
            generation,
            json: json.into(),
            list_start,
            places: presence.viewers.iter().enumerate().map(|(i, viewer)| (viewer.user.clone(), i)).collect(),
            viewers,
            digest,
        });
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_PAGES {
            cache.clear();
        }
        cache.insert(page.clone(), built.clone());
        Ok(built)
    }

    /// Forgets the snapshots of pages that are not live, so the memory of pages that emptied
    /// comes back (the stats sampler calls this with the live pages, every sample).
    pub fn keep_only(&self, live: &HashSet<PagePath>) {
        let mut cache = self.lock();
        cache.retain(|page, _| live.contains(page));
        if cache.len() < cache.capacity() / 4 {
            cache.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PagePath, Arc<BuiltSnapshot>>> {
        self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl BuiltSnapshot {
    /// The snapshot as `caller` sees it, with at most `limit` viewers.
    pub fn view(&self, caller: &UserId, limit: usize) -> View<'_> {
        View { built: self, shown: self.viewers.len().min(limit), mine: self.places.get(caller).copied() }
    }

    /// Where the list of the first `count` viewers ends in `json`.
    fn list_end(&self, count: usize) -> usize {
        count.checked_sub(1).map_or(self.list_start, |last| self.viewers[last].end)
    }
}

impl View<'_> {
    /// Changes exactly when this caller's body does, and is the same for the same body on
    /// every instance.
    pub fn etag(&self) -> ETag {
        let mut hasher = DefaultHasher::new();
        (self.built.digest, self.shown, self.mine).hash(&mut hasher);
        ETag(hasher.finish())
    }

    /// The snapshot's JSON as this caller gets it: the shared document itself when the
    /// caller is not on the page and sees every viewer, else its slices copied once.
    pub fn body(&self) -> Bytes {
        let built = self.built;
        let json = &built.json[..];
        let tail = &json[built.list_end(built.viewers.len())..];
        match self.mine {
            None if self.shown == built.viewers.len() => built.json.clone(),
            None => [&json[..built.list_end(self.shown)], tail].concat().into(),
            // Among the first: marked where it is.
            Some(mine) if mine < self.shown => {
                let end = built.viewers[mine].end;
                let (before, ending) = Viewer::as_current_user(&json[..end]);
                [before, ending, &json[end..built.list_end(self.shown)], tail].concat().into()
            }
            // Further on: it takes the last shown place.
            Some(mine) => {
                let kept = self.shown.saturating_sub(1);
                let separator: &[u8] = if kept > 0 { b"," } else { b"" };
                let (own, ending) = Viewer::as_current_user(&json[built.viewers[mine].clone()]);
                [&json[..built.list_end(kept)], separator, own, ending, tail].concat().into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::domain::TabId;
    use crate::store::memory::MemoryStore;
    use crate::store::TabKey;

    /// What `caller` should get with `limit`, worked out on the parsed document.
    fn expected(full: &Value, caller: &UserId, limit: usize) -> Value {
        let mut viewers = full["viewers"].as_array().unwrap().clone();
        let mine = viewers.iter().position(|viewer| viewer["id"] == caller.as_str());
        if let Some(mine) = mine {
            viewers[mine]["isCurrentUser"] = Value::Bool(true);
            if mine >= limit {
                viewers.swap(limit - 1, mine);
            }
        }
        viewers.truncate(limit);
        let mut snapshot = full.clone();
        snapshot["viewers"] = Value::Array(viewers);
        snapshot
    }

    /// Every caller's body at every limit is the snapshot as that caller sees it, and two
    /// views share a tag exactly when they share a body.
    #[tokio::test]
    async fn each_view_is_the_snapshot_as_its_caller_sees_it() {
        let database = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", database.path().join("presence.db").display());
        let directory = Directory::connect(&url).await.unwrap();
        let store = MemoryStore::start(Duration::from_secs(60), Duration::from_secs(60), crate::store::TabLimits::NONE);
        // A path that holds the key the viewers are written after.
        let page = PagePath::parse(r#"/"viewers":[/a"#).unwrap();
        let users: Vec<UserId> = (0..4).map(|i| UserId::parse(&format!("u{i}")).unwrap()).collect();
        for user in &users {
            let key = TabKey { user: user.clone(), tab: TabId::parse("t").unwrap() };
            store.join(&page, &key, None).await.unwrap();
        }
        let cache = SnapshotCache::new(Timing { ttl_ms: 45_000, heartbeat_interval_ms: 15_000 });
        let version = store.version(&page).await.unwrap();
        let built = cache.get(&store, &directory, &page, version).await.unwrap();
        let full: Value = serde_json::from_slice(&built.json).unwrap();
        assert_eq!(full["pagePath"], page.as_str());

        let outsider = UserId::parse("outsider").unwrap();
        let mut bodies_by_tag = HashMap::new();
        for caller in users.iter().chain([&outsider]) {
            for limit in 1..=users.len() + 1 {
                let view = built.view(caller, limit);
                let body: Value = serde_json::from_slice(&view.body()).unwrap();
                assert_eq!(body, expected(&full, caller, limit), "{caller}, limit {limit}");
                let other = bodies_by_tag.entry(view.etag()).or_insert_with(|| body.clone());
                assert_eq!(*other, body, "{caller}, limit {limit}: a tag names one body");
            }
        }
        let bodies: HashSet<String> = bodies_by_tag.values().map(Value::to_string).collect();
        assert_eq!(bodies.len(), bodies_by_tag.len(), "one body, one tag");

        let other = PagePath::parse("/other").unwrap();
        cache.get(&store, &directory, &other, Version::EMPTY).await.unwrap();
        assert_eq!(cache.cached(), 2);
        cache.keep_only(&HashSet::from([page.clone()]));
        assert_eq!(cache.cached(), 1, "the page that is not live is forgotten");
        assert!(
            Arc::ptr_eq(&cache.get(&store, &directory, &page, version).await.unwrap(), &built),
            "the live one kept"
        );
    }
}
