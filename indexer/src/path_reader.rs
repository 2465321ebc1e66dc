//! Loads what hop stitching needs from fast columns only, never from stored documents, so a
//! path over ten thousand events costs column reads, not ten thousand document decompressions.
//! Invariant: like every search, confined to one tenant.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use hoptrail_core::path::{
    build_path, Path, PathEvent, PathEventKind, PathOptions, PathRoot, SessionKey, TokenLineage,
};
use hoptrail_core::{Outcome, TokenAction};
use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, DocId, Score, SegmentOrdinal, SegmentReader, Term};

use crate::event_schema::EventSchema;
use crate::event_searcher::EventSearcher;
use crate::Result;

/// A time window, `[from_us, to_us)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Inclusive lower bound.
    pub from_us: Option<i64>,
    /// Exclusive upper bound.
    pub to_us: Option<i64>,
}

/// At most this many rounds of following `parent_id` links to a credential's root.
const MAX_LINEAGE_ROUNDS: usize = 32;

impl EventSearcher {
    /// Stitches the path of an agent or a session within `window`, following delegations up to
    /// `options.max_depth`. `None` when the tenant has no event at all of that agent or session
    /// (so an unknown id and another tenant's id look the same).
    pub fn path(&self, tenant: &str, root: &PathRoot, window: Window, options: PathOptions) -> Result<Option<Path>> {
        let f = self.fields().clone();
        let (field, id) = match root {
            PathRoot::Agent(a) => (f.agent_id, a.as_str()),
            PathRoot::Session(s) => (f.session_id, s.as_str()),
        };
        if !self.exists(tenant, field, id)? {
            return Ok(None);
        }
        let mut events = self.path_events(tenant, field, &[id.to_owned()], window)?;
        // Breadth-first over delegations: each level loads the sessions the previous one handed
        // work to, by `delegated_by` on the delegate's side or an exchange's `actor`.
        let mut known: BTreeSet<SessionKey> = events.iter().map(session_key).collect();
        let mut frontier: BTreeSet<String> = events.iter().map(|e| e.session_id.clone()).collect();
        // One level past `max_depth`, so that the stitcher sees the links it must mark truncated.
        for _ in 0..=options.max_depth {
            if frontier.is_empty() {
                break;
            }
            let frontier_list: Vec<String> = frontier.iter().cloned().collect();
            let mut children: BTreeSet<SessionKey> = BTreeSet::new();
            for e in self.path_events(tenant, f.delegated_by_session, &frontier_list, window)? {
                children.insert(session_key(&e));
            }
            for e in &events {
                if frontier.contains(&e.session_id) {
                    if let Some(actor) = &e.actor {
                        children.insert(actor.clone());
                    }
                }
            }
            children.retain(|k| !known.contains(k));
            if children.is_empty() {
                break;
            }
            let sessions: Vec<String> = children.iter().map(|(_, s)| s.clone()).collect();
            let loaded = self.path_events(tenant, f.session_id, &sessions, window)?;
            frontier = BTreeSet::new();
            for e in loaded {
                let key = session_key(&e);
                if children.contains(&key) {
                    if known.insert(key) {
                        frontier.insert(e.session_id.clone());
                    }
                    events.push(e);
                }
            }
        }
        let lineage = self.lineage_of(tenant, events.iter().filter_map(|e| e.credential_id.clone()))?;
        Ok(Some(build_path(root, events, lineage, options)))
    }

    /// Token links reaching up from `credentials` to their roots, from token events of any
    /// agent and any time (lineage is not bounded by the window).
    pub fn lineage_of(&self, tenant: &str, credentials: impl IntoIterator<Item = String>) -> Result<TokenLineage> {
        let f = self.fields().clone();
        let mut lineage = TokenLineage::default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut wanted: Vec<String> = credentials.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        for _ in 0..MAX_LINEAGE_ROUNDS {
            wanted.retain(|c| seen.insert(c.clone()));
            if wanted.is_empty() {
                break;
            }
            let mut next = BTreeSet::new();
            for e in self.path_events(tenant, f.credential_id, &wanted, Window::default())? {
                if let (Some(t), Some(p)) = (&e.credential_id, &e.token_parent_id) {
                    lineage.link(t, p);
                    next.insert(p.clone());
                }
            }
            wanted = next.into_iter().collect();
        }
        Ok(lineage)
    }

