//! What a front end shows about steps it browses: several steps' views read in one pass
//! over their logs (with the files each step changed, from the snapshots), and what
//! rewinding to a step would do, counted from the record before anything runs.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::QueryError;
use super::steps::{StepView, branch_labels, view};
use super::timeline::NodeRef;
use crate::event::CellStatus;
use crate::record::log::{Detail, SessionLog};
use crate::record::objects::ObjectStore;
use crate::record::recorder::ReplayDir;
use crate::record::snapshot::{Entry, Manifest, load_manifest};

/// How a step changed a path of the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Modified,
    Removed,
}

impl Change {
    /// One character: `+`, `~`, `-`.
    pub fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Modified => '~',
            Change::Removed => '-',
        }
    }
}

/// A path of the workspace a step changed (files and symlinks; folders are implied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
}

/// One step as a front end shows it: its view and the files it changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDetail {
    pub view: StepView,
    /// Against the snapshot the step started from (its parent's, or the session's base);
    /// empty for an interrupted step, which has no snapshot.
    pub files: Vec<FileChange>,
    /// Why the files could not be compared, when they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_note: Option<String>,
}

/// The views of `steps`, each read from the log that holds it (as a [`super::Timeline`]
/// names them), every log read once. Steps the logs do not hold are left out.
pub fn step_details(dir: &ReplayDir, steps: &[NodeRef]) -> Result<Vec<StepDetail>, QueryError> {
    let mut by_session: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in steps {
        by_session.entry(&r.session).or_default().push(r.step);
    }
    let mut manifests = Manifests::new(dir.store());
    let mut found: HashMap<NodeRef, StepDetail> = HashMap::new();
    for (session, ids) in by_session {
        let log = dir.read(session, Detail::Steps(&ids))?;
        let labels = branch_labels(&log);
        for id in ids {
            let Some(step) = log.step(id) else { continue };
            let branch = labels.get(&id).cloned().unwrap_or_else(|| session.into());
            let view = view(session, step, branch);
            let (files, files_note) = match step.end.as_ref() {
                Some(end) => {
                    let before = snapshot_before(&log, step.begin.parent);
                    match manifests.changes(&before, &end.snapshot) {
                        Ok(files) => (files, None),
                        Err(e) => (Vec::new(), Some(format!("files not compared: {e}"))),
                    }
                }
                None => (Vec::new(), None),
            };
            found.insert(
                NodeRef {
                    session: session.to_string(),
                    step: id,
                },
                StepDetail {
                    view,
                    files,
                    files_note,
                },
            );
        }
    }
    Ok(steps.iter().filter_map(|r| found.remove(r)).collect())
}

/// The snapshot a step of `log` started from: its parent's when the log holds it, else
/// the log's base (for a fork, the fork point's snapshot).
fn snapshot_before(log: &SessionLog, parent: u64) -> String {
    log.step(parent)
        .and_then(|p| p.end.as_ref())
        .map(|e| e.snapshot.clone())
        .unwrap_or_else(|| log.header.base.clone())
}

/// Manifests loaded once each.
struct Manifests<'a> {
    store: &'a ObjectStore,
    loaded: HashMap<String, Manifest>,
}

impl<'a> Manifests<'a> {
    fn new(store: &'a ObjectStore) -> Self {
        Manifests {
            store,
            loaded: HashMap::new(),
        }
    }

    fn get(&mut self, hash: &str) -> std::io::Result<&Manifest> {
        if !self.loaded.contains_key(hash) {
            let m = load_manifest(self.store, hash)?;
            self.loaded.insert(hash.to_string(), m);
        }
        self.loaded
            .get(hash)
            .ok_or_else(|| std::io::Error::other("manifest cache"))
    }

    fn changes(&mut self, before: &str, after: &str) -> std::io::Result<Vec<FileChange>> {
        if before == after || before.is_empty() || after.is_empty() {
            return Ok(Vec::new());
        }
        let old = self.get(before)?.entries.clone();
        let new = &self.get(after)?.entries;
        Ok(entry_changes(&old, new))
    }
}

