//! The hardened container one kernel runs in, as an Engine API create request.
//!
//! No network, a read-only root, a private size-limited /tmp, every capability dropped,
//! no-new-privileges, the engine's default seccomp profile (never disabled here), a
//! non-root uid, memory/CPU/process limits from `[kernel.limits]`, and tini as PID 1 so
//! the kernel gets ordinary signal handling. The workspace is the only writable mount;
//! the runtime and skills are bound read-only. The engine's socket is never mounted.
//!
//! Mounts are given as structured `Mounts` (never the `Binds` strings, which a host path
//! holding `:` would break). In sync mode nothing of this host is bound: the workspace is
//! a tmpfs volume owned by the kernel's uid that mcpr fills through the archive API, the
//! read-only folders are root-owned tmpfs volumes filled the same way (the kernel cannot
//! write them: it is neither their owner nor has capabilities), and the runtime comes in
//! with the boot code.

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions,
    MountVolumeOptionsDriverConfig, ResourcesUlimits,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::settings::DockerSettings;
use crate::backend::LaunchSpec;
use crate::kernel::runtime;

/// Where the runtime folder appears inside the container.
pub const INSIDE_RUNTIME: &str = "/opt/mcpr-runtime";

const MIB: i64 = 1024 * 1024;

/// Where the runtime is written by the boot code in sync mode (inside the private /tmp).
const SYNC_RUNTIME: &str = "/tmp/.mcpr-runtime";

/// The create request for one kernel of `spec` running as `uid:gid`; `sync` when the
/// engine cannot see this host's folders.
pub fn create_body(
    spec: &LaunchSpec,
    settings: &DockerSettings,
    runtime_dir: &Path,
    (uid, gid): (u32, u32),
    sync: bool,
) -> ContainerCreateBody {
    let mounts = if sync {
        synced_mounts(spec, settings, (uid, gid))
    } else {
        bound_mounts(spec, runtime_dir)
    };
    ContainerCreateBody {
        image: Some(settings.image.clone()),
        cmd: Some(command(spec, settings, sync)),
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
        host_config: Some(host_config(spec, settings, mounts)),
        ..Default::default()
    }
}

/// `python -I -B -c BOOT --max-frame N`, with the address-space limit set first so a
/// runaway allocation raises MemoryError in the kernel as under the subprocess backend
/// (the container's memory limit stays as the backstop for everything it starts).
fn command(spec: &LaunchSpec, settings: &DockerSettings, sync: bool) -> Vec<String> {
    let address_space = spec.limits.memory_mb.saturating_mul(MIB as u64);
    let boot = if sync {
        runtime::self_contained_boot_code(SYNC_RUNTIME)
    } else {
        runtime::boot_code(Path::new(INSIDE_RUNTIME))
    };
    let boot = format!(
        "import resource as _r;_r.setrlimit(_r.RLIMIT_AS,({address_space},{address_space}));del _r;{boot}"
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

fn host_config(spec: &LaunchSpec, settings: &DockerSettings, mounts: Vec<Mount>) -> HostConfig {
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
        mounts: Some(mounts),
        auto_remove: Some(false),
        ..Default::default()
    }
}

/// The workspace read-write at /workspace; the runtime, mounts and read-only paths
/// read-only, all bound from this host's folders.
fn bound_mounts(spec: &LaunchSpec, runtime_dir: &Path) -> Vec<Mount> {
    let bind = |host: &Path, inside: &Path, read_only: bool| Mount {
        target: Some(inside.to_string_lossy().into_owned()),
        source: Some(host.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    };
    let mut mounts = vec![
        bind(
            &spec.workspace,
            Path::new(crate::sandbox::INSIDE_WORKSPACE),
            false,
        ),
        bind(runtime_dir, Path::new(INSIDE_RUNTIME), true),
    ];
    for (host, inside) in read_only_folders(spec) {
        mounts.push(bind(&host, &inside, true));
    }
    mounts
}

/// Every read-only folder of `spec` as (host folder, path inside).
pub fn read_only_folders(spec: &LaunchSpec) -> Vec<(PathBuf, PathBuf)> {
    let mut folders = spec.readonly_mounts.clone();
    folders.extend(spec.readonly_paths.iter().map(|p| (p.clone(), p.clone())));
    folders
}

/// Sync mode: tmpfs volumes the host fills through the archive API once the container
/// runs (a tmpfs volume holds its files only while mounted). The workspace's belongs to
/// the kernel's uid; the read-only folders' to root.
fn synced_mounts(
    spec: &LaunchSpec,
    settings: &DockerSettings,
    (uid, gid): (u32, u32),
) -> Vec<Mount> {
    let tmpfs_volume = |inside: &Path, options: String| Mount {
        target: Some(inside.to_string_lossy().into_owned()),
        typ: Some(MountType::VOLUME),
        read_only: Some(false),
        volume_options: Some(MountVolumeOptions {
            driver_config: Some(MountVolumeOptionsDriverConfig {
                name: Some("local".into()),
                options: Some(HashMap::from([
                    ("type".to_string(), "tmpfs".to_string()),
                    ("device".to_string(), "tmpfs".to_string()),
                    ("o".to_string(), options),
                ])),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut mounts = vec![tmpfs_volume(
        Path::new(crate::sandbox::INSIDE_WORKSPACE),
        format!(
            "size={}m,uid={uid},gid={gid},mode=0755,nosuid,nodev",
            settings.workspace_mb
        ),
    )];
    for (_, inside) in read_only_folders(spec) {
        mounts.push(tmpfs_volume(
            &inside,
            format!("size={}m,mode=0755,nosuid,nodev", settings.workspace_mb),
        ));
    }
    mounts
}
