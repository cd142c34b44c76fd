//! A live session: opened once from a project and a spec, then driven step by step —
//! tasks, cells, rewinds and forks — with every event going out through one [`Emitter`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::EngineError;
use super::approvals::{Approvals, AskFrontEnd};
use super::emit::Emitter;
use super::live_fork::Adopted;
use super::manual::{ChannelManual, ManualAnswers, NoModel};
use super::record::{agent_history, continue_session, history_to};
use super::spec::{SessionSpec, Start};
use super::warm::WarmPools;
use crate::agent::ask::{AskLimits, AskState};
use crate::agent::{Agent, ContextInput};
use crate::event::{CellStatus, Event, NoticeLevel, StepSummary};
use crate::llm::Provider;
use crate::llm::select::{LlmChoice, select};
use crate::project::{KernelConfig, Project, new_session_name};
use crate::record::log::StepKind;
use crate::record::recorder::ReplayDir;
use crate::sandbox::IsolationRequest;
use crate::session::{Launcher, Session};
use crate::skills::SkillLibrary;
use crate::skills::source::LibrarySource;
use crate::tools::config::McpConfig;
use crate::tools::hub::ToolHub;

/// What opening a session needs to know about the process it runs in.
#[derive(Clone)]
pub struct Context {
    pub project: Project,
    /// Where relative `--mcp-config` and `.mcp.json` lookups start.
    pub cwd: PathBuf,
    /// Warm kernels, in a long-lived front end (see [`super::warm`]); None in one-shot
    /// commands, whose one kernel nobody would take from a pool.
    pub warm: Option<Arc<WarmPools>>,
}

impl Context {
    /// For a one-shot command: every kernel starts cold.
    pub fn new(project: Project, cwd: PathBuf) -> Context {
        Context {
            project,
            cwd,
            warm: None,
        }
    }

    /// For a long-lived front end (the console, `mcpr serve`): sessions take ready
    /// kernels from warm pools made on first use. Call [`Context::shutdown`] at exit.
    pub fn long_lived(project: Project, cwd: PathBuf) -> Context {
        let warm = Some(WarmPools::new(&project));
        Context { project, cwd, warm }
    }

    /// Shuts the warm pools down (their kernels and folders); sessions keep theirs.
    pub async fn shutdown(&self) {
        if let Some(warm) = &self.warm {
            warm.shutdown().await;
        }
    }
}

pub struct LiveSession {
    ctx: Context,
    spec: SessionSpec,
    dir: ReplayDir,
    name: String,
    workspace: PathBuf,
    agent: Agent,
    hub: Arc<ToolHub>,
    library: Option<Arc<SkillLibrary>>,
    out: Emitter,
    manual: Option<ManualAnswers>,
    approvals: Arc<Approvals>,
    step_id: Arc<AtomicU64>,
    record_warned: bool,
    checkpoint_warned: bool,
    /// Frozen copies of the kernel for fast rewinds (front ends that rewind).
    frozen: Option<super::frozen::FrozenCopies>,
}

/// What to tell the user about the project found from `cwd`: the default project in use,
/// and the warnings of its mcpr.toml.
pub fn project_notices(project: &Project, cwd: &std::path::Path) -> Vec<(NoticeLevel, String)> {
    let mut notices = Vec::new();
    if project.is_default {
        notices.push((
            NoticeLevel::Info,
            format!(
                "no mcpr project here (no mcpr.toml in {} or above): using your default project {}; `mcpr init` makes this folder a project",
                cwd.display(),
                project.root.display()
            ),
        ));
    }
    for warning in project.config.warnings() {
        notices.push((NoticeLevel::Warning, format!("warning: {warning}")));
    }
    notices
}

/// The MCP configuration (explicit file, else discovered); warnings become notices.
pub fn mcp_config(
    explicit: Option<&std::path::Path>,
    ctx: &Context,
    out: &Emitter,
) -> Result<McpConfig, EngineError> {
    let config = McpConfig::discover(explicit, &ctx.cwd, &ctx.project.root)?;
    for warning in &config.warnings {
        out.notice(NoticeLevel::Warning, format!("warning: {warning}"));
    }
    Ok(config)
}

