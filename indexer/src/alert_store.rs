//! Alerts, durably, in their own small tantivy index (`<data_dir>/alerts/`). Invariants: an
//! alert id is stored at most once per tenant over the whole life of the store; every alert
//! gets a sequence number `seq` in the order it was added, and since a commit makes every
//! pending alert visible at once, the committed seqs are always a prefix `0..n` — so a reader
//! following [`AlertCursor`]s never skips nor repeats an alert, across restarts too (seqs lost
//! with an uncommitted tail were never visible and are handed out again).

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hoptrail_core::detect::{Alert, RuleId, Severity};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, SchemaBuilder, Value, FAST, STORED, STRING,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, Searcher, TantivyDocument, Term,
};

use crate::{IndexError, Result};

/// The subdirectory of the data directory that holds the alert index.
pub const ALERTS_DIR: &str = "alerts";

/// The largest page [`AlertReader::page`] returns.
pub const MAX_ALERT_PAGE: usize = 1000;

/// Memory of the alert index writer: alerts are few and small.
const WRITER_MEMORY_BYTES: usize = 15 << 20;

/// Field handles of the alert index.
#[derive(Debug, Clone)]
struct AlertSchema {
    schema: Schema,
    tenant: Field,
    alert_id: Field,
    id_hash: Field,
    seq: Field,
    rule: Field,
    severity_id: Field,
    time_us: Field,
    session_id: Field,
    agent_id: Field,
    alert: Field,
}

impl AlertSchema {
    fn new() -> Self {
        let mut b = SchemaBuilder::new();
        let indexed_fast = || NumericOptions::default().set_indexed().set_fast();
        let tenant = b.add_text_field("tenant", STRING);
        let alert_id = b.add_text_field("alert_id", STRING);
        let id_hash = b.add_u64_field("id_hash", FAST);
        let seq = b.add_u64_field("seq", indexed_fast());
        let rule = b.add_text_field("rule", STRING);
        let severity_id = b.add_u64_field("severity_id", indexed_fast());
        let time_us = b.add_i64_field("time_us", indexed_fast());
        let session_id = b.add_text_field("session_id", STRING);
        let agent_id = b.add_text_field("agent_id", STRING);
        let alert = b.add_bytes_field("alert", STORED);
        AlertSchema {
            schema: b.build(),
            tenant,
            alert_id,
            id_hash,
            seq,
            rule,
            severity_id,
            time_us,
            session_id,
            agent_id,
            alert,
        }
    }
}

/// The 64-bit key of an alert in the in-memory id set: xxh3 over `tenant \0 id`. A hit is
/// confirmed by a term query, so a collision can never drop an alert.
fn alert_hash(tenant: &str, id: &str) -> u64 {
    crate::id_hash(tenant, id)
}

/// An opened alert index.
#[derive(Clone)]
pub struct AlertStore {
    index: Index,
    fields: AlertSchema,
    reader: IndexReader,
    path: PathBuf,
}

impl AlertStore {
    /// Opens the alert index of the data directory `data_dir` (in its [`ALERTS_DIR`]),
    /// creating it when there is none.
    pub fn open_in_data_dir(data_dir: &Path) -> Result<Self> {
        Self::open_or_create(&data_dir.join(ALERTS_DIR))
    }

    /// Opens the alert index in `dir`, creating the directory and an empty index when needed.
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        let fields = AlertSchema::new();
        let (index, reader) = crate::event_index::open_dir(dir, fields.schema.clone())?;
        Ok(AlertStore {
            index,
            fields,
            reader,
            path: dir.to_path_buf(),
        })
    }

    /// The directory of the alert index.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the single writer (tantivy's lock refuses a second one, in any process).
    pub fn writer(&self) -> Result<AlertWriter> {
        let writer = self.index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        AlertWriter::new(writer, self.fields.clone(), self.reader.clone())
    }

    /// Read access to the committed alerts.
    pub fn reader(&self) -> AlertReader {
        AlertReader {
            fields: self.fields.clone(),
            reader: self.reader.clone(),
        }
    }
}

/// Adds alerts, each id once, and commits them.
pub struct AlertWriter {
    writer: IndexWriter<TantivyDocument>,
    fields: AlertSchema,
    reader: IndexReader,
    committed: HashSet<u64>,
    /// `tenant \0 id` of the alerts added since the last commit.
    pending: HashSet<String>,
    next_seq: u64,
}

