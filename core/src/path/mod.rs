//! Hop stitching: from an agent's events to its lateral path across systems, with the paths of
//! the agents it handed work to nested where the hand-off happened. Pure: the same events, in any
//! order and with any duplicates, always give the same path.

mod lineage;
mod path_builder;
mod path_event;
mod render;

pub use lineage::TokenLineage;
pub use path_builder::{
    build_path, Delegation, DelegationVia, Hop, Path, PathOptions, PathRoot, PathStart,
    PathSummary, SessionKey,
};
pub use path_event::{order_events, Name, PathEvent, PathEventKind};
pub use render::{to_dot, to_mermaid, Graph};

#[cfg(test)]
mod tests;