/// The project's kernel settings with a timeout override applied.
pub fn kernel_config(project: &Project, timeout: Option<f64>) -> KernelConfig {
    let mut config = project.config.kernel.clone();
    if let Some(t) = timeout {
        config.timeout_seconds = t;
    }
    config
}

/// The library for a session: mounted into the launcher's kernels and importable from
/// `workspace` as the `skills` package. None when skills are off or cannot be read.
pub fn session_skills(
    project: &Project,
    launcher: Launcher,
    workspace: &std::path::Path,
    enabled: bool,
    out: &Emitter,
) -> Result<(Launcher, Option<Arc<SkillLibrary>>), EngineError> {
    use crate::skills::package;
    if !enabled {
        return Ok((launcher, None));
    }
    let library = match SkillLibrary::open(&project.skills_dir(), launcher.python().clone()) {
        Ok(library) => library,
        Err(e) => {
            // The task can still be done; it just neither uses nor grows the library.
            out.notice(
                NoticeLevel::Warning,
                format!("warning: running without skills: {e}"),
            );
            return Ok((launcher, None));
        }
    };
    let launcher = package::mount(launcher, library.dir());
    let inside = package::inside_path(launcher.isolation(), library.dir());
    package::write(workspace, &[inside]).map_err(|e| {
        EngineError::io(
            format!(
                "could not write the skills package into {}",
                workspace.display()
            ),
            e,
        )
    })?;
    Ok((launcher, Some(Arc::new(library))))
}

/// Host calls with the built-ins and the configured MCP tools, the `tools` package
/// written into `workspace`.
pub async fn session_tools(
    project: &Project,
    mcp: McpConfig,
    workspace: &std::path::Path,
    policy_overrides: &[String],
    out: &Emitter,
) -> Result<(crate::hostcall::HostCalls, Arc<ToolHub>), EngineError> {
    let mut calls = crate::hostcall::HostCalls::with_builtins();
    let mut settings = project.config.tools.clone();
    settings.policy = settings.policy.with_overrides(policy_overrides)?;
    for warning in settings.policy.unmatched(&mcp) {
        out.notice(NoticeLevel::Warning, format!("warning: {warning}"));
    }
    let hub = ToolHub::with_settings(mcp, workspace.to_path_buf(), &settings);
    hub.register(&mut calls);
    write_tools_package(&hub, workspace).await?;
    Ok((calls, hub))
}

/// Writes the `tools` package (current modules) into `workspace`.
async fn write_tools_package(
    hub: &ToolHub,
    workspace: &std::path::Path,
) -> Result<(), EngineError> {
    hub.prepare_workspace().await.map_err(|e| {
        EngineError::io(
            format!(
                "could not write the tools package into {}",
                workspace.display()
            ),
            e,
        )
    })
}

/// The kernel-side stand-in for `ask_llm` in a session without a model.
fn ask_llm_without_model(calls: &mut crate::hostcall::HostCalls) {
    calls.register("ask_llm", |_: serde_json::Value| async {
        Err(crate::hostcall::HostCallError::new(
            "no_model",
            "ask_llm needs a model, and `mcpr exec` runs code without one; continue this session with `mcpr run --session NAME \"task\"` to use ask_llm",
        ))
    });
}

impl LiveSession {
    /// Opens the session `spec` describes: model, kernel, tools, skills, record; a
    /// recorded session's state is rebuilt. Everything said on the way is an event.
    pub async fn open(
        ctx: Context,
        spec: SessionSpec,
        out: Emitter,
    ) -> Result<LiveSession, EngineError> {
        Self::open_adopting(ctx, spec, out, None).await
    }

