//! The HTTP routes, one module per group; each exposes `configure`. Each handler's doc
//! comment names its `operationId` in `openapi.yaml`.

pub mod assets;
#[cfg(feature = "bench-baseline")]
pub mod bench;
pub mod health;
pub mod metrics;
pub mod presence;
pub mod session;
pub mod stats;
pub mod stream;
