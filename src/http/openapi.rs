//! The OpenAPI document served at `/openapi.json`, generated from the handlers' annotations so it
//! cannot drift from the routes. It is the contract: `tests/openapi.rs` hands it to schemathesis,
//! which sends what it allows and what it forbids, and fails on any answer it does not describe.
//!
//! Each operation's refusals come from one of the problem sets below ([`WriteProblems`]…), which
//! document every status the route can answer with the [`ProblemType`]s behind it; each status's
//! schema narrows the problem's `type` to those types. The role an operation needs is its
//! security requirement's scope (`station_token: [inspector]`), as OpenAPI 3.1 allows for
//! non-OAuth schemes; the tests walk every route and role against it.

use std::collections::BTreeMap;

use axum::Json;
use serde_json::json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

use super::error::{ProblemType, PROBLEM_MEDIA_TYPE};
use super::{admin, health, metrics, operators, reads, rma, stream, tokens, writes};
use crate::domain::CaseState;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "returns-edge", description = "Edge server for warehouse returns. Every route but the health, metrics \
        and document routes needs a station token (`Authorization: Bearer re1_…`); its security scope names the least \
        role it takes (receiver < inspector < supervisor < admin), and the token is checked before anything else in \
        the request. Writes need an `Idempotency-Key`. Refusals are `application/problem+json` (RFC 9457) whose `type` \
        is one of `urn:returns-edge:problem:*` and whose `field` names the field, header or parameter at fault. A 422 \
        means the request breaks this document's schema; a well-formed request that the server's state refuses is a \
        409."),
    paths(
        writes::receive_parcel, writes::inspect, writes::dispose, writes::clear_flag, writes::close,
        reads::get_case, reads::list_cases, reads::list_events,
        operators::outbox, operators::list_dead_letters, operators::replay_dead_letter, operators::discard_dead_letter,
        admin::backup,
        tokens::create_token, tokens::list_tokens, tokens::revoke_token,
        rma::lookup, rma::refresh,
        stream::station_stream, stream::list_devices,
        health::healthz, health::readyz, metrics::serve, serve,
    ),
    components(schemas(
        Problem,
        writes::ParcelRequest, writes::LineRequest, writes::InspectionRequest, writes::DispositionRequest,
        writes::FlagClearanceRequest, writes::CloseRequest, writes::WriteAnswer,
        reads::CaseView, reads::LineView, reads::FlagView, reads::EventView, reads::DeliveryView,
        reads::CaseSummary, reads::CasePage, reads::EventPage,
        operators::OutboxView, operators::SinkView, operators::DeadLetterView, operators::DeadLetterAction,
        stream::DevicesView,
        tokens::CreateTokenRequest, tokens::TokenView, tokens::CreatedTokenView, tokens::TokenList,
        rma::LookupView, rma::ExpectedLineView, rma::CacheView, rma::RefreshView,
        health::Health, health::Readiness,
    )),
    modifiers(&StationToken, &CaseLinks),
)]
pub struct ApiDoc;

struct StationToken;

impl Modify for StationToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("station_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The operations that act on one case, by operation id; every answer naming a case links to them,
/// so a client (and schemathesis's stateful phase) can walk a parcel from receipt to close.
const CASE_OPERATIONS: [&str; 5] = ["get_case", "inspect", "dispose", "clear_flag", "close"];

/// Links from the answers that name a case (every write's 201, a page of cases) to the case
/// operations, and from the dead-letter list to the replay and discard of its first entry.
struct CaseLinks;

impl Modify for CaseLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let case_sources = [
            ("/v1/parcels", "201", "$response.body#/case_id"),
            ("/v1/cases/{case_id}/inspections", "201", "$response.body#/case_id"),
            ("/v1/cases/{case_id}/dispositions", "201", "$response.body#/case_id"),
            ("/v1/cases/{case_id}/flag-clearances", "201", "$response.body#/case_id"),
            ("/v1/cases/{case_id}/close", "201", "$response.body#/case_id"),
            ("/v1/cases", "200", "$response.body#/cases/0/case_id"),
        ];
        for (path, status, case_id) in case_sources {
            for target in CASE_OPERATIONS {
                add_link(openapi, path, status, target, "case_id", case_id);
            }
        }
        for target in ["replay_dead_letter", "discard_dead_letter"] {
            add_link(openapi, "/v1/dead-letters", "200", target, "id", "$response.body#/0/id");
        }
    }
}

