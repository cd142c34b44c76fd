//! Time travel: re-create the state after a recorded step by re-executing the recorded
//! cells in a fresh kernel, with every effect served from the record.
//!
//! Before each step the workspace is restored to the snapshot that step started from;
//! its cells then run with host calls answered by the recorded results (tool calls,
//! `ask_llm`, everything), so no call reaches a tool server or a model. A call the record
//! does not hold, a recorded call not made again, or a cell ending differently is a
//! divergence: replay stops and names the step, the cell and the difference. At the end
//! the workspace is restored to the target step's snapshot, so it is hash-equal to it.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::log::{CellOutput, RecordedCell, Step};
use super::objects::ObjectStore;
use super::snapshot::Snapshotter;
use crate::event::{CallOutcome, CellStatus, Event};
use crate::hostcall::{HostCallError, HostCalls};
use crate::sandbox::confined::ConfinedDir;
use crate::session::Session;

/// A step of a session's history, with the session whose log holds it.
#[derive(Debug, Clone)]
pub struct HistoryStep {
    pub session: String,
    pub step: Step,
}

/// Where re-execution parted from the record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Divergence {
    pub session: String,
    pub step: u64,
    /// 1-based position of the cell within its step.
    pub cell: usize,
    pub difference: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replay diverged at step {} of session {} (cell {} of the step): {}",
            self.step, self.session, self.cell, self.difference
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Diverged(Divergence),
    #[error("could not restore the workspace for step {step}: {source}")]
    Restore { step: u64, source: std::io::Error },
    #[error("step {step} of session {session} was interrupted; it cannot be replayed")]
    Incomplete { session: String, step: u64 },
    #[error(
        "step {step} of session {session} cannot be restored exactly: {why}, and the record never keeps secret values (it holds \"[redacted]\" in its place). Continue from the step before it (`mcpr replay rewind {session} {before}`), or fork there"
    )]
    Inexact {
        session: String,
        step: u64,
        before: u64,
        why: String,
    },
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    pub steps: usize,
    pub cells: usize,
    pub calls_served: usize,
    /// Sum of the original cells' execution times.
    pub original_ms: f64,
    pub replay_ms: f64,
    /// Cells that came back showing other output, value or error than recorded (code that
    /// is not deterministic: random numbers, time, hash order); the state may differ too.
    pub differences: Vec<Divergence>,
}

#[derive(Default)]
struct Served {
    recorded: Vec<(String, Value, CallOutcome, bool)>,
    divergence: Option<String>,
    served: usize,
}

fn short(value: &Value) -> String {
    super::clip(&value.to_string(), 200)
}

/// Host calls answering from one recorded cell's calls, by name and equal arguments
/// (in any order, so concurrent calls may finish differently than they did).
fn serve(cell: &RecordedCell) -> (HostCalls, Arc<Mutex<Served>>) {
    let served = Arc::new(Mutex::new(Served {
        recorded: cell
            .calls
            .iter()
            .map(|(n, a, o)| (n.clone(), a.clone(), o.clone(), false))
            .collect(),
        ..Served::default()
    }));
    let state = served.clone();
    let calls = HostCalls::with_fallback(Arc::new(move |name: &str, args: Value| {
        let answer = match state.lock() {
            Ok(mut s) => {
                let found = s
                    .recorded
                    .iter_mut()
                    .find(|(n, a, _, used)| !*used && n == name && *a == args);
                match found {
                    Some(entry) => {
                        entry.3 = true;
                        let outcome = entry.2.clone();
                        s.served += 1;
                        match outcome {
                            CallOutcome::Ok(v) => Ok(v),
                            CallOutcome::Error { kind, message } => {
                                Err(HostCallError::new(kind, message))
                            }
                        }
                    }
                    None => {
                        let expected = s
                            .recorded
                            .iter()
                            .find(|(n, _, _, used)| !*used && n == name)
                            .or_else(|| s.recorded.iter().find(|(_, _, _, used)| !*used));
                        let difference = match expected {
                            Some((n, a, _, _)) if n == name => format!(
                                "the code called {name} with {} where the record has {}",
                                short(&args),
                                short(a)
                            ),
                            Some((n, a, _, _)) => format!(
                                "the code called {name}({}) where the record has {n}({})",
                                short(&args),
                                short(a)
                            ),
                            None => format!(
                                "the code called {name}({}), a call the record does not hold",
                                short(&args)
                            ),
                        };
                        let message = format!("replay: {difference}");
                        s.divergence.get_or_insert(difference);
                        Err(HostCallError::new("replay_divergence", message))
                    }
                }
            }
            Err(_) => Err(HostCallError::new("replay", "replay state poisoned")),
        };
        Box::pin(async move { answer })
    }));
    (calls, served)
}

/// Catalog look-ups (`tools.module`, `tools.search`…): read-only, and made or not
/// depending on which tool modules the workspace already held. One recorded but not made
/// again is no divergence.
fn is_discovery(name: &str) -> bool {
    name.starts_with("tools.") && name != "tools.call"
}

