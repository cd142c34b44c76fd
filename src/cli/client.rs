//! The CLI as a client of an engine session: flags become a [`SessionSpec`], operations
//! go in, and events come back to be printed.

use clap::Args;
use std::path::PathBuf;

use super::CliError;
use super::printer::Printer;
use crate::engine::{Context, ModelSpec, Op, SessionHandle, SessionSpec, Start};
use crate::event::{CellStatus, Event, StepSummary};
use crate::sandbox::IsolationRequest;
use crate::tools::policy::Decision;

/// The flags every command that runs a session shares (`run`, `exec`, `resume`).
#[derive(Debug, Clone, Args)]
pub struct SessionFlags {
    /// Isolation level (default from mcpr.toml, else auto = strongest available)
    #[arg(long, value_enum)]
    pub isolation: Option<IsolationRequest>,
    /// Wall-clock limit per code run in seconds (0 = none)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// MCP servers to offer as tools (default: .mcp.json, then ~/.config/mcpr/mcp.json)
    #[arg(long, value_name = "FILE")]
    pub mcp_config: Option<PathBuf>,
    /// Provider: openai, manual, or script:FILE (default: see `mcpr doctor`)
    #[arg(long, value_name = "PROVIDER")]
    pub llm: Option<String>,
    /// Model name (default: OPENAI_MODEL, [llm] model, or the server's first model)
    #[arg(long)]
    pub model: Option<String>,
    /// OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Tries per task: the first and its fixes
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// A large input the code can read as CONTEXT_DATA (never pasted into the prompt)
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Neither offer the project's skills nor keep task code as a skill
    #[arg(long)]
    pub no_skills: bool,
    /// Tool-call policy for this session, e.g. `git=ask` or `demo.delete_note=deny`
    /// (rules: allow, ask, deny; repeatable; beats [tools.policy] in mcpr.toml)
    #[arg(long = "tool-policy", value_name = "SERVER[.TOOL]=RULE")]
    pub tool_policy: Vec<String>,
    /// Print one JSON event per line
    #[arg(long)]
    pub json: bool,
}

impl SessionFlags {
    /// The spec these flags describe.
    pub fn spec(&self, start: Start, need_model: bool) -> SessionSpec {
        SessionSpec {
            start,
            isolation: self.isolation,
            timeout_seconds: self.timeout,
            mcp_config: self.mcp_config.clone(),
            model: ModelSpec {
                provider: self.llm.clone(),
                model: self.model.clone(),
                base_url: self.base_url.clone(),
            },
            need_model,
            skills: !self.no_skills,
            max_attempts: self.max_attempts,
            context: self.context.clone(),
            tool_policy: self.tool_policy.clone(),
            // Calls the policy asks about are asked on the terminal, when there is one.
            interactive: !self.json && terminal(),
            live_checkpoints: false,
        }
    }
}

fn terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// How the last step or cell ended, as the CLI's exit code needs it.
#[derive(Debug, Default)]
pub struct Outcome {
    pub summary: Option<StepSummary>,
    pub cell: Option<CellStatus>,
}

pub struct Client {
    handle: SessionHandle,
    printer: Printer,
    watcher: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Opens the session and prints what opening says; its failure is the command's.
    pub async fn open(
        (project, cwd): (crate::project::Project, std::path::PathBuf),
        spec: SessionSpec,
        json: bool,
    ) -> Result<Client, CliError> {
        spec.check().map_err(|e| CliError::usage(e.to_string()))?;
        let handle = crate::engine::start(Context::new(project, cwd), spec);
        // Ctrl-C cancels the step running (the model's answer, a cell, a tool call); the
        // step is recorded as cancelled and the session stays usable.
        let watcher = {
            let ops = handle.ops.clone();
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    ops.send(Op::Cancel);
                }
            })
        };
        let mut client = Client {
            handle,
            printer: Printer {
                json,
                workspace_shown: String::new(),
            },
            watcher,
        };
        client.wait(0).await?;
        Ok(client)
    }

    /// Sends `op` and prints its events until it ends.
    pub async fn run(&mut self, op: Op) -> Result<Outcome, CliError> {
        let id = self.handle.ops.send(op);
        self.wait(id).await
    }

    async fn wait(&mut self, op: u64) -> Result<Outcome, CliError> {
        let mut outcome = Outcome::default();
        while let Some(event) = self.handle.events.recv().await {
            match &event {
                Event::OpEnded {
                    op: id,
                    error,
                    usage,
                    ..
                } if *id == op => {
                    return match error {
                        None => Ok(outcome),
                        Some(e) if *usage => Err(CliError::usage(e.clone())),
                        Some(e) => Err(CliError::failed(e)),
                    };
                }
                Event::SessionStarted { workspace, .. } => {
                    self.printer.workspace_shown = workspace.display().to_string();
                }
                Event::StepFinished(s) => outcome.summary = Some(s.clone()),
                Event::CellFinished { status, .. } => outcome.cell = Some(*status),
                Event::CodeRequested { .. } => {
                    // The user is the model: what they type (on a thread, stdin blocks)
                    // is the answer.
                    let ops = self.handle.ops.clone();
                    tokio::task::spawn_blocking(move || {
                        let code = crate::llm::offline::read_code().unwrap_or_default();
                        ops.send(Op::Answer(code));
                    });
                }
                Event::ApprovalRequested(r) => {
                    let (ops, id) = (self.handle.ops.clone(), r.id);
                    tokio::task::spawn_blocking(move || {
                        let mut line = String::new();
                        let _ = std::io::stdin().read_line(&mut line);
                        let decision = match line.trim().to_lowercase().as_str() {
                            "y" | "yes" => Decision::AllowOnce,
                            "a" | "always" => Decision::AllowSession,
                            _ => Decision::Deny,
                        };
                        ops.send(Op::Approve { id, decision });
                    });
                }
                _ => {}
            }
            self.printer.show(event);
        }
        Err(CliError::failed("the session ended unexpectedly"))
    }

    /// Shuts the session down (kernel and tool servers stop; the record stays).
    pub async fn close(mut self) {
        let id = self.handle.ops.send(Op::Shutdown);
        let _ = self.wait(id).await;
        self.watcher.abort();
    }
}
