//! The OpenAPI document served at `/openapi.json`, generated from the handlers' annotations so it
//! cannot drift from the routes.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, health, metrics, operators, reads, rma, stream, tokens, writes};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "returns-edge", description = "Edge server for warehouse returns. Writes need a station token and an Idempotency-Key; errors are application/problem+json naming the field."),
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
        writes::ParcelRequest, writes::LineRequest, writes::InspectionRequest, writes::DispositionRequest,
        writes::FlagClearanceRequest, writes::CloseRequest, writes::WriteAnswer,
        reads::CaseView, reads::LineView, reads::FlagView, reads::EventView, reads::DeliveryView,
        reads::CaseSummary, reads::CasePage, reads::EventPage,
        operators::OutboxView, operators::SinkView, operators::DeadLetterView,
        stream::DevicesView,
        tokens::CreateTokenRequest, tokens::TokenView, tokens::CreatedTokenView, tokens::TokenList,
        rma::LookupView, rma::ExpectedLineView, rma::CacheView, rma::RefreshView,
    )),
    modifiers(&StationToken),
)]
pub struct ApiDoc;

struct StationToken;

impl Modify for StationToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("station_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
