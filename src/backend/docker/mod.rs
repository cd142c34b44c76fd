//! The Docker backend: each kernel in a hardened container of its own, started through
//! the Engine API (bollard), the kernel protocol over the container's attached
//! stdin/stdout.
//!
//! `launch` only sets up in-memory pipes and spawns a task; the task connects (once per
//! backend, sweeping orphans of dead mcpr processes), creates, attaches and starts the
//! container, pumps bytes between the pipes and the attachment, and when the output
//! ends learns from the engine how the container ended (exit code, OOM kill) and removes
//! it. Anything that fails on the way is written to the kernel's stderr pipe, so
//! `Kernel::start` reports it as a failed start.

mod container;
pub mod engine;
pub mod hardening;
pub mod settings;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Backend, KernelProcess, LaunchError, LaunchSpec, Launched};
use crate::kernel::{ExitInfo, runtime};
use crate::sandbox::Isolation;
use crate::sandbox::identity::{self, KernelUser};
pub use container::INSIDE_RUNTIME;
pub use engine::{Engine, EngineError};
pub use settings::DockerSettings;

/// Buffer of each in-memory pipe between the kernel and the attachment.
const PIPE_BYTES: usize = 256 * 1024;

pub struct DockerBackend {
    engine: Arc<Engine>,
    settings: DockerSettings,
    runtime_dir: PathBuf,
}

impl DockerBackend {
    pub fn new(settings: DockerSettings) -> Result<Self, LaunchError> {
        settings
            .check()
            .map_err(|m| LaunchError::Prepare(std::io::Error::other(m)))?;
        let address = settings.engine_address();
        if !address.starts_with("unix://") {
            return Err(EngineError::Remote { address }.into());
        }
        let runtime_dir = runtime::install()?;
        Ok(Self {
            engine: Arc::new(Engine::new(address)),
            settings,
            runtime_dir,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
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
        format!(
            "docker container from {} on {} (no network; read-only root; private {} MiB /tmp; all capabilities dropped; no-new-privileges; default seccomp; pids, memory and CPU limits); kernel runs as uid {uid}",
            self.settings.image,
            self.engine.address(),
            self.settings.tmp_mb,
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
        let body = container::create_body(spec, &self.settings, &self.runtime_dir, user);
        let (stdin_host, stdin_task) = tokio::io::duplex(PIPE_BYTES);
        let (stdout_host, stdout_task) = tokio::io::duplex(PIPE_BYTES);
        let (stderr_host, stderr_task) = tokio::io::duplex(PIPE_BYTES);
        let (exit_tx, exit_rx) = watch::channel(None);
        let stop = CancellationToken::new();
        let id = Arc::new(Mutex::new(None));
        let run = ContainerRun {
            id: id.clone(),
            engine: self.engine.clone(),
            body,
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
                id,
                address: self.engine.address().to_string(),
            }),
            description: self.describe(user),
            host_pid: None,
        })
    }
}

/// Everything one container's life needs, moved into its task.
struct ContainerRun {
    engine: Arc<Engine>,
    /// The container's id once created, for removal when the task cannot finish.
    id: Arc<Mutex<Option<String>>>,
    body: bollard::models::ContainerCreateBody,
    stdin: DuplexStream,
    stdout: DuplexStream,
    stderr: DuplexStream,
    stop: CancellationToken,
}

impl ContainerRun {
    async fn run(mut self) -> ExitInfo {
        let docker = match self.engine.client().await {
            Ok(d) => d,
            Err(e) => return self.failed(e.to_string()).await,
        };
        let id = match docker.create_container(None, self.body.clone()).await {
            Ok(created) => {
                *lock(&self.id) = Some(created.id.clone());
                created.id
            }
            Err(e) => {
                let image = self.body.image.clone().unwrap_or_default();
                return self
                    .failed(format!(
                        "the engine could not create a container from {image}: {e}. Is the image there (`docker image ls`; scripts/setup-docker.sh builds the default one)?"
                    ))
                    .await;
            }
        };
        let info = self.attached(&docker, &id).await;
        let force = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = docker.remove_container(&id, Some(force)).await;
        info
    }

