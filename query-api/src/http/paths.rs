//! Lateral paths: per agent, per session, per credential, and who reached a system.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hoptrail_core::path::{
    to_dot, to_mermaid, Delegation, Graph, Hop, Name, Path, PathOptions, PathRoot, PathStart,
};
use hoptrail_core::time::format_rfc3339_us as ts;
use hoptrail_indexer::{EventSearcher, Window};
use serde::Deserialize;
use utoipa::IntoParams;

use super::openapi::ErrorBody;
use super::path_id::PathId;
use serde_json::{json, Value};

use super::tenant::Tenant;
use crate::auth::ResultCount;
use crate::{ApiError, AppState};

/// Deepest delegation nesting a caller may ask for.
const MAX_DEPTH_LIMIT: usize = 10;
/// Most agents a reach query stitches.
const MAX_REACH_AGENTS: usize = 200;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents/{agent_id}/path", get(agent_path))
        .route("/v1/sessions/{session_id}/path", get(session_path))
        .route("/v1/credentials/{credential_id}/path", get(credential_path))
        .route("/v1/systems/{system}/reach", get(system_reach))
}

/// Options of every path view.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PathParams {
    /// Earliest event time, RFC 3339.
    #[param(format = DateTime)]
    from: Option<String>,
    /// Latest event time, RFC 3339.
    #[param(format = DateTime)]
    to: Option<String>,
    /// How deep to follow delegations, 0 to 10 (default 5).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 10)]
    max_depth: Option<String>,
    /// `json` (default), `dot` (Graphviz) or `mermaid`.
    #[param(value_type = Option<String>, pattern = "^(json|dot|mermaid)$")]
    format: Option<String>,
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Dot,
    Mermaid,
}

struct Parsed {
    window: Window,
    options: PathOptions,
    format: Format,
}

fn parse(params: Result<Query<PathParams>, QueryRejection>) -> Result<Parsed, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let window = Window {
        from_us: super::events::parse_time("from", p.from.as_deref())?,
        to_us: super::events::parse_time("to", p.to.as_deref())?,
    };
    if let (Some(f), Some(t)) = (window.from_us, window.to_us) {
        if f > t {
            return Err(ApiError::BadRequest("from: must not be after to".into()));
        }
    }
    let mut options = PathOptions::default();
    if let Some(d) = p.max_depth.as_deref() {
        options.max_depth = d
            .parse::<usize>()
            .ok()
            .filter(|d| *d <= MAX_DEPTH_LIMIT)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "max_depth: must be an integer from 0 to {MAX_DEPTH_LIMIT}"
                ))
            })?;
    }
    let format = match p.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("dot") => Format::Dot,
        Some("mermaid") => Format::Mermaid,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "format: must be json, dot or mermaid".into(),
            ))
        }
    };
    Ok(Parsed {
        window,
        options,
        format,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

fn render(path: &Path, format: Format) -> Response {
    let mut response = match format {
        Format::Json => Json(path_json(path)).into_response(),
        Format::Dot => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            to_dot(path),
        )
            .into_response(),
        Format::Mermaid => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            to_mermaid(path),
        )
            .into_response(),
    };
    response
        .extensions_mut()
        .insert(ResultCount(path.hops.len() as u64));
    response
}

/// The agent's lateral path: every hop across systems, delegations nested.
#[utoipa::path(get, path = "/v1/agents/{agent_id}/path", tag = "paths",
    params(("agent_id" = String, Path, example = "agent:triage-bot"), PathParams),
    responses(
        (status = 200, description = "JSON (or DOT / Mermaid text with `format`)", body = Object),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Not in the caller's tenant", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn agent_path(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(agent_id): PathId,
    params: Result<Query<PathParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let root = PathRoot::Agent(agent_id.as_str().into());
    stitched(state, tenant, root, params, || {
        format!("no agent {agent_id:?}")
    })
    .await
}

