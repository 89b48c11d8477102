//! What one client may use: requests a second (per user and per address) and open
//! live-update streams (per user). The tab limits are the store's (`store::TabLimits`).

mod client_address;
mod rate;
mod streams;

pub use client_address::{parse_network, TrustedProxies};
pub use rate::{RateLimits, FORGET_IDLE_EVERY};
pub use streams::{OpenStreams, StreamSlot};
