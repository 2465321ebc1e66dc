//! The one gate every request passes. Invariant: no handler runs for a caller that lacks a valid
//! key of a role allowed on its route, and no answer leaves without its audit line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use hoptrail_schemas::{RedactionCounts, Redactor};
use serde_json::{Map, Value};
use std::sync::LazyLock;

use super::key_store::{KeyStore, Principal};
use super::rate_limiter::RateLimiter;
use super::role::Access;
use crate::audit_log::{AuditEntry, AuditLog};
use crate::{ApiError, AppState};

/// Longest query string accepted, in bytes: longer is 414 before any work is done.
pub const MAX_QUERY_STRING_BYTES: usize = 8 * 1024;

/// How many results an answer held, set by handlers for the audit line.
#[derive(Debug, Clone, Copy)]
pub struct ResultCount(pub u64);

/// What the gate needs: keys, budgets and the audit log.
pub struct Auth {
    /// API keys, reloaded when their file changes.
    pub keys: KeyStore,
    /// Per-key request budgets.
    pub limiter: RateLimiter,
    /// Where every call is recorded; `None` only in unit tests of handlers.
    pub audit: Option<AuditLog>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None; // two credentials: refuse rather than guess which one counts
    }
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The middleware: authenticate, authorize, rate-limit, run, audit.
pub(crate) async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let access = Access::for_route(route.as_deref());
    if access == Access::Public {
        return next.run(req).await;
    }
    let auth: &Arc<Auth> = &state.auth;
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string());

    let principal: Option<Principal> =
        bearer(req.headers()).and_then(|t| auth.keys.authenticate(t, Utc::now()));
    let response = match &principal {
        None => ApiError::Unauthorized.into_response(),
        Some(p) if !p.role.allows(access) => ApiError::Forbidden.into_response(),
        Some(p) => match auth.limiter.check(&p.key_id, Instant::now()) {
            Err(wait) => ApiError::RateLimited(wait).into_response(),
            Ok(())
                if query
                    .as_ref()
                    .is_some_and(|q| q.len() > MAX_QUERY_STRING_BYTES) =>
            {
                ApiError::UriTooLong.into_response()
            }
            Ok(()) => {
                req.extensions_mut().insert(p.clone());
                next.run(req).await
            }
        },
    };

    let Some(audit) = &auth.audit else {
        return response;
    };
    let time = hoptrail_core::time::format_rfc3339_us(Utc::now().timestamp_micros());
    let entry = AuditEntry {
        time: &time,
        key_id: principal.as_ref().map(|p| &*p.key_id),
        tenant: principal.as_ref().map(|p| &*p.tenant),
        client,
        method: &method,
        route: route.as_deref(),
        path: &redacted_path(&path),
        params: redacted_params(
            query
                .as_deref()
                .map(|q| truncate(q, MAX_QUERY_STRING_BYTES)),
        ),
        status: response.status().as_u16(),
        result_count: response.extensions().get::<ResultCount>().map(|c| c.0),
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    if let Err(e) = audit.record(&entry) {
        // An answer nobody can account for is not given.
        tracing::error!(error = %e, "audit log write failed: refusing the answer");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable("audit log unavailable").into_response(),
        )
            .into_response();
    }
    response
}

/// The same recognizers as for events: the audit log must not become where secrets leak to.
static REDACTOR: LazyLock<Redactor> = LazyLock::new(Redactor::new);

fn redact(s: &str) -> String {
    REDACTOR
        .redact_str(s, &mut RedactionCounts::default())
        .into_owned()
}

fn redacted_path(path: &str) -> String {
    redact(&percent_encoding::percent_decode_str(path).decode_utf8_lossy())
}

fn redacted_params(query: Option<&str>) -> Map<String, Value> {
    let mut params = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let v = Value::String(redact(&v));
        match params.get_mut(&*k) {
            // A repeated parameter keeps every value, in order.
            Some(Value::Array(values)) => values.push(v),
            Some(first) => *first = Value::Array(vec![first.take(), v]),
            None => {
                params.insert(redact(&k), v);
            }
        }
    }
    params
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
