//! GET /api/presence/stats and GET /api/presence/pages: counts now, the peak, the sampled
//! history and its retention, and the busiest pages.

use std::time::{Duration, SystemTime};

use presence::directory::stats::Sample;
use presence::directory::Directory;
use presence::domain::PagePath;
use presence::domain::Peak;
use serde_json::{json, Value};

use crate::helpers::{eventually, problem, spawn_app, spawn_app_with};

/// How long a test waits for the sampler, which runs every 100 ms in these tests.
const SAMPLED_WITHIN: Duration = Duration::from_secs(10);

fn page(path: &str) -> PagePath {
    PagePath::parse(path).unwrap()
}

fn counts(stats: &Value) -> (u64, u64, u64) {
    let count = |field: &str| stats[field].as_u64().unwrap_or_else(|| panic!("{field} in {stats}"));
    (count("viewerCount"), count("tabCount"), count("peakViewerCount"))
}

fn history(stats: &Value) -> Vec<u64> {
    stats["history"].as_array().unwrap().iter().map(|sample| sample["viewerCount"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn stats_report_the_peak_after_viewers_leave() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    let carol = app.bearer_user("carol", "Carol");
    for (caller, tab) in [(&alice, "a1"), (&bob, "b1"), (&bob, "b2"), (&carol, "c1")] {
        assert_eq!(caller.join("/auction/42", tab).await.status(), 200);
    }
    let live = alice.stats_of("/auction/42").await;
    assert_eq!(counts(&live), (3, 4, 3), "bob's two tabs are one viewer");
    let peak_at = live["peakAt"].as_str().unwrap().to_owned();
    humantime::parse_rfc3339(&peak_at).expect("peakAt is RFC 3339");

    for (caller, tab) in [(&alice, "a1"), (&bob, "b1"), (&bob, "b2"), (&carol, "c1"), (&carol, "c1")] {
        caller.leave("/auction/42", tab).await;
    }
    let after = alice.stats_of("/auction/42").await;
    assert_eq!(counts(&after), (0, 0, 3), "everyone left, a leave twice counts once, the peak stays");
    assert_eq!(after["peakAt"], peak_at.as_str(), "the peak keeps when it was reached");
    assert_eq!(after["pagePath"], "/auction/42");
}

#[tokio::test]
async fn the_peak_survives_being_saved_and_forgotten_by_the_store() {
    let app = spawn_app_with(|settings| settings.stats_sample_interval = std::time::Duration::from_millis(100)).await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/talk", "a1").await;
    bob.join("/talk", "b1").await;
    let peak_at = alice.stats_of("/talk").await["peakAt"].clone();
    alice.leave("/talk", "a1").await;
    bob.leave("/talk", "b1").await;
    // The sampler saves the peak, and then the store lets go of a gone page's peak: the
    // answer has to come from SQL.
    let forgotten =
        eventually(SAMPLED_WITHIN, || async { app.state.store.peak(&page("/talk")).await.unwrap().is_none() }).await;
    assert!(forgotten, "the store let the saved peak go");
    let stats = alice.stats_of("/talk").await;
    assert_eq!((counts(&stats), &stats["peakAt"]), ((0, 0, 2), &peak_at));
}

#[tokio::test]
async fn counts_per_page_are_independent() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/a", "a1").await;
    bob.join("/a", "b1").await;
    bob.join("/b", "b2").await;
    alice.leave("/a", "a1").await;
    assert_eq!(counts(&alice.stats_of("/a").await), (1, 1, 2));
    assert_eq!(counts(&alice.stats_of("/b").await), (1, 1, 1));
    let never = alice.stats_of("/c").await;
    assert_eq!(never, json!({"pagePath": "/c", "viewerCount": 0, "tabCount": 0, "peakViewerCount": 0, "history": []}));
}

#[tokio::test]
async fn the_history_gets_a_sample_while_viewers_are_there() {
    let app = spawn_app_with(|settings| settings.stats_sample_interval = std::time::Duration::from_millis(100)).await;
    let alice = app.dev_user("alice", "Alice").await;
    let bob = app.dev_user("bob", "Bob").await;
    alice.join("/live", "a1").await;
    bob.join("/live", "b1").await;
    bob.join("/elsewhere", "b2").await;
    let sampled = eventually(SAMPLED_WITHIN, || async { history(&alice.stats_of("/live").await).contains(&2) }).await;
    assert!(sampled, "a sample of the two viewers");
    let stats = alice.stats_of("/live").await;
    let first = &stats["history"][0];
    humantime::parse_rfc3339(first["at"].as_str().unwrap()).expect("at is RFC 3339");
    assert!(history(&alice.stats_of("/elsewhere").await).iter().all(|&count| count == 1), "its own count only");
    let recent = alice.get("/api/presence/stats?pagePath=/live&minutes=1").await;
    assert_eq!(recent.status(), 200);

    alice.leave("/live", "a1").await;
    bob.leave("/live", "b1").await;
    let zero =
        eventually(SAMPLED_WITHIN, || async { history(&alice.stats_of("/live").await).last() == Some(&0) }).await;
    assert!(zero, "a 0 sample says everyone left, instead of a gap");
}

#[tokio::test]
async fn retention_forgets_old_samples_and_the_peaks_of_pages_gone_that_long() {
    let dir = tempfile::tempdir().unwrap();
    let directory = Directory::connect(&format!("sqlite:{}", dir.path().join("stats.db").display())).await.unwrap();
    let day = Duration::from_secs(24 * 3600);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_255_200);
    let (old, recent) = (now - 8 * day, now - day);
    let (gone, busy, late) = (page("/gone"), page("/busy"), page("/late"));
    let peak = |viewer_count, at| Peak { viewer_count, at };
    directory
        .record_stats(
            old,
            &[(gone.clone(), 4), (busy.clone(), 9)],
            &[(gone.clone(), peak(4, old)), (busy.clone(), peak(9, old))],
        )
        .await
        .unwrap();
    directory.record_stats(recent, &[(busy.clone(), 3)], &[(busy.clone(), peak(3, recent))]).await.unwrap();
    // A page that came and went between two samples has a peak and no sample.
    directory.record_stats(recent, &[], &[(late.clone(), peak(1, recent))]).await.unwrap();

    assert_eq!(directory.forget_stats_before(now - 7 * day).await.unwrap(), 2, "the two old samples");
    let since_ever = SystemTime::UNIX_EPOCH;
    assert!(directory.history(&gone, since_ever).await.unwrap().is_empty());
    assert_eq!(directory.saved_peak(&gone).await.unwrap(), None, "no viewer within the retention: forgotten");
    assert_eq!(directory.history(&busy, since_ever).await.unwrap(), [Sample { at: recent, viewer_count: 3 }]);
    assert_eq!(directory.saved_peak(&busy).await.unwrap(), Some(peak(9, old)), "a lower count keeps the peak");
    assert_eq!(directory.saved_peak(&late).await.unwrap(), Some(peak(1, recent)), "a recent peak stays");
    assert!(directory.history(&busy, now).await.unwrap().is_empty(), "history starts at `since`");
}

