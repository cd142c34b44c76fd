//! What of the host's filesystem a `namespaces` kernel sees, all read-only at the host's
//! paths: the system folders (`/usr` without `/usr/local`, `/bin`, `/lib*`), the
//! interpreter's prefixes, a minimal `/etc`, and the folders the user lists in
//! `kernel.readonly_paths`.
//!
//! This module decides and lists (for bwrap's command line and for `doctor`, from the
//! same values); it never mounts or starts anything, and never shows a host path beyond
//! those four groups.

use std::path::{Component, Path, PathBuf};

use super::etc::{self, Account, EtcEntry};

/// Top-level system folders shown when present (links such as `/bin -> usr/bin` stay links).
const ROOT_SYSTEM_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// Folders of `/usr` left out: software installed by hand rather than by the package
/// manager, which the kernel does not need and should not see.
const USR_HIDDEN: &[&str] = &["local"];

/// Paths `kernel.readonly_paths` may not name, with what the sandbox puts there.
const RESERVED: &[(&str, &str)] = &[
    ("/proc", "its own /proc"),
    ("/dev", "its own /dev"),
    ("/tmp", "a private /tmp"),
    ("/workspace", "the session's workspace"),
    ("/opt/mcpr-runtime", "the kernel runtime"),
    ("/opt/mcpr-skills", "the skill library"),
];

/// A host system path as the sandbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPath {
    pub path: PathBuf,
    /// Recreated as a link with this target (e.g. `/bin -> usr/bin`) instead of bound.
    pub link: Option<PathBuf>,
}

/// Everything of the host a `namespaces` kernel sees besides its workspace and the
/// runtime's own mounts.
#[derive(Debug, Clone)]
pub struct HostView {
    pub system: Vec<SystemPath>,
    /// Interpreter prefixes bound at their host paths (those the system folders miss).
    pub interpreter: Vec<PathBuf>,
    pub etc: Vec<EtcEntry>,
    /// `kernel.readonly_paths`, bound at their host paths.
    pub extra: Vec<PathBuf>,
}

impl HostView {
    pub fn new(interpreter_roots: &[PathBuf], extra: &[PathBuf], account: Account) -> HostView {
        let system = system_paths();
        let covered = |p: &Path| {
            system
                .iter()
                .any(|s| s.link.is_none() && p.starts_with(&s.path))
        };
        // A prefix of `/usr` itself (a distribution's Python) is served by the system
        // folders; binding it whole would bring `/usr/local` back.
        let needed: Vec<&PathBuf> = interpreter_roots
            .iter()
            .filter(|r| !covered(r) && !Path::new("/usr").starts_with(r))
            .collect();
        // One mount per tree: a site-packages folder inside a bound prefix needs none.
        let mut interpreter: Vec<PathBuf> = Vec::new();
        for root in &needed {
            let inside_another = needed.iter().any(|o| o != root && root.starts_with(o));
            if !inside_another && !interpreter.contains(root) {
                interpreter.push(root.to_path_buf());
            }
        }
        let mut view = HostView {
            system,
            interpreter,
            etc: Vec::new(),
            extra: extra.to_vec(),
        };
        let etc = etc::entries(account, &|p| view.shows(p));
        view.etc = etc;
        view
    }

    /// True when the host path `p` is visible at the same path inside the sandbox
    /// (`/etc` aside).
    pub fn shows(&self, p: &Path) -> bool {
        self.system
            .iter()
            .any(|s| s.link.is_none() && p.starts_with(&s.path))
            || self.interpreter.iter().any(|r| p.starts_with(r))
            || self.extra.iter().any(|r| p.starts_with(r))
    }

    /// The extra paths bwrap must bind (those the system folders do not already show).
    pub fn extra_to_bind(&self) -> impl Iterator<Item = &PathBuf> {
        self.extra.iter().filter(|p| {
            !self
                .system
                .iter()
                .any(|s| s.link.is_none() && p.starts_with(&s.path))
        })
    }
}

