//! Searches over committed events. Invariant: every search is confined to one tenant, whatever
//! the query string says, because the tenant term is a mandatory clause added here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{
    DateTime, DocAddress, DocId, Index, IndexReader, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument, Term,
};

use crate::event_schema::EventSchema;
use crate::{IndexError, Result};

/// The largest page a search returns.
pub const MAX_PAGE_LIMIT: usize = 1000;

/// A search request. Time bounds are `[from_us, to_us)`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Tenant the search is confined to.
    pub tenant: String,
    /// Query string in tantivy syntax (empty = all).
    pub q: Option<String>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this session.
    pub session: Option<String>,
    /// Only this system.
    pub system: Option<String>,
    /// Inclusive lower time bound, microseconds.
    pub from_us: Option<i64>,
    /// Exclusive upper time bound, microseconds.
    pub to_us: Option<i64>,
    /// Page size (clamped to 1..=[`MAX_PAGE_LIMIT`]).
    pub limit: usize,
    /// Continue after this position.
    pub cursor: Option<Cursor>,
}

/// A position in the newest-first order: `(time, id_hash)`. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    time_us: i64,
    id_hash: u64,
}

impl Cursor {
    /// The wire form handed to clients.
    pub fn encode(&self) -> String {
        format!("{:x}.{:016x}", self.time_us as u64, self.id_hash)
    }

    /// Parses the wire form; anything this index did not hand out is rejected.
    pub fn decode(s: &str) -> Result<Self> {
        let (t, h) = s.split_once('.').ok_or(IndexError::BadCursor)?;
        let time = u64::from_str_radix(t, 16).map_err(|_| IndexError::BadCursor)?;
        let id_hash = u64::from_str_radix(h, 16).map_err(|_| IndexError::BadCursor)?;
        if h.len() != 16 {
            return Err(IndexError::BadCursor);
        }
        Ok(Cursor {
            time_us: time as i64,
            id_hash,
        })
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// Stored events (redacted JSON), newest first.
    pub events: Vec<Vec<u8>>,
    /// Every match of the query, regardless of paging.
    pub total: u64,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<Cursor>,
}

/// Read access to committed events.
#[derive(Clone)]
pub struct EventSearcher {
    index: Index,
    fields: EventSchema,
    reader: IndexReader,
    pub(crate) columns: crate::path_reader::ColumnCache,
    pub(crate) max_matching_events: usize,
}

impl EventSearcher {
    pub(crate) fn new(index: Index, fields: EventSchema, reader: IndexReader) -> Self {
        EventSearcher {
            index,
            fields,
            reader,
            columns: Default::default(),
            max_matching_events: crate::path_reader::MAX_MATCHING_EVENTS,
        }
    }

    /// Runs a search: newest first, with the total count of matches.
    pub fn search(&self, request: &EventQuery) -> Result<EventPage> {
        let query = self.build_query(request)?;
        let limit = request.limit.clamp(1, MAX_PAGE_LIMIT);
        let searcher = self.reader.searcher();
        let collector = NewestFirst {
            limit,
            before: request.cursor,
        };
        let fruit = searcher
            .search(&*query, &collector)
            .map_err(query_run_error)?;
        let mut events = Vec::with_capacity(fruit.top.len());
        for (_, address) in &fruit.top {
            let doc: TantivyDocument = searcher.doc(*address)?;
            if let Some(bytes) = doc.get_first(self.fields.stored).and_then(|v| v.as_bytes()) {
                events.push(bytes.to_vec());
            }
        }
        let next_cursor = (fruit.after_cursor > limit as u64)
            .then(|| fruit.top.last().map(|(key, _)| *key))
            .flatten();
        Ok(EventPage {
            events,
            total: fruit.total,
            next_cursor,
        })
    }

