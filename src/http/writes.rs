//! Write routes: receive a parcel, inspect, dispose, clear a flag, close a case. Each parses its
//! body strictly, checks the caller's role and station, and hands one command to `ingest`.

use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{Authenticated, IdempotencyKey, StrictJson};
use super::AppState;
use crate::domain::{
    Barcode, CaseId, ClearFlag, Command, Condition, Dispose, Disposition, EventId, Flag, Grade, Grams, Inspect, LineNo,
    NewLine, Notes, Qty, ReceiveParcel, RmaRef, Role, ScaleId, Serial, Sku, StationId,
};
use crate::ingest::{Accepted, Write};
use crate::tokens::Caller;

/// Header set on an answer replayed for a repeated Idempotency-Key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// `POST /v1/parcels`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParcelRequest {
    /// The station sending the request; must be the token's station.
    #[schema(value_type = String, example = "dock-1")]
    pub station: StationId,
    /// The parcel's label as scanned (carrier tracking number, RMA label, …).
    #[schema(value_type = String, example = "1Z999AA10123456784")]
    pub label: Barcode,
    /// Stable weight from the scale, in grams.
    #[schema(value_type = Option<u32>, example = 1250)]
    pub weight_g: Option<Grams>,
    /// The scale that measured `weight_g`; without `weight_g`, the server takes this scale's
    /// current stable weight (409 naming `scale` when it has none, 422 when it is not a scale of
    /// this station).
    #[schema(value_type = Option<String>)]
    pub scale: Option<ScaleId>,
    /// The RMA or return reference, when the station knows it.
    #[schema(value_type = Option<String>, example = "RMA-2026-0042")]
    pub rma: Option<RmaRef>,
    /// Expected contents; omitted means one unidentified item.
    pub lines: Option<Vec<LineRequest>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    #[schema(value_type = Option<String>)]
    pub sku: Option<Sku>,
    #[schema(value_type = Option<String>)]
    pub barcode: Option<Barcode>,
    /// 1 to 10000.
    #[schema(value_type = u32, example = 1)]
    pub qty: Qty,
    #[schema(value_type = Option<String>)]
    pub serial: Option<Serial>,
}

/// `POST /v1/cases/{case_id}/inspections`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectionRequest {
    #[schema(value_type = String)]
    pub station: StationId,
    /// Line number, from 1.
    #[schema(value_type = u16, example = 1)]
    pub line: LineNo,
    #[schema(value_type = String, example = "B")]
    pub grade: Grade,
    #[schema(value_type = Option<Vec<String>>)]
    pub conditions: Option<Vec<Condition>>,
    #[schema(value_type = Option<String>)]
    pub serial: Option<Serial>,
    #[schema(value_type = Option<String>)]
    pub notes: Option<Notes>,
    /// Units graded; defaults to every unit of the line not yet inspected.
    #[schema(value_type = Option<u32>)]
    pub qty: Option<Qty>,
    /// Event id of an earlier inspection this one corrects (supervisor only).
    #[schema(value_type = Option<String>)]
    pub corrects: Option<EventId>,
}

/// `POST /v1/cases/{case_id}/dispositions`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionRequest {
    #[schema(value_type = String)]
    pub station: StationId,
    #[schema(value_type = u16, example = 1)]
    pub line: LineNo,
    /// Where the units go; omitted: the site policy's default for the grade they got (refused
    /// with 422 when the line's grades call for different ones).
    #[schema(value_type = Option<String>, example = "restock")]
    pub disposition: Option<Disposition>,
    /// Units; defaults to every inspected unit of the line without a disposition.
    #[schema(value_type = Option<u32>)]
    pub qty: Option<Qty>,
}

/// `POST /v1/cases/{case_id}/flag-clearances`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagClearanceRequest {
    #[schema(value_type = String)]
    pub station: StationId,
    #[schema(value_type = String, example = "wrong_item")]
    pub flag: Flag,
    #[schema(value_type = Option<String>)]
    pub note: Option<Notes>,
}

/// `POST /v1/cases/{case_id}/close`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    #[schema(value_type = String)]
    pub station: StationId,
}

/// Answer of every write.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct WriteAnswer {
    #[schema(value_type = String)]
    pub case_id: String,
    #[schema(value_type = String)]
    pub event_id: String,
    pub seq: u64,
    /// received, inspected, disposed, closed or flagged.
    pub state: String,
    pub rma: Option<String>,
    /// Open flags after the write.
    pub flags: Vec<String>,
    /// Inspections: the grade's default disposition by the site policy.
    pub suggested_disposition: Option<String>,
    /// When this write made the refund due: the decision (`decision_id`, `supersedes`, `basis`,
    /// `lines` with percentages, amounts and rules, `total_minor`, `currency`, `cleared_flags`).
    #[schema(value_type = Option<Object>)]
    pub refund: Option<serde_json::Value>,
}

