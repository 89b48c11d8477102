//! `SnapshotCache`: each page's snapshot written once per version and reused by every
//! poll, heartbeat and stream until the page (or a viewer's profile) changes.
//!
//! A document lists a page's first viewers, as many as the widest `limit` its callers asked
//! for (at least `DEFAULT_VIEWERS`, at most `MAX_VIEWERS`), so writing it costs what it
//! shows however big the page; a caller further on gets their own entry read for the
//! request.
//!
//! On a big page (`COALESCE_FROM` viewers or more) a document serves the versions that come
//! within `COALESCE_FOR` of it: every join there would otherwise write the whole page again.
//! Such a snapshot may be that much behind the page (and its viewers' profiles: a broadcast
//! that starts brings a new profile with every join), but the caller's own entry, which is
//! then read for the request, never is (`openapi.yaml` says so).
//!
//! Tags come from the content, not from the version: versions differ between a restarted
//! process and its predecessor, and profiles are cached per process, so only a digest of
//! the document gives the same snapshot the same tag on every instance.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use quick_cache::sync::Cache;

use super::document::{Document, View};
use super::wire::Timing;
use crate::directory::Directory;
use crate::domain::{PagePath, UserId, Version};
use crate::store::PresenceStore;

/// The most pages whose snapshots are kept; beyond, the least used are evicted.
const MAX_CACHED_PAGES: usize = 50_000;
/// The most viewers a snapshot lists (a caller's `limit` is at most this)...
pub const MAX_VIEWERS: usize = 1_000;
/// ...and the fewest a document lists: a caller's `limit` unless they say otherwise.
pub const DEFAULT_VIEWERS: usize = 100;
/// Pages with this many viewers or more coalesce their versions...
pub const COALESCE_FROM: usize = 1_000;
/// ...into a snapshot at most this old, so a client sees at most four a second.
pub const COALESCE_FOR: Duration = Duration::from_millis(250);

pub struct SnapshotCache {
    documents: Cache<PagePath, Arc<Document>>,
    timing: Timing,
}

impl SnapshotCache {
    pub fn new(timing: Timing) -> Self {
        Self { documents: Cache::new(MAX_CACHED_PAGES), timing }
    }

    /// The page's snapshot at `version` (or later) listing `limit` viewers, written only if
    /// the cache lacks it.
    pub async fn get(
        &self,
        store: &dyn PresenceStore,
        directory: &Directory,
        page: &PagePath,
        version: Version,
        limit: usize,
    ) -> anyhow::Result<Arc<Document>> {
        let generation = directory.generation();
        let cached = self.documents.get(page);
        let mut listing = limit.clamp(DEFAULT_VIEWERS, MAX_VIEWERS);
        if let Some(document) = &cached {
            // On a big page one request writes the next document while the others keep
            // this one: all of them at once would each read the page.
            let big = document.viewer_count >= COALESCE_FROM;
            if document.lists(limit)
                && (!document.is_older_than(version, generation)
                    || coalesces(document)
                    || (big && document.superseding.swap(true, Ordering::AcqRel)))
            {
                return Ok(document.clone());
            }
            // The next document lists as many as this one did, or a caller asks for now.
            listing = listing.max(document.listed());
        }
        // However the write ends, even cancelled with its request, the next may try.
        let _superseded = cached.map(Superseded);
        self.write(store, directory, page, generation, listing).await
    }

    async fn write(
        &self,
        store: &dyn PresenceStore,
        directory: &Directory,
        page: &PagePath,
        generation: u64,
        listing: usize,
    ) -> anyhow::Result<Arc<Document>> {
        let presence = store.presence(page, listing).await?;
        let profiles = directory.profiles(presence.viewers.iter().map(|viewer| &viewer.user)).await?;
        let document = Document::write(page, &presence, &profiles, self.timing, generation)
            .with_context(|| format!("writing the snapshot of page {page}"))?;
        let document = Arc::new(document);
        self.documents.insert(page.clone(), document.clone());
        Ok(document)
    }

    /// The page's snapshot at `version` as `caller` sees it, with at most `limit` viewers.
    /// A coalesced snapshot, or one that does not list the caller, gets the caller's own
    /// entry as it is now.
    pub async fn view(
        &self,
        store: &dyn PresenceStore,
        directory: &Directory,
        page: &PagePath,
        version: Version,
        caller: &UserId,
        limit: usize,
    ) -> anyhow::Result<View> {
        let document = self.get(store, directory, page, version, limit).await?;
        if !document.is_older_than(version, directory.generation()) && !document.lacks(caller) {
            return Ok(document.view(caller, limit));
        }
        let Some(viewer) = store.viewer(page, caller).await? else { return Ok(document.view(caller, limit)) };
        let profile = directory.profile(caller).await?;
        document.view_with_own(limit, &viewer, &profile).context("writing the caller's own entry")
    }

