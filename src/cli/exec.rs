//! `mcpr exec`: run cells in one fresh session and print what they do, live.

use clap::Args;
use std::io::Read;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::{CliError, current_project};
use crate::project::new_session_name;
use crate::sandbox::IsolationRequest;
use crate::session::{Launcher, Session};

#[derive(Debug, Args)]
pub struct ExecArgs {
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
    /// Cells to run in order: Python code, `-` for stdin, or `@path.py`
    #[arg(required = true, value_name = "CELL")]
    cells: Vec<String>,
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
    let cells = read_cells(&args.cells)?;
    let project = current_project()?;
    let config = super::kernel_config(&project, args.timeout)?;
    let mcp = super::mcp_config(args.mcp_config.as_deref(), &project)?;
    let launcher = Launcher::from_config(&config, args.isolation).map_err(CliError::failed)?;
    let name = new_session_name();
    let workspace = project.session_workspace(&name).map_err(CliError::failed)?;
    // Skills are importable (read-only) as in `mcpr run`; exec never adds any.
    let (launcher, _) = super::skills::session_skills(&project, launcher, &workspace, true)?;
    let (calls, hub) = super::session_tools(&project, mcp, &workspace).await?;
    let mut session = Session::start(launcher.clone(), calls, name.clone(), workspace.clone())
        .await
        .map_err(CliError::failed)?;
    if launcher.isolation() == crate::sandbox::Isolation::None
        && args.isolation != Some(IsolationRequest::None)
    {
        let why = crate::sandbox::SandboxProbe::get()
            .namespaces
            .clone()
            .err()
            .unwrap_or_default();
        eprintln!(
            "[mcpr] warning: running without isolation ({why}); `mcpr doctor` says how to enable it"
        );
    }
    let mut printer = super::printer::Printer {
        json: args.json,
        workspace_shown: workspace.display().to_string(),
    };
    printer.show(session.started_event());

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
    let total = cells.len();
    for (index, code) in cells.iter().enumerate() {
        let mut opts = session.cell_options();
        if let Ok(mut slot) = current.lock() {
            *slot = opts.cancel.clone();
        }
        opts.grace = opts.grace.max(Duration::from_millis(100));
        let status = session
            .run_cell_with(code, &opts, &mut |e| printer.show(e))
            .await;
        if !status.is_success() {
            failed = true;
            if !args.keep_going && index + 1 < total {
                printer.note(&format!(
                    "skipped {} remaining cell(s) after a failure (use --keep-going to run them)",
                    total - index - 1
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
