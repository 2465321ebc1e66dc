//! Hop stitching: from an agent's events to its lateral path across systems, with the paths of
//! the agents it handed work to nested where the hand-off happened. Pure: the same events, in any
//! order and with any duplicates, always give the same path.

mod event_table;
mod lineage;
mod path_builder;
mod path_event;
mod render;

pub use event_table::{EventTable, Names, Sym, TableEvent};
pub use lineage::TokenLineage;
pub use path_builder::{
    build_path, build_path_from_table, Delegation, DelegationVia, Hop, Path, PathOptions, PathRoot,
    PathStart, PathSummary,
};
pub use path_event::{order_events, Name, PathEvent, PathEventKind};
pub use render::{to_dot, to_mermaid, Graph};

#[cfg(test)]
mod tests;
