//! The HTTP API (docs/architecture.md#http-contract): routers, extraction, errors, OpenAPI.
//!
//! [`router`] is a plain function of the state so tests can drive it with `oneshot` or bind it to
//! a real port. Handlers stay thin: authorise, parse, call `ingest` (writes) or the store (reads);
//! the token and its role are checked before anything the request carries is read. Every error
//! answer is `application/problem+json`, including the ones layers make without a body (a timeout,
//! a wrong method): [`problem_for_bare_errors`] gives them one. This module does not import sled
//! and does not decide anything about cases.

pub mod admin;
pub mod error;
pub mod extract;
mod health;
pub mod metrics;
pub mod openapi;
pub mod operators;
pub mod ratelimit;
pub mod reads;
pub mod rma;
pub mod schema;
pub mod stream;
pub mod tokens;
pub mod writes;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::SinkConfig;
use crate::delivery::SinkHandle;
use crate::devices::DeviceHub;
use crate::ingest::Ingest;
use crate::metrics::Metrics;

/// Shared state of all handlers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub ingest: Ingest,
    pub sinks: Arc<Vec<SinkConfig>>,
    /// Running dispatchers, for the outbox status and to reload after operator actions.
    pub dispatchers: Arc<Vec<SinkHandle>>,
    /// Set on shutdown: writes are refused with 503 while in-flight ones finish.
    draining: Arc<AtomicBool>,
    /// Scanners and scales: the stations' live streams and the scales' stable weights.
    pub devices: DeviceHub,
    /// This app's own metrics recorder, rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Request budget per station token.
    pub limiter: Arc<ratelimit::StationLimiter>,
    /// The RMA cache (scan lookup, offline); disabled unless an Odoo sink feeds it.
    pub rma: crate::rma::RmaCache,
}

impl AppState {
    pub fn new(ingest: Ingest, sinks: Vec<SinkConfig>, dispatchers: Vec<SinkHandle>) -> Self {
        let metrics = Metrics::new(ingest.store());
        let rma = crate::rma::RmaCache::new(ingest.store().clone(), Default::default(), None);
        AppState {
            rma,
            metrics,
            ingest,
            sinks: Arc::new(sinks),
            dispatchers: Arc::new(dispatchers),
            draining: Arc::new(AtomicBool::new(false)),
            devices: DeviceHub::disabled(),
            limiter: Arc::new(ratelimit::StationLimiter::default()),
        }
    }

    /// The same state with per-token limits of `per_second` sustained and `burst` above it.
    pub fn with_rate_limit(mut self, per_second: u64, burst: u64) -> Self {
        self.limiter = Arc::new(ratelimit::StationLimiter::new(per_second, burst));
        self
    }

    /// The same state with `rma` as its RMA cache.
    pub fn with_rma(mut self, rma: crate::rma::RmaCache) -> Self {
        self.rma = rma;
        self
    }

    /// The same state with `devices` as its device hub.
    pub fn with_devices(mut self, devices: DeviceHub) -> Self {
        self.devices = devices;
        self
    }

    pub fn dispatcher(&self, sink: &str) -> Option<&SinkHandle> {
        self.dispatchers.iter().find(|h| h.name == sink)
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

/// Builds the whole API.
pub fn router(state: AppState, limits: Limits) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let state_metrics = state.metrics.clone();
    Router::new()
        .route("/v1/parcels", post(writes::receive_parcel))
        .route("/v1/cases", get(reads::list_cases))
        .route("/v1/cases/{case_id}", get(reads::get_case))
        .route("/v1/cases/{case_id}/inspections", post(writes::inspect))
        .route("/v1/cases/{case_id}/dispositions", post(writes::dispose))
        .route("/v1/cases/{case_id}/flag-clearances", post(writes::clear_flag))
        .route("/v1/cases/{case_id}/close", post(writes::close))
        .route("/v1/events", get(reads::list_events))
        .route("/v1/stations/{station}/stream", get(stream::station_stream))
        .route("/v1/devices", get(stream::list_devices))
        .route("/v1/outbox", get(operators::outbox))
        .route("/v1/dead-letters", get(operators::list_dead_letters))
        .route("/v1/dead-letters/{id}/replay", post(operators::replay_dead_letter))
        .route("/v1/dead-letters/{id}", delete(operators::discard_dead_letter))
        .route("/v1/admin/backup", get(admin::backup))
        .route("/v1/admin/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/v1/admin/tokens/{id}", delete(tokens::revoke_token))
        .route("/v1/rma/lookup", get(rma::lookup))
        .route("/v1/rma/refresh", post(rma::refresh))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .route("/openapi.json", get(openapi::serve))
        .fallback(health::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(axum::middleware::from_fn_with_state(state_metrics, metrics::track))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Gives an error answer made without a body (the timeout layer's 503, the router's 405) or with
/// axum's plain-text one the problem+json every other refusal has, keeping its status and headers
/// (`Allow`). Answers with a JSON body of their own (`/readyz`'s 503) are left as they are.
pub async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !bare {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = error::ApiError::for_bare_status(status).into_response();
    let (problem_parts, body) = problem.into_parts();
    parts.headers.extend(problem_parts.headers);
    Response::from_parts(parts, body)
}
