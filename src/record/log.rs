//! The session log: one append-only JSON Lines file per session, the record's source of
//! truth.
//!
//! Lines, each a JSON object with a `type`:
//! - `session` (first line): format version, id, name, creation time, the fork point when
//!   the session was forked, and the snapshot of the workspace before its first step;
//! - `step`: a step begins (its id, its parent step, the task or cell);
//! - `event`: one [`Event`] of that step, as the front ends saw it;
//! - `end`: the step finished (status, durations, skills, the workspace snapshot);
//! - `head`: the session was rewound; the next step continues from this step.
//!
//! Step ids grow by one per step and are never reused. A step with no `end` line was
//! interrupted (mcpr was killed mid-step): it is shown but never replayed. The file is
//! fsynced at step boundaries. A torn last line (a crash mid-write) is reported and
//! skipped; a writer first ends it with a newline so nothing after it is lost.
//!
//! Strings longer than [`INLINE_STRING_MAX`] are stored once in the object store and
//! appear in the line as `{"$object": "<sha256>", "bytes": N}`; readers resolve them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::objects::ObjectStore;
use crate::event::{CellStatus, Event};

pub(crate) mod cache;
mod read;
pub use crate::secrets::Secrets;

pub const FORMAT_VERSION: u32 = 1;
/// Strings longer than this go to the object store.
pub const INLINE_STRING_MAX: usize = 16 * 1024;

/// Where a fork branched off: the parent session and the step its prefix ends with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkPoint {
    pub session: String,
    pub step: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Session(SessionHeader),
    Step(StepBegin),
    Event {
        step: u64,
        event: Value,
    },
    End(StepEnd),
    Head {
        step: u64,
        time: String,
    },
    /// A step found without its `end` (mcpr was killed mid-step) has been reported once;
    /// it stays in the record, marked interrupted, and is never replayed.
    Interrupted {
        step: u64,
        time: String,
    },
    /// The kernel's saved state after a step (see [`super::checkpoint`]).
    Checkpoint(super::checkpoint::Checkpoint),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionHeader {
    pub format: u32,
    pub id: String,
    pub name: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork: Option<ForkPoint>,
    /// Snapshot of the workspace before the first own step.
    pub base: String,
    pub mcpr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// One cell of code given by the user (`mcpr exec`).
    Cell,
    /// A task in plain words done by the agent (`mcpr run`).
    Task,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBegin {
    pub step: u64,
    /// The step this one continues from; 0 for the first step of a session's tree.
    pub parent: u64,
    pub kind: StepKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The code the session ran quietly in each kernel (e.g. to install `ask_llm`);
    /// replay installs the same before re-running the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<String>,
    pub started: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEnd {
    pub step: u64,
    pub success: bool,
    pub duration_ms: f64,
    /// Manifest of the workspace at the end of the step.
    pub snapshot: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_used: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_created: Vec<String>,
    /// Why a replay cannot re-create this step exactly: something replay needs (its code,
    /// its startup code, a recorded call) held a secret value, which the record never
    /// keeps. Replay stops before such a step and says so instead of re-running redacted
    /// code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inexact: Option<String>,
}

/// One step as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub begin: StepBegin,
    pub events: Vec<Event>,
    /// None when the step was interrupted.
    pub end: Option<StepEnd>,
    /// The line number of its `step` line.
    pub line: usize,
    /// An interrupted step has been reported already (an `interrupted` line follows).
    pub interruption_noted: bool,
    /// The kernel's state saved after the step, if it was (the last one written wins).
    pub checkpoint: Option<super::checkpoint::Checkpoint>,
}

/// A `step` line that could not be read, and the step it began when that could be told
/// (from the events and `end` that name it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedStep {
    pub line: usize,
    pub step: Option<u64>,
}

