//! One session's events in the order its path tells them, each marked where it moved the agent:
//! what a replay streams. Invariant: the order is the path's order (`order_events`, the function
//! the stitcher itself sorts with), so replay and path never disagree on what came first.

use std::collections::HashMap;

use hoptrail_core::path::{build_path, order_events, Name, PathOptions, PathRoot, TokenLineage};

use crate::event_searcher::EventSearcher;
use crate::path_reader::Window;
use crate::Result;

/// Where an event moved the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopMark {
    /// 1-based position of the hop in the session's path.
    pub index: usize,
    /// The system the agent left.
    pub from: Name,
    /// The system it reached.
    pub to: Name,
    /// The zone it reached.
    pub zone_to: Option<Name>,
}

/// One event of a replay.
#[derive(Debug, Clone)]
pub struct ReplayStep {
    /// The event's id.
    pub event_id: Name,
    /// Its time, microseconds since the epoch.
    pub time_us: i64,
    /// The stored event, as the API returns it.
    pub stored: Vec<u8>,
    /// Set on the event that made a hop; the session's first event is hop 0, its start.
    pub hop: Option<HopMark>,
}

/// A session, ready to replay.
#[derive(Debug, Clone)]
pub struct SessionReplay {
    /// The agent that ran it.
    pub agent_id: Name,
    /// Its events in path order (at most the requested number).
    pub steps: Vec<ReplayStep>,
    /// The session has more events than were returned.
    pub truncated: bool,
}

impl EventSearcher {
    /// The events of one session of `tenant` in path order, at most `max_events` of them; `None`
    /// when the tenant has no such session (another tenant's session looks the same).
    pub fn session_replay(
        &self,
        tenant: &str,
        session_id: &str,
        max_events: usize,
    ) -> Result<Option<SessionReplay>> {
        let f = self.fields().clone();
        let pairs =
            self.path_events_with_stored(tenant, f.session_id, &[session_id], Window::default())?;
        if pairs.is_empty() {
            return Ok(None);
        }
        let mut stored: HashMap<Name, Vec<u8>> = HashMap::with_capacity(pairs.len());
        let mut events = Vec::with_capacity(pairs.len());
        for (event, bytes) in pairs {
            stored.insert(event.event_id.clone(), bytes);
            events.push(event);
        }
        let options = PathOptions::default();
        let root = PathRoot::Session(session_id.into());
        let path = build_path(&root, events.clone(), TokenLineage::default(), options);
        let mut hops: HashMap<Name, HopMark> = HashMap::with_capacity(path.hops.len() + 1);
        if let Some(start) = &path.start {
            if let Some(first) = start.event_ids.first() {
                hops.insert(
                    first.clone(),
                    HopMark {
                        index: 0,
                        from: start.system.clone(),
                        to: start.system.clone(),
                        zone_to: start.zone.clone(),
                    },
                );
            }
        }
        for (i, hop) in path.hops.iter().enumerate() {
            if let Some(first) = hop.event_ids.first() {
                hops.insert(
                    first.clone(),
                    HopMark {
                        index: i + 1,
                        from: hop.from.clone(),
                        to: hop.to.clone(),
                        zone_to: hop.zone_to.clone(),
                    },
                );
            }
        }
        let ordered = order_events(events, options.skew_us);
        let agent_id = ordered
            .first()
            .map(|e| e.agent_id.clone())
            .unwrap_or_else(|| "".into());
        let truncated = ordered.len() > max_events;
        let steps = ordered
            .into_iter()
            .take(max_events)
            .map(|e| ReplayStep {
                hop: hops.remove(&e.event_id),
                stored: stored.remove(&e.event_id).unwrap_or_default(),
                time_us: e.time_us,
                event_id: e.event_id,
            })
            .collect();
        Ok(Some(SessionReplay {
            agent_id,
            steps,
            truncated,
        }))
    }
}
