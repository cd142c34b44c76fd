//! `mcpr doctor`: one line per capability with a verdict and, if missing, what to do.

mod docker;

use clap::Args;
use std::process::ExitCode;
use std::time::Duration;

use super::{CliError, current_project};
use crate::event::Event;
use crate::hostcall::HostCalls;
use crate::kernel::{CellOptions, Kernel};
use crate::project::KernelConfig;
use crate::python::{PythonInfo, wanted_python};
use crate::sandbox::etc::{Account, EtcSource};
use crate::sandbox::{HostView, Isolation, SandboxProbe, seccomp};
use crate::session::Launcher;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Check {
    item: &'static str,
    verdict: Verdict,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    Warn,
    Missing,
}

fn check(
    item: &'static str,
    verdict: Verdict,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        item,
        verdict,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

pub async fn run(args: DoctorArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let mut checks = Vec::new();
    checks.push(match &project.config_file {
        Some(file) => check(
            "project",
            Verdict::Ok,
            format!("{} (config {})", project.root.display(), file.display()),
            None,
        ),
        None if project.is_default => check(
            "project",
            Verdict::Warn,
            format!(
                "no mcpr project here or above; sessions, skills and workspaces go to your default project {}",
                project.root.display()
            ),
            Some("run `mcpr init` to make this folder a project"),
        ),
        None => check(
            "project",
            Verdict::Warn,
            format!(
                "no mcpr.toml in {}; its recorded sessions are used with default settings",
                project.root.display()
            ),
            Some("run `mcpr init` there to write mcpr.toml"),
        ),
    });

    let config = &project.config.kernel;
    let python = PythonInfo::resolve(&wanted_python(config.python.as_deref()));
    checks.push(match &python {
        Ok(p) => check(
            "python",
            Verdict::Ok,
            format!("Python {} at {}", p.version, p.executable.display()),
            None,
        ),
        Err(e) => check(
            "python",
            Verdict::Missing,
            e.to_string(),
            Some("install python3 or set kernel.python in mcpr.toml"),
        ),
    });

    let probe = SandboxProbe::get();
    checks.push(match (&probe.bwrap, &probe.bwrap_version) {
        (Some(path), version) => check(
            "bubblewrap",
            Verdict::Ok,
            format!(
                "{} at {}",
                version.as_deref().unwrap_or("bwrap"),
                path.display()
            ),
            None,
        ),
        (None, _) => check(
            "bubblewrap",
            Verdict::Missing,
            "not installed",
            Some("apt-get install bubblewrap (or your distribution's package)"),
        ),
    });
    checks.push(match &probe.namespaces {
        Ok(()) => check("namespaces", Verdict::Ok, "network, pid, ipc, uts and mount namespaces work", None),
        Err(why) => check("namespaces", Verdict::Missing, why.clone(), Some("install bubblewrap and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")),
    });
    // What a trial kernel reports about its own sandbox (namespaces only).
    let mut inside: Option<Inside> = None;
    match probe.resolve(config.isolation) {
        Ok(level) => {
            let verdict = if level == Isolation::Namespaces {
                Verdict::Ok
            } else {
                Verdict::Warn
            };
            let detail = match Launcher::from_config(config, None) {
                Ok(launcher) => match tempfile_workspace() {
                    Ok(dir) => match launcher.start(dir.path()).await {
                        Ok(mut kernel) => {
                            let d = kernel.info().description.clone();
                            if level == Isolation::Namespaces {
                                inside = Some(look_inside(&mut kernel, dir.path()).await);
                            }
                            kernel.shutdown().await;
                            d
                        }
                        Err(e) => format!("{level}, but a trial kernel failed: {e}"),
                    },
                    Err(e) => format!("{level} (no trial kernel: {e})"),
                },
                Err(e) => format!("{level} (no trial kernel: {e})"),
            };
            let fix = (verdict == Verdict::Warn)
                .then_some("install bubblewrap so `auto` can choose namespaces");
            checks.push(check(
                "isolation",
                verdict,
                format!("requested {}: {detail}", config.isolation.as_str()),
                fix,
            ));
            if level == Isolation::Namespaces {
                checks.extend(sandbox_view_checks(
                    config,
                    python.as_ref().ok(),
                    probe,
                    inside.as_ref(),
                ));
            }
        }
        // The Docker lines below judge a docker kernel's isolation.
        Err(crate::sandbox::SandboxError::NotASubprocessLevel) => {}
        Err(e) => checks.push(check("isolation", Verdict::Missing, e.to_string(), None)),
    }
    let limits = &config.limits;
    checks.push(check(
        "limits",
        Verdict::Ok,
        format!(
            "memory {} MiB, cpu {} s, file size {} MiB, open files {}, processes {}, cell timeout {} s",
            limits.memory_mb, limits.cpu_seconds, limits.file_size_mb, limits.open_files, limits.processes, config.timeout_seconds
        ),
        None,
    ));
    checks.push(llm_check().await);
    checks.extend(docker::checks(config).await);

    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&checks).map_err(CliError::failed)?
        );
    } else {
        for c in &checks {
            let tag = match c.verdict {
                Verdict::Ok => " ok  ",
                Verdict::Warn => "warn ",
                Verdict::Missing => "MISS ",
            };
            outln!("[{tag}] {:<11} {}", c.item, c.detail);
            if let Some(fix) = &c.fix {
                outln!("        {:<11} → {fix}", "");
            }
        }
    }
    let broken = checks
        .iter()
        .any(|c| c.verdict == Verdict::Missing && matches!(c.item, "python"));
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What a trial kernel saw of its own sandbox.
struct Inside {
    /// `Seccomp:` of /proc/self/status (2 = a filter is loaded), or why it is unknown.
    seccomp_mode: String,
    /// What `unshare(CLONE_NEWUSER)` answered in the kernel.
    unshare_user: String,
}

