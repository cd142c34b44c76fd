//! The one event vocabulary: everything a cell does, as serde values.
//!
//! The CLI's live output and `--json` lines, and later the agent loop, replay record,
//! TUI and server, all consume these same values, so recording a session and showing
//! it are the same data. Events are plain data: this module never performs I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

use crate::llm::{ChatMessage, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Ok,
    /// The cell raised an exception (including SyntaxError).
    Error,
    /// The cell ran past its time limit.
    Timeout,
    /// The host cancelled the cell.
    Cancelled,
    /// The kernel process died while running the cell; its state is gone.
    KernelDied,
}

impl CellStatus {
    pub fn is_success(self) -> bool {
        self == CellStatus::Ok
    }
}

/// Output that went past the inline cap and was written to a file in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overflow {
    pub stream: Stream,
    /// Path relative to the session workspace (the kernel's working directory).
    pub path: PathBuf,
    /// Total bytes of that stream in this cell, the inline part included.
    pub bytes: u64,
    /// Bytes dropped because even the overflow file reached its limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Result of a host call as seen from the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok(Value),
    Error { kind: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A session began (or continued) in a new mcpr process.
    SessionStarted {
        session: String,
        /// The session's workspace folder on the host.
        workspace: PathBuf,
        /// The isolation in force, in words.
        isolation: String,
        python: String,
        /// The kernel was taken ready from a warm pool (false: started cold).
        #[serde(default)]
        warm: bool,
    },
    /// A fresh kernel replaced one that died or timed out; earlier state is lost.
    KernelRestarted {
        reason: String,
    },
    /// A replayed cell showed other output, value or error than the record holds: its
    /// code is not deterministic, and the state it left may differ from the original.
    ReplayDiffered {
        session: String,
        step: u64,
        /// 1-based position of the cell within its step.
        cell: u64,
        difference: String,
    },
    CellStarted {
        cell: u64,
        code: String,
    },
    Output {
        cell: u64,
        stream: Stream,
        text: String,
    },
    /// A host call (a tool, `ask_llm`, …) the cell made is starting; `HostCall` with the
    /// same `id` ends it.
    CallStarted {
        cell: u64,
        id: u64,
        name: String,
        args: Value,
    },
    HostCall {
        cell: u64,
        /// The id its `CallStarted` carried (0 in records made before ids existed).
        #[serde(default)]
        id: u64,
        name: String,
        args: Value,
        outcome: CallOutcome,
        duration_ms: f64,
    },
    /// The value of the cell's final expression: its repr, and the data itself when it
    /// is JSON-serialisable.
    Value {
        cell: u64,
        repr: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        json: Option<Value>,
    },
    Error {
        cell: u64,
        ename: String,
        message: String,
        /// Formatted traceback; line numbers are the cell's own, runtime frames hidden.
        traceback: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<u32>,
    },
    CellFinished {
        cell: u64,
        status: CellStatus,
        duration_ms: f64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        overflow: Vec<Overflow>,
    },
    /// The agent took a task in plain words.
    StepStarted {
        step: u64,
        task: String,
    },
    /// A piece of the model's answer as it streams in.
    LlmToken {
        step: u64,
        text: String,
    },
    /// One complete exchange with the model: for code, or for `ask_llm` from code.
    LlmCall {
        step: u64,
        purpose: LlmPurpose,
        provider: String,
        model: String,
        request: Vec<ChatMessage>,
        response: String,
        usage: Usage,
        duration_ms: f64,
        attempts: u32,
    },
    /// The model failed to answer (after its retries).
    LlmFailed {
        step: u64,
        purpose: LlmPurpose,
        message: String,
    },
    /// Something the user should know about a step that is not an error of its own, e.g.
    /// an MCP server too slow to be asked for the tools the prompt suggests.
    Notice {
        /// The step it concerns; 0 for the session as a whole.
        step: u64,
        #[serde(default)]
        level: NoticeLevel,
        message: String,
    },
    /// A tool call waits for the user's approval (the policy says to ask); answer with
    /// the engine's `Op::Approve` and the request's id.
    ApprovalRequested(crate::tools::policy::ApprovalRequest),
    /// The answer to an approval request.
    ApprovalAnswered {
        id: u64,
        decision: crate::tools::policy::Decision,
    },
    /// The session waits for the code of a step's next answer (manual mode: the user is
    /// the model); answer with the code, or an empty answer to end the step.
    CodeRequested {
        step: u64,
        /// What the model would have been told last.
        prompt: String,
    },
    /// A step's end and the workspace's snapshot are in the record.
    StepRecorded {
        session: String,
        step: u64,
        success: bool,
    },
    /// The session's head moved (a rewind): the next step continues from `step`.
    HeadMoved {
        session: String,
        step: u64,
    },
    /// Rebuilding state from the record: cells re-run and recorded calls served so far.
    ReplayProgress {
        session: String,
        step: u64,
        cells: u64,
        calls_served: u64,
    },
    /// How the state after `step` was obtained when a session was continued or rewound:
    /// from a saved checkpoint (with `cells` re-run to re-create `recreated`, and the
    /// steps after the checkpoint replayed), or by replaying `cells` cells. `fallback`
    /// says why a checkpoint that existed was not used.
    StateRestored {
        session: String,
        step: u64,
        source: RestoreSource,
        /// The step whose checkpoint was used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checkpoint: Option<u64>,
        cells: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recreated: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fallback: Option<String>,
        duration_ms: f64,
        /// The state was loaded into a kernel taken ready from a warm pool (false: one
        /// started cold, or a live copy woken).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        warm: bool,
    },
    /// What was kept of the state after `step`: a saved checkpoint in the record, and the
    /// steps with a live checkpoint now (with the memory their copies hold: the sum of
    /// their proportional set sizes, as last measured; and the copies just ended to stay
    /// within the bounds).
    CheckpointKept {
        session: String,
        step: u64,
        saved: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        live: Vec<u64>,
        #[serde(default, alias = "live_private_bytes")]
        live_bytes: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evicted: Vec<u64>,
    },
    /// An operation given to a session's owner ended (op 0: opening the session). On an
    /// error the session goes on (except when opening failed); `usage` says the error was
    /// the user's mistake rather than a failure.
    OpEnded {
        op: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        usage: bool,
        /// The error was a replay that parted from the record: where and how, for a front
        /// end to show the recorded step beside what happened.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diverged: Option<crate::record::replay::Divergence>,
    },
    /// The session continues as `session`, a new branch of `from` at `step`.
    Forked {
        from: String,
        step: u64,
        session: String,
    },
    /// Code taken from the model's answer, about to run.
    CodeGenerated {
        step: u64,
        attempt: u32,
        code: String,
    },
    StepFinished(StepSummary),
    /// The names in the kernel's namespace, as `Op::Inspect` found them (never recorded:
    /// looking changes nothing).
    Variables {
        variables: Vec<Variable>,
    },
}

