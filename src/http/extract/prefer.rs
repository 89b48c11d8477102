//! `Prefer: return=minimal` (RFC 7240): a client that has the viewer list from the stream
//! asks join and heartbeat for the snapshot's tag alone, without its body.

use actix_web::HttpRequest;

/// The header that says which preference an answer applied.
pub const PREFERENCE_APPLIED: &str = "preference-applied";
/// The only preference this service applies.
pub const RETURN_MINIMAL: &str = "return=minimal";

/// Whether the request's `Prefer` headers ask for `return=minimal`. Names and this value
/// are case-insensitive; the value may be quoted; a preference given twice counts the
/// first time (RFC 7240 §2).
pub fn prefers_minimal(req: &HttpRequest) -> bool {
    let returned = req
        .headers()
        .get_all("prefer")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|preference| {
            // Parameters after `;` do not change what is preferred.
            let preference = preference.split(';').next().unwrap_or_default();
            let (name, value) = preference.split_once('=').unwrap_or((preference, ""));
            name.trim().eq_ignore_ascii_case("return").then(|| value.trim().trim_matches('"'))
        });
    returned.is_some_and(|value| value.eq_ignore_ascii_case("minimal"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn reads_return_minimal_as_rfc_7240_writes_it() {
        let cases = [
            (vec![], false),
            (vec!["return=minimal"], true),
            (vec!["Return = \"Minimal\""], true),
            (vec!["respond-async, wait=10, return=minimal; foo=bar"], true),
            (vec!["handling=lenient", "return=minimal"], true),
            (vec!["return=representation"], false),
            (vec!["return=representation, return=minimal"], false),
            (vec!["return-minimal"], false),
            (vec!["minimal"], false),
        ];
        for (headers, minimal) in cases {
            let mut req = TestRequest::default();
            for value in &headers {
                req = req.append_header(("prefer", *value));
            }
            assert_eq!(prefers_minimal(&req.to_http_request()), minimal, "Prefer: {headers:?}");
        }
    }
}
