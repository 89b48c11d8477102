//! The values the service talks about, each valid by construction. Depends on nothing else
//! of this crate.

mod color;
mod page_path;
mod presence;
mod stats;
mod tab_id;
pub mod time;
mod user;

pub use color::color_of;
pub use page_path::{PagePath, MAX_PAGE_PATH_BYTES};
pub use presence::{earliest, PageCounts, PagePresence, Peak, TabKey, Version, ViewerPresence};
pub use stats::{HistoryPoint, LivePage, LivePages, PageStats};
pub use tab_id::TabId;
pub use user::{Profile, ProfileFields, UserId};
