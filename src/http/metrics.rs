//! HTTP side of the metrics: the layer that counts every answer by matched route and status, and
//! `GET /metrics`, which renders the app's [`Metrics`](crate::metrics::Metrics).
//!
//! The layer is added with `Router::layer`, which axum applies after routing, so the matched path
//! (`/v1/cases/{case_id}`, never a real id: bounded label values) is known; the fallback answers
//! as route `unmatched`. It sits outside the timeout layer so timed-out requests are counted too.
//! Nothing here logs: the trace layer does.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::openapi::MetricsProblems;
use super::AppState;
use crate::metrics::Metrics;

/// Route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// The routes whose latency is the ingest latency: the case writes (all `POST`).
const INGEST_ROUTES: &[&str] = &[
    "/v1/parcels",
    "/v1/cases/{case_id}/inspections",
    "/v1/cases/{case_id}/dispositions",
    "/v1/cases/{case_id}/flag-clearances",
    "/v1/cases/{case_id}/close",
];

/// Middleware: counts the answer by route, method and status; times the write routes.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let response = next.run(request).await;
    let ingest = method == Method::POST && INGEST_ROUTES.contains(&route.as_str());
    metrics.http_answer(
        &route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
        ingest,
    );
    response
}

#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    description = "Prometheus metrics. No token.",
    responses((status = 200, description = "Prometheus text exposition format (version 0.0.4); names are prefixed `returns_edge_`, see the README",
        content_type = "text/plain"), MetricsProblems))]
pub async fn serve(State(state): State<AppState>) -> Result<Response, ApiError> {
    let metrics = state.metrics.clone();
    let store = state.ingest.store().clone();
    let sinks = state.sinks.clone();
    let dispatchers = state.dispatchers.clone();
    let rma = state.rma.clone();
    let mut text = tokio::task::spawn_blocking(move || {
        metrics.rma_cache(&rma.status()?);
        metrics.scrape(&store, &sinks, &dispatchers)
    })
    .await
    .map_err(|_| ApiError::internal())??;
    // Device gauges (returns_edge_device_connected…) come from the device hub's own state.
    text.push_str(&state.devices.prometheus_text());
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}
