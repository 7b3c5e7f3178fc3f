//! Read routes: one case with its events and delivery status, pages of cases, the event log.
//! Any valid token may read; the token is checked before the path or query is read. Views are
//! built here from store records; stored shapes never leak into the API by accident.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{path_param, Authenticated, QueryPairs};
use super::openapi::{CaseReadProblems, QueryReadProblems};
use super::writes::parse_case_id;
use super::AppState;
use crate::domain::{Case, CaseId, CaseState, EventId, Flag};
use crate::store::EventRecord;

pub const MAX_PAGE: usize = 1_000;
const DEFAULT_PAGE: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    #[schema(value_type = CaseId)]
    pub case_id: String,
    #[schema(value_type = CaseState)]
    pub state: String,
    pub label: String,
    pub rma: Option<String>,
    pub weight_g: Option<u32>,
    pub scale: Option<String>,
    pub flags: Vec<FlagView>,
    pub lines: Vec<LineView>,
    /// The expected return the receipt matched in the RMA cache (order, customer reference,
    /// delivery date, products), as it was at receipt.
    #[schema(value_type = Option<Object>)]
    pub expected: Option<serde_json::Value>,
    /// The latest refund decision: `decision_id` (its Idempotency-Key), `supersedes`, lines
    /// with grade, percentage, amount and the rule that set it.
    #[schema(value_type = Option<Object>)]
    pub refund: Option<serde_json::Value>,
    pub events: Vec<EventView>,
    /// One entry per event per sink that wants it.
    pub delivery: Vec<DeliveryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub line: u16,
    pub sku: Option<String>,
    pub barcode: Option<String>,
    pub serial: Option<String>,
    pub received: u32,
    pub inspected: u32,
    pub disposed: u32,
    #[schema(value_type = Vec<Object>)]
    pub inspections: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub dispositions: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagView {
    #[schema(value_type = Flag)]
    pub flag: String,
    pub open: bool,
    pub raised_by: String,
    pub cleared_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub seq: u64,
    #[schema(value_type = EventId)]
    pub event_id: String,
    #[schema(value_type = CaseId)]
    pub case_id: String,
    /// parcel_received, item_inspected, item_disposed, flag_cleared, case_closed or
    /// refund_decided.
    pub kind: String,
    pub station: String,
    pub token: String,
    pub recorded_at_ms: u64,
    /// The event's fields; their shape depends on `kind`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub sink: String,
    pub seq: u64,
    pub event_id: String,
    /// pending, delivered, dead_lettered or discarded.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    #[schema(value_type = CaseId)]
    pub case_id: String,
    #[schema(value_type = CaseState)]
    pub state: String,
    pub label: String,
    pub rma: Option<String>,
    pub lines: usize,
    pub units: u32,
    #[schema(value_type = Vec<Flag>)]
    pub open_flags: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CasePage {
    pub cases: Vec<CaseSummary>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(value_type = Option<CaseId>)]
    pub next_after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page (the last sequence number returned, or `after` itself).
    pub next_after: u64,
    /// Events with a sequence number at or below this may be missing from pages: retention
    /// archived them (whole closed, delivered cases) to files on the edge. 0: none ever was.
    pub archived_up_to: u64,
}

/// The query of `GET /v1/cases`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// Only cases in this state.
    pub state: Option<CaseState>,
    /// Cases per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u16>,
    /// The `next_after` of the previous page.
    pub after: Option<CaseId>,
}

impl CaseQuery {
    pub const NAMES: [&'static str; 3] = ["state", "limit", "after"];

    pub fn parse(query: &QueryPairs) -> Result<Self, ApiError> {
        let query = query.only(&Self::NAMES)?;
        Ok(CaseQuery {
            state: query.parse("state", |s| CaseState::parse(s).map_err(|e| e.expected))?,
            limit: query.parse("limit", parse_limit)?,
            after: query.parse("after", |s| parse_case_id(s).map_err(|_| CaseId::EXPECTED))?,
        })
    }
}

/// The query of `GET /v1/events`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The sequence number to start after (default 0: from the beginning); a page's `next_after`.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub after: Option<u64>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u16>,
}

