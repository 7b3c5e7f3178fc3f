//! Admin routes: `GET /v1/admin/backup`, a consistent backup of the whole store while serving.
//!
//! The store writes the backup into memory under its gate (mutations wait for the read, none is
//! refused; see `store/backup.rs` for the format and the consistency guarantee), then the bytes are
//! sent, so a slow client never holds writes up. Admin tokens only: the file holds every event,
//! and the hashes of every station token.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::error::ApiError;
use super::extract::{role, Authorized};
use super::openapi::BackupProblems;
use super::AppState;
use crate::ingest::now_ms;
use crate::store::BackupError;

#[utoipa::path(get, path = "/v1/admin/backup", tag = "operators", operation_id = "backup",
    description = "A consistent backup file of the whole store, taken while serving. Role: admin.",
    responses(
        (status = 200, description = "the backup file (format in the README; `store restore FILE` reads it)",
            content_type = "application/octet-stream",
            headers(("x-backup-records" = u64, description = "records in the file"),
                ("x-backup-last-seq" = u64, description = "the last event's sequence number"))),
        BackupProblems,
    ),
    security(("station_token" = ["admin"])))]
pub async fn backup(State(state): State<AppState>, _auth: Authorized<role::Admin>) -> Result<Response, ApiError> {
    let store = state.ingest.store().clone();
    let (bytes, summary) = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        store.backup_to(&mut bytes, now_ms()).map(|summary| (bytes, summary))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| match e {
        BackupError::Store(e) => ApiError::from(e),
        _ => ApiError::internal(),
    })?;
    let file = format!(
        "attachment; filename=\"returns-edge-{}-{}.backup\"",
        summary.header.site.as_deref().unwrap_or("unknown-site"),
        summary.header.created_at_ms
    );
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&file) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert("x-backup-records", HeaderValue::from(summary.records));
    headers.insert("x-backup-last-seq", HeaderValue::from(summary.header.last_seq));
    Ok(response)
}
