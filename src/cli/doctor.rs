//! `mcpr doctor`: one line per capability with a verdict and, if missing, what to do.

use clap::Args;
use std::process::ExitCode;
use std::time::Duration;

use super::{CliError, current_project};
use crate::python::{PythonInfo, wanted_python};
use crate::sandbox::{Isolation, SandboxProbe};
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
        None => check(
            "project",
            Verdict::Warn,
            format!(
                "no mcpr.toml here or above; using {} with defaults",
                project.root.display()
            ),
            Some("run `mcpr init` to create a project"),
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
                        Ok(kernel) => {
                            let d = kernel.info().description.clone();
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
        }
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
    checks.push(docker_check().await);

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

async fn docker_check() -> Check {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string());
    let ok = matches!(
        tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::UnixStream::connect(&socket)
        )
        .await,
        Ok(Ok(_))
    );
    if ok {
        check(
            "docker",
            Verdict::Ok,
            format!("engine socket answers at {socket}"),
            None,
        )
    } else {
        check(
            "docker",
            Verdict::Warn,
            format!("no engine at {socket}"),
            Some("only needed for the Docker backend; the subprocess backend works without it"),
        )
    }
}
