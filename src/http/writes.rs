//! Write routes: receive a parcel, inspect, dispose, clear a flag, close a case. Each checks the
//! caller's role first (before reading path, key or body), then parses its body strictly, checks the
//! body's station against the token's, and hands one command to `ingest`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ProblemType};
use super::extract::{path_param, role, Authorized, IdempotencyKey, StrictJson};
use super::openapi::{ParcelProblems, WriteProblems};
use super::AppState;
use crate::domain::{
    Barcode, CaseId, CaseState, ClearFlag, Command, Condition, Dispose, Disposition, EventId, Flag, Grade, Grams,
    Inspect, LineNo, NewLine, Notes, Qty, ReceiveParcel, RmaRef, ScaleId, Serial, Sku, StationId,
};
use crate::ingest::{Accepted, Write};
use crate::tokens::Caller;

/// Header set on an answer replayed for a repeated Idempotency-Key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// `POST /v1/parcels`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"station": "dock-1", "label": "1Z999AA10123456784", "weight_g": 1250,
    "lines": [{"sku": "SKU-1", "qty": 2}]}))]
pub struct ParcelRequest {
    /// The station sending the request; must be the token's station (403 naming `station`).
    pub station: StationId,
    /// The parcel's label as scanned (carrier tracking number, RMA label, …).
    pub label: Barcode,
    /// Stable weight from the scale, in grams.
    pub weight_g: Option<Grams>,
    /// The scale that measured `weight_g`. Without `weight_g`, the server takes this scale's
    /// current stable weight: it must then be a scale of this station (`GET /v1/devices`) with a
    /// stable weight, else 409 naming `scale`.
    pub scale: Option<ScaleId>,
    /// The RMA or return reference, when the station knows it.
    pub rma: Option<RmaRef>,
    /// Expected contents, at most 200 lines; omitted or empty means one unidentified item.
    #[schema(max_items = 200)]
    pub lines: Option<Vec<LineRequest>>,
}

/// One line of a receipt. A line with neither `sku` nor `barcode` is an unidentified item (Odoo
/// books it as `sinks.odoo.unknown_product`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "SKU-1", "barcode": "4006381333931", "qty": 2}))]
pub struct LineRequest {
    pub sku: Option<Sku>,
    /// The item's barcode as scanned.
    pub barcode: Option<Barcode>,
    /// Units on this line.
    pub qty: Qty,
    pub serial: Option<Serial>,
}

/// `POST /v1/cases/{case_id}/inspections`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"station": "dock-1", "line": 1, "grade": "B", "conditions": ["packaging_damaged"]}))]
pub struct InspectionRequest {
    /// Must be the token's station.
    pub station: StationId,
    /// The case's line, from 1 (409 when the case has fewer lines).
    pub line: LineNo,
    pub grade: Grade,
    pub conditions: Option<Vec<Condition>>,
    /// The serial found on the item; one that differs from the receipt's flags the case.
    pub serial: Option<Serial>,
    pub notes: Option<Notes>,
    /// Units graded; defaults to every unit of the line not yet inspected (409 when more than
    /// that).
    pub qty: Option<Qty>,
    /// Event id of an active inspection of this line that this one replaces (supervisor only;
    /// 409 when it is not one, or when `qty` differs from its quantity).
    pub corrects: Option<EventId>,
}

/// `POST /v1/cases/{case_id}/dispositions`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"station": "dock-1", "line": 1, "disposition": "restock"}))]
pub struct DispositionRequest {
    /// Must be the token's station.
    pub station: StationId,
    /// The case's line, from 1 (409 when the case has fewer lines).
    pub line: LineNo,
    /// Where the units go; omitted: the site policy's default for the grade they got (409 when
    /// the line's grades call for different ones). `scrap`, `liquidate` and `donate`, any
    /// disposition of a flagged case and of a high-value parcel need a supervisor (403).
    pub disposition: Option<Disposition>,
    /// Units; defaults to every inspected unit of the line without a disposition.
    pub qty: Option<Qty>,
}

/// `POST /v1/cases/{case_id}/flag-clearances`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"station": "dock-1", "flag": "wrong_item", "note": "right item, mislabelled box"}))]
pub struct FlagClearanceRequest {
    /// Must be the token's station.
    pub station: StationId,
    /// An open flag of the case (409 when it is not open).
    pub flag: Flag,
    pub note: Option<Notes>,
}

/// `POST /v1/cases/{case_id}/close`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"station": "dock-1"}))]
pub struct CloseRequest {
    /// Must be the token's station.
    pub station: StationId,
}