#[utoipa::path(post, path = "/v1/parcels", tag = "writes", request_body = ParcelRequest,
    params(("Idempotency-Key" = String, Header, description = "unique per request; a retry reuses it")),
    responses((status = 201, body = WriteAnswer), (status = "4XX", description = "problem+json naming the field"),
        (status = "5XX", description = "problem+json: 503 store cannot sync, read-only or shutting down; 507 disk full. Retry, same key")),
    security(("station_token" = [])))]
pub async fn receive_parcel(
    State(state): State<AppState>,
    auth: Authenticated,
    key: IdempotencyKey,
    body: StrictJson<ParcelRequest>,
) -> Result<Response, ApiError> {
    let caller = authorize(auth, Role::Receiver, &body.value.station)?;
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
/// now, through the device hub. 422 when `scale` is not a scale of this station, 409 when it has
/// no usable weight (moving, over capacity, too old, no reading, disconnected). A retry of an
/// accepted request is not weighed again: the store replays the first answer.
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
        return Err(ApiError::invalid(
            "scale",
            format!("scale `{scale}` belongs to station `{owner}`, not `{}`", caller.station),
        ));
    }
    let no_weight = |detail: String| {
        ApiError::new(StatusCode::CONFLICT, "conflict", "No stable weight", detail).with_field("scale")
    };
    let reading = state
        .devices
        .stable_weight(&device, firmware_bridge::transport::unix_ms())
        .map_err(|why| {
            if why.is_unknown() {
                ApiError::invalid("scale", format!("{why}; GET /v1/devices lists the configured devices"))
            } else {
                no_weight(format!(
                    "no stable weight from scale `{scale}`: {why}; retry when the scale has settled, or send weight_g"
                ))
            }
        })?;
    let grams = u32::try_from(reading.grams)
        .ok()
        .and_then(|grams| Grams::new(grams).ok())
        .ok_or_else(|| {
            no_weight(format!(
                "scale `{scale}` reads {} g: {}",
                reading.grams,
                Grams::EXPECTED
            ))
        })?;
    Ok(Some(grams))
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/inspections", tag = "writes", request_body = InspectionRequest,
    params(("case_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = WriteAnswer), (status = "4XX", description = "problem+json naming the field"),
        (status = "5XX", description = "problem+json: 503 store cannot sync, read-only or shutting down; 507 disk full. Retry, same key")),
    security(("station_token" = [])))]
pub async fn inspect(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    auth: Authenticated,
    key: IdempotencyKey,
    body: StrictJson<InspectionRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&case_id)?;
    let caller = authorize(auth, Role::Inspector, &body.value.station)?;
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

#[utoipa::path(post, path = "/v1/cases/{case_id}/dispositions", tag = "writes", request_body = DispositionRequest,
    params(("case_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = WriteAnswer), (status = "4XX", description = "problem+json naming the field"),
        (status = "5XX", description = "problem+json: 503 store cannot sync, read-only or shutting down; 507 disk full. Retry, same key")),
    security(("station_token" = [])))]
pub async fn dispose(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    auth: Authenticated,
    key: IdempotencyKey,
    body: StrictJson<DispositionRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&case_id)?;
    let caller = authorize(auth, Role::Inspector, &body.value.station)?;
    let request = body.value;
    let command = Command::Dispose(Dispose {
        line: request.line,
        qty: request.qty,
        disposition: request.disposition,
    });
    run(&state, caller, key, body.fingerprint, Some(case_id), command).await
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/flag-clearances", tag = "writes", request_body = FlagClearanceRequest,
    params(("case_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = WriteAnswer), (status = "4XX", description = "problem+json naming the field"),
        (status = "5XX", description = "problem+json: 503 store cannot sync, read-only or shutting down; 507 disk full. Retry, same key")),
    security(("station_token" = [])))]
pub async fn clear_flag(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    auth: Authenticated,
    key: IdempotencyKey,
    body: StrictJson<FlagClearanceRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&case_id)?;
    let caller = authorize(auth, Role::Supervisor, &body.value.station)?;
    let request = body.value;
    let command = Command::ClearFlag(ClearFlag {
        flag: request.flag,
        note: request.note,
    });
    run(&state, caller, key, body.fingerprint, Some(case_id), command).await
}

#[utoipa::path(post, path = "/v1/cases/{case_id}/close", tag = "writes", request_body = CloseRequest,
    params(("case_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = WriteAnswer), (status = "4XX", description = "problem+json naming the field"),
        (status = "5XX", description = "problem+json: 503 store cannot sync, read-only or shutting down; 507 disk full. Retry, same key")),
    security(("station_token" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Path(case_id): Path<String>,
    auth: Authenticated,
    key: IdempotencyKey,
    body: StrictJson<CloseRequest>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&case_id)?;
    let caller = authorize(auth, Role::Inspector, &body.value.station)?;
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
                "no case has the id `{raw}`; expected a case id as the API returns it (lowercase UUID with hyphens)"
            ),
        )),
    }
}

/// Role first, then the body's station against the token's: a token acts for its station only.
fn authorize(auth: Authenticated, required: Role, station: &StationId) -> Result<Caller, ApiError> {
    let caller = auth.require(required)?;
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
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "Shutting down",
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
