//! `mcpr bench agents`: runs the code-mode/function-calling benchmark and writes its
//! results (JSON Lines), report (Markdown) and charts (SVG). The work is in
//! `crate::benchmark`; this file reads the flags and shows progress.

use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, current_project};
use crate::benchmark::arms::Arm;
use crate::benchmark::function_calling::Limits;
use crate::benchmark::harness::{self, Plan};
use crate::benchmark::report::{self, Prices};
use crate::benchmark::setup::ServerPrograms;
use crate::benchmark::{chart, task};
use crate::llm::openai::{OpenAiProvider, OpenAiSettings};
use crate::sandbox::IsolationRequest;
use crate::session::Launcher;

#[derive(Debug, Args)]
pub struct AgentsBenchArgs {
    /// Tasks to run: `all`, or comma-separated task ids, categories, levels
    #[arg(long, default_value = "all")]
    tasks: String,
    /// Arms to run, comma-separated: code, json, reference
    #[arg(long, default_value = "code,json,reference")]
    arms: String,
    /// Runs of each task and arm
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Model name at the endpoint
    #[arg(long)]
    model: Option<String>,
    /// OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (key from OPENAI_API_KEY)
    #[arg(long)]
    base_url: Option<String>,
    /// Runs at a time
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// Model calls per task (code: attempts; json: turns)
    #[arg(long, default_value_t = 8)]
    max_turns: u32,
    /// Completion tokens per model call
    #[arg(long, default_value_t = 1024)]
    max_tokens: u32,
    /// Seconds one model request may take
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
    /// Folder of task files
    #[arg(long, default_value = "bench/agents/tasks")]
    tasks_dir: PathBuf,
    /// Where results.jsonl, report.md and the charts go
    #[arg(long, default_value = "bench/agents/out")]
    out: PathBuf,
    /// Folder holding mcp-server-time, -git, -sqlite (default: .venv/bin if present, else PATH)
    #[arg(long)]
    servers_bin: Option<PathBuf>,
    /// Prices per model (TOML: [models."NAME"] input = USD per million, output = …)
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Only write the report and charts from the results already there
    #[arg(long)]
    report_only: bool,
    /// Keep each run's folder (servers' data, workspace) for inspection
    #[arg(long)]
    keep: bool,
    #[arg(long, value_enum)]
    isolation: Option<IsolationRequest>,
}

pub async fn run(args: AgentsBenchArgs) -> Result<ExitCode, CliError> {
    let failed = |e: &dyn std::fmt::Display| CliError::failed(e.to_string());
    let prices = match &args.prices {
        Some(path) => Prices::load(path).map_err(|e| failed(&e))?,
        None => Prices::default(),
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.out.display())))?;
    let results_path = args.out.join("results.jsonl");
    if !args.report_only {
        let plan = plan(&args, results_path.clone()).await?;
        let tty = std::io::stderr().is_terminal();
        let mut show = |p: &harness::Progress| {
            if tty {
                // One line, redrawn in place; the last draw ends it.
                err!("\r\x1b[2K{}", p.line(30));
                if p.done == p.total {
                    errln!();
                }
            } else if p.done > 0 {
                errln!("{}", p.line(30));
            }
        };
        harness::run(&plan, &mut show)
            .await
            .map_err(|e| failed(&e))?;
        if plan.keep {
            errln!("Run folders kept in {}", plan.work_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&plan.work_dir);
        }
    }
    let results = harness::load_results(&results_path).map_err(|e| failed(&e))?;
    let text = report::markdown(&results, &prices);
    let write = |name: &str, text: &str| {
        std::fs::write(args.out.join(name), text)
            .map_err(|e| CliError::failed(format!("cannot write {name}: {e}")))
    };
    write("report.md", &text)?;
    for (name, svg) in chart::all(&results) {
        write(&name, &svg)?;
    }
    outln!("{text}");
    outln!("Results, report and charts are in {}.", args.out.display());
    Ok(ExitCode::SUCCESS)
}

async fn plan(args: &AgentsBenchArgs, results: PathBuf) -> Result<Plan, CliError> {
    let all = task::load_all(&args.tasks_dir).map_err(|e| CliError::failed(e.to_string()))?;
    let tasks = task::select(all, &args.tasks).map_err(|e| CliError::failed(e.to_string()))?;
    let mut arms = Vec::new();
    for word in args.arms.split(',').filter(|w| !w.trim().is_empty()) {
        let arm = Arm::parse(word).ok_or_else(|| {
            CliError::usage(format!(
                "--arms: {word:?} is not an arm; the arms are code, json, reference"
            ))
        })?;
        if !arms.contains(&arm) {
            arms.push(arm);
        }
    }
    let programs = ServerPrograms {
        mcpr: std::env::current_exe().map_err(|e| CliError::failed(e.to_string()))?,
        bin_dir: args.servers_bin.clone().or_else(|| {
            let venv = PathBuf::from(".venv/bin");
            venv.is_dir()
                .then(|| std::path::absolute(&venv).unwrap_or(venv))
        }),
    };
    let servers: Vec<_> = tasks.iter().flat_map(|t| t.servers.clone()).collect();
    programs.check(&servers).map_err(CliError::failed)?;
    let provider = if arms.iter().any(|a| a.needs_model()) {
        let base_url = args
            .base_url
            .clone()
            .or_else(|| std::env::var("OPENAI_BASE_URL").ok())
            .ok_or_else(|| {
                CliError::usage("the code and json arms need a model: give --base-url (and --model), or run --arms reference")
            })?;
        let model = args.model.clone().unwrap_or_else(|| "local".into());
        let provider = OpenAiProvider::new(OpenAiSettings {
            base_url,
            api_key: std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            model,
            max_attempts: 3,
            timeout: Duration::from_secs_f64(args.timeout.max(1.0)),
            temperature: Some(0.0),
            max_tokens: Some(args.max_tokens),
        })
        .map_err(|e| CliError::failed(e.to_string()))?;
        Some(Arc::new(provider))
    } else {
        None
    };
    let project = current_project()?;
    let launcher = Launcher::from_config(&project.config.kernel, args.isolation)
        .map_err(|e| CliError::failed(e.to_string()))?;
    let work_dir = std::env::temp_dir().join(format!("mcpr-bench-agents-{}", std::process::id()));
    Ok(Plan {
        tasks,
        arms,
        repeat: args.repeat,
        parallel: args.parallel,
        results,
        work_dir,
        keep: args.keep,
        limits: Limits {
            max_turns: args.max_turns,
        },
        launcher,
        programs,
        provider,
    })
}
