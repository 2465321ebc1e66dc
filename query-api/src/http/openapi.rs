//! `GET /openapi.json`: the API's description, generated from the handlers' annotations so it
//! cannot drift from the routes (a test checks every route is in it).

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;

/// Every error answer.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the JSON `ApiError` writes
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code (`bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `rate_limited`, `uri_too_long`, `internal`...).
    code: String,
    /// Human-readable reason.
    message: String,
}

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("hpt_<id>_<secret>, from `hoptrail keys create`")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hoptrail", description = "The audit trail of AI agents' lateral movement: events, lateral paths, alerts and session replay. Every route but /healthz and /readyz needs `Authorization: Bearer <key>`; a key reads its own tenant only."),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::events::search,
        super::events::get_event,
        super::paths::agent_path,
        super::paths::session_path,
        super::paths::credential_path,
        super::paths::system_reach,
        super::replay::replay,
        super::alerts::list_alerts,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerKey)
)]
pub(crate) struct ApiDoc;

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object),
        (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_router_is_described_with_its_security() {
        let doc = serde_json::to_value(document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for route in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/v1/events",
            "/v1/events/{event_id}",
            "/v1/agents/{agent_id}/path",
            "/v1/sessions/{session_id}/path",
            "/v1/credentials/{credential_id}/path",
            "/v1/systems/{system}/reach",
            "/v1/sessions/{session_id}/replay",
            "/v1/alerts",
        ] {
            let op = &paths[route]["get"];
            assert!(op.is_object(), "{route} missing from the OpenAPI document");
            let public = matches!(route, "/healthz" | "/readyz");
            assert_eq!(op.get("security").is_some(), !public, "{route}");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["api_key"]["scheme"],
            "bearer"
        );
    }
}
