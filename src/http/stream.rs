//! Device routes: a station's live stream (`GET /v1/stations/{station}/stream`, Server-Sent
//! Events) and the devices' current state (`GET /v1/devices`). Both read from the
//! [`DeviceHub`](crate::devices::DeviceHub); neither writes anything.
//!
//! Stream events (`event:` name, `data:` one JSON object):
//! - `scan`: `{device, code, symbology, classification: {kind, …}, at_ms}`
//! - `weight`: `{device, grams, resolution_g, stability, at_zero, usable, why_not, at_ms}`
//!   (`grams` null when the scale reported a state without a weight)
//! - `device`: `{device, kind, state: connected|disconnected|fault, reason, at_ms}`; one per device
//!   of the station when the stream opens, then at every change
//! - `lagged`: `{missed}`: this client read too slowly and lost its `missed` oldest events
//!
//! An idle stream carries a keep-alive comment every `device_settings.keep_alive_secs`. Streams
//! end when the server shuts down; clients reconnect.

use std::convert::Infallible;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{path_param, Authenticated};
use super::openapi::{PlainReadProblems, StreamProblems};
use super::AppState;
use crate::devices::{DeviceState, StreamItem};
use crate::domain::StationId;

/// `GET /v1/devices`
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicesView {
    /// Every configured device: `{id, station, kind, path, connected, status, status_changed_at_ms,
    /// last_reading, last_stability, last_scan, weight_not_usable}`.
    #[schema(value_type = Vec<Object>)]
    pub devices: Vec<DeviceState>,
}

#[utoipa::path(get, path = "/v1/stations/{station}/stream", tag = "devices", operation_id = "station_stream",
    description = "The station's scanners and scales, live. Any role. The stream does not end while the server runs.",
    params(("station" = StationId, Path, description = "the station whose devices to follow")),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-Sent Events `scan`, `weight`, `device` and `lagged` (see the README's Devices section); keep-alive comments while idle"),
        StreamProblems),
    security(("station_token" = ["receiver"])))]
pub async fn station_stream(
    State(state): State<AppState>,
    _auth: Authenticated,
    station: Result<Path<String>, PathRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let station = path_param(station, "station")?;
    let station = StationId::parse(&station).map_err(|e| ApiError::invalid("station", format!("expected {e}")))?;
    let events = state.devices.subscribe(&station).map(|item| Ok(sse_event(item)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(state.devices.keep_alive())))
}

#[utoipa::path(get, path = "/v1/devices", tag = "devices", operation_id = "list_devices",
    description = "Every configured scanner and scale, its connection and last reading. Any role.",
    responses((status = 200, body = DevicesView), PlainReadProblems),
    security(("station_token" = ["receiver"])))]
pub async fn list_devices(State(state): State<AppState>, _auth: Authenticated) -> Json<DevicesView> {
    Json(DevicesView {
        devices: state.devices.snapshot(),
    })
}

fn sse_event(item: StreamItem) -> Event {
    let (name, data) = match item {
        StreamItem::Event(event) => (event.name(), serde_json::to_string(&event)),
        StreamItem::Lagged { missed } => (
            "lagged",
            serde_json::to_string(&serde_json::json!({ "missed": missed })),
        ),
    };
    // These values are plain structs of strings and numbers: serialising them does not fail.
    Event::default().event(name).data(data.unwrap_or_default())
}
