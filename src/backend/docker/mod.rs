//! The Docker backend: each kernel in a hardened container of its own, started through
//! the Engine API (bollard), the kernel protocol over the container's attached
//! stdin/stdout, on one engine or on several as one pool.
//!
//! `launch` only sets up in-memory pipes and spawns a task; the task places the kernel
//! on an engine (see `placement`), connects (sweeping orphans of dead mcpr processes on
//! each new connection), creates, attaches and starts the container, fills its workspace
//! when the engine cannot bind this host's folder (see `sync`), pumps bytes between the
//! pipes and the attachment, and when the output ends learns from the engine how the
//! container ended (exit code, OOM kill, or the engine itself gone) and removes it.
//! Anything that fails on the way is written to the kernel's stderr pipe, so
//! `Kernel::start` reports it as a failed start.

mod container;
pub mod engine;
pub mod hardening;
pub mod placement;
mod run;
pub mod settings;
mod ssh;
pub mod sync;
mod transfer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Backend, LaunchError, LaunchSpec, Launched};
use crate::kernel::runtime;
use crate::sandbox::Isolation;
use crate::sandbox::identity::{self, KernelUser};
pub use container::INSIDE_RUNTIME;
pub use engine::{Engine, EngineError};
use placement::EnginePool;
use run::{ContainerProcess, ContainerRun};
pub use settings::DockerSettings;

/// Buffer of each in-memory pipe between the kernel and the attachment.
const PIPE_BYTES: usize = 256 * 1024;

pub struct DockerBackend {
    pool: Arc<EnginePool>,
    settings: DockerSettings,
    runtime_dir: PathBuf,
}

impl DockerBackend {
    pub fn new(settings: DockerSettings) -> Result<Self, LaunchError> {
        settings
            .check()
            .map_err(|m| LaunchError::Prepare(std::io::Error::other(m)))?;
        let credentials = settings.credentials();
        let mut engines = Vec::new();
        for address in settings.engine_addresses() {
            if !address.starts_with("unix://") && !settings.syncs(&address) {
                return Err(EngineError::Remote { address }.into());
            }
            engines.push(Arc::new(Engine::new(address, credentials.clone())));
        }
        let runtime_dir = runtime::install()?;
        Ok(Self {
            pool: Arc::new(EnginePool::new(engines, settings.capacity, settings.cpus)),
            settings,
            runtime_dir,
        })
    }

    /// The engines kernels are placed on.
    pub fn engines(&self) -> impl Iterator<Item = &Arc<Engine>> {
        self.pool.engines()
    }

    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    /// The uid the kernel runs as: never root. As root mcpr hands the workspace to a
    /// fresh unprivileged uid (as the subprocess backend does); otherwise the kernel
    /// keeps the caller's uid, which owns the workspace already.
    fn kernel_user(&self) -> (u32, u32) {
        let uid = nix::unistd::geteuid().as_raw();
        if uid != 0 {
            return (uid, nix::unistd::getegid().as_raw());
        }
        match KernelUser::fresh() {
            KernelUser::Unprivileged { uid, gid } => (uid, gid),
            KernelUser::Inherit => (65534, 65534),
        }
    }

    fn describe(&self, (uid, _): (u32, u32)) -> String {
        let engines: Vec<&str> = self.pool.engines().map(|e| e.address()).collect();
        let on = match engines.as_slice() {
            [one] => (*one).to_string(),
            many => format!("one of the engines {}", many.join(", ")),
        };
        format!(
            "docker container from {} on {on} (no network; read-only root; private {} MiB /tmp; all capabilities dropped; no-new-privileges; default seccomp; pids, memory and CPU limits); kernel runs as uid {uid}",
            self.settings.image, self.settings.tmp_mb,
        )
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn isolation(&self) -> Isolation {
        Isolation::Docker
    }

    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let user = self.kernel_user();
        if nix::unistd::geteuid().is_root() {
            identity::chown_tree(&spec.workspace, user.0, user.1)?;
        }
        // Opened now: a pooled kernel's folder is renamed to the session's later, and
        // the handle follows the rename.
        let workspace = Arc::new(crate::sandbox::confined::ConfinedDir::open(
            &spec.workspace,
        )?);
        let (stdin_host, stdin_task) = tokio::io::duplex(PIPE_BYTES);
        let (stdout_host, stdout_task) = tokio::io::duplex(PIPE_BYTES);
        let (stderr_host, stderr_task) = tokio::io::duplex(PIPE_BYTES);
        let (exit_tx, exit_rx) = watch::channel(None);
        let stop = CancellationToken::new();
        let container = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(None));
        let run = ContainerRun {
            pool: self.pool.clone(),
            spec: spec.clone(),
            settings: self.settings.clone(),
            runtime_dir: self.runtime_dir.clone(),
            user,
            workspace: workspace.clone(),
            seen: seen.clone(),
            container: container.clone(),
            stdin: stdin_task,
            stdout: stdout_task,
            stderr: stderr_task,
            stop: stop.clone(),
        };
        tokio::spawn(async move {
            let info = run.run().await;
            let _ = exit_tx.send(Some(info));
        });
        Ok(Launched {
            stdin: Box::new(stdin_host),
            stdout: Box::new(stdout_host),
            stderr: Box::new(stderr_host),
            process: Box::new(ContainerProcess {
                stop,
                exit: exit_rx,
                container,
                workspace,
                seen,
                user,
            }),
            description: self.describe(user),
            host_pid: None,
        })
    }
}

/// Whether kernels can start with `settings`: an engine answers and has the image.
/// Returns the engine's version line, or what is missing and how to get it.
pub async fn check_ready(settings: &DockerSettings) -> Result<String, String> {
    let mut lines = Vec::new();
    for address in settings.engine_addresses() {
        lines.push(check_engine(settings, &address).await?);
    }
    Ok(lines.join("; "))
}

async fn check_engine(settings: &DockerSettings, address: &str) -> Result<String, String> {
    let address = address.to_string();
    let docker = engine::connect_with(&address, &settings.credentials())
        .await
        .map_err(|e| e.to_string())?;
    let version = docker
        .version()
        .await
        .map_err(|e| EngineError::Unreachable {
            address: address.clone(),
            reason: e.to_string(),
        })
        .map_err(|e| e.to_string())?;
    docker.inspect_image(&settings.image).await.map_err(|e| {
        format!(
            "the engine at {address} has no image {}: {e}. Build it with scripts/setup-docker.sh or set [docker] image",
            settings.image
        )
    })?;
    Ok(format!(
        "engine {} (API {}) at {address} with image {}",
        version.version.unwrap_or_default(),
        version.api_version.unwrap_or_default(),
        settings.image
    ))
}
