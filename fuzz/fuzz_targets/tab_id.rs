//! `TabId::parse` on any string: it never panics, and accepts exactly 1–64 characters of
//! `A–Z a–z 0–9 _ -`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use presence::domain::TabId;

fuzz_target!(|raw: &str| {
    let valid = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    assert_eq!(TabId::parse(raw).is_ok(), valid, "{raw:?}");
});
