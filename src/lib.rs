//! `presence`: who else is viewing (and editing) this page right now.
//!
//! Browsers join a page, heartbeat every 15 s and leave with a beacon; any signed-in
//! caller can list a page's viewers. Identity comes from a session cookie or a JWT the host
//! app signed, never from the request body. `docs/ARCHITECTURE.md` walks through the whole.
//!
//! # Layout
//! Dependencies point one way: `http` → `state` and the services under it (`auth`,
//! `limits`, `snapshot`, `metrics`, `tasks`) → `store` and `directory` → `domain`, which
//! depends on nothing of ours.
//! - [`configuration`]: `Settings`, every setting as an env var and a flag.
//! - [`startup`]: `Application::build`, the named steps that make a running service.
//! - [`telemetry`]: the tracing subscriber.
//! - [`error`]: `ApiError`, every failure as RFC 9457 problem+json.
//! - [`http`]: the routes (one module per group), what they extract from a request, how a
//!   snapshot is answered, and the middleware around them.
//! - [`state`]: `AppState`, the services every handler shares.
//! - [`auth`]: who is asking: the typed session and where it is stored, JWT checks, the
//!   bearer header, and the origin check on cookie-authenticated changes.
//! - [`limits`]: requests a second per user and per client address (behind the trusted
//!   proxies), and live-update streams per user.
//! - [`snapshot`]: the wire shape of a page's presence, written once per version, cut per
//!   caller, and tagged.
//! - [`metrics`]: the Prometheus metrics, one registry per app.
//! - [`tasks`]: the background tasks: the stats sampler, the profile writer and sync,
//!   forgetting idle rate-limit keys; [`periodic`] is the loop they (and the stores'
//!   sweeps) run on.
//! - [`store`]: the `PresenceStore` trait and its two registries, `memory` (this process)
//!   and `redis` (shared by every instance), with the page events live updates follow.
//! - [`directory`]: user profiles and viewer stats in SQL (sqlx, `migrations/`).
//! - [`domain`]: `PagePath`, `TabId`, `UserId`, `Profile`, a page's presence, the stats'
//!   wire shapes and time conversions.

#![forbid(unsafe_code)]

pub mod auth;
pub mod configuration;
pub mod directory;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod periodic;
pub mod snapshot;
pub mod startup;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;
