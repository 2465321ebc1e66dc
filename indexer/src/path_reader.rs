//! Loads what hop stitching needs from fast columns only, never from stored documents, so a
//! path over ten thousand events costs column reads, not ten thousand document decompressions.
//! Invariant: like every search, confined to one tenant.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use hoptrail_core::path::{
    build_path_from_table, EventTable, Name, Names, Path, PathEvent, PathEventKind, PathOptions,
    PathRoot, Sym, TableEvent, TokenLineage,
};
use hoptrail_core::{Outcome, TokenAction};
use rustc_hash::FxHashSet as HashSet;
use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::index::SegmentId;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
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

/// Most events one path, reach or replay query loads: bounds the memory and time of one request
/// (about 200 MB and a few seconds at the bound), so no query can scan everything.
pub const MAX_MATCHING_EVENTS: usize = 1_000_000;

/// At most this many rounds of following `parent_id` links to a credential's root.
const MAX_LINEAGE_ROUNDS: usize = 32;

impl EventSearcher {
    /// Stitches the path of an agent or a session within `window`, following delegations up to
    /// `options.max_depth`. `None` when the tenant has no event at all of that agent or session
    /// (so an unknown id and another tenant's id look the same).
    pub fn path(
        &self,
        tenant: &str,
        root: &PathRoot,
        window: Window,
        options: PathOptions,
    ) -> Result<Option<Path>> {
        let f = self.fields().clone();
        let (field, id) = match root {
            PathRoot::Agent(a) => (f.agent_id, &**a),
            PathRoot::Session(s) => (f.session_id, &**s),
        };
        let mut names = Names::default();
        let mut events = Vec::new();
        self.table_events(tenant, field, &[id], window, &mut names, &mut events)?;
        if events.is_empty() && !self.exists(tenant, field, id)? {
            return Ok(None);
        }
        // Breadth-first over delegations: each level loads the sessions the previous one handed
        // work to, by `delegated_by` on the delegate's side or an exchange's `actor`. Sessions
        // are symbols of one table here, so the sets hash integers, not ids.
        let mut known: HashSet<(Sym, Sym)> = events.iter().map(session_key).collect();
        let mut frontier: HashSet<Sym> = events.iter().map(|e| e.session_id).collect();
        let mut loaded = Vec::new();
        // One level past `max_depth`, so that the stitcher sees the links it must mark truncated.
        for _ in 0..=options.max_depth {
            if frontier.is_empty() {
                break;
            }
            let frontier_list: Vec<Name> =
                frontier.iter().map(|&s| names.name(s).clone()).collect();
            loaded.clear();
            self.table_events(
                tenant,
                f.delegated_by_session,
                &frontier_list,
                window,
                &mut names,
                &mut loaded,
            )?;
            let mut children: HashSet<(Sym, Sym)> = loaded.iter().map(session_key).collect();
            for e in &events {
                if frontier.contains(&e.session_id) {
                    if let Some(actor) = e.actor {
                        children.insert(actor);
                    }
                }
            }
            children.retain(|k| !known.contains(k));
            if children.is_empty() {
                break;
            }
            let sessions: Vec<Name> = children
                .iter()
                .map(|&(_, s)| names.name(s).clone())
                .collect();
            loaded.clear();
            self.table_events(
                tenant,
                f.session_id,
                &sessions,
                window,
                &mut names,
                &mut loaded,
            )?;
            frontier = HashSet::default();
            for e in loaded.drain(..) {
                let key = session_key(&e);
                if children.contains(&key) {
                    if known.insert(key) {
                        frontier.insert(e.session_id);
                    }
                    events.push(e);
                }
            }
        }
        let credentials: HashSet<Sym> = events.iter().filter_map(|e| e.credential_id).collect();
        let lineage = self.lineage_of(tenant, credentials.iter().map(|&c| names.name(c)))?;
        Ok(Some(build_path_from_table(
            root,
            EventTable { names, events },
            lineage,
            options,
        )))
    }

