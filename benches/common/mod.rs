//! What the store benchmarks share: the shape of a realistic registry.
//!
//! `N` tabs spread over `N / 100` pages; each user has three tabs, each on another page,
//! as a browser would; every tab id is a UUID, as `crypto.randomUUID()` makes them.

use presence::domain::TabKey;
use presence::domain::{PagePath, TabId, UserId};

/// Tabs on each page.
pub const TABS_PER_PAGE: usize = 100;
/// Tabs each user has open, each on another page.
pub const TABS_PER_USER: usize = 3;

/// The `i`th tab of a registry of `tabs` tabs, parsed from strings as a request's are,
/// so it shares no allocation with any other value.
pub fn tab(i: usize, tabs: usize) -> (PagePath, TabKey) {
    let pages = tabs.div_ceil(TABS_PER_PAGE);
    let page = PagePath::parse(&format!("/docs/guides/page-{}", i % pages)).expect("a valid path");
    let user = UserId::parse(&format!("user-{}", i / TABS_PER_USER)).expect("a valid user id");
    let tab = TabId::parse(&uuid(i as u64)).expect("a valid tab id");
    (page, TabKey { user, tab })
}

/// A version-4 UUID made from `seed`: the same seed makes the same id.
pub fn uuid(seed: u64) -> String {
    let (high, low) = (mix(seed.wrapping_mul(2)), mix(seed.wrapping_mul(2) + 1));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        0x8000 | ((low >> 48) & 0x3fff),
        low & 0xffff_ffff_ffff
    )
}

/// splitmix64: a cheap, well-spread hash of a counter.
pub fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether this is a real benchmark run (`cargo bench` passes `--bench`) rather than a
/// smoke test (`cargo test --all-targets`, or `cargo bench -- --test`), which gets the
/// small sizes only.
pub fn full_run() -> bool {
    let has = |flag: &str| std::env::args().any(|arg| arg == flag);
    has("--bench") && !has("--test")
}
