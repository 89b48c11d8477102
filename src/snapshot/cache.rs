//! `SnapshotCache`: each page's snapshot written once per version and reused by every
//! poll, heartbeat and stream until the page (or a viewer's profile) changes.
//!
//! Tags come from the content, not from the version: versions differ between a restarted
//! process and its predecessor, and profiles are cached per process, so only a digest of
//! the document gives the same snapshot the same tag on every instance.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context;
use quick_cache::sync::Cache;

use super::document::Document;
use super::wire::Timing;
use crate::directory::Directory;
use crate::domain::{PagePath, Version};
use crate::store::PresenceStore;

/// The most pages whose snapshots are kept; beyond, the least used are evicted.
const MAX_CACHED_PAGES: usize = 50_000;

pub struct SnapshotCache {
    documents: Cache<PagePath, Arc<Document>>,
    timing: Timing,
}

impl SnapshotCache {
    pub fn new(timing: Timing) -> Self {
        Self { documents: Cache::new(MAX_CACHED_PAGES), timing }
    }

    /// The page's snapshot at `version` (or later), written only if the cache lacks it.
    pub async fn get(
        &self,
        store: &dyn PresenceStore,
        directory: &Directory,
        page: &PagePath,
        version: Version,
    ) -> anyhow::Result<Arc<Document>> {
        let generation = directory.generation();
        let cached = self.documents.get(page);
        if let Some(document) = cached.filter(|d| d.version == version && d.generation == generation) {
            return Ok(document);
        }
        let presence = store.presence(page).await?;
        let profiles = directory.profiles(presence.viewers.iter().map(|viewer| &viewer.user)).await?;
        let document = Document::write(page, &presence, &profiles, self.timing, generation)
            .with_context(|| format!("writing the snapshot of page {page}"))?;
        let document = Arc::new(document);
        self.documents.insert(page.clone(), document.clone());
        Ok(document)
    }

    /// Forgets the snapshots of pages that are not live, so the memory of pages that emptied
    /// comes back (the stats sampler calls this with the live pages, every sample).
    pub fn keep_only(&self, live: &HashSet<PagePath>) {
        self.documents.retain(|page, _| live.contains(page));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

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
        let document = cache.get(&store, &directory, &page, version).await.unwrap();
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
        cache.get(&store, &directory, &other, Version::EMPTY).await.unwrap();
        assert_eq!(cache.documents.len(), 2);
        cache.keep_only(&HashSet::from([page.clone()]));
        assert_eq!(cache.documents.len(), 1, "the page that is not live is forgotten");
        assert!(
            Arc::ptr_eq(&cache.get(&store, &directory, &page, version).await.unwrap(), &document),
            "the live one kept"
        );
    }
}
