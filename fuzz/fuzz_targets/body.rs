//! A presence request body, as JSON or text/plain bytes: decoding it and turning it into a
//! command (the path and tab id parsed) never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use presence::http::extract::decode;
use presence::http::routes::presence::{TabCommand, TabRequest};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(Some(request)) = decode::<Option<TabRequest>>(bytes) {
        let _ = TabCommand::try_from(request);
    }
});