/// Answer of every write.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct WriteAnswer {
    #[schema(value_type = CaseId)]
    pub case_id: String,
    #[schema(value_type = EventId)]
    pub event_id: String,
    /// The event's sequence number in the store.
    pub seq: u64,
    #[schema(value_type = CaseState)]
    pub state: String,
    pub rma: Option<String>,
    /// Open flags after the write.
    #[schema(value_type = Vec<Flag>)]
    pub flags: Vec<String>,
    /// Inspections: the grade's default disposition by the site policy.
    #[schema(value_type = Option<Disposition>)]
    pub suggested_disposition: Option<String>,
    /// When this write made the refund due: the decision (`decision_id`, `supersedes`, `basis`,
    /// `lines` with percentages, amounts and rules, `total_minor`, `currency`, `cleared_flags`).
    #[schema(value_type = Option<Object>)]
    pub refund: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/v1/parcels", tag = "writes", operation_id = "receive_parcel",
    description = "Receives a parcel: a new case. Role: receiver.",
    request_body = ParcelRequest,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "received; a retry with the same key answers this again with `idempotent-replayed: true`",
            body = WriteAnswer, headers(("idempotent-replayed" = String, description = "`true` on a replayed answer"))),
        ParcelProblems),
    security(("station_token" = ["receiver"])))]
pub async fn receive_parcel(
    State(state): State<AppState>,
    auth: Authorized<role::Receiver>,
    key: IdempotencyKey,
    body: StrictJson<ParcelRequest>,
) -> Result<Response, ApiError> {
    let caller = same_station(auth.caller, &body.value.station)?;
    let request = body.value;
    let weight = match (request.weight_g, &request.scale) {
        (None, Some(scale)) => weigh_on(&state, &caller, &key, scale)?,
        (weight, _) => weight,
    };
    let command = Command::Receive(ReceiveParcel {
        label: request.label,
        weight,
        scale: request.scale,
        rma: request.rma,
        lines: request
            .lines
            .unwrap_or_default()
            .into_iter()
            .map(|l| NewLine {
                sku: l.sku,
                barcode: l.barcode,
                qty: l.qty,
                serial: l.serial,
            })
            .collect(),
        expected: None,
        expectations_known: false,
        received_at_ms: crate::ingest::now_ms(),
    });
    run(&state, caller, key, body.fingerprint, None, command).await
}

/// The weight for a receipt that names a `scale` and no `weight_g`: that scale's stable weight
/// now, through the device hub. 409 naming `scale` when it is not a scale of this station or has no
/// usable weight (moving, over capacity, too old, no reading, disconnected): the request is
/// well-formed, the site's devices refuse it. A retry of an accepted request is not weighed again:
/// the store replays the first answer.
fn weigh_on(
    state: &AppState,
    caller: &Caller,
    key: &IdempotencyKey,
    scale: &ScaleId,
) -> Result<Option<Grams>, ApiError> {
    if state
        .ingest
        .store()
        .idempotency_record(&caller.station, &key.0)?
        .is_some()
    {
        return Ok(None);
    }
    let device = firmware_bridge::DeviceId(scale.to_string());
    if let Some(owner) = state
        .devices
        .station_of(&device)
        .filter(|owner| owner != &caller.station)
    {
        return Err(ApiError::conflict(
            "scale",
            format!("scale `{scale}` belongs to station `{owner}`, not `{}`", caller.station),
        ));
    }
    let reading = state
        .devices
        .stable_weight(&device, firmware_bridge::transport::unix_ms())
        .map_err(|why| {
            if why.is_unknown() {
                ApiError::conflict("scale", format!("{why}; GET /v1/devices lists the configured devices"))
            } else {
                ApiError::conflict(
                    "scale",
                    format!("no stable weight from scale `{scale}`: {why}; retry when the scale has settled, or send weight_g"),
                )
            }
        })?;
    let grams = u32::try_from(reading.grams)
        .ok()
        .and_then(|grams| Grams::new(grams).ok())
        .ok_or_else(|| {
            ApiError::conflict(
                "scale",
                format!("scale `{scale}` reads {} g: {}", reading.grams, Grams::EXPECTED),
            )
        })?;
    Ok(Some(grams))
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/inspections", tag = "writes", operation_id = "inspect",
    description = "Grades units of a line. Role: inspector; a correction (`corrects`) needs a supervisor.",
    request_body = InspectionRequest,
    params(("case_id" = CaseId, Path, description = "a case id as the API returns it (lowercase, hyphenated)"), IdempotencyKey),
    responses((status = 201, body = WriteAnswer, headers(("idempotent-replayed" = String, description = "`true` on a replayed answer"))),
        WriteProblems),
    security(("station_token" = ["inspector"])))]
pub async fn inspect(
    State(state): State<AppState>,
    auth: Authorized<role::Inspector>,
    case_id: Result<Path<String>, PathRejection>,
    key: IdempotencyKey,
    body: StrictJson<InspectionRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&path_param(case_id, "case_id")?)?;
    let caller = same_station(auth.caller, &body.value.station)?;
    let request = body.value;
    let command = Command::Inspect(Inspect {
        line: request.line,
        qty: request.qty,
        grade: request.grade,
        conditions: request.conditions.unwrap_or_default(),
        serial: request.serial,
        notes: request.notes,
        corrects: request.corrects,
    });
    run(&state, caller, key, body.fingerprint, Some(case_id), command).await
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/dispositions", tag = "writes", operation_id = "dispose",
    description = "Gives units of a line a disposition. Role: inspector; a supervisor for `scrap`, `liquidate`, `donate`, flagged cases and high-value parcels.",
    request_body = DispositionRequest,
    params(("case_id" = CaseId, Path, description = "a case id as the API returns it (lowercase, hyphenated)"), IdempotencyKey),
    responses((status = 201, body = WriteAnswer, headers(("idempotent-replayed" = String, description = "`true` on a replayed answer"))),
        WriteProblems),
    security(("station_token" = ["inspector"])))]
