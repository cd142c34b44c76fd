//! The record side of a live session: continuing a named session where its record stops
//! (state rebuilt from a saved checkpoint or by replay, files changed by hand kept), what the agent remembers of
//! recorded steps, and rewinds and forks done without a live session.

use super::EngineError;
use super::emit::Emitter;
use crate::event::{CellStatus, Event, NoticeLevel};
use crate::project::Project;
use crate::record::log::{Detail, Secrets, SessionLog};
use crate::record::recorder::{Recorder, ReplayDir};
use crate::record::replay::{HistoryStep, ReplayReport, replay};
use crate::record::snapshot::Snapshotter;
use crate::session::Session;

/// The project's record folder, created when missing.
pub fn replay_dir(project: &Project) -> Result<ReplayDir, EngineError> {
    Ok(ReplayDir::open(&project.replay_dir())?)
}

/// Opens the record of `session` (creating it when new) and, when it has steps, rebuilds
/// their state: from the latest saved checkpoint when `saved` allows, else by replaying
/// them (see [`super::checkpoint::restore`]). Returns the recorder and the history.
///
/// `named`: the user gave the name; a name with no record yet is then announced as a new
/// session, so that a mistyped name does not go unnoticed.
///
/// `at`: continue from this step instead of the head (a rewind as the session opens:
/// the workspace becomes the step's, the head moves there once the replay succeeded, and
/// the later steps stay as a branch). None keeps files changed by hand since the head.
///
/// `live`: frozen copies of the kernel the session adopted (a fork of a live session):
/// the nearest on the path is woken first, and only when that fails is a fresh kernel
/// rebuilt from the record.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn continue_session(
    dir: &ReplayDir,
    session: &mut Session,
    secrets: Secrets,
    out: &Emitter,
    named: bool,
    at: Option<u64>,
    saved: bool,
    live: Option<&mut super::frozen::FrozenCopies>,
) -> Result<(Recorder, Vec<HistoryStep>), EngineError> {
    let name = session.name().to_string();
    let (mut recorder, log) = Recorder::open(dir, &name, session.workspace(), secrets)?;
    let Some(log) = log else {
        if named {
            out.notice(
                NoticeLevel::Info,
                format!(
                    "new session {name}: nothing is recorded under this name yet (see `mcpr replay list` for the sessions there are)"
                ),
            );
        }
        return Ok((recorder, Vec::new()));
    };
    log_warnings(&log, out);
    let target = at.unwrap_or(log.head);
    if target == 0 {
        return Ok((recorder, Vec::new()));
    }
    let (history, base) = dir.history(&log, Some(target))?;
    // What the workspace holds now, so that files changed since the last step survive
    // (not for a rewind: its files are the step's).
    let before = match at {
        Some(_) => None,
        None => Some(
            recorder
                .snapshots_mut()
                .snapshot(session.workspace(), dir.store())
                .map_err(|e| EngineError::io("could not read the workspace", e))?
                .0,
        ),
    };
    let adopted = live.is_some();
    let woken = match live {
        Some(frozen) => {
            super::checkpoint::from_live(
                session,
                frozen,
                &history,
                recorder.snapshots_mut(),
                dir,
                out,
            )
            .await
        }
        None => Ok(super::checkpoint::Live::NotUsed(None)),
    };
    let restored = match woken.map_err(|e| EngineError::replay(&name, e))? {
        super::checkpoint::Live::Restored(r) => r,
        super::checkpoint::Live::NotUsed(why) => {
            if adopted {
                // The adopted kernel holds another state: start from a fresh one.
                session.restart_kernel().await;
            }
            super::checkpoint::restore(
                session,
                &history,
                &base,
                recorder.snapshots_mut(),
                dir,
                out,
                super::checkpoint::Via {
                    saved,
                    live_fallback: why,
                },
            )
            .await
            .map_err(|e| EngineError::replay(&name, e))?
        }
    };
    let head = history
        .last()
        .and_then(|h| h.step.end.as_ref())
        .map(|e| e.snapshot.clone())
        .unwrap_or(base);
    if let Some(before) = before {
        let kept = keep_changes(dir.store(), &before, &head, session.workspace()).map_err(|e| {
            EngineError::io(
                "could not put back the files changed in the workspace since the last step",
                e,
            )
        })?;
        if !kept.is_empty() {
            out.notice(
                NoticeLevel::Info,
                format!(
                    "kept {} file(s) changed in the workspace since the last step: {}",
                    kept.len(),
                    kept.join(", ")
                ),
            );
        }
    }
    if at.is_some() && target != log.head {
        recorder.set_head(target)?;
        out.send(Event::HeadMoved {
            session: name.clone(),
            step: target,
        });
    }
    let report = &restored.report;
    out.notice(
        NoticeLevel::Info,
        format!(
            "session {name}: restored the state after step {target} in {:.0} ms {} ({} recorded call(s) served, no tool or model called)",
            restored.duration_ms,
            restored
                .source
                .describe(restored.cells as u64, restored.checkpoint, &restored.recreated),
            report.calls_served
        ),
    );
    Ok((recorder, history))
}

