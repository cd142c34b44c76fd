//! Validation of a skill in a fresh kernel (started by the session's own launcher, so
//! with the same sandbox): the module imports cleanly — no output, no host calls, no
//! error — and `run` is callable, annotated, and accepts the arguments of the step it
//! came from (`inspect.signature(run).bind(**args)`).
//!
//! `run` itself is not called: it may call tools, and repeating a step's side effects
//! (a sent message, a written note) to check a skill would be worse than not checking.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::package;
use crate::event::Event;
use crate::hostcall::HostCalls;
use crate::sandbox::confined::ConfinedDir;
use crate::session::{Launcher, Session};

static CHECKS: AtomicU64 = AtomicU64::new(0);

/// What to check: a candidate not yet in the library (`source` given) or a saved skill.
pub struct Check<'a> {
    pub name: &'a str,
    /// The candidate's file text; None checks the library's own `<name>.py`.
    pub source: Option<&'a str>,
    pub args: &'a Map<String, Value>,
}

/// Ok, or what is wrong with the skill in words.
pub async fn validate(
    launcher: &Launcher,
    library_dir: &Path,
    check: &Check<'_>,
) -> Result<(), String> {
    let workspace = scratch_workspace()
        .map_err(|e| format!("could not prepare a workspace to check the skill: {e}"))?;
    let result = validate_in(launcher, library_dir, check, &workspace).await;
    let _ = std::fs::remove_dir_all(&workspace);
    result
}

fn scratch_workspace() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "mcpr-skill-check-{}-{}",
        std::process::id(),
        CHECKS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn validate_in(
    launcher: &Launcher,
    library_dir: &Path,
    check: &Check<'_>,
    workspace: &Path,
) -> Result<(), String> {
    let isolation = launcher.isolation();
    let mut dirs = Vec::new();
    if let Some(source) = check.source {
        let file = Path::new(".candidate").join(format!("{}.py", check.name));
        ConfinedDir::open(workspace)
            .and_then(|ws| ws.write(&file, source.as_bytes(), 0o644))
            .map_err(|e| e.to_string())?;
        dirs.push(package::inside_workspace(
            isolation,
            workspace,
            ".candidate",
        ));
    }
    dirs.push(package::inside_path(isolation, library_dir));
    package::write(workspace, &dirs).map_err(|e| e.to_string())?;
    let mut session = Session::start(
        launcher.clone(),
        HostCalls::with_builtins(),
        "skill-check".into(),
        workspace.to_path_buf(),
    )
    .await
    .map_err(|e| format!("could not start a kernel to check the skill: {e}"))?;
    let result = run_checks(&mut session, check).await;
    session.close().await;
    result
}

async fn run_checks(session: &mut Session, check: &Check<'_>) -> Result<(), String> {
    let import = format!(
        "import importlib as _il\n_m = _il.import_module({})",
        serde_json::Value::from(format!("skills.{}", check.name))
    );
    let outcome = run(session, &import).await;
    if let Some(e) = outcome.error {
        return Err(format!("importing it failed: {e}"));
    }
    if !outcome.output.is_empty() {
        return Err(format!(
            "importing it printed output (top-level code must not run at import): {}",
            outcome.output.trim()
        ));
    }
    if !outcome.calls.is_empty() {
        return Err(format!(
            "importing it made host calls ({}); tools may be called only inside run()",
            outcome.calls.join(", ")
        ));
    }
    let args = serde_json::Value::Object(check.args.clone()).to_string();
    let signature = SIGNATURE_CHECK.replace("__ARGS__", &serde_json::Value::from(args).to_string());
    let outcome = run(session, &signature).await;
    match outcome.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

const SIGNATURE_CHECK: &str = r#"import inspect as _i, json as _j
_run = getattr(_m, "run", None)
if not callable(_run):
    raise TypeError("the module has no callable run")
_sig = _i.signature(_run)
if _sig.return_annotation is _i.Signature.empty:
    raise TypeError("run() has no return annotation")
_args = _j.loads(__ARGS__)
try:
    _sig.bind(**_args)
except TypeError as _e:
    raise TypeError(f"run{_sig} does not accept the step's arguments {_j.dumps(_args)}: {_e}") from None
"#;

struct Outcome {
    output: String,
    calls: Vec<String>,
    error: Option<String>,
}

async fn run(session: &mut Session, code: &str) -> Outcome {
    let mut outcome = Outcome {
        output: String::new(),
        calls: Vec::new(),
        error: None,
    };
    let status = session
        .run_cell(code, &mut |e| match e {
            Event::Output { text, .. } => outcome.output.push_str(&text),
            Event::HostCall { name, .. } => outcome.calls.push(name),
            Event::Error { ename, message, .. } => {
                outcome.error = Some(format!("{ename}: {message}"))
            }
            _ => {}
        })
        .await;
    if !status.is_success() && outcome.error.is_none() {
        outcome.error = Some(format!("the check ended {status:?}"));
    }
    outcome
}