    /// Attaches before starting (so the greeting cannot be missed), starts, pumps until
    /// the output ends or the kernel is stopped, then reads how the container ended.
    async fn attached(&mut self, docker: &Docker, id: &str) -> ExitInfo {
        let options = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let attach = match docker.attach_container(id, Some(options)).await {
            Ok(a) => a,
            Err(e) => {
                return self
                    .failed(format!("could not attach to the container: {e}"))
                    .await;
            }
        };
        if let Err(e) = docker.start_container(id, None).await {
            return self
                .failed(format!("the engine could not start the container: {e}"))
                .await;
        }
        let mut input = attach.input;
        let mut output = attach.output;
        let stdin = &mut self.stdin;
        let pump_in = async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if input.write_all(&buf[..n]).await.is_err() || input.flush().await.is_err()
                        {
                            break;
                        }
                    }
                }
            }
            // The host closed the protocol: the kernel reads end-of-file and exits.
            let _ = input.shutdown().await;
            std::future::pending::<()>().await;
        };
        let (stdout, stderr) = (&mut self.stdout, &mut self.stderr);
        let pump_out = async move {
            while let Some(Ok(chunk)) = output.next().await {
                let written = match chunk {
                    LogOutput::StdOut { message } => stdout.write_all(&message).await,
                    LogOutput::StdErr { message } => stderr.write_all(&message).await,
                    _ => Ok(()),
                };
                if written.is_err() {
                    break;
                }
            }
        };
        let stopped = tokio::select! {
            _ = pump_in => false,
            _ = pump_out => false,
            _ = self.stop.cancelled() => true,
        };
        if stopped {
            let kill = KillContainerOptionsBuilder::default()
                .signal("SIGKILL")
                .build();
            let _ = docker.kill_container(id, Some(kill)).await;
        }
        ended(docker, id).await
    }

    /// Says why the kernel never ran on its stderr, and ends its output.
    async fn failed(&mut self, why: String) -> ExitInfo {
        let _ = self.stderr.write_all(format!("{why}\n").as_bytes()).await;
        let _ = self.stderr.shutdown().await;
        let _ = self.stdout.shutdown().await;
        ExitInfo::unknown(why)
    }
}

/// How container `id` ended, once it has: its exit code (128+N for a signal, as tini
/// reports it) and whether the engine's OOM killer struck.
async fn ended(docker: &Docker, id: &str) -> ExitInfo {
    let wait = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let code = match docker.wait_container(id, Some(wait)).next().await {
        Some(Ok(r)) => Some(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
        Some(Err(e)) => return ExitInfo::unknown(e.to_string()),
        None => None,
    };
    let state = docker
        .inspect_container(id, None)
        .await
        .ok()
        .and_then(|c| c.state);
    let code = state
        .as_ref()
        .and_then(|s| s.exit_code)
        .or(code)
        .map(|c| c as i32);
    let oom_killed = state.and_then(|s| s.oom_killed).unwrap_or(false);
    ExitInfo {
        oom_killed,
        ..ExitInfo::from_status(code, None, true)
    }
}

struct ContainerProcess {
    stop: CancellationToken,
    exit: watch::Receiver<Option<ExitInfo>>,
    id: Arc<Mutex<Option<String>>>,
    address: String,
}

impl KernelProcess for ContainerProcess {
    fn kill(&self) {
        self.stop.cancel();
    }

    fn exit(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }
}

impl Drop for ContainerProcess {
    fn drop(&mut self) {
        self.kill();
        // The task removes the container when it ends, but a runtime that is shutting
        // down (the end of a command, of a test) may never run it again: remove it from
        // a thread of its own too. Removing twice is harmless.
        let id = lock(&self.id).clone();
        if let (None, Some(id)) = (self.exit.borrow().as_ref(), id) {
            let address = self.address.clone();
            let _ = std::thread::Builder::new()
                .name("mcpr-container-rm".into())
                .spawn(move || remove_now(&address, &id));
        }
    }
}

/// Kills and removes container `id` on its own small runtime.
fn remove_now(address: &str, id: &str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        if let Ok(docker) = engine::connect(address).await {
            let force = RemoveContainerOptionsBuilder::default().force(true).build();
            let _ = docker.remove_container(id, Some(force)).await;
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether kernels can start with `settings`: an engine answers and has the image.
/// Returns the engine's version line, or what is missing and how to get it.
pub async fn check_ready(settings: &DockerSettings) -> Result<String, String> {
    let address = settings.engine_address();
    let docker = engine::connect(&address).await.map_err(|e| e.to_string())?;
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
