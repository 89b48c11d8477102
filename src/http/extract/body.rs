//! `Body<T>`: a small JSON request body, sent as `application/json` or as `text/plain`
//! (what `navigator.sendBeacon(url, string)` and a bare `fetch` send).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::{ApiError, FieldError};

/// Bodies are a path and a tab id; anything larger is refused unread.
pub const MAX_BODY_BYTES: usize = 4096;

/// An empty body reads as JSON `null`, so `Body<Option<T>>` makes the body optional.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared_length =
            req.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        let media_type = check_media_type(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_length.is_some_and(|length| length > MAX_BODY_BYTES) {
                return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
            }
            let mut bytes = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::Malformed(format!("the body could not be read: {e}")))?;
                if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
                }
                bytes.extend_from_slice(&chunk);
            }
            if !bytes.is_empty() {
                media_type?;
            }
            decode(&bytes).map(Body)
        })
    }
}

/// Reads a body received in full: an empty one as JSON `null`, any other as a JSON object.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return parse(b"null").map_err(|_| ApiError::Malformed("the body is empty: send a JSON object".into()));
    }
    // Derived serde structs also read JSON arrays field by field; a body is an object.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::Malformed("the body must be a JSON object".into()));
    }
    parse(bytes)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            // A field of the wrong type is a field error the client can act on.
            Category::Data if field != "." => {
                let message = inner.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                ApiError::Validation(vec![FieldError { field, message }])
            }
            _ => malformed(inner),
        }
    })?;
    deserializer.end().map_err(malformed)?;
    Ok(value)
}

fn malformed(error: serde_json::Error) -> ApiError {
    ApiError::Malformed(format!("the body is not valid JSON for this endpoint: {error}"))
}

fn check_media_type(req: &HttpRequest) -> Result<(), ApiError> {
    let mime = req.mime_type().ok().flatten();
    let accepted = mime.is_some_and(|mime| {
        matches!((mime.type_().as_str(), mime.subtype().as_str()), ("application", "json") | ("text", "plain"))
            || mime.suffix().is_some_and(|suffix| suffix == "json")
    });
    if accepted {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType("send the body as application/json (or text/plain, as sendBeacon does)".into()))
}