impl AlertWriter {
    fn new(
        writer: IndexWriter<TantivyDocument>,
        fields: AlertSchema,
        reader: IndexReader,
    ) -> Result<Self> {
        reader.reload()?;
        let searcher = reader.searcher();
        let mut committed = HashSet::with_capacity(searcher.num_docs() as usize);
        let mut next_seq = 0;
        for segment in searcher.segment_readers() {
            let hashes = segment.fast_fields().u64("id_hash")?;
            let seqs = segment.fast_fields().u64("seq")?;
            if segment.num_docs() > 0 {
                next_seq = next_seq.max(seqs.max_value() + 1);
            }
            for doc in 0..segment.max_doc() {
                if let Some(h) = hashes.first(doc) {
                    committed.insert(h);
                }
            }
        }
        tracing::info!(
            alerts = committed.len(),
            next_seq,
            "alert store writer ready"
        );
        Ok(AlertWriter {
            writer,
            fields,
            reader,
            committed,
            pending: HashSet::new(),
            next_seq,
        })
    }

    /// Adds `alert` unless its `(tenant, id)` is already stored or pending; true when added.
    /// It becomes visible (and durable) at the next [`AlertWriter::commit`].
    pub fn add(&mut self, alert: &Alert) -> Result<bool> {
        if self.contains(&alert.tenant, &alert.id)? {
            return Ok(false);
        }
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        d.add_text(f.tenant, &alert.tenant);
        d.add_text(f.alert_id, &alert.id);
        d.add_u64(f.id_hash, alert_hash(&alert.tenant, &alert.id));
        d.add_u64(f.seq, self.next_seq);
        d.add_text(f.rule, alert.rule.as_str());
        d.add_u64(f.severity_id, u64::from(alert.severity.ocsf_id()));
        d.add_i64(f.time_us, alert.time_us);
        d.add_text(f.session_id, &alert.session_id);
        d.add_text(f.agent_id, &alert.agent_id);
        let json = serde_json::to_vec(alert).expect("an alert serializes");
        d.add_bytes(f.alert, &json);
        self.writer.add_document(d)?;
        self.next_seq += 1;
        self.pending.insert(pending_key(&alert.tenant, &alert.id));
        Ok(true)
    }

    /// Whether an alert with this id is stored or pending in `tenant`.
    pub fn contains(&self, tenant: &str, id: &str) -> Result<bool> {
        if self.pending.contains(&pending_key(tenant, id)) {
            return Ok(true);
        }
        if !self.committed.contains(&alert_hash(tenant, id)) {
            return Ok(false);
        }
        let f = &self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, term(f.tenant, tenant)),
            (Occur::Must, term(f.alert_id, id)),
        ]);
        Ok(self
            .reader
            .searcher()
            .search(&query, &tantivy::collector::Count)?
            > 0)
    }

    /// Alerts added since the last commit.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The seq the next added alert gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Makes every pending alert durable and visible in one tantivy commit; returns how many.
    /// Does nothing (no commit) when none is pending.
    pub fn commit(&mut self) -> Result<usize> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        self.writer.commit()?;
        self.reader.reload()?;
        let n = self.pending.len();
        for key in self.pending.drain() {
            if let Some((t, id)) = key.split_once('\0') {
                self.committed.insert(alert_hash(t, id));
            }
        }
        tracing::debug!(
            alerts = n,
            duration_ms = started.elapsed().as_millis() as u64,
            "alert commit"
        );
        Ok(n)
    }

    /// Commits what is pending and waits for merges, for a clean shutdown.
    pub fn close(mut self) -> Result<usize> {
        let n = self.commit()?;
        self.writer.wait_merging_threads()?;
        Ok(n)
    }
}

fn pending_key(tenant: &str, id: &str) -> String {
    let mut k = String::with_capacity(tenant.len() + 1 + id.len());
    k.push_str(tenant);
    k.push('\0');
    k.push_str(id);
    k
}

/// A position in the alert order: the seq of the next alert to deliver. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AlertCursor(u64);

/// Prefix of the wire form, so that an event cursor passed here is refused, not misread.
const CURSOR_PREFIX: &str = "a1.";

impl AlertCursor {
    /// The start of the store: the first page from here holds the oldest alerts.
    pub const START: AlertCursor = AlertCursor(0);

