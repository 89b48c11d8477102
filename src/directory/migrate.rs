//! Runs the migrations (`migrations/`). One applied migration later had its opening comment
//! reworded, which changes its checksum: a database migrated before still holds the old
//! one, so it is re-pointed to the new before the migrations run (nothing but the comment
//! changed, so the schema is the same).

use anyhow::Context;
use sqlx::AnyPool;

/// The migration whose comment was reworded, and its checksum (SHA-384) as first applied.
const REWORDED: i64 = 20261122000000;
const REWORDED_FIRST_CHECKSUM: [u8; 48] = [
    57, 50, 69, 132, 227, 139, 37, 99, 15, 41, 224, 206, 6, 62, 201, 220, 75, 122, 3, 72, 108, 78, 49, 170, 23, 79,
    100, 50, 61, 211, 148, 255, 143, 140, 241, 17, 134, 152, 202, 148, 96, 255, 39, 45, 138, 196, 30, 25,
];

pub async fn run(pool: &AnyPool) -> anyhow::Result<()> {
    let migrator = sqlx::migrate!("./migrations");
    if let Some(migration) = migrator.iter().find(|migration| migration.version == REWORDED) {
        // A new database has no table of applied migrations yet, which fails this
        // harmlessly; any other failure shows in the run below.
        let _ = sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3")
            .bind(migration.checksum.to_vec())
            .bind(REWORDED)
            .bind(REWORDED_FIRST_CHECKSUM.to_vec())
            .execute(pool)
            .await;
    }
    migrator.run(pool).await.context("running the migrations")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Directory;

    #[tokio::test]
    async fn a_database_migrated_before_the_comment_changed_still_opens() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", folder.path().join("presence.db").display());
        drop(Directory::connect(&url).await.unwrap());
        let pool = AnyPool::connect(&url).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2")
            .bind(REWORDED_FIRST_CHECKSUM.to_vec())
            .bind(REWORDED)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        Directory::connect(&url).await.expect("the old checksum is re-pointed");
    }
}