    /// [`LiveSession::open`], for a fork that takes over its parent's kernel (see
    /// [`super::live_fork`]).
    async fn open_adopting(
        ctx: Context,
        spec: SessionSpec,
        out: Emitter,
        mut adopt: Option<Adopted>,
    ) -> Result<LiveSession, EngineError> {
        spec.check()?;
        let project = &ctx.project;
        for (level, notice) in project_notices(project, &ctx.cwd) {
            out.notice(level, notice);
        }
        let kernel = kernel_config(project, spec.timeout_seconds);
        let mcp = mcp_config(spec.mcp_config.as_deref(), &ctx, &out)?;
        let secrets = crate::secrets::Secrets::with_env(mcp.secret_values().iter().cloned());
        let step_id = Arc::new(AtomicU64::new(0));
        let mut manual = None;
        let provider: Option<Arc<dyn Provider>> = if spec.need_model || spec.model.is_given() {
            let choice = LlmChoice {
                provider: spec.model.provider.clone(),
                base_url: spec.model.base_url.clone(),
                model: spec.model.model.clone(),
                api_key: None,
            };
            let selected = select(&choice, &project.config.llm).await.map_err(|e| {
                let named =
                    spec.model.provider.as_deref().is_some_and(|p| {
                        p.starts_with("script:") || !matches!(p, "openai" | "manual")
                    });
                if named {
                    EngineError::ModelChoice(e.to_string())
                } else {
                    EngineError::Model(e)
                }
            })?;
            out.notice(NoticeLevel::Info, format!("model: {}", selected.reason));
            Some(if selected.provider.kind() == "manual" {
                let (provider, answers) = ChannelManual::new(out.clone(), step_id.clone());
                manual = Some(answers);
                Arc::new(provider)
            } else {
                selected.provider
            })
        } else {
            None
        };
        let launcher = Launcher::from_config(&kernel, spec.isolation)?;
        let dir = super::record::replay_dir(project)?;
        let (name, named) = match &spec.start {
            Start::New => (new_session_name(), false),
            Start::Continue { name } => (name.clone(), true),
            Start::Rewind { name, .. } if !dir.exists(name) => {
                return Err(EngineError::Record(
                    crate::record::recorder::RecordError::NoSession {
                        name: name.clone(),
                        dir: dir.root().to_path_buf(),
                    },
                ));
            }
            Start::Rewind { name, .. } => (name.clone(), true),
            Start::Fork { from, step, name } => {
                let name = match adopt.as_mut() {
                    Some(adopted) => super::live_fork::fork_moving_workspace(
                        project,
                        &dir,
                        from,
                        *step,
                        name.as_deref(),
                        adopted,
                    )?,
                    None => super::record::fork(project, from, *step, name.as_deref())?,
                };
                out.send(Event::Forked {
                    from: from.clone(),
                    step: *step,
                    session: name.clone(),
                });
                (name, false)
            }
        };
        let workspace = project.session_workspace(&name)?;
        let context =
            match &spec.context {
                Some(file) => Some(ContextInput::install(file, &workspace).map_err(|e| {
                    EngineError::Context {
                        path: file.clone(),
                        why: format!("could not place it in the workspace: {e}"),
                    }
                })?),
                None => None,
            };
        let (launcher, library) = session_skills(project, launcher, &workspace, spec.skills, &out)?;
        let (mut calls, hub) =
            session_tools(project, mcp, &workspace, &spec.tool_policy, &out).await?;
        // Calls the policy asks about wait for a front end's answer; without anyone to
        // answer (`interactive` off) the hub denies them.
        let approvals = Approvals::new(out.clone());
        if spec.interactive {
            hub.set_approver(Some(Arc::new(AskFrontEnd(approvals.clone()))));
        }
        let mut settings = project.config.agent.clone();
        if let Some(n) = spec.max_attempts {
            settings.max_attempts = n;
        }
        let ask = AskState::new(
            provider.clone().unwrap_or_else(|| Arc::new(NoModel)),
            AskLimits {
                max_calls_per_step: settings.ask_llm_max_calls,
                max_tokens_per_step: settings.ask_llm_max_tokens,
            },
        );
        ask.register(&mut calls);
        if provider.is_none() {
            ask_llm_without_model(&mut calls);
        }
        let pool = ctx
            .warm
            .as_ref()
            .and_then(|warm| warm.for_launcher(&launcher));
        let (session, mut adopted_frozen) = match adopt.take() {
            Some(a) => {
                let mut session = Session::with_kernel(
                    launcher.clone(),
                    calls,
                    name.clone(),
                    workspace.clone(),
                    a.kernel,
                );
                session.set_pool(pool);
                (session, Some(a.frozen))
            }
            None => (
                Session::start_pooled(
                    launcher.clone(),
                    pool,
                    calls,
                    name.clone(),
                    workspace.clone(),
                )
                .await?,
                None,
            ),
        };
        if launcher.isolation() == crate::sandbox::Isolation::None
            && spec.isolation != Some(IsolationRequest::None)
        {
            let why = crate::sandbox::SandboxProbe::get()
                .namespaces
                .clone()
                .err()
                .unwrap_or_default();
            out.notice(
                NoticeLevel::Warning,
                format!(
                    "warning: running without isolation ({why}); `mcpr doctor` says how to enable it"
                ),
            );
        }
        out.send(session.started_event());
        let mut agent = Agent::new(
            provider.unwrap_or_else(|| Arc::new(NoModel)),
            session,
            ask,
            Some(hub.clone()),
            settings,
            context,
        )
        .await?;
        if let Some(library) = &library {
            agent = agent.with_skills(Arc::new(LibrarySource::new(
                library.clone(),
                launcher.clone(),
            )));
        }
        let at = match &spec.start {
            Start::Rewind { step, .. } => Some(*step),
            // An adopted kernel's workspace is the parent's until the step's is restored.
            Start::Fork { step, .. } if adopted_frozen.is_some() => Some(*step),
            _ => None,
        };
        if let (Some(frozen), Some(step)) = (adopted_frozen.as_mut(), at) {
            let (history, _) = history_to(&dir, &name, step)?;
            let path: Vec<u64> = history.iter().map(|h| h.step.id()).collect();
            frozen.retain_path(agent.session_mut(), &path).await;
        }
        let saved = project.config.checkpoints.saved;
        let (recorder, earlier) = continue_session(
            &dir,
            agent.session_mut(),
            secrets,
            &out,
            named,
            at,
            saved,
            adopted_frozen.as_mut(),
        )
        .await?;
        agent.continue_after(
            earlier.iter().filter_map(agent_history).collect(),
            recorder.next_step(),
        );
        if recorder.head() > 0 {
            // An old snapshot may hold an older tools package; write the current one.
            write_tools_package(&hub, &workspace).await?;
        }
        if let Ok(mut slot) = out.recorder().lock() {
            *slot = Some(recorder);
        }
        let settings = &project.config.checkpoints;
        let frozen = adopted_frozen
            .or_else(|| {
                (spec.live_checkpoints && settings.live).then(|| {
                    super::frozen::FrozenCopies::new(settings, agent.session().limits().processes)
                })
            })
            .filter(super::frozen::FrozenCopies::enabled);
        Ok(LiveSession {
            ctx,
            spec,
            dir,
            name,
            workspace,
            agent,
            hub,
            library,
            out,
            manual,
            approvals,
            step_id,
            record_warned: false,
            checkpoint_warned: false,
            frozen,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn workspace(&self) -> &std::path::Path {
        &self.workspace
    }

    pub fn hub(&self) -> &Arc<ToolHub> {
        &self.hub
    }

    /// Where answers to approval requests go.
    pub fn approvals(&self) -> Arc<Approvals> {
        self.approvals.clone()
    }

    /// Where manual-mode answers go, when the user is the model.
    pub fn manual_answers(&self) -> Option<ManualAnswers> {
        self.manual.clone()
    }

    fn begin_step(&mut self, kind: StepKind, task: Option<String>) -> u64 {
        let startup = self.agent.session().startup_code().map(str::to_string);
        let step = self
            .out
            .with_recorder(|r| r.begin_step(kind, task, startup.as_deref()))
            .unwrap_or_default();
        self.step_id.store(step, Ordering::SeqCst);
        step
    }

    /// Ends the recorded step (the workspace snapshot runs off the async threads).
    async fn end_step(&mut self, success: bool, used: Vec<String>, created: Vec<String>) {
        let recorder = self.out.recorder().clone();
        let ended = tokio::task::spawn_blocking(move || {
            let mut slot = recorder
                .lock()
                .map_err(|_| "the recorder was poisoned".to_string())?;
            match slot.as_mut() {
                Some(r) => r
                    .end_step(success, used, created)
                    .map_err(|e| e.to_string()),
                None => Err("no session record is open".to_string()),
            }
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        match ended {
            Ok(step) => {
                self.out.send(Event::StepRecorded {
                    session: self.name.clone(),
                    step,
                    success,
                });
                let saved = self.save_checkpoint(step).await;
                let evicted = self.freeze(step).await;
                let (live, live_bytes) = self.live_checkpoints();
                self.out.send(Event::CheckpointKept {
                    session: self.name.clone(),
                    step,
                    saved,
                    live,
                    live_bytes,
                    evicted,
                });
            }
            Err(e) if !self.record_warned => {
                self.record_warned = true;
                self.out.notice(
                    NoticeLevel::Warning,
                    format!("warning: the session record could not be written: {e}"),
                );
            }
            Err(_) => {}
        }
    }

    /// Saves the kernel's state after `step` in the record (see [`super::checkpoint`]),
    /// when `[checkpoints] saved` is on. A failure only costs later continuations their
    /// speed: it is said once, and they replay.
    async fn save_checkpoint(&mut self, step: u64) -> bool {
        if !self.ctx.project.config.checkpoints.saved {
            return false;
        }
        let Some((store, secrets)) = self
            .out
            .with_recorder(|r| (r.store().clone(), r.secrets().clone()))
        else {
            return false;
        };
        let session = self.agent.session_mut();
        if !session
            .kernel()
            .is_some_and(crate::kernel::Kernel::is_alive)
        {
            return false;
        }
        let saved = super::checkpoint::save(session, step, &store, &secrets).await;
        let written = saved.and_then(|c| {
            self.out
                .with_recorder(|r| r.checkpoint(c).map_err(|e| e.to_string()))
                .unwrap_or_else(|| Err("no session record is open".into()))
        });
        let Err(e) = written else {
            return true;
        };
        if !self.checkpoint_warned {
            self.checkpoint_warned = true;
            self.out.notice(
                NoticeLevel::Warning,
                format!(
                    "warning: the state after step {step} could not be saved ({e}); continuing this session later will re-run its cells"
                ),
            );
        }
        false
    }

    /// Keeps a frozen copy of the kernel after `step` (a live checkpoint), ending the
    /// copies the bounds no longer allow.
    async fn freeze(&mut self, step: u64) -> Vec<u64> {
        let Some(frozen) = self.frozen.as_mut() else {
            return Vec::new();
        };
        let e = match frozen.freeze(self.agent.session_mut(), step).await {
            Ok(evicted) => return evicted,
            Err(e) => e,
        };
        if !self.checkpoint_warned {
            self.checkpoint_warned = true;
            self.out.notice(
                NoticeLevel::Warning,
                format!(
                    "warning: no live checkpoint of step {step} ({e}); a rewind there uses the saved state instead"
                ),
            );
        }
        Vec::new()
    }

    /// The steps with a live checkpoint, oldest first, and the memory their copies hold
    /// (the sum of their PSS in bytes, as last measured).
    pub fn live_checkpoints(&self) -> (Vec<u64>, u64) {
        self.frozen
            .as_ref()
            .map(|f| (f.steps(), f.bytes()))
            .unwrap_or_default()
    }

    /// Runs a task in plain words to its end, or until `cancel` fires.
    pub async fn run_task(&mut self, task: &str, cancel: &CancellationToken) -> StepSummary {
        let step = self.begin_step(StepKind::Task, Some(task.to_string()));
        self.agent.set_next_step(step);
        let out = self.out.clone();
        let summary = self
            .agent
            .run_step_with(task, cancel, &mut |e| out.emit(e))
            .await;
        self.end_step(
            summary.success,
            summary.skills_used.clone(),
            summary.skills_created.clone(),
        )
        .await;
        summary
    }

    /// Runs one cell of code as a step of its own, or until `cancel` fires.
    pub async fn run_cell(&mut self, code: &str, cancel: &CancellationToken) -> CellStatus {
        self.begin_step(StepKind::Cell, None);
        let session = self.agent.session_mut();
        let mut opts = session.cell_options();
        opts.cancel = cancel.child_token();
        opts.grace = opts.grace.max(Duration::from_millis(100));
        let out = self.out.clone();
        let status = session
            .run_cell_with(code, &opts, &mut |e| out.emit(e))
            .await;
        let used = match self.library.clone() {
            Some(library) if code.contains("skills") => {
                let code = code.to_string();
                let success = status.is_success();
                tokio::task::spawn_blocking(move || skills_used(&library, &code, success))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
                    .unwrap_or_else(|e| {
                        self.out
                            .notice(NoticeLevel::Warning, format!("warning: {e}"));
                        Vec::new()
                    })
            }
            _ => Vec::new(),
        };
        self.end_step(status.is_success(), used, Vec::new()).await;
        status
    }

    /// The names in the kernel's namespace (see [`super::inspect`]); nothing is recorded.
    pub async fn variables(&mut self) -> Result<Vec<crate::event::Variable>, EngineError> {
        let session = self.agent.session_mut();
        let mut opts = session.cell_options();
        opts.timeout = Some(super::inspect::TIME_LIMIT);
        opts.grace = super::inspect::GRACE;
        let stdout = session
            .run_quiet(&super::inspect::code(), &opts)
            .await
            .map_err(|e| EngineError::Inspect(format!("cannot list the kernel's names: {e}")))?;
        super::inspect::parse(&stdout).map_err(EngineError::Inspect)
    }

    /// Goes back to `step` of this session: its state is rebuilt in a fresh kernel from
    /// the record, the next step continues from it, and the agent remembers the steps up
    /// to it. Later steps stay in the record as a branch.
    pub async fn rewind(&mut self, step: u64) -> Result<(), EngineError> {
        let (history, base) = history_to(&self.dir, &self.name, step)?;
        let session = self.agent.session_mut();
        let mut snapshots = self
            .out
            .with_recorder(|r| std::mem::take(r.snapshots_mut()))
            .unwrap_or_default();
        let live = match self.frozen.as_mut() {
            Some(frozen) => {
                super::checkpoint::from_live(
                    session,
                    frozen,
                    &history,
                    &mut snapshots,
                    &self.dir,
                    &self.out,
                )
                .await
            }
            None => Ok(super::checkpoint::Live::NotUsed(None)),
        };
        let replayed = match live {
            Ok(super::checkpoint::Live::Restored(r)) => Ok(r),
            Ok(super::checkpoint::Live::NotUsed(why)) => {
                session.restart_kernel().await;
                super::checkpoint::restore(
                    session,
                    &history,
                    &base,
                    &mut snapshots,
                    &self.dir,
                    &self.out,
                    super::checkpoint::Via {
                        saved: self.ctx.project.config.checkpoints.saved,
                        live_fallback: why,
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        self.out.with_recorder(|r| *r.snapshots_mut() = snapshots);
        let restored = replayed.map_err(|e| EngineError::replay(&self.name, e))?;
        self.out
            .with_recorder(|r| r.set_head(step))
            .ok_or(EngineError::Closed)??;
        write_tools_package(&self.hub, &self.workspace).await?;
        let next = self
            .out
            .with_recorder(|r| r.next_step())
            .unwrap_or_default();
        self.agent
            .continue_after(history.iter().filter_map(agent_history).collect(), next);
        self.out.notice(
            NoticeLevel::Info,
            format!(
                "session {} is back at step {step}: state restored in {:.0} ms {}, with {} recorded call(s) served and no tool or model called",
                self.name,
                restored.duration_ms,
                restored
                    .source
                    .describe(restored.cells as u64, restored.checkpoint, &restored.recreated),
                restored.report.calls_served
            ),
        );
        self.out.send(Event::HeadMoved {
            session: self.name.clone(),
            step,
        });
        Ok(())
    }

    /// Branches a new session off this one at `step` and continues in it (this session's
    /// record is untouched). Returns the new session.
    ///
    /// When a live checkpoint lies on the path to `step`, the new session takes over this
    /// session's kernel and wakes a clone of that copy (see [`super::live_fork`]);
    /// otherwise it starts a kernel of its own and rebuilds the state from the record.
    pub async fn fork(
        mut self,
        step: u64,
        name: Option<String>,
    ) -> Result<LiveSession, (Box<LiveSession>, EngineError)> {
        let adopt = self.adoptable(step, name.as_deref());
        let name = match &adopt {
            Some((_, fork)) => Some(fork.clone()),
            None => name,
        };
        let adopt = adopt.map(|(a, _)| a);
        let spec = SessionSpec {
            start: Start::Fork {
                from: self.name.clone(),
                step,
                name,
            },
            ..self.spec.clone()
        };
        let adopting = adopt.is_some();
        // The new session records through a recorder of its own.
        let fresh = self.out.fresh();
        match LiveSession::open_adopting(self.ctx.clone(), spec, fresh, adopt).await {
            Ok(forked) => {
                self.close().await;
                Ok(forked)
            }
            Err(e) if adopting => {
                // The kernel went to the failed fork: rebuild this session's state.
                let head = self.out.with_recorder(|r| r.head()).unwrap_or_default();
                if head > 0
                    && let Err(again) = self.rewind(head).await
                {
                    self.out.notice(
                        NoticeLevel::Warning,
                        format!(
                            "warning: session {} lost its kernel to the failed fork and could not rebuild it ({again}); the next cell starts a fresh one",
                            self.name
                        ),
                    );
                }
                Err((Box::new(self), e))
            }
            Err(e) => Err((Box::new(self), e)),
        }
    }

    /// This session's kernel and frozen copies, taken for a fork at `step` named `name`
    /// (or the next free fork name, returned) when a copy lies on the path to the step
    /// and the fork's workspace folder is free to take the moved one.
    fn adoptable(&mut self, step: u64, name: Option<&str>) -> Option<(Adopted, String)> {
        let fork = match name {
            Some(n) => n.to_string(),
            None => super::record::fork_name(&self.dir, &self.name),
        };
        // Without a sandbox the kernel knows its workspace by host path too (`HOME`), and
        // would go on writing into the parent's folder.
        if self.agent.session().isolation() == crate::sandbox::Isolation::None {
            return None;
        }
        crate::project::validate_session_name(&fork).ok()?;
        if !super::live_fork::vacant(&self.ctx.project.workspace_root().join(&fork)) {
            return None;
        }
        let (history, _) = history_to(&self.dir, &self.name, step).ok()?;
        let path: Vec<u64> = history.iter().map(|h| h.step.id()).collect();
        let frozen = self.frozen.as_mut()?;
        frozen.nearest(self.agent.session(), &path)?;
        let frozen = self.frozen.take()?;
        let kernel = self.agent.session_mut().take_kernel()?;
        let snapshots = self
            .out
            .with_recorder(|r| std::mem::take(r.snapshots_mut()))
            .unwrap_or_default();
        let adopted = Adopted {
            kernel,
            frozen,
            parent_workspace: self.workspace.clone(),
            snapshots,
        };
        Some((adopted, fork))
    }

    /// Ends the session: the kernel and the tool servers stop; the record stays.
    pub async fn close(mut self) {
        if let Ok(mut slot) = self.out.recorder().lock() {
            *slot = None;
        }
        if let Some(frozen) = self.frozen.as_mut() {
            frozen.drop_all(self.agent.session_mut()).await;
        }
        self.agent.close().await;
    }
}

/// The skills a cell imported, counted in the library's stats as one use each.
fn skills_used(library: &SkillLibrary, code: &str, success: bool) -> Result<Vec<String>, String> {
    let analyzer = crate::skills::analyze::Analyzer::new(library.python());
    let imported = analyzer
        .imports(&[code])
        .map_err(|e| format!("could not tell which skills the cell used: {e}"))?
        .pop()
        .unwrap_or_default();
    library
        .record_runs(&[(imported, success)])
        .map_err(|e| format!("could not update the skill stats: {e}"))
}
