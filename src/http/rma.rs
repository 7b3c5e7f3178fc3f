//! The RMA cache over HTTP: `GET /v1/rma/lookup?code=` (any role) answers from the cache — Odoo
//! is never called, so it works offline — and says how old the answer is; `POST /v1/rma/refresh`
//! (supervisor) runs a full refresh now. Views are built here; stored shapes do not leak.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ProblemType};
use super::extract::{role, Authenticated, Authorized, QueryPairs};
use super::openapi::{LookupProblems, RefreshProblems};
use super::AppState;
use crate::domain::{ExpectedLine, ExpectedReturn};
use crate::rma::{CacheAge, RmaError, RmaMatch, RmaStatus, MAX_CODE_LEN};
use crate::sinks::odoo::SyncMode;

/// The query of `GET /v1/rma/lookup`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// What was scanned or typed: a return label, carrier tracking number (USPS with or without
    /// its `420`+ZIP prefix), GS1-128 with an SSCC, RMA reference, return picking name, sale
    /// order name, customer order reference or delivery name. 1 to 128 characters, not only white
    /// space, no NUL. The pattern asks for one character that is neither NUL nor Unicode white
    /// space (what `str::trim` removes), and no NUL anywhere.
    #[param(
        min_length = 1,
        max_length = 128,
        example = "RMA-1001",
        pattern = r"^[^\x00]*[^\x00\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00]*$"
    )]
    pub code: String,
}

impl LookupQuery {
    pub const NAMES: [&'static str; 1] = ["code"];

    pub fn parse(query: &QueryPairs) -> Result<Self, ApiError> {
        let expected = format!(
            "expected a code of 1 to {MAX_CODE_LEN} characters, not only white space, without NUL \
             (a scanned label, tracking number, RMA, order or delivery reference)"
        );
        let query = query.only(&Self::NAMES)?;
        let code = query
            .get("code")
            .filter(|c| valid_code(c))
            .ok_or_else(|| ApiError::invalid("code", expected))?;
        Ok(LookupQuery { code: code.to_owned() })
    }
}

/// What the cache's lookup takes: the pattern above, in characters (as JSON Schema counts them).
fn valid_code(code: &str) -> bool {
    (1..=MAX_CODE_LEN).contains(&code.chars().count()) && !code.trim().is_empty() && !code.contains('\0')
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

#[utoipa::path(get, path = "/v1/rma/lookup", tag = "rma", operation_id = "rma_lookup",
    description = "The expected return a scanned code belongs to, from the offline cache (Odoo is never called), with how old the cache is. Any role. \
        A 404 carries `cache` too: not found in a cache synced 3 hours ago is not the answer of one synced a minute ago.",
    params(LookupQuery),
    responses((status = 200, body = LookupView), LookupProblems),
    security(("station_token" = ["receiver"])))]
pub async fn lookup(
    State(state): State<AppState>,
    _auth: Authenticated,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let code = LookupQuery::parse(&query)?.code;
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
        Err(RmaError::InvalidCode) => Err(ApiError::invalid(
            "code",
            format!("expected a code of 1 to {MAX_CODE_LEN} characters without NUL"),
        )),
        Err(RmaError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "RMA lookup failed.");
            Err(ApiError::internal())
        }
    }
}

#[utoipa::path(post, path = "/v1/rma/refresh", tag = "rma", operation_id = "rma_refresh",
    description = "A full refresh of the RMA cache from Odoo now. Role: supervisor. 409 when no Odoo sink has `rma_cache = true`; \
        503 `odoo-unavailable` when Odoo cannot be read (the cache keeps answering as it was).",
    responses((status = 200, body = RefreshView), RefreshProblems),
    security(("station_token" = ["supervisor"])))]
pub async fn refresh(
    State(state): State<AppState>,
    _auth: Authorized<role::Supervisor>,
) -> Result<Json<RefreshView>, ApiError> {
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
        Err(e @ RmaError::Disabled) => Err(ApiError::conflict("rma_cache", e.to_string())),
        Err(e @ RmaError::Odoo(_)) => Err(ApiError::new(
            ProblemType::OdooUnavailable,
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
    let cache = serde_json::to_value(cache_view(age)).unwrap_or_default();
    ApiError::not_found(
        "code",
        format!(
            "no open return in the RMA cache has the code `{}`",
            shown.escape_debug()
        ),
    )
    .with_extension("cache", cache)
    .into_response()
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
