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
use serde_json::json;

use super::error::ApiError;
use super::AppState;

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "the process answers")))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready to take writes; `rma_cache` tells the RMA cache's age and last error (never a reason to be unready)"),
        (status = 503, description = "not ready: the store cannot record writes or the server is shutting down")))]
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
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "reason": reason,
        "last_seq": store.last_seq(),
        "rma_cache": rma,
    });
    (status, Json(body))
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("path", format!("no route for {}; see /openapi.json", uri.path()))
}
