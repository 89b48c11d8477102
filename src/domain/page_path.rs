//! `PagePath`: a normalized route path, the name of a page.

use std::fmt;
use std::sync::Arc;

use validator::ValidationError;

/// Longest accepted `pagePath`, in bytes, as sent.
pub const MAX_PAGE_PATH_BYTES: usize = 512;

/// A route path such as `/docs/features/foo`: starts with `/`, no query, fragment, control
/// characters or dot segments, repeated slashes collapsed and no trailing slash (but `/`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PagePath(Arc<str>);

impl PagePath {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if !raw.starts_with('/') {
            return Err(invalid("start", "must start with \"/\", like /docs/intro"));
        }
        if raw.len() > MAX_PAGE_PATH_BYTES {
            return Err(invalid("length", "must be at most 512 bytes"));
        }
        if raw.chars().any(char::is_control) {
            return Err(invalid("control", "must not contain control characters"));
        }
        if raw.contains(['?', '#']) {
            return Err(invalid("query", "must be a path only, without \"?\" query or \"#\" fragment"));
        }
        let segments: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
        if segments.iter().any(|s| *s == "." || *s == "..") {
            return Err(invalid("dot_segment", "must not contain \".\" or \"..\" segments"));
        }
        Ok(Self(format!("/{}", segments.join("/")).into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

impl AsRef<str> for PagePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalizes_slashes() {
        for (raw, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/docs/", "/docs"),
            ("/docs//a///b/", "/docs/a/b"),
            ("/a.b/c..d/.e", "/a.b/c..d/.e"),
        ] {
            assert_eq!(PagePath::parse(raw).unwrap().as_str(), want, "input {raw:?}");
        }
    }

    #[test]
    fn rejects_bad_paths() {
        let long = format!("/{}", "a".repeat(512));
        for (raw, code) in [
            ("", "start"),
            ("docs", "start"),
            (long.as_str(), "length"),
            ("/a\nb", "control"),
            ("/a\u{7f}", "control"),
            ("/a?b=1", "query"),
            ("/a#top", "query"),
            ("/a/./b", "dot_segment"),
            ("/a/..", "dot_segment"),
            ("/..//", "dot_segment"),
        ] {
            let err = PagePath::parse(raw).expect_err(raw);
            assert_eq!(err.code, code, "input {raw:?}");
        }
    }

    #[test]
    fn accepts_exactly_512_bytes() {
        let raw = format!("/{}", "a".repeat(511));
        assert_eq!(PagePath::parse(&raw).unwrap().as_str().len(), 512);
    }

    proptest! {
        #[test]
        fn normalizing_is_idempotent(raw in "/[a-z./]{0,40}") {
            if let Ok(path) = PagePath::parse(&raw) {
                prop_assert_eq!(PagePath::parse(path.as_str()).unwrap(), path.clone());
                prop_assert!(!path.as_str().contains("//"));
                prop_assert!(path.as_str() == "/" || !path.as_str().ends_with('/'));
            }
        }

        #[test]
        fn never_panics(raw in "\\PC*") {
            let _ = PagePath::parse(&raw);
        }
    }
}