/// Puts the generated tool modules the step ended with (`tools/*.py`) in the workspace
/// before it re-runs. They are derived from the servers' catalogs and may have been
/// written between steps (the agent reads catalogs to build its prompt); with them in
/// place, imports need no catalog call the record may not hold.
fn overlay_tool_modules(
    workspace: &std::path::Path,
    store: &ObjectStore,
    snapshot: &str,
) -> std::io::Result<()> {
    let manifest = super::snapshot::load_manifest(store, snapshot)?;
    let root = ConfinedDir::open(workspace)?;
    for (path, entry) in &manifest.entries {
        let Some(name) = path.strip_prefix("tools/") else {
            continue;
        };
        if name.contains('/') || !name.ends_with(".py") || name == "__init__.py" {
            continue;
        }
        if let super::snapshot::Entry::File { hash, .. } = entry
            && root.stat_path(path)?.is_none()
        {
            store.copy_into(hash, &root, path, 0o644)?;
        }
    }
    Ok(())
}

/// Re-executes `history` (oldest first) in `session`, whose kernel should be fresh.
/// `base` is the snapshot the first step started from.
pub async fn replay(
    session: &mut Session,
    history: &[HistoryStep],
    base: &str,
    snapshots: &mut Snapshotter,
    store: &ObjectStore,
    sink: &mut (dyn FnMut(Event) + Send),
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    let mut report = ReplayReport::default();
    let mut before = base.to_string();
    let live = session.replace_calls(HostCalls::default());
    let result = async {
        for h in history {
            let Some(end) = &h.step.end else {
                return Err(ReplayError::Incomplete {
                    session: h.session.clone(),
                    step: h.step.id(),
                });
            };
            if let Some(why) = &end.inexact {
                return Err(ReplayError::Inexact {
                    session: h.session.clone(),
                    step: h.step.id(),
                    before: h.step.begin.parent,
                    why: why.clone(),
                });
            }
            snapshots
                .restore(session.workspace(), store, &before)
                .map_err(|source| ReplayError::Restore {
                    step: h.step.id(),
                    source,
                })?;
            overlay_tool_modules(session.workspace(), store, &end.snapshot).map_err(|source| {
                ReplayError::Restore {
                    step: h.step.id(),
                    source,
                }
            })?;
            if let Some(code) = &h.step.begin.startup
                && session.startup_code() != Some(code.as_str())
                && let Err(e) = session.set_startup_code(code.clone()).await
            {
                return Err(ReplayError::Diverged(Divergence {
                    session: h.session.clone(),
                    step: h.step.id(),
                    cell: 0,
                    difference: format!("the step's session startup code failed: {e}"),
                }));
            }
            for (index, cell) in h.step.cells().iter().enumerate() {
                let diverged = |difference: String| {
                    ReplayError::Diverged(Divergence {
                        session: h.session.clone(),
                        step: h.step.id(),
                        cell: index + 1,
                        difference,
                    })
                };
                if cell.fresh_kernel {
                    session.restart_kernel().await;
                }
                // A cell that killed its kernel is not run again: its effect was the
                // loss of all state, which a restart reproduces. One that timed out or was
                // cancelled is skipped (its partial effect cannot be re-created).
                let recorded = match cell.status {
                    Some(s @ (CellStatus::Ok | CellStatus::Error)) => s,
                    Some(CellStatus::KernelDied) => {
                        session.restart_kernel().await;
                        continue;
                    }
                    _ => continue,
                };
                let (calls, served) = serve(cell);
                session.replace_calls(calls);
                let mut raised = None;
                let mut seen = CellOutput::default();
                let status = session
                    .run_cell(&cell.code, &mut |e| {
                        if let Event::Error { ename, message, .. } = &e {
                            raised = Some(format!("{ename}: {message}"));
                        }
                        seen.take(&e);
                        sink(e)
                    })
                    .await;
                report.cells += 1;
                report.original_ms += cell.duration_ms;
                let served = served
                    .lock()
                    .map_err(|_| diverged("replay state poisoned".into()))?;
                report.calls_served += served.served;
                if let Some(d) = &served.divergence {
                    return Err(diverged(d.clone()));
                }
                if let Some((name, args, _, _)) =
                    served.recorded.iter().find(|c| !c.3 && !is_discovery(&c.0))
                {
                    return Err(diverged(format!(
                        "the recorded call {name}({}) was not made again",
                        short(args)
                    )));
                }
                if status != recorded {
                    let why = raised.map(|r| format!(" ({r})")).unwrap_or_default();
                    return Err(diverged(format!(
                        "the cell ended {status:?}{why} where the record has {recorded:?}"
                    )));
                }
                if let Some(difference) = cell.seen.first_difference(&seen) {
                    sink(Event::ReplayDiffered {
                        session: h.session.clone(),
                        step: h.step.id(),
                        cell: index as u64 + 1,
                        difference: difference.clone(),
                    });
                    report.differences.push(Divergence {
                        session: h.session.clone(),
                        step: h.step.id(),
                        cell: index + 1,
                        difference,
                    });
                }
            }
            report.steps += 1;
            before = end.snapshot.clone();
        }
        snapshots
            .restore(session.workspace(), store, &before)
            .map_err(|source| ReplayError::Restore {
                step: history.last().map_or(0, |h| h.step.id()),
                source,
            })?;
        Ok(())
    }
    .await;
    session.replace_calls(live);
    report.replay_ms = started.elapsed().as_secs_f64() * 1000.0;
    result.map(|()| report)
}
