//! Echoes the request's id (the one `tracing-actix-web` gave its span) in `X-Request-Id`,
//! so a client's report can be matched with the log lines.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing_actix_web::RequestId;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The middleware (`from_fn`); sits inside `TracingLogger`, which sets the id.
pub async fn echo_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let mut response = next.call(req).await?;
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}