    /// Every token descended from `credential` (refreshes and exchanges of it), itself included.
    pub fn descendants_of(&self, tenant: &str, credential: &str) -> Result<BTreeSet<String>> {
        let f = self.fields().clone();
        let mut out = BTreeSet::from([credential.to_owned()]);
        let mut frontier = vec![credential.to_owned()];
        for _ in 0..MAX_LINEAGE_ROUNDS {
            if frontier.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for e in self.path_events(tenant, f.token_parent_id, &frontier, Window::default())? {
                if let Some(t) = e.credential_id {
                    if out.insert(t.clone()) {
                        next.push(t);
                    }
                }
            }
            frontier = next;
        }
        Ok(out)
    }

    /// True when the tenant has at least one event with `field == value`.
    pub fn exists(&self, tenant: &str, field: Field, value: &str) -> Result<bool> {
        let f = self.fields();
        let q = BooleanQuery::new(vec![
            (Occur::Must, term(f.tenant, tenant)),
            (Occur::Must, term(field, value)),
        ]);
        Ok(self.reader_searcher().search(&q, &Count)? > 0)
    }

    /// Events of the tenant where `field` is one of `values`, within `window`, as path events.
    pub fn path_events(&self, tenant: &str, field: Field, values: &[String], window: Window) -> Result<Vec<PathEvent>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let f = self.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, term(f.tenant, tenant))];
        let any_of: Vec<(Occur, Box<dyn Query>)> = values.iter().map(|v| (Occur::Should, term(field, v))).collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(any_of))));
        if window.from_us.is_some() || window.to_us.is_some() {
            let bound = |us: Option<i64>, inclusive: bool| match us {
                None => Bound::Unbounded,
                Some(us) => {
                    let t = Term::from_field_date(f.time, DateTime::from_timestamp_micros(us));
                    if inclusive { Bound::Included(t) } else { Bound::Excluded(t) }
                }
            };
            clauses.push((Occur::Must, Box::new(RangeQuery::new(bound(window.from_us, true), bound(window.to_us, false)))));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader_searcher();
        let per_segment = searcher.search(&query, &DocIds)?;
        let mut out = Vec::new();
        for (ordinal, docs) in per_segment {
            let segment = searcher.segment_reader(ordinal);
            read_segment(f, segment, &docs, &mut out)?;
        }
        Ok(out)
    }
}

fn session_key(e: &PathEvent) -> SessionKey {
    (e.agent_id.clone(), e.session_id.clone())
}

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

/// Gathers matching doc ids per segment, in doc order.
struct DocIds;
struct SegmentDocIds(SegmentOrdinal, Vec<DocId>);

impl Collector for DocIds {
    type Fruit = Vec<(SegmentOrdinal, Vec<DocId>)>;
    type Child = SegmentDocIds;

    fn for_segment(&self, ordinal: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<SegmentDocIds> {
        Ok(SegmentDocIds(ordinal, Vec::new()))
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<(SegmentOrdinal, Vec<DocId>)>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().filter(|(_, d)| !d.is_empty()).collect())
    }
}

impl SegmentCollector for SegmentDocIds {
    type Fruit = (SegmentOrdinal, Vec<DocId>);

    fn collect(&mut self, doc: DocId, _: Score) {
        self.1.push(doc);
    }

    fn harvest(self) -> Self::Fruit {
        (self.0, self.1)
    }
}

