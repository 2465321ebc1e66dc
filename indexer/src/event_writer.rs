//! The single writer of the index. Invariants: an event is added at most once per
//! `(tenant, event_id)` across the whole life of the index, and the checkpoint stored with a
//! commit covers exactly the records whose outcome that commit makes durable.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use hoptrail_core::Event;
use tantivy::indexer::UserOperation;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{IndexReader, IndexWriter, Term};

use crate::checkpoint::{Checkpoint, CommitPayload};
use crate::event_document::EventDocument;
use crate::event_schema::EventSchema;
use crate::Result;

/// How the writer batches work into commits.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// tantivy indexing threads.
    pub num_threads: usize,
    /// Memory shared by the indexing threads before they flush a segment.
    pub memory_budget_bytes: usize,
    /// Commit at least this often while events arrive (bounds search latency and replay after
    /// a crash).
    pub commit_interval: Duration,
    /// Commit once this many documents are pending, whatever the time.
    pub commit_max_docs: usize,
    /// When the source runs dry with work pending, commit without waiting for
    /// `commit_interval`, but no sooner than this after the previous commit (so a trickle of
    /// records cannot cause a commit storm).
    pub idle_commit_gap: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            num_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(1, 8),
            memory_budget_bytes: 256 << 20,
            commit_interval: Duration::from_millis(1000),
            commit_max_docs: 100_000,
            idle_commit_gap: Duration::from_millis(200),
        }
    }
}

/// What became of an added event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Indexed (durable at the next commit).
    Added,
    /// An event with this id is already indexed or pending; nothing was written.
    Duplicate,
}

/// What one commit made durable.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitStats {
    /// Documents made durable.
    pub docs: u64,
    /// Time spent in prepare + commit + reader reload.
    pub duration: Duration,
}