/// Asks the kernel for its seccomp mode and tries to create a user namespace; the
/// kernel is discarded afterwards, so the attempt cannot leave anything behind.
const LOOK_INSIDE: &str = r#"import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_mode = [l.split(":", 1)[1].strip() for l in open("/proc/self/status") if l.startswith("Seccomp:")]
_rc = _libc.unshare(0x10000000)
{"seccomp": _mode[0] if _mode else "unknown", "unshare": "succeeded" if _rc == 0 else os.strerror(ctypes.get_errno())}"#;

async fn look_inside(kernel: &mut Kernel, workspace: &std::path::Path) -> Inside {
    let mut value = None;
    let mut failure = None;
    kernel
        .run_cell(
            1,
            LOOK_INSIDE,
            &CellOptions {
                timeout: Some(Duration::from_secs(10)),
                ..CellOptions::default()
            },
            &HostCalls::with_builtins(),
            workspace,
            &mut |e| match e {
                Event::Value { json, .. } => value = json,
                Event::Error { ename, message, .. } => {
                    failure = Some(format!("{ename}: {message}"))
                }
                _ => {}
            },
        )
        .await;
    let field = |name: &str| {
        value
            .as_ref()
            .and_then(|v| v[name].as_str())
            .map(str::to_string)
            .or_else(|| failure.clone())
            .unwrap_or_else(|| "no answer from the trial kernel".to_string())
    };
    Inside {
        seccomp_mode: field("seccomp"),
        unshare_user: field("unshare"),
    }
}

