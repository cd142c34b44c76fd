//! A session's steps as a tree across its rewinds and forks.
//!
//! A rewind moves a log's head back, and the steps after it branch off (each step names
//! its parent); a fork is another log whose header names the (session, step) it branched
//! off, sharing the parent's steps up to there. The timeline of session S holds:
//! - the steps S shares with its fork ancestors, from the root to its fork point
//!   (`inherited`);
//! - every step of S's own log: all branches, interrupted steps included;
//! - every step of the sessions forked from S, and from those, found through the other
//!   logs' headers: child branches at their fork points.
//!
//! Branch labels: the steps of one log on the path to that log's head are on branch
//! `NAME` (the session's name); every other step of the log is on `NAME~LEAF`, LEAF being
//! the step that branch ends with, found by following the step's earliest child down (so
//! the line of steps a rewind left behind keeps one label, and a line begun later from
//! inside it gets its own). Labels follow the log's head: after a rewind the steps left
//! behind get a `~` label and the new line is `NAME`.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::BufRead;

use super::QueryError;
use super::steps::{StepStatus, branch_labels, llm_usage};
use crate::event::Event;
use crate::record::log::{Detail, ForkPoint, Line, SessionLog, Step, StepKind};
use crate::record::recorder::ReplayDir;

/// Longest chain of forks followed (as `ReplayDir::history` does).
const MAX_FORK_DEPTH: usize = 64;

/// A step of some session's log: (session, step).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeRef {
    pub session: String,
    pub step: u64,
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.session, self.step)
    }
}

/// How a session in a timeline relates to the timeline's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// A fork ancestor: the timeline's session shares some of its steps.
    Ancestor,
    /// The timeline's session itself.
    Session,
    /// Forked from the session (or from one of its forks).
    Fork,
}

/// A session whose steps appear in a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSession {
    pub name: String,
    pub relation: Relation,
    /// Where it was forked off, for a fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork: Option<ForkPoint>,
    /// The step its next step continues from (0: none yet).
    pub head: u64,
}

/// A replayed cell that showed something else than recorded (`replay_differed` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDifference {
    /// 1-based position of the cell within its step.
    pub cell: u64,
    pub difference: String,
}

/// One step in a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineNode {
    /// The session whose log holds the step.
    pub session: String,
    pub step: u64,
    /// The step it continues from; None for a first step. A parent that is not in the
    /// timeline (its `step` line is damaged) makes the node a root.
    pub parent: Option<NodeRef>,
    /// See the module documentation: `NAME` on the path to its log's head, else `NAME~LEAF`.
    pub branch: String,
    pub kind: StepKind,
    /// The first line of the task or the first cell's code (at most 80 characters).
    pub title: String,
    pub status: StepStatus,
    pub started: String,
    /// 0 for an interrupted step.
    pub duration_ms: f64,
    /// LLM exchanges, and their tokens summed.
    pub llm_calls: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_used: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_created: Vec<String>,
    /// Why a replay cannot re-create the step exactly (a redacted secret), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inexact: Option<String>,
    /// Cells of the step that came back different when replayed, as recorded by the
    /// logs the timeline reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replay_differed: Vec<CellDifference>,
    /// On the path from the root to the timeline session's head.
    pub on_head_path: bool,
    /// The timeline session's head itself.
    pub head: bool,
    /// Shared from a fork ancestor (on the path to the session's fork point).
    pub inherited: bool,
}

impl TimelineNode {
    pub fn node_ref(&self) -> NodeRef {
        NodeRef {
            session: self.session.clone(),
            step: self.step,
        }
    }
}

