//! Admin routes for station tokens, so a station is added or cut off while the server runs:
//! `POST /v1/admin/tokens` (create; the answer holds the bearer token, once), `GET
//! /v1/admin/tokens` (list; never secrets, which are not stored) and `DELETE
//! /v1/admin/tokens/{id}` (revoke).
//!
//! - Admin tokens only, checked by `Authorized<role::Admin>` before the body is read: any other
//!   token gets 403 whatever it sends, no token 401.
//! - No Idempotency-Key: the idempotency store keeps first answers verbatim, and this answer holds
//!   a secret that must never be stored. A create whose answer was lost leaves a token nobody
//!   holds; list, revoke it, create again. Listing and revoking repeat harmlessly.
//! - Every call is audited by `crate::tokens` in the store (who, when, what), in the transaction
//!   of the change. A revocation is effective for the next request: bearer tokens are looked up
//!   in the store on every request, nothing caches them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{role, Authorized, StrictJson};
use super::openapi::{TokenCreateProblems, TokenListProblems, TokenRevokeProblems};
use super::AppState;
use crate::domain::{Role, StationId, TokenId};
use crate::ingest::now_ms;
use crate::store::{TokenActor, TokenRecord};
use crate::tokens::{self, Caller};

/// An admin token, as the audit trail names it.
type Admin = Authorized<role::Admin>;

fn actor(admin: &Admin) -> TokenActor {
    let Caller { token, station, .. } = &admin.caller;
    TokenActor::Token {
        id: token.clone(),
        station: station.clone(),
    }
}

/// `POST /v1/admin/tokens`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"station": "dock-3", "role": "receiver"}))]
pub struct CreateTokenRequest {
    /// The station the new token acts for (any station, not only the admin's own).
    pub station: StationId,
    /// `receiver`, `inspector`, `supervisor` or `admin`.
    pub role: Role,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// 12 hex digits; the part of the bearer token after `re1_`.
    #[schema(value_type = TokenId)]
    pub id: String,
    #[schema(value_type = StationId)]
    pub station: String,
    #[schema(value_type = Role)]
    pub role: String,
    pub created_at_ms: u64,
    /// When it was revoked; revoked tokens stay listed because past events name them.
    pub revoked_at_ms: Option<u64>,
}

/// The answer to a create: the token's record and, this once, the bearer token itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    #[schema(value_type = TokenId)]
    pub id: String,
    #[schema(value_type = StationId)]
    pub station: String,
    #[schema(value_type = Role)]
    pub role: String,
    pub created_at_ms: u64,
    /// `re1_<id>_<secret>`: hand it to the station now; it is stored only as a hash and never
    /// shown again.
    pub token: String,
}

/// `GET /v1/admin/tokens`
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

#[utoipa::path(post, path = "/v1/admin/tokens", tag = "operators", operation_id = "create_token",
    description = "Creates a station token. Role: admin. No Idempotency-Key: the answer holds a secret that is never stored.",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, body = CreatedTokenView, description = "created; the answer holds the bearer token, the only time it is shown"),
        TokenCreateProblems,
    ),
    security(("station_token" = ["admin"])))]
pub async fn create_token(
    State(state): State<AppState>,
    admin: Admin,
    request: StrictJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedTokenView>), ApiError> {
    let CreateTokenRequest { station, role } = request.value;
    let store = state.ingest.store().clone();
    let by = actor(&admin);
    let new = tokio::task::spawn_blocking(move || tokens::issue(&store, station, role, by, now_ms()))
        .await
        .map_err(|_| ApiError::internal())??;
    tracing::info!(token = %new.record.id, station = %new.record.station, role = role.as_str(),
        by = %admin.caller.token, "Token created.");
    let view = CreatedTokenView {
        id: new.record.id.to_string(),
        station: new.record.station.to_string(),
        role: role.as_str().to_owned(),
        created_at_ms: new.record.created_at_ms,
        token: new.token,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/v1/admin/tokens", tag = "operators", operation_id = "list_tokens",
    description = "Every token, revoked ones too, never a secret. Role: admin.",
    responses((status = 200, body = TokenList), TokenListProblems),
    security(("station_token" = ["admin"])))]
pub async fn list_tokens(State(state): State<AppState>, admin: Admin) -> Result<Json<TokenList>, ApiError> {
    let store = state.ingest.store().clone();
    let by = actor(&admin);
    let records = tokio::task::spawn_blocking(move || tokens::list(&store, by, now_ms()))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(Json(TokenList {
        tokens: records.iter().map(view).collect(),
    }))
}

#[utoipa::path(delete, path = "/v1/admin/tokens/{id}", tag = "operators", operation_id = "revoke_token",
    description = "Revokes a token. Role: admin.",
    params(("id" = TokenId, Path, description = "the token id (12 hex digits), as listed")),
    responses(
        (status = 200, body = TokenView, description = "revoked (now, or already before: the first time is kept); refused from the next request on"),
        TokenRevokeProblems,
    ),
    security(("station_token" = ["admin"])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let id = TokenId::parse(&id).map_err(|e| ApiError::not_found("id", format!("expected {e}")))?;
    let store = state.ingest.store().clone();
    let by = actor(&admin);
    let revoked_id = id.clone();
    let revoked = tokio::task::spawn_blocking(move || tokens::revoke(&store, &revoked_id, by, now_ms()))
        .await
        .map_err(|_| ApiError::internal())??
        .ok_or_else(|| ApiError::not_found("id", format!("no token with id {id}; GET /v1/admin/tokens lists them")))?;
    tracing::info!(token = %id, station = %revoked.station, by = %admin.caller.token, "Token revoked.");
    Ok(Json(view(&revoked)))
}

fn view(record: &TokenRecord) -> TokenView {
    TokenView {
        id: record.id.to_string(),
        station: record.station.to_string(),
        role: record.role.as_str().to_owned(),
        created_at_ms: record.created_at_ms,
        revoked_at_ms: record.revoked_at_ms,
    }
}
