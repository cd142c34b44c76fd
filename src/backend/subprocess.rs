//! The subprocess backend: the kernel as a child process of mcpr, optionally inside
//! bubblewrap. The child gets its own session and process group, rlimits, a parent-death
//! signal, a cleared environment, and stdio as the protocol channel.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;
use tokio::sync::watch;

use super::{Backend, KernelProcess, LaunchError, LaunchSpec, Launched};
use crate::kernel::{ExitInfo, runtime};
use crate::sandbox::identity::{self, KernelUser};
use crate::sandbox::{
    BwrapCommand, Isolation, IsolationRequest, PreparedBwrap, SandboxProbe, env, keep_across_exec,
};

/// Where the runtime folder appears inside a namespaces sandbox.
const INSIDE_RUNTIME: &str = "/opt/mcpr-runtime";

pub struct SubprocessBackend {
    isolation: Isolation,
    runtime_dir: PathBuf,
    probe: &'static SandboxProbe,
}

impl SubprocessBackend {
    pub fn new(request: IsolationRequest) -> Result<Self, LaunchError> {
        let probe = SandboxProbe::get();
        let isolation = probe.resolve(request)?;
        let runtime_dir = runtime::install()?;
        Ok(Self {
            isolation,
            runtime_dir,
            probe,
        })
    }

    fn kernel_user(&self, spec: &LaunchSpec) -> KernelUser {
        if !self.probe.running_as_root {
            return KernelUser::Inherit;
        }
        match self.isolation {
            Isolation::Namespaces => KernelUser::fresh(),
            // Without mounts the new uid must reach the interpreter and runtime itself.
            // (`new` never resolves to Docker: that level belongs to the Docker backend.)
            Isolation::None | Isolation::Docker => {
                let reachable = spec
                    .python
                    .mount_roots()
                    .iter()
                    .chain([&self.runtime_dir])
                    .all(|p| identity::reachable_by_others(&p.join("x")));
                if reachable {
                    KernelUser::fresh()
                } else {
                    KernelUser::Inherit
                }
            }
        }
    }

    /// The bwrap command for one kernel of `spec` running as `user`.
    pub fn bwrap_command(&self, spec: &LaunchSpec, user: KernelUser) -> BwrapCommand {
        let mut readonly_at = vec![(self.runtime_dir.clone(), PathBuf::from(INSIDE_RUNTIME))];
        readonly_at.extend(spec.readonly_mounts.iter().cloned());
        BwrapCommand {
            readonly_same_path: spec.python.mount_roots(),
            readonly_at,
            extra_readonly: spec.readonly_paths.clone(),
            workspace: spec.workspace.clone(),
            user,
            running_as_root: self.probe.running_as_root,
            disable_userns: self.probe.disable_userns,
            seccomp: self.probe.seccomp.is_ok(),
        }
    }

    /// One line on the isolation in force, e.g. for `doctor`.
    pub fn describe(&self, user: KernelUser) -> String {
        let who = match user {
            KernelUser::Unprivileged { uid, .. } => format!("unprivileged uid {uid}"),
            KernelUser::Inherit if self.probe.running_as_root => {
                "root (process limit NOT enforced)".to_string()
            }
            KernelUser::Inherit => "the calling user".to_string(),
        };
        match self.isolation {
            Isolation::Namespaces => {
                let seccomp = match &self.probe.seccomp {
                    Ok(()) => "seccomp filter",
                    Err(_) => "NO seccomp filter",
                };
                let userns = if self.probe.seccomp.is_ok() || self.probe.disable_userns {
                    "no nested user namespaces"
                } else {
                    "nested user namespaces NOT blocked"
                };
                format!(
                    "namespaces via {} (no network; private pid, ipc, uts, mounts; read-only root, minimal /etc; {seccomp}; {userns}); kernel runs as {who}",
                    self.probe.bwrap_version.as_deref().unwrap_or("bubblewrap"),
                )
            }
            Isolation::None | Isolation::Docker => {
                format!("none (rlimits and a cleared environment only); kernel runs as {who}")
            }
        }
    }
}

