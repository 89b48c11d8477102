//! `ApiError`: every way a request can fail, answered as RFC 9457 problem+json.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client should wait before retrying when a backing store is down.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("some fields are not valid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    CrossSite(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {} s", whole_seconds(*retry_after))]
    RateLimited { retry_after: Duration },
    #[error("you have {limit} live tabs, the most allowed; close one, or wait for one to expire")]
    TooManyTabs { limit: u32, retry_after: Duration },
    #[error("you have {limit} live-update streams open, the most allowed; close one, or poll")]
    TooManyStreams { limit: u32, retry_after: Duration },
    #[error("the service holds all the live tabs it takes; retry shortly")]
    Full { retry_after: Duration },
    #[error("a backing store is not reachable; retry shortly")]
    Unavailable(#[source] anyhow::Error),
    #[error("something went wrong on our side")]
    Internal(#[source] anyhow::Error),
}

/// The problem document of RFC 9457, with the `errors` extension for validation.
#[derive(Serialize)]
struct Problem<'a> {
    r#type: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

/// Why a request got a problem answer, for the metrics: `ApiError::error_response` and
/// `framework_error_to_problem` leave it in the answer's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// A stable snake_case name (`validation`, `unauthorized`, …): the `reason` label.
    pub reason: &'static str,
    /// Whether a backing store failed, which the metrics count as a store error too.
    pub store_failed: bool,
}

impl Rejection {
    /// A problem that actix-web, or a middleware other than ours, answered by itself.
    pub fn of_status(status: StatusCode) -> Self {
        let reason = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            status if status.is_server_error() => "server_error",
            _ => "client_error",
        };
        Self { reason, store_failed: false }
    }
}

/// One field that is wrong, named as the client sent it (`pagePath`, not `page_path`).
#[derive(Debug, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, error: &ValidationError) -> Self {
        let message = error.message.as_deref().map_or_else(|| error.code.to_string(), str::to_owned);
        Self { field: field.into(), message }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        let mut list: Vec<FieldError> = errors
            .errors()
            .iter()
            .flat_map(|(field, kind)| {
                match kind {
                    ValidationErrorsKind::Field(errors) => errors.as_slice(),
                    _ => &[],
                }
                .iter()
                .map(move |error| FieldError::new(field.to_string(), error))
            })
            .collect();
        list.sort_by(|a, b| a.field.cmp(&b.field));
        Self::Validation(list)
    }
}

impl ApiError {
    /// The problem `type` URI and `title` of each kind.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::Validation(_) => ("urn:presence:problem:validation", "Invalid request"),
            Self::Malformed(_) => ("urn:presence:problem:malformed", "Malformed request"),
            Self::Unauthorized(_) => ("urn:presence:problem:unauthorized", "Not signed in"),
            Self::CrossSite(_) => ("urn:presence:problem:cross-site", "Cross-site request refused"),
            Self::NotFound(_) => ("about:blank", "Not Found"),
            Self::PayloadTooLarge { .. } => ("about:blank", "Payload Too Large"),
            Self::UnsupportedMediaType(_) => ("about:blank", "Unsupported Media Type"),
            Self::RateLimited { .. } => ("urn:presence:problem:rate-limited", "Too many requests"),
            Self::TooManyTabs { .. } => ("urn:presence:problem:too-many-tabs", "Too many tabs"),
            Self::TooManyStreams { .. } => ("urn:presence:problem:too-many-streams", "Too many streams"),
            Self::Full { .. } => ("urn:presence:problem:full", "Service full"),
            Self::Unavailable(_) => ("urn:presence:problem:unavailable", "Service unavailable"),
            Self::Internal(_) => ("about:blank", "Internal Server Error"),
        }
    }

    /// When a refused request may pass, for `Retry-After`.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable(_) => Some(STORE_RETRY_AFTER),
            Self::RateLimited { retry_after }
            | Self::TooManyTabs { retry_after, .. }
            | Self::TooManyStreams { retry_after, .. }
            | Self::Full { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The `reason` of each kind in the metrics: a stable snake_case name, one per variant.
    fn reason(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::Malformed(_) => "malformed",
            Self::Unauthorized(_) => "unauthorized",
            Self::CrossSite(_) => "cross_site",
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyTabs { .. } => "too_many_tabs",
            Self::TooManyStreams { .. } => "too_many_streams",
            Self::Full { .. } => "full",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// What the metrics count of this error's answer.
    pub fn rejection(&self) -> Rejection {
        Rejection { reason: self.reason(), store_failed: matches!(self, Self::Unavailable(_)) }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Validation(errors) => errors,
            _ => &[],
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::CrossSite(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } | Self::TooManyTabs { .. } | Self::TooManyStreams { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable(_) | Self::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::Unavailable(source) | Self::Internal(source) = self {
            tracing::error!(error = format!("{source:#}"), "request failed");
        }
        let errors = self.field_errors();
        let detail = match errors {
            [] => self.to_string(),
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are not valid; see errors", errors.len()),
        };
        let (r#type, title) = self.kind();
        let mut response = HttpResponse::build(status);
        if let Some(after) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, whole_seconds(after).to_string()));
        }
        if matches!(self, Self::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.content_type(PROBLEM_JSON).json(Problem {
            r#type,
            title,
            status: status.as_u16(),
            detail,
            errors,
        });
        response.extensions_mut().insert(self.rejection());
        response
    }
}

/// `Retry-After` counts whole seconds: round up, so a client that waits that long passes.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Turns the errors actix-web answers by itself (unknown route, wrong method, …) into
/// problem+json too, so a client only ever has to parse one error shape.
pub fn framework_error_to_problem<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let status = response.status();
    let title = status.canonical_reason().unwrap_or("Error");
    let detail = match status {
        StatusCode::NOT_FOUND => {
            format!("there is no {} on this server", response.request().path())
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{} does not accept {}", response.request().path(), response.request().method())
        }
        _ => title.to_lowercase(),
    };
    let problem = Problem { r#type: "about:blank", title, status: status.as_u16(), detail, errors: &[] };
    let mut replacement = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.append_header((name.clone(), value.clone()));
        }
    }
    let mut replacement = replacement.content_type(PROBLEM_JSON).json(problem);
    replacement.extensions_mut().insert(Rejection::of_status(status));
    Ok(ErrorHandlerResponse::Response(response.into_response(replacement).map_into_right_body()))
}
