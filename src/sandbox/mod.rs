//! The sandbox around a kernel process: isolation level, identity, limits, environment.
//!
//! `none` runs the interpreter as a plain child with rlimits and a cleared environment.
//! `namespaces` runs it under bubblewrap: no network (not even the host's loopback),
//! private PID/IPC/UTS namespaces, a read-only root built from system folders and the
//! interpreter's prefix, writable only the workspace and a private /tmp, no view of
//! /root or /home, a new session without a controlling terminal. `auto` picks the
//! strongest level that works here and says which. This module decides and describes;
//! `backend::subprocess` does the spawning.

mod bwrap;
pub mod confined;
pub mod env;
pub mod identity;
pub mod limits;

pub use bwrap::{BwrapCommand, INSIDE_WORKSPACE};
pub use limits::Limits;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The level a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IsolationRequest {
    None,
    Namespaces,
    #[default]
    Auto,
}

impl IsolationRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationRequest::None => "none",
            IsolationRequest::Namespaces => "namespaces",
            IsolationRequest::Auto => "auto",
        }
    }
}

/// The level in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    None,
    Namespaces,
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isolation::None => "none",
            Isolation::Namespaces => "namespaces",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "isolation level `namespaces` is not available: {0}. Install bubblewrap (`apt-get install bubblewrap`), or run with `--isolation none` to accept an unisolated kernel"
    )]
    NamespacesUnavailable(String),
}

/// What this machine offers for isolation, probed once per process.
#[derive(Debug, Clone)]
pub struct SandboxProbe {
    pub bwrap: Option<PathBuf>,
    pub bwrap_version: Option<String>,
    /// Ok when a trial sandbox with all namespaces ran; otherwise why not.
    pub namespaces: Result<(), String>,
    pub running_as_root: bool,
}

impl SandboxProbe {
    pub fn get() -> &'static SandboxProbe {
        static PROBE: OnceLock<SandboxProbe> = OnceLock::new();
        PROBE.get_or_init(SandboxProbe::run)
    }

    fn run() -> SandboxProbe {
        let running_as_root = nix::unistd::geteuid().is_root();
        let bwrap = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        let bwrap_version = bwrap.as_ref().and_then(|b| {
            let out = Command::new(b).arg("--version").output().ok()?;
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
        });
        let namespaces = match &bwrap {
            None => Err("bubblewrap (bwrap) is not installed".to_string()),
            Some(b) => trial_sandbox(b, running_as_root),
        };
        SandboxProbe {
            bwrap,
            bwrap_version,
            namespaces,
            running_as_root,
        }
    }

    pub fn resolve(&self, request: IsolationRequest) -> Result<Isolation, SandboxError> {
        match (request, &self.namespaces) {
            (IsolationRequest::None, _) => Ok(Isolation::None),
            (IsolationRequest::Namespaces | IsolationRequest::Auto, Ok(())) => {
                Ok(Isolation::Namespaces)
            }
            (IsolationRequest::Auto, Err(_)) => Ok(Isolation::None),
            (IsolationRequest::Namespaces, Err(why)) => {
                Err(SandboxError::NamespacesUnavailable(why.clone()))
            }
        }
    }
}

fn trial_sandbox(bwrap: &std::path::Path, as_root: bool) -> Result<(), String> {
    let mut cmd = Command::new(bwrap);
    cmd.args(["--ro-bind", "/", "/", "--die-with-parent", "--new-session"])
        .args([
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
        ])
        .args(["--proc", "/proc", "--dev", "/dev"]);
    if !as_root {
        cmd.arg("--unshare-user");
    }
    let out = cmd
        .args(["--", "/bin/true"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", bwrap.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "a trial sandbox failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
