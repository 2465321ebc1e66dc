//! An opened index directory. Invariant: at most one [`EventWriter`] exists per process for a
//! directory (tantivy's lock file enforces it across processes too).

use std::path::{Path, PathBuf};

use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy};

use crate::checkpoint::CommitPayload;
use crate::event_schema::EventSchema;
use crate::event_searcher::EventSearcher;
use crate::event_writer::{EventWriter, WriterConfig};
use crate::{IndexError, Result};

/// Opens (creating when needed) a tantivy index with `schema` in `dir`, and its reader. A schema
/// that differs from the one on disk is `IncompatibleSchema`, never a silent re-creation.
pub(crate) fn open_dir(
    dir: &Path,
    schema: tantivy::schema::Schema,
) -> Result<(Index, IndexReader)> {
    let dir_err = |source| IndexError::Directory {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        dir_err(tantivy::directory::error::OpenDirectoryError::IoError {
            io_error: e.into(),
            directory_path: dir.to_path_buf(),
        })
    })?;
    let directory = MmapDirectory::open(dir).map_err(dir_err)?;
    let index = Index::open_or_create(directory, schema).map_err(|e| match e {
        tantivy::TantivyError::SchemaError(detail) => IndexError::IncompatibleSchema {
            path: dir.display().to_string(),
            detail,
        },
        other => IndexError::Tantivy(other),
    })?;
    // Reloads are driven by the writer right after each commit; a reader in another process
    // (`serve` without a broker) also picks up commits made by `ingest`.
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::OnCommitWithDelay)
        .try_into()?;
    Ok((index, reader))
}

/// The event index on local disk.
#[derive(Clone)]
pub struct EventIndex {
    index: Index,
    fields: EventSchema,
    reader: IndexReader,
    path: PathBuf,
}

impl EventIndex {
    /// Opens the index in `dir`, creating the directory and an empty index when there is none.
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        let fields = EventSchema::new();
        let (index, reader) = open_dir(dir, fields.schema.clone())?;
        Ok(EventIndex {
            index,
            fields,
            reader,
            path: dir.to_path_buf(),
        })
    }

    /// The directory this index lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The field handles.
    pub fn fields(&self) -> &EventSchema {
        &self.fields
    }

    /// The payload of the last durable commit (source checkpoint).
    pub fn committed_payload(&self) -> Result<CommitPayload> {
        let metas = self.index.load_metas()?;
        CommitPayload::from_json_opt(metas.payload.as_deref())
    }

    /// Opens the single writer. Fails if another writer (in this or another process) holds the
    /// index lock.
    pub fn writer(&self, config: WriterConfig) -> Result<EventWriter> {
        let writer = self
            .index
            .writer_with_num_threads(config.num_threads, config.memory_budget_bytes)?;
        let payload = self.committed_payload()?;
        EventWriter::new(
            writer,
            self.fields.clone(),
            self.reader.clone(),
            config,
            payload.checkpoint,
        )
    }

    /// A searcher over the latest committed state.
    pub fn searcher(&self) -> EventSearcher {
        EventSearcher::new(self.index.clone(), self.fields.clone(), self.reader.clone())
    }

    /// Number of committed events.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}
