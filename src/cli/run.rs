//! `mcpr run`: a task in plain words; the model writes code, mcpr runs it, errors feed back.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CliError, current_project, mcp_config};
use crate::agent::ask::{AskLimits, AskState};
use crate::agent::{Agent, ContextInput};
use crate::event::Event;
use crate::llm::select::{LlmChoice, select};
use crate::project::new_session_name;
use crate::record::log::StepKind;
use crate::record::replay::HistoryStep;
use crate::sandbox::IsolationRequest;
use crate::session::{Launcher, Session};
use crate::skills::source::LibrarySource;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// What to do, in plain words
    task: String,
    /// Provider: openai, manual, or script:FILE (default: see `mcpr doctor`)
    #[arg(long, value_name = "PROVIDER")]
    llm: Option<String>,
    /// Model name (default: OPENAI_MODEL, [llm] model, or the server's first model)
    #[arg(long)]
    model: Option<String>,
    /// OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// A large input the code can read as CONTEXT_DATA (never pasted into the prompt)
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// Continue this session (created when new): its state is rebuilt from the record
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Tries per task: the first and its fixes
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Print one JSON event per line
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum)]
    isolation: Option<IsolationRequest>,
    /// Wall-clock limit per code run in seconds (0 = none)
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// MCP servers to offer as tools (default: .mcp.json, then ~/.config/mcpr/mcp.json)
    #[arg(long, value_name = "FILE")]
    mcp_config: Option<PathBuf>,
    /// Neither offer the project's skills nor keep this task's code as a skill
    #[arg(long)]
    no_skills: bool,
}

pub async fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    if args.task.trim().is_empty() {
        return Err(CliError::usage(
            "the task is empty: say what to do, e.g. mcpr run \"count the lines of README.md\"",
        ));
    }
    if let Some(file) = &args.context
        && !file.is_file()
    {
        return Err(CliError::usage(format!(
            "--context {}: no such file",
            file.display()
        )));
    }
    if let Some(n) = args.max_attempts
        && !(1..=20).contains(&n)
    {
        return Err(CliError::usage(format!(
            "--max-attempts must be from 1 to 20, got {n}"
        )));
    }
    let kernel = super::kernel_config(&project, args.timeout)?;
    let mut settings = project.config.agent.clone();
    if let Some(n) = args.max_attempts {
        settings.max_attempts = n;
    }
    let mcp = mcp_config(args.mcp_config.as_deref(), &project)?;
    let secrets = crate::secrets::Secrets::with_env(mcp.secret_values().iter().cloned());
    let choice = LlmChoice {
        provider: args.llm.clone(),
        base_url: args.base_url.clone(),
        model: args.model.clone(),
        api_key: None,
    };
    let selected = select(&choice, &project.config.llm).await.map_err(|e| {
        if args
            .llm
            .as_deref()
            .is_some_and(|p| p.starts_with("script:") || !matches!(p, "openai" | "manual"))
        {
            CliError::usage(e.to_string())
        } else {
            CliError::failed(e.to_string())
        }
    })?;
    let launcher = Launcher::from_config(&kernel, args.isolation).map_err(CliError::failed)?;
    let name = match args.session.clone() {
        Some(n) => n,
        None => new_session_name(),
    };
    let workspace = project
        .session_workspace(&name)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let context = match &args.context {
        Some(file) => Some(ContextInput::install(file, &workspace).map_err(|e| {
            CliError::failed(format!("could not place --context in the workspace: {e}"))
        })?),
        None => None,
    };
    let (launcher, skills) =
        super::skills::session_skills(&project, launcher, &workspace, !args.no_skills)?;
    let (mut calls, hub) = super::session_tools(&project, mcp, &workspace).await?;
    let ask = AskState::new(
        selected.provider.clone(),
        AskLimits {
            max_calls_per_step: settings.ask_llm_max_calls,
            max_tokens_per_step: settings.ask_llm_max_tokens,
        },
    );
    ask.register(&mut calls);
    let session = Session::start(launcher.clone(), calls, name.clone(), workspace.clone())
        .await
        .map_err(CliError::failed)?;
    let mut printer = super::printer::Printer {
        json: args.json,
        workspace_shown: workspace.display().to_string(),
    };
    printer.note(&format!("model: {}", selected.reason));
    printer.show(session.started_event());
    let mut agent = Agent::new(
        selected.provider,
        session,
        ask,
        Some(hub),
        settings,
        context,
    )
    .await
    .map_err(CliError::failed)?;
    if let Some(library) = skills {
        agent = agent.with_skills(Arc::new(LibrarySource::new(library, launcher)));
    }
    let (mut recorder, earlier) = super::record::continue_session(
        &project,
        agent.session_mut(),
        secrets,
        &printer,
        args.session.is_some(),
    )
    .await?;
    agent.continue_after(
        earlier.iter().filter_map(agent_history).collect(),
        recorder.next_step(),
    );
    let step = recorder.begin_step(
        StepKind::Task,
        Some(args.task.clone()),
        agent.session().startup_code(),
    );
    agent.set_next_step(step);
    // Ctrl-C cancels the step (the model's answer or the running cell); the step is
    // recorded as cancelled and the session stays continuable.
    let cancel = tokio_util::sync::CancellationToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let summary = agent
        .run_step_with(&args.task, &cancel, &mut |e| {
            recorder.event(&e);
            printer.show(e)
        })
        .await;
    watcher.abort();
    if let Err(e) = recorder.end_step(
        summary.success,
        summary.skills_used.clone(),
        summary.skills_created.clone(),
    ) {
        super::record::note_record_error(&printer, &mut false, e);
    }
    agent.close().await;
    Ok(if summary.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the agent remembers of a recorded task step: the task, its last code, the result.
fn agent_history(h: &HistoryStep) -> Option<(String, Option<String>, String)> {
    let task = h.step.begin.task.clone()?;
    let code = h.step.events.iter().rev().find_map(|e| match e {
        Event::CodeGenerated { code, .. } => Some(code.clone()),
        _ => None,
    });
    let summary = h.step.events.iter().rev().find_map(|e| match e {
        Event::StepFinished(s) => Some(s.clone()),
        _ => None,
    })?;
    let code = if summary.answer.is_some() { None } else { code };
    Some((task, code, summary.answer.unwrap_or(summary.output)))
}
