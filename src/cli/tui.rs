//! `mcpr tui`: the developer console over one session (see `crate::tui`). This file
//! turns flags into the session spec, loads the theme and keymap, and hands over.

use clap::Args;
use std::process::ExitCode;

use super::CliError;
use super::client::SessionFlags;
use crate::engine::Start;
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Continue this session (created when new): its state is rebuilt from the record
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Colour theme: dark (default, 16 colours), light, high-contrast, a name from
    /// ~/.config/mcpr/themes/, or a .toml file (default: [console] theme in mcpr.toml)
    #[arg(long, value_name = "NAME|FILE")]
    theme: Option<String>,
    /// Print the effective keymap (defaults, ~/.config/mcpr/keymap.toml, the project's
    /// keymap.toml) and exit
    #[arg(long)]
    print_keymap: bool,
    #[command(flatten)]
    flags: SessionFlags,
}

/// The keymap: defaults, then the user's file, then the project's. A file with a
/// problem is skipped whole, and the problem said.
pub(crate) fn keymap(project_root: &std::path::Path) -> (Keymap, Vec<String>) {
    let mut map = Keymap::default();
    let mut problems = Vec::new();
    let files = [
        dirs::config_dir().map(|d| d.join("mcpr").join("keymap.toml")),
        Some(project_root.join("keymap.toml")),
    ];
    for file in files.into_iter().flatten() {
        match map.patched_from(&file) {
            Ok(Some(patched)) => map = patched,
            Ok(None) => {}
            Err(e) => problems.push(format!("{e}; this file is ignored")),
        }
    }
    (map, problems)
}

pub async fn run(args: TuiArgs) -> Result<ExitCode, CliError> {
    let project = super::current_project()?;
    let (keymap, problems) = keymap(&project.root);
    if args.print_keymap {
        for p in &problems {
            errln!("[mcpr] warning: {p}");
        }
        super::out::write_bytes(keymap.to_toml().as_bytes());
        return Ok(ExitCode::SUCCESS);
    }
    if args.flags.json {
        return Err(CliError::usage(
            "--json is for `mcpr run` and `mcpr exec`; the console shows the events itself",
        ));
    }
    let start = match &args.session {
        Some(name) => Start::Continue { name: name.clone() },
        None => Start::New,
    };
    let spec = args.flags.spec(start, false);
    let offer_sessions = args.session.is_none();
    console(
        project,
        spec,
        args.theme,
        problems,
        keymap,
        None,
        offer_sessions,
    )
    .await
}

/// Opens the console over `spec` (or, with `browse`, over a recorded session's timeline
/// with no live session until a rewind or fork): checks the terminal, loads the theme.
pub(crate) async fn console(
    project: crate::project::Project,
    mut spec: crate::engine::SessionSpec,
    theme: Option<String>,
    mut problems: Vec<String>,
    keymap: Keymap,
    browse: Option<(String, Option<u64>)>,
    offer_sessions: bool,
) -> Result<ExitCode, CliError> {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(CliError::usage(
            "mcpr tui needs a terminal (its input and output are not one); use `mcpr run` or `mcpr exec` in scripts",
        ));
    }
    let theme = match theme.as_ref().or(project.config.console.theme.as_ref()) {
        Some(name) => Theme::named(name, 0).unwrap_or_else(|e| {
            problems.push(format!("{e}; using the default theme"));
            Theme::default_theme()
        }),
        None => Theme::default_theme(),
    };
    // The console answers approvals and manual-mode turns itself.
    spec.interactive = true;
    // The console rewinds and forks often: keep frozen copies of the kernel.
    spec.live_checkpoints = true;
    spec.check().map_err(|e| CliError::usage(e.to_string()))?;
    let mouse = project.config.console.mouse;
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::failed(format!("cannot read the current directory: {e}")))?;
    crate::tui::run(crate::tui::Options {
        project,
        cwd,
        spec,
        theme,
        keymap,
        mouse,
        problems,
        browse,
        offer_sessions,
    })
    .await
    .map_err(CliError::failed)?;
    Ok(ExitCode::SUCCESS)
}