    /// The seq of the next alert this cursor delivers.
    pub fn next_seq(self) -> u64 {
        self.0
    }

    /// The wire form handed to clients.
    pub fn encode(self) -> String {
        format!("{CURSOR_PREFIX}{:x}", self.0)
    }

    /// Parses the wire form; anything [`AlertCursor::encode`] cannot produce is rejected.
    pub fn decode(s: &str) -> Result<Self> {
        let hex = s.strip_prefix(CURSOR_PREFIX).ok_or(IndexError::BadCursor)?;
        if hex.is_empty()
            || hex.len() > 16
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || (hex.len() > 1 && hex.starts_with('0'))
        {
            return Err(IndexError::BadCursor);
        }
        u64::from_str_radix(hex, 16)
            .map(AlertCursor)
            .map_err(|_| IndexError::BadCursor)
    }
}

/// What to page through. All filters combine with AND and leave the order alone.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Tenant the page is confined to.
    pub tenant: String,
    /// Start here (`None`: the oldest alert).
    pub cursor: Option<AlertCursor>,
    /// Page size (clamped to 1..=[`MAX_ALERT_PAGE`]).
    pub limit: usize,
    /// Only alerts whose evidence time is at or after this, microseconds.
    pub since_us: Option<i64>,
    /// Only this rule's alerts.
    pub rule: Option<RuleId>,
    /// Only alerts at least this severe.
    pub min_severity: Option<Severity>,
}

/// One page of alerts.
#[derive(Debug, Clone)]
pub struct AlertPage {
    /// In seq order (the order they were stored in).
    pub alerts: Vec<Alert>,
    /// Where the next page starts: after the last alert of this page, or — when this page
    /// reached the end of what is committed — after the last committed alert, so that polling
    /// from it returns only alerts stored later. Always present.
    pub next_cursor: AlertCursor,
}

/// Read access to committed alerts.
#[derive(Clone)]
pub struct AlertReader {
    fields: AlertSchema,
    reader: IndexReader,
}

impl AlertReader {
    /// A page of the tenant's alerts in seq order, starting at the query's cursor.
    ///
    /// A cursor beyond the end of the committed alerts cannot have been handed out by this
    /// store (the store was replaced or restored from an older backup) and is refused with
    /// [`IndexError::BadCursor`] rather than silently skipping alerts stored later.
    pub fn page(&self, q: &AlertQuery) -> Result<AlertPage> {
        let searcher = self.reader.searcher();
        let end = end_seq(&searcher)?;
        let from = q.cursor.unwrap_or(AlertCursor::START).0;
        if from > end {
            return Err(IndexError::BadCursor);
        }
        let limit = q.limit.clamp(1, MAX_ALERT_PAGE);
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, term(f.tenant, &q.tenant)),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.seq, from)),
                    Bound::Unbounded,
                )),
            ),
        ];
        if let Some(since) = q.since_us {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_i64(f.time_us, since)),
                    Bound::Unbounded,
                )),
            ));
        }
        if let Some(rule) = q.rule {
            clauses.push((Occur::Must, term(f.rule, rule.as_str())));
        }
        if let Some(s) = q.min_severity {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.severity_id, u64::from(s.ocsf_id()))),
                    Bound::Unbounded,
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let top: Vec<(u64, DocAddress)> = searcher.search(
            &query,
            &TopDocs::with_limit(limit).order_by_fast_field::<u64>("seq", Order::Asc),
        )?;
        let next = if top.len() < limit {
            // Every committed match from `from` on is in this page.
            end
        } else {
            top.last().map_or(end, |(seq, _)| seq + 1)
        };
        let alerts = self.load(&searcher, top.iter().map(|(_, a)| *a))?;
        Ok(AlertPage {
            alerts,
            next_cursor: AlertCursor(next),
        })
    }

    /// Every committed alert of the tenant whose evidence belongs to `session_id`, in seq
    /// order. For session replay: an alert's `event_ids` name the events that raised it.
    pub fn for_session(&self, tenant: &str, session_id: &str) -> Result<Vec<Alert>> {
        let f = &self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, term(f.tenant, tenant)),
            (Occur::Must, term(f.session_id, session_id)),
        ]);
        let searcher = self.reader.searcher();
        let n = searcher.search(&query, &tantivy::collector::Count)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let top: Vec<(u64, DocAddress)> = searcher.search(
            &query,
            &TopDocs::with_limit(n).order_by_fast_field::<u64>("seq", Order::Asc),
        )?;
        self.load(&searcher, top.iter().map(|(_, a)| *a))
    }

    /// Committed alerts across all tenants.
    pub fn num_alerts(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The cursor after the last committed alert (what a SIEM starting "from now" would use).
    pub fn end_cursor(&self) -> Result<AlertCursor> {
        Ok(AlertCursor(end_seq(&self.reader.searcher())?))
    }

    fn load(
        &self,
        searcher: &Searcher,
        addresses: impl Iterator<Item = DocAddress>,
    ) -> Result<Vec<Alert>> {
        let mut out = Vec::new();
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let bytes = doc
                .get_first(self.fields.alert)
                .and_then(|v| v.as_bytes())
                .ok_or_else(|| IndexError::AlertUnreadable("document without its alert".into()))?;
            let alert: Alert = serde_json::from_slice(bytes)
                .map_err(|e| IndexError::AlertUnreadable(e.to_string()))?;
            out.push(alert);
        }
        Ok(out)
    }
}

