//! `mcpr exec`: run cells in one fresh session and print what they do, live.

use clap::Args;
use std::io::Read;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::{CliError, current_project};
use crate::project::new_session_name;
use crate::record::log::StepKind;
use crate::sandbox::IsolationRequest;
use crate::session::{Launcher, Session};

/// How cells run: shared by `exec` and `resume`.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Isolation level (default from mcpr.toml, else auto = strongest available)
    #[arg(long, value_enum)]
    isolation: Option<IsolationRequest>,
    /// Wall-clock limit per cell in seconds (0 = none)
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Print one JSON event per line instead of the output
    #[arg(long)]
    json: bool,
    /// Run the remaining cells after one fails
    #[arg(long)]
    keep_going: bool,
    /// MCP servers to offer as `tools.<server>` (default: .mcp.json, then ~/.config/mcpr/mcp.json)
    #[arg(long, value_name = "FILE")]
    mcp_config: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    options: RunOptions,
    /// Append to this session, continuing with the state of its last step (created when new)
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Cells to run in order: Python code, `-` for stdin, or `@path.py`
    #[arg(required = true, value_name = "CELL")]
    cells: Vec<String>,
}

/// `mcpr resume`: continue a recorded session in this process.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session to continue
    session: String,
    /// Cells to run (as for `mcpr exec`); without any, cells are read from stdin: on a
    /// terminal one at a time, each ended by an empty line
    #[arg(value_name = "CELL")]
    cells: Vec<String>,
    #[command(flatten)]
    options: RunOptions,
}

pub async fn resume(args: ResumeArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let dir = crate::record::recorder::ReplayDir::open_existing(&project.replay_dir());
    if !dir.is_some_and(|d| d.exists(&args.session)) {
        return Err(CliError::usage(format!(
            "no recorded session named {:?} (see `mcpr replay list`)",
            args.session
        )));
    }
    let interactive = args.cells.is_empty();
    let exec = ExecArgs {
        options: args.options,
        session: Some(args.session),
        cells: args.cells,
    };
    execute(exec, interactive).await
}

/// The cells to run: given up front, or read one by one as the user types them.
enum Cells {
    Given(std::vec::IntoIter<String>),
    Typed { terminal: bool, done: bool },
}

impl Cells {
    fn remaining(&self) -> usize {
        match self {
            Cells::Given(rest) => rest.len(),
            Cells::Typed { .. } => 0,
        }
    }

    fn next(&mut self) -> Option<String> {
        match self {
            Cells::Given(rest) => rest.next(),
            Cells::Typed { terminal, done } => {
                if *done {
                    return None;
                }
                if !*terminal {
                    *done = true;
                    let mut code = String::new();
                    std::io::stdin().read_to_string(&mut code).ok()?;
                    return (!code.trim().is_empty()).then_some(code);
                }
                let mut code = String::new();
                loop {
                    err!("{}", if code.is_empty() { ">>> " } else { "... " });
                    let mut line = String::new();
                    match std::io::stdin().read_line(&mut line) {
                        Ok(0) | Err(_) => {
                            *done = true;
                            break;
                        }
                        Ok(_) if line.trim().is_empty() && !code.is_empty() => break,
                        Ok(_) if line.trim().is_empty() => continue,
                        Ok(_) => code.push_str(&line),
                    }
                }
                (!code.trim().is_empty()).then_some(code)
            }
        }
    }
}

fn read_cells(specs: &[String]) -> Result<Vec<String>, CliError> {
    let mut stdin_used = false;
    specs
        .iter()
        .map(|spec| {
            if spec == "-" {
                if stdin_used {
                    return Err(CliError::usage("`-` (stdin) can be given only once"));
                }
                stdin_used = true;
                let mut code = String::new();
                std::io::stdin()
                    .read_to_string(&mut code)
                    .map_err(|e| CliError::usage(format!("cannot read a cell from stdin: {e}")))?;
                Ok(code)
            } else if let Some(path) = spec.strip_prefix('@') {
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::usage(format!("cannot read cell file {path}: {e}")))
            } else {
                Ok(spec.clone())
            }
        })
        .collect()
}

pub async fn run(args: ExecArgs) -> Result<ExitCode, CliError> {
    execute(args, false).await
}

