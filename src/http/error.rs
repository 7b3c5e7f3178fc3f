//! API errors and their `application/problem+json` (RFC 9457) rendering.
//!
//! Every refusal names the field at fault (`field`, a JSON path such as `lines[0].qty`, or a
//! header name) and, for state conflicts, the case's current state. The error renders itself and
//! does not log; the trace layer logs each response once. Internal details (store errors) are
//! logged here at the one place they are turned into a 500, and never reach the client. A 507 or
//! 503 for a full or read-only disk names the store's directory: the operator reading a station's
//! error needs it, and it is no secret.
//!
//! [`ProblemType`] is the closed list of problem types: the OpenAPI document and the README's table
//! are built from it, so an answer cannot carry a type the contract does not publish. The line
//! between 422 and 409 is the schema: 422 (`validation`) means the request breaks the published
//! schema, so a client generated from `/openapi.json` never sees one; 409 means a well-formed request
//! that the server's state refuses (the case, the site's devices, an Idempotency-Key's first request).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{CaseError, CaseState};
use crate::ingest::IngestError;
use crate::store::{StoreError, SyncError};

/// `Retry-After` of the answers that say the store cannot take writes now (503, 507).
pub const STORE_RETRY_AFTER_S: u64 = 30;

/// The media type of every refusal.
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// The prefix of every problem type URI; the slug of a [`ProblemType`] follows it.
pub const PROBLEM_URN: &str = "urn:returns-edge:problem:";

/// Declares [`ProblemType`] from one table: variant, slug, status, title and when it is answered.
macro_rules! problem_types {
    ($($variant:ident = $slug:literal, $status:ident, $title:literal, $when:literal;)+) => {
        /// Every problem type this server answers with, `urn:returns-edge:problem:<slug>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ProblemType {
            $(#[doc = $when] $variant,)+
        }

        impl ProblemType {
            /// Every type, in the order the README's table lists them.
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$variant),+];

            /// The last segment of the type URI.
            pub const fn slug(self) -> &'static str {
                match self { $(ProblemType::$variant => $slug,)+ }
            }

            /// The one status a problem of this type is answered with.
            pub const fn status(self) -> StatusCode {
                match self { $(ProblemType::$variant => StatusCode::$status,)+ }
            }

            /// The title of problems of this type (RFC 9457: the same for every occurrence).
            pub const fn title(self) -> &'static str {
                match self { $(ProblemType::$variant => $title,)+ }
            }

            /// When the server answers with this type, for the OpenAPI document and the README.
            pub const fn when(self) -> &'static str {
                match self { $(ProblemType::$variant => $when,)+ }
            }
        }
    };
}

problem_types! {
    BadRequest = "bad-request", BAD_REQUEST, "Malformed request",
        "The body is not JSON, or the `Idempotency-Key` header is missing or malformed.";
    Unauthorized = "unauthorized", UNAUTHORIZED, "Missing or invalid station token",
        "No `Authorization: Bearer` token, or one that is malformed, unknown or revoked. Checked before anything else.";
    Forbidden = "forbidden", FORBIDDEN, "Not allowed for this token",
        "The token's role does not include the route's (checked before the body is read), the body's `station` is not the token's, or the write needs a supervisor (a restricted disposition, a flagged case, a correction).";
    NotFound = "not-found", NOT_FOUND, "Not found",
        "No case with this id, no such dead letter's sink, no open return with this code, or no such route.";
    MethodNotAllowed = "method-not-allowed", METHOD_NOT_ALLOWED, "Method not allowed",
        "The path exists but not with this method; `Allow` lists the methods it has.";
    Conflict = "conflict", CONFLICT, "Not possible in the current state",
        "A well-formed request the server's state refuses: the case's state or lines (`current_state` says which state), the named scale (none of this station's, or no stable weight), a dead letter already handled, an RMA cache not enabled.";
    IdempotencyKeyReused = "idempotency-key-reused", CONFLICT, "Idempotency-Key already used",
        "The `Idempotency-Key` was accepted before with another request (method, path or JSON). Send a new key.";
    TooLarge = "too-large", PAYLOAD_TOO_LARGE, "Request body too large",
        "The body is longer than `server.max_body_bytes` (64 KiB by default).";
    UnsupportedMediaType = "unsupported-media-type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type",
        "A write's body is not sent as `Content-Type: application/json`.";
    Validation = "validation", UNPROCESSABLE_ENTITY, "Invalid field",
        "The request breaks the published schema: a field or query parameter of the wrong type, out of range, not matching its pattern, missing or unknown. `field` names it.";
    RateLimited = "rate-limited", TOO_MANY_REQUESTS, "Too many requests from this station",
        "The token is over `server.rate_limit_per_second`; `Retry-After` says when to retry.";
    Internal = "internal", INTERNAL_SERVER_ERROR, "Internal error",
        "The server failed; nothing was acknowledged. Retry with the same `Idempotency-Key`.";
    StoreUnavailable = "store-unavailable", SERVICE_UNAVAILABLE, "Store cannot record writes",
        "The store failed to sync and the server is restarting; nothing was recorded. Retry with the same key.";
    StoreReadOnly = "store-read-only", SERVICE_UNAVAILABLE, "The store's file system is read-only",
        "The store's file system is mounted read-only; nothing was recorded. Retry with the same key.";
    ShuttingDown = "shutting-down", SERVICE_UNAVAILABLE, "Shutting down",
        "The server is shutting down and takes no new writes. Retry with the same key.";
    Timeout = "timeout", SERVICE_UNAVAILABLE, "Request timed out",
        "The answer took longer than `server.request_timeout_secs`. A write may or may not have been recorded: retry with the same key.";
    OdooUnavailable = "odoo-unavailable", SERVICE_UNAVAILABLE, "Odoo could not be read",
        "An RMA cache refresh could not read Odoo; the cache keeps answering as it was.";
    InsufficientStorage = "insufficient-storage", INSUFFICIENT_STORAGE, "The store's disk is full",
        "The store's disk is below `store.min_free_mb`; nothing was recorded (`store`, `free_bytes`, `needed_bytes` say how full). Retry with the same key.";
}