/// The steps of a session as a tree across its forks and rewinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub session: String,
    /// The step the session's next step continues from; None before its first step.
    pub head: Option<NodeRef>,
    /// The sessions whose steps appear: ancestors (oldest first), the session, its forks.
    pub sessions: Vec<TimelineSession>,
    /// Depth-first from the roots; the children of a step ordered by step id (a step of
    /// the parent's own session before a fork's step of the same id).
    pub nodes: Vec<TimelineNode>,
    /// What reading the logs met: unreadable lines, damaged steps, missing sessions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Timeline {
    pub fn node(&self, session: &str, step: u64) -> Option<&TimelineNode> {
        self.nodes
            .iter()
            .find(|n| n.session == session && n.step == step)
    }

    /// The steps continuing from `session`'s step `step`, in order.
    pub fn children(&self, session: &str, step: u64) -> Vec<&TimelineNode> {
        self.nodes
            .iter()
            .filter(|n| {
                n.parent
                    .as_ref()
                    .is_some_and(|p| p.session == session && p.step == step)
            })
            .collect()
    }

    /// Nodes with no parent in the timeline: the first step(s), and steps whose parent's
    /// line is damaged.
    pub fn roots(&self) -> Vec<&TimelineNode> {
        let present: HashSet<(&str, u64)> = self
            .nodes
            .iter()
            .map(|n| (n.session.as_str(), n.step))
            .collect();
        self.nodes
            .iter()
            .filter(|n| {
                n.parent
                    .as_ref()
                    .is_none_or(|p| !present.contains(&(p.session.as_str(), p.step)))
            })
            .collect()
    }

    /// The children of every step at once (what [`Timeline::children`] gives for one),
    /// keyed by the parent; for walking a large tree.
    pub fn children_by_parent(&self) -> HashMap<NodeRef, Vec<&TimelineNode>> {
        let mut map: HashMap<NodeRef, Vec<&TimelineNode>> = HashMap::new();
        for n in &self.nodes {
            if let Some(p) = &n.parent {
                map.entry(p.clone()).or_default().push(n);
            }
        }
        map
    }

    /// The steps from the root to the head, in order.
    pub fn head_path(&self) -> Vec<&TimelineNode> {
        let mut path: Vec<&TimelineNode> = self.nodes.iter().filter(|n| n.on_head_path).collect();
        // Depth-first order lists a path root first already; ids settle any doubt.
        path.sort_by_key(|n| n.step);
        path
    }
}

