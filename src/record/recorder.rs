//! The `.replay/` folder of a project, and the recorder that appends a running
//! session's steps to its log.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::log::{
    Detail, ForkPoint, Line, LogError, LogWriter, Secrets, SessionHeader, SessionLog, StepBegin,
    StepEnd, StepKind, WriteError,
};
use super::objects::ObjectStore;
use super::replay::HistoryStep;
use super::snapshot::Snapshotter;
use crate::event::Event;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("no session named {name:?} in {dir} (see `mcpr replay list`)")]
    NoSession { name: String, dir: PathBuf },
    #[error("session {session} has no step {step}{hint}")]
    NoStep {
        session: String,
        step: u64,
        hint: String,
    },
    #[error(
        "step {step} of session {session} cannot be rebuilt: it continues from step {missing}, whose `step` line (line {line} of {path}) is damaged. {way_out}"
    )]
    Damaged {
        session: String,
        step: u64,
        missing: u64,
        line: usize,
        path: PathBuf,
        way_out: String,
    },
    #[error("a session named {name:?} exists already; choose another name")]
    Exists { name: String },
    #[error("{0}")]
    Io(String),
}

/// The record folder: logs, the object store, the index.
#[derive(Clone)]
pub struct ReplayDir {
    root: PathBuf,
    store: ObjectStore,
}

impl ReplayDir {
    pub fn open(root: &Path) -> Result<ReplayDir, RecordError> {
        std::fs::create_dir_all(root)
            .map_err(|e| RecordError::Io(format!("could not create {}: {e}", root.display())))?;
        let store = ObjectStore::open(&root.join("objects")).map_err(|e| {
            RecordError::Io(format!(
                "could not open the object store in {}: {e}",
                root.display()
            ))
        })?;
        Ok(ReplayDir {
            root: root.to_path_buf(),
            store,
        })
    }