/// Replays `history` into `session`, reporting progress (`ReplayProgress` after each
/// re-run cell) and differences (`ReplayDiffered`) as events.
pub(crate) async fn replay_into(
    session: &mut Session,
    history: &[HistoryStep],
    base: &str,
    snapshots: &mut Snapshotter,
    dir: &ReplayDir,
    out: &Emitter,
) -> Result<ReplayReport, crate::record::replay::ReplayError> {
    let name = session.name().to_string();
    // Which step each re-run cell belongs to: replay runs the cells that ended ok or with
    // an error, in order.
    let owners: Vec<u64> = history
        .iter()
        .flat_map(|h| {
            let runs = h
                .step
                .cells()
                .iter()
                .filter(|c| matches!(c.status, Some(CellStatus::Ok | CellStatus::Error)))
                .count();
            std::iter::repeat_n(h.step.id(), runs)
        })
        .collect();
    let (mut cells, mut served) = (0u64, 0u64);
    replay(
        session,
        history,
        base,
        snapshots,
        dir.store(),
        &mut |e| match e {
            Event::HostCall { .. } => served += 1,
            Event::CellFinished { .. } => {
                let step = owners.get(cells as usize).copied().unwrap_or_default();
                cells += 1;
                out.send(Event::ReplayProgress {
                    session: name.clone(),
                    step,
                    cells,
                    calls_served: served,
                });
            }
            e @ Event::ReplayDiffered { .. } => out.send(e),
            _ => {}
        },
    )
    .await
}

pub(crate) fn log_warnings(log: &SessionLog, out: &Emitter) {
    for w in &log.warnings {
        out.notice(
            NoticeLevel::Warning,
            format!("warning: {}: {w}", log.path.display()),
        );
    }
}

/// What the agent remembers of a recorded task step: the task, its last code, the result.
pub(crate) fn agent_history(h: &HistoryStep) -> Option<(String, Option<String>, String)> {
    let task = h.step.begin.task.clone()?;
    let code = h.step.events.iter().rev().find_map(|e| match e {
        Event::CodeGenerated { code, .. } => Some(code.clone()),
        _ => None,
    });
    let summary = h.step.events.iter().rev().find_map(|e| match e {
        Event::StepFinished(s) => Some(s.clone()),
        _ => None,
    })?;
    let code = if summary.answer.is_some() { None } else { code };
    Some((task, code, summary.answer.unwrap_or(summary.output)))
}

/// The name a fork of `from` gets when none is given: `FROM-fork-N`, the first free N.
pub fn fork_name(dir: &ReplayDir, from: &str) -> String {
    (1..)
        .map(|n| format!("{from}-fork-{n}"))
        .find(|n| !dir.exists(n))
        .unwrap_or_else(|| format!("{from}-fork"))
}

/// Branches `name` off `from` at `step` (the parent is untouched) and restores the
/// step's workspace into the new session's folder. Returns the new session's name.
pub fn fork(
    project: &Project,
    from: &str,
    step: u64,
    name: Option<&str>,
) -> Result<String, EngineError> {
    let dir = ReplayDir::open_existing(&project.replay_dir()).ok_or_else(|| {
        EngineError::Record(crate::record::recorder::RecordError::NoSession {
            name: from.to_string(),
            dir: project.replay_dir(),
        })
    })?;
    let name = match name {
        Some(n) => n.to_string(),
        None => fork_name(&dir, from),
    };
    crate::project::validate_session_name(&name)?;
    let log = dir.fork(from, step, &name)?;
    let workspace = project.session_workspace(&name)?;
    Snapshotter::new()
        .restore(&workspace, dir.store(), &log.header.base)
        .map_err(|e| {
            EngineError::io(format!("could not restore the workspace of step {step}"), e)
        })?;
    Ok(name)
}

