//! How skills reach the sandbox: the library folder is bound read-only at
//! [`INSIDE_SKILLS`] (namespaces isolation) or read in place (no isolation), and the
//! workspace gets a small `skills` package whose import hook loads `skills.<name>` from
//! there. `.trash/` and other hidden files are never importable.

use std::path::{Path, PathBuf};

use crate::sandbox::Isolation;
use crate::sandbox::confined::ConfinedDir;
use crate::session::Launcher;

/// Where the library appears inside a namespaces sandbox.
pub const INSIDE_SKILLS: &str = "/opt/mcpr-skills";

const PACKAGE: &str = include_str!("skills_init.py");

/// `launcher` with the library folder `dir` mounted read-only (under namespaces).
pub fn mount(launcher: Launcher, dir: &Path) -> Launcher {
    match launcher.isolation() {
        Isolation::Namespaces | Isolation::Docker => {
            launcher.with_readonly_mount(dir.to_path_buf(), PathBuf::from(INSIDE_SKILLS))
        }
        Isolation::None => launcher,
    }
}

/// The library folder as the kernel sees it.
pub fn inside_path(isolation: Isolation, dir: &Path) -> PathBuf {
    match isolation {
        Isolation::Namespaces | Isolation::Docker => PathBuf::from(INSIDE_SKILLS),
        Isolation::None => dir.to_path_buf(),
    }
}

/// The workspace path `rel` as the kernel sees it.
pub fn inside_workspace(isolation: Isolation, workspace: &Path, rel: &str) -> PathBuf {
    match isolation {
        Isolation::Namespaces | Isolation::Docker => {
            Path::new(crate::sandbox::INSIDE_WORKSPACE).join(rel)
        }
        Isolation::None => workspace.join(rel),
    }
}

/// Writes `skills/__init__.py` into `workspace`, loading skills from `dirs` (paths as
/// the kernel sees them), first match first.
pub fn write(workspace: &Path, dirs: &[PathBuf]) -> std::io::Result<()> {
    let list: Vec<String> = dirs
        .iter()
        .map(|d| python_str(&d.to_string_lossy()))
        .collect();
    let text = PACKAGE.replace("__MCPR_SKILL_DIRS__", &format!("[{}]", list.join(", ")));
    // Beneath a handle on the workspace: a symlink planted at `skills` or its entry file
    // is replaced or refused, never written through.
    ConfinedDir::open(workspace)?.write("skills/__init__.py", text.as_bytes(), 0o644)
}

/// A Python string literal (JSON strings are valid Python for these paths).
fn python_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