    /// Token links reaching up from `credentials` to their roots, from token events of any
    /// agent and any time (lineage is not bounded by the window).
    pub fn lineage_of<S: AsRef<str>>(
        &self,
        tenant: &str,
        credentials: impl IntoIterator<Item = S>,
    ) -> Result<TokenLineage> {
        let f = self.fields().clone();
        let mut lineage = TokenLineage::default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut wanted: Vec<String> = credentials
            .into_iter()
            .map(|c| c.as_ref().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for _ in 0..MAX_LINEAGE_ROUNDS {
            wanted.retain(|c| seen.insert(c.clone()));
            if wanted.is_empty() {
                break;
            }
            let mut next = BTreeSet::new();
            // Only token events that name a parent are read: not the tool calls that share the
            // credential id, of which there can be millions.
            for e in self.path_events(tenant, f.lineage_token, &wanted, Window::default())? {
                if let (Some(t), Some(p)) = (&e.credential_id, &e.token_parent_id) {
                    lineage.link(t, p);
                    next.insert(p.to_string());
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
                    if out.insert(t.to_string()) {
                        next.push(t.to_string());
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
    pub fn path_events<V: AsRef<str>>(
        &self,
        tenant: &str,
        field: Field,
        values: &[V],
        window: Window,
    ) -> Result<Vec<PathEvent>> {
        let mut names = Names::default();
        let mut events = Vec::new();
        self.table_events(tenant, field, values, window, &mut names, &mut events)?;
        Ok(events.iter().map(|e| names.path_event(e)).collect())
    }

    /// Like `path_events`, the names interned in `names`, appended to `out`.
    fn table_events<V: AsRef<str>>(
        &self,
        tenant: &str,
        field: Field,
        values: &[V],
        window: Window,
        names: &mut Names,
        out: &mut Vec<TableEvent>,
    ) -> Result<()> {
        let (searcher, per_segment) = self.matching_docs(tenant, field, values, window)?;
        let f = self.fields();
        // Most names of a large path are its event ids, one per event: room for them at once
        // spares rehashing a table of thousands.
        let matched: usize = per_segment.iter().map(|(_, d)| d.len()).sum();
        names.reserve(matched);
        out.reserve(matched);
        for (ordinal, docs) in per_segment {
            let columns = self.columns.get(f, searcher.segment_reader(ordinal))?;
            read_segment(&columns, &docs, names, out)?;
        }
        Ok(())
    }

    /// Like `path_events`, each with its stored event (the JSON the API returns).
    pub(crate) fn path_events_with_stored<V: AsRef<str>>(
        &self,
        tenant: &str,
        field: Field,
        values: &[V],
        window: Window,
    ) -> Result<Vec<(PathEvent, Vec<u8>)>> {
        let (searcher, per_segment) = self.matching_docs(tenant, field, values, window)?;
        let f = self.fields();
        let mut out = Vec::new();
        let mut names = Names::default();
        let mut events = Vec::new();
        for (ordinal, docs) in per_segment {
            let segment = searcher.segment_reader(ordinal);
            let columns = self.columns.get(f, segment)?;
            events.clear();
            read_segment(&columns, &docs, &mut names, &mut events)?;
            // Docs ascend within a segment, so a small block cache reads each block once.
            let store = segment
                .get_store_reader(8)
                .map_err(tantivy::TantivyError::from)?;
            out.reserve(docs.len());
            for (event, &doc) in events.iter().zip(&docs) {
                let stored: tantivy::TantivyDocument = store.get(doc)?;
                let bytes = stored
                    .get_first(f.stored)
                    .and_then(|v| tantivy::schema::Value::as_bytes(&v))
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                out.push((names.path_event(event), bytes));
            }
        }
        Ok(out)
    }

    /// The documents of the tenant where `field` is one of `values`, within `window`, per segment
    /// in doc order, with the searcher they belong to.
    fn matching_docs<V: AsRef<str>>(
        &self,
        tenant: &str,
        field: Field,
        values: &[V],
        window: Window,
    ) -> Result<(tantivy::Searcher, DocsPerSegment)> {
        let searcher = self.reader_searcher();
        // Values no segment knows cost a scorer each in a query of thousands of clauses; a term
        // dictionary probe is far cheaper. Each segment's dictionary is opened once, not once per
        // value: lineage probes hundreds of credentials.
        let mut known = vec![false; values.len()];
        for segment in searcher.segment_readers() {
            let terms = segment.inverted_index(field)?;
            let terms = terms.terms();
            for (v, known) in values.iter().zip(&mut known) {
                if !*known {
                    *known = terms
                        .term_ord(v.as_ref().as_bytes())
                        .map_err(tantivy::TantivyError::from)?
                        .is_some();
                }
            }
        }
        let present: Vec<&str> = values
            .iter()
            .zip(&known)
            .filter(|(_, &k)| k)
            .map(|(v, _)| v.as_ref())
            .collect();
        if present.is_empty() {
            return Ok((searcher, Vec::new()));
        }
        let values = &present;
        let f = self.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, term(f.tenant, tenant))];
        let any_of: Vec<(Occur, Box<dyn Query>)> = values
            .iter()
            .map(|v| (Occur::Should, term(field, v)))
            .collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(any_of))));
        if let Some(range) = crate::event_searcher::time_range(f.time, window.from_us, window.to_us)
        {
            clauses.push((Occur::Must, range));
        }
        let query = BooleanQuery::new(clauses);
        let per_segment = searcher.search(&query, &DocIds)?;
        let matched: usize = per_segment.iter().map(|(_, d)| d.len()).sum();
        if matched > self.max_matching_events {
            // Doc ids cost 4 bytes each; the columns and names behind them cost a hundred times
            // more, so the bound is checked before anything else is read.
            return Err(crate::IndexError::TooBroad {
                matched,
                limit: self.max_matching_events,
            });
        }
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        self.columns.retain(&live);
        Ok((searcher, per_segment))
    }
}

/// Matching doc ids, per segment, in doc order.
type DocsPerSegment = Vec<(SegmentOrdinal, Vec<DocId>)>;

fn session_key(e: &TableEvent) -> (Sym, Sym) {
    (e.agent_id, e.session_id)
}

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// Gathers matching doc ids per segment, in doc order.
struct DocIds;
struct SegmentDocIds(SegmentOrdinal, Vec<DocId>);

impl Collector for DocIds {
    type Fruit = Vec<(SegmentOrdinal, Vec<DocId>)>;
    type Child = SegmentDocIds;