/// The timeline of `session`: see the module documentation.
pub fn timeline(dir: &ReplayDir, session: &str) -> Result<Timeline, QueryError> {
    let mut warnings = Vec::new();
    let mut logs: BTreeMap<String, SessionLog> = BTreeMap::new();
    let own = dir.read(session, Detail::Timeline)?;
    note_warnings(&own, &mut warnings);
    let mut fork = own.header.fork.clone();
    logs.insert(session.to_string(), own);

    // Fork ancestors, nearest first.
    let mut ancestors: Vec<String> = Vec::new();
    let mut child = session.to_string();
    while let Some(f) = fork.take() {
        if logs.contains_key(&f.session) || ancestors.len() >= MAX_FORK_DEPTH {
            warnings.push(format!(
                "the fork chain of {session} loops or is longer than {MAX_FORK_DEPTH} sessions; the steps {child} shares with {} are left out",
                f.session
            ));
            break;
        }
        match dir.read(&f.session, Detail::Timeline) {
            Ok(log) => {
                note_warnings(&log, &mut warnings);
                fork = log.header.fork.clone();
                child = f.session.clone();
                ancestors.push(f.session.clone());
                logs.insert(f.session, log);
            }
            Err(e) => {
                warnings.push(format!(
                    "{child} was forked from {} at step {}, which cannot be read ({e}); the steps it shares are left out",
                    f.session, f.step
                ));
                break;
            }
        }
    }

    // Forks of the session, and of its forks, breadth first.
    let headers = fork_headers(dir)?;
    let mut forks: Vec<String> = Vec::new();
    let mut frontier = VecDeque::from([session.to_string()]);
    while let Some(parent) = frontier.pop_front() {
        for (name, _) in headers.iter().filter(|(_, f)| f.session == parent) {
            if logs.contains_key(name) {
                continue;
            }
            match dir.read(name, Detail::Timeline) {
                Ok(log) => {
                    note_warnings(&log, &mut warnings);
                    logs.insert(name.clone(), log);
                    forks.push(name.clone());
                    frontier.push_back(name.clone());
                }
                Err(e) => warnings.push(format!("fork {name} of {parent} is left out: {e}")),
            }
        }
    }

    let order: Vec<(String, Relation)> = ancestors
        .iter()
        .rev()
        .map(|n| (n.clone(), Relation::Ancestor))
        .chain(std::iter::once((session.to_string(), Relation::Session)))
        .chain(forks.iter().map(|n| (n.clone(), Relation::Fork)))
        .collect();
    let sessions: Vec<TimelineSession> = order
        .into_iter()
        .filter_map(|(name, relation)| {
            let log = logs.get(&name)?;
            Some(TimelineSession {
                fork: log.header.fork.clone(),
                head: log.head,
                name,
                relation,
            })
        })
        .collect();

    // The steps: the shared prefix, then every step of the session and its forks.
    let total: usize = logs.values().map(|l| l.steps.len()).sum();
    let by_id: HashMap<(&str, u64), &Step> = logs
        .iter()
        .flat_map(|(name, log)| log.steps.iter().map(move |s| ((name.as_str(), s.id()), s)))
        .collect();
    let step_of = |r: &NodeRef| by_id.get(&(r.session.as_str(), r.step)).copied();
    let mut raw: Vec<(NodeRef, &Step, bool)> = Vec::new();
    if let Some(f) = logs.get(session).and_then(|l| l.header.fork.clone()) {
        let mut prefix = Vec::new();
        let mut at = resolve(&logs, &f.session, f.step);
        while let Some(r) = at.take() {
            if prefix.len() > total {
                break;
            }
            let Some(step) = step_of(&r) else {
                if logs.contains_key(&r.session) {
                    warnings.push(format!(
                        "step {} of {}, shared by {session}, cannot be read; the shared steps before it are left out",
                        r.step, r.session
                    ));
                }
                break;
            };
            at = resolve(&logs, &r.session, step.begin.parent);
            prefix.push((r, step, true));
        }
        prefix.reverse();
        raw.extend(prefix);
    }
    for name in std::iter::once(session).chain(forks.iter().map(String::as_str)) {
        if let Some(log) = logs.get(name) {
            raw.extend(log.steps.iter().map(|s| {
                (
                    NodeRef {
                        session: name.to_string(),
                        step: s.id(),
                    },
                    s,
                    false,
                )
            }));
        }
    }

    let head = logs
        .get(session)
        .and_then(|l| resolve(&logs, session, l.head));
    let mut head_path: HashSet<NodeRef> = HashSet::new();
    let mut at = head.clone();
    while let Some(r) = at.take() {
        if head_path.len() > total || !head_path.insert(r.clone()) {
            break;
        }
        at = step_of(&r).and_then(|s| resolve(&logs, &r.session, s.begin.parent));
    }

    let labels: HashMap<&str, HashMap<u64, String>> = logs
        .iter()
        .map(|(name, log)| (name.as_str(), branch_labels(log)))
        .collect();
    let mut differed: HashMap<NodeRef, Vec<CellDifference>> = HashMap::new();
    for log in logs.values() {
        for event in log.steps.iter().flat_map(|s| &s.events) {
            if let Event::ReplayDiffered {
                session,
                step,
                cell,
                difference,
            } = event
            {
                differed
                    .entry(NodeRef {
                        session: session.clone(),
                        step: *step,
                    })
                    .or_default()
                    .push(CellDifference {
                        cell: *cell,
                        difference: difference.clone(),
                    });
            }
        }
    }

    let nodes: Vec<TimelineNode> = raw
        .into_iter()
        .map(|(r, step, inherited)| {
            let end = step.end.as_ref();
            let (llm_calls, prompt_tokens, completion_tokens) = llm_usage(step);
            TimelineNode {
                parent: resolve(&logs, &r.session, step.begin.parent),
                branch: labels
                    .get(r.session.as_str())
                    .and_then(|l| l.get(&r.step))
                    .cloned()
                    .unwrap_or_else(|| r.session.clone()),
                kind: step.begin.kind,
                title: crate::record::index::first_line(&step.title()),
                status: StepStatus::of(step),
                started: step.begin.started.clone(),
                duration_ms: end.map_or(0.0, |e| e.duration_ms),
                llm_calls,
                prompt_tokens,
                completion_tokens,
                skills_used: end.map(|e| e.skills_used.clone()).unwrap_or_default(),
                skills_created: end.map(|e| e.skills_created.clone()).unwrap_or_default(),
                inexact: end.and_then(|e| e.inexact.clone()),
                replay_differed: differed.remove(&r).unwrap_or_default(),
                on_head_path: head_path.contains(&r),
                head: head.as_ref() == Some(&r),
                inherited,
                session: r.session,
                step: r.step,
            }
        })
        .collect();

    Ok(Timeline {
        session: session.to_string(),
        head,
        sessions,
        nodes: depth_first(nodes),
        warnings,
    })
}