impl Backend for SubprocessBackend {
    fn name(&self) -> &'static str {
        "subprocess"
    }

    fn isolation(&self) -> Isolation {
        self.isolation
    }

    fn launch(&self, spec: &LaunchSpec) -> Result<Launched, LaunchError> {
        let user = self.kernel_user(spec);
        if let KernelUser::Unprivileged { uid, gid } = user {
            identity::chown_tree(&spec.workspace, uid, gid)?;
        }
        let python_bin = spec.python.executable.parent().map(Path::to_path_buf);
        // The bwrap command line and the descriptors it reads; None without isolation.
        let mut sandbox: Option<PreparedBwrap> = None;
        let (program, mut args, runtime_dir, home, tmp): (PathBuf, Vec<OsString>, _, _, _) =
            match self.isolation {
                Isolation::None | Isolation::Docker => (
                    spec.python.executable.clone(),
                    Vec::new(),
                    self.runtime_dir.clone(),
                    spec.workspace.clone(),
                    std::env::temp_dir(),
                ),
                Isolation::Namespaces => {
                    let bwrap = self.probe.bwrap.clone().ok_or_else(|| {
                        crate::sandbox::SandboxError::NamespacesUnavailable(
                            "bubblewrap disappeared".into(),
                        )
                    })?;
                    let prepared = self.bwrap_command(spec, user).prepare()?;
                    let mut args = prepared.args.clone();
                    sandbox = Some(prepared);
                    args.push(spec.python.executable.clone().into());
                    (
                        bwrap,
                        args,
                        PathBuf::from(INSIDE_RUNTIME),
                        PathBuf::from(crate::sandbox::INSIDE_WORKSPACE),
                        PathBuf::from("/tmp"),
                    )
                }
            };
        args.extend(["-I".into(), "-B".into(), "-c".into()]);
        args.push(runtime::boot_code(&runtime_dir).into());
        args.push("--max-frame".into());
        args.push(spec.max_frame.to_string().into());
        if let KernelUser::Unprivileged { uid, gid } = user {
            args.extend([
                "--uid".into(),
                uid.to_string().into(),
                "--gid".into(),
                gid.to_string().into(),
            ]);
        }

        let mut rlimits = spec.limits.rlimits();
        if !self.probe.running_as_root {
            // RLIMIT_NPROC counts every task of the uid, so leave room for what the user
            // already runs; the limit then caps what the kernel can add.
            for (resource, soft, hard) in rlimits.iter_mut() {
                if *resource == libc::RLIMIT_NPROC {
                    let running = tasks_of_current_user();
                    *soft = soft.saturating_add(running);
                    *hard = hard.saturating_add(running);
                }
            }
        }
        let mut command = Command::new(&program);
        command
            .args(&args)
            .env_clear()
            .envs(env::kernel_env(
                python_bin.as_deref(),
                &home,
                &tmp,
                &spec.env_passthrough,
            ))
            .current_dir(&spec.workspace)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let inherit = sandbox
            .as_ref()
            .map(PreparedBwrap::inherited_fds)
            .unwrap_or_default();
        // SAFETY: the closure only makes async-signal-safe syscalls (setsid, prctl,
        // setrlimit, fcntl) on values computed before fork.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                keep_across_exec(&inherit)?;
                crate::sandbox::limits::apply_rlimits(&rlimits)
            });
        }
        let spawned = command.spawn();
        // bwrap has its own copies of the descriptors now (or never will): close ours.
        drop(sandbox);
        let mut child = spawned.map_err(|source| LaunchError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        let (Some(stdin), Some(stdout), Some(stderr), Some(pid)) = (
            child.stdin.take(),
            child.stdout.take(),
            child.stderr.take(),
            child.id(),
        ) else {
            return Err(LaunchError::Prepare(std::io::Error::other(
                "kernel process started without its pipes",
            )));
        };
        let (exit_tx, exit_rx) = watch::channel(None);
        let via_bwrap = self.isolation == Isolation::Namespaces;
        tokio::spawn(async move {
            let info = match child.wait().await {
                Ok(status) => ExitInfo::from_status(status.code(), status.signal(), via_bwrap),
                Err(e) => ExitInfo::unknown(e.to_string()),
            };
            let _ = exit_tx.send(Some(info));
        });
        Ok(Launched {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            process: Box::new(ChildProcess {
                pgid: pid as i32,
                exit: exit_rx,
            }),
            description: self.describe(user),
            host_pid: Some(pid),
        })
    }
}

struct ChildProcess {
    pgid: i32,
    exit: watch::Receiver<Option<ExitInfo>>,
}

impl KernelProcess for ChildProcess {
    fn kill(&self) {
        if self.exit.borrow().is_some() {
            return;
        }
        // The child called setsid, so its pid is its process group: this reaches every
        // process it started that did not leave the group. Under bwrap the sandbox's
        // PID namespace dies with it (--die-with-parent).
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    fn exit(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Tasks (threads count) owned by the current real uid, from /proc.
fn tasks_of_current_user() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::getuid().as_raw();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| e.metadata().map(|m| m.uid() == uid).unwrap_or(false))
        .map(|e| {
            std::fs::read_dir(e.path().join("task"))
                .map(|t| t.count() as u64)
                .unwrap_or(1)
        })
        .sum()
}
