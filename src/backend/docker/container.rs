//! The hardened container one kernel runs in, as an Engine API create request.
//!
//! No network, a read-only root, a private size-limited /tmp, every capability dropped,
//! no-new-privileges, the engine's default seccomp profile (never disabled here), a
//! non-root uid, memory/CPU/process limits from `[kernel.limits]`, and tini as PID 1 so
//! the kernel gets ordinary signal handling. The workspace is the only writable mount;
//! the runtime and skills are bound read-only. The engine's socket is never mounted.

use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};
use std::path::Path;

use super::settings::DockerSettings;
use crate::backend::LaunchSpec;
use crate::kernel::runtime;

/// Where the runtime folder appears inside the container.
pub const INSIDE_RUNTIME: &str = "/opt/mcpr-runtime";

const MIB: i64 = 1024 * 1024;

/// The create request for one kernel of `spec` running as `uid:gid`.
pub fn create_body(
    spec: &LaunchSpec,
    settings: &DockerSettings,
    runtime_dir: &Path,
    (uid, gid): (u32, u32),
) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(settings.image.clone()),
        cmd: Some(command(spec, settings)),
        user: Some(format!("{uid}:{gid}")),
        working_dir: Some(crate::sandbox::INSIDE_WORKSPACE.into()),
        env: Some(environment(spec)),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        // The kernel's stdin closes when mcpr's attachment does, so a kernel whose mcpr
        // died reads end-of-file and exits.
        stdin_once: Some(true),
        tty: Some(false),
        network_disabled: Some(true),
        hostname: Some(crate::sandbox::HOSTNAME.into()),
        labels: Some(super::engine::labels()),
        host_config: Some(host_config(spec, settings, runtime_dir)),
        ..Default::default()
    }
}

/// `python -I -B -c BOOT --max-frame N`, with the address-space limit set first so a
/// runaway allocation raises MemoryError in the kernel as under the subprocess backend
/// (the container's memory limit stays as the backstop for everything it starts).
fn command(spec: &LaunchSpec, settings: &DockerSettings) -> Vec<String> {
    let address_space = spec.limits.memory_mb.saturating_mul(MIB as u64);
    let boot = format!(
        "import resource as _r;_r.setrlimit(_r.RLIMIT_AS,({address_space},{address_space}));del _r;{}",
        runtime::boot_code(Path::new(INSIDE_RUNTIME))
    );
    vec![
        settings.python.clone(),
        "-I".into(),
        "-B".into(),
        "-c".into(),
        boot,
        "--max-frame".into(),
        spec.max_frame.to_string(),
    ]
}

fn environment(spec: &LaunchSpec) -> Vec<String> {
    let mut env = vec![
        format!("HOME={}", crate::sandbox::INSIDE_WORKSPACE),
        "TMPDIR=/tmp".to_string(),
        "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
        "LANG=C.UTF-8".to_string(),
        "PYTHONUNBUFFERED=1".to_string(),
    ];
    for name in &spec.env_passthrough {
        if let Ok(value) = std::env::var(name) {
            env.push(format!("{name}={value}"));
        }
    }
    env
}

fn host_config(spec: &LaunchSpec, settings: &DockerSettings, runtime_dir: &Path) -> HostConfig {
    let limits = &spec.limits;
    let memory = (limits.memory_mb as i64).saturating_mul(MIB);
    let ulimit = |name: &str, soft: u64, hard: u64| ResourcesUlimits {
        name: Some(name.into()),
        soft: Some(soft.min(i64::MAX as u64) as i64),
        hard: Some(hard.min(i64::MAX as u64) as i64),
    };
    HostConfig {
        network_mode: Some("none".into()),
        readonly_rootfs: Some(true),
        tmpfs: Some(
            [(
                "/tmp".to_string(),
                format!("rw,nosuid,nodev,size={}m,mode=1777", settings.tmp_mb),
            )]
            .into(),
        ),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        ipc_mode: Some("private".into()),
        init: Some(true),
        memory: Some(memory),
        // Swap equal to memory: no swap on top of the limit.
        memory_swap: Some(memory),
        nano_cpus: Some((settings.cpus * 1e9) as i64),
        pids_limit: Some(limits.processes as i64),
        ulimits: Some(vec![
            ulimit("nofile", limits.open_files, limits.open_files),
            ulimit(
                "fsize",
                limits.file_size_mb.saturating_mul(MIB as u64),
                limits.file_size_mb.saturating_mul(MIB as u64),
            ),
            ulimit(
                "cpu",
                limits.cpu_seconds,
                limits.cpu_seconds.saturating_add(1),
            ),
        ]),
        binds: Some(binds(spec, runtime_dir)),
        auto_remove: Some(false),
        ..Default::default()
    }
}

/// The workspace read-write at /workspace; the runtime, mounts and read-only paths
/// read-only.
fn binds(spec: &LaunchSpec, runtime_dir: &Path) -> Vec<String> {
    let mut binds = vec![
        format!(
            "{}:{}:rw",
            spec.workspace.display(),
            crate::sandbox::INSIDE_WORKSPACE
        ),
        format!("{}:{INSIDE_RUNTIME}:ro", runtime_dir.display()),
    ];
    for (host, inside) in &spec.readonly_mounts {
        binds.push(format!("{}:{}:ro", host.display(), inside.display()));
    }
    for path in &spec.readonly_paths {
        binds.push(format!("{}:{}:ro", path.display(), path.display()));
    }
    binds
}
