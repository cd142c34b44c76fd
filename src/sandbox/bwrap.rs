//! The bubblewrap command line for the `namespaces` level, and the file descriptors it
//! reads generated files and the seccomp filter from.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use super::SandboxError;
use super::etc::{Account, EtcSource};
use super::host_view::HostView;
use super::identity::KernelUser;
use super::seccomp;

/// Where the workspace appears inside the sandbox.
pub const INSIDE_WORKSPACE: &str = "/workspace";

/// The sandbox's host name (its own UTS namespace), also in its `/etc/hosts`.
pub const HOSTNAME: &str = "mcpr";

#[derive(Debug, Clone)]
pub struct BwrapCommand {
    /// Interpreter prefixes, exposed read-only at the same path unless the system folders
    /// already show them.
    pub readonly_same_path: Vec<PathBuf>,
    /// Host folders to expose read-only at another path: (host, inside).
    pub readonly_at: Vec<(PathBuf, PathBuf)>,
    /// `kernel.readonly_paths`: host paths exposed read-only at the same path.
    pub extra_readonly: Vec<PathBuf>,
    pub workspace: PathBuf,
    pub user: KernelUser,
    pub running_as_root: bool,
    /// bwrap's `--disable-userns` works here. It needs `--unshare-user`, which a root
    /// mcpr does not pass (the kernel drops to a host uid the namespace could not map).
    pub disable_userns: bool,
    /// Load the seccomp filter of [`seccomp`].
    pub seccomp: bool,
}

/// bwrap's arguments with the descriptors they name.
#[derive(Debug)]
pub struct PreparedBwrap {
    /// Arguments for bwrap, up to and including the `--` before the program.
    pub args: Vec<OsString>,
    /// Descriptors bwrap reads generated files and the filter from. The child must
    /// inherit them (see [`keep_across_exec`]); dropping this closes the parent's copies.
    fds: Vec<OwnedFd>,
}

impl PreparedBwrap {
    pub fn inherited_fds(&self) -> Vec<RawFd> {
        self.fds.iter().map(AsRawFd::as_raw_fd).collect()
    }
}

/// Accumulates arguments; remembers the folders made so each is made once.
#[derive(Default)]
struct Args {
    args: Vec<OsString>,
    made: Vec<PathBuf>,
}

impl Args {
    fn push(&mut self, items: &[&dyn AsRef<OsStr>]) {
        self.args
            .extend(items.iter().map(|s| s.as_ref().to_os_string()));
    }

    /// Makes the folders leading to `inside` ourselves, enterable by any uid (bwrap
    /// would copy e.g. /root's 0700 and lock the kernel out of the mount).
    fn parents(&mut self, inside: &Path) {
        for dir in parents_to_make(inside, &mut self.made) {
            self.push(&[&"--perms", &"0755", &"--dir", &dir]);
        }
    }

    fn ro_bind(&mut self, host: &Path, inside: &Path) {
        self.parents(inside);
        self.push(&[&"--ro-bind", &host, &inside]);
    }

    fn symlink(&mut self, target: &Path, inside: &Path) {
        self.parents(inside);
        self.push(&[&"--symlink", &target, &inside]);
    }
}

impl BwrapCommand {
    /// The uid and gid the kernel will have inside the sandbox.
    pub fn account(&self) -> Account {
        match self.user {
            KernelUser::Unprivileged { uid, gid } => Account { uid, gid },
            // bwrap maps the caller's own ids into the user namespace.
            KernelUser::Inherit => Account {
                uid: nix::unistd::getuid().as_raw(),
                gid: nix::unistd::getgid().as_raw(),
            },
        }
    }

    pub fn host_view(&self) -> HostView {
        HostView::new(
            &self.readonly_same_path,
            &self.extra_readonly,
            self.account(),
        )
    }

