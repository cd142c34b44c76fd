//! One kernel container's life, in the task `DockerBackend::launch` spawns: placed on an
//! engine, created, attached, started, its workspace filled in sync mode, the pipes
//! pumped, and at the end how it ended (or that its engine is gone), then removed.
//! Also the handle the kernel holds: kill, exit, and the copies of a synced workspace
//! (done by `transfer`).

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::container;
use super::engine::{self, Engine};
use super::placement::EnginePool;
use super::settings::DockerSettings;
use super::sync;
use super::transfer;
use crate::backend::{KernelProcess, LaunchSpec, SyncFuture};
use crate::kernel::ExitInfo;
use crate::sandbox::confined::ConfinedDir;

/// How long an engine that dropped a kernel's attachment may take to answer a ping
/// before the kernel is reported lost with it.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an engine may take to kill a container the host stopped and say how it
/// ended, and to remove it, before the kernel's end is reported without it.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The container of one kernel, once created: where it runs and whether its workspace
/// is synchronised.
#[derive(Clone)]
pub struct Placed {
    pub engine: Arc<Engine>,
    pub docker: Docker,
    pub id: String,
    pub sync: bool,
}

/// Everything one container's life needs, moved into its task.
pub struct ContainerRun {
    pub pool: Arc<EnginePool>,
    pub spec: LaunchSpec,
    pub settings: DockerSettings,
    pub runtime_dir: PathBuf,
    pub user: (u32, u32),
    pub workspace: Arc<ConfinedDir>,
    /// The host's workspace as of the last copy in either direction (sync mode).
    pub seen: Arc<Mutex<Option<sync::Fingerprint>>>,
    /// The container once created, for removal and sync when the task cannot finish.
    pub container: Arc<Mutex<Option<Placed>>>,
    pub stdin: DuplexStream,
    pub stdout: DuplexStream,
    pub stderr: DuplexStream,
    pub stop: CancellationToken,
}

impl ContainerRun {
    pub async fn run(mut self) -> ExitInfo {
        let placed = match self.pool.place(self.spec.limits.memory_mb).await {
            Ok(p) => p,
            Err(e) => return self.failed(e.to_string()).await,
        };
        let engine = placed.engine.clone();
        let docker = match engine.client().await {
            Ok(d) => d,
            Err(e) => return self.failed(e.to_string()).await,
        };
        let sync = self.settings.syncs(engine.address());
        let body = container::create_body(
            &self.spec,
            &self.settings,
            &self.runtime_dir,
            self.user,
            sync,
        );
        let created = docker.create_container(None, body).await;
        drop(placed);
        let id = match created {
            Ok(created) => created.id,
            Err(e) => {
                let image = &self.settings.image;
                return self
                    .failed(format!(
                        "the engine at {} could not create a container from {image}: {e}. Is the image there (`docker image ls`; scripts/setup-docker.sh builds the default one)?",
                        engine.address()
                    ))
                    .await;
            }
        };
        let here = Placed {
            engine,
            docker,
            id,
            sync,
        };
        *lock(&self.container) = Some(here.clone());
        let info = self.attached(&here).await;
        // The kernel's end is reported without waiting for an engine that hangs: the
        // removal goes on in the background (and the engine's next start sweeps it).
        let removal = tokio::spawn(async move {
            let remove = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            let _ = here.docker.remove_container(&here.id, Some(remove)).await;
        });
        let _ = tokio::time::timeout(STOP_TIMEOUT, removal).await;
        info
    }