/// One cell of a step, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCell {
    pub code: String,
    pub status: Option<CellStatus>,
    pub duration_ms: f64,
    /// The kernel was replaced just before this cell: earlier Python state was gone.
    pub fresh_kernel: bool,
    pub calls: Vec<(String, Value, crate::event::CallOutcome)>,
    /// Output and value text, in order.
    pub output: String,
    /// The same, per stream, for comparing a re-run with the record.
    pub seen: CellOutput,
}

/// What a cell showed, stream by stream (streams interleave differently from run to run,
/// so they are compared apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellOutput {
    pub stdout: String,
    pub stderr: String,
    pub value: Option<String>,
    pub error: Option<String>,
}

impl CellOutput {
    /// Takes what `event` adds to a cell's output.
    pub fn take(&mut self, event: &Event) {
        match event {
            Event::Output { stream, text, .. } => match stream {
                crate::event::Stream::Stdout => self.stdout.push_str(text),
                crate::event::Stream::Stderr => self.stderr.push_str(text),
            },
            Event::Value { repr, .. } => self.value = Some(repr.clone()),
            Event::Error { ename, message, .. } => {
                self.error = Some(format!("{ename}: {message}"));
            }
            _ => {}
        }
    }

    /// The first difference between what was recorded (`self`) and what a re-run showed,
    /// in words; object addresses (`0x7f…`) are not differences.
    pub fn first_difference(&self, now: &CellOutput) -> Option<String> {
        let parts = [
            ("stdout", Some(&self.stdout), Some(&now.stdout)),
            ("stderr", Some(&self.stderr), Some(&now.stderr)),
            ("value", self.value.as_ref(), now.value.as_ref()),
            ("error", self.error.as_ref(), now.error.as_ref()),
        ];
        for (what, recorded, again) in parts {
            let (r, a) = (
                recorded.map(|t| without_addresses(t)),
                again.map(|t| without_addresses(t)),
            );
            if r == a {
                continue;
            }
            let (r, a) = (r.unwrap_or_default(), a.unwrap_or_default());
            let at = r
                .chars()
                .zip(a.chars())
                .position(|(x, y)| x != y)
                .unwrap_or_else(|| r.chars().count().min(a.chars().count()));
            let around = |t: &str| {
                let from: String = t.chars().skip(at.saturating_sub(20)).collect();
                super::clip(&from, 60)
            };
            return Some(format!(
                "{what} differs at character {}: recorded {:?}, now {:?}",
                at + 1,
                around(&r),
                around(&a)
            ));
        }
        None
    }
}

/// `text` with hexadecimal object addresses (`0x7f3a…`, 6 digits or more) masked.
fn without_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let digits = rest[i + 2..]
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        if digits >= 6 {
            out.push_str("0x…");
        } else {
            out.push_str(&rest[i..i + 2 + digits]);
        }
        rest = &rest[i + 2 + digits..];
    }
    out.push_str(rest);
    out
}

impl Step {
    pub fn id(&self) -> u64 {
        self.begin.step
    }

    pub fn complete(&self) -> bool {
        self.end.is_some()
    }

    /// The cells the step ran, in order, with their host calls.
    pub fn cells(&self) -> Vec<RecordedCell> {
        let mut cells: Vec<RecordedCell> = Vec::new();
        let mut fresh = false;
        let mut current: Option<u64> = None;
        for event in &self.events {
            match event {
                Event::KernelRestarted { .. } => fresh = true,
                Event::CellStarted { cell, code } => {
                    current = Some(*cell);
                    cells.push(RecordedCell {
                        code: code.clone(),
                        status: None,
                        duration_ms: 0.0,
                        fresh_kernel: std::mem::take(&mut fresh),
                        calls: Vec::new(),
                        output: String::new(),
                        seen: CellOutput::default(),
                    });
                }
                _ => {}
            }
            let (Some(cell), Some(last)) = (current, cells.last_mut()) else {
                continue;
            };
            if event.cell() != Some(cell) {
                continue;
            }
            last.seen.take(event);
            match event {
                Event::HostCall {
                    name,
                    args,
                    outcome,
                    ..
                } => last
                    .calls
                    .push((name.clone(), args.clone(), outcome.clone())),
                Event::Output { text, .. } => last.output.push_str(text),
                Event::Value { repr, .. } => {
                    last.output.push_str(repr);
                    last.output.push('\n');
                }
                Event::Error { ename, message, .. } => {
                    last.output.push_str(&format!("{ename}: {message}\n"));
                }
                Event::CellFinished {
                    status,
                    duration_ms,
                    ..
                } => {
                    last.status = Some(*status);
                    last.duration_ms = *duration_ms;
                }
                _ => {}
            }
        }
        cells
    }

