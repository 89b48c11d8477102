//! `PageQuery`: the `?pagePath=&limit=` that list and stream take, and the small parsers
//! that it and the stats queries share.

use std::future::{ready, Ready};
use std::ops::RangeInclusive;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use validator::ValidationError;

use crate::domain::PagePath;
use crate::error::{ApiError, FieldError};

/// Viewers answered when the client names no `limit`.
pub const DEFAULT_LIMIT: usize = crate::snapshot::DEFAULT_VIEWERS;
/// The most viewers one answer lists; counts stay exact beyond it.
pub const MAX_LIMIT: usize = crate::snapshot::MAX_VIEWERS;

pub struct PageQuery {
    pub page: PagePath,
    pub limit: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawQuery {
    page_path: Option<String>,
    limit: Option<String>,
}

impl FromRequest for PageQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(parse(req.query_string()))
    }
}

fn parse(query: &str) -> Result<PageQuery, ApiError> {
    let raw: RawQuery = read_query(query)?;
    let page = required("pagePath", raw.page_path, PagePath::parse);
    let limit = optional("limit", raw.limit, DEFAULT_LIMIT, |limit| whole_number(limit, 1..=MAX_LIMIT));
    match (page, limit) {
        (Ok(page), Ok(limit)) => Ok(PageQuery { page, limit }),
        (page, limit) => Err(ApiError::Validation(page.err().into_iter().chain(limit.err()).collect())),
    }
}

/// Reads a query string into `T`; one that cannot be read at all (a parameter given
/// twice, say) is malformed.
pub fn read_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::Malformed(format!("the query string could not be read: {e}")))
}

/// A whole number within `range`.
pub fn whole_number(raw: &str, range: RangeInclusive<usize>) -> Result<usize, ValidationError> {
    raw.parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        let message = format!("must be a whole number from {} to {}", range.start(), range.end());
        ValidationError::new("range").with_message(message.into())
    })
}

/// A field that may be left out (and is then `default`), but must parse when given.
pub fn optional<T>(
    field: &str,
    value: Option<String>,
    default: T,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, FieldError> {
    value.map_or(Ok(default), |value| parse(&value).map_err(|error| FieldError::new(field, &error)))
}

/// A field that must be present and parse.
pub fn required<T>(
    field: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, FieldError> {
    let value = value.ok_or_else(|| FieldError { field: field.into(), message: "is required".into() })?;
    parse(&value).map_err(|error| FieldError::new(field, &error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_page_and_a_limit() {
        let query = parse("pagePath=%2Fdocs%2F&limit=5").unwrap();
        assert_eq!((query.page.as_str(), query.limit), ("/docs", 5));
        assert_eq!(parse("pagePath=/").unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn names_each_bad_field() {
        for (query, fields) in [
            ("", vec!["pagePath"]),
            ("pagePath=/a&limit=0", vec!["limit"]),
            ("pagePath=/a&limit=1001", vec!["limit"]),
            ("pagePath=x&limit=ten", vec!["pagePath", "limit"]),
        ] {
            let Err(ApiError::Validation(errors)) = parse(query) else { panic!("{query} should be refused") };
            assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), fields, "{query}");
        }
    }
}
