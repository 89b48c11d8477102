//! The values the service talks about, each valid by construction.

mod color;
mod page_path;
mod snapshot;
mod stats;
mod tab_id;
mod user;

pub use color::color_of;
pub use page_path::{PagePath, MAX_PAGE_PATH_BYTES};
pub use snapshot::{Person, Snapshot, Timing, Viewer};
pub use stats::{HistoryPoint, LivePage, LivePages, PageStats};
pub use tab_id::TabId;
pub use user::{Profile, ProfileFields, UserId};
