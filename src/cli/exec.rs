//! `mcpr exec`: run cells in one fresh session and print what they do, live.

use clap::Args;
use std::io::Read;
use std::process::ExitCode;

use super::client::{Client, SessionFlags};
use super::{CliError, discover_project};
use crate::engine::{Op, Start};

/// How cells run: shared by `exec` and `resume`.
#[derive(Debug, Args)]
pub struct RunOptions {
    #[command(flatten)]
    flags: SessionFlags,
    /// Run the remaining cells after one fails
    #[arg(long)]
    keep_going: bool,
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
    let project = discover_project()?;
    if !crate::engine::record::exists(&project.0, &args.session) {
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
    let cells = if interactive {
        use std::io::IsTerminal;
        Cells::Typed {
            terminal: std::io::stdin().is_terminal(),
            done: false,
        }
    } else {
        Cells::Given(read_cells(&exec.cells)?.into_iter())
    };
    execute(project, exec, cells, interactive).await
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
    let cells = Cells::Given(read_cells(&args.cells)?.into_iter());
    execute(discover_project()?, args, cells, false).await
}

async fn execute(
    project: (crate::project::Project, std::path::PathBuf),
    args: ExecArgs,
    mut cells: Cells,
    interactive: bool,
) -> Result<ExitCode, CliError> {
    let start = match args.session {
        Some(name) => Start::Continue { name },
        None => Start::New,
    };
    let flags = &args.options.flags;
    let mut client = Client::open(project, flags.spec(start, false), flags.json).await?;
    let mut failed = false;
    let mut result = Ok(());
    // Ctrl-C interrupts the running cell; it is killed if it has not stopped after the
    // grace period.
    while let Some(code) = cells.next() {
        let status = match client.run(Op::RunCell(code)).await {
            Ok(outcome) => outcome.cell,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if !status.is_some_and(|s| s.is_success()) {
            failed = true;
            let rest = cells.remaining();
            if !args.options.keep_going && !interactive && rest > 0 {
                if !flags.json {
                    errln!(
                        "[mcpr] skipped {rest} remaining cell(s) after a failure (use --keep-going to run them)"
                    );
                }
                break;
            }
        }
    }
    client.close().await;
    result?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
