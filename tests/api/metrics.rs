//! GET /metrics: what it counts after real requests, read back from the parsed exposition.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, ORIGIN};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{eventually, spawn_app, spawn_app_with, EventStream, TestApp};
use crate::openapi::{drop_stats_tables, drop_users_table};

const SOON: Duration = Duration::from_secs(10);
const REQUESTS: &str = "presence_http_requests_total";
const REJECTED: &str = "presence_rejected_requests_total";
const STORE_ERRORS: &str = "presence_store_errors_total";
const STREAMS: &str = "presence_sse_connections";

/// One scrape, parsed: a sample per line that is not a comment.
pub struct Scrape {
    samples: Vec<Sample>,
}

struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Scrape {
    /// The samples called `name` that carry every one of `labels`.
    fn matching<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |sample| {
            sample.name == name && labels.iter().all(|(k, v)| sample.labels.get(*k).is_some_and(|value| value == v))
        })
    }

    /// The sum of the samples called `name` that carry every one of `labels`, or `None` if
    /// there is no such sample.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).map(|sample| sample.value).reduce(|a, b| a + b)
    }

    /// Like `value`, with no such sample counting as 0.
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    /// Every value the label `label` takes in the samples called `name`.
    fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.matching(name, &[]).filter_map(|sample| sample.labels.get(label).cloned()).collect()
    }

    fn parse(text: &str) -> Self {
        let samples = text.lines().filter(|line| !line.starts_with('#')).map(Sample::parse).collect();
        Self { samples }
    }
}

impl Sample {
    /// `name value` or `name{key="value",…} value`.
    fn parse(line: &str) -> Self {
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("a sample line: {line:?}"));
        let (name, mut rest) = line.split_at(name_end);
        let mut labels = BTreeMap::new();
        if let Some(mut inside) = rest.strip_prefix('{') {
            loop {
                inside = inside.trim_start_matches(',');
                if let Some(after) = inside.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (key, quoted) = inside.split_once("=\"").unwrap_or_else(|| panic!("a label in {line:?}"));
                let (value, after) = unquote(quoted, line);
                labels.insert(key.to_owned(), value);
                inside = after;
            }
        }
        let value = rest.trim().parse().unwrap_or_else(|_| panic!("a sample value in {line:?}"));
        Self { name: name.to_owned(), labels, value }
    }
}

/// A label value up to its closing quote, with `\\`, `\"` and `\n` unescaped, and what
/// follows the quote.
fn unquote<'a>(quoted: &'a str, line: &str) -> (String, &'a str) {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    loop {
        match chars.next() {
            Some((at, '"')) => return (value, &quoted[at + 1..]),
            Some((_, '\\')) => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, escaped)) => value.push(escaped),
                None => panic!("an escape at the end of {line:?}"),
            },
            Some((_, c)) => value.push(c),
            None => panic!("an unterminated label value in {line:?}"),
        }
    }
}

/// `GET /metrics`, checked to be a whole OpenMetrics exposition, and parsed.
pub async fn scrape(app: &TestApp) -> Scrape {
    let response = app.anonymous().get("/metrics").await;
    assert_eq!(response.status(), 200, "GET /metrics");
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "content type {content_type}");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "the exposition ends with # EOF:\n{text}");
    Scrape::parse(&text)
}

#[test]
fn the_parser_reads_labels_escapes_and_bare_samples() {
    let scrape = Scrape::parse(
        "# TYPE a counter\na_total{x=\"1\",y=\"q\\\"uo\\\\te,}\"} 3\nb 2.5\nc{} 1\na_total{x=\"2\",y=\"\"} 4\n# EOF\n",
    );
    assert_eq!(scrape.value("a_total", &[("y", "q\"uo\\te,}")]), Some(3.0));
    assert_eq!(scrape.value("a_total", &[]), Some(7.0));
    assert_eq!(scrape.value("b", &[]), Some(2.5));
    assert_eq!(scrape.value("c", &[]), Some(1.0));
    assert_eq!(scrape.value("a_total", &[("x", "3")]), None);
    assert_eq!(scrape.label_values("a_total", "x"), BTreeSet::from(["1".into(), "2".into()]));
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_and_status_and_timed() {
    let app = spawn_app().await;
    let alice = app.bearer_user("alice", "Alice");
    assert_eq!(alice.join("/docs/a", "t1").await.status(), 200);
    assert_eq!(alice.join("/docs/b", "t1").await.status(), 200);
    assert_eq!(alice.join("no-slash", "t1").await.status(), 400);
    assert_eq!(alice.list("/docs/a").await.status(), 200);

    let scrape = scrape(&app).await;
    let join = ("route", "/api/presence/join");
    assert_eq!(scrape.value(REQUESTS, &[join, ("status", "200"), ("method", "POST")]), Some(2.0));
    assert_eq!(scrape.value(REQUESTS, &[join, ("status", "400")]), Some(1.0));
    assert_eq!(scrape.value(REQUESTS, &[("route", "/api/presence/list"), ("status", "200")]), Some(1.0));
    let routes = scrape.label_values(REQUESTS, "route");
    assert!(routes.iter().all(|route| !route.contains("docs")), "no page path is a label: {routes:?}");

    // Every bucket of the histogram, cumulative, the last one holding every request.
    let mut buckets: Vec<(f64, f64)> = scrape
        .matching("presence_http_request_duration_seconds_bucket", &[join])
        .map(|sample| (sample.labels["le"].parse().expect("a bound"), sample.value))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 13, "12 bounds and +Inf: {buckets:?}");
    assert!(buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1), "the buckets are cumulative: {buckets:?}");
    assert_eq!(buckets.last(), Some(&(f64::INFINITY, 3.0)));
    assert_eq!(scrape.value("presence_http_request_duration_seconds_count", &[join]), Some(3.0));
    let sum = scrape.value("presence_http_request_duration_seconds_sum", &[join]).unwrap();
    assert!(sum > 0.0, "the latencies add up to more than nothing: {sum}");
}

