//! Time travel in the console: the timeline pane (a session's steps as a tree across
//! rewinds and forks), one focus step that every other pane shows, rewind and fork from
//! it, diffs of two steps or branches, the list of recorded sessions, and browse mode
//! (`mcpr replay SESSION [STEP]` on a terminal: no live session until a rewind or a fork).
//!
//! Everything here reads the record through the engine's queries, which the runtime runs
//! off the draw path ([`TimelineEffect`] out, [`TimelineAction`] back); moving the focus
//! reads only what the console holds (the timeline and a cache of step details fetched
//! around the focus), so it never waits and nothing re-runs. It never reads `.replay/`
//! itself nor changes the record but through the engine's operations.

pub mod diverged;
pub mod panes;
pub mod queries;
pub mod render;
pub mod rows;
pub mod update;

#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Start;
use crate::engine::query::{Diff, NodeRef, RewindPlan, StepDetail, StepRef, Timeline};
use crate::record::index::{SessionRow, StepHit};

use super::state::{CodeView, OutputView};

pub use update::focus_step;

/// Playback speeds (ms a step), slowest first.
pub const SPEEDS_MS: [u64; 6] = [3000, 2000, 1000, 500, 250, 100];

/// The timeline pane's state.
#[derive(Debug)]
pub struct TimelineView {
    /// The session whose timeline this is (the live one, or one browsed).
    pub session: Option<String>,
    pub tree: Option<Arc<Timeline>>,
    /// The rows drawn, with their rails.
    pub rows: Vec<rows::Row>,
    /// The focus: a row.
    pub focus: usize,
    /// The first row on screen.
    pub scroll: usize,
    /// Follow the newest step (while a task runs, the running one).
    pub live: bool,
    pub mark: Option<NodeRef>,
    pub play: Option<Play>,
    /// Index into [`SPEEDS_MS`].
    pub speed: usize,
    /// Step details fetched so far.
    pub details: HashMap<NodeRef, Arc<StepDetail>>,
    /// Asked for and not yet answered.
    pub requested: HashSet<NodeRef>,
    /// A details query is out (one at a time: moves coalesce).
    pub fetching: bool,
    /// The timeline query out, by generation (stale answers are dropped).
    pub loading: Option<u64>,
    pub generation: u64,
    /// Why the timeline cannot be shown, or what reading it met.
    pub note: Option<String>,
    /// The live session's panes, held while the panes show the focus step.
    pub live_panes: Option<(OutputView, CodeView)>,
    /// The step the code and output panes show (None: the live session's).
    pub shown: Option<NodeRef>,
    /// No live session yet: `mcpr replay` on a terminal.
    pub browse: bool,
    /// The step to focus when the next timeline arrives.
    pub want: Option<NodeRef>,
    /// A rewind or fork sent to the live session: the operation's id once known.
    pub op: Option<PendingOp>,
    /// Code to run as a cell once a fork is open (edit and fork).
    pub after_open: Option<String>,
    /// Edit and fork: the prompt holds a step's code; submitting forks here first.
    pub edit_fork: Option<NodeRef>,
    /// Open the session list when the first listing comes back with sessions in it.
    pub sessions_open_at_start: bool,
    /// The rows hold a running step (kept in step with `State::running`).
    pub has_pending: bool,
    /// Lookups over the tree, built with the rows so that moves never scan it: node
    /// index by step, each node's children, each node's row.
    pub index: HashMap<NodeRef, usize>,
    pub kids: Vec<Vec<usize>>,
    pub node_rows: Vec<usize>,
}

impl Default for TimelineView {
    fn default() -> Self {
        TimelineView {
            session: None,
            tree: None,
            rows: Vec::new(),
            focus: 0,
            scroll: 0,
            live: true,
            mark: None,
            play: None,
            speed: 2,
            details: HashMap::new(),
            requested: HashSet::new(),
            fetching: false,
            loading: None,
            generation: 0,
            note: None,
            live_panes: None,
            shown: None,
            browse: false,
            want: None,
            op: None,
            after_open: None,
            edit_fork: None,
            sessions_open_at_start: false,
            has_pending: false,
            index: HashMap::new(),
            kids: Vec::new(),
            node_rows: Vec::new(),
        }
    }
}

/// Stepping through a branch on its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Play {
    pub next: Instant,
}

/// A rewind or fork under way.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingOp {
    pub kind: OpKind,
    /// The operation's id in the live session; None until sent, or for a session being
    /// opened (its opening is operation 0).
    pub id: Option<u64>,
    /// A new session is being opened for it.
    pub opening: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    Rewind { session: String, step: u64 },
    Fork { from: String, step: u64 },
}

impl TimelineView {
    /// The node of row `row`, if it is a recorded step.
    pub fn node_at(&self, row: usize) -> Option<&crate::engine::query::TimelineNode> {
        let i = self.rows.get(row)?.node?;
        self.tree.as_ref()?.nodes.get(i)
    }

    /// The focused step, if it is a recorded one.
    pub fn focused(&self) -> Option<&crate::engine::query::TimelineNode> {
        self.node_at(self.focus)
    }

    /// The row of a step.
    pub fn row_of(&self, r: &NodeRef) -> Option<usize> {
        let i = *self.index.get(r)?;
        self.node_rows.get(i).copied()
    }

