//! Operator routes: the outbox status per sink, and dead letters (list, replay, discard). The
//! supervisor's role is checked before the path or query is read.
//!
//! Replaying and discarding are operator actions on delivery state, not case events: they need
//! a supervisor token but no Idempotency-Key, because repeating them cannot double an effect (a
//! replayed entry keeps its step and references; a second replay or discard finds no dead letter
//! and says so with 409).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ProblemType};
use super::extract::{path_param, role, Authenticated, Authorized, QueryPairs};
use super::openapi::{DeadLetterActionProblems, DeadLetterListProblems, PlainReadProblems};
use super::reads::{event_view, EventView};
use super::AppState;
use crate::ingest::now_ms;

/// The id of a dead letter in a path: `<sink>:<seq>`.
const DEAD_LETTER_ID: &str = "id";
/// Longest note kept with a discarded dead letter, in characters; longer ones are cut.
pub const MAX_DISCARD_NOTE: usize = 500;

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

/// What a replay or a discard did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterAction {
    /// The dead letter, `<sink>:<seq>`.
    pub id: String,
    /// `pending` (replayed: back in the outbox, due now) or `discarded`.
    #[schema(pattern = "^(pending|discarded)$")]
    pub state: &'static str,
}

/// The query of `GET /v1/dead-letters`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Only this sink's dead letters.
    pub sink: Option<String>,
}

impl DeadLetterQuery {
    pub const NAMES: [&'static str; 1] = ["sink"];

    pub fn parse(query: &QueryPairs) -> Result<Self, ApiError> {
        let query = query.only(&Self::NAMES)?;
        Ok(DeadLetterQuery {
            sink: query.get("sink").map(str::to_owned),
        })
    }
}

/// The query of `DELETE /v1/dead-letters/{id}`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiscardQuery {
    /// Why the entry is given up, kept in the audit trail with the token that gave it up (its first
    /// 500 characters).
    pub note: Option<String>,
}

impl DiscardQuery {
    pub const NAMES: [&'static str; 1] = ["note"];

    pub fn parse(query: &QueryPairs) -> Result<Self, ApiError> {
        let query = query.only(&Self::NAMES)?;
        Ok(DiscardQuery {
            note: query.get("note").map(str::to_owned),
        })
    }
}

#[utoipa::path(get, path = "/v1/outbox", tag = "operators", operation_id = "outbox",
    description = "Per sink: pending, in flight, oldest pending age, paused and why, dead letters, counters. Any role.",
    responses((status = 200, body = OutboxView), PlainReadProblems),
    security(("station_token" = ["receiver"])))]
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

#[utoipa::path(get, path = "/v1/dead-letters", tag = "operators", operation_id = "list_dead_letters",
    description = "Entries a sink rejected, with the reason, the step reached, the remote references and the event. Role: supervisor.",
    params(DeadLetterQuery),
    responses((status = 200, body = Vec<DeadLetterView>), DeadLetterListProblems),
    security(("station_token" = ["supervisor"])))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    _auth: Authorized<role::Supervisor>,
    query: QueryPairs,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    let query = DeadLetterQuery::parse(&query)?;
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

#[utoipa::path(post, path = "/v1/dead-letters/{id}/replay", tag = "operators", operation_id = "replay_dead_letter",
    description = "Puts a dead letter back in the outbox, due now, keeping its step and references. Role: supervisor.",
    params(("id" = String, Path, description = "`<sink>:<seq>` as `GET /v1/dead-letters` lists it", example = "odoo:42")),
    responses((status = 200, description = "back in the outbox", body = DeadLetterAction), DeadLetterActionProblems),
    security(("station_token" = ["supervisor"])))]
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    _auth: Authorized<role::Supervisor>,
    id: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<DeadLetterAction>), ApiError> {
    let id = path_param(id, DEAD_LETTER_ID)?;
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
    Ok((StatusCode::OK, Json(DeadLetterAction { id, state: "pending" })))
}

#[utoipa::path(delete, path = "/v1/dead-letters/{id}", tag = "operators", operation_id = "discard_dead_letter",
    description = "Gives a dead letter up, audited; the case's later entries proceed. Role: supervisor.",
    params(("id" = String, Path, description = "`<sink>:<seq>` as `GET /v1/dead-letters` lists it", example = "odoo:42"), DiscardQuery),
    responses((status = 200, description = "discarded", body = DeadLetterAction), DeadLetterActionProblems),
    security(("station_token" = ["supervisor"])))]
pub async fn discard_dead_letter(
    State(state): State<AppState>,
    auth: Authorized<role::Supervisor>,
    id: Result<Path<String>, PathRejection>,
    query: QueryPairs,
) -> Result<(StatusCode, Json<DeadLetterAction>), ApiError> {
    let caller = auth.caller;
    let query = DiscardQuery::parse(&query)?;
    let id = path_param(id, DEAD_LETTER_ID)?;
    let (sink, seq) = parse_id(&state, &id)?;
    let note = format!(
        "by station {} token {}{}",
        caller.station,
        caller.token,
        query
            .note
            .map(|n| format!(": {}", n.chars().take(MAX_DISCARD_NOTE).collect::<String>()))
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
    Ok((StatusCode::OK, Json(DeadLetterAction { id, state: "discarded" })))
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
        ProblemType::Conflict,
        format!("`{id}` is not a dead letter (already replayed, discarded or never rejected)"),
    )
    .with_field(DEAD_LETTER_ID)
}