/// One session's path (the agent's path restricted to the session and its delegates).
#[utoipa::path(get, path = "/v1/sessions/{session_id}/path", tag = "paths",
    params(("session_id" = String, Path, example = "sess-reporter-0042"), PathParams),
    responses(
        (status = 200, description = "JSON (or DOT / Mermaid text with `format`)", body = Object),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Not in the caller's tenant", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn session_path(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(session_id): PathId,
    params: Result<Query<PathParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let root = PathRoot::Session(session_id.as_str().into());
    stitched(state, tenant, root, params, || {
        format!("no session {session_id:?}")
    })
    .await
}

/// Stitches `root`'s path and renders it in the requested format; `missing` names the 404.
async fn stitched(
    state: AppState,
    tenant: String,
    root: PathRoot,
    params: Result<Query<PathParams>, QueryRejection>,
    missing: impl FnOnce() -> String,
) -> Result<Response, ApiError> {
    let p = parse(params)?;
    let searcher = state.searcher.clone();
    let path = blocking(move || Ok(searcher.path(&tenant, &root, p.window, p.options)?)).await?;
    let path = path.ok_or_else(|| ApiError::NotFound(missing()))?;
    Ok(render(&path, p.format))
}

/// JSON of a path, times as RFC 3339.
pub(crate) fn path_json(p: &Path) -> Value {
    let opt_ts = |t: Option<i64>| t.map(ts);
    json!({
        "agent_id": p.agent_id,
        "sessions": p.sessions,
        "start": p.start.as_ref().map(start_json),
        "hops": p.hops.iter().map(hop_json).collect::<Vec<_>>(),
        "summary": {
            "systems": p.summary.systems,
            "external_systems": p.summary.external_systems,
            "zones_crossed": p.summary.zones_crossed,
            "credentials": p.summary.credentials,
            "denied": p.summary.denied,
            "first_at": opt_ts(p.summary.first_at_us),
            "last_at": opt_ts(p.summary.last_at_us),
        },
    })
}

fn start_json(s: &PathStart) -> Value {
    json!({
        "system": s.system,
        "at": ts(s.at_us),
        "zone": s.zone,
        "event_ids": s.event_ids,
        "delegations": s.delegations.iter().map(delegation_json).collect::<Vec<_>>(),
    })
}

fn hop_json(h: &Hop) -> Value {
    json!({
        "from": h.from,
        "to": h.to,
        "at": ts(h.at_us),
        "tool": h.tool,
        "credential_id": h.credential_id,
        "credential_root": h.credential_root,
        "zone_from": h.zone_from,
        "zone_to": h.zone_to,
        "event_ids": h.event_ids,
        "delegations": h.delegations.iter().map(delegation_json).collect::<Vec<_>>(),
    })
}

fn delegation_json(d: &Delegation) -> Value {
    let mut v = match &d.path {
        Some(p) => path_json(p),
        None => {
            json!({"agent_id": d.agent_id, "sessions": [d.session_id], "start": null, "hops": []})
        }
    };
    if let Value::Object(m) = &mut v {
        m.insert("via".into(), json!(d.via.as_str()));
        m.insert("at".into(), json!(ts(d.at_us)));
        m.insert("session_id".into(), json!(d.session_id));
        if d.cycle {
            m.insert("cycle".into(), json!(true));
        }
        if d.truncated {
            m.insert("truncated".into(), json!(true));
        }
    }
    v
}

/// Where a credential and every token derived from it went, and who presented it.
#[utoipa::path(get, path = "/v1/credentials/{credential_id}/path", tag = "paths",
    params(("credential_id" = String, Path, example = "tok-reporter-9"), PathParams),
    responses(
        (status = 200, description = "JSON (or DOT / Mermaid text with `format`)", body = Object),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Not in the caller's tenant", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn credential_path(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(credential_id): PathId,
    params: Result<Query<PathParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = parse(params)?;
    let searcher = state.searcher.clone();
    let id = credential_id.clone();
    let view = blocking(move || credential_view(&searcher, &tenant, &id, p.window)).await?;
    let (body, graph) =
        view.ok_or_else(|| ApiError::NotFound(format!("no credential {credential_id:?}")))?;
    Ok(render_view(body, &graph, p.format))
}

