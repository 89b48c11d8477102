//! Writing profiles behind the requests. [`Directory::save`] shows a profile on this
//! instance at once and queues its SQL write; the writer (`tasks::profile_writer`) takes
//! the queue in batches and writes each batch in one transaction. The queue is bounded: a
//! flood of new users waits for room (backpressure) rather than growing memory, and
//! nothing queued is dropped.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

use super::Directory;
use crate::domain::time::unix_millis;
use crate::domain::{Profile, UserId};

/// Saves queued at most. At a few thousand new users a second, seconds of database
/// trouble before anyone waits.
pub const WRITE_QUEUE_CAPACITY: usize = 10_000;

/// Jobs the writer takes at most per batch.
const MAX_BATCH: usize = 1_000;

/// Rows per `INSERT`: five bind parameters a row, 500 a statement, under any database's limit.
const ROWS_PER_STATEMENT: usize = 100;

/// How long a save waits for room in a full queue. Longer means the database is down or
/// far behind: the request fails (503, retry later) rather than hang.
const FULL_QUEUE_WAIT: Duration = Duration::from_secs(10);

enum Job {
    Save(Arc<Profile>),
    /// Answered once every job queued before it is written and announced.
    Flush(oneshot::Sender<()>),
}

pub(super) struct Queue {
    sender: mpsc::Sender<Job>,
    /// The receiving end, until the writer takes it.
    receiver: Mutex<Option<mpsc::Receiver<Job>>>,
    /// Whether the last write failed, so a sign-in waiting for its write gives up at once.
    failing: watch::Sender<bool>,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity);
        Self { sender, receiver: Mutex::new(Some(receiver)), failing: watch::Sender::new(false) }
    }
}

/// The queue's receiving end: what the writer drains.
pub struct QueuedWrites {
    receiver: mpsc::Receiver<Job>,
    jobs: Vec<Job>,
}

impl QueuedWrites {
    /// What is queued, up to a batch, waiting for a first job; `None` once the directory
    /// (and with it the queue) is gone.
    pub async fn next_batch(&mut self) -> Option<Batch> {
        if self.receiver.recv_many(&mut self.jobs, MAX_BATCH).await == 0 {
            return None;
        }
        // A user saved twice in a batch is written once, with the later profile.
        let mut latest: HashMap<UserId, Arc<Profile>> = HashMap::new();
        let mut flushes = Vec::new();
        for job in self.jobs.drain(..) {
            match job {
                Job::Save(profile) => {
                    latest.insert(profile.id.clone(), profile);
                }
                Job::Flush(done) => flushes.push(done),
            }
        }
        Some(Batch { profiles: latest.into_values().collect(), flushes })
    }
}

/// A batch of saves: the latest profile of each user, and the flushes waiting for them.
pub struct Batch {
    pub profiles: Vec<Arc<Profile>>,
    flushes: Vec<oneshot::Sender<()>>,
}

impl Batch {
    /// Tells the flushes that everything before them is written and announced.
    pub fn done(self) {
        for flush in self.flushes {
            // A flush that gave up waiting has nobody to tell.
            let _ = flush.send(());
        }
    }
}

impl Directory {
    /// Saves a profile a caller proved: this instance shows it at once (and its snapshots
    /// are rebuilt); SQL gets it from the writer. An unchanged profile queues nothing. When
    /// the queue is full this waits for room, and fails if none comes.
    pub async fn save(&self, profile: Profile) -> anyhow::Result<Arc<Profile>> {
        if let Some(held) = self.unchanged(&profile) {
            return Ok(held);
        }
        let permit = tokio::time::timeout(FULL_QUEUE_WAIT, self.queue.sender.reserve())
            .await
            .map_err(|_| anyhow!("the profile writes stayed queued for {FULL_QUEUE_WAIT:?}: the database is behind"))?
            .map_err(|_| anyhow!("the profile writer has stopped"))?;
        // Queued under the lock, so a user's saves reach SQL in the order this instance
        // took them, and the last one queued is the one held.
        let mut unwritten = self.unwritten.lock();
        let held = self.cache.get(&profile.id).or_else(|| unwritten.get(&profile.id).cloned());
        if let Some(held) = held.filter(|held| **held == profile) {
            return Ok(held);
        }
        let profile = Arc::new(profile);
        unwritten.insert(profile.id.clone(), profile.clone());
        self.cache.insert(profile.id.clone(), profile.clone());
        self.generation.fetch_add(1, Ordering::Release);
        permit.send(Job::Save(profile.clone()));
        Ok(profile)
    }

