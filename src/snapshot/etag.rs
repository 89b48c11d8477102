//! Entity tags: a strong tag per exact body, and whether the client already holds it.
//!
//! A tag is a 64-bit hash, written as 16 hex digits in quotes. Polls and heartbeats tag
//! every answer, so both directions work on the number and a stack buffer: no header is
//! parsed into a list of tags and no string is formatted.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use actix_web::http::header::{HeaderValue, IF_NONE_MATCH};
use actix_web::HttpRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ETag(pub u64);

/// The tag as headers carry it, quotes and all.
impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(&self.quoted()).expect("hex digits in quotes"))
    }
}

impl ETag {
    /// The tag of `body`, which changes exactly when the bytes do.
    pub fn of(body: &[u8]) -> Self {
        Self(BuildHasherDefault::<DefaultHasher>::default().hash_one(body))
    }

    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_bytes(&self.quoted()).expect("hex digits in quotes make a header value")
    }

    /// Whether the request's `If-None-Match` names this tag (weak or strong) or is `*`.
    pub fn held_by(self, req: &HttpRequest) -> bool {
        let quoted = self.quoted();
        req.headers()
            .get_all(IF_NONE_MATCH)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == quoted)
    }

    /// `"0123456789abcdef"`, as headers carry it.
    fn quoted(self) -> [u8; 18] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut quoted = [b'"'; 18];
        for (i, digit) in quoted[1..17].iter_mut().enumerate() {
            *digit = HEX[(self.0 >> (60 - 4 * i)) as usize & 0xf];
        }
        quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn is_sixteen_hex_digits_in_quotes() {
        assert_eq!(ETag(0x0123_4567_89ab_cdef).header_value(), "\"0123456789abcdef\"");
        assert_eq!(ETag(7).header_value(), "\"0000000000000007\"");
    }

    #[test]
    fn is_held_when_if_none_match_names_it() {
        let tag = ETag(0xabc);
        let cases = [
            (vec![], false),
            (vec!["\"0000000000000abc\""], true),
            (vec!["W/\"0000000000000abc\""], true),
            (vec!["*"], true),
            (vec!["\"0000000000000001\", \"0000000000000abc\""], true),
            (vec!["\"0000000000000001\"", "\"0000000000000abc\""], true),
            (vec!["\"0000000000000001\""], false),
            (vec!["0000000000000abc"], false),
        ];
        for (headers, held) in cases {
            let mut req = TestRequest::default();
            for value in &headers {
                req = req.append_header((IF_NONE_MATCH, *value));
            }
            assert_eq!(tag.held_by(&req.to_http_request()), held, "If-None-Match: {headers:?}");
        }
    }
}
