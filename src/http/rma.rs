//! The RMA cache over HTTP: `GET /v1/rma/lookup?code=` (any role) answers from the cache — Odoo
//! is never called, so it works offline — and says how old the answer is; `POST /v1/rma/refresh`
//! (supervisor) runs a full refresh now. Views are built here; stored shapes do not leak.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::Authenticated;
use super::AppState;
use crate::domain::{ExpectedLine, ExpectedReturn, Role};
use crate::rma::{CacheAge, RmaError, RmaMatch, RmaStatus, MAX_CODE_LEN};
use crate::sinks::odoo::SyncMode;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// What was scanned or typed: a return label, carrier tracking number (USPS with or without
    /// its `420`+ZIP prefix), GS1-128 with an SSCC, RMA reference, return picking name, sale
    /// order name, customer order reference or delivery name. 1 to 128 characters.
    pub code: Option<String>,
}

/// How old the cache's answer is.
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheView {
    /// Last successful sync with Odoo (Unix ms); null when the cache never synced.
    pub synced_at_ms: Option<u64>,
    /// Whole seconds since that sync; null when never synced.
    pub age_s: Option<u64>,
    /// Milliseconds since that sync; null when never synced.
    pub age_ms: Option<u64>,
}

/// One expected product.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpectedLineView {
    pub product_id: i64,
    pub sku: Option<String>,
    pub barcode: Option<String>,
    pub name: String,
    pub qty: u32,
    /// Serials or lots that were sold.
    pub serials: Vec<String>,
    pub serial_tracked: bool,
    pub unit_weight_g: Option<u64>,
    /// Minor units of `currency` (cents).
    pub unit_price_minor: Option<u64>,
}

/// A match: the expected return's fields, which code matched, and the cache's age.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupView {
    pub rma: String,
    pub picking_id: i64,
    pub picking: String,
    pub order: Option<String>,
    pub customer_ref: Option<String>,
    /// The customer's display name (no address, e-mail or phone is kept).
    pub customer: Option<String>,
    pub delivery: Option<String>,
    pub delivered_at_ms: Option<u64>,
    pub tracking: Vec<String>,
    pub currency: Option<String>,
    pub lines: Vec<ExpectedLineView>,
    pub write_date_ms: u64,
    /// rma, return_picking, order, customer_ref, delivery or tracking.
    pub matched_by: String,
    /// The normalized code that matched (the tracking number of a `420`+ZIP scan, an SSCC).
    pub code: String,
    /// How the scan was classified: ups, usps, fedex, dhl_express, gs1, rma, unknown…
    pub scanned_as: String,
    /// RMA references of other open returns with the same code.
    pub others: Vec<String>,
    pub cache: CacheView,
}

/// The cache's state after a refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshView {
    pub inserted: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Open returns left out (no usable RMA reference or name), with why.
    pub skipped: Vec<String>,
    pub entries: usize,
    pub cache: CacheView,
}

#[utoipa::path(get, path = "/v1/rma/lookup", tag = "rma", params(LookupQuery),
    responses((status = 200, body = LookupView),
        (status = 404, description = "no open return in the cache has this code (problem+json naming `code`, with `cache`)"),
        (status = 422, description = "missing, empty or oversized `code`")),
    security(("station_token" = [])))]
pub async fn lookup(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let expected = format!("expected a code of 1 to {MAX_CODE_LEN} characters (a scanned label, tracking number, RMA, order or delivery reference)");
    let code = query
        .code
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("code", expected.clone()))?;
    let cache = state.rma.clone();
    let looked_up = {
        let code = code.clone();
        tokio::task::spawn_blocking(move || cache.lookup(&code).map(|m| (m, cache.age())))
            .await
            .map_err(|_| ApiError::internal())?
    };
    match looked_up {
        Ok((Some(found), _)) => Ok(Json(lookup_view(found)).into_response()),
        Ok((None, age)) => Ok(not_found(&code, age?)),
        Err(RmaError::InvalidCode) => Err(ApiError::invalid("code", expected)),
        Err(RmaError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "RMA lookup failed.");
            Err(ApiError::internal())
        }
    }
}

