//! `mcpr demo-server`: the demo MCP server on stdio.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

use super::CliError;

#[derive(Debug, Args)]
pub struct DemoServerArgs {
    /// SQLite file for notes and the call log (default: in memory)
    #[arg(long, value_name = "PATH")]
    notes_db: Option<PathBuf>,
}

pub async fn run(args: DemoServerArgs) -> Result<ExitCode, CliError> {
    crate::tools::demo::serve_stdio(args.notes_db.as_deref())
        .await
        .map_err(CliError::failed)?;
    Ok(ExitCode::SUCCESS)
}
