//! Backends start kernel processes; the kernel protocol on top is the same for all.
//!
//! A backend turns a [`LaunchSpec`] into a running process with three byte streams
//! (protocol in, protocol out, diagnostics) and a handle to kill it and learn how it
//! ended. The subprocess backend runs a child process (optionally under bubblewrap); the
//! Docker backend runs a hardened container and speaks the same protocol over its
//! attached stdin/stdout.

pub mod docker;
pub mod subprocess;

use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::kernel::ExitInfo;
use crate::python::PythonInfo;
use crate::sandbox::{Isolation, Limits};

pub use docker::DockerBackend;
pub use subprocess::SubprocessBackend;

/// What to start: the same for every backend.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub python: PythonInfo,
    /// Host folder that becomes the kernel's working directory and HOME.
    pub workspace: PathBuf,
    pub limits: Limits,
    pub max_frame: usize,
    /// Host environment variables to pass through besides the built-in allowlist.
    pub env_passthrough: Vec<String>,
    /// Host folders to expose read-only inside: (host path, path inside the sandbox).
    pub readonly_mounts: Vec<(PathBuf, PathBuf)>,
    /// Host paths exposed read-only at the same path (`kernel.readonly_paths`).
    pub readonly_paths: Vec<PathBuf>,
}

pub struct Launched {
    pub stdin: Box<dyn AsyncWrite + Send + Unpin>,
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    pub stderr: Box<dyn AsyncRead + Send + Unpin>,
    pub process: Box<dyn KernelProcess>,
    /// One line on how this kernel is isolated, for `doctor` and notices.
    pub description: String,
    /// The process mcpr started, as the host sees it (None where there is no host pid).
    pub host_pid: Option<u32>,
}

/// Copies a kernel's workspace back to the host; `Ok` carries what was not copied.
pub type SyncFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<String>, String>> + Send>>;

pub trait KernelProcess: Send + Sync {
    /// Kills the kernel and everything it started. Idempotent.
    fn kill(&self);
    /// Becomes `Some` once the process has exited.
    fn exit(&self) -> watch::Receiver<Option<ExitInfo>>;
    /// For a kernel whose workspace is a copy (a container on another engine), the copy
    /// back to the host's workspace, run at each step boundary; None when the kernel
    /// writes the host's workspace itself.
    fn sync_workspace(&self) -> Option<SyncFuture> {
        None
    }
    /// For such a kernel, the copy of what the host changed in the workspace since the
    /// last copy (a hand-over from a pool, a rewind, hand-made changes), run before each
    /// cell; None when the kernel sees the host's workspace itself.
    fn refresh_workspace(&self) -> Option<SyncFuture> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("could not start the kernel process ({program}): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("could not prepare the kernel runtime or workspace: {0}")]
    Prepare(#[from] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error(transparent)]
    Engine(#[from] docker::EngineError),
}

pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    fn isolation(&self) -> Isolation;
    /// Starts one kernel process. Must not block for long: it only spawns.
    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError>;
}
