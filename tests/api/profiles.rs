//! Profiles in batches: a cold snapshot reads its viewers' profiles from SQL in one query,
//! a bearer token's profile is written behind the request yet every saved profile is in
//! SQL after a graceful stop, and a changed name reaches the other instances on one Redis
//! (those cases are skipped, saying so, when `PRESENCE_TEST_REDIS_URL` is not set).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use sqlx::{AnyConnection, Connection, Row};

use crate::common::TestRedis;
use crate::helpers::{eventually, spawn_app, spawn_app_with, Caller, TestApp};

const SOON: Duration = Duration::from_secs(10);

/// A connection to the app's database, whichever kind it is.
async fn database(app: &TestApp) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(&app.settings.database_url).await.expect("the test database")
}

/// Every row of the user directory as (id, name), by id.
async fn users_in_sql(app: &TestApp) -> Vec<(String, String)> {
    let rows = sqlx::query("SELECT id, name FROM users ORDER BY id").fetch_all(&mut database(app).await).await;
    rows.unwrap().iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// The name `page`'s snapshot shows for `user`, if it lists them.
async fn name_in(caller: &Caller, page: &str, user: &str) -> Option<String> {
    let snapshot = caller.snapshot(page).await;
    let viewers = snapshot["viewers"].as_array().unwrap();
    viewers.iter().find(|viewer| viewer["id"] == user).map(|viewer| viewer["name"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_cold_list_reads_its_viewers_profiles_from_sql_in_one_query() {
    const VIEWERS: usize = 60;
    let app = spawn_app().await;
    for i in 0..VIEWERS {
        let viewer = app.bearer_user(&format!("v{i:02}"), &format!("Viewer {i}"));
        let joined = viewer.post_minimal("/api/presence/join", json!({"pagePath": "/big", "tabId": "t"})).await;
        assert_eq!(joined.status(), 204);
    }
    app.state.directory.flush(SOON).await.expect("every saved profile written");
    // Renamed in SQL behind the app's back, and one user gone from it: names the list can
    // only have read from SQL.
    let mut sql = database(&app).await;
    for statement in ["UPDATE users SET name = 'SQL ' || id", "DELETE FROM users WHERE id = 'v07'"] {
        sqlx::query(statement).execute(&mut sql).await.unwrap();
    }
    // Not a viewer, so its own saved profile is no part of the page.
    let lister = app.bearer_user("lister", "Lister");
    // A cold cache, as after announcements were missed.
    app.state.directory.forget_all();

    let reads_before = app.state.directory.profile_reads();
    let snapshot = lister.snapshot("/big").await;
    let reads = app.state.directory.profile_reads() - reads_before;
    let names: Vec<&str> =
        snapshot["viewers"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    let expected: Vec<String> =
        (0..VIEWERS).map(|i| if i == 7 { "v07".into() } else { format!("SQL v{i:02}") }).collect();
    assert_eq!(names, expected, "every name from SQL, the unknown user by id");
    assert!((1..=2).contains(&reads), "{VIEWERS} cold profiles read in {reads} queries, not one each");

    let reads_before = app.state.directory.profile_reads();
    app.bearer_user("v00", "SQL v00").join("/big", "t2").await;
    lister.snapshot("/big").await;
    assert_eq!(app.state.directory.profile_reads(), reads_before, "cached profiles cost no query");
}

#[tokio::test]
async fn after_a_graceful_stop_every_saved_profile_is_in_sql() {
    let mut app = spawn_app().await;
    // A sign-in is answered once its profile is written (and whatever was queued before).
    app.dev_user("signed-in", "Signed In").await;
    assert_eq!(users_in_sql(&app).await, [("signed-in".into(), "Signed In".into())]);
    let mut expected = vec![("signed-in".to_owned(), "Signed In".to_owned())];
    for i in 0..40 {
        let (id, name) = (format!("u{i:02}"), format!("User {i}"));
        assert_eq!(app.bearer_user(&id, &name).join("/docs", "t").await.status(), 200);
        expected.push((id, name));
    }
    assert_eq!(app.bearer_user("u00", "User 0 renamed").heartbeat("/docs", "t", false).await.status(), 200);
    expected[1].1 = "User 0 renamed".into();
    expected.sort();

    app.stop().await;
    assert_eq!(users_in_sql(&app).await, expected, "the latest profile of every user");
}

#[tokio::test]
async fn a_changed_name_shows_at_once_on_its_own_instance() {
    let app = spawn_app().await;
    let alice = app.bearer_user("alice", "Alice");
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    let bob = app.bearer_user("bob", "Bob");
    assert_eq!(name_in(&bob, "/docs", "alice").await.as_deref(), Some("Alice"));
    let renamed = app.bearer_user("alice", "Alice Martin");
    assert_eq!(renamed.heartbeat("/docs", "a1", false).await.status(), 200);
    assert_eq!(name_in(&bob, "/docs", "alice").await.as_deref(), Some("Alice Martin"), "without waiting for SQL");
}

/// An instance on the test's Redis, sharing the user directory of `beside` if given.
async fn instance(redis: &TestRedis, beside: Option<&TestApp>) -> TestApp {
    spawn_app_with(|settings| {
        settings.redis_url = Some(SecretString::from(redis.url.as_str()));
        settings.redis_prefix = redis.prefix.clone();
        if let Some(first) = beside {
            settings.database_url = first.settings.database_url.clone();
        }
    })
    .await
}

#[tokio::test]
async fn a_name_changed_by_a_bearer_token_is_seen_by_another_instance_on_redis() {
    let Some(redis) = TestRedis::for_test(module_path!()) else { return };
    let a = instance(&redis, None).await;
    let b = instance(&redis, Some(&a)).await;
    assert_eq!(a.bearer_user("alice", "Alice").join("/docs", "a1").await.status(), 200);
    let bob = b.bearer_user("bob", "Bob");
    // b may read alice before her row is written (and show her id); the announcement that
    // follows the write makes it read her again.
    let named = |name: &'static str| {
        let bob = &bob;
        move || async move { name_in(bob, "/docs", "alice").await.as_deref() == Some(name) }
    };
    assert!(eventually(SOON, named("Alice")).await, "b reads alice's written profile");

    let renamed = a.bearer_user("alice", "Alice Martin");
    assert_eq!(renamed.heartbeat("/docs", "a1", false).await.status(), 200);
    assert!(eventually(SOON, named("Alice Martin")).await, "b drops its copy once a has written the change");
}

#[tokio::test]
async fn a_newcomer_is_served_while_the_directory_cannot_write_and_written_once_it_can() {
    let app = spawn_app().await;
    let mut sql = database(&app).await;
    sqlx::query("ALTER TABLE users RENAME TO users_gone").execute(&mut sql).await.unwrap();
    let newcomer = app.bearer_user("newcomer", "Newcomer");
    assert_eq!(newcomer.join("/docs", "n1").await.status(), 200, "its profile waits in the queue");
    assert_eq!(name_in(&newcomer, "/docs", "newcomer").await.as_deref(), Some("Newcomer"));

    sqlx::query("ALTER TABLE users_gone RENAME TO users").execute(&mut sql).await.unwrap();
    // The writer retries after a pause of at most 5 s.
    let written = || async { users_in_sql(&app).await == [("newcomer".to_owned(), "Newcomer".to_owned())] };
    assert!(eventually(Duration::from_secs(20), written).await, "written by a retry");
}