    /// The node of a step.
    pub fn node(&self, r: &NodeRef) -> Option<&crate::engine::query::TimelineNode> {
        let i = *self.index.get(r)?;
        self.tree.as_ref()?.nodes.get(i)
    }

    /// The steps continuing from a step, in order.
    pub fn children(&self, r: &NodeRef) -> Vec<&crate::engine::query::TimelineNode> {
        let (Some(&i), Some(tree)) = (self.index.get(r), self.tree.as_ref()) else {
            return Vec::new();
        };
        self.kids
            .get(i)
            .map(|k| k.iter().filter_map(|&c| tree.nodes.get(c)).collect())
            .unwrap_or_default()
    }

    /// Builds the lookups for the tree and rows held.
    pub fn index_rows(&mut self) {
        self.index.clear();
        self.kids.clear();
        self.node_rows.clear();
        let Some(tree) = self.tree.as_ref() else {
            return;
        };
        self.index = tree
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node_ref(), i))
            .collect();
        self.kids = vec![Vec::new(); tree.nodes.len()];
        for (i, n) in tree.nodes.iter().enumerate() {
            if let Some(&p) = n.parent.as_ref().and_then(|p| self.index.get(p))
                && p != i
            {
                self.kids[p].push(i);
            }
        }
        self.node_rows = vec![0; tree.nodes.len()];
        for (row, r) in self.rows.iter().enumerate() {
            if let Some(i) = r.node
                && let Some(slot) = self.node_rows.get_mut(i)
            {
                *slot = row;
            }
        }
    }

    pub fn speed_ms(&self) -> u64 {
        SPEEDS_MS[self.speed.min(SPEEDS_MS.len() - 1)]
    }

    /// When the next tick is due while playing.
    pub fn next_tick(&self, now: Instant) -> Option<Duration> {
        self.play.map(|p| {
            p.next
                .saturating_duration_since(now)
                .max(Duration::from_millis(1))
        })
    }
}

/// Windows of the timeline over the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineOverlay {
    /// What a rewind to a step will do; Enter goes ahead.
    ConfirmRewind {
        plan: RewindPlan,
        /// Whether a new live session opens for it (browse mode, or another session).
        opens: bool,
    },
    /// A rewind under way: cells re-run and calls served so far.
    Rewinding {
        plan: RewindPlan,
        cells: u64,
        calls: u64,
    },
    /// A replay stopped because the code did something else than the record holds.
    Diverged(diverged::Divergence),
    /// The name of a fork, with a default.
    ForkName {
        from: String,
        step: u64,
        input: String,
        /// Code to run in the fork once it is open (edit and fork).
        then_run: Option<String>,
    },
    /// Two steps side by side, or two branches step by step.
    Diff(DiffView),
    /// The recorded sessions; typing searches their tasks and code.
    Sessions(SessionsView),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffView {
    /// The marked step (left) and the focus (right).
    pub a: NodeRef,
    pub b: NodeRef,
    /// Branches step by step, rather than the two steps.
    pub branches: bool,
    /// The branch diff, once it came.
    pub diff: Option<Result<Arc<Diff>, String>>,
    pub scroll: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionsView {
    pub rows: Vec<SessionRow>,
    pub query: String,
    /// Steps matching the query (tasks and code).
    pub hits: Vec<StepHit>,
    pub selected: usize,
    pub note: Option<String>,
    pub loading: bool,
}

impl SessionsView {
    /// What the list shows: sessions whose name matches, then steps whose task or code
    /// matches (when there is a query).
    pub fn items(&self) -> Vec<SessionItem<'_>> {
        let q = self.query.to_lowercase();
        let mut items: Vec<SessionItem> = self
            .rows
            .iter()
            .rev()
            .filter(|r| {
                q.is_empty()
                    || r.name.to_lowercase().contains(&q)
                    || r.last_task
                        .as_deref()
                        .is_some_and(|t| t.to_lowercase().contains(&q))
            })
            .map(SessionItem::Session)
            .collect();
        if !q.is_empty() {
            items.extend(self.hits.iter().map(SessionItem::Step));
        }
        items
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SessionItem<'a> {
    Session(&'a SessionRow),
    Step(&'a StepHit),
}

/// Queries and session changes the runtime does for the timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineEffect {
    /// The timeline of a session.
    Load { session: String, generation: u64 },
    /// Details of these steps.
    Details(Vec<NodeRef>),
    /// What rewinding `session` to `step` would do.
    Plan {
        session: String,
        step: u64,
        opens: bool,
    },
    /// Two histories compared step by step.
    Diff { a: StepRef, b: StepRef },
    /// The recorded sessions, and when `query` is given the steps matching it.
    Sessions { query: String },
    /// Open a live session (closing the one open): a rewind or fork from browse mode or
    /// from another session's step.
    Open(Start),
}

/// What came back from a [`TimelineEffect`].
#[derive(Debug, Clone)]
pub enum TimelineAction {
    Loaded {
        generation: u64,
        result: Result<Timeline, String>,
    },
    Details(Result<Vec<StepDetail>, String>),
    Plan {
        opens: bool,
        result: Result<RewindPlan, String>,
    },
    Diff(Result<Diff, String>),
    Sessions {
        query: String,
        result: Result<(Vec<SessionRow>, Vec<StepHit>), String>,
    },
}
