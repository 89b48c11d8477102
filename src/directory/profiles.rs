//! Reading profiles: from the cache, else from SQL, every missing one of a snapshot in one
//! query per [`READ_CHUNK`] ids.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use sqlx::Row;

use super::Directory;
use crate::domain::{Profile, UserId};

/// Ids read per query: bind parameters stay far below SQLite's limit (32 766) and
/// Postgres's (65 535), and a query's text stays small.
const READ_CHUNK: usize = 500;

impl Directory {
    /// The profile of a user; one the directory has never seen is shown by id.
    pub async fn profile(&self, id: &UserId) -> anyhow::Result<Arc<Profile>> {
        if let Some(known) = self.known(id) {
            return Ok(known);
        }
        let mut read = self.profiles(std::iter::once(id)).await?;
        read.remove(id).context("the directory answers every id it is asked for")
    }

    /// The profiles of several users, keyed by id: the ones this instance holds at once,
    /// the others from SQL in one query per `READ_CHUNK` ids; unknown users are shown by id.
    pub async fn profiles<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a UserId>,
    ) -> anyhow::Result<HashMap<UserId, Arc<Profile>>> {
        let mut profiles = HashMap::new();
        let mut missing = HashSet::new();
        for id in ids {
            if profiles.contains_key(id) || missing.contains(id) {
                continue;
            }
            match self.known(id) {
                Some(profile) => {
                    profiles.insert(id.clone(), profile);
                }
                None => {
                    missing.insert(id.clone());
                }
            }
        }
        let missing: Vec<UserId> = missing.into_iter().collect();
        for chunk in missing.chunks(READ_CHUNK) {
            let read = self.read(chunk).await?;
            profiles.extend(self.remember_read(read));
        }
        Ok(profiles)
    }

    /// One query for the profiles of `ids`, each as SQL has it or shown by id.
    async fn read(&self, ids: &[UserId]) -> anyhow::Result<Vec<Profile>> {
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT id, name, avatar, role FROM users WHERE id IN ({})", placeholders.join(", "));
        let query = ids.iter().fold(sqlx::query(&sql), |query, id| query.bind(id.as_str()));
        self.profile_reads.fetch_add(1, Ordering::Relaxed);
        let rows = query.fetch_all(&self.pool).await.with_context(|| format!("loading {} profiles", ids.len()))?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            found.insert(id, (row.try_get("name")?, row.try_get("avatar")?, row.try_get("role")?));
        }
        let profile = |id: &UserId| match found.remove(id.as_str()) {
            Some((name, avatar, role)) => Profile { id: id.clone(), name, avatar, role },
            None => Profile { id: id.clone(), name: id.to_string(), avatar: None, role: None },
        };
        Ok(ids.iter().map(profile).collect())
    }

    /// Caches profiles read from SQL, unless one was saved meanwhile: that one is newer
    /// than the row, which may have been read before its write.
    fn remember_read(&self, read: Vec<Profile>) -> Vec<(UserId, Arc<Profile>)> {
        let unwritten = self.unwritten.lock();
        read.into_iter()
            .map(|profile| {
                let profile = match unwritten.get(&profile.id) {
                    Some(saved) => saved.clone(),
                    None => {
                        let profile = Arc::new(profile);
                        self.cache.insert(profile.id.clone(), profile.clone());
                        profile
                    }
                };
                (profile.id.clone(), profile)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cold read of many users costs one query per [`READ_CHUNK`] ids and shows the ones
    /// SQL does not know by id; a warm read costs no query.
    #[tokio::test]
    async fn a_cold_read_costs_a_query_per_chunk_and_a_warm_one_none() {
        let database = tempfile::tempdir().unwrap();
        let directory =
            Directory::connect(&format!("sqlite:{}", database.path().join("presence.db").display())).await.unwrap();
        let ids: Vec<UserId> = (0..1_200).map(|i| UserId::parse(&format!("u{i}")).unwrap()).collect();
        let in_sql: Vec<Arc<Profile>> = (ids.iter().step_by(2))
            .map(|id| Arc::new(Profile { id: id.clone(), name: format!("User {id}"), avatar: None, role: None }))
            .collect();
        // Written straight to SQL, so nothing is cached.
        directory.write_profiles(&in_sql).await.unwrap();

        let before = directory.profile_reads();
        let profiles = directory.profiles(ids.iter().chain(&ids[..10])).await.unwrap();
        assert_eq!(directory.profile_reads() - before, 3, "1 200 ids, 500 a query, each asked once");
        assert_eq!(profiles.len(), ids.len());
        for (i, id) in ids.iter().enumerate() {
            let expected = if i % 2 == 0 { format!("User {id}") } else { id.to_string() };
            assert_eq!(profiles[id].name, expected, "{id}");
        }
        directory.profiles(&ids).await.unwrap();
        assert_eq!(directory.profile(&ids[1]).await.unwrap().name, "u1");
        assert_eq!(directory.profile_reads() - before, 3, "the cached profiles cost no query");
    }
}
