//! The three arms, each run on a laid-out task: `reference` runs the task's reference
//! code through mcpr (no model), `code` runs mcpr's agent loop, `json` runs the
//! function-calling loop of [`super::function_calling`]. All three get the same servers
//! through one `ToolHub` with the same policy, and report the same measurements.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::function_calling::{self, Limits};
use super::setup::Prepared;
use super::task::Task;
use crate::agent::ask::{AskLimits, AskState};
use crate::agent::{Agent, AgentSettings};
use crate::event::Event;
use crate::hostcall::HostCalls;
use crate::llm::Provider;
use crate::llm::openai::OpenAiProvider;
use crate::session::{Launcher, Session};
use crate::tools::config::McpConfig;
use crate::tools::hub::{ToolHub, ToolSettings};
use crate::tools::policy::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    Code,
    Json,
    Reference,
}

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::Code => "code",
            Arm::Json => "json",
            Arm::Reference => "reference",
        }
    }

    pub fn parse(word: &str) -> Option<Arm> {
        match word.trim() {
            "code" => Some(Arm::Code),
            "json" => Some(Arm::Json),
            "reference" => Some(Arm::Reference),
            _ => None,
        }
    }

    pub fn needs_model(self) -> bool {
        self != Arm::Reference
    }
}

/// What one run of an arm produced, before validation.
#[derive(Debug, Clone, Default)]
pub struct ArmRun {
    /// The text the validator reads: the final answer and what the code printed.
    pub answer: String,
    pub model_calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub tool_calls: u32,
    /// Tries beyond the first (code: fixes after an error; json: turns after a failed call).
    pub retries: u32,
    pub errors: Vec<String>,
    /// The model as the endpoint named it.
    pub model: String,
}

/// Servers started for one run, and the host calls that reach them.
pub struct Tools {
    pub hub: Arc<ToolHub>,
    pub calls: HostCalls,
}

/// The benchmark's tool settings: every arm may call every tool of its servers (the
/// policy would otherwise hold destructive calls for an approval nobody gives).
pub fn tool_settings() -> ToolSettings {
    let mut s = ToolSettings::default();
    s.policy.destructive = Rule::Allow;
    s
}

pub async fn start_tools(run: &Prepared) -> Result<Tools, String> {
    let config_path = run.root.join("mcp.json");
    let config = McpConfig::parse(&run.mcp_json, &config_path, &|_| None)
        .map_err(|e| format!("MCP configuration: {e}"))?;
    let hub = ToolHub::with_settings(config, run.workspace.clone(), &tool_settings());
    let mut calls = HostCalls::with_builtins();
    hub.register(&mut calls);
    hub.prepare_workspace()
        .await
        .map_err(|e| format!("could not write the tools package: {e}"))?;
    Ok(Tools { hub, calls })
}

/// Counts a cell's tool calls and collects what it printed and its error.
#[derive(Default)]
struct CellWatch {
    output: String,
    tool_calls: u32,
    error: Option<String>,
}

impl CellWatch {
    fn see(&mut self, e: &Event) {
        match e {
            Event::Output { text, .. } => self.output.push_str(text),
            Event::Value { repr, .. } => {
                self.output.push_str(repr);
                self.output.push('\n');
            }
            Event::HostCall { name, .. } if name == "tools.call" => self.tool_calls += 1,
            Event::Error { ename, message, .. } => {
                self.error = Some(format!("{ename}: {message}"));
            }
            _ => {}
        }
    }
}

pub async fn reference(task: &Task, run: &Prepared, launcher: Launcher) -> ArmRun {
    let tools = match start_tools(run).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let session = Session::start(
        launcher,
        tools.calls,
        task.id.clone(),
        run.workspace.clone(),
    )
    .await;
    let mut session = match session {
        Ok(s) => s,
        Err(e) => {
            tools.hub.shutdown().await;
            return failed(format!("the kernel did not start: {e}"));
        }
    };
    let opts = session.cell_options();
    let mut watch = CellWatch::default();
    session
        .run_cell_with(&run.fill(&task.reference), &opts, &mut |e| watch.see(&e))
        .await;
    session.close().await;
    tools.hub.shutdown().await;
    ArmRun {
        answer: watch.output,
        tool_calls: watch.tool_calls,
        errors: watch.error.into_iter().collect(),
        ..ArmRun::default()
    }
}

fn failed(why: String) -> ArmRun {
    ArmRun {
        errors: vec![why],
        ..ArmRun::default()
    }
}

pub async fn code(
    task: &Task,
    run: &Prepared,
    launcher: Launcher,
    provider: Arc<OpenAiProvider>,
    limits: &Limits,
) -> ArmRun {
    let Tools { hub, mut calls } = match start_tools(run).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let provider: Arc<dyn Provider> = provider;
    let settings = AgentSettings {
        max_attempts: limits.max_turns,
        system_note: Some(function_calling::SHARED_BODY.to_string()),
        ..AgentSettings::default()
    };
    let ask = AskState::new(
        provider.clone(),
        AskLimits {
            max_calls_per_step: settings.ask_llm_max_calls,
            max_tokens_per_step: settings.ask_llm_max_tokens,
        },
    );
    ask.register(&mut calls);
    let session =
        match Session::start(launcher, calls, task.id.clone(), run.workspace.clone()).await {
            Ok(s) => s,
            Err(e) => {
                hub.shutdown().await;
                return failed(format!("the kernel did not start: {e}"));
            }
        };
    let agent = Agent::new(provider, session, ask, Some(hub.clone()), settings, None).await;
    let mut agent = match agent {
        Ok(a) => a,
        Err(e) => {
            hub.shutdown().await;
            return failed(e.to_string());
        }
    };
    let mut tool_calls = 0;
    let mut model = String::new();
    let summary = agent
        .run_step(&run.fill(&task.prompt), &mut |e| match &e {
            Event::HostCall { name, .. } if name == "tools.call" => tool_calls += 1,
            Event::LlmCall { model: m, .. } => model = m.clone(),
            _ => {}
        })
        .await;
    agent.close().await;
    let answer = [
        summary.answer.clone().unwrap_or_default(),
        summary.output.clone(),
    ]
    .join("\n");
    ArmRun {
        answer,
        model_calls: summary.llm_calls,
        prompt_tokens: summary.prompt_tokens,
        completion_tokens: summary.completion_tokens,
        tool_calls,
        retries: summary.attempts.saturating_sub(1),
        errors: summary
            .error
            .into_iter()
            .filter(|_| !summary.success)
            .collect(),
        model,
    }
}

pub async fn json(
    task: &Task,
    run: &Prepared,
    provider: &OpenAiProvider,
    limits: &Limits,
) -> ArmRun {
    let Tools { hub, .. } = match start_tools(run).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let result = function_calling::run(provider, &hub, &run.fill(&task.prompt), limits).await;
    hub.shutdown().await;
    result
}
