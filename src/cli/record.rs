//! Recording what `exec` and `run` do, and continuing a named session where it stopped.

use super::CliError;
use super::printer::Printer;
use crate::project::Project;
use crate::record::log::{Secrets, SessionLog};
use crate::record::recorder::{Recorder, ReplayDir};
use crate::record::replay::{HistoryStep, ReplayError, replay};
use crate::session::Session;

pub fn replay_dir(project: &Project) -> Result<ReplayDir, CliError> {
    ReplayDir::open(&project.replay_dir()).map_err(CliError::failed)
}

/// Opens the record of session `name` (creating it when new) and, when it has steps,
/// rebuilds their state in `session` by replaying them. Returns the recorder and the
/// steps replayed.
///
/// `named`: the user gave the name; a name with no record yet is then announced as a new
/// session, so that a mistyped name does not go unnoticed.
pub async fn continue_session(
    project: &Project,
    session: &mut Session,
    secrets: Secrets,
    printer: &Printer,
    named: bool,
) -> Result<(Recorder, Vec<HistoryStep>), CliError> {
    let dir = replay_dir(project)?;
    let name = session.name().to_string();
    let (mut recorder, log) =
        Recorder::open(&dir, &name, session.workspace(), secrets).map_err(CliError::failed)?;
    let Some(log) = log else {
        if named {
            printer.note(&format!(
                "new session {name}: nothing is recorded under this name yet (see `mcpr replay list` for the sessions there are)"
            ));
        }
        return Ok((recorder, Vec::new()));
    };
    show_warnings(&log, printer);
    if log.head == 0 {
        return Ok((recorder, Vec::new()));
    }
    let (history, base) = dir.history(&log, None).map_err(CliError::failed)?;
    // What the workspace holds now, so that files changed since the last step survive.
    let (before, _) = recorder
        .snapshots_mut()
        .snapshot(session.workspace(), dir.store())
        .map_err(|e| CliError::failed(format!("could not read the workspace: {e}")))?;
    let report = replay(
        session,
        &history,
        &base,
        recorder.snapshots_mut(),
        dir.store(),
        &mut |_| {},
    )
    .await
    .map_err(|e| replay_failed(&name, e))?;
    let head = history
        .last()
        .and_then(|h| h.step.end.as_ref())
        .map(|e| e.snapshot.clone())
        .unwrap_or(base);
    let kept = keep_changes(dir.store(), &before, &head, session.workspace()).map_err(|e| {
        CliError::failed(format!(
            "could not put back the files changed in the workspace since the last step: {e}"
        ))
    })?;
    if !kept.is_empty() {
        printer.note(&format!(
            "kept {} file(s) changed in the workspace since the last step: {}",
            kept.len(),
            kept.join(", ")
        ));
    }
    for d in &report.differences {
        printer.note(&super::printer::differed(
            &d.session,
            d.step,
            d.cell as u64,
            &d.difference,
        ));
    }
    printer.note(&format!(
        "session {name}: restored the state after step {} by re-running {} cell(s) from the record in {:.1} s (they first took {:.1} s; {} recorded call(s) served, no tool or model called)",
        log.head,
        report.cells,
        report.replay_ms / 1000.0,
        report.original_ms / 1000.0,
        report.calls_served
    ));
    Ok((recorder, history))
}

pub fn show_warnings(log: &SessionLog, printer: &Printer) {
    for w in &log.warnings {
        printer.note(&format!("warning: {}: {w}", log.path.display()));
    }
}

pub fn replay_failed(name: &str, e: ReplayError) -> CliError {
    match e {
        ReplayError::Diverged(d) => CliError::failed(format!(
            "{d}\nThe recorded state of session {name} cannot be rebuilt exactly. Go back to an earlier step with `mcpr replay rewind {name} STEP`, or branch off with `mcpr fork {name} STEP`.",
        )),
        other => CliError::failed(other),
    }
}

/// Says once that recording failed (the session goes on without it).
pub fn note_record_error(printer: &Printer, warned: &mut bool, e: impl std::fmt::Display) {
    if !*warned {
        *warned = true;
        printer.note(&format!(
            "warning: the session record could not be written: {e}"
        ));
    }
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
