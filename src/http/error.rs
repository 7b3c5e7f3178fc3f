//! API errors and their `application/problem+json` (RFC 9457) rendering.
//!
//! Every refusal names the field at fault (`field`, a JSON path such as `lines[0].qty`, or a
//! header name) and, for state conflicts, the case's current state. The error renders itself and
//! does not log; the trace layer logs each response once. Internal details (store errors) are
//! logged here at the one place they are turned into a 500, and never reach the client. A 507 or
//! 503 for a full or read-only disk names the store's directory: the operator reading a station's
//! error needs it, and it is no secret.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{CaseError, CaseState};
use crate::ingest::IngestError;
use crate::store::{StoreError, SyncError};

/// `Retry-After` of the answers that say the store cannot take writes now (503, 507).
pub const STORE_RETRY_AFTER_S: u64 = 30;

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Short slug, the last segment of the problem type URI (`validation`, `conflict`, …).
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub current_state: Option<CaseState>,
    /// Seconds for a `Retry-After` header (429, 503 and 507 answers).
    pub retry_after_s: Option<u64>,
    /// Extension members of the problem (RFC 9457 §3.2), e.g. the free and needed bytes of a 507.
    /// Boxed: most errors have none, and `ApiError` travels in every handler's `Result`.
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_state: Option<CaseState>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            title,
            detail: detail.into(),
            field: None,
            current_state: None,
            retry_after_s: None,
            extensions: None,
        }
    }

    /// Adds an extension member to the problem body.
    pub fn with_extension(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert(name.to_owned(), value.into());
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the request is malformed (bad JSON, missing header).
    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Malformed request", detail).with_field(field)
    }

    /// 422: well-formed JSON with a value that breaks a rule.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", "Invalid field", detail).with_field(field)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid station token",
            detail,
        )
        .with_field("Authorization")
    }

    pub fn forbidden(field: Option<&str>, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed for this token", detail);
        e.field = field.map(str::to_owned);
        e
    }

    pub fn not_found(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail).with_field(field)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed to handle the request; nothing was acknowledged, retry with the same Idempotency-Key",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            type_uri: format!("urn:returns-edge:problem:{}", self.kind),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            field: self.field.as_deref(),
            current_state: self.current_state,
            extensions: self.extensions.as_deref(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> Self {
        use CaseError as E;
        let (status, kind, title) = match &e {
            E::UnknownCase => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            E::NeedsSupervisor { .. } | E::Forbidden { .. } => {
                (StatusCode::FORBIDDEN, "forbidden", "Not allowed for this token")
            }
            E::UnknownLine { .. }
            | E::UnknownInspection { .. }
            | E::CorrectionQuantity { .. }
            | E::NoDefaultDisposition { .. }
            | E::TooManyLines { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation", "Invalid field"),
            _ => (
                StatusCode::CONFLICT,
                "conflict",
                "Not possible in the case's current state",
            ),
        };
        ApiError {
            status,
            kind,
            title,
            detail: e.to_string(),
            field: e.field().map(str::to_owned),
            current_state: e.current_state(),
            retry_after_s: None,
            extensions: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Sync(SyncError::Closed) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "Shutting down",
                "the server is shutting down; retry with the same Idempotency-Key",
            ),
            // Not logged here: the flusher logged the failed sync once, and every later write
            // would repeat it.
            StoreError::Sync(e) => {
                let mut answer = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "Store cannot record writes",
                    format!("{e}; nothing was acknowledged, retry with the same Idempotency-Key later"),
                );
                answer.retry_after_s = Some(STORE_RETRY_AFTER_S);
                answer
            }
            // The space guard logs when it starts and stops refusing, not per request.
            StoreError::DiskFull {
                dir,
                free_bytes,
                needed_bytes,
            } => {
                let mut answer = ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "insufficient-storage",
                    "The store's disk is full",
                    format!(
                        "the store at {} has {free_bytes} bytes free and new events need at least {needed_bytes}; \
                         nothing was recorded, retry with the same Idempotency-Key once space is freed",
                        dir.display()
                    ),
                );
                answer.retry_after_s = Some(STORE_RETRY_AFTER_S);
                answer
                    .with_extension("store", dir.display().to_string())
                    .with_extension("free_bytes", free_bytes)
                    .with_extension("needed_bytes", needed_bytes)
            }
            StoreError::ReadOnly { dir } => {
                let mut answer = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-read-only",
                    "The store's file system is read-only",
                    format!(
                        "the file system holding the store at {} is mounted read-only; nothing was recorded, \
                         retry with the same Idempotency-Key later",
                        dir.display()
                    ),
                );
                answer.retry_after_s = Some(STORE_RETRY_AFTER_S);
                answer.with_extension("store", dir.display().to_string())
            }
            e => {
                tracing::error!(error = %e, "Store error.");
                ApiError::internal()
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::UnknownCase(id) => ApiError::not_found("case_id", format!("case {id} does not exist")),
            IngestError::Refused(e) => e.into(),
            IngestError::CaseFull(_) => ApiError::new(StatusCode::CONFLICT, "conflict", "Case is full", e.to_string()),
            IngestError::KeyReused => ApiError::invalid("Idempotency-Key", e.to_string()),
            IngestError::Store(e) => e.into(),
        }
    }
}