/// Files and symlinks added, modified or removed between two manifests, by path. The
/// generated tools package (`tools/`) is mcpr's own writing, not the step's: left out.
fn entry_changes(old: &BTreeMap<String, Entry>, new: &BTreeMap<String, Entry>) -> Vec<FileChange> {
    let content = |e: &Entry| !matches!(e, Entry::Dir { .. });
    let old: BTreeMap<&String, &Entry> = old
        .iter()
        .filter(|(p, _)| !p.starts_with("tools/"))
        .collect();
    let new: BTreeMap<&String, &Entry> = new
        .iter()
        .filter(|(p, _)| !p.starts_with("tools/"))
        .collect();
    let mut out: Vec<FileChange> = Vec::new();
    for (path, e) in new.iter().filter(|(_, e)| content(e)) {
        let change = match old.get(path) {
            None => Change::Added,
            Some(o) if o != e => Change::Modified,
            Some(_) => continue,
        };
        out.push(FileChange {
            path: (*path).clone(),
            change,
        });
    }
    for (path, _) in old.iter().filter(|(_, e)| content(e)) {
        if !new.get(path).is_some_and(|e| content(e)) {
            out.push(FileChange {
                path: (*path).clone(),
                change: Change::Removed,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What rewinding a session to a step does, counted from the record: a fresh kernel
/// re-runs `cells` cells of `steps` steps, with `tool_calls` tool calls, `model_calls`
/// `ask_llm` answers and `other_calls` other host calls served from the record; nothing
/// external is called. `later_steps` steps after it on the session's current line stay
/// in the record as a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewindPlan {
    pub session: String,
    pub step: u64,
    pub steps: usize,
    pub cells: usize,
    pub tool_calls: usize,
    pub model_calls: usize,
    pub other_calls: usize,
    pub later_steps: usize,
    /// The session's head now.
    pub head: u64,
}

/// The plan of rewinding `session` to `step` (see [`RewindPlan`]); fails as the rewind
/// would when the step is not on the session's tree or cannot be rebuilt.
pub fn rewind_plan(dir: &ReplayDir, session: &str, step: u64) -> Result<RewindPlan, QueryError> {
    let log = dir.read(session, Detail::Full)?;
    let (history, _) = dir.history(&log, Some(step))?;
    let mut plan = RewindPlan {
        session: session.to_string(),
        step,
        steps: history.len(),
        cells: 0,
        tool_calls: 0,
        model_calls: 0,
        other_calls: 0,
        later_steps: 0,
        head: log.head,
    };
    for h in &history {
        // Replay re-runs the cells that ended ok or with an error (as it counts them).
        for cell in h.step.cells() {
            if !matches!(cell.status, Some(CellStatus::Ok | CellStatus::Error)) {
                continue;
            }
            plan.cells += 1;
            for (name, _, _) in &cell.calls {
                match name.as_str() {
                    "tools.call" => plan.tool_calls += 1,
                    "ask_llm" => plan.model_calls += 1,
                    _ => plan.other_calls += 1,
                }
            }
        }
    }
    // The steps after `step` on the path to the head, when `step` is on it.
    let mut at = log.head;
    let mut after = 0;
    while at != step && at != 0 {
        let Some(s) = log.step(at) else { break };
        after += 1;
        at = s.begin.parent;
    }
    plan.later_steps = if at == step { after } else { 0 };
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(hash: &str) -> Entry {
        Entry::File {
            hash: hash.into(),
            size: 1,
            mode: 0o644,
        }
    }

    #[test]
    fn changes_name_added_modified_and_removed_files_not_folders() {
        let old: BTreeMap<String, Entry> = [
            ("a.txt".to_string(), file("1")),
            ("b.txt".to_string(), file("2")),
            ("d".to_string(), Entry::Dir { mode: 0o755 }),
            ("tools/demo.py".to_string(), file("5")),
        ]
        .into();
        let new: BTreeMap<String, Entry> = [
            ("a.txt".to_string(), file("1")),
            ("b.txt".to_string(), file("3")),
            ("c.txt".to_string(), file("4")),
            ("e".to_string(), Entry::Dir { mode: 0o755 }),
        ]
        .into();
        let got: Vec<(String, char)> = entry_changes(&old, &new)
            .into_iter()
            .map(|c| (c.path, c.change.sign()))
            .collect();
        assert_eq!(
            got,
            vec![("b.txt".into(), '~'), ("c.txt".into(), '+')],
            "a folder is no change of its own"
        );
        let gone = entry_changes(&new, &old);
        assert!(gone.contains(&FileChange {
            path: "c.txt".into(),
            change: Change::Removed
        }));
    }
}