impl EventQuery {
    pub const NAMES: [&'static str; 2] = ["after", "limit"];

    pub fn parse(query: &QueryPairs) -> Result<Self, ApiError> {
        let query = query.only(&Self::NAMES)?;
        Ok(EventQuery {
            after: query.parse("after", |s| {
                parse_integer(s)
                    .filter(|n| i64::try_from(*n).is_ok())
                    .ok_or("a sequence number from 0 to 9223372036854775807")
            })?,
            limit: query.parse("limit", parse_limit)?,
        })
    }
}

/// A query's whole number: decimal digits, or a number with no fraction (`5.0`), which is how some
/// clients write the integers their schema asks for.
fn parse_integer(raw: &str) -> Option<u64> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok();
    }
    let (whole, fraction) = raw.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(fraction) && fraction.bytes().all(|b| b == b'0'))
        .then(|| whole.parse().ok())
        .flatten()
}

fn parse_limit(raw: &str) -> Result<u16, String> {
    parse_integer(raw)
        .filter(|n| (1..=MAX_PAGE as u64).contains(n))
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("a page size from 1 to {MAX_PAGE}"))
}

#[utoipa::path(get, path = "/v1/cases/{case_id}", tag = "reads", operation_id = "get_case",
    description = "One case: its lines, flags, the matched expected return, the latest refund decision, its events and their delivery. Any role.",
    params(("case_id" = CaseId, Path, description = "a case id as the API returns it (lowercase, hyphenated)")),
    responses((status = 200, body = CaseView), CaseReadProblems),
    security(("station_token" = ["receiver"])))]
pub async fn get_case(
    State(state): State<AppState>,
    _auth: Authenticated,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let id = parse_case_id(&path_param(raw, "case_id")?)?;
    let store = state.ingest.store().clone();
    let sinks: Vec<String> = state.sinks.iter().map(|s| s.name.as_str().to_owned()).collect();
    let view = tokio::task::spawn_blocking(move || -> Result<Option<CaseView>, ApiError> {
        let Some(case) = store.case(id)? else { return Ok(None) };
        let events = store.case_events(id)?;
        let mut delivery = Vec::new();
        for event in &events {
            for sink in &sinks {
                if let Some(status) = store.delivery_status(sink, event.seq)? {
                    delivery.push(DeliveryView {
                        sink: sink.clone(),
                        seq: status.entry.seq,
                        event_id: status.entry.event_id.to_string(),
                        state: enum_text(&status.state),
                        attempts: status.entry.attempts,
                        last_error: status.reason.or(status.entry.last_error),
                    });
                }
            }
        }
        Ok(Some(case_view(
            &case,
            events.iter().map(event_view).collect(),
            delivery,
        )))
    })
    .await
    .map_err(|_| ApiError::internal())??;
    view.map(Json)
        .ok_or_else(|| ApiError::not_found("case_id", format!("case {id} does not exist")))
}

#[utoipa::path(get, path = "/v1/cases", tag = "reads", operation_id = "list_cases",
    description = "A page of cases, oldest first. Any role.",
    params(CaseQuery),
    responses((status = 200, body = CasePage), QueryReadProblems),
    security(("station_token" = ["receiver"])))]
pub async fn list_cases(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: QueryPairs,
) -> Result<Json<CasePage>, ApiError> {
    let query = CaseQuery::parse(&query)?;
    let limit = query.limit.map_or(DEFAULT_PAGE, usize::from);
    let (wanted, after) = (query.state, query.after);
    let store = state.ingest.store().clone();
    let cases = tokio::task::spawn_blocking(move || {
        store.cases(after, limit + 1, |case| wanted.is_none_or(|w| case.state() == w))
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let more = cases.len() > limit;
    let cases: Vec<CaseSummary> = cases.iter().take(limit).map(case_summary).collect();
    let next_after = if more {
        cases.last().map(|c| c.case_id.clone())
    } else {
        None
    };
    Ok(Json(CasePage { cases, next_after }))
}

#[utoipa::path(get, path = "/v1/events", tag = "reads", operation_id = "list_events",
    description = "Events in sequence order. Any role.",
    params(EventQuery),
    responses((status = 200, body = EventPage), QueryReadProblems),
    security(("station_token" = ["receiver"])))]
