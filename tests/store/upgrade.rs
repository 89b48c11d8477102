//! A rolling upgrade: instances of the release before the Redis store kept its viewers
//! ordered change pages with a script that keeps only `:tabs`, `:deadlines`, `:users` and
//! `:meta`. An upgraded instance reading such a page answers it right.

use redis::Commands;

use crate::harness::{page, tab, user, users, Backend, LONG, NEVER};

/// What the older script does to a page: the tab and its user's count, and a new version,
/// but not the ordered viewers.
fn old_script_adds(redis: &mut redis::Connection, prefix: &str, field: &str, user: &str, joined_us: u64) {
    let key = |part: &str| format!("{prefix}:{{/docs}}:{part}");
    let version: u64 = redis.hget(key("meta"), "version").unwrap();
    let _: () = redis::pipe()
        .hset(key("tabs"), field, format!("{joined_us} 0"))
        .zadd(key("deadlines"), field, joined_us + 600_000_000)
        .hincr(key("users"), user, 1)
        .hset(key("meta"), "version", version + 1)
        .query(redis)
        .unwrap();
}

fn old_script_removes(redis: &mut redis::Connection, prefix: &str, field: &str, user: &str) {
    let key = |part: &str| format!("{prefix}:{{/docs}}:{part}");
    let version: u64 = redis.hget(key("meta"), "version").unwrap();
    let _: () = redis::pipe()
        .hdel(key("tabs"), field)
        .zrem(key("deadlines"), field)
        .hdel(key("users"), user)
        .hset(key("meta"), "version", version + 1)
        .query(redis)
        .unwrap();
}

#[tokio::test]
async fn pages_changed_by_an_older_instance_read_right() {
    let Some(backend) = Backend::redis(module_path!()) else { return };
    let Backend::Redis(test_redis) = &backend else { unreachable!() };
    let mut redis = redis::Client::open(test_redis.url.as_str()).unwrap().get_connection().unwrap();
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    store.join(&docs, &tab("carol", "t1"), None).await.unwrap();
    let carol = store.viewer(&docs, &user("carol")).await.unwrap().unwrap();
    let carol_us = carol.joined_at.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64;

    old_script_adds(&mut redis, &test_redis.prefix, "t1:bob", "bob", carol_us - 1);
    assert_eq!(users(&*store, &docs).await, [("bob".into(), 1), ("carol".into(), 1)], "bob joined first");
    let presence = store.presence(&docs, 1).await.unwrap();
    assert_eq!((presence.viewer_count, presence.tab_count), (2, 2));

    old_script_removes(&mut redis, &test_redis.prefix, "t1:carol", "carol");
    assert_eq!(users(&*store, &docs).await, [("bob".into(), 1)]);
    assert!(store.viewer(&docs, &user("carol")).await.unwrap().is_none());

    // Back on the upgraded script, the page goes on from what it read.
    store.join(&docs, &tab("bob", "t2"), Some(true)).await.unwrap();
    let presence = store.presence(&docs, 10).await.unwrap();
    assert_eq!(users(&*store, &docs).await, [("bob".into(), 2)]);
    assert_eq!(presence.editor, Some(user("bob")));
}
