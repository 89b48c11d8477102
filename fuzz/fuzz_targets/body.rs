//! A presence request body, as JSON or text/plain bytes: decoding and then parsing its
//! fields never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use presence::domain::{PagePath, TabId};
use presence::routes::body::decode;
use serde::Deserialize;

/// The shape of join, heartbeat and leave bodies.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TabRequest {
    page_path: Option<String>,
    tab_id: Option<String>,
    is_editing: Option<bool>,
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(Some(request)) = decode::<Option<TabRequest>>(bytes) {
        let _ = request.page_path.as_deref().map(PagePath::parse);
        let _ = request.tab_id.as_deref().map(TabId::parse);
        std::hint::black_box(request.is_editing);
    }
});