    /// Forgets the snapshots of pages that are not live, so the memory of pages that emptied
    /// comes back (the stats sampler calls this with the live pages, every sample).
    pub fn keep_only(&self, live: &HashSet<PagePath>) {
        self.documents.retain(|page, _| live.contains(page));
    }
}

/// A document whose successor is being written; lets another request try when dropped.
struct Superseded(Arc<Document>);

impl Drop for Superseded {
    fn drop(&mut self) {
        self.0.superseding.store(false, Ordering::Release);
    }
}

/// Whether a document may stand for a later version of its page.
fn coalesces(document: &Document) -> bool {
    document.viewer_count >= COALESCE_FROM && document.written_at.elapsed() < COALESCE_FOR
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};

    use std::collections::HashMap;

    use super::*;
    use crate::domain::{TabId, TabKey, UserId};
    use crate::store::memory::MemoryStore;

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

    /// A directory in a database of its own (kept while the first is held) and a store.
    async fn directory_and_store() -> (tempfile::TempDir, Directory, MemoryStore) {
        let database = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", database.path().join("presence.db").display());
        let directory = Directory::connect(&url).await.unwrap();
        let store = MemoryStore::start(Duration::from_secs(60), Duration::from_secs(60), crate::store::TabLimits::NONE);
        (database, directory, store)
    }

    /// Every caller's body at every limit is the snapshot as that caller sees it, and two
    /// views share a tag exactly when they share a body.
    #[tokio::test]
    async fn each_view_is_the_snapshot_as_its_caller_sees_it() {
        let (_database, directory, store) = directory_and_store().await;
        // A path that holds the key the viewers are written after.
        let page = PagePath::parse(r#"/"viewers":[/a"#).unwrap();
        let users: Vec<UserId> = (0..4).map(|i| UserId::parse(&format!("u{i}")).unwrap()).collect();
        for user in &users {
            let key = TabKey { user: user.clone(), tab: TabId::parse("t").unwrap() };
            store.join(&page, &key, None).await.unwrap();
        }
        let cache = SnapshotCache::new(Timing { ttl_ms: 45_000, heartbeat_interval_ms: 15_000 });
        let version = store.version(&page).await.unwrap();
        let document = cache.get(&store, &directory, &page, version, MAX_VIEWERS).await.unwrap();
        let full: Value = serde_json::from_slice(document.json()).unwrap();
        assert_eq!(full["pagePath"], page.as_str());

        let outsider = UserId::parse("outsider").unwrap();
        let mut bodies_by_tag = HashMap::new();
        for caller in users.iter().chain([&outsider]) {
            for limit in 1..=users.len() + 1 {
                let view = document.view(caller, limit);
                let body: Value = serde_json::from_slice(&view.body()).unwrap();
                assert_eq!(body, expected(&full, caller, limit), "{caller}, limit {limit}");
                let other = bodies_by_tag.entry(view.etag()).or_insert_with(|| body.clone());
                assert_eq!(*other, body, "{caller}, limit {limit}: a tag names one body");
            }
        }
        let bodies: HashSet<String> = bodies_by_tag.values().map(Value::to_string).collect();
        assert_eq!(bodies.len(), bodies_by_tag.len(), "one body, one tag");

        let other = PagePath::parse("/other").unwrap();
        cache.get(&store, &directory, &other, Version::EMPTY, MAX_VIEWERS).await.unwrap();
        assert_eq!(cache.documents.len(), 2);
        cache.keep_only(&HashSet::from([page.clone()]));
        assert_eq!(cache.documents.len(), 1, "the page that is not live is forgotten");
        assert!(
            Arc::ptr_eq(&cache.get(&store, &directory, &page, version, MAX_VIEWERS).await.unwrap(), &document),
            "the live one kept"
        );
    }

    /// A document lists what its callers ask for: the default, wider once someone asks for
    /// more, and no narrower after.
    #[tokio::test]
    async fn a_document_lists_as_many_viewers_as_its_callers_ask_for() {
        let (_database, directory, store) = directory_and_store().await;
        let page = PagePath::parse("/wide").unwrap();
        for i in 0..150 {
            let key = TabKey { user: UserId::parse(&format!("u{i:03}")).unwrap(), tab: TabId::parse("t").unwrap() };
            store.join(&page, &key, None).await.unwrap();
        }
        let cache = SnapshotCache::new(Timing { ttl_ms: 45_000, heartbeat_interval_ms: 15_000 });
        let version = store.version(&page).await.unwrap();
        let get = |limit| cache.get(&store, &directory, &page, version, limit);
        let narrow = get(5).await.unwrap();
        assert_eq!(narrow.listed(), DEFAULT_VIEWERS, "never fewer than the default");
        assert!(Arc::ptr_eq(&get(DEFAULT_VIEWERS).await.unwrap(), &narrow));
        let wide = get(120).await.unwrap();
        assert_eq!(wide.listed(), 120, "a wider limit writes a wider document");
        assert!(Arc::ptr_eq(&get(5).await.unwrap(), &wide), "which serves the narrower ones too");
        assert_eq!(get(MAX_VIEWERS).await.unwrap().listed(), 150, "every viewer, when that is all there are");
    }

    /// A big page's snapshot stands for the versions of the next quarter second, with the
    /// caller's own entry as it is now; a small page's never does.
    #[tokio::test]
    async fn a_big_page_coalesces_its_versions_but_never_the_callers_own_entry() {
        let (_database, directory, store) = directory_and_store().await;
        let cache = SnapshotCache::new(Timing { ttl_ms: 45_000, heartbeat_interval_ms: 15_000 });
        let (big, small) = (PagePath::parse("/big").unwrap(), PagePath::parse("/small").unwrap());
        let key = |user: &UserId| TabKey { user: user.clone(), tab: TabId::parse("t").unwrap() };
        for i in 0..COALESCE_FROM {
            store.join(&big, &key(&UserId::parse(&format!("u{i:04}")).unwrap()), None).await.unwrap();
        }
        let (early, late) = (UserId::parse("early").unwrap(), UserId::parse("late").unwrap());
        store.join(&small, &key(&early), None).await.unwrap();
        directory.profile(&late).await.unwrap();
        let viewer_count = |view: &View| serde_json::from_slice::<Value>(&view.body()).unwrap()["viewerCount"].clone();
        let version = store.version(&big).await.unwrap();
        let first = cache.view(&store, &directory, &big, version, &early, 5).await.unwrap();
        let version = store.version(&small).await.unwrap();
        cache.view(&store, &directory, &small, version, &early, 5).await.unwrap();
        // The clock stands still: no time passes between the two reads.
        tokio::time::pause();

        let version = store.join(&big, &key(&late), None).await.unwrap();
        let view = cache.view(&store, &directory, &big, version, &late, 5).await.unwrap();
        assert_eq!(viewer_count(&view), 1000, "the snapshot of a moment ago");
        let body: Value = serde_json::from_slice(&view.body()).unwrap();
        let viewers = body["viewers"].as_array().unwrap();
        assert_eq!((viewers.len(), &viewers[4]["id"], &viewers[4]["isCurrentUser"]), (5, &json!("late"), &json!(true)));
        assert_ne!(view.etag(), first.etag());

        let version = store.join(&small, &key(&late), None).await.unwrap();
        let view = cache.view(&store, &directory, &small, version, &early, 5).await.unwrap();
        assert_eq!(viewer_count(&view), 2, "a small page is always current");

        tokio::time::advance(COALESCE_FOR).await;
        let version = store.version(&big).await.unwrap();
        let stale = cache.documents.get(&big).unwrap();
        stale.superseding.store(true, Ordering::Release);
        let view = cache.view(&store, &directory, &big, version, &late, 5).await.unwrap();
        assert_eq!(viewer_count(&view), 1000, "while another request writes the next, the one before");
        stale.superseding.store(false, Ordering::Release);
        let view = cache.view(&store, &directory, &big, version, &late, 5).await.unwrap();
        assert_eq!(viewer_count(&view), 1001, "a quarter second later, the page as it is");
        let body: Value = serde_json::from_slice(&view.body()).unwrap();
        assert_eq!(
            body["viewers"][4]["id"], "late",
            "listed past the document's {DEFAULT_VIEWERS}: its own entry is read"
        );
        assert_eq!(body["viewers"][3]["id"], "u0003");
    }
}
