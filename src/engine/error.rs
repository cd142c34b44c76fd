//! The engine's typed errors: what went wrong opening or driving a session, with the
//! message a person needs and a [`EngineError::is_usage`] test that front ends use to
//! tell the user's mistakes (exit 2 in the CLI) from failures.

use std::path::PathBuf;

use crate::record::recorder::RecordError;
use crate::record::replay::ReplayError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A setting of the session spec is out of range or contradicts another.
    #[error("{0}")]
    Spec(#[from] super::spec::SpecError),
    /// The project (mcpr.toml, session names, folders).
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
    /// The MCP configuration cannot be read or is invalid.
    #[error(transparent)]
    McpConfig(#[from] crate::tools::config::ConfigError),
    /// No model could be chosen as asked (unknown provider, unreadable script, …).
    #[error("{0}")]
    ModelChoice(String),
    /// The model was chosen but cannot be reached or used.
    #[error("{0}")]
    Model(crate::llm::LlmError),
    /// The interpreter or the sandbox cannot start kernels.
    #[error(transparent)]
    Setup(#[from] crate::session::SetupError),
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// The session's startup code failed in the kernel.
    #[error(transparent)]
    Startup(#[from] crate::session::StartupFailed),
    /// The `--context` file.
    #[error("--context {path}: {why}")]
    Context { path: PathBuf, why: String },
    /// Host files the session needs (tools package, skills package, workspace).
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The session record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The recorded state cannot be rebuilt.
    #[error("{message}")]
    Replay {
        message: String,
        #[source]
        source: ReplayError,
    },
    /// The session's owner task is gone (it ended or panicked).
    #[error("the session has ended")]
    Closed,
    /// A tool-policy override (`--tool-policy`) is malformed.
    #[error(transparent)]
    Policy(#[from] crate::tools::policy::PolicyError),
    /// An approval answer for a request that is not waiting.
    #[error("no tool call waits for approval {0} (it was answered, or its cell ended)")]
    NoApproval(u64),
    /// The kernel's names could not be listed (no kernel, or it did not answer in time).
    #[error("{0}")]
    Inspect(String),
    /// A manual answer came, and the session's model is not the user.
    #[error(
        "this session's code comes from a model, not from you: answers are for manual mode (`--llm manual`)"
    )]
    NotManual,
}

impl EngineError {
    /// The user's mistake (a bad flag, a missing session or step), as opposed to a failure.
    pub fn is_usage(&self) -> bool {
        use RecordError as R;
        matches!(
            self,
            EngineError::Spec(_)
                | EngineError::Project(_)
                | EngineError::McpConfig(_)
                | EngineError::ModelChoice(_)
                | EngineError::NotManual
                | EngineError::Policy(_)
                | EngineError::NoApproval(_)
                | EngineError::Context { .. }
                | EngineError::Record(R::NoSession { .. } | R::NoStep { .. } | R::Exists { .. })
        )
    }

    /// Where a replay parted from the record, when that is what this error is.
    pub fn divergence(&self) -> Option<&crate::record::replay::Divergence> {
        match self {
            EngineError::Replay {
                source: ReplayError::Diverged(d),
                ..
            } => Some(d),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> EngineError {
        EngineError::Io {
            what: what.into(),
            source,
        }
    }

    /// A replay that could not rebuild `name`'s state, with the way out.
    pub(crate) fn replay(name: &str, source: ReplayError) -> EngineError {
        let message = match &source {
            ReplayError::Diverged(d) => format!(
                "{d}\nThe recorded state of session {name} cannot be rebuilt exactly. Go back to an earlier step with `mcpr replay rewind {name} STEP`, or branch off with `mcpr fork {name} STEP`.",
            ),
            other => other.to_string(),
        };
        EngineError::Replay { message, source }
    }
}
