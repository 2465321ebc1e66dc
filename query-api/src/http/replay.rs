//! `GET /v1/sessions/{session_id}/replay`: a session's events in path order, as NDJSON at once or
//! as Server-Sent Events paced like the original. Invariant: both forms carry the same lines in
//! the same order; pacing changes only when a line is sent.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, StreamExt};
use hoptrail_core::detect::Alert;
use hoptrail_core::time::format_rfc3339_us;
use hoptrail_indexer::{ReplayStep, SessionReplay};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::IntoParams;

use super::openapi::ErrorBody;
use super::path_id::PathId;
use super::tenant::Tenant;
use crate::auth::ResultCount;
use crate::{ApiError, AppState};

/// Most events one replay returns; `from_event` continues past them.
pub const MAX_REPLAY_EVENTS: usize = 200_000;
/// Lines per chunk of the NDJSON body: big enough to amortize the write, small enough to start
/// the answer at once.
const LINES_PER_CHUNK: usize = 512;
const MAX_SPEED: f64 = 1_000_000.0;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/sessions/{session_id}/replay", get(replay))
}

/// How to replay.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReplayParams {
    /// Resume after this event (the id of the last line received). With SSE, the
    /// `Last-Event-ID` header does the same.
    from_event: Option<String>,
    /// Stream as Server-Sent Events at this multiple of the original pace (2 = twice as fast);
    /// gaps are capped (`[api] replay_max_gap_ms`, default 5 s). Without it: NDJSON at once.
    #[param(value_type = Option<f64>, minimum = 0.001, maximum = 1000000)]
    speed: Option<String>,
}

/// Where an event moved the agent, as the replay line shows it.
#[derive(Serialize)]
struct HopJson<'a> {
    index: usize,
    from: &'a str,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<&'a str>,
}

#[derive(Serialize)]
struct LineHead<'a> {
    seq: usize,
    event_id: &'a str,
    time: String,
    hop: Option<HopJson<'a>>,
    alerts: &'a [Value],
}

/// Writes one replay line (no newline): the head, then the stored event spliced in unparsed.
fn write_line(out: &mut Vec<u8>, seq: usize, step: &ReplayStep, alerts: &[Value]) {
    let head = LineHead {
        seq,
        event_id: &step.event_id,
        time: format_rfc3339_us(step.time_us),
        hop: step.hop.as_ref().map(|h| HopJson {
            index: h.index,
            from: &h.from,
            to: &h.to,
            zone: h.zone_to.as_deref(),
        }),
        alerts,
    };
    let start = out.len();
    if serde_json::to_writer(&mut *out, &head).is_err() {
        out.truncate(start);
        return;
    }
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"event\":");
    if step.stored.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        out.extend_from_slice(&step.stored);
    }
    out.push(b'}');
}

/// Alerts of the session, each placed on the step that completed its evidence: the last of its
/// related events in replay order (the event whose arrival, in order, raised it).
fn alerts_by_step(steps: &[ReplayStep], alerts: Vec<Alert>) -> HashMap<usize, Vec<Value>> {
    if alerts.is_empty() {
        return HashMap::new();
    }
    let position: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.event_id, i))
        .collect();
    let mut out: HashMap<usize, Vec<Value>> = HashMap::new();
    for alert in alerts {
        let Some(at) = alert
            .event_ids
            .iter()
            .filter_map(|id| position.get(id.as_str()).copied())
            .max()
        else {
            continue;
        };
        out.entry(at).or_default().push(json!({
            "id": alert.id,
            "rule": alert.rule.as_str(),
            "severity": alert.severity.ocsf_name().to_ascii_lowercase(),
            "title": alert.title,
        }));
    }
    out
}