fn note_warnings(log: &SessionLog, warnings: &mut Vec<String>) {
    warnings.extend(
        log.warnings
            .iter()
            .map(|w| format!("{}: {w}", log.path.display())),
    );
}

/// The session that holds (or would hold) step `id` as seen from session `name`'s tree:
/// its own step, or one its fork ancestors share with it; None for 0 (no step).
fn resolve(logs: &BTreeMap<String, SessionLog>, name: &str, id: u64) -> Option<NodeRef> {
    if id == 0 {
        return None;
    }
    let mut name = name;
    for _ in 0..=MAX_FORK_DEPTH {
        match logs.get(name).and_then(|l| l.header.fork.as_ref()) {
            Some(f) if id <= f.step => name = &f.session,
            _ => break,
        }
    }
    Some(NodeRef {
        session: name.to_string(),
        step: id,
    })
}

/// Every session with a fork point, from the first line of each log (logs whose first
/// line is not a session header are left to the commands that read them).
fn fork_headers(dir: &ReplayDir) -> Result<Vec<(String, ForkPoint)>, QueryError> {
    let names = dir.session_names()?;
    Ok(names
        .into_iter()
        .filter_map(|name| {
            let file = std::fs::File::open(dir.log_path(&name)).ok()?;
            let mut first = String::new();
            std::io::BufReader::new(file).read_line(&mut first).ok()?;
            match serde_json::from_str::<Line>(&first).ok()? {
                Line::Session(h) => h.fork.map(|f| (name, f)),
                _ => None,
            }
        })
        .collect())
}

/// `nodes` depth-first from the roots, children by step id (the parent's own session
/// first on equal ids, then by session name).
fn depth_first(nodes: Vec<TimelineNode>) -> Vec<TimelineNode> {
    let index: HashMap<NodeRef, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node_ref(), i))
        .collect();
    let key = |n: &TimelineNode| {
        let foreign = n.parent.as_ref().is_some_and(|p| p.session != n.session);
        (n.step, foreign, n.session.clone())
    };
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match n.parent.as_ref().and_then(|p| index.get(p)) {
            Some(&p) if p != i => children.entry(p).or_default().push(i),
            _ => roots.push(i),
        }
    }
    for c in children.values_mut() {
        c.sort_by_key(|&i| key(&nodes[i]));
    }
    roots.sort_by_key(|&i| key(&nodes[i]));
    let mut order = Vec::with_capacity(nodes.len());
    let mut seen = vec![false; nodes.len()];
    let mut stack: Vec<usize> = roots.into_iter().rev().collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push(i);
        if let Some(c) = children.get(&i) {
            stack.extend(c.iter().rev());
        }
    }
    // A cycle (only in a corrupt log) leaves nodes unreached: list them last.
    order.extend((0..nodes.len()).filter(|&i| !seen[i]));
    let mut slots: Vec<Option<TimelineNode>> = nodes.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}
