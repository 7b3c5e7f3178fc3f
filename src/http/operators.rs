//! Operator routes: the outbox status per sink, and dead letters (list, replay, discard).
//!
//! Replaying and discarding are operator actions on delivery state, not case events: they need
//! a supervisor token but no Idempotency-Key, because repeating them cannot double an effect (a
//! replayed entry keeps its step and references; a second replay or discard finds no dead letter
//! and says so with 409).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::Authenticated;
use super::reads::{event_view, EventView};
use super::AppState;
use crate::domain::Role;
use crate::ingest::now_ms;

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxView {
    pub sinks: Vec<SinkView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SinkView {
    pub name: String,
    pub kind: String,
    /// Entries waiting (including the ones in flight and the ones blocked behind a dead letter).
    pub pending: usize,
    pub in_flight: usize,
    /// Age of the oldest pending entry, in seconds.
    pub oldest_pending_age_s: Option<u64>,
    /// Why the sink is paused (credentials refused, database missing, unreachable…), if it is.
    pub paused: Option<String>,
    pub paused_since_ms: Option<u64>,
    pub dead_letters: usize,
    pub last_error: Option<String>,
    /// Counters since the server started.
    pub delivered: u64,
    pub retried: u64,
    pub rejected: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// `<sink>:<seq>`, as used in the replay and discard routes.
    pub id: String,
    pub sink: String,
    pub seq: u64,
    pub event_id: String,
    pub case_id: String,
    pub reason: String,
    pub dead_at_ms: u64,
    pub attempts: u32,
    /// Step reached and remote references learnt (kept on replay).
    pub step: u32,
    #[schema(value_type = Object)]
    pub refs: serde_json::Value,
    pub event: Option<EventView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// Only this sink's dead letters.
    pub sink: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiscardQuery {
    /// Why the entry is given up (kept in the audit trail).
    pub note: Option<String>,
}

#[utoipa::path(get, path = "/v1/outbox", tag = "operators",
    responses((status = 200, body = OutboxView)), security(("station_token" = [])))]
pub async fn outbox(State(state): State<AppState>, _auth: Authenticated) -> Result<Json<OutboxView>, ApiError> {
    let store = state.ingest.store().clone();
    let sinks = state.sinks.clone();
    let counts = tokio::task::spawn_blocking(move || {
        sinks
            .iter()
            .map(|s| store.sink_counts(s.name.as_str()).map(|c| (s.clone(), c)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let now = now_ms();
    let sinks = counts
        .into_iter()
        .map(|(sink, counts)| {
            let status = state
                .dispatcher(sink.name.as_str())
                .map(|h| h.status())
                .unwrap_or_default();
            SinkView {
                name: sink.name.to_string(),
                kind: serde_json::to_value(sink.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                pending: counts.pending,
                in_flight: status.in_flight,
                oldest_pending_age_s: counts.oldest_pending_ms.map(|at| now.saturating_sub(at) / 1000),
                paused: status.paused.as_ref().map(|(why, _)| why.clone()),
                paused_since_ms: status.paused.as_ref().map(|(_, since)| *since),
                dead_letters: counts.dead_letters,
                last_error: status.last_error,
                delivered: status.delivered,
                retried: status.retried,
                rejected: status.rejected,
            }
        })
        .collect();
    Ok(Json(OutboxView { sinks }))
}

#[utoipa::path(get, path = "/v1/dead-letters", tag = "operators", params(DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetterView>)), security(("station_token" = [])))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    auth: Authenticated,
    query: Result<Query<DeadLetterQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    auth.require(Role::Supervisor)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let store = state.ingest.store().clone();
    let letters = tokio::task::spawn_blocking(move || -> Result<Vec<DeadLetterView>, ApiError> {
        let mut out = Vec::new();
        for (sink, letter) in store.dead_letters(query.sink.as_deref())? {
            let event = store.event(letter.entry.seq)?.as_ref().map(event_view);
            out.push(DeadLetterView {
                id: format!("{sink}:{}", letter.entry.seq),
                sink,
                seq: letter.entry.seq,
                event_id: letter.entry.event_id.to_string(),
                case_id: letter.entry.case_id.to_string(),
                reason: letter.reason,
                dead_at_ms: letter.dead_at_ms,
                attempts: letter.entry.attempts,
                step: letter.entry.step,
                refs: serde_json::to_value(&letter.entry.refs).unwrap_or_default(),
                event,
            });
        }
        Ok(out)
    })
    .await
    .map_err(|_| ApiError::internal())??;
    Ok(Json(letters))
}

#[utoipa::path(post, path = "/v1/dead-letters/{id}/replay", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "back in the outbox, due now"), (status = 409, description = "not a dead letter")),
    security(("station_token" = [])))]
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    auth.require(Role::Supervisor)?;
    let (sink, seq) = parse_id(&state, &id)?;
    let store = state.ingest.store().clone();
    let sink_name = sink.clone();
    let replayed = tokio::task::spawn_blocking(move || store.replay_dead_letter(&sink_name, seq))
        .await
        .map_err(|_| ApiError::internal())??;
    if !replayed {
        return Err(not_dead(&id));
    }
    state.ingest.store().durable().await?;
    if let Some(handle) = state.dispatcher(&sink) {
        handle.reload();
    }
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "id": id, "state": "pending" })),
    ))
}

#[utoipa::path(delete, path = "/v1/dead-letters/{id}", tag = "operators", params(("id" = String, Path), DiscardQuery),
    responses((status = 200, description = "discarded; the case's later entries proceed"), (status = 409, description = "not a dead letter")),
    security(("station_token" = [])))]
pub async fn discard_dead_letter(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    query: Result<Query<DiscardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let caller = auth.require(Role::Supervisor)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let (sink, seq) = parse_id(&state, &id)?;
    let note = format!(
        "by station {} token {}{}",
        caller.station,
        caller.token,
        query
            .note
            .map(|n| format!(": {}", n.chars().take(500).collect::<String>()))
            .unwrap_or_default()
    );
    let store = state.ingest.store().clone();
    let sink_name = sink.clone();
    let discarded = tokio::task::spawn_blocking(move || store.discard_dead_letter(&sink_name, seq, &note, now_ms()))
        .await
        .map_err(|_| ApiError::internal())??;
    if !discarded {
        return Err(not_dead(&id));
    }
    state.ingest.store().durable().await?;
    if let Some(handle) = state.dispatcher(&sink) {
        handle.reload();
    }
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "id": id, "state": "discarded" })),
    ))
}

fn parse_id(state: &AppState, id: &str) -> Result<(String, u64), ApiError> {
    let expected = "expected `<sink>:<seq>` as listed by GET /v1/dead-letters";
    let (sink, seq) = id.split_once(':').ok_or_else(|| ApiError::not_found("id", expected))?;
    let seq: u64 = seq.parse().map_err(|_| ApiError::not_found("id", expected))?;
    if !state.sinks.iter().any(|s| s.name.as_str() == sink) {
        return Err(ApiError::not_found(
            "id",
            format!("no sink named `{sink}` is configured"),
        ));
    }
    Ok((sink.to_owned(), seq))
}

fn not_dead(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "Not a dead letter",
        format!("`{id}` is not a dead letter (already replayed, discarded or never rejected)"),
    )
    .with_field("id")
}