fn render_view(body: Value, graph: &Graph, format: Format) -> Response {
    let count = body
        .get("agents")
        .and_then(Value::as_array)
        .map(|a| a.len() as u64);
    let mut response = match format {
        Format::Json => Json(body).into_response(),
        Format::Dot => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            graph.to_dot(),
        )
            .into_response(),
        Format::Mermaid => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            graph.to_mermaid(),
        )
            .into_response(),
    };
    if let Some(n) = count {
        response.extensions_mut().insert(ResultCount(n));
    }
    response
}

/// A view's JSON and its diagram.
type View = Option<(Value, Graph)>;

fn credential_view(
    s: &EventSearcher,
    tenant: &str,
    id: &str,
    window: Window,
) -> Result<View, ApiError> {
    let f = s.fields();
    if !s.exists(tenant, f.credential_id, id)? {
        return Ok(None);
    }
    let lineage = s.lineage_of(tenant, [id.to_owned()])?;
    let chain: Vec<String> = lineage.chain(id).into_iter().map(str::to_owned).collect();
    let root = lineage.root(id).to_owned();
    let descendants = s.descendants_of(tenant, id)?;
    // Uses of the credential and of every token derived from it: a leak of `id` reaches those.
    let tokens: Vec<String> = descendants.iter().cloned().collect();
    let mut uses = s.path_events(tenant, f.credential_id, &tokens, window)?;
    uses.sort_by(|a, b| (a.time_us, &a.event_id).cmp(&(b.time_us, &b.event_id)));
    #[derive(Default)]
    struct Agent {
        workloads: BTreeSet<Name>,
        presenters: BTreeSet<Name>,
        sessions: BTreeSet<Name>,
        systems: Vec<Name>,
        tokens: BTreeSet<Name>,
        events: u64,
        denied: u64,
        first: Option<i64>,
        last: Option<i64>,
    }
    let mut agents: BTreeMap<Name, Agent> = BTreeMap::new();
    let mut workloads = BTreeSet::new();
    let mut graph = Graph::default();
    for pair in chain.windows(2) {
        let child = graph.node(&format!("t:{}", pair[0]), &format!("token {}", pair[0]));
        let parent = graph.node(&format!("t:{}", pair[1]), &format!("token {}", pair[1]));
        graph.edge(child, parent, "derived from", true);
    }
    for e in &uses {
        if let Some(c) = &e.credential_id {
            let agent = graph.node(
                &format!("a:{}", e.agent_id),
                &format!("agent {}", e.agent_id),
            );
            let token = graph.node(&format!("t:{c}"), &format!("token {c}"));
            graph.edge(agent, token.clone(), "used", false);
            if let Some(sys) = &e.system {
                let system = graph.node(&format!("s:{sys}"), &format!("system {sys}"));
                graph.edge(
                    token,
                    system,
                    e.presenter.as_deref().map_or("at", |_| "presented at"),
                    false,
                );
            }
        }
        let a = agents.entry(e.agent_id.clone()).or_default();
        if let Some(w) = &e.workload {
            a.workloads.insert(w.clone());
            workloads.insert(w.clone());
        }
        if let Some(p) = &e.presenter {
            a.presenters.insert(p.clone());
            workloads.insert(p.clone());
        }
        if let Some(sub) = &e.token_subject {
            workloads.insert(sub.clone());
        }
        a.sessions.insert(e.session_id.clone());
        if let Some(sys) = &e.system {
            if !a.systems.contains(sys) {
                a.systems.push(sys.clone());
            }
        }
        if let Some(c) = &e.credential_id {
            a.tokens.insert(c.clone());
        }
        a.events += 1;
        a.denied += u64::from(e.kind.is_denied());
        a.first.get_or_insert(e.time_us);
        a.last = Some(e.time_us);
    }
    let agents: Vec<Value> = agents
        .into_iter()
        .map(|(id, a)| {
            json!({
                "agent_id": id, "workloads": a.workloads, "presenters": a.presenters,
                "sessions": a.sessions, "systems": a.systems, "credentials": a.tokens,
                "events": a.events, "denied": a.denied,
                "first_at": a.first.map(ts), "last_at": a.last.map(ts),
            })
        })
        .collect();
    Ok(Some((
        json!({
            "credential_id": id,
            "lineage": {"root": root, "chain": chain, "descendants": descendants},
            "agents": agents,
            "workloads": workloads,
            "first_at": uses.first().map(|e| ts(e.time_us)),
            "last_at": uses.last().map(|e| ts(e.time_us)),
        }),
        graph,
    )))
}