/// One past the highest committed seq (0 when the store is empty).
fn end_seq(searcher: &Searcher) -> Result<u64> {
    let mut end = 0;
    for segment in searcher.segment_readers() {
        if segment.num_docs() > 0 {
            let seqs = segment.fast_fields().u64("seq")?;
            end = end.max(seqs.max_value() + 1);
        }
    }
    Ok(end)
}

fn term(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoptrail_core::detect::{AttackGraph, Mappings};

    fn alert(tenant: &str, n: u32, rule: RuleId, severity: Severity, session: &str) -> Alert {
        Alert {
            id: format!("{n:064x}"),
            rule,
            severity,
            time_us: 1_700_000_000_000_000 + i64::from(n) * 1_000_000,
            tenant: tenant.into(),
            agent_id: format!("agent-{n}"),
            agent_name: None,
            workload: None,
            session_id: session.into(),
            systems: vec!["jira".into()],
            credential_id: None,
            event_ids: vec![format!("e-{n}")],
            title: format!("alert {n}"),
            description: "d".into(),
            mappings: Mappings::default(),
            graph: AttackGraph::default(),
        }
    }

    fn a(n: u32) -> Alert {
        alert("t", n, RuleId::Fanout, Severity::Medium, "s")
    }

    fn ids(alerts: &[Alert]) -> Vec<String> {
        alerts.iter().map(|a| a.id.clone()).collect()
    }

    fn page(r: &AlertReader, cursor: Option<AlertCursor>, limit: usize) -> AlertPage {
        r.page(&AlertQuery {
            tenant: "t".into(),
            cursor,
            limit,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn an_alert_id_already_stored_or_pending_is_never_added_again_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = AlertStore::open_or_create(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        assert!(w.add(&a(1)).unwrap());
        assert!(!w.add(&a(1)).unwrap(), "pending duplicate");
        assert_eq!(w.commit().unwrap(), 1);
        assert!(!w.add(&a(1)).unwrap(), "committed duplicate");
        // The same id in another tenant is another alert.
        assert!(w
            .add(&alert("u", 1, RuleId::Fanout, Severity::Low, "s"))
            .unwrap());
        w.close().unwrap();

        let store = AlertStore::open_or_create(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        assert!(!w.add(&a(1)).unwrap(), "duplicate across a reopen");
        assert!(w.add(&a(2)).unwrap());
        w.commit().unwrap();
        assert_eq!(store.reader().num_alerts(), 3);
    }

    #[test]
    fn seqs_continue_after_a_reopen_and_an_uncommitted_tail_is_never_visible() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = AlertStore::open_or_create(dir.path()).unwrap();
            let mut w = store.writer().unwrap();
            for n in 0..3 {
                w.add(&a(n)).unwrap();
            }
            w.commit().unwrap();
            w.add(&a(3)).unwrap(); // lost: the writer is dropped without a commit
            assert_eq!(w.next_seq(), 4);
            let p = page(&store.reader(), None, 10);
            assert_eq!(ids(&p.alerts), ids(&[a(0), a(1), a(2)]));
            assert_eq!(p.next_cursor.next_seq(), 3);
        }
        let store = AlertStore::open_or_create(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        assert_eq!(w.next_seq(), 3, "restored as max committed seq + 1");
        w.add(&a(4)).unwrap();
        w.add(&a(3)).unwrap();
        w.commit().unwrap();
        let r = store.reader();
        let p = page(&r, Some(AlertCursor(3)), 10);
        assert_eq!(ids(&p.alerts), ids(&[a(4), a(3)]), "seq order is add order");
        assert_eq!(p.next_cursor.next_seq(), 5);
    }

    #[test]
    fn following_next_cursor_delivers_every_alert_once_and_polls_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = AlertStore::open_or_create(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        for n in 0..10 {
            w.add(&a(n)).unwrap();
            w.add(&alert("other", n, RuleId::Fanout, Severity::Medium, "s"))
                .unwrap();
        }
        w.commit().unwrap();
        let r = store.reader();
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let p = page(&r, cursor, 3);
            let done = p.alerts.is_empty();
            seen.extend(ids(&p.alerts));
            assert!(p.alerts.iter().all(|x| x.tenant == "t"), "tenant-confined");
            cursor = Some(p.next_cursor);
            if done {
                break;
            }
        }
        assert_eq!(seen, ids(&(0..10).map(a).collect::<Vec<_>>()));
        // At the end: the same cursor again, until something new is committed.
        let end = cursor.unwrap();
        assert_eq!(page(&r, Some(end), 3).next_cursor, end);
        w.add(&a(10)).unwrap();
        assert!(
            page(&r, Some(end), 3).alerts.is_empty(),
            "not committed yet"
        );
        w.commit().unwrap();
        assert_eq!(ids(&page(&r, Some(end), 3).alerts), vec![a(10).id]);
    }

    #[test]
    fn filters_narrow_a_page_without_changing_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = AlertStore::open_or_create(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.add(&alert("t", 0, RuleId::Fanout, Severity::Low, "s1"))
            .unwrap();
        w.add(&alert("t", 1, RuleId::DeniedBurst, Severity::High, "s2"))
            .unwrap();
        w.add(&alert("t", 2, RuleId::Fanout, Severity::Critical, "s1"))
            .unwrap();
        w.commit().unwrap();
        let r = store.reader();
        let q = |f: &dyn Fn(&mut AlertQuery)| {
            let mut q = AlertQuery {
                tenant: "t".into(),
                limit: 10,
                ..Default::default()
            };
            f(&mut q);
            let p = r.page(&q).unwrap();
            assert_eq!(p.next_cursor.next_seq(), 3, "a short page ends at the end");
            p.alerts.iter().map(|a| a.title.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            q(&|q| q.rule = Some(RuleId::Fanout)),
            ["alert 0", "alert 2"]
        );
        assert_eq!(
            q(&|q| q.min_severity = Some(Severity::High)),
            ["alert 1", "alert 2"]
        );
        assert_eq!(
            q(&|q| q.since_us = Some(1_700_000_001_000_000)),
            ["alert 1", "alert 2"]
        );
        let s1 = r.for_session("t", "s1").unwrap();
        assert_eq!(
            ids(&s1),
            ids(&[
                alert("t", 0, RuleId::Fanout, Severity::Low, "s1"),
                alert("t", 2, RuleId::Fanout, Severity::Low, "s1")
            ])
        );
        assert!(r.for_session("other", "s1").unwrap().is_empty());
        assert_eq!(
            s1[1],
            alert("t", 2, RuleId::Fanout, Severity::Critical, "s1"),
            "the stored alert round-trips"
        );
    }

    #[test]
    fn a_cursor_not_handed_out_by_this_store_is_refused() {
        for bad in [
            "",
            "a1.",
            "a1.xyz",
            "a1.0a",
            "1f",
            "a2.1",
            "a1.11111111111111111",
        ] {
            assert!(AlertCursor::decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(AlertCursor::decode("a1.1f").unwrap().next_seq(), 31);
        assert_eq!(
            AlertCursor::decode(&AlertCursor(0).encode()).unwrap(),
            AlertCursor::START
        );
        let dir = tempfile::tempdir().unwrap();
        let store = AlertStore::open_or_create(dir.path()).unwrap();
        let r = store.reader();
        assert!(
            r.page(&AlertQuery {
                tenant: "t".into(),
                cursor: Some(AlertCursor(5)),
                limit: 1,
                ..Default::default()
            })
            .is_err(),
            "beyond the end of an empty store"
        );
        assert_eq!(page(&r, None, 1).next_cursor, AlertCursor::START);
    }
}
