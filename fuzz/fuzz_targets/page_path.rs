//! `PagePath::parse` on any string: it never panics, and what it accepts is normalized
//! (parsing it again gives it back) and within the contract's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use presence::domain::PagePath;

fuzz_target!(|raw: &str| {
    let Ok(path) = PagePath::parse(raw) else { return };
    let normalized = path.as_str();
    assert!(normalized.starts_with('/'), "{normalized:?}");
    assert!(normalized.len() <= 512, "{normalized:?}");
    assert!(!normalized.chars().any(|c| c.is_control() || c == '?' || c == '#'), "{normalized:?}");
    assert_eq!(PagePath::parse(normalized).expect("a normalized path parses").as_str(), normalized);
});