/// Adds to the `status` answer of every operation at `path` a link to `target` filling its
/// `parameter` from `expression`.
fn add_link(
    openapi: &mut utoipa::openapi::OpenApi,
    path: &str,
    status: &str,
    target: &str,
    parameter: &str,
    expression: &str,
) {
    let Some(item) = openapi.paths.paths.get_mut(path) else {
        return;
    };
    let operations = [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
        &mut item.patch,
    ];
    for operation in operations.into_iter().flatten() {
        if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
            let link = LinkBuilder::new()
                .operation_id(target)
                .parameter(parameter, expression)
                .build();
            response.links.insert(target.to_owned(), RefOr::T(link));
        }
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi",
    responses((status = 200, description = "this document", content_type = "application/json")))]
pub async fn serve() -> Json<serde_json::Value> {
    Json(document())
}

/// The document as served.
pub fn document() -> serde_json::Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    camel_case_links(&mut document);
    document
}

/// utoipa 5.5 writes a Link Object's fields as `operation_id`, `operation_ref` and `request_body`;
/// OpenAPI spells them `operationId`, `operationRef` and `requestBody`, and a client (schemathesis's
/// stateful phase among them) cannot follow a link without them.
fn camel_case_links(document: &mut serde_json::Value) {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    let responses = operations.filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()));
    for response in responses.flat_map(|r| r.values_mut()) {
        let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
}

/// An RFC 9457 problem, the body of every refusal. Only for the document: `error.rs` renders them.
#[derive(Debug)]
pub struct Problem;

impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        let types: Vec<String> = ProblemType::ALL.iter().map(|t| t.uri()).collect();
        let string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let count = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A refusal (RFC 9457). Extension members: `current_state` on conflicts with a case, `store`, \
                 `free_bytes` and `needed_bytes` on a full disk, `cache` on an RMA lookup that found nothing.",
            ))
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(types))
                    .description(Some(
                        "urn:returns-edge:problem:<slug>; the README's HTTP API section lists them",
                    )),
            )
            .property("title", string("the same for every problem of the type"))
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(400))
                    .maximum(Some(599)),
            )
            .property("detail", string("what was wrong and what was expected, for people"))
            .property(
                "field",
                string(
                    "the field at fault: a JSON path such as `lines[0].qty`, a header, or a path or query parameter",
                ),
            )
            .property("current_state", Ref::from_schema_name(<CaseState as ToSchema>::name()))
            .property("store", string("the store's directory (full or read-only disk)"))
            .property("free_bytes", count("bytes free on the store's file system"))
            .property("needed_bytes", count("bytes new events need"))
            .property("cache", Ref::from_schema_name(rma::CacheView::name()))
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .into()
    }
}

impl ToSchema for Problem {}

/// The refusals documented for `types`, one response per status: its description lists each type
/// and when it is answered, its schema narrows `type` and `status` to them.
pub fn problem_responses(types: &[ProblemType]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ProblemType>> = BTreeMap::new();
    for kind in types {
        by_status.entry(kind.status().as_u16()).or_default().push(*kind);
    }
    by_status
        .into_iter()
        .map(|(status, kinds)| {
            let description = kinds
                .iter()
                .map(|k| format!("`{}`: {}", k.uri(), k.when()))
                .collect::<Vec<_>>()
                .join("\n\n");
            let narrowed = ObjectBuilder::new()
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(kinds.iter().map(|k| k.uri()).collect::<Vec<_>>())),
                )
                .property(
                    "status",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .enum_values(Some([status])),
                );
            let schema = AllOfBuilder::new()
                .item(Ref::from_schema_name(Problem::name()))
                .item(narrowed);
            let first = kinds[0];
            let example = json!({
                "type": first.uri(),
                "title": first.title(),
                "status": status,
                "detail": first.when(),
            });
            let content = ContentBuilder::new()
                .schema(Some(schema))
                .example(Some(example))
                .build();
            let mut response = ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_MEDIA_TYPE, content);
            if let Some((name, what)) = header_of(status) {
                let header = HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(what))
                    .build();
                response = response.header(name, header);
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

