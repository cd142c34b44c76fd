//! What a session should be, as plain data: every front end fills one in (the CLI from
//! its shared flags), and [`SessionSpec::check`] says what is wrong before anything starts.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::sandbox::IsolationRequest;

/// Which model writes the code of task steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// `openai`, `manual` (the user types the code), or `script:FILE`; None: chosen as
    /// `mcpr doctor` explains.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
}

impl ModelSpec {
    /// Whether anything was asked for (else a cells-only session picks no model).
    pub fn is_given(&self) -> bool {
        self.provider.is_some() || self.model.is_some() || self.base_url.is_some()
    }
}

/// How the session begins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Start {
    /// A session with a new name.
    #[default]
    New,
    /// Continue session `name` where its record's head is (created when it has none).
    Continue { name: String },
    /// Continue session `name` from its step `step`: the state after that step is
    /// rebuilt (files restored to it, nothing external called) and the head moves there;
    /// later steps stay in the record as a branch.
    Rewind { name: String, step: u64 },
    /// Branch a new session off `from` at `step` and continue in it.
    Fork {
        from: String,
        step: u64,
        /// Default: `FROM-fork-N`.
        name: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSpec {
    pub start: Start,
    /// Default: mcpr.toml, else the strongest isolation available.
    pub isolation: Option<IsolationRequest>,
    /// Wall-clock limit per cell in seconds (0 = none); default: mcpr.toml.
    pub timeout_seconds: Option<f64>,
    /// MCP servers (default: .mcp.json, then ~/.config/mcpr/mcp.json).
    pub mcp_config: Option<PathBuf>,
    /// The model; chosen when the session opens if `need_model`, or if anything is given.
    pub model: ModelSpec,
    /// Choose a model when the session opens (sessions that run tasks).
    pub need_model: bool,
    /// Offer the project's skills, and keep working task code as new skills.
    pub skills: bool,
    /// Tries per task (1 to 20); default: mcpr.toml.
    pub max_attempts: Option<u32>,
    /// A large input the code reads as `CONTEXT_DATA`.
    pub context: Option<PathBuf>,
    /// Tool-call policy overrides, `SERVER[.TOOL]=allow|ask|deny`.
    pub tool_policy: Vec<String>,
    /// Someone can answer approval requests and typed-code requests.
    pub interactive: bool,
    /// Keep live checkpoints (frozen copies of the kernel) for fast rewinds and forks:
    /// the console, `mcpr serve` and `mcpr run`. `[checkpoints] live` in mcpr.toml can
    /// turn them off.
    #[serde(default)]
    pub live_checkpoints: bool,
}

impl Default for SessionSpec {
    fn default() -> Self {
        Self {
            start: Start::New,
            isolation: None,
            timeout_seconds: None,
            mcp_config: None,
            model: ModelSpec::default(),
            need_model: false,
            skills: true,
            max_attempts: None,
            context: None,
            tool_policy: Vec::new(),
            interactive: false,
            live_checkpoints: false,
        }
    }
}

/// A setting of the spec that cannot work, and what to give instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("--timeout must be a number of seconds from 0 (no limit) to {max}, got {got}")]
    Timeout { got: f64, max: f64 },
    #[error("--max-attempts must be from 1 to 20, got {0}")]
    MaxAttempts(u32),
    #[error("--context {0}: no such file")]
    NoContextFile(PathBuf),
    #[error("{0}")]
    SessionName(String),
    #[error("cannot fork at step 0: steps start at 1")]
    ForkAtZero,
    #[error("cannot continue from step 0: steps start at 1")]
    RewindToZero,
}

impl SessionSpec {
    /// The first setting that cannot work, if any (files are checked to exist).
    pub fn check(&self) -> Result<(), SpecError> {
        if let Some(t) = self.timeout_seconds
            && !(0.0..=crate::project::MAX_SECONDS).contains(&t)
        {
            return Err(SpecError::Timeout {
                got: t,
                max: crate::project::MAX_SECONDS,
            });
        }
        if let Some(n) = self.max_attempts
            && !(1..=20).contains(&n)
        {
            return Err(SpecError::MaxAttempts(n));
        }
        if let Some(file) = &self.context
            && !file.is_file()
        {
            return Err(SpecError::NoContextFile(file.clone()));
        }
        let name = |n: &str| {
            crate::project::validate_session_name(n)
                .map_err(|e| SpecError::SessionName(e.to_string()))
        };
        match &self.start {
            Start::New => {}
            Start::Continue { name: n } => name(n)?,
            Start::Rewind { name: n, step } => {
                name(n)?;
                if *step == 0 {
                    return Err(SpecError::RewindToZero);
                }
            }
            Start::Fork {
                from,
                step,
                name: n,
            } => {
                name(from)?;
                if let Some(n) = n {
                    name(n)?;
                }
                if *step == 0 {
                    return Err(SpecError::ForkAtZero);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_name_the_flag_and_the_range() {
        let spec = SessionSpec {
            timeout_seconds: Some(-1.0),
            ..SessionSpec::default()
        };
        assert!(spec.check().unwrap_err().to_string().contains("--timeout"));
        let spec = SessionSpec {
            max_attempts: Some(0),
            ..SessionSpec::default()
        };
        assert_eq!(
            spec.check().unwrap_err().to_string(),
            "--max-attempts must be from 1 to 20, got 0"
        );
        let spec = SessionSpec {
            start: Start::Continue { name: "a/b".into() },
            ..SessionSpec::default()
        };
        assert!(matches!(spec.check(), Err(SpecError::SessionName(_))));
        assert!(SessionSpec::default().check().is_ok());
    }
}