/// What a namespaces kernel sees of the host, and whether the seccomp filter and the
/// ban on nested user namespaces are in force.
fn sandbox_view_checks(
    config: &KernelConfig,
    python: Option<&PythonInfo>,
    probe: &SandboxProbe,
    inside: Option<&Inside>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let roots = python.map(PythonInfo::mount_roots).unwrap_or_default();
    let extra_problem = crate::sandbox::check_readonly_paths(&config.readonly_paths).err();
    let extra: &[std::path::PathBuf] = if extra_problem.is_none() {
        &config.readonly_paths
    } else {
        &[]
    };
    // Only the names of the generated files are shown, so any account will do.
    let view = HostView::new(&roots, extra, Account { uid: 0, gid: 0 });
    let system: Vec<String> = view
        .system
        .iter()
        .map(|s| match &s.link {
            Some(target) => format!("{} -> {}", s.path.display(), target.display()),
            None => s.path.display().to_string(),
        })
        .collect();
    let interpreter: Vec<String> = view
        .interpreter
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    checks.push(check(
        "host paths",
        Verdict::Ok,
        format!(
            "read-only: {}; interpreter: {}; not visible: /usr/local{}, /home, /root, /var, /run, the rest of /etc",
            system.join(", "),
            if interpreter.is_empty() {
                "within the above".to_string()
            } else {
                interpreter.join(", ")
            },
            if view.interpreter.iter().any(|r| r.starts_with("/usr/local")) {
                " (but the interpreter's folders there)"
            } else {
                ""
            }
        ),
        None,
    ));
    let (mut host, mut generated) = (Vec::new(), Vec::new());
    for e in &view.etc {
        match &e.source {
            EtcSource::Host(_) => host.push(e.name.to_string()),
            EtcSource::Symlink(target) => host.push(format!("{} -> {}", e.name, target.display())),
            EtcSource::Generated(_) => generated.push(e.name),
        }
    }
    checks.push(check(
        "etc",
        Verdict::Ok,
        format!(
            "/etc holds only: {}; generated: {} (root, nobody and the kernel's uid)",
            host.join(", "),
            generated.join(", ")
        ),
        None,
    ));
    checks.push(match extra_problem {
        Some(e) => check(
            "extra paths",
            Verdict::Missing,
            e.to_string(),
            Some("kernels cannot start until kernel.readonly_paths is fixed"),
        ),
        None if config.readonly_paths.is_empty() => check(
            "extra paths",
            Verdict::Ok,
            "kernel.readonly_paths: none",
            None,
        ),
        None => check(
            "extra paths",
            Verdict::Ok,
            format!(
                "kernel.readonly_paths (read-only): {}",
                config
                    .readonly_paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
    });
    let trial = |what: &str| match inside {
        Some(_) => format!("; in a trial kernel {what}"),
        None => String::new(),
    };
    let userns_blocked = inside.is_none_or(|i| i.unshare_user != "succeeded");
    let by = match (probe.seccomp.is_ok(), probe.disable_userns) {
        (true, true) => "the seccomp filter and bwrap --disable-userns",
        (true, false) if probe.running_as_root => {
            "the seccomp filter (bwrap's --disable-userns needs a user namespace of the sandbox's own, which a root mcpr does not create)"
        }
        (true, false) => "the seccomp filter (this bwrap cannot --disable-userns)",
        (false, true) => "bwrap --disable-userns",
        (false, false) => "nothing",
    };
    let unshare = inside.map(|i| i.unshare_user.as_str()).unwrap_or_default();
    checks.push(
        if userns_blocked && (probe.seccomp.is_ok() || probe.disable_userns) {
            check(
                "userns",
                Verdict::Ok,
                format!(
                    "nested user namespaces refused by {by}{}",
                    trial(&format!("unshare(CLONE_NEWUSER): {unshare}"))
                ),
                None,
            )
        } else {
            check(
                "userns",
                Verdict::Warn,
                format!(
                    "kernels can create user namespaces (refused by {by}){}",
                    trial(&format!("unshare(CLONE_NEWUSER): {unshare}"))
                ),
                Some("use bubblewrap 0.8 or newer and a kernel with seccomp filters"),
            )
        },
    );
    let mode = inside.map(|i| i.seccomp_mode.as_str());
    checks.push(match (&probe.seccomp, mode) {
        (Ok(()), None | Some("2")) => check(
            "seccomp",
            Verdict::Ok,
            format!(
                "filter in force{}; refused with EPERM: {} (clone only with namespace flags, personality only for unusual personas, ioctl only TIOCSTI/TIOCLINUX); clone3 answers ENOSYS so glibc uses clone",
                if inside.is_some() {
                    " (a trial kernel's /proc/self/status says Seccomp: 2)"
                } else {
                    ""
                },
                seccomp::denied_names().join(", ")
            ),
            None,
        ),
        (Ok(()), Some(other)) => check(
            "seccomp",
            Verdict::Warn,
            format!("the filter loads in a trial sandbox, but a trial kernel reports Seccomp: {other}"),
            Some("report this as a bug in mcpr"),
        ),
        (Err(why), _) => check(
            "seccomp",
            Verdict::Warn,
            format!("no filter: {why}"),
            Some("use a kernel with seccomp filters (CONFIG_SECCOMP_FILTER) on x86_64 or aarch64"),
        ),
    });
    checks
}

fn tempfile_workspace() -> std::io::Result<TempDir> {
    let path = std::env::temp_dir().join(format!("mcpr-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir(path))
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn reachable(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

async fn llm_check() -> Check {
    if let Ok(url) = std::env::var("OPENAI_BASE_URL") {
        return check(
            "llm",
            Verdict::Ok,
            format!("OPENAI_BASE_URL is set ({url})"),
            None,
        );
    }
    if std::env::var_os("OPENAI_API_KEY").is_some() {
        return check(
            "llm",
            Verdict::Ok,
            "OPENAI_API_KEY is set (api.openai.com)",
            None,
        );
    }
    for (name, addr) in [
        ("Ollama", "127.0.0.1:11434"),
        ("llama.cpp server", "127.0.0.1:8080"),
    ] {
        if reachable(addr).await {
            return check(
                "llm",
                Verdict::Ok,
                format!("{name} answers at {addr}"),
                None,
            );
        }
    }
    check(
        "llm",
        Verdict::Warn,
        "no endpoint configured and none answering on 127.0.0.1:11434 or :8080",
        Some(
            "set OPENAI_BASE_URL/OPENAI_API_KEY, or start a local server (examples/local-llm.sh); mcpr exec needs none",
        ),
    )
}
