//! What handlers share. Invariant: cheap to clone; nothing in it is locked per request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::{AlertReader, EventSearcher};

use crate::auth::Auth;

/// Whether the process can do its job, for `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    /// Set while the Kafka consumer loop runs; `None` when no broker is configured.
    pub consumer_running: Option<Arc<AtomicBool>>,
}

impl Readiness {
    /// `None` when no consumer is expected, else whether it runs.
    pub fn consumer(&self) -> Option<bool> {
        self.consumer_running
            .as_ref()
            .map(|f| f.load(Ordering::Acquire))
    }
}

/// Shared handler state.
#[derive(Clone)]
pub struct AppState {
    /// Keys, budgets and the audit log.
    pub auth: Arc<Auth>,
    /// Committed events.
    pub searcher: EventSearcher,
    /// Committed alerts.
    pub alerts: AlertReader,
    /// Process counters.
    pub metrics: Arc<Metrics>,
    /// Readiness inputs.
    pub readiness: Readiness,
    /// Longest pause between two events of a paced replay.
    pub replay_max_gap: std::time::Duration,
}