#[utoipa::path(post, path = "/v1/rma/refresh", tag = "rma",
    responses((status = 200, body = RefreshView),
        (status = 409, description = "no Odoo sink has rma_cache = true"),
        (status = 503, description = "Odoo could not be read; the cache keeps answering as it was")),
    security(("station_token" = [])))]
pub async fn refresh(State(state): State<AppState>, auth: Authenticated) -> Result<Json<RefreshView>, ApiError> {
    auth.require(Role::Supervisor)?;
    match state.rma.sync(SyncMode::Full).await {
        Ok(report) => Ok(Json(RefreshView {
            inserted: report.applied.inserted,
            updated: report.applied.updated,
            removed: report.applied.removed,
            unchanged: report.unchanged,
            skipped: report
                .skipped
                .iter()
                .map(|(id, why)| format!("picking {id}: {why}"))
                .collect(),
            entries: report.entries,
            cache: cache_view(state.rma.age()?),
        })),
        Err(e @ RmaError::Disabled) => {
            Err(
                ApiError::new(StatusCode::CONFLICT, "conflict", "RMA cache not enabled", e.to_string())
                    .with_field("rma_cache"),
            )
        }
        Err(e @ RmaError::Odoo(_)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "odoo-unavailable",
            "Odoo could not be read",
            format!("{e}; the cache keeps answering as it was"),
        )),
        Err(RmaError::Store(e)) => Err(e.into()),
        Err(RmaError::InvalidCode) => Err(ApiError::internal()),
    }
}

/// The cache's part of `/readyz`.
pub fn status_json(status: &RmaStatus) -> serde_json::Value {
    serde_json::json!({
        "enabled": status.enabled,
        "synced": status.age.synced_at_ms.is_some(),
        "synced_at_ms": status.age.synced_at_ms,
        "age_s": status.age.age_s(),
        "full_refresh_at_ms": status.full_at_ms,
        "entries": status.entries,
        "last_error": status.last_error,
        "note": match (status.enabled, status.age.synced_at_ms) {
            (false, _) => Some("no Odoo sink has rma_cache = true"),
            (true, None) => Some("never synced: scans find no expected return until Odoo is reached"),
            (true, Some(_)) => None,
        },
    })
}

/// 404 problem+json naming `code`, with the cache's age: "not in a cache synced 3 hours ago"
/// is not the same answer as "not in a cache synced a minute ago".
fn not_found(code: &str, age: CacheAge) -> Response {
    let shown: String = code.chars().take(MAX_CODE_LEN).collect();
    let body = serde_json::json!({
        "type": "urn:returns-edge:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": format!("no open return in the RMA cache has the code `{}`", shown.escape_debug()),
        "field": "code",
        "cache": cache_view(age),
    });
    let mut response = (StatusCode::NOT_FOUND, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn cache_view(age: CacheAge) -> CacheView {
    CacheView {
        synced_at_ms: age.synced_at_ms,
        age_s: age.age_s(),
        age_ms: age.age_ms,
    }
}

fn lookup_view(found: RmaMatch) -> LookupView {
    let ExpectedReturn {
        rma,
        picking_id,
        picking,
        order,
        customer_ref,
        customer,
        delivery,
        delivered_at_ms,
        tracking,
        currency,
        lines,
        write_date_ms,
    } = found.expected;
    LookupView {
        rma: rma.into_string(),
        picking_id,
        picking,
        order,
        customer_ref,
        customer,
        delivery,
        delivered_at_ms,
        tracking,
        currency,
        lines: lines.into_iter().map(line_view).collect(),
        write_date_ms,
        matched_by: found.matched_by.as_str().to_owned(),
        code: found.code,
        scanned_as: found.scanned_as.to_owned(),
        others: found.others,
        cache: cache_view(found.cache),
    }
}

fn line_view(line: ExpectedLine) -> ExpectedLineView {
    ExpectedLineView {
        product_id: line.product_id,
        sku: line.sku.map(|s| s.as_str().to_owned()),
        barcode: line.barcode.map(|b| b.as_str().to_owned()),
        name: line.name,
        qty: line.qty,
        serials: line.serials.iter().map(|s| s.as_str().to_owned()).collect(),
        serial_tracked: line.serial_tracked,
        unit_weight_g: line.unit_weight_g,
        unit_price_minor: line.unit_price_minor,
    }
}