/// The header some refusals carry, documented with them.
fn header_of(status: u16) -> Option<(&'static str, &'static str)> {
    match status {
        401 => Some(("WWW-Authenticate", "`Bearer`")),
        429 => Some(("Retry-After", "seconds until this token may send again")),
        503 | 507 => Some((
            "Retry-After",
            "seconds to wait before retrying (store answers; absent on a timeout or a shutdown)",
        )),
        _ => None,
    }
}

/// Declares a set of refusals as a type `responses(...)` can name.
macro_rules! problem_set {
    ($($(#[$doc:meta])* $name:ident = [$($kind:ident),+ $(,)?];)+) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;

            impl $name {
                /// The types this set documents.
                pub const TYPES: &'static [ProblemType] = &[$(ProblemType::$kind),+];
            }

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    problem_responses(Self::TYPES)
                }
            }
        )+
    };
}

problem_set! {
    /// `POST /v1/parcels`: every write refusal but an unknown case.
    ParcelProblems = [BadRequest, Unauthorized, Forbidden, Conflict, IdempotencyKeyReused, TooLarge,
        UnsupportedMediaType, Validation, RateLimited, Internal, StoreUnavailable, StoreReadOnly, ShuttingDown,
        Timeout, InsufficientStorage];
    /// The case writes.
    WriteProblems = [BadRequest, Unauthorized, Forbidden, NotFound, Conflict, IdempotencyKeyReused, TooLarge,
        UnsupportedMediaType, Validation, RateLimited, Internal, StoreUnavailable, StoreReadOnly, ShuttingDown,
        Timeout, InsufficientStorage];
    /// `GET /v1/cases/{case_id}`.
    CaseReadProblems = [Unauthorized, NotFound, RateLimited, Internal, Timeout];
    /// Reads with query parameters.
    QueryReadProblems = [BadRequest, Unauthorized, Validation, RateLimited, Internal, Timeout];
    /// Reads without parameters.
    PlainReadProblems = [Unauthorized, RateLimited, Internal, Timeout];
    /// `GET /v1/dead-letters`.
    DeadLetterListProblems = [BadRequest, Unauthorized, Forbidden, Validation, RateLimited, Internal, Timeout];
    /// Replaying or discarding a dead letter.
    DeadLetterActionProblems = [BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Validation, RateLimited,
        Internal, StoreUnavailable, ShuttingDown, Timeout];
    /// `GET /v1/admin/backup`.
    BackupProblems = [Unauthorized, Forbidden, RateLimited, Internal, StoreUnavailable, Timeout];
    /// `POST /v1/admin/tokens`.
    TokenCreateProblems = [BadRequest, Unauthorized, Forbidden, TooLarge, UnsupportedMediaType, Validation,
        RateLimited, Internal, StoreUnavailable, ShuttingDown, Timeout];
    /// `GET /v1/admin/tokens` (a listing is audited: it writes).
    TokenListProblems = [Unauthorized, Forbidden, RateLimited, Internal, StoreUnavailable, ShuttingDown, Timeout];
    /// `DELETE /v1/admin/tokens/{id}`.
    TokenRevokeProblems = [Unauthorized, Forbidden, NotFound, RateLimited, Internal, StoreUnavailable, ShuttingDown,
        Timeout];
    /// `GET /v1/rma/lookup`.
    LookupProblems = [BadRequest, Unauthorized, NotFound, Validation, RateLimited, Internal, Timeout];
    /// `POST /v1/rma/refresh`.
    RefreshProblems = [Unauthorized, Forbidden, Conflict, RateLimited, Internal, OdooUnavailable, Timeout];
    /// `GET /v1/stations/{station}/stream`.
    StreamProblems = [Unauthorized, Validation, RateLimited];
    /// `GET /metrics`.
    MetricsProblems = [Internal, Timeout];
}