#[tokio::test]
async fn unknown_paths_and_methods_add_no_label_values() {
    let app = spawn_app().await;
    let caller = app.anonymous();
    let brew = || Method::from_bytes(b"BREW").unwrap();
    let labels = |scrape: &Scrape| (scrape.label_values(REQUESTS, "route"), scrape.label_values(REQUESTS, "method"));
    // One request of each kind first, so the label values they bring are there before.
    assert_eq!(caller.get("/no/such/path").await.status(), 404);
    assert_eq!(caller.request(brew(), "/healthz").send().await.unwrap().status(), 405);
    assert_eq!(caller.request(Method::POST, "/healthz").send().await.unwrap().status(), 405);
    scrape(&app).await; // A scrape is counted once it has answered: this one is in the next.
    let before = scrape(&app).await;

    for _ in 0..20 {
        let path = format!("/{:016x}/{:08x}", rand::random::<u64>(), rand::random::<u32>());
        assert_eq!(caller.get(&path).await.status(), 404, "{path}");
        assert_eq!(caller.request(brew(), &path).send().await.unwrap().status(), 404, "BREW {path}");
    }
    assert_eq!(caller.request(brew(), "/healthz").send().await.unwrap().status(), 405);
    let after = scrape(&app).await;

    let (routes, methods) = labels(&after);
    assert_eq!((&routes, &methods), (&labels(&before).0, &labels(&before).1), "no new label value");
    assert!(routes.contains("unmatched") && routes.contains("/healthz"), "{routes:?}");
    assert_eq!(methods, BTreeSet::from(["GET".into(), "POST".into(), "other".into()]));
    assert_eq!(after.value(REQUESTS, &[("route", "unmatched"), ("status", "404")]), Some(41.0));
    assert_eq!(after.value(REQUESTS, &[("route", "/healthz"), ("status", "405"), ("method", "other")]), Some(2.0));
    assert_eq!(after.value(REJECTED, &[("reason", "not_found")]), Some(41.0));
    assert_eq!(after.value(REJECTED, &[("reason", "method_not_allowed")]), Some(3.0));
}

#[tokio::test]
async fn every_refusal_is_counted_by_its_reason() {
    let app = spawn_app().await;
    let alice = app.dev_user("alice", "Alice").await;
    let join = "/api/presence/join";
    let raw = |content_type: &str, body: String| {
        alice.request(Method::POST, join).header(CONTENT_TYPE, content_type).body(body).send()
    };
    let cases = [
        ("validation", 400, alice.join("docs", "t1").await.status()),
        ("validation", 400, alice.join("/docs", "no spaces").await.status()),
        ("malformed", 400, raw("application/json", "{not json".into()).await.unwrap().status()),
        ("unauthorized", 401, app.anonymous().join("/docs", "t1").await.status()),
        (
            "cross_site",
            403,
            alice
                .request(Method::POST, join)
                .header(ORIGIN, "https://evil.example")
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status(),
        ),
        ("payload_too_large", 413, raw("application/json", "x".repeat(5000)).await.unwrap().status()),
        ("unsupported_media_type", 415, raw("application/xml", "<tab/>".into()).await.unwrap().status()),
    ];
    let scrape = scrape(&app).await;
    let mut expected: BTreeMap<&str, f64> = BTreeMap::new();
    for (reason, status, answered) in cases {
        assert_eq!(answered, status, "{reason}");
        *expected.entry(reason).or_default() += 1.0;
    }
    let counted: BTreeMap<&str, f64> =
        expected.keys().map(|reason| (*reason, scrape.count(REJECTED, &[("reason", reason)]))).collect();
    assert_eq!(counted, expected);
    assert_eq!(scrape.value(REJECTED, &[]), Some(7.0), "nothing else was refused");
    assert_eq!(scrape.value(STORE_ERRORS, &[]), Some(0.0), "a refusal is no store error");
}

