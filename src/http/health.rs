//! Liveness and readiness, and the problem+json answer for unknown routes.
//!
//! `healthz` says the process answers; `readyz` says it can take writes now (store writable, not
//! shutting down). Both need no token: load balancers and systemd probes have none. `readyz`
//! also shows the RMA cache's age and status, without letting it decide readiness: the server
//! must work offline, so a cache that never synced (Odoo unreachable since start) is reported,
//! not a reason to refuse receipts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::ApiError;
use super::AppState;

/// `GET /healthz`
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
}

/// `GET /readyz`
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(pattern = "^(ready|not_ready)$")]
    pub status: &'static str,
    /// Why not ready.
    pub reason: Option<String>,
    /// The last event's sequence number.
    pub last_seq: u64,
    /// The RMA cache: `enabled`, `synced`, `synced_at_ms`, `age_s`, `full_refresh_at_ms`,
    /// `entries`, `last_error`, `note`.
    #[schema(value_type = Object)]
    pub rma_cache: serde_json::Value,
}

#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses((status = 200, description = "the process answers", body = Health)))]
pub async fn healthz() -> impl IntoResponse {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    responses((status = 200, description = "ready to take writes; `rma_cache` tells the RMA cache's age and last error (never a reason to be unready)", body = Readiness),
        (status = 503, description = "not ready: the store cannot record writes or the server is shutting down", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.ingest.store();
    // The store's reason first: a server draining because its store was poisoned says why.
    let (status, reason) = if let Err(e) = store.check_writable() {
        (StatusCode::SERVICE_UNAVAILABLE, Some(e.to_string()))
    } else if state.draining() {
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting down".to_owned()))
    } else {
        (StatusCode::OK, None)
    };
    let rma = match state.rma.status() {
        Ok(rma) => super::rma::status_json(&rma),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let body = Readiness {
        status: if status == StatusCode::OK { "ready" } else { "not_ready" },
        reason,
        last_seq: store.last_seq(),
        rma_cache: rma,
    };
    (status, Json(body))
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("path", format!("no route for {}; see /openapi.json", uri.path()))
}
