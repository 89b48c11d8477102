//! A stable color per user, so every page shows the same person in the same color.

use super::UserId;

/// Readable on white and under white initials.
const PALETTE: [&str; 12] = [
    "#e03131", "#c2255c", "#9c36b5", "#6741d9", "#3b5bdb", "#1971c2", "#0c8599", "#099268", "#2f9e44", "#66a80f",
    "#e8590c", "#f08c00",
];

/// FNV-1a, written out because the std hasher may change between Rust releases.
pub fn color_of(user: &UserId) -> &'static str {
    let hash = user
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stable_and_spread() {
        let id = |s: &str| UserId::parse(s).unwrap();
        assert_eq!(color_of(&id("u1")), color_of(&id("u1")));
        let colors: std::collections::HashSet<_> = (0..100).map(|i| color_of(&id(&format!("user-{i}")))).collect();
        assert!(colors.len() >= 8, "only {} colors for 100 users", colors.len());
    }
}