async fn execute(args: ExecArgs, interactive: bool) -> Result<ExitCode, CliError> {
    let mut cells = if interactive {
        use std::io::IsTerminal;
        Cells::Typed {
            terminal: std::io::stdin().is_terminal(),
            done: false,
        }
    } else {
        Cells::Given(read_cells(&args.cells)?.into_iter())
    };
    let project = current_project()?;
    let config = super::kernel_config(&project, args.options.timeout)?;
    let mcp = super::mcp_config(args.options.mcp_config.as_deref(), &project)?;
    let secrets = crate::secrets::Secrets::with_env(mcp.secret_values().iter().cloned());
    let launcher =
        Launcher::from_config(&config, args.options.isolation).map_err(CliError::failed)?;
    let named = args.session.is_some();
    let name = args.session.clone().unwrap_or_else(new_session_name);
    let workspace = project
        .session_workspace(&name)
        .map_err(|e| CliError::usage(e.to_string()))?;
    // Skills are importable (read-only) as in `mcpr run`; exec never adds any.
    let (launcher, library) = super::skills::session_skills(&project, launcher, &workspace, true)?;
    let (mut calls, hub) = super::session_tools(&project, mcp, &workspace).await?;
    // A session an agent began has `ask_llm`; here no model is configured, and the
    // code should hear that rather than of an unknown host call.
    calls.register("ask_llm", |_: serde_json::Value| async {
        Err(crate::hostcall::HostCallError::new(
            "no_model",
            "ask_llm needs a model, and `mcpr exec` runs code without one; continue this session with `mcpr run --session NAME \"task\"` to use ask_llm",
        ))
    });
    let mut session = Session::start(launcher.clone(), calls, name.clone(), workspace.clone())
        .await
        .map_err(CliError::failed)?;
    if launcher.isolation() == crate::sandbox::Isolation::None
        && args.options.isolation != Some(IsolationRequest::None)
    {
        let why = crate::sandbox::SandboxProbe::get()
            .namespaces
            .clone()
            .err()
            .unwrap_or_default();
        errln!(
            "[mcpr] warning: running without isolation ({why}); `mcpr doctor` says how to enable it"
        );
    }
    let mut printer = super::printer::Printer {
        json: args.options.json,
        workspace_shown: workspace.display().to_string(),
    };
    printer.show(session.started_event());
    let (mut recorder, _) =
        super::record::continue_session(&project, &mut session, secrets, &printer, named).await?;
    if recorder.head() > 0 {
        // An old snapshot may hold an older tools package; write the current one.
        hub.prepare_workspace().await.map_err(CliError::failed)?;
    }
    let mut record_warned = false;

    // Ctrl-C interrupts the running cell; a second one within the grace period kills it.
    let current: Arc<Mutex<CancellationToken>> = Arc::new(Mutex::new(CancellationToken::new()));
    let watcher = {
        let current = current.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if let Ok(token) = current.lock() {
                    token.cancel();
                }
            }
        })
    };

    let mut failed = false;
    while let Some(code) = cells.next() {
        let mut opts = session.cell_options();
        if let Ok(mut slot) = current.lock() {
            *slot = opts.cancel.clone();
        }
        opts.grace = opts.grace.max(Duration::from_millis(100));
        recorder.begin_step(StepKind::Cell, None, session.startup_code());
        let status = session
            .run_cell_with(&code, &opts, &mut |e| {
                recorder.event(&e);
                printer.show(e)
            })
            .await;
        let used = library
            .as_deref()
            .map(|l| skills_used(l, &code, status.is_success()))
            .unwrap_or_default();
        if let Err(e) = recorder.end_step(status.is_success(), used, Vec::new()) {
            super::record::note_record_error(&printer, &mut record_warned, e);
        }
        if !status.is_success() {
            failed = true;
            let rest = cells.remaining();
            if !args.options.keep_going && !interactive && rest > 0 {
                printer.note(&format!(
                    "skipped {rest} remaining cell(s) after a failure (use --keep-going to run them)"
                ));
                break;
            }
        }
    }
    watcher.abort();
    session.close().await;
    hub.shutdown().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The skills a cell imported, counted in the library's stats as one use each.
fn skills_used(library: &crate::skills::SkillLibrary, code: &str, success: bool) -> Vec<String> {
    // Parsing needs a Python process; most cells never mention skills.
    if !code.contains("skills") {
        return Vec::new();
    }
    let analyzer = crate::skills::analyze::Analyzer::new(library.python());
    let imported = match analyzer.imports(&[code]) {
        Ok(mut lists) => lists.pop().unwrap_or_default(),
        Err(e) => {
            errln!("[mcpr] warning: could not tell which skills the cell used: {e}");
            return Vec::new();
        }
    };
    library
        .record_runs(&[(imported, success)])
        .unwrap_or_else(|e| {
            errln!("[mcpr] warning: could not update the skill stats: {e}");
            Vec::new()
        })
}
