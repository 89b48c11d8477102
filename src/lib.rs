//! `presence`: who else is viewing (and editing) this page right now.
//!
//! Browsers join a page, heartbeat every 15 s and leave with a beacon; any signed-in
//! caller can list a page's viewers. Identity comes from a session cookie or a JWT the host
//! app signed, never from the request body.
//!
//! # Layout
//! - [`configuration`]: `Settings`, every setting as an env var and a flag.
//! - [`startup`]: `Application::build`, the state, middleware, routes and listener.
//! - [`telemetry`]: the tracing subscriber.
//! - [`error`]: `ApiError`, every failure as RFC 9457 problem+json.
//! - [`state`]: `AppState`, what handlers share.
//! - [`rate_limit`]: requests a second per user and per client address.
//! - [`client_address`]: the client's address, behind the trusted reverse proxies.
//! - [`open_streams`]: live-update streams open per user, capped.
//! - [`auth`]: the typed session and where it is stored, JWT checks, the `CurrentUser`
//!   extractor and the origin check on cookie-authenticated changes.
//! - [`domain`]: `PagePath`, `TabId`, `UserId`, `Profile` and the wire `Snapshot`.
//! - [`store`]: the `PresenceStore` trait, its in-memory registry and its Redis registry
//!   (shared by every instance, `page.lua` and `user.lua` its scripts), with each page's
//!   counts and exact peak, and the caps on live tabs per user and in all.
//! - [`directory`]: user profiles and viewer stats in SQL (sqlx, `migrations/`).
//! - [`profile_sync`]: profile changes announced to, and heard from, other instances.
//! - [`stats_sampler`]: the background task that samples viewer counts into SQL.
//! - [`snapshot_cache`]: each page's snapshot, serialized once per version.
//! - [`metrics`]: the Prometheus metrics, one registry per app, and the middleware that
//!   counts and times every request.
//! - [`routes`]: the HTTP handlers, one module per route group (`routes::bench`, the
//!   baseline of `bench/run.sh`, only with the `bench-baseline` cargo feature).

pub mod auth;
pub mod client_address;
pub mod configuration;
pub mod directory;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod open_streams;
pub mod profile_sync;
pub mod rate_limit;
pub mod routes;
pub mod snapshot_cache;
pub mod startup;
pub mod state;
pub mod stats_sampler;
pub mod store;
pub mod telemetry;
