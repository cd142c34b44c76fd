//! `mcpr run`: a task in plain words; the model writes code, mcpr runs it, errors feed back.

use clap::Args;
use std::process::ExitCode;

use super::CliError;
use super::client::{Client, SessionFlags};
use crate::engine::{Op, Start};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// What to do, in plain words
    task: String,
    /// Continue this session (created when new): its state is rebuilt from the record
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    #[command(flatten)]
    flags: SessionFlags,
}

pub async fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    if args.task.trim().is_empty() {
        return Err(CliError::usage(
            "the task is empty: say what to do, e.g. mcpr run \"count the lines of README.md\"",
        ));
    }
    let start = match args.session {
        Some(name) => Start::Continue { name },
        None => Start::New,
    };
    let project = super::discover_project()?;
    let mut spec = args.flags.spec(start, true);
    // A task may take many attempts and long cells: its step keeps a live checkpoint
    // like the console's (`[checkpoints] live` turns it off), reported in `--json`.
    spec.live_checkpoints = true;
    let mut client = Client::open(project, spec, args.flags.json).await?;
    let outcome = client.run(Op::RunTask(args.task)).await;
    client.close().await;
    let success = outcome?.summary.is_some_and(|s| s.success);
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
