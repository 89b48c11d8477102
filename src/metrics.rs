//! The service's metrics, served by `GET /metrics` in the OpenMetrics text format that
//! Prometheus scrapes: requests by route and status with their latency, live tabs and
//! pages, open streams, store errors and problem answers by reason.
//!
//! Each `Application` owns its registry (there is no process-wide recorder), so apps that
//! share a process, as the API tests do, count apart. Every label takes its values from a
//! small fixed set (route patterns, methods, statuses, reasons, operations): nothing a client
//! chooses (a raw path, a page, a user, a tab) becomes a label, so the series cannot grow
//! without bound.

use std::fmt::Write;
use std::time::Duration;

use actix_web::http::StatusCode;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::domain::PageCounts;
use crate::error::Rejection;

/// What `GET /metrics` answers: the OpenMetrics text format, which Prometheus prefers.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const PREFIX: &str = "presence";

/// Upper bounds of the latency buckets, in seconds: most answers take well under a
/// millisecond, a store that struggles shows in the upper ones.
const LATENCY_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The route of every request that no route matched, whatever its path.
const UNMATCHED: &str = "unmatched";

/// The methods counted by name; a client may send any token as a method, so every other
/// one is `other`.
const METHODS: [&str; 9] = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"];

/// Where a backing store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOperation {
    /// A request, answered 503 `unavailable`.
    Request,
    /// A live-update stream, which ends.
    Stream,
    /// The background sweep of expired tabs.
    Sweep,
    /// The stats sampler.
    StatsSample,
    /// A scrape of these metrics, answered without the live counts.
    Scrape,
    /// A batch of profiles written behind to SQL, which is tried again.
    ProfileWrite,
}

impl StoreOperation {
    const ALL: [Self; 6] =
        [Self::Request, Self::Stream, Self::Sweep, Self::StatsSample, Self::Scrape, Self::ProfileWrite];

    fn label(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Stream => "stream",
            Self::Sweep => "sweep",
            Self::StatsSample => "stats_sample",
            Self::Scrape => "scrape",
            Self::ProfileWrite => "profile_write",
        }
    }
}

impl EncodeLabelValue for StoreOperation {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.label())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    operation: StoreOperation,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// One app's metrics. Recording is a few atomic adds and map look-ups under read locks.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    streams: Gauge,
    store_errors: Family<OperationLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer's head (for a stream, its start), by method and route pattern",
            Unit::Seconds,
            latency.clone(),
        );
        let streams = Gauge::default();
        registry.register("sse_connections", "Open live-update streams (GET /api/presence/stream)", streams.clone());
        let store_errors: Family<OperationLabels, Counter> = Family::default();
        registry.register(
            "store_errors",
            "Failures of a backing store (the registry, Redis, the SQL directory), by where they happened",
            store_errors.clone(),
        );
        // Every operation from the start, so a rate over them is 0 rather than missing.
        for operation in StoreOperation::ALL {
            store_errors.get_or_create_owned(&OperationLabels { operation });
        }
        let rejected = Family::default();
        registry.register(
            "rejected_requests",
            "Requests answered with a problem (4xx or 5xx), by reason",
            rejected.clone(),
        );
        Self { registry, requests, latency, streams, store_errors, rejected }
    }
}

impl Metrics {
    /// Counts and times one answered request; `route` is the matched route pattern, `None`
    /// when no route matched.
    pub fn record_request(
        &self,
        method: &str,
        route: Option<String>,
        status: StatusCode,
        elapsed: Duration,
        rejection: Option<Rejection>,
    ) {
        let method = METHODS.into_iter().find(|name| *name == method).unwrap_or("other");
        let route = route.unwrap_or_else(|| UNMATCHED.to_owned());
        let labels = RouteLabels { method, route };
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
        let RouteLabels { method, route } = labels;
        self.requests.get_or_create(&RequestLabels { method, route, status: status.as_u16() }).inc();
        if let Some(rejection) = rejection {
            self.rejected.get_or_create(&ReasonLabels { reason: rejection.reason }).inc();
            if rejection.store_failed {
                self.store_failed(StoreOperation::Request);
            }
        }
    }

    pub fn store_failed(&self, operation: StoreOperation) {
        self.store_errors.get_or_create(&OperationLabels { operation }).inc();
    }

    /// The count of the background sweep's failures, for the store that runs the sweep.
    pub fn sweep_failures(&self) -> Counter {
        self.store_errors.get_or_create_owned(&OperationLabels { operation: StoreOperation::Sweep })
    }

    /// Counts a stream as open until the answer is dropped.
    pub fn stream_opened(&self) -> OpenStream {
        self.streams.inc();
        OpenStream(self.streams.clone())
    }

    /// The whole exposition, with the live tabs and pages when the store could be read.
    pub fn render(&self, live: Option<&[PageCounts]>) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode_registry(&mut text, &self.registry)?;
        if let Some(pages) = live {
            let mut now = Registry::with_prefix(PREFIX);
            let tabs: usize = pages.iter().map(|page| page.tab_count).sum();
            now.register("live_tabs", "Live tabs on every page", ConstGauge::new(gauge_value(tabs)));
            now.register("live_pages", "Pages with at least one live tab", ConstGauge::new(gauge_value(pages.len())));
            encode_registry(&mut text, &now)?;
        }
        encode_eof(&mut text)?;
        Ok(text)
    }
}

/// A stream counted as open; counts it closed when dropped, however its task ends.
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