    /// The arguments, with the generated files and the filter written to descriptors.
    pub fn prepare(&self) -> Result<PreparedBwrap, SandboxError> {
        let view = self.host_view();
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut a = Args::default();
        a.push(&[&"--die-with-parent", &"--new-session"]);
        a.push(&[
            &"--unshare-ipc",
            &"--unshare-pid",
            &"--unshare-net",
            &"--unshare-uts",
            &"--unshare-cgroup-try",
        ]);
        if !self.running_as_root {
            a.push(&[&"--unshare-user"]);
            if self.disable_userns {
                a.push(&[&"--disable-userns"]);
            }
        }
        a.push(&[&"--hostname", &HOSTNAME]);
        for s in &view.system {
            match &s.link {
                Some(target) => a.symlink(target, &s.path),
                None => a.ro_bind(&s.path, &s.path),
            }
        }
        a.push(&[&"--proc", &"/proc", &"--dev", &"/dev"]);
        // World-writable and sticky, like the real ones: the kernel may run as another
        // uid; /dev/shm holds multiprocessing's semaphores.
        a.push(&[&"--perms", &"1777", &"--tmpfs", &"/dev/shm"]);
        a.push(&[&"--perms", &"1777", &"--tmpfs", &"/tmp"]);
        a.push(&[&"--perms", &"0755", &"--dir", &"/etc"]);
        a.made.push(PathBuf::from("/etc"));
        for entry in &view.etc {
            let inside = entry.path();
            match &entry.source {
                EtcSource::Host(host) => a.ro_bind(host, &inside),
                EtcSource::Symlink(target) => a.symlink(target, &inside),
                EtcSource::Generated(bytes) => {
                    let fd = data_fd(entry.name, bytes).map_err(|e| prepare_failed(&inside, e))?;
                    a.parents(&inside);
                    let n = fd.as_raw_fd().to_string();
                    a.push(&[&"--perms", &"0644", &"--ro-bind-data", &n, &inside]);
                    fds.push(fd);
                }
            }
        }
        for root in &view.interpreter {
            a.ro_bind(root, root);
        }
        for path in view.extra_to_bind() {
            a.ro_bind(path, path);
        }
        for (host, inside) in &self.readonly_at {
            a.ro_bind(host, inside);
        }
        a.push(&[
            &"--bind",
            &self.workspace,
            &INSIDE_WORKSPACE,
            &"--chdir",
            &INSIDE_WORKSPACE,
        ]);
        if self.running_as_root && matches!(self.user, KernelUser::Unprivileged { .. }) {
            // The runtime itself switches to the kernel's uid before running user code;
            // these two capabilities are lost at that switch.
            a.push(&[&"--cap-add", &"CAP_SETUID", &"--cap-add", &"CAP_SETGID"]);
        }
        if self.seccomp {
            let fd = data_fd("mcpr-seccomp", seccomp::program()?)
                .map_err(|e| prepare_failed(Path::new("the seccomp filter"), e))?;
            let n = fd.as_raw_fd().to_string();
            a.push(&[&"--seccomp", &n]);
            fds.push(fd);
        }
        a.push(&[&"--"]);
        Ok(PreparedBwrap { args: a.args, fds })
    }
}

fn prepare_failed(what: &Path, e: std::io::Error) -> SandboxError {
    SandboxError::Prepare(format!("{}: {e}", what.display()))
}

/// A sealed in-memory file holding `bytes`, positioned at its start, close-on-exec (see
/// [`keep_across_exec`]) and never one of the stdio numbers the child's pipes replace.
pub(super) fn data_fd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let mut fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    if fd.as_raw_fd() <= 2 {
        let above = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(3))?;
        // SAFETY: F_DUPFD_CLOEXEC just returned this new descriptor, owned by nobody else.
        fd = unsafe { OwnedFd::from_raw_fd(above) };
    }
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    fcntl(
        &file,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    Ok(OwnedFd::from(file))
}

