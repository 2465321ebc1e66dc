//! `GET /v1/events` and `GET /v1/events/{event_id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hoptrail_indexer::{Cursor, EventQuery, MAX_PAGE_LIMIT};
use serde::Deserialize;
use utoipa::IntoParams;

use super::openapi::ErrorBody;
use super::path_id::PathId;

use super::tenant::Tenant;
use crate::auth::ResultCount;
use crate::{ApiError, AppState};

/// Longest accepted query string, in bytes.
const MAX_QUERY_BYTES: usize = 4096;
const DEFAULT_LIMIT: usize = 50;
/// Largest time bound, in microseconds either side of the epoch, that the index can represent.
const MAX_BOUND_US: i64 = i64::MAX / 1000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(search))
        .route("/v1/events/{event_id}", get(get_event))
}

/// Filters of an event search; all optional and combined with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// Query in tantivy syntax over the event fields (`outcome:denied AND zone:external`).
    #[param(max_length = 4096)]
    q: Option<String>,
    /// Exact agent id.
    agent: Option<String>,
    /// Exact session id.
    session: Option<String>,
    /// Exact system.
    system: Option<String>,
    /// Earliest event time, RFC 3339.
    #[param(format = DateTime)]
    from: Option<String>,
    /// Latest event time, RFC 3339.
    #[param(format = DateTime)]
    to: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

pub(crate) fn parse_time(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                // The index keeps nanoseconds in an i64 (years 1677 to 2262): every stored event
                // lies inside, so clamping a bound changes no answer and cannot overflow.
                .map(|t| t.timestamp_micros().clamp(-MAX_BOUND_US, MAX_BOUND_US))
                .map_err(|_| ApiError::BadRequest(format!("{name}: not RFC 3339")))
        })
        .transpose()
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Events of the caller's tenant, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(SearchParams),
    responses(
        (status = 200, description = "A page of events: `{events, total, next_cursor}`", body = Object),
        (status = 400, description = "A malformed parameter or query", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 414, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if p.q.as_ref().is_some_and(|q| q.len() > MAX_QUERY_BYTES) {
        return Err(ApiError::BadRequest(format!(
            "q: longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let limit = match p.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE_LIMIT).contains(l))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit: must be an integer from 1 to {MAX_PAGE_LIMIT}"
                ))
            })?,
    };
    let from_us = parse_time("from", p.from.as_deref())?;
    let to_us = parse_time("to", p.to.as_deref())?;
    if let (Some(f), Some(t)) = (from_us, to_us) {
        if f > t {
            return Err(ApiError::BadRequest("from: must not be after to".into()));
        }
    }
    let cursor = p.cursor.as_deref().map(Cursor::decode).transpose()?;
    let request = EventQuery {
        tenant,
        q: p.q,
        agent: p.agent,
        session: p.session,
        system: p.system,
        from_us,
        to_us,
        limit,
        cursor,
    };
    let searcher = state.searcher.clone();
    let page = tokio::task::spawn_blocking(move || searcher.search(&request))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    // Stored events are already JSON: splice them in rather than parse and re-serialize.
    let mut body = Vec::with_capacity(64 + page.events.iter().map(Vec::len).sum::<usize>());
    body.extend_from_slice(b"{\"events\":[");
    for (i, event) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.extend_from_slice(format!("],\"total\":{},\"next_cursor\":", page.total).as_bytes());
    match page.next_cursor {
        Some(c) => body.extend_from_slice(format!("\"{}\"}}", c.encode()).as_bytes()),
        None => body.extend_from_slice(b"null}"),
    }
    let mut response = json_response(body);
    response
        .extensions_mut()
        .insert(ResultCount(page.events.len() as u64));
    Ok(response)
}

/// One event by id.
#[utoipa::path(get, path = "/v1/events/{event_id}", tag = "events",
    params(("event_id" = String, Path, description = "The event's id", example = "demo-0008")),
    responses(
        (status = 200, description = "The stored event", body = Object),
        (status = 404, description = "No such event in the caller's tenant", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(event_id): PathId,
) -> Result<Response, ApiError> {
    let searcher = state.searcher.clone();
    let id = event_id.clone();
    let found = tokio::task::spawn_blocking(move || searcher.get(&tenant, &id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    match found {
        Some(bytes) => {
            let mut response = json_response(bytes);
            response.extensions_mut().insert(ResultCount(1));
            Ok(response)
        }
        None => Err(ApiError::NotFound(format!("no event {event_id:?}"))),
    }
}