    fn for_segment(
        &self,
        ordinal: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<SegmentDocIds> {
        Ok(SegmentDocIds(ordinal, Vec::new()))
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<(SegmentOrdinal, Vec<DocId>)>,
    ) -> tantivy::Result<Self::Fruit> {
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

/// The fast columns path stitching reads, opened once per segment. Opening a string column
/// parses its dictionary index, which for an id column of a large segment costs milliseconds:
/// far more than reading a few thousand values from it.
pub(crate) struct SegmentColumns {
    time: Column<DateTime>,
    strs: Vec<Option<DecodedColumn>>,
}

/// A string column with its dictionary decoded once: term ordinal → shared string. tantivy
/// keeps dictionaries in compressed blocks; decoding the blocks a query touches, on every query,
/// cost more than the rest of a path query together (about 40 bytes per distinct value, paid
/// once per segment).
struct DecodedColumn {
    column: StrColumn,
    terms: Vec<Name>,
}

impl DecodedColumn {
    fn open(column: StrColumn) -> Result<Self> {
        let mut terms = Vec::with_capacity(column.num_terms());
        let mut stream = column
            .dictionary()
            .stream()
            .map_err(tantivy::TantivyError::from)?;
        while stream.advance() {
            terms.push(Name::from(String::from_utf8_lossy(stream.key()).as_ref()));
        }
        Ok(DecodedColumn { column, terms })
    }

    /// The symbols of term ordinals, interned in `names`.
    fn symbols(&self, ords: &[Option<u64>], names: &mut Names) -> Vec<Option<Sym>> {
        let term = |o: u64| self.terms.get(o as usize);
        // A small dictionary (systems, tools, zones) is mapped through a table by ordinal, each
        // term interned once; a large one (event ids, spans) holds mostly distinct values, which
        // are interned directly, runs of one value aside.
        if self.terms.len() <= 4 * ords.len() + 1024 {
            let mut by_ord: Vec<Option<Sym>> = vec![None; self.terms.len()];
            ords.iter()
                .map(|&o| {
                    let o = o?;
                    let slot = by_ord.get_mut(o as usize)?;
                    Some(*slot.get_or_insert_with(|| names.intern_text(&self.terms[o as usize])))
                })
                .collect()
        } else {
            let mut last: Option<(u64, Sym)> = None;
            ords.iter()
                .map(|&o| {
                    let o = o?;
                    match last {
                        Some((lo, s)) if lo == o => Some(s),
                        _ => {
                            let s = names.intern_text(term(o)?);
                            last = Some((o, s));
                            Some(s)
                        }
                    }
                })
                .collect()
        }
    }
}

/// Opened columns by segment. Segments are immutable, so an entry never goes stale; entries of
/// segments merged away are dropped when a query sees they are gone.
#[derive(Clone, Default)]
pub(crate) struct ColumnCache(Arc<Mutex<HashMap<SegmentId, Arc<SegmentColumns>>>>);

impl ColumnCache {
    fn get(&self, f: &EventSchema, segment: &SegmentReader) -> Result<Arc<SegmentColumns>> {
        let id = segment.segment_id();
        if let Some(c) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(c.clone());
        }
        let fast = segment.fast_fields();
        let mut strs = Vec::with_capacity(STR_FIELDS);
        for field in str_fields(f) {
            strs.push(
                fast.str(f.schema.get_field_name(field))?
                    .map(DecodedColumn::open)
                    .transpose()?,
            );
        }
        let columns = Arc::new(SegmentColumns {
            time: fast.date(f.schema.get_field_name(f.time))?,
            strs,
        });
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, columns.clone());
        Ok(columns)
    }

    fn retain(&self, live: &[SegmentId]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| live.contains(id));
    }
}

const STR_FIELDS: usize = 20;

/// The string columns, in the order `read_segment` consumes them.
fn str_fields(f: &EventSchema) -> [Field; STR_FIELDS] {
    [
        f.event_id,
        f.agent_id,
        f.session_id,
        f.workload,
        f.schema_kind,
        f.system,
        f.zone,
        f.tool,
        f.credential_id,
        f.outcome,
        f.action,
        f.token_parent_id,
        f.token_subject,
        f.presenter,
        f.delegated_by_agent,
        f.delegated_by_session,
        f.actor_agent,
        f.actor_session,
        f.span_id,
        f.parent_span_id,
    ]
}

fn read_segment(
    columns: &SegmentColumns,
    docs: &[DocId],
    names: &mut Names,
    out: &mut Vec<TableEvent>,
) -> Result<()> {
    // Column by column, batched: tantivy reads a column's values for many docs at once much
    // faster than one doc at a time, and a column the segment never filled costs nothing.
    let mut ords: Vec<Option<u64>> = vec![None; docs.len()];
    let mut values: Vec<Vec<Option<Sym>>> = Vec::with_capacity(STR_FIELDS);
    for c in &columns.strs {
        match c {
            Some(c) if !c.terms.is_empty() => {
                ords.fill(None);
                c.column.ords().first_vals(docs, &mut ords);
                values.push(c.symbols(&ords, names));
            }
            _ => values.push(Vec::new()),
        }
    }
    let mut times: Vec<Option<DateTime>> = vec![None; docs.len()];
    columns.time.first_vals(docs, &mut times);
    let mut cols = values.into_iter().map(|v| {
        let mut it = v.into_iter();
        move || it.next().flatten()
    });
    let mut next_col = || cols.next().expect("one iterator per string column");
    let [mut event_id, mut agent, mut session, mut workload, mut schema, mut system, mut zone, mut tool, mut credential, mut outcome, mut action, mut parent, mut subject, mut presenter, mut by_agent, mut by_session, mut actor_agent, mut actor_session, mut span, mut parent_span] =
        std::array::from_fn::<_, STR_FIELDS, _>(|_| next_col());
    // The kind columns hold a handful of values: each is parsed once per segment.
    let mut kinds = KindNames::default();
    let mut empty = None;
    out.reserve(docs.len());
    for time in times {
        let kind = if kinds.is_token(names, schema()) {
            let a = kinds.action(names, action());
            let _ = outcome();
            PathEventKind::token(a)
        } else {
            let o = kinds.outcome(names, outcome());
            let _ = action();
            PathEventKind::tool(o)
        };
        let mut or_empty = |s: Option<Sym>| {
            s.unwrap_or_else(|| *empty.get_or_insert_with(|| names.intern(&Name::from(""))))
        };
        let event_id = or_empty(event_id());
        let agent_id = or_empty(agent());
        let session_id = or_empty(session());
        out.push(TableEvent {
            event_id,
            time_us: time.map_or(0, |t| t.into_timestamp_micros()),
            agent_id,
            session_id,
            workload: workload(),
            kind,
            system: system(),
            zone: zone(),
            tool: tool(),
            credential_id: credential(),
            token_parent_id: parent(),
            token_subject: subject(),
            presenter: presenter(),
            delegated_by: by_agent().zip(by_session()),
            actor: actor_agent().zip(actor_session()),
            span_id: span(),
            parent_span_id: parent_span(),
        });
    }
    Ok(())
}

/// What the values of the kind columns (`schema_kind`, `outcome`, `action`) mean, parsed once
/// per distinct symbol.
#[derive(Default)]
struct KindNames {
    schemas: Vec<(Sym, bool)>,
    outcomes: Vec<(Sym, Outcome)>,
    actions: Vec<(Sym, TokenAction)>,
}

/// `value`'s meaning, from `cache` or parsed (and remembered).
fn parsed<T: Copy>(
    cache: &mut Vec<(Sym, T)>,
    names: &Names,
    value: Option<Sym>,
    parse: impl FnOnce(&str) -> T,
    absent: T,
) -> T {
    let Some(s) = value else { return absent };
    if let Some(&(_, t)) = cache.iter().find(|(c, _)| *c == s) {
        return t;
    }
    let t = parse(names.name(s));
    cache.push((s, t));
    t
}

impl KindNames {
    fn is_token(&mut self, names: &Names, schema: Option<Sym>) -> bool {
        parsed(
            &mut self.schemas,
            names,
            schema,
            |s| s == "token_use",
            false,
        )
    }

    fn outcome(&mut self, names: &Names, outcome: Option<Sym>) -> Outcome {
        let parse = |s: &str| Outcome::parse(s).unwrap_or(Outcome::Success);
        parsed(&mut self.outcomes, names, outcome, parse, Outcome::Success)
    }

    fn action(&mut self, names: &Names, action: Option<Sym>) -> TokenAction {
        let parse = |s: &str| TokenAction::parse(s).unwrap_or(TokenAction::Presented);
        parsed(
            &mut self.actions,
            names,
            action,
            parse,
            TokenAction::Presented,
        )
    }
}