pub async fn list_events(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: QueryPairs,
) -> Result<Json<EventPage>, ApiError> {
    let query = EventQuery::parse(&query)?;
    let limit = query.limit.map_or(DEFAULT_PAGE, usize::from);
    let after = query.after.unwrap_or(0);
    let store = state.ingest.store().clone();
    let (events, archived_up_to) = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::store::StoreError>((store.events(after, limit)?, store.archived_up_to()?))
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let next_after = events.last().map_or(after, |e| e.seq);
    Ok(Json(EventPage {
        events: events.iter().map(event_view).collect(),
        next_after,
        archived_up_to,
    }))
}

/// Renders a serde enum value as its JSON string (`"pending"`), without quoting rules of our own.
fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub fn event_view(record: &EventRecord) -> EventView {
    // Events serialise externally tagged: `{"item_inspected": {...}}`, or `"case_closed"` for a
    // variant without fields. Split that into `kind` and `data`.
    let (kind, data) = match serde_json::to_value(&record.event) {
        Ok(serde_json::Value::Object(map)) if map.len() == 1 => {
            let (kind, data) = map.into_iter().next().expect("map has one entry");
            (kind, data)
        }
        Ok(serde_json::Value::String(kind)) => (kind, serde_json::Value::Object(Default::default())),
        _ => (record.event.kind().as_str().to_owned(), serde_json::Value::Null),
    };
    EventView {
        seq: record.seq,
        event_id: record.id.to_string(),
        case_id: record.case_id.to_string(),
        kind,
        station: record.station.to_string(),
        token: record.token.to_string(),
        recorded_at_ms: record.recorded_at_ms,
        data,
    }
}

fn case_view(case: &Case, events: Vec<EventView>, delivery: Vec<DeliveryView>) -> CaseView {
    CaseView {
        case_id: case.id.to_string(),
        state: case.state().to_string(),
        label: case.label.to_string(),
        rma: case.rma.as_ref().map(ToString::to_string),
        weight_g: case.weight.map(|w| w.get()),
        scale: case.scale.as_ref().map(ToString::to_string),
        flags: case
            .flags
            .iter()
            .map(|f| FlagView {
                flag: enum_text(&f.flag),
                open: f.cleared_by.is_none(),
                raised_by: f.raised_by.to_string(),
                cleared_by: f.cleared_by.map(|e| e.to_string()),
            })
            .collect(),
        lines: case
            .lines
            .iter()
            .map(|l| LineView {
                line: l.number.get(),
                sku: l.sku.as_ref().map(ToString::to_string),
                barcode: l.barcode.as_ref().map(ToString::to_string),
                serial: l.serial.as_ref().map(ToString::to_string),
                received: l.received,
                inspected: l.inspected(),
                disposed: l.disposed(),
                inspections: serde_json::to_value(&l.inspections).unwrap_or_default(),
                dispositions: serde_json::to_value(&l.dispositions).unwrap_or_default(),
            })
            .collect(),
        expected: case
            .expected
            .as_ref()
            .map(|e| serde_json::to_value(e).unwrap_or_default()),
        refund: case.refund.as_ref().map(|r| {
            let mut value = serde_json::to_value(&r.decision).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("decision_id".into(), r.event.to_string().into());
            }
            value
        }),
        events,
        delivery,
    }
}

fn case_summary(case: &Case) -> CaseSummary {
    CaseSummary {
        case_id: case.id.to_string(),
        state: case.state().to_string(),
        label: case.label.to_string(),
        rma: case.rma.as_ref().map(ToString::to_string),
        lines: case.lines.len(),
        units: case.lines.iter().map(|l| l.received).sum(),
        open_flags: case.open_flags().iter().map(enum_text).collect(),
    }
}
