//! Entity tags: a strong tag per exact body, and whether the client already holds it.
//!
//! A tag is XXH3-64 (seed 0) of the bytes it names, written as 16 hex digits in quotes.
//! XXH3's output is fixed by its specification, so every instance, whatever its build or
//! toolchain, gives the same body the same tag, and a rolling deploy keeps answering 304s.
//! Polls and heartbeats tag every answer, so both directions work on the number and a
//! stack buffer: no header is parsed into a list of tags and no string is formatted.

use actix_web::http::header::{HeaderMap, HeaderValue, IF_NONE_MATCH};
use xxhash_rust::xxh3::xxh3_64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ETag(pub u64);

/// The tag as headers carry it, quotes and all.
impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.quoted() {
            std::fmt::Write::write_char(f, char::from(byte))?;
        }
        Ok(())
    }
}

impl ETag {
    /// The tag of `body`, which changes exactly when the bytes do.
    pub fn of(body: &[u8]) -> Self {
        Self(xxh3_64(body))
    }

    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_bytes(&self.quoted()).unwrap_or_else(|_| unreachable!("hex digits in quotes"))
    }

    /// Whether the request's `If-None-Match` names this tag (weak or strong) or is `*`.
    pub fn held_by(self, headers: &HeaderMap) -> bool {
        let quoted = self.quoted();
        headers
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
        assert_eq!(ETag(7).to_string(), "\"0000000000000007\"");
    }

    /// XXH3-64's published output: the tag of a body never changes between builds.
    #[test]
    fn a_body_has_a_fixed_known_tag() {
        assert_eq!(ETag::of(b"").to_string(), "\"2d06800538d394c2\"");
        assert_eq!(ETag::of(b"hello").to_string(), "\"9555e8555c62dcfd\"");
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
            assert_eq!(tag.held_by(req.to_http_request().headers()), held, "If-None-Match: {headers:?}");
        }
    }
}