/// A session's events in path order, each with its hop mark and the alerts it raised.
#[utoipa::path(get, path = "/v1/sessions/{session_id}/replay", tag = "sessions",
    params(("session_id" = String, Path, example = "sess-reporter-0042"), ReplayParams),
    responses(
        (status = 200, description = "NDJSON, one line per event: `{seq, event_id, time, hop, alerts, event}`; with `speed`, the same lines as `text/event-stream` events", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such session (or event) in the caller's tenant", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(session_id): PathId,
    headers: HeaderMap,
    params: Result<Query<ReplayParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let speed = p
        .speed
        .as_deref()
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && (0.001..=MAX_SPEED).contains(v))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "speed: must be a number from 0.001 to {MAX_SPEED}"
                    ))
                })
        })
        .transpose()?;
    let resume = p.from_event.or_else(|| {
        speed.and(
            headers
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        )
    });
    let searcher = state.searcher.clone();
    let alert_reader = state.alerts.clone();
    let session = session_id.clone();
    let (loaded, alerts) = tokio::task::spawn_blocking(move || {
        let replay = searcher.session_replay(&tenant, &session, MAX_REPLAY_EVENTS)?;
        let alerts = match &replay {
            Some(_) => alert_reader.for_session(&tenant, &session)?,
            None => Vec::new(),
        };
        Ok::<_, hoptrail_indexer::IndexError>((replay, alerts))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let Some(SessionReplay {
        steps, truncated, ..
    }) = loaded
    else {
        return Err(ApiError::NotFound(format!("no session {session_id:?}")));
    };
    let first = match &resume {
        None => 0,
        Some(id) => {
            steps
                .iter()
                .position(|s| &*s.event_id == id.as_str())
                .ok_or_else(|| {
                    ApiError::NotFound(format!("from_event: no event {id:?} in this session"))
                })?
                + 1
        }
    };
    let count = steps.len() - first;
    let alerts = alerts_by_step(&steps, alerts);
    let mut response = match speed {
        None => ndjson(steps, first, alerts),
        Some(speed) => sse(steps, first, speed, state.replay_max_gap, alerts),
    };
    let h = response.headers_mut();
    if truncated {
        h.insert("x-hoptrail-truncated", HeaderValue::from_static("true"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(ResultCount(count as u64));
    Ok(response)
}

fn step_alerts(alerts: &HashMap<usize, Vec<Value>>, seq: usize) -> &[Value] {
    alerts.get(&seq).map_or(&[], Vec::as_slice)
}

fn ndjson(steps: Vec<ReplayStep>, first: usize, alerts: HashMap<usize, Vec<Value>>) -> Response {
    let chunks = stream::iter(first..steps.len())
        .chunks(LINES_PER_CHUNK)
        .map(move |seqs| {
            let mut buf = Vec::with_capacity(seqs.len() * 700);
            for seq in seqs {
                write_line(&mut buf, seq, &steps[seq], step_alerts(&alerts, seq));
                buf.push(b'\n');
            }
            Ok::<_, std::convert::Infallible>(Bytes::from(buf))
        });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(chunks),
    )
        .into_response()
}

fn sse(
    steps: Vec<ReplayStep>,
    first: usize,
    speed: f64,
    max_gap: Duration,
    alerts: HashMap<usize, Vec<Value>>,
) -> Response {
    let events = stream::unfold(first, move |seq| {
        let steps = &steps;
        let delay = (seq > first && seq < steps.len()).then(|| {
            let gap_us = (steps[seq].time_us - steps[seq - 1].time_us).max(0) as f64;
            Duration::from_secs_f64(gap_us / 1e6 / speed).min(max_gap)
        });
        let out = (seq < steps.len()).then(|| {
            let mut line = Vec::with_capacity(800);
            line.extend_from_slice(b"id: ");
            line.extend_from_slice(steps[seq].event_id.as_bytes());
            line.extend_from_slice(b"\nevent: replay\ndata: ");
            write_line(&mut line, seq, &steps[seq], step_alerts(&alerts, seq));
            line.extend_from_slice(b"\n\n");
            Bytes::from(line)
        });
        async move {
            let out = out?;
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            Some((Ok::<_, std::convert::Infallible>(out), seq + 1))
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(events),
    )
        .into_response()
}