    /// The task in words, or the (first) cell's code.
    pub fn title(&self) -> String {
        match &self.begin.task {
            Some(t) => t.clone(),
            None => self
                .events
                .iter()
                .find_map(|e| match e {
                    Event::CellStarted { code, .. } => Some(code.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
        }
    }
}

/// A problem found while reading a log; reading goes on past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogWarning {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LogWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A session log as read from its file.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub path: PathBuf,
    pub header: SessionHeader,
    /// Own steps, in file order.
    pub steps: Vec<Step>,
    /// The step the next one continues from (0: none yet; for a fork: its fork step).
    pub head: u64,
    pub warnings: Vec<LogWarning>,
    /// `step` lines that could not be read: the steps they began are lost, and the steps
    /// continuing from them cannot be rebuilt.
    pub damaged: Vec<DamagedStep>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a session log: its first line must be a `session` line ({message})")]
    NoHeader { path: PathBuf, message: String },
    #[error("{path} uses record format {found}; this mcpr reads format {FORMAT_VERSION}")]
    Format { path: PathBuf, found: u32 },
}

/// How much of each event to bring back. Every level but `Full` skips the events it
/// drops without decoding them (a peek at the line's `type` only), so reading a long log
/// for an overview costs a fraction of reading it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail<'a> {
    /// Everything, with stored strings fetched from the object store.
    Full,
    /// Steps and their code only: events other than cell starts are dropped (what the
    /// index needs).
    Outline,
    /// What a timeline row shows: cell starts (the title), model calls (tokens) and
    /// replay differences.
    Timeline,
    /// Everything for the listed steps, the outline for the others.
    Steps(&'a [u64]),
}

impl Detail<'_> {
    /// Whether an event of type `kind` of step `step` is brought back.
    fn keeps(&self, step: u64, kind: &str) -> bool {
        match self {
            Detail::Full => true,
            Detail::Outline => kind == "cell_started",
            Detail::Timeline => matches!(kind, "cell_started" | "llm_call" | "replay_differed"),
            Detail::Steps(ids) => kind == "cell_started" || ids.contains(&step),
        }
    }
}

impl SessionLog {
    pub fn read(path: &Path, store: &ObjectStore, detail: Detail) -> Result<SessionLog, LogError> {
        let io = |source| LogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        Self::parse(path, &bytes, store, detail)
    }

    fn parse(
        path: &Path,
        bytes: &[u8],
        store: &ObjectStore,
        detail: Detail,
    ) -> Result<SessionLog, LogError> {
        let mut reading = read::Reading::default();
        reading.feed(path, bytes, store, detail)?;
        reading.finish(path)
    }

    /// Interrupted steps not reported yet, as warnings naming their line: a writer says
    /// them once and then appends `interrupted` lines (see `Recorder::open`).
    pub fn unnoted_interruptions(&self) -> Vec<(u64, LogWarning)> {
        self.steps
            .iter()
            .filter(|s| !s.complete() && !s.interruption_noted)
            .map(|s| {
                (
                    s.id(),
                    LogWarning {
                        line: s.line,
                        message: format!(
                            "step {} was interrupted (mcpr stopped before it ended); it stays in the record, marked interrupted, and is never replayed",
                            s.id()
                        ),
                    },
                )
            })
            .collect()
    }

    /// The damaged `step` line that began step `id`, if that is why it is missing.
    pub fn damaged_step(&self, id: u64) -> Option<&DamagedStep> {
        self.damaged.iter().find(|d| d.step == Some(id))
    }