/// Checks that `step` is on `name`'s tree and returns the history up to it.
pub(crate) fn history_to(
    dir: &ReplayDir,
    name: &str,
    step: u64,
) -> Result<(Vec<HistoryStep>, String), EngineError> {
    let log = dir.read(name, Detail::Full)?;
    Ok(dir.history(&log, Some(step))?)
}

/// Writes back the files of snapshot `before` that differ from `head` (added or changed
/// by hand since the step ended); files deleted since are not deleted again. The
/// generated `tools/` package is left to the tool hub.
fn keep_changes(
    store: &crate::record::objects::ObjectStore,
    before: &str,
    head: &str,
    workspace: &std::path::Path,
) -> std::io::Result<Vec<String>> {
    use crate::record::snapshot::{Entry, load_manifest};
    use crate::sandbox::confined::ConfinedDir;
    use std::ffi::OsStr;
    if before == head {
        return Ok(Vec::new());
    }
    let (before, head) = (load_manifest(store, before)?, load_manifest(store, head)?);
    // The workspace is the sandbox's: nothing planted there is followed.
    let root = ConfinedDir::open(workspace)?;
    let mut kept = Vec::new();
    for (path, entry) in &before.entries {
        if path.starts_with("tools/") || head.entries.get(path) == Some(entry) {
            continue;
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let name = OsStr::new(name);
        match entry {
            Entry::Dir { .. } => {
                root.create_dirs(path, 0o755)?;
            }
            Entry::File { hash, mode, .. } => {
                let dir = root.create_dirs(parent, 0o755)?;
                if dir
                    .stat(name)?
                    .is_some_and(|m| m.kind == crate::sandbox::confined::Kind::Dir)
                {
                    dir.remove_tree(name)?;
                }
                store.copy_into(hash, &dir, name, *mode)?;
                kept.push(path.clone());
            }
            // A pipe holds nothing to keep; the re-run makes its own.
            Entry::Fifo { .. } => {}
            Entry::Symlink { target } => {
                let dir = root.create_dirs(parent, 0o755)?;
                dir.remove_tree(name)?;
                dir.symlink(std::path::Path::new(target), name)?;
                kept.push(path.clone());
            }
        }
    }
    Ok(kept)
}

/// Whether session `name` has a record in `project` (nothing is created to find out).
pub fn exists(project: &Project, name: &str) -> bool {
    ReplayDir::open_existing(&project.replay_dir()).is_some_and(|d| d.exists(name))
}

/// What an offline rewind did.
#[derive(Debug, Clone)]
pub struct Rewound {
    pub report: ReplayReport,
    /// How the state was obtained.
    pub restored: super::checkpoint::Restored,
    pub workspace: std::path::PathBuf,
}

/// Moves recorded session `name` (not open in this process) back to `step`: the state is
/// rebuilt in a fresh kernel, checked by re-running the recorded cells, and the head
/// moves there. The next session that continues `name` starts from it.
pub async fn rewind(
    project: &Project,
    name: &str,
    step: u64,
    isolation: Option<crate::sandbox::IsolationRequest>,
    out: &Emitter,
) -> Result<Rewound, EngineError> {
    let dir = ReplayDir::open_existing(&project.replay_dir()).ok_or_else(|| {
        EngineError::Record(crate::record::recorder::RecordError::NoSession {
            name: name.to_string(),
            dir: project.replay_dir(),
        })
    })?;
    let (history, base) = history_to(&dir, name, step)?;
    let config = super::live::kernel_config(project, None);
    let launcher = crate::session::Launcher::from_config(&config, isolation)?;
    let workspace = project.session_workspace(name)?;
    // Recorded cells may import skills, as they could when they ran.
    let (launcher, _) = super::live::session_skills(project, launcher, &workspace, true, out)?;
    let mut session = Session::start(
        launcher,
        crate::hostcall::HostCalls::default(),
        name.to_string(),
        workspace.clone(),
    )
    .await?;
    let result = super::checkpoint::restore(
        &mut session,
        &history,
        &base,
        &mut Snapshotter::new(),
        &dir,
        out,
        super::checkpoint::Via {
            saved: project.config.checkpoints.saved,
            live_fallback: None,
        },
    )
    .await;
    session.close().await;
    let restored = result.map_err(|e| EngineError::replay(name, e))?;
    dir.set_head(name, step)?;
    out.send(Event::HeadMoved {
        session: name.to_string(),
        step,
    });
    Ok(Rewound {
        report: restored.report.clone(),
        restored,
        workspace,
    })
}