impl ProblemType {
    /// The full type URI, e.g. `urn:returns-edge:problem:validation`.
    pub fn uri(self) -> String {
        format!("{PROBLEM_URN}{}", self.slug())
    }

    /// The type of an error answer some layer made without a problem body (a timeout, a wrong
    /// method), by its status: a 503 is the timeout layer's, any other status the first type
    /// answered with it, and a status no type has an internal error.
    pub fn of_bare_status(status: StatusCode) -> ProblemType {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return ProblemType::Timeout;
        }
        ProblemType::ALL
            .iter()
            .copied()
            .find(|kind| kind.status() == status)
            .unwrap_or(ProblemType::Internal)
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: ProblemType,
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
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        ApiError {
            status: kind.status(),
            kind,
            title: kind.title(),
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
        Self::new(ProblemType::BadRequest, detail).with_field(field)
    }

    /// 422: a value the published schema does not allow.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Validation, detail).with_field(field)
    }

    /// 409: a well-formed request the server's current state refuses.
    pub fn conflict(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Conflict, detail).with_field(field)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unauthorized, detail).with_field("Authorization")
    }

    pub fn forbidden(field: Option<&str>, detail: impl Into<String>) -> Self {
        let mut e = Self::new(ProblemType::Forbidden, detail);
        e.field = field.map(str::to_owned);
        e
    }

    pub fn not_found(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ProblemType::NotFound, detail).with_field(field)
    }

    pub fn internal() -> Self {
        Self::new(
            ProblemType::Internal,
            "the server failed to handle the request; nothing was acknowledged, retry with the same Idempotency-Key",
        )
    }

    /// A problem for an error answer that a layer made without one, keeping its status.
    pub fn for_bare_status(status: StatusCode) -> Self {
        let kind = ProblemType::of_bare_status(status);
        let detail = match kind {
            ProblemType::Timeout => "the request took longer than server.request_timeout_secs; a write may have been recorded, retry with the same Idempotency-Key",
            ProblemType::MethodNotAllowed => "this path does not take this method; the Allow header lists the ones it takes",
            _ => "the request could not be handled",
        };
        let mut e = Self::new(kind, detail);
        // The status the layer chose stands: it is what the client already sees.
        e.status = status;
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            type_uri: self.kind.uri(),
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
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_MEDIA_TYPE));
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
        let kind = match &e {
            E::UnknownCase => ProblemType::NotFound,
            E::NeedsSupervisor { .. } | E::Forbidden { .. } => ProblemType::Forbidden,
            // The schema's `maxItems` says this one; the rest depend on the case.
            E::TooManyLines { .. } => ProblemType::Validation,
            // A line the case does not have, an inspection that is not active, a correction's
            // quantity, grades without one default disposition: each request is well-formed and
            // would be accepted by another case, so the case's state refuses it, not the schema.
            _ => ProblemType::Conflict,
        };
        ApiError {
            field: e.field().map(str::to_owned),
            current_state: e.current_state(),
            ..ApiError::new(kind, e.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Sync(SyncError::Closed) => ApiError::new(
                ProblemType::ShuttingDown,
                "the server is shutting down; retry with the same Idempotency-Key",
            ),
            // Not logged here: the flusher logged the failed sync once, and every later write
            // would repeat it.
            StoreError::Sync(e) => {
                let mut answer = ApiError::new(
                    ProblemType::StoreUnavailable,
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
                    ProblemType::InsufficientStorage,
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
                    ProblemType::StoreReadOnly,
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
            IngestError::CaseFull(_) => ApiError::new(ProblemType::Conflict, e.to_string()),
            IngestError::KeyReused => {
                ApiError::new(ProblemType::IdempotencyKeyReused, e.to_string()).with_field("Idempotency-Key")
            }
            IngestError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_slugs_are_unique_and_statuses_are_errors() {
        let mut slugs: Vec<&str> = ProblemType::ALL.iter().map(|t| t.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len(), "two types share a slug");
        for kind in ProblemType::ALL {
            assert!(kind.status().as_u16() >= 400, "{kind:?}");
            assert_eq!(
                ProblemType::of_bare_status(kind.status()).status(),
                kind.status(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn an_answer_carries_its_types_uri_status_and_title() {
        let response = ApiError::conflict("line", "line 2 does not exist").into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let error = ApiError::new(ProblemType::IdempotencyKeyReused, "reused");
        assert_eq!(error.status, StatusCode::CONFLICT);
        assert_eq!(error.kind.uri(), "urn:returns-edge:problem:idempotency-key-reused");
    }
}
