//! The command line: a thin layer over the headless core.
//!
//! Each subcommand lives in its own file and talks to the core only through its public
//! types (sessions, events, project). Exit codes: 0 success, 1 failure, 2 usage error.
//! All output goes through `out` (`outln!`, `errln!`): `println!` panics on a closed
//! pipe or a full disk, so clippy refuses it here.
#![deny(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
pub(crate) mod out;

mod bench;
mod bench_agents;
mod bench_checkpoints;
mod bench_continue;
mod bench_record;
mod bench_serve;
mod bench_timeline;
mod bench_tui;
mod client;
mod demo_server;
mod doctor;
mod exec;
mod init;
mod printer;
mod replay;
mod run;
mod serve;
mod skills;
mod tools;
mod tui;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

use crate::project::Project;

#[derive(Debug, Parser)]
#[command(
    name = "mcpr",
    version,
    about = "Code-mode runtime for LLM agents: a sandboxed Python kernel, MCP tools as modules, replayable sessions",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an mcpr project (mcpr.toml, skills/, workspace/, .replay/) in a folder
    Init(init::InitArgs),
    /// Report what this machine offers: Python, isolation, LLM endpoint, Docker
    Doctor(doctor::DoctorArgs),
    /// Do a task in plain words: a model writes code, mcpr runs it, errors feed back
    Run(run::RunArgs),
    /// Run Python cells in a sandboxed session, printing output live
    Exec(exec::ExecArgs),
    /// Browse, rewind, compare, export and import recorded sessions
    Replay(replay::ReplayArgs),
    /// Branch a new session off a recorded one at a step (the parent is untouched)
    Fork(replay::ForkArgs),
    /// Continue a recorded session in this process: its state is rebuilt from the record
    Resume(exec::ResumeArgs),
    /// List, search, describe and call the tools of the configured MCP servers
    Tools(tools::ToolsArgs),
    /// Review the skill library: list, show, search, rm, prune, restore, test
    Skills(skills::SkillsArgs),
    /// Be an MCP server: clients run Python (with the configured tools as modules) in
    /// recorded sessions
    Serve(serve::ServeArgs),
    /// Serve the demo MCP tools (calculator, weather, notes, text) over stdio
    DemoServer(demo_server::DemoServerArgs),
    /// The developer console: tasks, code, output and tool calls live, full screen
    Tui(tui::TuiArgs),
    /// Measure mcpr's own speed (results belong in docs/PERFORMANCE.md)
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// A failure the CLI reports: `usage` errors exit with 2, others with 1.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub usage: bool,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            usage: true,
        }
    }

    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            usage: false,
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Init(args) => init::run(args),
            Command::Doctor(args) => doctor::run(args).await,
            Command::Exec(args) => exec::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Replay(args) => replay::run(args).await,
            Command::Fork(args) => replay::fork(args),
            Command::Resume(args) => exec::resume(args).await,
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::DemoServer(args) => demo_server::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Tools(args) => tools::run(args).await,
            Command::Skills(args) => skills::run(args).await,
            Command::Tui(args) => tui::run(args).await,
        }
    });
    // Kernels are killed when their handles drop; do not wait for idle blocking threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    let lost = out::finish();
    match (result, lost) {
        (Err(e), _) => {
            errln!("error: {}", e.message);
            ExitCode::from(if e.usage { 2 } else { 1 })
        }
        (Ok(_), Some(lost)) => {
            errln!("error: {lost}");
            ExitCode::FAILURE
        }
        (Ok(code), None) => code,
    }
}

/// An engine error as the CLI reports it: the user's mistakes exit with 2.
fn engine_error(e: crate::engine::EngineError) -> CliError {
    if e.is_usage() {
        CliError::usage(e.to_string())
    } else {
        CliError::failed(e)
    }
}

/// A query's error: naming what is not there is a usage error (exit 2), the rest failures.
fn query_error(e: crate::engine::query::QueryError) -> CliError {
    if e.is_usage() {
        CliError::usage(e.to_string())
    } else {
        CliError::failed(e)
    }
}

/// The MCP configuration (explicit file, else discovered); its problems are usage errors.
fn mcp_config(
    explicit: Option<&std::path::Path>,
    project: &Project,
) -> Result<crate::tools::config::McpConfig, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::failed(format!("cannot read the current directory: {e}")))?;
    let config = crate::tools::config::McpConfig::discover(explicit, &cwd, &project.root)
        .map_err(|e| CliError::usage(e.to_string()))?;
    for warning in &config.warnings {
        errln!("[mcpr] warning: {warning}");
    }
    Ok(config)
}

/// The project for the current directory; a broken mcpr.toml is a usage error.
fn current_project() -> Result<Project, CliError> {
    let (project, cwd) = discover_project()?;
    for (_, notice) in crate::engine::live::project_notices(&project, &cwd) {
        errln!("[mcpr] {notice}");
    }
    Ok(project)
}

/// The project for the current directory, saying nothing (a session says it as notices).
fn discover_project() -> Result<(Project, std::path::PathBuf), CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::failed(format!("cannot read the current directory: {e}")))?;
    let project = Project::discover(&cwd).map_err(|e| CliError::usage(e.to_string()))?;
    Ok((project, cwd))
}
