//! `mcpr init`: create a project folder.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

use super::CliError;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to initialise (default: the current directory)
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: InitArgs) -> Result<ExitCode, CliError> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.dir.display())))?;
    let created = Project::init(&args.dir).map_err(CliError::failed)?;
    if created.is_empty() {
        outln!(
            "{} is already an mcpr project; nothing changed",
            args.dir.display()
        );
    } else {
        for path in created {
            outln!("created {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