#[tokio::test]
async fn refusals_by_a_limit_are_counted_by_the_limit() {
    let app = spawn_app_with(|settings| {
        settings.max_tabs_per_user = 1;
        settings.max_tabs = 1;
        settings.max_streams_per_user = 1;
        settings.rate_limit_per_user = 1;
    })
    .await;
    let alice = app.dev_user("alice", "Alice").await;
    assert_eq!(alice.join("/docs", "a1").await.status(), 200);
    assert_eq!(alice.join("/docs", "a2").await.status(), 429);
    let bob = app.dev_user("bob", "Bob").await;
    assert_eq!(bob.join("/docs", "b1").await.status(), 503);
    let _open = EventStream::open(&alice, "/docs").await;
    assert_eq!(alice.get("/api/presence/stream?pagePath=/docs").await.status(), 429);
    let carol = app.bearer_user("carol", "Carol");
    for _ in 0..10 {
        assert_eq!(carol.list("/docs").await.status(), 200, "a burst of ten seconds' worth");
    }
    assert_eq!(carol.list("/docs").await.status(), 429);
    let scrape = scrape(&app).await;
    for reason in ["too_many_tabs", "full", "too_many_streams", "rate_limited"] {
        assert_eq!(scrape.value(REJECTED, &[("reason", reason)]), Some(1.0), "{reason}");
    }
}

#[tokio::test]
async fn live_tabs_and_pages_follow_joins_and_leaves() {
    let app = spawn_app().await;
    let live = |scrape: Scrape| {
        (scrape.value("presence_live_tabs", &[]).unwrap(), scrape.value("presence_live_pages", &[]).unwrap())
    };
    assert_eq!(live(scrape(&app).await), (0.0, 0.0));

    let alice = app.bearer_user("alice", "Alice");
    let bob = app.bearer_user("bob", "Bob");
    alice.join("/a", "t1").await;
    alice.join("/a", "t2").await;
    bob.join("/a", "t1").await;
    bob.join("/b", "t2").await;
    assert_eq!(live(scrape(&app).await), (4.0, 2.0));

    bob.leave("/b", "t2").await;
    assert_eq!(live(scrape(&app).await), (3.0, 1.0));
    alice.leave("/a", "t1").await;
    alice.leave("/a", "t2").await;
    bob.leave("/a", "t1").await;
    assert_eq!(live(scrape(&app).await), (0.0, 0.0));
}

#[tokio::test]
async fn the_stream_gauge_counts_open_streams_until_their_clients_go() {
    // A short keepalive: the server notices a client that went away at its next write.
    let app = spawn_app_with(|settings| settings.stream_keepalive = std::time::Duration::from_millis(100)).await;
    let streams = |scrape: Scrape| scrape.value(STREAMS, &[]).unwrap();
    assert_eq!(streams(scrape(&app).await), 0.0);

    let bob = app.bearer_user("bob", "Bob");
    let mut first = EventStream::open(&bob, "/docs").await;
    first.next_named("snapshot", SOON).await.expect("a first snapshot");
    let mut second = EventStream::open(&bob, "/other").await;
    second.next_named("snapshot", SOON).await.expect("a first snapshot");
    assert_eq!(streams(scrape(&app).await), 2.0);

    drop(first);
    assert!(eventually(SOON, || async { streams(scrape(&app).await) == 1.0 }).await, "one stream closed");
    drop(second);
    assert!(eventually(SOON, || async { streams(scrape(&app).await) == 0.0 }).await, "both streams closed");
}

/// A profile written behind that SQL refuses is counted (and tried again), while the
/// request that brought it was answered at once.
#[tokio::test]
async fn failed_profile_writes_are_counted() {
    let app = spawn_app().await;
    drop_users_table(&app).await;
    assert_eq!(app.bearer_user("bob", "Bob").join("/docs", "t1").await.status(), 200, "not waiting for SQL");
    let failed = || async { scrape(&app).await.count(STORE_ERRORS, &[("operation", "profile_write")]) };
    assert!(eventually(SOON, || async { failed().await >= 1.0 }).await, "the write behind failed and was counted");
}

#[tokio::test]
async fn store_failures_are_counted_where_they_happen() {
    let app = spawn_app_with(|settings| settings.stats_sample_interval = std::time::Duration::from_millis(50)).await;
    let alice = app.bearer_user("alice", "Alice");
    alice.join("/docs", "t1").await;
    drop_stats_tables(&app).await;

    assert_eq!(alice.stats("/docs").await.status(), 503);
    let failed = |operation: &'static str| {
        let app = &app;
        async move { scrape(app).await.count(STORE_ERRORS, &[("operation", operation)]) }
    };
    assert_eq!(failed("request").await, 1.0, "the 503");
    assert!(eventually(SOON, || async { failed("stats_sample").await >= 1.0 }).await, "the sampler failed");
    let scrape = scrape(&app).await;
    assert_eq!(scrape.value(REJECTED, &[("reason", "unavailable")]), Some(1.0));
    let operations = scrape.label_values(STORE_ERRORS, "operation");
    let expected = ["profile_write", "request", "scrape", "stats_sample", "stream", "sweep"];
    assert_eq!(operations, expected.into_iter().map(String::from).collect(), "every operation, from the start");
    assert_eq!(scrape.value("presence_live_tabs", &[]), Some(1.0), "the registry is fine");
}
