//! The bubblewrap command line for the `namespaces` level.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::identity::KernelUser;

/// Folders of the host's root filesystem exposed read-only (when present).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// Where the workspace appears inside the sandbox.
pub const INSIDE_WORKSPACE: &str = "/workspace";

#[derive(Debug, Clone)]
pub struct BwrapCommand {
    /// Host folders to expose read-only at the same path (interpreter prefixes).
    pub readonly_same_path: Vec<PathBuf>,
    /// Host folders to expose read-only at another path: (host, inside).
    pub readonly_at: Vec<(PathBuf, PathBuf)>,
    pub workspace: PathBuf,
    pub user: KernelUser,
    pub running_as_root: bool,
}

impl BwrapCommand {
    /// Arguments for bwrap, up to and including the `--` before the program.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
            a.extend(items.iter().map(|s| s.as_ref().to_os_string()));
        };
        push(&[&"--die-with-parent", &"--new-session"]);
        push(&[
            &"--unshare-ipc",
            &"--unshare-pid",
            &"--unshare-net",
            &"--unshare-uts",
            &"--unshare-cgroup-try",
        ]);
        if !self.running_as_root {
            push(&[&"--unshare-user"]);
        }
        push(&[&"--hostname", &"mcpr"]);
        for dir in SYSTEM_DIRS {
            let path = Path::new(dir);
            match std::fs::read_link(path) {
                Ok(target) => push(&[&"--symlink", &target, &path]),
                Err(_) if path.is_dir() => push(&[&"--ro-bind", &path, &path]),
                Err(_) => {}
            }
        }
        push(&[&"--proc", &"/proc", &"--dev", &"/dev"]);
        // World-writable and sticky, like a real /tmp: the kernel may run as another uid.
        push(&[&"--perms", &"1777", &"--tmpfs", &"/tmp"]);
        let mut made: Vec<&Path> = Vec::new();
        for root in &self.readonly_same_path {
            if SYSTEM_DIRS.iter().any(|d| root.starts_with(d)) {
                continue;
            }
            // Create the folders leading to the mount ourselves, enterable by any uid
            // (bwrap would copy e.g. /root's 0700 and lock the kernel out).
            for dir in parents_to_make(root, &mut made) {
                push(&[&"--perms", &"0755", &"--dir", &dir]);
            }
            push(&[&"--ro-bind", root, root]);
        }
        for (host, inside) in &self.readonly_at {
            // As above: folders leading to the mount point must be enterable by the
            // kernel's uid (bwrap would make them 0700), or the mount is unreachable.
            for dir in parents_to_make(inside, &mut made) {
                push(&[&"--perms", &"0755", &"--dir", &dir]);
            }
            push(&[&"--ro-bind", host, inside]);
        }
        push(&[
            &"--bind",
            &self.workspace,
            &INSIDE_WORKSPACE,
            &"--chdir",
            &INSIDE_WORKSPACE,
        ]);
        if self.running_as_root && matches!(self.user, KernelUser::Unprivileged { .. }) {
            // The runtime itself switches to the kernel's uid before running user code;
            // these two capabilities are lost at that switch.
            push(&[&"--cap-add", &"CAP_SETUID", &"--cap-add", &"CAP_SETGID"]);
        }
        push(&[&"--"]);
        a
    }
}

/// The folders above `path` (outermost first, `/` excluded) not yet in `made`, which
/// they are added to.
fn parents_to_make<'a>(path: &'a Path, made: &mut Vec<&'a Path>) -> Vec<&'a Path> {
    let mut ancestors: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .filter(|a| a.parent().is_some() && !made.contains(a))
        .collect();
    ancestors.reverse();
    made.extend(ancestors.iter().copied());
    ancestors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exposes_home_or_root_and_binds_workspace_writable() {
        let cmd = BwrapCommand {
            readonly_same_path: vec![PathBuf::from("/usr")],
            readonly_at: vec![],
            workspace: PathBuf::from("/srv/ws/s1"),
            user: KernelUser::Inherit,
            running_as_root: false,
        };
        let args: Vec<String> = cmd
            .args()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("--bind /srv/ws/s1 /workspace"), "{joined}");
        assert!(joined.contains("--unshare-net"), "{joined}");
        assert!(joined.contains("--unshare-user"), "{joined}");
        assert!(
            !args.iter().any(|a| a == "/root" || a == "/home"),
            "{joined}"
        );
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }
}