    /// Attaches before starting (so the greeting cannot be missed), starts, fills a
    /// synced workspace before the kernel can read its first request, pumps until the
    /// output ends or the kernel is stopped, then reads how the container ended.
    async fn attached(&mut self, here: &Placed) -> ExitInfo {
        let (docker, id) = (&here.docker, here.id.as_str());
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
        if here.sync
            && let Err(e) = self.fill(here).await
        {
            return self
                .failed(format!(
                    "could not copy the workspace into the container on {}: {e}",
                    here.engine.address()
                ))
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
        if !stopped {
            return ended(here).await;
        }
        // Stopped by the host (a cell past its limits, a session closing): an engine that
        // does not kill the container and say how it ended in time is taken for lost,
        // so no session waits on a hung engine.
        let kill_and_wait = async {
            let kill = KillContainerOptionsBuilder::default()
                .signal("SIGKILL")
                .build();
            let _ = docker.kill_container(id, Some(kill)).await;
            ended(here).await
        };
        match tokio::time::timeout(STOP_TIMEOUT, kill_and_wait).await {
            Ok(info) => info,
            Err(_) => {
                let why = format!(
                    "it did not kill the container within {} s",
                    STOP_TIMEOUT.as_secs()
                );
                lost_or_unknown(here, why).await
            }
        }
    }

    /// Copies the workspace and the read-only folders into the running container.
    async fn fill(&self, here: &Placed) -> Result<(), String> {
        transfer::push(here, &self.workspace, self.user, &self.seen).await?;
        for (host, inside) in container::read_only_folders(&self.spec) {
            let tarball = tokio::task::spawn_blocking(move || {
                sync::pack(&ConfinedDir::open(&host)?, 0, 0, None)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("packing a read-only folder: {e}"))?;
            transfer::upload(here, &inside.to_string_lossy(), tarball).await?;
        }
        Ok(())
    }

    /// Says why the kernel never ran on its stderr, and ends its output.
    async fn failed(&mut self, why: String) -> ExitInfo {
        let _ = self.stderr.write_all(format!("{why}\n").as_bytes()).await;
        let _ = self.stderr.shutdown().await;
        let _ = self.stdout.shutdown().await;
        ExitInfo::unknown(why)
    }
}

/// How the container ended, once it has: its exit code (128+N for a signal, as tini
/// reports it) and whether the engine's OOM killer struck — or, when the engine itself
/// no longer answers, that the kernel was lost with it (and the engine is marked down).
async fn ended(here: &Placed) -> ExitInfo {
    let (docker, id) = (&here.docker, here.id.as_str());
    let wait = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let waited = docker.wait_container(id, Some(wait)).next().await;
    let code = match waited {
        Some(Ok(r)) => Some(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
        Some(Err(e)) => return lost_or_unknown(here, e.to_string()).await,
        None => None,
    };
    let state = match docker.inspect_container(id, None).await {
        Ok(c) => c.state,
        Err(e) => return lost_or_unknown(here, e.to_string()).await,
    };
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

/// After the engine failed to say how a container ended: if the engine does not answer
/// a ping either, it is marked down and the kernel reported lost with it.
async fn lost_or_unknown(here: &Placed, error: String) -> ExitInfo {
    let ping = tokio::time::timeout(PING_TIMEOUT, here.docker.ping()).await;
    if matches!(ping, Ok(Ok(_))) {
        return ExitInfo::unknown(error);
    }
    let address = here.engine.address();
    here.engine.mark_down(&error);
    ExitInfo {
        engine_lost: Some(format!(
            "was lost with its Docker engine at {address}, which stopped answering ({error}); the engine is marked down and new kernels go to the other engines of [docker] engines. Start the engine again (scripts/setup-docker.sh for a local one) or remove it from [docker] engines"
        )),
        ..ExitInfo::unknown(error)
    }
}

pub struct ContainerProcess {
    pub stop: CancellationToken,
    pub exit: watch::Receiver<Option<ExitInfo>>,
    pub container: Arc<Mutex<Option<Placed>>>,
    pub workspace: Arc<ConfinedDir>,
    pub seen: Arc<Mutex<Option<sync::Fingerprint>>>,
    pub user: (u32, u32),
}

impl KernelProcess for ContainerProcess {
    fn kill(&self) {
        self.stop.cancel();
    }

    fn exit(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }

    fn refresh_workspace(&self) -> Option<SyncFuture> {
        let here = lock(&self.container).clone().filter(|p| p.sync)?;
        let (workspace, seen, user) = (self.workspace.clone(), self.seen.clone(), self.user);
        Some(Box::pin(async move {
            transfer::push(&here, &workspace, user, &seen).await?;
            Ok(Vec::new())
        }))
    }

    fn sync_workspace(&self) -> Option<SyncFuture> {
        let here = lock(&self.container).clone().filter(|p| p.sync)?;
        let workspace = self.workspace.clone();
        let seen = self.seen.clone();
        Some(Box::pin(async move {
            transfer::pull(&here, &workspace, &seen).await
        }))
    }
}

impl Drop for ContainerProcess {
    fn drop(&mut self) {
        self.kill();
        // The task removes the container when it ends, but a runtime that is shutting
        // down (the end of a command, of a test) may never run it again: remove it from
        // a thread of its own too. Removing twice is harmless.
        let placed = lock(&self.container).clone();
        if let (None, Some(placed)) = (self.exit.borrow().as_ref(), placed) {
            let _ = std::thread::Builder::new()
                .name("mcpr-container-rm".into())
                .spawn(move || remove_now(&placed.engine, &placed.id));
        }
    }
}

/// Kills and removes container `id` on its own small runtime.
fn remove_now(engine: &Engine, id: &str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        if let Ok(docker) = engine::connect_with(engine.address(), engine.credentials()).await {
            let force = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            let _ = docker.remove_container(id, Some(force)).await;
        }
    });
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
