//! Viewer stats in SQL: the sampled history of each page's viewer count, and its peak.
//!
//! The stats sampler writes here; `GET /api/presence/stats` reads. Times are unix
//! milliseconds in `BIGINT` columns, so the SQL is the same for SQLite and Postgres.

use std::time::SystemTime;

use anyhow::Context;
use sqlx::Row;

use super::Directory;
use crate::domain::time::{from_unix_millis, unix_millis};
use crate::domain::{PagePath, Peak};

/// A page's viewer count at one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: SystemTime,
    pub viewer_count: usize,
}

impl Directory {
    /// Writes one sample per page, all at `at`, and raises the saved peaks to `peaks`
    /// where they are higher, in one transaction.
    pub async fn record_stats(
        &self,
        at: SystemTime,
        samples: &[(PagePath, usize)],
        peaks: &[(PagePath, Peak)],
    ) -> anyhow::Result<()> {
        let mut transaction = self.pool.begin().await.context("starting to record stats")?;
        for (page, viewer_count) in samples {
            // A second sample of a page at the same millisecond adds nothing.
            sqlx::query(
                "INSERT INTO viewer_samples (page_path, sampled_at, viewer_count) VALUES ($1, $2, $3) \
                 ON CONFLICT (page_path, sampled_at) DO NOTHING",
            )
            .bind(page.as_str())
            .bind(unix_millis(at))
            .bind(count(*viewer_count))
            .execute(&mut *transaction)
            .await
            .with_context(|| format!("saving a viewer sample of {page}"))?;
        }
        for (page, peak) in peaks {
            // Only a higher count replaces a peak: an equal one keeps when it was first reached.
            sqlx::query(
                "INSERT INTO page_peaks (page_path, viewer_count, peak_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (page_path) DO UPDATE SET viewer_count = excluded.viewer_count, \
                 peak_at = excluded.peak_at WHERE excluded.viewer_count > page_peaks.viewer_count",
            )
            .bind(page.as_str())
            .bind(count(peak.viewer_count))
            .bind(unix_millis(peak.at))
            .execute(&mut *transaction)
            .await
            .with_context(|| format!("saving the peak of {page}"))?;
        }
        transaction.commit().await.context("committing the stats")
    }

    /// The page's saved peak, if it has one.
    pub async fn saved_peak(&self, page: &PagePath) -> anyhow::Result<Option<Peak>> {
        let row = sqlx::query("SELECT viewer_count, peak_at FROM page_peaks WHERE page_path = $1")
            .bind(page.as_str())
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("loading the peak of {page}"))?;
        row.map(|row| Ok(Peak { viewer_count: from_count(row.try_get(0)?), at: from_unix_millis(row.try_get(1)?) }))
            .transpose()
    }

    /// The page's samples taken at or after `since`, oldest first.
    pub async fn history(&self, page: &PagePath, since: SystemTime) -> anyhow::Result<Vec<Sample>> {
        let rows = sqlx::query(
            "SELECT sampled_at, viewer_count FROM viewer_samples \
             WHERE page_path = $1 AND sampled_at >= $2 ORDER BY sampled_at",
        )
        .bind(page.as_str())
        .bind(unix_millis(since))
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("loading the history of {page}"))?;
        rows.into_iter()
            .map(|row| Ok(Sample { at: from_unix_millis(row.try_get(0)?), viewer_count: from_count(row.try_get(1)?) }))
            .collect()
    }

    /// Deletes samples taken before `cutoff`, and the peaks of pages left with no sample
    /// whose peak is older too: stats of a page nobody visited within the retention.
    /// Answers how many samples went.
    pub async fn forget_stats_before(&self, cutoff: SystemTime) -> anyhow::Result<u64> {
        let deleted = sqlx::query("DELETE FROM viewer_samples WHERE sampled_at < $1")
            .bind(unix_millis(cutoff))
            .execute(&self.pool)
            .await
            .context("deleting old viewer samples")?
            .rows_affected();
        sqlx::query(
            "DELETE FROM page_peaks WHERE peak_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM viewer_samples WHERE viewer_samples.page_path = page_peaks.page_path)",
        )
        .bind(unix_millis(cutoff))
        .execute(&self.pool)
        .await
        .context("deleting the peaks of pages without samples")?;
        Ok(deleted)
    }
}

fn count(count: usize) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}

/// Counts are never negative (the schema checks it); a bad row reads as 0 rather than failing.
fn from_count(count: i64) -> usize {
    count.try_into().unwrap_or(0)
}
