//! Snapshots: a page's presence as the API answers it. The wire shapes, each page's
//! document written once per version, the per-caller views cut from it, and their tags.

mod cache;
mod document;
mod etag;
mod wire;

pub use cache::{SnapshotCache, DEFAULT_VIEWERS, MAX_VIEWERS};
pub use document::{Document, View};
pub use etag::ETag;
pub use wire::{Person, Timing};