    /// Whether the user's profile was saved and is not in SQL yet.
    pub fn is_unwritten(&self, id: &UserId) -> bool {
        self.unwritten.lock().contains_key(id)
    }

    /// Waits until every profile saved so far is written and announced, for at most `limit`.
    pub async fn flush(&self, limit: Duration) -> anyhow::Result<()> {
        let (done, written) = oneshot::channel();
        let flushed = async {
            self.queue.sender.send(Job::Flush(done)).await.map_err(|_| anyhow!("the profile writer has stopped"))?;
            written.await.map_err(|_| anyhow!("the profile writer stopped before the flush"))
        };
        tokio::time::timeout(limit, flushed).await.unwrap_or_else(|_| {
            let unwritten = self.unwritten.lock().len();
            Err(anyhow!("{unwritten} saved profiles were still not written to SQL after {limit:?}"))
        })
    }

    /// Like [`Directory::flush`], but fails as soon as a write fails; what is queued stays
    /// queued and is retried.
    pub async fn flush_or_fail(&self, limit: Duration) -> anyhow::Result<()> {
        let mut failing = self.queue.failing.subscribe();
        tokio::select! {
            flushed = self.flush(limit) => flushed,
            _ = failing.wait_for(|failing| *failing) => Err(anyhow!("the user directory fails to write profiles")),
        }
    }

    /// The queue's receiving end, for the writer; `None` once taken.
    pub fn take_queued_writes(&self) -> Option<QueuedWrites> {
        let receiver = self.queue.receiver.lock().take()?;
        Some(QueuedWrites { receiver, jobs: Vec::with_capacity(MAX_BATCH) })
    }

    /// Writes a batch of saved profiles in one transaction; those not saved again
    /// meanwhile are then read from SQL like any other.
    pub async fn write_profiles(&self, profiles: &[Arc<Profile>]) -> anyhow::Result<()> {
        let written = self.write_rows(profiles).await;
        self.queue.failing.send_replace(written.is_err());
        written?;
        let mut unwritten = self.unwritten.lock();
        for profile in profiles {
            if unwritten.get(&profile.id).is_some_and(|held| Arc::ptr_eq(held, profile)) {
                unwritten.remove(&profile.id);
            }
        }
        Ok(())
    }

    /// Writes the profile to SQL at once, unless this instance holds exactly it; answers
    /// it, and whether it was written. For tools and benches that fill a directory: the
    /// service saves with [`Directory::save`].
    pub async fn upsert(&self, profile: Profile) -> anyhow::Result<(Arc<Profile>, bool)> {
        if let Some(held) = self.unchanged(&profile) {
            return Ok((held, false));
        }
        let profile = Arc::new(profile);
        self.write_rows(std::slice::from_ref(&profile)).await?;
        self.cache.insert(profile.id.clone(), profile.clone());
        self.generation.fetch_add(1, Ordering::Release);
        Ok((profile, true))
    }

    /// One transaction, a multi-row upsert per [`ROWS_PER_STATEMENT`]. Each user appears
    /// once: Postgres refuses an upsert that touches a row twice.
    async fn write_rows(&self, profiles: &[Arc<Profile>]) -> anyhow::Result<()> {
        let updated_at = unix_millis(SystemTime::now());
        let mut transaction = self.pool.begin().await.context("starting to write profiles")?;
        for rows in profiles.chunks(ROWS_PER_STATEMENT) {
            let sql = upsert_sql(rows.len());
            let query = rows.iter().fold(sqlx::query(&sql), |query, profile| {
                query
                    .bind(profile.id.as_str())
                    .bind(profile.name.as_str())
                    .bind(profile.avatar.as_deref())
                    .bind(profile.role.as_deref())
                    .bind(updated_at)
            });
            query.execute(&mut *transaction).await.with_context(|| format!("writing {} profiles", rows.len()))?;
        }
        transaction.commit().await.context("committing the profiles")
    }
}