/// Which agents reached a system, and by which route.
#[utoipa::path(get, path = "/v1/systems/{system}/reach", tag = "paths",
    params(("system" = String, Path, example = "api.notion.com"), PathParams),
    responses(
        (status = 200, description = "JSON (or DOT / Mermaid text with `format`)", body = Object),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Not in the caller's tenant", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub(crate) async fn system_reach(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    PathId(system): PathId,
    params: Result<Query<PathParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = parse(params)?;
    let searcher = state.searcher.clone();
    let name = system.clone();
    let view = blocking(move || reach_view(&searcher, &tenant, &name, p.window, p.options)).await?;
    let (body, graph) = view.ok_or_else(|| ApiError::NotFound(format!("no system {system:?}")))?;
    Ok(render_view(body, &graph, p.format))
}

fn reach_view(
    s: &EventSearcher,
    tenant: &str,
    system: &str,
    window: Window,
    options: PathOptions,
) -> Result<View, ApiError> {
    let f = s.fields();
    if !s.exists(tenant, f.system, system)? {
        return Ok(None);
    }
    let on_system = s.path_events(tenant, f.system, &[system.to_owned()], window)?;
    let agents: BTreeSet<Name> = on_system.iter().map(|e| e.agent_id.clone()).collect();
    let truncated = agents.len() > MAX_REACH_AGENTS;
    let mut out = Vec::new();
    let mut graph = Graph::default();
    let target = graph.node(&format!("s:{system}"), &format!("system {system}"));
    // Delegates are reported as agents in their own right: no nesting needed here.
    let options = PathOptions {
        max_depth: 0,
        ..options
    };
    for agent in agents.into_iter().take(MAX_REACH_AGENTS) {
        let Some(path) = s.path(tenant, &PathRoot::Agent(agent.clone()), window, options)? else {
            continue;
        };
        let mut arrivals: Vec<Value> = Vec::new();
        if let Some(st) = path.start.as_ref().filter(|st| &*st.system == system) {
            arrivals.push(json!({"from": null, "at": ts(st.at_us), "zone_from": null, "tool": null, "credential_id": null, "credential_root": null}));
        }
        for h in path.hops.iter().filter(|h| &*h.to == system) {
            let from = graph.node(&format!("s:{}", h.from), &format!("system {}", h.from));
            graph.edge(
                from,
                target.clone(),
                &format!(
                    "{} ({})",
                    agent,
                    h.credential_id.as_deref().unwrap_or("no credential")
                ),
                false,
            );
            arrivals.push(json!({
                "from": h.from, "at": ts(h.at_us), "zone_from": h.zone_from, "tool": h.tool,
                "credential_id": h.credential_id, "credential_root": h.credential_root,
            }));
        }
        let mine: Vec<_> = on_system.iter().filter(|e| e.agent_id == agent).collect();
        let tools: BTreeSet<&str> = mine.iter().filter_map(|e| e.tool.as_deref()).collect();
        let credentials: BTreeSet<&str> = mine
            .iter()
            .filter_map(|e| e.credential_id.as_deref())
            .collect();
        out.push(json!({
            "agent_id": agent,
            "arrivals": arrivals,
            "tools": tools,
            "credentials": credentials,
            "events": mine.len(),
            "denied": mine.iter().filter(|e| e.kind.is_denied()).count(),
            "first_at": mine.iter().map(|e| e.time_us).min().map(ts),
            "last_at": mine.iter().map(|e| e.time_us).max().map(ts),
        }));
    }
    Ok(Some((
        json!({"system": system, "agents": out, "truncated": truncated}),
        graph,
    )))
}
