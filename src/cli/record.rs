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
pub async fn continue_session(
    project: &Project,
    session: &mut Session,
    secrets: Secrets,
    printer: &Printer,
) -> Result<(Recorder, Vec<HistoryStep>), CliError> {
    let dir = replay_dir(project)?;
    let name = session.name().to_string();
    let (mut recorder, log) =
        Recorder::open(&dir, &name, session.workspace(), secrets).map_err(CliError::failed)?;
    let Some(log) = log else {
        return Ok((recorder, Vec::new()));
    };
    show_warnings(&log, printer);
    if log.head == 0 {
        return Ok((recorder, Vec::new()));
    }
    let (history, base) = dir.history(&log, None).map_err(CliError::failed)?;
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
    printer.note(&format!(
        "session {name}: restored the state after step {} by re-running {} cell(s) from the record in {:.0} ms ({} recorded call(s) served; no tool or model was called)",
        log.head, report.cells, report.replay_ms, report.calls_served
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