/// A name in the kernel's namespace, described without holding the kernel for long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    /// The value's type, e.g. `dict` or `DataFrame`.
    pub type_name: String,
    /// `len()` where the value has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// A short repr (bounded).
    pub repr: String,
    /// A longer repr (bounded too).
    pub long_repr: String,
}

/// The outcome kind of a host call still running when its cell ended: shown so that a
/// call seen starting also ends, never recorded (its result reached nobody).
pub const ABANDONED: &str = "abandoned";

/// How much a notice matters.
/// Where a rebuilt state came from (see `Event::StateRestored`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreSource {
    /// A frozen copy of the kernel kept by this process.
    Live,
    /// A checkpoint saved in the record.
    Saved,
    /// Re-running the recorded cells.
    Replay,
}

impl RestoreSource {
    /// The words a front end shows, given the cells re-run and the checkpoint's step.
    pub fn describe(self, cells: u64, checkpoint: Option<u64>, recreated: &[String]) -> String {
        let at = checkpoint
            .map(|s| format!(" of step {s}"))
            .unwrap_or_default();
        let mut text = match self {
            RestoreSource::Live => format!("from the live checkpoint{at}"),
            RestoreSource::Saved => format!("from the saved checkpoint{at}"),
            RestoreSource::Replay => format!("by replay of {cells} cell(s)"),
        };
        if self != RestoreSource::Replay && cells > 0 {
            text.push_str(&format!(" and replay of {cells} cell(s)"));
        }
        if !recreated.is_empty() {
            text.push_str(&format!("; re-created by replay: {}", recreated.join(", ")));
        }
        text
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    #[default]
    Info,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmPurpose {
    Code,
    AskLlm,
}

/// How a step went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub step: u64,
    pub success: bool,
    /// The model's final words, when it answered without code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// What the last run printed (bounded), value included.
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub attempts: u32,
    pub llm_calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub llm_ms: f64,
    pub exec_ms: f64,
    /// Skills the step's code imported (from any attempt that ran).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_used: Vec<String>,
    /// Skills made from the step's code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills_created: Vec<String>,
    /// Why the step's code was not kept as a skill (when a library was offered it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_not_kept: Option<String>,
    /// The step ended with an answer and no code ran (even after being asked for code):
    /// nothing computed the answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered_without_code: bool,
    /// The step was cancelled (during the model's answer or a cell) before it ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

impl Event {
    /// A notice about the session as a whole (not one step).
    pub fn notice(level: NoticeLevel, message: impl Into<String>) -> Event {
        Event::Notice {
            step: 0,
            level,
            message: message.into(),
        }
    }

    /// Whether the session record keeps this event: streamed tokens, calls in flight and
    /// the record's own lifecycle are left out (the complete exchange, the call's end and
    /// the step lines hold what they said).
    pub fn recorded(&self) -> bool {
        if let Event::HostCall {
            outcome: CallOutcome::Error { kind, .. },
            ..
        } = self
        {
            return kind != ABANDONED;
        }
        !matches!(
            self,
            Event::LlmToken { .. }
                | Event::CallStarted { .. }
                | Event::CodeRequested { .. }
                | Event::StepRecorded { .. }
                | Event::HeadMoved { .. }
                | Event::ReplayProgress { .. }
                | Event::StateRestored { .. }
                | Event::CheckpointKept { .. }
                | Event::Forked { .. }
                | Event::OpEnded { .. }
                | Event::SessionStarted { .. }
                | Event::Variables { .. }
        )
    }

    /// The cell this event belongs to, if any.
    pub fn cell(&self) -> Option<u64> {
        match self {
            Event::SessionStarted { .. }
            | Event::KernelRestarted { .. }
            | Event::ReplayDiffered { .. }
            | Event::StepStarted { .. }
            | Event::LlmToken { .. }
            | Event::LlmCall { .. }
            | Event::LlmFailed { .. }
            | Event::Notice { .. }
            | Event::CodeRequested { .. }
            | Event::ApprovalRequested(_)
            | Event::ApprovalAnswered { .. }
            | Event::StepRecorded { .. }
            | Event::HeadMoved { .. }
            | Event::ReplayProgress { .. }
            | Event::StateRestored { .. }
            | Event::CheckpointKept { .. }
            | Event::Forked { .. }
            | Event::OpEnded { .. }
            | Event::CodeGenerated { .. }
            | Event::StepFinished(_)
            | Event::Variables { .. } => None,
            Event::CellStarted { cell, .. }
            | Event::Output { cell, .. }
            | Event::CallStarted { cell, .. }
            | Event::HostCall { cell, .. }
            | Event::Value { cell, .. }
            | Event::Error { cell, .. }
            | Event::CellFinished { cell, .. } => Some(*cell),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_type_tag() {
        let e = Event::Output {
            cell: 3,
            stream: Stream::Stderr,
            text: "x".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "output");
        assert_eq!(json["stream"], "stderr");
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
