//! Finding the Python interpreter the kernel runs on.
//!
//! `python3` on PATH is often a version-manager shim (a script that costs 100+ ms per
//! start), so the real interpreter is resolved once by asking it for `sys.executable`
//! and cached per candidate path, size and mtime. The sandbox mounts the resolved
//! prefixes read-only. This module only inspects; it never runs user code.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// The real interpreter binary (not a shim).
    pub executable: PathBuf,
    /// `sys.prefix`: a venv's folder, or the installation.
    pub prefix: PathBuf,
    /// `sys.base_prefix`: the installation behind a venv.
    pub base_prefix: PathBuf,
    pub version: String,
    /// `site.getsitepackages()` that exist: a distribution's Python also reads packages
    /// outside its prefix (Debian's `/usr/local/lib/python3.X/dist-packages`).
    #[serde(default)]
    pub site_packages: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error(
        "no Python interpreter found: looked for {wanted:?} on PATH. Install Python 3.9+ (e.g. `apt-get install python3`) or set `kernel.python` in mcpr.toml / MCPR_PYTHON"
    )]
    NotFound { wanted: String },
    #[error("could not run Python interpreter {path}: {reason}")]
    Broken { path: PathBuf, reason: String },
    #[error("Python {version} at {path} is too old: the kernel needs Python 3.9 or newer")]
    TooOld { path: PathBuf, version: String },
}

const PROBE: &str = "import sys,json,os,site;print(json.dumps([sys.executable,sys.prefix,sys.base_prefix,'%d.%d.%d'%sys.version_info[:3],[p for p in getattr(site,'getsitepackages',lambda:[])() if os.path.isdir(p)]]))";

/// Bumped when the probe learns more, so older cache entries are probed again.
const CACHE_VERSION: &str = "2";

impl PythonInfo {
    /// Resolves `wanted` (a path or a name on PATH) to the real interpreter.
    pub fn resolve(wanted: &str) -> Result<Self, PythonError> {
        let candidate = find_on_path(wanted).ok_or_else(|| PythonError::NotFound {
            wanted: wanted.to_string(),
        })?;
        let key = cache_key(&candidate);
        if let Some(info) = key.as_deref().and_then(read_cache)
            && info.executable.exists()
        {
            return Ok(info);
        }
        let info = probe(&candidate)?;
        if let Some(key) = key {
            write_cache(&key, &info);
        }
        Ok(info)
    }

    /// Folders the interpreter needs readable inside a sandbox: the prefixes and the
    /// executable's folder (none inside another), then the site-packages folders.
    pub fn mount_roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.base_prefix.clone()];
        if self.prefix != self.base_prefix {
            roots.push(self.prefix.clone());
        }
        if let Some(dir) = self.executable.parent()
            && !roots.iter().any(|r| dir.starts_with(r))
        {
            roots.push(dir.to_path_buf());
        }
        // Listed even when inside a root above: a sandbox may hide part of that root
        // (Debian's /usr/local/lib/python3.X/dist-packages lies under the prefix /usr).
        for dir in &self.site_packages {
            if !roots.contains(dir) {
                roots.push(dir.clone());
            }
        }
        roots
    }
}

/// The interpreter to use: `configured`, else `MCPR_PYTHON`, else `python3`.
pub fn wanted_python(configured: Option<&str>) -> String {
    configured
        .map(str::to_string)
        .or_else(|| std::env::var("MCPR_PYTHON").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "python3".to_string())
}

fn find_on_path(wanted: &str) -> Option<PathBuf> {
    if wanted.contains('/') {
        let p = PathBuf::from(wanted);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(wanted))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn probe(candidate: &Path) -> Result<PythonInfo, PythonError> {
    let broken = |reason: String| PythonError::Broken {
        path: candidate.to_path_buf(),
        reason,
    };
    let out = Command::new(candidate)
        .args(["-I", "-c", PROBE])
        .output()
        .map_err(|e| broken(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(broken(format!("{}: {}", out.status, stderr.trim())));
    }
    type Answer = (PathBuf, PathBuf, PathBuf, String, Vec<PathBuf>);
    let (executable, prefix, base_prefix, version, site_packages): Answer =
        serde_json::from_slice(&out.stdout)
            .map_err(|e| broken(format!("unexpected answer to the version probe: {e}")))?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    if (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) < (3, 9) {
        return Err(PythonError::TooOld {
            path: candidate.to_path_buf(),
            version,
        });
    }
    Ok(PythonInfo {
        executable,
        prefix,
        base_prefix,
        version,
        site_packages,
    })
}

fn cache_key(candidate: &Path) -> Option<String> {
    let meta = candidate.metadata().ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!(
        "v{CACHE_VERSION}\0{}\0{}\0{}",
        candidate.display(),
        meta.len(),
        mtime.as_nanos()
    ))
}

fn cache_file() -> Option<PathBuf> {
    Some(dirs::cache_dir()?.join("mcpr").join("python.json"))
}

fn read_cache(key: &str) -> Option<PythonInfo> {
    let text = std::fs::read_to_string(cache_file()?).ok()?;
    let map: std::collections::BTreeMap<String, PythonInfo> = serde_json::from_str(&text).ok()?;
    map.get(key).cloned()
}

fn write_cache(key: &str, info: &PythonInfo) {
    // The cache only saves a start-up; failing to write it is not worth reporting.
    let Some(file) = cache_file() else { return };
    let mut map: std::collections::BTreeMap<String, PythonInfo> = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    map.insert(key.to_string(), info.clone());
    if let Some(dir) = file.parent()
        && std::fs::create_dir_all(dir).is_ok()
        && let Ok(text) = serde_json::to_string_pretty(&map)
    {
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_python3_to_a_real_interpreter() {
        let info = PythonInfo::resolve("python3").unwrap();
        assert!(info.executable.is_file(), "{info:?}");
        assert!(info.version.starts_with("3."), "{info:?}");
        assert!(
            info.mount_roots()
                .iter()
                .any(|r| info.executable.starts_with(r))
        );
    }

    #[test]
    fn site_packages_folders_are_mount_roots() {
        let info = PythonInfo {
            executable: PathBuf::from("/usr/bin/python3.11"),
            prefix: PathBuf::from("/usr"),
            base_prefix: PathBuf::from("/usr"),
            version: "3.11.2".into(),
            site_packages: vec![
                PathBuf::from("/usr/local/lib/python3.11/dist-packages"),
                PathBuf::from("/usr/lib/python3/dist-packages"),
            ],
        };
        assert_eq!(
            info.mount_roots(),
            [
                PathBuf::from("/usr"),
                PathBuf::from("/usr/local/lib/python3.11/dist-packages"),
                PathBuf::from("/usr/lib/python3/dist-packages"),
            ]
        );
    }

    #[test]
    fn a_missing_interpreter_says_what_to_do() {
        let err = PythonInfo::resolve("python-does-not-exist-9").unwrap_err();
        assert!(err.to_string().contains("MCPR_PYTHON"), "{err}");
    }
}