/// Clears close-on-exec on `fds`, so the program exec'd next inherits them. Only makes
/// `fcntl` calls: safe in a `pre_exec` closure between fork and exec.
pub fn keep_across_exec(fds: &[RawFd]) -> std::io::Result<()> {
    for &fd in fds {
        // SAFETY: F_SETFD on a descriptor number only changes that descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The folders above `path` (outermost first, `/` excluded) not yet in `made`, which
/// they are added to.
fn parents_to_make(path: &Path, made: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    let mut ancestors: Vec<PathBuf> = path
        .ancestors()
        .skip(1)
        .filter(|a| a.parent().is_some() && !made.iter().any(|m| m == a))
        .map(Path::to_path_buf)
        .collect();
    ancestors.reverse();
    made.extend(ancestors.iter().cloned());
    ancestors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(running_as_root: bool) -> BwrapCommand {
        BwrapCommand {
            readonly_same_path: vec![PathBuf::from("/usr"), PathBuf::from("/opt/py")],
            readonly_at: vec![],
            extra_readonly: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))],
            workspace: PathBuf::from("/srv/ws/s1"),
            user: if running_as_root {
                KernelUser::Unprivileged {
                    uid: 3_100_001,
                    gid: 3_100_001,
                }
            } else {
                KernelUser::Inherit
            },
            running_as_root,
            disable_userns: true,
            seccomp: true,
        }
    }

    fn args_of(cmd: &BwrapCommand) -> (Vec<String>, PreparedBwrap) {
        let prepared = cmd.prepare().unwrap();
        let args = prepared
            .args
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        (args, prepared)
    }

    /// The destinations of bind mounts (`--ro-bind SRC DEST`, `--bind SRC DEST`).
    fn bound(args: &[String]) -> Vec<(&str, &str)> {
        args.windows(3)
            .filter(|w| w[0] == "--ro-bind" || w[0] == "--bind")
            .map(|w| (w[1].as_str(), w[2].as_str()))
            .collect()
    }

    #[test]
    fn never_exposes_home_or_root_and_binds_workspace_writable() {
        let (args, _) = args_of(&command(false));
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

    #[test]
    fn neither_the_host_etc_nor_usr_local_is_bound() {
        let (args, _) = args_of(&command(true));
        let binds = bound(&args);
        let joined = args.join(" ");
        assert!(!binds.iter().any(|(_, d)| *d == "/etc"), "{joined}");
        assert!(
            !binds
                .iter()
                .any(|(s, d)| s.starts_with("/usr/local") || d.starts_with("/usr/local")),
            "{joined}"
        );
        // /usr as an interpreter prefix is served by the system folders, not bound whole.
        assert!(!binds.iter().any(|(_, d)| *d == "/usr"), "{joined}");
        assert!(binds.contains(&("/usr/bin", "/usr/bin")), "{joined}");
        assert!(binds.contains(&("/opt/py", "/opt/py")), "{joined}");
        let manifest = env!("CARGO_MANIFEST_DIR");
        assert!(binds.contains(&(manifest, manifest)), "{joined}");
        // Each /etc entry from the host is bound at its own path, never from elsewhere.
        for (src, dest) in binds.iter().filter(|(_, d)| d.starts_with("/etc/")) {
            assert_eq!(src, dest, "{joined}");
        }
        assert!(joined.contains("--ro-bind-data"), "{joined}");
        assert!(args.iter().any(|a| a == "/etc/passwd"), "{joined}");
        assert!(!args.iter().any(|a| a == "/etc/shadow"), "{joined}");
    }

    #[test]
    fn seccomp_always_and_disable_userns_only_with_a_user_namespace() {
        let (args, prepared) = args_of(&command(false));
        let at = args.iter().position(|a| a == "--seccomp").unwrap();
        let fd: RawFd = args[at + 1].parse().unwrap();
        assert!(prepared.inherited_fds().contains(&fd));
        assert!(fd > 2);
        assert!(args.iter().any(|a| a == "--disable-userns"));

        let (args, _) = args_of(&command(true));
        assert!(args.iter().any(|a| a == "--seccomp"));
        assert!(!args.iter().any(|a| a == "--unshare-user"));
        // bwrap refuses --disable-userns without --unshare-user; seccomp covers root.
        assert!(!args.iter().any(|a| a == "--disable-userns"));
    }

    #[test]
    fn generated_files_are_readable_from_their_descriptors() {
        let (args, prepared) = args_of(&command(true));
        let at = args
            .windows(3)
            .position(|w| w[0] == "--ro-bind-data" && w[2] == "/etc/passwd")
            .unwrap();
        let fd: RawFd = args[at + 1].parse().unwrap();
        assert!(prepared.inherited_fds().contains(&fd));
        let text = std::fs::read_to_string(format!("/proc/self/fd/{fd}")).unwrap();
        assert!(text.contains(":3100001:3100001:"), "{text}");
        assert_eq!(args[at - 2..at], ["--perms", "0644"]);
    }
}
