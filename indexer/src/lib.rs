//! hoptrail's tantivy index. An event is written at most once per `(tenant, event_id)`, and the
//! source positions it was read at are committed in the same tantivy commit as the event itself,
//! so a restart resumes exactly where the last durable commit left off. No Kafka, no HTTP here.

mod alert_store;
mod checkpoint;
mod error;
mod event_document;
mod event_index;
mod event_replay;
mod event_schema;
mod event_searcher;
mod event_writer;
pub mod metrics;
mod path_reader;
mod session_replay;

pub use alert_store::{
    AlertCursor, AlertPage, AlertQuery, AlertReader, AlertStore, AlertWriter, ALERTS_DIR,
    MAX_ALERT_PAGE,
};
pub use checkpoint::{Checkpoint, CommitPayload};
pub use error::{IndexError, Result};
pub use event_document::{EventDocument, FieldValue, Fields, JsonEntries, JsonItems, JsonRef};
pub use event_index::EventIndex;
pub use event_schema::{EventSchema, SEARCHABLE_FIELDS};
pub use event_searcher::{
    parse_query, Cursor, EventPage, EventQuery, EventSearcher, MAX_PAGE_LIMIT, MAX_QUERY_NESTING,
};
pub use event_writer::{id_hash, AddOutcome, CommitStats, EventWriter, WriterConfig, BATCH_DOCS};
pub use path_reader::{Window, MAX_MATCHING_EVENTS};
pub use session_replay::{HopMark, ReplayStep, SessionReplay};

#[cfg(test)]
mod tests;