/// The system folders present on this host: each entry of `/usr` but `local`, and the
/// top-level ones.
fn system_paths() -> Vec<SystemPath> {
    let mut usr: Vec<PathBuf> = std::fs::read_dir("/usr")
        .map(|dir| {
            dir.flatten()
                .filter(|e| !USR_HIDDEN.iter().any(|h| e.file_name() == *h))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    usr.sort();
    usr.into_iter()
        .chain(ROOT_SYSTEM_DIRS.iter().map(PathBuf::from))
        .filter_map(|path| {
            let meta = std::fs::symlink_metadata(&path).ok()?;
            let link = if meta.file_type().is_symlink() {
                Some(std::fs::read_link(&path).ok()?)
            } else {
                None
            };
            Some(SystemPath { path, link })
        })
        .collect()
}

/// Why `path` cannot be one of `kernel.readonly_paths`, if it cannot.
pub fn readonly_path_problem(path: &Path) -> Option<String> {
    if !path.is_absolute() {
        return Some("is not an absolute path".to_string());
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Some("contains `..`; write the path without it".to_string());
    }
    if path == Path::new("/") {
        return Some("is the whole host filesystem".to_string());
    }
    if path == Path::new("/etc") {
        return Some(
            "is the host's whole /etc, which the sandbox replaces with a minimal one; list the entries you need (e.g. /etc/fonts)"
                .to_string(),
        );
    }
    if let Some((_, what)) = RESERVED.iter().find(|(r, _)| path.starts_with(r)) {
        return Some(format!("is where the sandbox mounts {what}"));
    }
    match std::fs::metadata(path) {
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some("does not exist on this host".to_string())
        }
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(interpreter: &[&str], extra: &[&str]) -> HostView {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        HostView::new(
            &p(interpreter),
            &p(extra),
            Account {
                uid: 3_100_000,
                gid: 3_100_000,
            },
        )
    }

    #[test]
    fn usr_local_is_hidden_unless_the_interpreter_lives_there() {
        let v = view(&["/opt/py"], &[]);
        assert!(v.system.iter().any(|s| s.path == Path::new("/usr/bin")));
        assert!(!v.system.iter().any(|s| s.path.starts_with("/usr/local")));
        assert!(!v.shows(Path::new("/usr/local/bin/git")));
        assert!(v.shows(Path::new("/opt/py/bin/python3")));
        let v = view(&["/usr/local/lib/python3.12"], &[]);
        assert_eq!(v.interpreter, [PathBuf::from("/usr/local/lib/python3.12")]);
        assert!(!v.shows(Path::new("/usr/local/bin/git")));
    }

    #[test]
    fn a_distribution_python_gets_only_its_usr_local_packages_mounted() {
        let v = view(&["/usr", "/usr/lib/python3/dist-packages"], &[]);
        assert!(v.interpreter.is_empty(), "{:?}", v.interpreter);
        let v = view(
            &[
                "/usr",
                "/usr/local/lib/python3.11/dist-packages",
                "/usr/lib/python3/dist-packages",
            ],
            &[],
        );
        assert_eq!(
            v.interpreter,
            [PathBuf::from("/usr/local/lib/python3.11/dist-packages")]
        );
        let v = view(&["/opt/py", "/opt/py/lib/python3.12/site-packages"], &[]);
        assert_eq!(v.interpreter, [PathBuf::from("/opt/py")]);
    }

    #[test]
    fn readonly_paths_are_checked() {
        // A folder every Linux host has, outside the reserved ones (the checkout itself
        // may live under /tmp).
        assert_eq!(readonly_path_problem(Path::new("/var")), None);
        for (bad, says) in [
            ("relative/path", "absolute"),
            ("/srv/../root", ".."),
            ("/", "whole"),
            ("/etc", "minimal"),
            ("/tmp/x", "private /tmp"),
            ("/proc/1", "/proc"),
            ("/no/such/mcpr/path", "does not exist"),
        ] {
            let problem = readonly_path_problem(Path::new(bad)).unwrap_or_default();
            assert!(problem.contains(says), "{bad}: {problem:?}");
        }
    }
}