pub async fn dispose(
    State(state): State<AppState>,
    auth: Authorized<role::Inspector>,
    case_id: Result<Path<String>, PathRejection>,
    key: IdempotencyKey,
    body: StrictJson<DispositionRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&path_param(case_id, "case_id")?)?;
    let caller = same_station(auth.caller, &body.value.station)?;
    let request = body.value;
    let command = Command::Dispose(Dispose {
        line: request.line,
        qty: request.qty,
        disposition: request.disposition,
    });
    run(&state, caller, key, body.fingerprint, Some(case_id), command).await
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/flag-clearances", tag = "writes", operation_id = "clear_flag",
    description = "Clears an open flag, with a note. Role: supervisor.",
    request_body = FlagClearanceRequest,
    params(("case_id" = CaseId, Path, description = "a case id as the API returns it (lowercase, hyphenated)"), IdempotencyKey),
    responses((status = 201, body = WriteAnswer, headers(("idempotent-replayed" = String, description = "`true` on a replayed answer"))),
        WriteProblems),
    security(("station_token" = ["supervisor"])))]
pub async fn clear_flag(
    State(state): State<AppState>,
    auth: Authorized<role::Supervisor>,
    case_id: Result<Path<String>, PathRejection>,
    key: IdempotencyKey,
    body: StrictJson<FlagClearanceRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&path_param(case_id, "case_id")?)?;
    let caller = same_station(auth.caller, &body.value.station)?;
    let request = body.value;
    let command = Command::ClearFlag(ClearFlag {
        flag: request.flag,
        note: request.note,
    });
    run(&state, caller, key, body.fingerprint, Some(case_id), command).await
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/close", tag = "writes", operation_id = "close",
    description = "Closes a case whose every unit is disposed and whose flags are cleared. Role: inspector.",
    request_body = CloseRequest,
    params(("case_id" = CaseId, Path, description = "a case id as the API returns it (lowercase, hyphenated)"), IdempotencyKey),
    responses((status = 201, body = WriteAnswer, headers(("idempotent-replayed" = String, description = "`true` on a replayed answer"))),
        WriteProblems),
    security(("station_token" = ["inspector"])))]
pub async fn close(
    State(state): State<AppState>,
    auth: Authorized<role::Inspector>,
    case_id: Result<Path<String>, PathRejection>,
    key: IdempotencyKey,
    body: StrictJson<CloseRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&path_param(case_id, "case_id")?)?;
    let caller = same_station(auth.caller, &body.value.station)?;
    run(&state, caller, key, body.fingerprint, Some(case_id), Command::Close).await
}

/// Parses a case id from a path. Only the canonical spelling (lowercase, hyphenated) is accepted:
/// the path is part of the idempotency fingerprint, so two spellings of one id would make a retry
/// look like a different request.
pub fn parse_case_id(raw: &str) -> Result<CaseId, ApiError> {
    match CaseId::parse(raw) {
        Ok(id) if id.to_string() == raw => Ok(id),
        _ => Err(ApiError::not_found(
            "case_id",
            format!(
                "no case has the id `{}`; expected a case id as the API returns it (lowercase UUID with hyphens)",
                raw.chars().take(80).collect::<String>().escape_debug()
            ),
        )),
    }
}

/// The body's station against the token's: a token acts for its station only. The role was
/// checked before the body was read ([`Authorized`]).
fn same_station(caller: Caller, station: &StationId) -> Result<Caller, ApiError> {
    if &caller.station != station {
        return Err(ApiError::forbidden(
            Some("station"),
            format!("this token belongs to station `{}`, not `{station}`", caller.station),
        ));
    }
    Ok(caller)
}

async fn run(
    state: &AppState,
    caller: Caller,
    key: IdempotencyKey,
    fingerprint: String,
    case: Option<CaseId>,
    command: Command,
) -> Result<Response, ApiError> {
    if state.draining() {
        return Err(ApiError::new(
            ProblemType::ShuttingDown,
            "the server is shutting down and takes no new writes; retry with the same Idempotency-Key",
        ));
    }
    let write = Write {
        caller,
        idempotency_key: key.0,
        fingerprint,
        case,
        command,
    };
    let accepted = state.ingest.execute(write).await?;
    Ok(answer(accepted))
}

fn answer(accepted: Accepted) -> Response {
    let status = StatusCode::from_u16(accepted.status).unwrap_or(StatusCode::CREATED);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        accepted.body,
    )
        .into_response();
    if accepted.replayed {
        response.headers_mut().insert(
            HeaderName::from_static(REPLAYED_HEADER),
            HeaderValue::from_static("true"),
        );
    }
    response
}
