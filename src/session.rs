//! A session: one workspace folder, a sequence of cells, and the kernel running them.
//!
//! The session numbers cells, owns the kernel, and replaces a kernel that died or had
//! to be killed, telling the next cell (via [`Event::KernelRestarted`]) that earlier
//! state was lost. A kernel is never shared between sessions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, DockerBackend, LaunchSpec, SubprocessBackend};
use crate::event::{CellStatus, Event};
use crate::hostcall::HostCalls;
use crate::kernel::{CellOptions, Kernel, KernelError, OutputPolicy};
use crate::project::KernelConfig;
use crate::python::{PythonError, PythonInfo, wanted_python};
use crate::sandbox::{Isolation, IsolationRequest, Limits};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Python(#[from] PythonError),
    #[error(transparent)]
    Launch(#[from] crate::backend::LaunchError),
}

/// The session's startup code failed in its kernel (the error it raised, or how the
/// run ended).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct StartupFailed(pub String);

/// Everything needed to start kernels the same way again and again.
#[derive(Clone)]
pub struct Launcher {
    backend: Arc<dyn Backend>,
    python: PythonInfo,
    limits: Limits,
    max_frame: usize,
    env_passthrough: Vec<String>,
    readonly_mounts: Vec<(PathBuf, PathBuf)>,
    readonly_paths: Vec<PathBuf>,
    /// What fixes the backend beyond this struct's other fields (isolation asked for,
    /// the `[docker]` settings), for [`Launcher::pool_key`].
    backend_key: String,
    /// Whether a kernel started in one folder can be handed to another by renaming it
    /// (see [`crate::pool`]): not without isolation (the kernel knows its folder by host
    /// path, `HOME`), nor for a container whose workspace is copied in at start.
    renamable: bool,
    pub startup_timeout: Duration,
    /// Defaults for each cell (timeout, grace, output caps).
    pub cell_defaults: CellOptions,
}

impl Launcher {
    /// A subprocess launcher from project configuration; `isolation` overrides it.
    pub fn from_config(
        config: &KernelConfig,
        isolation: Option<IsolationRequest>,
    ) -> Result<Launcher, SetupError> {
        let python = PythonInfo::resolve(&wanted_python(config.python.as_deref()))?;
        crate::sandbox::check_readonly_paths(&config.readonly_paths)
            .map_err(crate::backend::LaunchError::from)?;
        let request = isolation.unwrap_or(config.isolation);
        let (backend, backend_key, renamable): (Arc<dyn Backend>, String, bool) = match request {
            IsolationRequest::Docker => {
                let synced = config
                    .docker
                    .engine_addresses()
                    .iter()
                    .any(|a| config.docker.syncs(a));
                (
                    Arc::new(DockerBackend::new(config.docker.clone())?),
                    format!("docker {:?}", config.docker),
                    !synced,
                )
            }
            request => {
                let backend = SubprocessBackend::new(request)?;
                let renamable = backend.isolation() == Isolation::Namespaces;
                (Arc::new(backend), format!("{request:?}"), renamable)
            }
        };
        let timeout =
            (config.timeout_seconds > 0.0).then(|| Duration::from_secs_f64(config.timeout_seconds));
        Ok(Launcher {
            backend,
            python,
            limits: config.limits,
            max_frame: config.max_frame_mb.max(1) * 1024 * 1024,
            env_passthrough: config.env_passthrough.clone(),
            readonly_mounts: Vec::new(),
            readonly_paths: config.readonly_paths.clone(),
            backend_key,
            renamable,
            startup_timeout: Duration::from_secs(20),
            cell_defaults: CellOptions {
                timeout,
                grace: Duration::from_secs_f64(config.grace_seconds.max(0.0)),
                output: OutputPolicy {
                    inline_bytes: config.output_inline_kb * 1024,
                    overflow_bytes: config.output_overflow_mb * 1024 * 1024,
                },
                ..CellOptions::default()
            },
        })
    }

    pub fn isolation(&self) -> Isolation {
        self.backend.isolation()
    }

    pub fn python(&self) -> &PythonInfo {
        &self.python
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Equal for two launchers exactly when their kernels start the same way (backend,
    /// engine and image, interpreter, limits, environment, mounts): only then may a
    /// kernel one started serve a session of the other. Cell defaults (time limit,
    /// output caps) are the session's own and not part of it.
    pub fn pool_key(&self) -> String {
        format!(
            "{}|{}|{:?}|{}|{:?}|{:?}|{:?}",
            self.backend_key,
            self.python.executable.display(),
            self.limits,
            self.max_frame,
            self.env_passthrough,
            self.readonly_mounts,
            self.readonly_paths
        )
    }

    /// Whether this launcher's kernels can wait in a warm pool (see `renamable`).
    pub fn poolable(&self) -> bool {
        self.renamable
    }

    /// Also exposes the host folder `host` read-only at `inside` in every kernel this
    /// launcher starts (namespaces isolation; without isolation the host path is used).
    pub fn with_readonly_mount(mut self, host: PathBuf, inside: PathBuf) -> Launcher {
        self.readonly_mounts.push((host, inside));
        self
    }

    /// Starts a kernel whose working directory is `workspace`.
    pub async fn start(&self, workspace: &Path) -> Result<Kernel, KernelError> {
        let spec = LaunchSpec {
            python: self.python.clone(),
            workspace: workspace.to_path_buf(),
            limits: self.limits,
            max_frame: self.max_frame,
            env_passthrough: self.env_passthrough.clone(),
            readonly_mounts: self.readonly_mounts.clone(),
            readonly_paths: self.readonly_paths.clone(),
        };
        let launched = self.backend.launch(&spec)?;
        Kernel::start(launched, self.limits, self.max_frame, self.startup_timeout).await
    }
}

pub struct Session {
    name: String,
    workspace: PathBuf,
    launcher: Launcher,
    calls: HostCalls,
    kernel: Option<Kernel>,
    next_cell: u64,
    /// Run quietly in every kernel this session starts (e.g. to install `ask_llm`).
    startup_code: Option<String>,
    /// Where fresh kernels come from first (a warm pool of this launcher's kernels);
    /// a cold start when it has none ready.
    pool: Option<Arc<crate::pool::KernelPool>>,
    /// Whether the current kernel came ready from the pool.
    warm: bool,
}

impl Session {
    /// Starts a session with a fresh (cold) kernel in `workspace`.
    pub async fn start(
        launcher: Launcher,
        calls: HostCalls,
        name: String,
        workspace: PathBuf,
    ) -> Result<Session, KernelError> {
        let kernel = launcher.start(&workspace).await?;
        Ok(Session::with_kernel(
            launcher, calls, name, workspace, kernel,
        ))
    }

    /// Starts a session whose kernels come from `pool` when it has one ready (the pool
    /// must start kernels as `launcher` does), else cold. The pool stays this session's
    /// source of fresh kernels: after a restart, a rewind or a death.
    pub async fn start_pooled(
        launcher: Launcher,
        pool: Option<Arc<crate::pool::KernelPool>>,
        calls: HostCalls,
        name: String,
        workspace: PathBuf,
    ) -> Result<Session, KernelError> {
        let (kernel, warm) = match pool.as_ref().and_then(|p| p.take(&workspace)) {
            Some(kernel) => (kernel, true),
            None => (launcher.start(&workspace).await?, false),
        };
        let mut session = Session::with_kernel(launcher, calls, name, workspace, kernel);
        session.pool = pool;
        session.warm = warm;
        Ok(session)
    }

    /// Makes `pool` this session's source of fresh kernels (a session that adopted a
    /// kernel: its later restarts take warm ones).
    pub(crate) fn set_pool(&mut self, pool: Option<Arc<crate::pool::KernelPool>>) {
        self.pool = pool;
    }

    /// A fresh kernel for this session: from the pool when one is ready, else cold.
    async fn fresh_kernel(&mut self) -> Result<Kernel, KernelError> {
        if let Some(kernel) = self.pool.as_ref().and_then(|p| p.take(&self.workspace)) {
            self.warm = true;
            return Ok(kernel);
        }
        self.warm = false;
        self.launcher.start(&self.workspace).await
    }

    /// Whether the current kernel was taken ready from a warm pool (not started cold).
    pub fn kernel_warm(&self) -> bool {
        self.warm
    }

    pub(crate) fn with_kernel(
        launcher: Launcher,
        calls: HostCalls,
        name: String,
        workspace: PathBuf,
        kernel: Kernel,
    ) -> Session {
        Session {
            name,
            workspace,
            launcher,
            calls,
            kernel: Some(kernel),
            next_cell: 1,
            startup_code: None,
            pool: None,
            warm: false,
        }
    }

    /// Code run quietly now and in every later kernel of this session. Its failure is
    /// returned (as the error event's message) rather than shown as a cell.
    pub async fn set_startup_code(&mut self, code: String) -> Result<(), StartupFailed> {
        self.startup_code = Some(code);
        self.run_startup_code().await
    }

    async fn run_startup_code(&mut self) -> Result<(), StartupFailed> {
        let (Some(code), Some(kernel)) = (self.startup_code.clone(), self.kernel.as_mut()) else {
            return Ok(());
        };
        let mut error = None;
        let opts = self.launcher.cell_defaults.clone();
        // Startup cells are numbered 0: they are not part of the user's sequence.
        let status = kernel
            .run_cell(0, &code, &opts, &self.calls, &self.workspace, &mut |e| {
                if let Event::Error { ename, message, .. } = e {
                    error = Some(format!("{ename}: {message}"));
                }
            })
            .await;
        match (status.is_success(), error) {
            (true, _) => Ok(()),
            (false, e) => {
                Err(StartupFailed(e.unwrap_or_else(|| {
                    format!("session startup code ended {status:?}")
                })))
            }
        }
    }

    /// Runs `code` quietly in the live kernel as an unnumbered cell (like the startup
    /// code: not part of the user's sequence, nothing emitted) and returns its stdout.
    /// Never starts a kernel: with none alive there is nothing to look at.
    pub async fn run_quiet(&mut self, code: &str, opts: &CellOptions) -> Result<String, String> {
        let kernel = match self.kernel.as_mut() {
            Some(k) if k.is_alive() => k,
            _ => return Err("no kernel is running".into()),
        };
        let (mut stdout, mut error) = (String::new(), None);
        let status = kernel
            .run_cell(
                0,
                code,
                opts,
                &self.calls,
                &self.workspace,
                &mut |e| match e {
                    Event::Output {
                        stream: crate::event::Stream::Stdout,
                        text,
                        ..
                    } => stdout.push_str(&text),
                    Event::Error { ename, message, .. } => {
                        error = Some(format!("{ename}: {message}"))
                    }
                    _ => {}
                },
            )
            .await;
        match (status.is_success(), error) {
            (true, _) => Ok(stdout),
            (false, e) => Err(e.unwrap_or_else(|| format!("ended {status:?}"))),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The code run quietly in each of this session's kernels, if any.
    pub fn startup_code(&self) -> Option<&str> {
        self.startup_code.as_deref()
    }

    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    pub fn kernel(&self) -> Option<&Kernel> {
        self.kernel.as_ref()
    }

    /// The running kernel, for requests between cells (live checkpoints).
    pub fn kernel_mut(&mut self) -> Option<&mut Kernel> {
        self.kernel.as_mut()
    }

    /// Takes the running kernel away from this session (a fork adopting it); the next
    /// cell here starts a fresh one.
    pub(crate) fn take_kernel(&mut self) -> Option<Kernel> {
        self.kernel.take()
    }

    /// The isolation this session's kernels run under.
    pub fn isolation(&self) -> crate::sandbox::Isolation {
        self.launcher.isolation()
    }

    /// The limits this session's kernels run under.
    pub fn limits(&self) -> &crate::sandbox::Limits {
        self.launcher.limits()
    }

    /// Starts a kernel (with the startup code) unless a live one is running: after
    /// [`Session::restart_kernel`], before anything that needs the kernel but is no cell.
    pub async fn ensure_kernel(&mut self) -> Result<(), String> {
        if self.kernel.as_ref().is_some_and(Kernel::is_alive) {
            return Ok(());
        }
        self.kernel = None;
        let kernel = self.fresh_kernel().await.map_err(|e| e.to_string())?;
        self.kernel = Some(kernel);
        self.run_startup_code().await.map_err(|e| e.0)
    }

    /// The event announcing this session: name, workspace, isolation in force, Python.
    pub fn started_event(&self) -> Event {
        Event::SessionStarted {
            session: self.name.clone(),
            workspace: self.workspace.clone(),
            isolation: self
                .kernel
                .as_ref()
                .map(|k| k.info().description.clone())
                .unwrap_or_default(),
            python: self.launcher.python().version.clone(),
            warm: self.warm,
        }
    }

    pub fn calls_mut(&mut self) -> &mut HostCalls {
        &mut self.calls
    }

    /// Puts `calls` in place of the session's host calls and returns the old ones.
    pub fn replace_calls(&mut self, calls: HostCalls) -> HostCalls {
        std::mem::replace(&mut self.calls, calls)
    }

    /// Stops the kernel; the next cell starts a fresh one (and says so).
    pub async fn restart_kernel(&mut self) {
        if let Some(k) = self.kernel.take() {
            k.shutdown().await;
        }
    }

    /// Default options for a cell of this session (a fresh cancel token each time).
    pub fn cell_options(&self) -> CellOptions {
        CellOptions {
            cancel: tokio_util::sync::CancellationToken::new(),
            ..self.launcher.cell_defaults.clone()
        }
    }

    /// Runs one cell with the session's default options.
    pub async fn run_cell(
        &mut self,
        code: &str,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> CellStatus {
        let opts = self.cell_options();
        self.run_cell_with(code, &opts, sink).await
    }

    pub async fn run_cell_with(
        &mut self,
        code: &str,
        opts: &CellOptions,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> CellStatus {
        let cell = self.next_cell;
        self.next_cell += 1;
        let lost = match &self.kernel {
            Some(k) if k.is_alive() => None,
            Some(k) => Some(k.death().unwrap_or("exited").to_string()),
            None => Some("it was not running".to_string()),
        };
        if let Some(why) = lost {
            sink(Event::KernelRestarted {
                reason: format!(
                    "started a fresh kernel because the previous one {why}; variables and imports from earlier cells are lost (files in the workspace remain)"
                ),
            });
            self.kernel = None;
            let started = Instant::now();
            match self.fresh_kernel().await {
                Ok(k) => {
                    self.kernel = Some(k);
                    if let Err(e) = self.run_startup_code().await {
                        sink(Event::Output {
                            cell,
                            stream: crate::event::Stream::Stderr,
                            text: format!(
                                "[mcpr] session startup code failed in the new kernel: {e}\n"
                            ),
                        });
                    }
                }
                Err(e) => {
                    sink(Event::CellStarted {
                        cell,
                        code: code.to_string(),
                    });
                    sink(Event::Error {
                        cell,
                        ename: "KernelStartFailed".into(),
                        message: e.to_string(),
                        traceback: String::new(),
                        line: None,
                        column: None,
                    });
                    sink(Event::CellFinished {
                        cell,
                        status: CellStatus::KernelDied,
                        duration_ms: crate::kernel::ms(started.elapsed()),
                        overflow: Vec::new(),
                    });
                    return CellStatus::KernelDied;
                }
            }
        }
        let Some(kernel) = self.kernel.as_mut() else {
            return CellStatus::KernelDied;
        };
        kernel
            .run_cell(cell, code, opts, &self.calls, &self.workspace, sink)
            .await
    }

    /// Shuts the kernel down cleanly; the workspace stays.
    pub async fn close(mut self) {
        if let Some(k) = self.kernel.take() {
            k.shutdown().await;
        }
    }
}
