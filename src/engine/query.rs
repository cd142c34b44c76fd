//! Queries a front end makes, as library calls returning serialisable data.
//!
//! Over the session record (`.replay/`):
//! - [`step_view`], [`history`]: one recorded step, or a session's steps up to one, in
//!   one shape ([`StepView`]) everywhere (`mcpr replay show`, `--json`, the console);
//! - [`timeline`]: a session's steps as a tree across its rewinds and forks ([`Timeline`]);
//! - [`diff`]: two sessions or branches compared step by step, line diffs included
//!   ([`Diff`]; references parsed by [`StepRef::parse`]);
//! - [`step_details`], [`rewind_plan`]: steps a front end browses (with the files each
//!   changed), and what a rewind would re-run and serve, counted before it runs;
//! - [`sessions`], [`search`]: the index's rows, with what refreshing the index found.
//!
//! Over the skill library ([`skills`]) and the configured MCP servers ([`tools`]).
//!
//! Nothing here prints: warnings a query meets come back in its result, and failures as
//! a [`QueryError`], whose [`QueryError::is_usage`] tells a front end whether the request
//! named something that is not there (the CLI's exit code 2) or something went wrong.

mod diff;
mod focus;
mod sessions;
pub mod skills;
mod steps;
mod timeline;
pub mod tools;

pub use diff::{Diff, DiffLine, DiffRow, DiffTag, StepRef, diff};
pub use focus::{Change, FileChange, RewindPlan, StepDetail, rewind_plan, step_details};
pub use sessions::{IndexNotes, SearchResults, Sessions, UnreadableLog, search, sessions};
pub use steps::{CallView, CellView, History, StepStatus, StepView, history, step_view};
pub use timeline::{
    CellDifference, NodeRef, Relation, Timeline, TimelineNode, TimelineSession, timeline,
};

use std::path::PathBuf;

use crate::record::log::LogError;
use crate::record::recorder::RecordError;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The record holds no session of that name.
    #[error("no session named {name:?} in {dir} (see `mcpr replay list`)")]
    NoSession { name: String, dir: PathBuf },
    /// The session has no such step (or none that can be used); `hint` says more.
    #[error("session {session} has no step {step}{hint}")]
    NoStep {
        session: String,
        step: u64,
        hint: String,
    },
    /// A step reference (`NAME` or `NAME@STEP`) that does not read as one.
    #[error("{spec:?}: {why}")]
    BadStepRef { spec: String, why: String },
    /// A log that cannot be read as a session record, or a step that cannot be rebuilt
    /// because a line it depends on is damaged; the message says what to do.
    #[error("{0}")]
    Damaged(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// An index (the record's or the skill library's) could not be used.
    #[error("{0}")]
    Sqlite(String),
    /// No skill (or removed skill) of that name; the message names what there is.
    #[error("{0}")]
    NoSkill(String),
    /// The skill library could not be used (its folder, stats or analyser).
    #[error("{0}")]
    Skills(String),
    /// No such MCP server or tool, or a bare tool name several servers have. `warnings`:
    /// servers that could not be asked while looking (their tools may be the one meant).
    #[error("{message}")]
    NoTool {
        message: String,
        warnings: Vec<String>,
    },
    /// An MCP server could not be started, listed or called.
    #[error("{0}")]
    Tools(String),
}

impl QueryError {
    /// The request named something that is not there, or is malformed: the user's
    /// mistake (exit code 2 in the CLI), not a failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            QueryError::NoSession { .. }
                | QueryError::NoStep { .. }
                | QueryError::BadStepRef { .. }
                | QueryError::NoSkill(_)
                | QueryError::NoTool { .. }
        )
    }
}

impl From<RecordError> for QueryError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::NoSession { name, dir } => QueryError::NoSession { name, dir },
            RecordError::NoStep {
                session,
                step,
                hint,
            } => QueryError::NoStep {
                session,
                step,
                hint,
            },
            e @ RecordError::Damaged { .. } => QueryError::Damaged(e.to_string()),
            RecordError::Log(e) => e.into(),
            other => QueryError::Io(other.to_string()),
        }
    }
}

impl From<LogError> for QueryError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Io { .. } => QueryError::Io(e.to_string()),
            LogError::NoHeader { .. } | LogError::Format { .. } => {
                QueryError::Damaged(e.to_string())
            }
        }
    }
}

impl From<crate::skills::SkillError> for QueryError {
    fn from(e: crate::skills::SkillError) -> Self {
        use crate::skills::SkillError as E;
        match e {
            E::NotFound(message) => QueryError::NoSkill(message),
            e @ E::Index { .. } => QueryError::Sqlite(e.to_string()),
            other => QueryError::Skills(other.to_string()),
        }
    }
}