/// `INSERT … VALUES ($1, …, $5), ($6, …) ON CONFLICT … DO UPDATE` for `rows` profiles.
fn upsert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * 5 + 1;
            let params: Vec<String> = (first..first + 5).map(|i| format!("${i}")).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO users (id, name, avatar, role, updated_at) VALUES {} ON CONFLICT (id) DO UPDATE SET \
         name = excluded.name, avatar = excluded.avatar, role = excluded.role, updated_at = excluded.updated_at",
        values.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::future::{poll_fn, Future};
    use std::task::Poll;

    use super::*;

    async fn open(database: &tempfile::TempDir) -> Directory {
        Directory::connect(&format!("sqlite:{}", database.path().join("presence.db").display())).await.unwrap()
    }

    fn profile(id: &str, name: &str) -> Profile {
        Profile { id: UserId::parse(id).unwrap(), name: name.into(), avatar: None, role: None }
    }

    #[tokio::test]
    async fn a_save_is_seen_at_once_and_its_latest_profile_written_by_the_batch() {
        let database = tempfile::tempdir().unwrap();
        let directory = open(&database).await;
        let generation = directory.generation();
        directory.save(profile("alice", "Alice")).await.unwrap();
        directory.save(profile("alice", "Alice")).await.unwrap();
        directory.save(profile("alice", "Alice Martin")).await.unwrap();
        assert_eq!(directory.generation(), generation + 2, "two changes; the equal save changed nothing");
        let alice = UserId::parse("alice").unwrap();
        assert_eq!(directory.profile(&alice).await.unwrap().name, "Alice Martin");
        assert_eq!(directory.profile_reads(), 0, "seen without SQL");
        assert!(directory.is_unwritten(&alice));

        directory.cache.clear();
        assert_eq!(directory.profile(&alice).await.unwrap().name, "Alice Martin", "unwritten, so never read stale");
        let mut queue = directory.take_queued_writes().unwrap();
        let batch = queue.next_batch().await.unwrap();
        let names: Vec<&str> = batch.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Alice Martin"], "the later profile of a user wins within a batch");
        directory.write_profiles(&batch.profiles).await.unwrap();
        assert!(!directory.is_unwritten(&alice));
        let cold = open(&database).await;
        assert_eq!(cold.profile(&alice).await.unwrap().name, "Alice Martin", "in SQL");
    }

    #[tokio::test]
    async fn a_full_queue_makes_a_save_wait_for_room_and_a_long_wait_fail() {
        let database = tempfile::tempdir().unwrap();
        let mut directory = open(&database).await;
        directory.queue = Queue::new(1);
        directory.save(profile("u1", "One")).await.unwrap();
        let second = directory.save(profile("u2", "Two"));
        tokio::pin!(second);
        let waiting = poll_fn(|cx| Poll::Ready(second.as_mut().poll(cx).is_pending())).await;
        assert!(waiting, "no room: the save waits");
        let mut queue = directory.take_queued_writes().unwrap();
        assert_eq!(queue.next_batch().await.unwrap().profiles[0].name, "One");
        assert_eq!(second.await.unwrap().name, "Two", "room again: the save is queued");

        tokio::time::pause();
        let refused = directory.save(profile("u3", "Three")).await;
        assert!(refused.is_err(), "a queue that stays full fails the save rather than hang");
        assert!(!directory.is_unwritten(&UserId::parse("u3").unwrap()), "and holds nothing it did not queue");
    }

    #[tokio::test]
    async fn a_flush_waiting_for_a_write_fails_as_soon_as_a_write_fails() {
        let database = tempfile::tempdir().unwrap();
        let directory = open(&database).await;
        sqlx::query("ALTER TABLE users RENAME TO users_gone").execute(&directory.pool).await.unwrap();
        directory.save(profile("alice", "Alice")).await.unwrap();
        let mut queue = directory.take_queued_writes().unwrap();
        let batch = queue.next_batch().await.unwrap();
        assert!(directory.write_profiles(&batch.profiles).await.is_err());
        assert!(directory.is_unwritten(&UserId::parse("alice").unwrap()), "kept for the retry");
        assert!(directory.flush_or_fail(Duration::from_secs(3600)).await.is_err(), "without waiting an hour");
    }
}