    /// The stored event with this id in this tenant.
    pub fn get(&self, tenant: &str, event_id: &str) -> Result<Option<Vec<u8>>> {
        let f = &self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, term(f.tenant, tenant)),
            (Occur::Must, term(f.event_id, event_id)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &tantivy::collector::TopDocs::with_limit(1))?;
        let Some((_, address)) = top.first() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(*address)?;
        Ok(doc
            .get_first(f.stored)
            .and_then(|v| v.as_bytes())
            .map(<[u8]>::to_vec))
    }

    /// The same searcher with another bound on the events one path, reach or replay query may
    /// load (default [`MAX_MATCHING_EVENTS`](crate::MAX_MATCHING_EVENTS)).
    pub fn with_max_matching_events(mut self, limit: usize) -> Self {
        self.max_matching_events = limit;
        self
    }

    /// The field handles.
    pub fn fields(&self) -> &EventSchema {
        &self.fields
    }

    pub(crate) fn reader_searcher(&self) -> tantivy::Searcher {
        self.reader.searcher()
    }

    /// Number of committed events across all tenants.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn build_query(&self, request: &EventQuery) -> Result<Box<dyn Query>> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, term(f.tenant, &request.tenant))];
        if let Some(q) = request
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            clauses.push((Occur::Must, parse_query(f, self.index.tokenizers(), q)?));
        }
        for (field, value) in [
            (f.agent_id, &request.agent),
            (f.session_id, &request.session),
            (f.system, &request.system),
        ] {
            if let Some(v) = value {
                clauses.push((Occur::Must, term(field, v)));
            }
        }
        if let Some(range) = time_range(f.time, request.from_us, request.to_us) {
            clauses.push((Occur::Must, range));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }
}

/// Parses the `q` of an events search (tantivy query syntax, terms joined by AND, bare words over
/// [`EventSchema::default_search_fields`]). Pure: no index is read, so it is also the fuzz target
/// for hostile query strings; any input gives a query or an error, never a panic.
pub fn parse_query(
    fields: &EventSchema,
    tokenizers: &TokenizerManager,
    q: &str,
) -> Result<Box<dyn Query>> {
    let mut parser = QueryParser::new(
        fields.schema.clone(),
        fields.default_search_fields(),
        tokenizers.clone(),
    );
    // tantivy ends JSON paths in its terms with a NUL byte, and asserts (panics) when a path in
    // the query holds one; no field name or value of ours contains a control character.
    if let Some(c) = q.chars().find(|c| c.is_control() && !c.is_whitespace()) {
        return Err(IndexError::Query(format!(
            "contains control character U+{:04X}",
            u32::from(c)
        )));
    }
    if paren_depth(q) > MAX_QUERY_NESTING {
        return Err(IndexError::Query(format!(
            "nested deeper than {MAX_QUERY_NESTING} parentheses"
        )));
    }
    parser.set_conjunction_by_default();
    // tantivy's grammar still asserts on some inputs (`+\t*`: "Exist query without a field",
    // found by the query_parse fuzz target); a request must get a 400 for them, not a dropped
    // connection. The parser is built per call, so nothing it touched outlives the panic.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse_query(q))) {
        Ok(parsed) => parsed.map_err(|e| IndexError::Query(e.to_string())),
        Err(_) => Err(IndexError::Query(
            "not a query tantivy can parse".to_owned(),
        )),
    }
}

/// The deepest nesting of parentheses a `q` may have. tantivy's query grammar backtracks
/// exponentially in it (found by the `query_parse` fuzz target: each level about doubles the
/// time, 16 levels take seconds, 20 over a minute), so one request could pin a core; real
/// queries rarely nest past three.
pub const MAX_QUERY_NESTING: usize = 8;

