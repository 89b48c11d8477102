//! HTTP routes, one module per group; each exposes `configure` for `startup`.

pub mod assets;
#[cfg(feature = "bench-baseline")]
pub mod bench;
pub mod body;
mod etag;
pub mod health;
pub mod metrics;
mod prefer;
pub mod presence;
mod query;
pub mod session;
mod snapshot;
pub mod stats;
pub mod stream;

pub use etag::ETag;