    pub fn step(&self, id: u64) -> Option<&Step> {
        self.steps.iter().find(|s| s.id() == id)
    }

    /// The next free step id (forks number their own steps after their fork point).
    pub fn next_step_id(&self) -> u64 {
        let own = self.steps.iter().map(Step::id).max().unwrap_or(0);
        own.max(self.header.fork.as_ref().map_or(0, |f| f.step)) + 1
    }

    /// Steps no other own step continues from: the ends of the branches.
    pub fn leaves(&self) -> Vec<u64> {
        let complete: Vec<&Step> = self.steps.iter().filter(|s| s.complete()).collect();
        complete
            .iter()
            .filter(|s| !complete.iter().any(|c| c.begin.parent == s.id()))
            .map(|s| s.id())
            .collect()
    }
}

/// Replaces long strings with object references (after redaction).
fn offload(value: Value, store: &ObjectStore, secrets: &Secrets) -> std::io::Result<Value> {
    Ok(match value {
        Value::String(s) if s.len() > INLINE_STRING_MAX => {
            let s = secrets.redact(&s);
            let hash = store.put(s.as_bytes())?;
            serde_json::json!({"$object": hash, "bytes": s.len()})
        }
        Value::String(s) => Value::String(secrets.redact(&s)),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| offload(v, store, secrets).map(|v| (k, v)))
                .collect::<std::io::Result<_>>()?,
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| offload(v, store, secrets))
                .collect::<std::io::Result<_>>()?,
        ),
        other => other,
    })
}

/// Appends lines to one session's log; holds an exclusive lock on it while open.
pub struct LogWriter {
    path: PathBuf,
    file: std::fs::File,
    store: ObjectStore,
    secrets: Secrets,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("could not write the session record {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "session record {path} is in use by another mcpr process; wait for it to finish or use another --session name"
    )]
    Busy { path: PathBuf },
}

