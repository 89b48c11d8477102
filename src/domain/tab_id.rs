//! `TabId`: the client's name for one browser tab.

use std::fmt;
use std::sync::Arc;

use validator::{ValidateLength, ValidationError};

/// 1–64 characters of `A–Z a–z 0–9 _ -` (a `crypto.randomUUID()` fits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TabId(Arc<str>);

impl TabId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if !raw.validate_length(Some(1), Some(64), None) {
            return Err(ValidationError::new("length").with_message("must be 1 to 64 characters long".into()));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ValidationError::new("charset")
                .with_message("may contain only letters A-Z a-z, digits, \"_\" and \"-\"".into()));
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_uuids_and_short_ids() {
        for raw in ["a", "5f0c2a3e-9b7d-4c1e-8f3a-2b6d9e0c1a7f", "tab_1-X", &"z".repeat(64)] {
            assert_eq!(TabId::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn rejects_bad_ids() {
        for (raw, code) in [
            ("", "length"),
            (&"z".repeat(65) as &str, "length"),
            ("a b", "charset"),
            ("a/b", "charset"),
            ("é", "charset"),
            ("tab\n", "charset"),
        ] {
            assert_eq!(TabId::parse(raw).expect_err(raw).code, code, "input {raw:?}");
        }
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip(raw in "[A-Za-z0-9_-]{1,64}") {
            let tab = TabId::parse(&raw).unwrap();
            prop_assert_eq!(tab.as_str(), raw.as_str());
        }

        #[test]
        fn never_panics(raw in "\\PC*") {
            let _ = TabId::parse(&raw);
        }
    }
}