/// The 64-bit hash used for duplicate detection. It is persisted in the index, so it must never
/// change: xxh3 with no seed over `tenant \0 event_id`.
pub fn id_hash(tenant: &str, event_id: &str) -> u64 {
    // XXH3 gives the same value in one shot as streamed over the same bytes. One shot over a
    // stack copy skips the streaming state's setup: 111 instructions per call instead of about
    // 258 (callgrind, prepare loop). Ids longer than the buffer (the decoder allows at most
    // 64 + 1 + 128 bytes) still stream.
    let len = tenant.len() + 1 + event_id.len();
    let mut buf = [0u8; 256];
    if len <= buf.len() {
        buf[..tenant.len()].copy_from_slice(tenant.as_bytes());
        buf[tenant.len() + 1..len].copy_from_slice(event_id.as_bytes());
        return xxhash_rust::xxh3::xxh3_64(&buf[..len]);
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(tenant.as_bytes());
    h.update(&[0]);
    h.update(event_id.as_bytes());
    h.digest()
}

/// Keys are already uniformly distributed hashes; hashing them again is wasted work.
#[derive(Default)]
struct IdentityHasher(u64);
impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
type IdSet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// Adds events and commits them together with the source checkpoint.
pub struct EventWriter {
    writer: IndexWriter<EventDocument>,
    fields: EventSchema,
    reader: IndexReader,
    config: WriterConfig,
    committed_ids: IdSet,
    /// Pending ids live in one arena (`tenant \0 event_id` back to back) so that remembering
    /// them costs no allocation per event; the map points into it.
    pending_ids: IdMap<(u32, u32)>,
    pending_arena: String,
    pending_docs: u64,
    checkpoint: Checkpoint,
    committed_checkpoint: Checkpoint,
    last_commit: Instant,
    /// When the first change after the last commit came: the commit interval counts from
    /// there, so the first records after a quiet spell do not trigger a commit of their own.
    dirty_since: Option<Instant>,
    /// Capacity for the next document's buffer: the last one's size with some room, so that
    /// building a document rarely reallocates.
    doc_capacity: usize,
    /// Documents handed to tantivy in batches: one channel send (and at most one wake-up of an
    /// indexing thread) per batch instead of per event. Without it the indexing threads, fed
    /// slower than they index, park and wake on every document.
    batch: Vec<UserOperation<EventDocument>>,
}

/// Documents per hand-off to tantivy's indexing threads.
pub const BATCH_DOCS: usize = 512;

impl EventWriter {
    pub(crate) fn new(
        writer: IndexWriter<EventDocument>,
        fields: EventSchema,
        reader: IndexReader,
        config: WriterConfig,
        committed_checkpoint: Checkpoint,
    ) -> Result<Self> {
        reader.reload()?;
        let committed_ids = load_committed_ids(&reader, &fields)?;
        tracing::info!(
            known_ids = committed_ids.len(),
            "index writer ready; duplicate detection loaded"
        );
        Ok(EventWriter {
            writer,
            fields,
            reader,
            config,
            committed_ids,
            pending_ids: IdMap::default(),
            pending_arena: String::new(),
            pending_docs: 0,
            checkpoint: committed_checkpoint.clone(),
            committed_checkpoint,
            last_commit: Instant::now(),
            dirty_since: None,
            doc_capacity: 2048,
            batch: Vec::with_capacity(BATCH_DOCS),
        })
    }

    /// Adds an event unless an event with the same `(tenant, event_id)` is already indexed or
    /// pending. The event is durable only after the next [`EventWriter::commit`].
    pub fn add(&mut self, event: &Event) -> Result<AddOutcome> {
        let hash = id_hash(&event.tenant, &event.event_id);
        if self.is_duplicate(hash, &event.tenant, &event.event_id)? {
            return Ok(AddOutcome::Duplicate);
        }
        let start = self.pending_arena.len() as u32;
        self.pending_arena.push_str(&event.tenant);
        self.pending_arena.push('\0');
        self.pending_arena.push_str(&event.event_id);
        self.pending_ids
            .entry(hash)
            .or_insert((start, self.pending_arena.len() as u32));

        let doc = EventDocument::new(event, hash, self.doc_capacity);
        self.doc_capacity = doc.buffer_len() + doc.buffer_len() / 4;
        self.batch.push(UserOperation::Add(doc));
        if self.batch.len() >= BATCH_DOCS {
            self.flush_batch()?;
        }
        self.pending_docs += 1;
        self.mark_dirty();
        Ok(AddOutcome::Added)
    }

    fn flush_batch(&mut self) -> Result<()> {
        if !self.batch.is_empty() {
            self.writer.run(self.batch.drain(..))?;
        }
        Ok(())
    }

    fn is_duplicate(&self, hash: u64, tenant: &str, event_id: &str) -> Result<bool> {
        if let Some(&(start, end)) = self.pending_ids.get(&hash) {
            let key = &self.pending_arena[start as usize..end as usize];
            // A 64-bit collision between two different ids is astronomically rare, but an
            // event wrongly dropped as a duplicate would be a lost event: compare the ids.
            if let Some((t, id)) = key.split_once('\0') {
                if t == tenant && id == event_id {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        if self.committed_ids.contains(&hash) {
            return self.is_committed(tenant, event_id);
        }
        Ok(false)
    }

    fn is_committed(&self, tenant: &str, event_id: &str) -> Result<bool> {
        let f = &self.fields;
        let query = BooleanQuery::new(vec![
            (Occur::Must, term_query(f.tenant, tenant)),
            (Occur::Must, term_query(f.event_id, event_id)),
        ]);
        let searcher = self.reader.searcher();
        Ok(searcher.search(&query, &tantivy::collector::Count)? > 0)
    }

    /// Records that every record of `topic`/`partition` before `next_offset` has been handled
    /// (added, found duplicate, or dead-lettered and acknowledged).
    pub fn advance(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.checkpoint.advance(topic, partition, next_offset);
        self.mark_dirty();
    }

    fn mark_dirty(&mut self) {
        if self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    /// Moves a position back (or forward) unconditionally; see [`Checkpoint::reset`].
    pub fn reset_position(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.checkpoint.reset(topic, partition, next_offset);
        self.mark_dirty();
    }

    /// Documents added since the last commit.
    pub fn pending_docs(&self) -> u64 {
        self.pending_docs
    }

    /// True when something (documents or checkpoint positions) is not yet committed.
    pub fn is_dirty(&self) -> bool {
        self.pending_docs > 0 || self.checkpoint != self.committed_checkpoint
    }

    /// True when the commit policy says it is time to commit: something is pending and either
    /// `commit_max_docs` documents are, or `commit_interval` has passed since the first change
    /// after the last commit.
    pub fn should_commit(&self, now: Instant) -> bool {
        self.is_dirty()
            && (self.pending_docs >= self.config.commit_max_docs as u64
                || self.time_to_commit(now).is_zero())
    }

    /// True when, the source having nothing more for now, the commit policy says to commit:
    /// something is pending and the idle gap since the last commit has passed.
    pub fn should_commit_idle(&self, now: Instant) -> bool {
        self.is_dirty() && now.duration_since(self.last_commit) >= self.idle_gap()
    }

    /// Time until the commit policy's interval elapses (zero when overdue); the whole interval
    /// while nothing has changed since the last commit.
    pub fn time_to_commit(&self, now: Instant) -> Duration {
        let since = self
            .dirty_since
            .map_or(Duration::ZERO, |t| now.duration_since(t));
        self.config.commit_interval.saturating_sub(since)
    }

    /// Time until an idle source would allow a commit (zero when it already would).
    pub fn time_to_idle_commit(&self, now: Instant) -> Duration {
        self.idle_gap()
            .saturating_sub(now.duration_since(self.last_commit))
    }

    fn idle_gap(&self) -> Duration {
        self.config.idle_commit_gap.min(self.config.commit_interval)
    }

    /// The checkpoint of the last durable commit.
    pub fn committed_checkpoint(&self) -> &Checkpoint {
        &self.committed_checkpoint
    }

    /// The checkpoint including records not yet committed.
    pub fn pending_checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Makes every added document and the checkpoint durable in one atomic tantivy commit, then
    /// makes them visible to searchers.
    pub fn commit(&mut self) -> Result<CommitStats> {
        let started = Instant::now();
        self.flush_batch()?;
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&CommitPayload::new(self.checkpoint.clone()).to_json());
        prepared.commit()?;
        self.reader.reload()?;
        let docs = self.pending_docs;
        self.committed_ids.extend(self.pending_ids.keys().copied());
        self.pending_ids.clear();
        self.pending_arena.clear();
        self.pending_docs = 0;
        self.committed_checkpoint = self.checkpoint.clone();
        self.last_commit = Instant::now();
        self.dirty_since = None;
        let stats = CommitStats {
            docs,
            duration: started.elapsed(),
        };
        tracing::debug!(
            docs,
            duration_ms = stats.duration.as_millis() as u64,
            "index commit"
        );
        Ok(stats)
    }

    /// Commits what is pending and waits for background merges, for a clean shutdown.
    pub fn close(mut self) -> Result<CommitStats> {
        let stats = self.commit()?;
        self.writer.wait_merging_threads()?;
        Ok(stats)
    }
}

fn term_query(field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn load_committed_ids(reader: &IndexReader, fields: &EventSchema) -> Result<IdSet> {
    let searcher = reader.searcher();
    let total: u64 = searcher.num_docs();
    let mut ids = IdSet::with_capacity_and_hasher(total as usize, Default::default());
    for segment in searcher.segment_readers() {
        let column = segment
            .fast_fields()
            .u64(fields.schema.get_field_name(fields.id_hash))?;
        for doc in 0..segment.max_doc() {
            if let Some(hash) = column.first(doc) {
                ids.insert(hash);
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::id_hash;

    /// The form the hash was first written in: what every index on disk holds.
    fn streamed(tenant: &str, event_id: &str) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(tenant.as_bytes());
        h.update(&[0]);
        h.update(event_id.as_bytes());
        h.digest()
    }

    #[test]
    fn the_id_hash_never_changes_because_indexes_on_disk_hold_it() {
        for (tenant, id, golden) in [
            ("default", "evt-1", GOLDEN[0]),
            ("acme", "f4a4dce3-0000000", GOLDEN[1]),
            ("", "", GOLDEN[2]),
        ] {
            assert_eq!(id_hash(tenant, id), golden, "{tenant:?} {id:?}");
            assert_eq!(streamed(tenant, id), golden, "{tenant:?} {id:?}");
        }
    }

    const GOLDEN: [u64; 3] = [
        8645779558961381572,
        2426339837451857439,
        14144645293874801883,
    ];

    proptest! {
        #[test]
        fn the_one_shot_hash_is_the_streamed_one(tenant in ".{0,80}", id in ".{0,300}") {
            prop_assert_eq!(id_hash(&tenant, &id), streamed(&tenant, &id));
        }
    }
}
