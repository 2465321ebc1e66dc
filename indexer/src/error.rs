//! Errors of the index crate: every failure of tantivy or of the index directory, typed.

/// What can go wrong opening, writing or searching the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy itself failed (I/O, corruption, a full disk).
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The directory could not be opened or created.
    #[error("index directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        source: tantivy::directory::error::OpenDirectoryError,
    },
    /// The index was written by an incompatible version of hoptrail.
    #[error("index at {path} has an incompatible schema (written by another hoptrail version?): {detail}")]
    IncompatibleSchema {
        /// The directory.
        path: String,
        /// What differs.
        detail: String,
    },
    /// The commit payload (checkpoint) could not be read.
    #[error("index checkpoint is unreadable: {0}")]
    Checkpoint(String),
    /// The caller's query string did not parse; the message is the parser's.
    #[error("{0}")]
    Query(String),
    /// A stored alert could not be read back (written by an incompatible version?).
    #[error("stored alert is unreadable: {0}")]
    AlertUnreadable(String),
    /// A paging cursor that this index did not hand out.
    #[error("cursor is malformed")]
    BadCursor,
    /// A path, reach or replay query would load more events than one answer may hold.
    #[error("{matched} events match, more than the {limit} one answer may stitch: narrow the window with from/to")]
    TooBroad {
        /// Events matching.
        matched: usize,
        /// The bound.
        limit: usize,
    },
}

/// Result alias of the index crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