#[tokio::test]
async fn pages_lists_the_busiest_first_up_to_the_limit() {
    let app = spawn_app().await;
    let users = [app.dev_user("u1", "U1").await, app.dev_user("u2", "U2").await, app.dev_user("u3", "U3").await];
    let joins = [("/one", 0, "t"), ("/two", 0, "t"), ("/two", 1, "t"), ("/tabs", 0, "t1"), ("/tabs", 0, "t2")];
    for (path, user, tab) in joins {
        users[user].join(path, tab).await;
    }
    users[2].join("/gone", "t").await;
    users[2].leave("/gone", "t").await;
    let listed: Value = users[0].pages(None).await.json().await.unwrap();
    assert_eq!(
        listed,
        json!({"pages": [
            {"pagePath": "/two", "viewerCount": 2, "tabCount": 2},
            {"pagePath": "/tabs", "viewerCount": 1, "tabCount": 2},
            {"pagePath": "/one", "viewerCount": 1, "tabCount": 1},
        ]}),
        "most viewers, then most tabs; a page nobody is on is not listed"
    );
    let top: Value = users[0].pages(Some(1)).await.json().await.unwrap();
    assert_eq!(top["pages"].as_array().unwrap().len(), 1);

    for i in 0..25 {
        users[1].join(&format!("/many/{i:02}"), "t").await;
    }
    let default: Value = users[0].pages(None).await.json().await.unwrap();
    let paths: Vec<&str> =
        default["pages"].as_array().unwrap().iter().map(|p| p["pagePath"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 20, "20 pages unless a limit says otherwise");
    assert_eq!(&paths[..4], ["/two", "/tabs", "/many/00", "/many/01"], "ties by path");
}

#[tokio::test]
async fn bad_queries_are_problems_naming_the_field() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let cases = [
        ("/api/presence/stats", "pagePath"),
        ("/api/presence/stats?pagePath=docs", "pagePath"),
        ("/api/presence/stats?pagePath=/a/../b", "pagePath"),
        ("/api/presence/stats?pagePath=/a&minutes=0", "minutes"),
        ("/api/presence/stats?pagePath=/a&minutes=1.5", "minutes"),
        ("/api/presence/stats?pagePath=/a&minutes=10081", "minutes"),
        ("/api/presence/pages?limit=0", "limit"),
        ("/api/presence/pages?limit=101", "limit"),
        ("/api/presence/pages?limit=-1", "limit"),
    ];
    for (path, field) in cases {
        let body = problem(alice.get(path).await, 400).await;
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    let body = problem(alice.get("/api/presence/stats?pagePath=/a&minutes=20000").await, 400).await;
    assert!(body["detail"].as_str().unwrap().contains("10080"), "says how far back it may go: {body}");
}

#[tokio::test]
async fn stats_and_pages_need_a_signed_in_caller() {
    let app = spawn_app().await;
    app.dev_user("alice", "Alice").await.join("/secret", "a1").await;
    let anonymous = app.anonymous();
    problem(anonymous.stats("/secret").await, 401).await;
    problem(anonymous.pages(None).await, 401).await;
    let forged = crate::helpers::Caller { bearer: Some("not.a.jwt".into()), ..app.anonymous() };
    problem(forged.stats("/secret").await, 401).await;
}
