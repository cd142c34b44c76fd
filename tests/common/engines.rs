//! Extra local Docker engines for the tests of several engines and of remote ones: each
//! a dockerd of its own (socket, data root) started by scripts/setup-docker.sh, which
//! also imports the default image there from its cached tarball.

use std::path::{Path, PathBuf};
use std::process::Command;

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use mcpr::backend::docker::DockerSettings;
use mcpr::backend::docker::engine::{KERNEL_LABEL, OWNER_LABEL};
use mcpr::project::KernelConfig;
use mcpr::sandbox::IsolationRequest;
use mcpr::session::Launcher;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-docker.sh")
}

/// Runs the setup script with `args`; its last line of output, or None after saying why
/// (a failure under `MCPR_REQUIRE_DOCKER=1`).
fn setup(args: &[&str]) -> Option<String> {
    let out = Command::new("bash").arg(script()).args(args).output();
    let why = match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            return text.lines().last().map(|l| l.trim().to_string());
        }
        Ok(o) => format!(
            "scripts/setup-docker.sh {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("scripts/setup-docker.sh could not run: {e}"),
    };
    if std::env::var("MCPR_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("MCPR_REQUIRE_DOCKER=1 but an extra engine cannot be had: {why}");
    }
    eprintln!("SKIPPED (extra Docker engine): {why}");
    None
}

/// An extra local engine `name` (started if needed): its `unix://` address.
pub fn local(name: &str) -> Option<String> {
    setup(&["--engine", name])
}

/// An extra engine `name` that also listens on 127.0.0.1:`port` with TLS: its `tcp://`
/// address and the folder of client files.
pub fn tls(name: &str, port: u16) -> Option<(String, PathBuf)> {
    let line = setup(&["--engine", name, "--tls", &port.to_string()])?;
    let (address, dir) = line.split_once(' ')?;
    Some((address.to_string(), PathBuf::from(dir)))
}

/// An sshd on 127.0.0.1:`port` in front of the default engine: its `ssh://` address and
/// the private key it lets in.
pub fn ssh(port: u16) -> Option<(String, PathBuf)> {
    let line = setup(&["--ssh", &port.to_string()])?;
    let (address, key) = line.split_once(' ')?;
    Some((address.to_string(), PathBuf::from(key)))
}

/// The pid of engine `name`'s dockerd.
fn dockerd_pid(name: &str) -> i32 {
    std::fs::read_to_string(format!("/run/mcpr-dockerd-{name}.pid"))
        .expect("the engine's pid file")
        .trim()
        .parse()
        .expect("a pid")
}

/// A session `name` on `launcher` in a fresh folder `root/name`: the folder (canonical,
/// as the engines report binds) and the session.
pub async fn start_session(
    launcher: &Launcher,
    root: &Path,
    name: &str,
) -> (PathBuf, mcpr::session::Session) {
    let ws = root.join(name);
    std::fs::create_dir_all(&ws).unwrap();
    let ws = ws.canonicalize().unwrap();
    let s = mcpr::session::Session::start(
        launcher.clone(),
        mcpr::hostcall::HostCalls::with_builtins(),
        name.to_string(),
        ws.clone(),
    )
    .await
    .expect("session starts");
    (ws, s)
}

/// Stops engine `name` gracefully.
pub fn stop(name: &str) {
    let _ = setup(&["--stop", name]);
}

/// Kills engine `name`'s dockerd with SIGKILL: the engine is dead, not shut down.
pub fn kill(name: &str) {
    let pid = dockerd_pid(name);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill dockerd");
    // Dead once gone or a zombie (its parent may be slow to reap it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let dead = state.as_deref().is_none_or(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next())
                == Some("Z")
        });
        if dead {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dockerd {pid} did not die"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Stops (`SIGSTOP`) or continues (`SIGCONT`) engine `name`'s dockerd: a hung engine
/// keeps its socket open and its containers running but answers nothing, as a remote
/// engine behind a network partition does.
pub fn hang(name: &str, hung: bool) {
    let pid = dockerd_pid(name);
    let signal = if hung {
        nix::sys::signal::Signal::SIGSTOP
    } else {
        nix::sys::signal::Signal::SIGCONT
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).expect("signal dockerd");
}

/// A Docker launcher with `docker` settings and the tests' short limits.
pub fn launcher(docker: DockerSettings) -> Launcher {
    let config = KernelConfig {
        timeout_seconds: 20.0,
        grace_seconds: 1.0,
        docker,
        ..KernelConfig::default()
    };
    Launcher::from_config(&config, Some(IsolationRequest::Docker)).expect("launcher")
}

/// Kernel containers whose owner label names process `pid` of this host.
pub async fn containers_of(pid: u32) -> Vec<String> {
    let docker = mcpr::backend::docker::engine::connect(
        &mcpr::backend::docker::DockerSettings::default().engine_address(),
    )
    .await
    .expect("engine");
    let filters = std::collections::HashMap::from([("label", vec![KERNEL_LABEL])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let needle = format!(":{pid}:");
    docker
        .list_containers(Some(options))
        .await
        .expect("list")
        .into_iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(OWNER_LABEL))
                .is_some_and(|o| o.contains(&needle))
        })
        .filter_map(|c| c.id)
        .collect()
}

/// The host folders bound at /workspace of this process's kernel containers on the
/// engine at `address`: which sessions run there.
pub async fn workspaces_on(address: &str) -> Vec<PathBuf> {
    let docker = mcpr::backend::docker::engine::connect(address)
        .await
        .expect("engine");
    let filters = std::collections::HashMap::from([("label", vec![KERNEL_LABEL])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let owner = mcpr::backend::docker::engine::owner_label();
    let mut found = Vec::new();
    for c in docker.list_containers(Some(options)).await.expect("list") {
        let ours = c
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .is_some_and(|o| *o == owner);
        let Some(id) = c.id.filter(|_| ours) else {
            continue;
        };
        let inspected = docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
            .expect("inspect");
        for m in inspected.mounts.unwrap_or_default() {
            if m.destination.as_deref() == Some("/workspace")
                && let Some(source) = m.source
            {
                found.push(PathBuf::from(source));
            }
        }
    }
    found.sort();
    found
}
