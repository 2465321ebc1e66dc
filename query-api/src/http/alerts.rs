//! `GET /v1/alerts`: the SIEM's pull feed. Invariant: alerts come in the store's seq order and
//! `next_cursor` is always present, so a client that keeps passing it back sees every committed
//! alert of its tenant exactly once — across restarts of hoptrail too — and, at the end, polls
//! the same cursor until new alerts are committed.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hoptrail_core::detect::{to_ocsf_finding, RuleId, Severity};
use hoptrail_indexer::{AlertCursor, AlertQuery, MAX_ALERT_PAGE};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use super::events::parse_time;
use super::openapi::ErrorBody;
use super::tenant::Tenant;
use crate::auth::ResultCount;
use crate::{ApiError, AppState};

const DEFAULT_LIMIT: usize = 100;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/alerts", get(list_alerts))
}

/// Paging and filters of the alert feed; all optional, combined with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertParams {
    /// `next_cursor` of the previous answer; without it, the feed starts at the oldest alert.
    /// Keep the filters the same while following a cursor.
    cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Only alerts whose evidence time is at or after this instant, RFC 3339.
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only this rule's alerts (a rule id such as `credential.foreign_presenter`).
    rule: Option<String>,
    /// Minimum severity: an OCSF severity name (`informational`, `low`, `medium`, `high`,
    /// `critical`, any case) or id (1–5). `high` returns high and critical alerts.
    severity: Option<String>,
}

/// Parses a severity as an OCSF name (any case) or OCSF id.
fn parse_severity(s: &str) -> Option<Severity> {
    const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    ALL.into_iter().find(|sev| {
        sev.ocsf_name().eq_ignore_ascii_case(s) || s.parse::<u8>().ok() == Some(sev.ocsf_id())
    })
}

fn query_from(tenant: String, p: AlertParams) -> Result<AlertQuery, ApiError> {
    let limit = match p.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_ALERT_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit: must be an integer from 1 to {MAX_ALERT_PAGE}"
                ))
            })?,
    };
    let rule = p
        .rule
        .as_deref()
        .map(|r| {
            RuleId::parse(r).ok_or_else(|| {
                let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                ApiError::BadRequest(format!(
                    "rule: unknown rule id (known: {})",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let min_severity = p
        .severity
        .as_deref()
        .map(|s| {
            parse_severity(s).ok_or_else(|| {
                ApiError::BadRequest(
                    "severity: expected informational, low, medium, high, critical or 1-5".into(),
                )
            })
        })
        .transpose()?;
    let cursor = p.cursor.as_deref().map(AlertCursor::decode).transpose()?;
    Ok(AlertQuery {
        tenant,
        cursor,
        limit,
        since_us: parse_time("since", p.since.as_deref())?,
        rule,
        min_severity,
    })
}

/// Alerts of the caller's tenant as OCSF Detection Findings (class 2004), oldest first, a page
/// at a time: `{"alerts": [...], "next_cursor": "…"}`. `next_cursor` is always present: pass it
/// back as `cursor` for the next page, and keep polling with it once a page comes back empty —
/// it then stays the same until new alerts are stored.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertParams),
    responses(
        (status = 200, description = "A page of OCSF Detection Findings: `{alerts, next_cursor}`", body = Object),
        (status = 400, description = "A malformed parameter, an unknown rule, or a cursor this store did not hand out", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "The key's role is neither siem nor admin", body = ErrorBody),
        (status = 414, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    params: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let query = query_from(tenant, p)?;
    let reader = state.alerts.clone();
    let page = tokio::task::spawn_blocking(move || reader.page(&query))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let findings: Vec<Value> = page.alerts.iter().map(to_ocsf_finding).collect();
    let count = findings.len() as u64;
    let mut response = Json(json!({
        "alerts": findings,
        "next_cursor": page.next_cursor.encode(),
    }))
    .into_response();
    response.extensions_mut().insert(ResultCount(count));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Result<AlertQuery, ApiError> {
        let Query(p) =
            Query::<AlertParams>::try_from_uri(&format!("/v1/alerts?{q}").parse().unwrap())
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        query_from("t".into(), p)
    }

    #[test]
    fn severity_is_a_minimum_given_by_ocsf_name_or_id() {
        assert_eq!(
            params("severity=high").unwrap().min_severity,
            Some(Severity::High)
        );
        assert_eq!(
            params("severity=High").unwrap().min_severity,
            Some(Severity::High)
        );
        assert_eq!(
            params("severity=5").unwrap().min_severity,
            Some(Severity::Critical)
        );
        assert!(params("severity=6").is_err());
        assert!(params("severity=urgent").is_err());
    }

    #[test]
    fn an_unknown_rule_a_bad_limit_a_bad_time_or_a_foreign_cursor_is_a_bad_request() {
        assert_eq!(
            params("rule=blast_radius.fanout").unwrap().rule,
            Some(RuleId::Fanout)
        );
        for bad in [
            "rule=blast_radius.nope",
            "limit=0",
            "limit=1001",
            "limit=ten",
            "since=yesterday",
            "cursor=1f.0000000000000001",
            "cursor=",
            "unknown=1",
        ] {
            assert!(matches!(params(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
        let q = params("").unwrap();
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.cursor, None);
        let q = params("cursor=a1.2a&limit=1000&since=2026-11-30T10:00:00Z").unwrap();
        assert_eq!(q.cursor.map(|c| c.next_seq()), Some(42));
        assert_eq!(q.since_us, Some(1_796_032_800_000_000));
    }
}