/// One string column's values for a set of docs, resolved with one sorted pass over the
/// column's dictionary instead of a lookup per doc.
fn resolve_column(segment: &SegmentReader, name: &str, docs: &[DocId]) -> Result<Vec<Option<String>>> {
    let Some(column): Option<StrColumn> = segment.fast_fields().str(name)? else {
        return Ok(vec![None; docs.len()]);
    };
    let ords: Vec<Option<u64>> = docs.iter().map(|&d| column.ords().first(d)).collect();
    let mut unique: Vec<u64> = ords.iter().flatten().copied().collect();
    unique.sort_unstable();
    unique.dedup();
    let mut terms: Vec<String> = Vec::with_capacity(unique.len());
    column
        .dictionary()
        .sorted_ords_to_term_cb(unique.iter().copied(), |bytes| {
            terms.push(String::from_utf8_lossy(bytes).into_owned());
            Ok(())
        })
        .map_err(|e| tantivy::TantivyError::from(e))?;
    let index: HashMap<u64, usize> = unique.iter().enumerate().map(|(i, &o)| (o, i)).collect();
    Ok(ords
        .into_iter()
        .map(|o| o.and_then(|o| index.get(&o)).map(|&i| terms[i].clone()))
        .collect())
}

fn read_segment(f: &EventSchema, segment: &SegmentReader, docs: &[DocId], out: &mut Vec<PathEvent>) -> Result<()> {
    let name = |field: Field| f.schema.get_field_name(field).to_owned();
    let col = |field: Field| resolve_column(segment, &name(field), docs);
    let time = segment.fast_fields().date(&name(f.time))?;
    let event_id = col(f.event_id)?;
    let agent = col(f.agent_id)?;
    let session = col(f.session_id)?;
    let mut workload = col(f.workload)?;
    let schema = col(f.schema_kind)?;
    let system = col(f.system)?;
    let zone = col(f.zone)?;
    let tool = col(f.tool)?;
    let credential = col(f.credential_id)?;
    let outcome = col(f.outcome)?;
    let action = col(f.action)?;
    let parent = col(f.token_parent_id)?;
    let subject = col(f.token_subject)?;
    let presenter = col(f.presenter)?;
    let by_agent = col(f.delegated_by_agent)?;
    let by_session = col(f.delegated_by_session)?;
    let actor_agent = col(f.actor_agent)?;
    let actor_session = col(f.actor_session)?;
    let span = col(f.span_id)?;
    let parent_span = col(f.parent_span_id)?;
    out.reserve(docs.len());
    let take = |v: &mut Vec<Option<String>>, i: usize| v[i].take();
    let (mut event_id, mut agent, mut session, mut system, mut zone, mut tool, mut credential) =
        (event_id, agent, session, system, zone, tool, credential);
    let (mut parent, mut subject, mut presenter, mut by_agent, mut by_session) = (parent, subject, presenter, by_agent, by_session);
    let (mut actor_agent, mut actor_session, mut span, mut parent_span) = (actor_agent, actor_session, span, parent_span);
    for (i, &doc) in docs.iter().enumerate() {
        let kind = if schema[i].as_deref() == Some("token_use") {
            let a = action[i].as_deref().and_then(TokenAction::parse).unwrap_or(TokenAction::Presented);
            PathEventKind::token(a)
        } else {
            let o = outcome[i].as_deref().and_then(Outcome::parse).unwrap_or(Outcome::Success);
            PathEventKind::tool(o)
        };
        let pair = |a: Option<String>, s: Option<String>| a.zip(s);
        out.push(PathEvent {
            event_id: take(&mut event_id, i).unwrap_or_default(),
            time_us: time.first(doc).map_or(0, |t| t.into_timestamp_micros()),
            agent_id: take(&mut agent, i).unwrap_or_default(),
            session_id: take(&mut session, i).unwrap_or_default(),
            workload: take(&mut workload, i),
            kind,
            system: take(&mut system, i),
            zone: take(&mut zone, i),
            tool: take(&mut tool, i),
            credential_id: take(&mut credential, i),
            token_parent_id: take(&mut parent, i),
            token_subject: take(&mut subject, i),
            presenter: take(&mut presenter, i),
            delegated_by: pair(take(&mut by_agent, i), take(&mut by_session, i)),
            actor: pair(take(&mut actor_agent, i), take(&mut actor_session, i)),
            span_id: take(&mut span, i),
            parent_span_id: take(&mut parent_span, i),
        });
    }
    Ok(())
}