/// The deepest parenthesis nesting of `q`, outside quoted phrases.
fn paren_depth(q: &str) -> usize {
    let (mut depth, mut max, mut quoted, mut escaped) = (0usize, 0usize, false, false);
    for b in q.bytes() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            b'(' if !quoted => {
                depth += 1;
                max = max.max(depth);
            }
            b')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A query that parsed can still be refused when it runs (a range over `attributes.*`, which is
/// not a fast field): tantivy says so with `InvalidArgument`, the caller's mistake, not ours.
pub(crate) fn query_run_error(e: tantivy::TantivyError) -> IndexError {
    match e {
        tantivy::TantivyError::InvalidArgument(m) => IndexError::Query(m),
        other => other.into(),
    }
}

/// `[from_us, to_us)` on the time field, or `None` when both ends are open.
pub(crate) fn time_range(
    time: Field,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Option<Box<dyn Query>> {
    if from_us.is_none() && to_us.is_none() {
        return None;
    }
    let bound = |us: Option<i64>, inclusive: bool| match us {
        None => Bound::Unbounded,
        Some(us) => {
            let t = Term::from_field_date(time, DateTime::from_timestamp_micros(us));
            if inclusive {
                Bound::Included(t)
            } else {
                Bound::Excluded(t)
            }
        }
    };
    Some(Box::new(RangeQuery::new(
        bound(from_us, true),
        bound(to_us, false),
    )))
}

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// Collects the newest `limit` matches strictly before a cursor, and counts every match.
struct NewestFirst {
    limit: usize,
    before: Option<Cursor>,
}

struct NewestFirstFruit {
    total: u64,
    after_cursor: u64,
    top: Vec<(Cursor, DocAddress)>,
}

struct NewestFirstSegment {
    segment: SegmentOrdinal,
    time: Column<DateTime>,
    id_hash: Column<u64>,
    limit: usize,
    before: Option<Cursor>,
    total: u64,
    after_cursor: u64,
    heap: BinaryHeap<Reverse<(Cursor, DocId)>>,
}

impl Collector for NewestFirst {
    type Fruit = NewestFirstFruit;
    type Child = NewestFirstSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(NewestFirstSegment {
            segment,
            time: reader.fast_fields().date("time")?,
            id_hash: reader.fast_fields().u64("id_hash")?,
            limit: self.limit,
            before: self.before,
            total: 0,
            after_cursor: 0,
            heap: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<NewestFirstFruit>) -> tantivy::Result<NewestFirstFruit> {
        let mut merged = NewestFirstFruit {
            total: 0,
            after_cursor: 0,
            top: Vec::new(),
        };
        for fruit in fruits {
            merged.total += fruit.total;
            merged.after_cursor += fruit.after_cursor;
            merged.top.extend(fruit.top);
        }
        merged.top.sort_unstable_by_key(|t| std::cmp::Reverse(t.0));
        merged.top.truncate(self.limit);
        Ok(merged)
    }
}

impl SegmentCollector for NewestFirstSegment {
    type Fruit = NewestFirstFruit;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        let key = Cursor {
            time_us: self
                .time
                .first(doc)
                .map_or(i64::MIN, |t| t.into_timestamp_micros()),
            id_hash: self.id_hash.first(doc).unwrap_or(0),
        };
        if self.before.is_some_and(|before| key >= before) {
            return;
        }
        self.after_cursor += 1;
        if self.heap.len() < self.limit {
            self.heap.push(Reverse((key, doc)));
        } else if let Some(mut smallest) = self.heap.peek_mut() {
            if key > smallest.0 .0 {
                *smallest = Reverse((key, doc));
            }
        }
    }

    fn harvest(self) -> NewestFirstFruit {
        let segment = self.segment;
        NewestFirstFruit {
            total: self.total,
            after_cursor: self.after_cursor,
            top: self
                .heap
                .into_iter()
                .map(|Reverse((key, doc))| (key, DocAddress::new(segment, doc)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_including_times_before_the_epoch() {
        for c in [
            Cursor {
                time_us: 0,
                id_hash: 0,
            },
            Cursor {
                time_us: 1_733_262_797_123_456,
                id_hash: u64::MAX,
            },
            Cursor {
                time_us: -5,
                id_hash: 7,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn a_cursor_this_index_did_not_hand_out_is_rejected() {
        for bad in [
            "",
            "abc",
            "1.2",
            "zz.0000000000000000",
            "1.00000000000000000",
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
