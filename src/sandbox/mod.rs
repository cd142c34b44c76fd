//! The sandbox around a kernel process: isolation level, identity, limits, environment.
//!
//! `none` runs the interpreter as a plain child with rlimits and a cleared environment.
//! `namespaces` runs it under bubblewrap: no network (not even the host's loopback),
//! private PID/IPC/UTS namespaces, a read-only root built from system folders (without
//! /usr/local), the interpreter's prefix, a minimal /etc and the user's
//! `kernel.readonly_paths`, writable only the workspace and a private /tmp, no view of
//! /root or /home, a new session without a controlling terminal, a seccomp filter and no
//! nested user namespaces. `auto` picks the strongest level that works here and says
//! which. This module decides and describes; `backend::subprocess` does the spawning.

mod bwrap;
pub mod confined;
pub mod env;
pub mod etc;
pub mod host_view;
pub mod identity;
pub mod limits;
pub mod seccomp;

pub use bwrap::{BwrapCommand, HOSTNAME, INSIDE_WORKSPACE, PreparedBwrap, keep_across_exec};
pub use host_view::HostView;
pub use limits::Limits;

use serde::{Deserialize, Serialize};
use std::os::unix::process::CommandExt;
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
    /// A hardened container on a Docker engine (the `[docker]` settings).
    Docker,
}

impl IsolationRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationRequest::None => "none",
            IsolationRequest::Namespaces => "namespaces",
            IsolationRequest::Auto => "auto",
            IsolationRequest::Docker => "docker",
        }
    }
}

/// The level in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    None,
    Namespaces,
    Docker,
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isolation::None => "none",
            Isolation::Namespaces => "namespaces",
            Isolation::Docker => "docker",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    #[error("isolation level `docker` runs kernels in containers, not as subprocesses")]
    NotASubprocessLevel,
    #[error(
        "isolation level `namespaces` is not available: {0}. Install bubblewrap (`apt-get install bubblewrap`), or run with `--isolation none` to accept an unisolated kernel"
    )]
    NamespacesUnavailable(String),
    #[error("kernel.readonly_paths: {path} {problem}. Fix the path or remove it from mcpr.toml")]
    ReadonlyPath { path: PathBuf, problem: String },
    #[error(
        "could not prepare the sandbox's files ({0}); check that /proc and memfd_create work here"
    )]
    Prepare(String),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
}

/// Checks `kernel.readonly_paths`: absolute, present, and not where the sandbox mounts
/// its own folders.
pub fn check_readonly_paths(paths: &[PathBuf]) -> Result<(), SandboxError> {
    for path in paths {
        if let Some(problem) = host_view::readonly_path_problem(path) {
            return Err(SandboxError::ReadonlyPath {
                path: path.clone(),
                problem,
            });
        }
    }
    Ok(())
}

/// What this machine offers for isolation, probed once per process.
#[derive(Debug, Clone)]
pub struct SandboxProbe {
    pub bwrap: Option<PathBuf>,
    pub bwrap_version: Option<String>,
    /// Ok when a trial sandbox with all namespaces ran; otherwise why not.
    pub namespaces: Result<(), String>,
    /// Ok when a trial sandbox loaded the seccomp filter; otherwise why not.
    pub seccomp: Result<(), String>,
    /// bwrap's `--disable-userns` worked in a trial sandbox (never tried as root, where
    /// the sandbox has no user namespace of its own).
    pub disable_userns: bool,
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
        let Some(b) = &bwrap else {
            let missing = "bubblewrap (bwrap) is not installed".to_string();
            return SandboxProbe {
                bwrap,
                bwrap_version,
                namespaces: Err(missing.clone()),
                seccomp: Err(missing),
                disable_userns: false,
                running_as_root,
            };
        };
        let filter = seccomp::program().map_err(|e| e.to_string());
        let with = |filter: Option<&'static [u8]>, disable_userns: bool| Trial {
            bwrap: b,
            as_root: running_as_root,
            filter,
            disable_userns,
        };
        let full = with(filter.as_ref().ok().copied(), !running_as_root).run();
        // Everything works (the usual case), or find out which part does not.
        let (namespaces, seccomp, disable_userns) = if full.is_ok() && filter.is_ok() {
            (Ok(()), Ok(()), !running_as_root)
        } else {
            let namespaces = with(None, false).run();
            let seccomp = match (&namespaces, &filter) {
                (Err(_), _) => Err("no sandbox to load it in".to_string()),
                (Ok(()), Err(why)) => Err(why.clone()),
                (Ok(()), Ok(program)) => with(Some(*program), false).run(),
            };
            let disable_userns =
                namespaces.is_ok() && !running_as_root && with(None, true).run().is_ok();
            (namespaces, seccomp, disable_userns)
        };
        SandboxProbe {
            bwrap,
            bwrap_version,
            namespaces,
            seccomp,
            disable_userns,
            running_as_root,
        }
    }

    pub fn resolve(&self, request: IsolationRequest) -> Result<Isolation, SandboxError> {
        match (request, &self.namespaces) {
            (IsolationRequest::None, _) => Ok(Isolation::None),
            // Containers are the Docker backend's; a subprocess cannot provide them.
            (IsolationRequest::Docker, _) => Err(SandboxError::NotASubprocessLevel),
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

/// A trial sandbox running `/bin/true`, with or without the filter and `--disable-userns`.
struct Trial<'a> {
    bwrap: &'a std::path::Path,
    as_root: bool,
    filter: Option<&'a [u8]>,
    disable_userns: bool,
}

impl Trial<'_> {
    fn run(&self) -> Result<(), String> {
        let mut cmd = Command::new(self.bwrap);
        cmd.args(["--ro-bind", "/", "/", "--die-with-parent", "--new-session"])
            .args([
                "--unshare-net",
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
            ])
            .args(["--proc", "/proc", "--dev", "/dev"]);
        if !self.as_root {
            cmd.arg("--unshare-user");
            if self.disable_userns {
                cmd.arg("--disable-userns");
            }
        }
        let filter_fd = match self.filter {
            Some(program) => Some(
                bwrap::data_fd("mcpr-seccomp", program)
                    .map_err(|e| format!("could not hand the seccomp filter to bwrap: {e}"))?,
            ),
            None => None,
        };
        let inherit: Vec<std::os::fd::RawFd> = filter_fd
            .iter()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .collect();
        if let Some(fd) = inherit.first() {
            cmd.arg("--seccomp").arg(fd.to_string());
        }
        // SAFETY: the closure only clears close-on-exec flags (fcntl), async-signal-safe.
        unsafe {
            cmd.pre_exec(move || keep_across_exec(&inherit));
        }
        let out = cmd
            .args(["--", "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run {}: {e}", self.bwrap.display()))?;
        drop(filter_fd);
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
}