    /// Opens the record folder `root` only if it exists, creating nothing (for commands
    /// that only read).
    pub fn open_existing(root: &Path) -> Option<ReplayDir> {
        root.is_dir().then(|| ReplayDir {
            root: root.to_path_buf(),
            store: ObjectStore::existing(&root.join("objects")),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.jsonl"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.log_path(name).is_file()
    }

    /// Names of the recorded sessions, sorted.
    pub fn session_names(&self) -> Result<Vec<String>, RecordError> {
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| RecordError::Io(format!("could not list {}: {e}", self.root.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".jsonl").map(str::to_string)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn read(&self, name: &str, detail: Detail) -> Result<SessionLog, RecordError> {
        let path = self.log_path(name);
        if !path.is_file() {
            return Err(RecordError::NoSession {
                name: name.to_string(),
                dir: self.root.clone(),
            });
        }
        if detail == Detail::Timeline {
            return Ok(super::log::cache::read_timeline(
                &self.root,
                name,
                &path,
                &self.store,
            )?);
        }
        Ok(SessionLog::read(&path, &self.store, detail)?)
    }

    /// The steps from the root of the tree to `step` (default: the head), following forks
    /// into their parents, and the snapshot the first of them started from.
    pub fn history(
        &self,
        log: &SessionLog,
        step: Option<u64>,
    ) -> Result<(Vec<HistoryStep>, String), RecordError> {
        let target = step.unwrap_or(log.head);
        let mut out = Vec::new();
        let base = self.walk(log, target, &mut out, 0)?;
        out.reverse();
        Ok((out, base))
    }

    fn walk(
        &self,
        log: &SessionLog,
        mut at: u64,
        out: &mut Vec<HistoryStep>,
        depth: usize,
    ) -> Result<String, RecordError> {
        let name = log.header.name.clone();
        let no_step = |step: u64, hint: &str| RecordError::NoStep {
            session: name.clone(),
            step,
            hint: hint.to_string(),
        };
        if depth > 64 {
            return Err(no_step(at, " (the fork chain is longer than 64 sessions)"));
        }
        let requested = at;
        loop {
            if at == 0 {
                return Ok(log.header.base.clone());
            }
            if let Some(fork) = &log.header.fork
                && at <= fork.step
            {
                let parent = self.read(&fork.session, Detail::Full)?;
                let mut prefix = Vec::new();
                let base = self.walk(&parent, fork.step, &mut prefix, depth + 1)?;
                // The step must be on the shared prefix, not on another parent branch.
                let Some(pos) = prefix.iter().position(|h| h.step.id() == at) else {
                    return Err(no_step(
                        at,
                        &format!(
                            " on its shared history (forked from {} at step {})",
                            fork.session, fork.step
                        ),
                    ));
                };
                out.extend(prefix.into_iter().skip(pos));
                return Ok(base);
            }
            let Some(step) = log.step(at) else {
                if let Some(d) = log.damaged_step(at) {
                    return Err(self.damaged(log, requested, at, d.line));
                }
                return Err(no_step(requested, " (see `mcpr replay list`)"));
            };
            if !step.complete() {
                return Err(no_step(
                    requested,
                    &format!(" that can be used: step {at} was interrupted"),
                ));
            }
            out.push(HistoryStep {
                session: name.clone(),
                step: step.clone(),
            });
            at = step.begin.parent;
        }
    }

    /// Step `step` depends on the lost step `missing`: the error names the damaged line
    /// and the latest step before it that can still be rebuilt.
    fn damaged(&self, log: &SessionLog, step: u64, missing: u64, line: usize) -> RecordError {
        let name = &log.header.name;
        let intact = (1..missing).rev().find(|&id| {
            log.step(id).is_some_and(super::log::Step::complete)
                && self.history(log, Some(id)).is_ok()
        });
        let way_out = match intact {
            Some(id) => format!(
                "Steps that do not depend on it are intact: `mcpr replay rewind {name} {id}` continues from step {id}, or `mcpr fork {name} {id}` branches off there."
            ),
            None => format!(
                "No earlier step can be rebuilt; start a new session, or repair line {line} by hand."
            ),
        };
        RecordError::Damaged {
            session: name.clone(),
            step,
            missing,
            line,
            path: log.path.clone(),
            way_out,
        }
    }

    /// Creates a fork of `parent` at `step`: a new log sharing the steps up to it.
    pub fn fork(&self, parent: &str, step: u64, name: &str) -> Result<SessionLog, RecordError> {
        if self.exists(name) {
            return Err(RecordError::Exists {
                name: name.to_string(),
            });
        }
        let log = self.read(parent, Detail::Full)?;
        let (history, _) = self.history(&log, Some(step))?;
        let Some(last) = history.last().and_then(|h| h.step.end.clone()) else {
            return Err(RecordError::NoStep {
                session: parent.to_string(),
                step,
                hint: " to fork at (steps start at 1)".into(),
            });
        };
        let header = SessionHeader {
            format: super::log::FORMAT_VERSION,
            id: super::log::new_session_id(name),
            name: name.to_string(),
            created: super::log::now(),
            fork: Some(ForkPoint {
                session: parent.to_string(),
                step,
            }),
            base: last.snapshot,
            mcpr: env!("CARGO_PKG_VERSION").to_string(),
        };
        let writer = LogWriter::create(
            &self.log_path(name),
            &header,
            self.store.clone(),
            Secrets::default(),
        )?;
        drop(writer);
        self.read(name, Detail::Full)
    }

    /// Moves the head of `name` to `step` (checked to exist on its tree).
    pub fn set_head(&self, name: &str, step: u64) -> Result<(), RecordError> {
        let log = self.read(name, Detail::Outline)?;
        self.history(&log, Some(step))?;
        let mut writer = LogWriter::open(&log.path, self.store.clone(), Secrets::default())?;
        writer.append(&Line::Head {
            step,
            time: super::log::now(),
        })?;
        writer.sync()?;
        Ok(())
    }
}

/// Appends a running session's steps to its log.
pub struct Recorder {
    writer: LogWriter,
    snapshots: Snapshotter,
    workspace: PathBuf,
    head: u64,
    next_step: u64,
    current: Option<(u64, Instant)>,
    /// Why the current step cannot be replayed exactly, when a secret was redacted from
    /// something replay needs.
    inexact: Option<String>,
    /// The first write failure; recording stops there and the front end says so.
    failed: Option<String>,
}

impl Recorder {
    /// Opens the log of session `name`, creating it (with a snapshot of `workspace` as its
    /// base) when new. Returns the recorder and the session as read (None when new).
    pub fn open(
        dir: &ReplayDir,
        name: &str,
        workspace: &Path,
        secrets: Secrets,
    ) -> Result<(Recorder, Option<SessionLog>), RecordError> {
        let path = dir.log_path(name);
        let mut snapshots = Snapshotter::new();
        let (writer, log) = if path.is_file() {
            let log = dir.read(name, Detail::Full)?;
            (
                LogWriter::open(&path, dir.store().clone(), secrets)?,
                Some(log),
            )
        } else {
            let (base, _) = snapshots.snapshot(workspace, dir.store()).map_err(|e| {
                RecordError::Io(format!(
                    "could not snapshot the workspace {}: {e}",
                    workspace.display()
                ))
            })?;
            let header = SessionHeader {
                format: super::log::FORMAT_VERSION,
                id: super::log::new_session_id(name),
                name: name.to_string(),
                created: super::log::now(),
                fork: None,
                base,
                mcpr: env!("CARGO_PKG_VERSION").to_string(),
            };
            (
                LogWriter::create(&path, &header, dir.store().clone(), secrets)?,
                None,
            )
        };
        let mut log = log;
        let mut writer = writer;
        if let Some(log) = log.as_mut() {
            // Say once that a step was interrupted, then mark it so in the record.
            for (step, warning) in log.unnoted_interruptions() {
                log.warnings.push(warning);
                writer.append(&Line::Interrupted {
                    step,
                    time: super::log::now(),
                })?;
            }
        }
        let (head, next_step) = log.as_ref().map_or((0, 1), |l| (l.head, l.next_step_id()));
        Ok((
            Recorder {
                writer,
                snapshots,
                workspace: workspace.to_path_buf(),
                head,
                next_step,
                current: None,
                inexact: None,
                failed: None,
            },
            log,
        ))
    }

    /// The snapshotter, for the replay that precedes new steps (it shares the stat cache).
    pub fn snapshots_mut(&mut self) -> &mut Snapshotter {
        &mut self.snapshots
    }

    /// The id the next step will get.
    pub fn next_step(&self) -> u64 {
        self.next_step
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    /// Moves the head of the open session to `step` (checked by the caller to be on its
    /// tree), through this recorder's own writer: a live rewind takes no second lock.
    pub fn set_head(&mut self, step: u64) -> Result<(), RecordError> {
        self.writer.append(&Line::Head {
            step,
            time: super::log::now(),
        })?;
        self.writer.sync()?;
        self.head = step;
        Ok(())
    }

    /// The values the record never keeps (a checkpoint holding one is not saved).
    pub fn secrets(&self) -> &crate::secrets::Secrets {
        self.writer.secrets()
    }

    /// The object store the record writes to.
    pub fn store(&self) -> &ObjectStore {
        self.writer.store()
    }

    /// Appends the saved checkpoint of an ended step, durably.
    pub fn checkpoint(&mut self, c: super::checkpoint::Checkpoint) -> Result<(), RecordError> {
        self.writer.append(&Line::Checkpoint(c))?;
        self.writer.sync()?;
        Ok(())
    }

    /// The session's log file.
    pub fn log_path(&self) -> &Path {
        self.writer.path()
    }

    fn note_failure(&mut self, e: impl std::fmt::Display) {
        if self.failed.is_none() {
            self.failed = Some(e.to_string());
        }
    }

    /// Starts a step continuing from the head; returns its id.
    pub fn begin_step(
        &mut self,
        kind: StepKind,
        task: Option<String>,
        startup: Option<&str>,
    ) -> u64 {
        let step = self.next_step;
        self.next_step += 1;
        self.inexact = startup
            .filter(|code| self.writer.secrets().found_in(code))
            .map(|_| "its startup code held a secret value".to_string());
        let line = Line::Step(StepBegin {
            step,
            parent: self.head,
            kind,
            task,
            startup: startup.map(str::to_string),
            started: super::log::now(),
        });
        if let Err(e) = self.writer.append(&line) {
            self.note_failure(e);
        }
        self.current = Some((step, Instant::now()));
        step
    }

    /// Records an event of the current step (streamed tokens are left out: the complete
    /// exchange is recorded once it finishes).
    pub fn event(&mut self, event: &Event) {
        let Some((step, _)) = self.current else {
            return;
        };
        if !event.recorded() || self.failed.is_some() {
            return;
        }
        // Nothing to look for without secrets (the common case): no work per event.
        if self.inexact.is_none() && !self.writer.secrets().is_empty() {
            let secrets = self.writer.secrets();
            self.inexact = match event {
                Event::CellStarted { code, .. } if secrets.found_in(code) => {
                    Some("its code held a secret value".to_string())
                }
                Event::HostCall {
                    name,
                    args,
                    outcome,
                    ..
                } if secrets.found_in_value(args)
                    || serde_json::to_value(outcome).is_ok_and(|o| secrets.found_in_value(&o)) =>
                {
                    Some(format!(
                        "the arguments or result of its {name} call held a secret value"
                    ))
                }
                _ => None,
            };
        }
        if let Err(e) = self.writer.append_event(step, event) {
            self.note_failure(e);
        }
    }

    /// Ends the current step: snapshots the workspace, writes the end line, fsyncs.
    pub fn end_step(
        &mut self,
        success: bool,
        skills_used: Vec<String>,
        skills_created: Vec<String>,
    ) -> Result<u64, RecordError> {
        let Some((step, started)) = self.current.take() else {
            return Err(RecordError::Io("no step is open".into()));
        };
        let (snapshot, _) = self
            .snapshots
            .snapshot(&self.workspace, self.writer.store())
            .map_err(|e| {
                RecordError::Io(format!(
                    "could not snapshot the workspace {}: {e}",
                    self.workspace.display()
                ))
            })?;
        self.writer.append(&Line::End(StepEnd {
            step,
            success,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            snapshot,
            skills_used,
            skills_created,
            inexact: self.inexact.take(),
        }))?;
        self.writer.sync()?;
        self.head = step;
        if let Some(f) = &self.failed {
            return Err(RecordError::Io(f.clone()));
        }
        Ok(step)
    }
}