impl LogWriter {
    /// Creates a new log with its `session` line; fails if the file exists.
    pub fn create(
        path: &Path,
        header: &SessionHeader,
        store: ObjectStore,
        secrets: Secrets,
    ) -> Result<LogWriter, WriteError> {
        let io = |source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        let mut writer = LogWriter::locked(path, file, store, secrets)?;
        writer.append(&Line::Session(header.clone()))?;
        writer.sync()?;
        if let Some(dir) = path.parent() {
            // The new name must survive a crash too.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(writer)
    }

    /// Opens an existing log for appending. A torn last line is ended with a newline first.
    pub fn open(
        path: &Path,
        store: ObjectStore,
        secrets: Secrets,
    ) -> Result<LogWriter, WriteError> {
        let io = |source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut writer = LogWriter::locked(path, file, store, secrets)?;
        if len > 0 {
            use std::os::unix::fs::FileExt;
            let mut last = [0u8; 1];
            writer.file.read_exact_at(&mut last, len - 1).map_err(io)?;
            if last[0] != b'\n' {
                writer.file.write_all(b"\n").map_err(io)?;
                writer.sync()?;
            }
        }
        Ok(writer)
    }

    fn locked(
        path: &Path,
        file: std::fs::File,
        store: ObjectStore,
        secrets: Secrets,
    ) -> Result<LogWriter, WriteError> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own and keep open; the lock ends when it closes.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.kind() == std::io::ErrorKind::WouldBlock {
                WriteError::Busy {
                    path: path.to_path_buf(),
                }
            } else {
                WriteError::Io {
                    path: path.to_path_buf(),
                    source: err,
                }
            });
        }
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            store,
            secrets,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// The values this writer never writes.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Appends one line (secrets redacted, long strings offloaded); not yet synced.
    pub fn append(&mut self, line: &Line) -> Result<(), WriteError> {
        let io = |source| WriteError::Io {
            path: self.path.clone(),
            source,
        };
        let value = serde_json::to_value(line).map_err(|e| io(std::io::Error::other(e)))?;
        let value = offload(value, &self.store, &self.secrets).map_err(io)?;
        let mut text = serde_json::to_string(&value).map_err(|e| io(std::io::Error::other(e)))?;
        text.push('\n');
        self.file.write_all(text.as_bytes()).map_err(io)
    }

    pub fn append_event(&mut self, step: u64, event: &Event) -> Result<(), WriteError> {
        let event = serde_json::to_value(event).map_err(|e| WriteError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        self.append(&Line::Event { step, event })
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), WriteError> {
        self.file.sync_data().map_err(|source| WriteError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// A fresh session id: 16 hex digits from the time, the process and the name.
pub fn new_session_id(name: &str) -> String {
    let seed = format!(
        "{name}\0{}\0{}",
        jiff::Timestamp::now().as_nanosecond(),
        std::process::id()
    );
    super::objects::sha256_hex(seed.as_bytes())[..16].to_string()
}

pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of two steps, each with a cell start, output and a replay difference, an
    /// event of a step that never began, and a torn last line.
    fn sample(dir: &Path) -> PathBuf {
        let header = r#"{"type":"session","format":1,"id":"i","name":"s","created":"t","base":"b","mcpr":"0"}"#;
        let mut lines = vec![header.to_string()];
        for step in 1..=2u64 {
            lines.push(format!(
                r#"{{"type":"step","step":{step},"parent":{},"kind":"cell","started":"t"}}"#,
                step - 1
            ));
            lines.push(format!(
                r#"{{"type":"event","step":{step},"event":{{"type":"cell_started","cell":1,"code":"x = {step}"}}}}"#
            ));
            lines.push(format!(
                r#"{{"type":"event","step":{step},"event":{{"type":"output","cell":1,"stream":"stdout","text":"out {step}"}}}}"#
            ));
            lines.push(format!(
                r#"{{"type":"event","step":{step},"event":{{"type":"replay_differed","session":"s","step":{step},"cell":1,"difference":"d"}}}}"#
            ));
            lines.push(format!(
                r#"{{"type":"end","step":{step},"success":true,"duration_ms":1.0,"snapshot":"m"}}"#
            ));
        }
        lines.push(
            r#"{"type":"event","step":9,"event":{"type":"output","cell":1,"stream":"stdout","text":"lost"}}"#
                .into(),
        );
        let path = dir.join("s.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    fn kinds(log: &SessionLog, step: u64) -> Vec<&'static str> {
        log.step(step)
            .unwrap()
            .events
            .iter()
            .map(|e| match e {
                Event::CellStarted { .. } => "cell_started",
                Event::Output { .. } => "output",
                Event::ReplayDiffered { .. } => "replay_differed",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn each_level_keeps_its_events_and_still_reports_unknown_steps() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(&tmp.path().join("objects")).unwrap();
        let path = sample(tmp.path());
        let all = ["cell_started", "output", "replay_differed"];
        let read = |detail| SessionLog::read(&path, &store, detail).unwrap();

        let full = read(Detail::Full);
        assert_eq!(kinds(&full, 1), all);
        assert_eq!(kinds(&full, 2), all);

        let outline = read(Detail::Outline);
        assert_eq!(kinds(&outline, 1), ["cell_started"]);

        let timeline = read(Detail::Timeline);
        assert_eq!(kinds(&timeline, 2), ["cell_started", "replay_differed"]);

        let steps = read(Detail::Steps(&[2]));
        assert_eq!(kinds(&steps, 1), ["cell_started"]);
        assert_eq!(kinds(&steps, 2), all);

        // Skipping an event unread must not hide that its step is unknown.
        for log in [full, outline, timeline, steps] {
            assert_eq!(log.head, 2);
            let messages: Vec<&str> = log.warnings.iter().map(|w| w.message.as_str()).collect();
            assert_eq!(
                messages,
                ["event of unknown step 9 skipped"],
                "{messages:?}"
            );
        }
    }
}
