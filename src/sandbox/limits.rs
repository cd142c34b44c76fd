//! Resource limits applied to the kernel process before it starts (rlimits).
//!
//! Limits are inherited by everything the kernel spawns. The process count is only
//! enforced for a non-root user: as root the kernel is moved to an unprivileged uid
//! (see `sandbox::identity`), otherwise the user namespace scopes the count.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Address-space limit of the kernel, in MiB.
    pub memory_mb: u64,
    /// CPU seconds over the kernel's whole life.
    pub cpu_seconds: u64,
    /// Largest file the kernel may write, in MiB.
    pub file_size_mb: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Processes and threads the kernel's uid may have at once.
    pub processes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mb: 512,
            cpu_seconds: 3600,
            file_size_mb: 1024,
            open_files: 256,
            processes: 64,
        }
    }
}

const MIB: u64 = 1024 * 1024;

impl Limits {
    /// The rlimits to set, as (resource, value) pairs computed before fork so the child
    /// only makes syscalls.
    pub fn rlimits(&self) -> [(libc::__rlimit_resource_t, libc::rlim_t); 5] {
        [
            (libc::RLIMIT_AS, self.memory_mb.saturating_mul(MIB)),
            (libc::RLIMIT_CPU, self.cpu_seconds),
            (libc::RLIMIT_FSIZE, self.file_size_mb.saturating_mul(MIB)),
            (libc::RLIMIT_NOFILE, self.open_files),
            (libc::RLIMIT_NPROC, self.processes),
        ]
    }
}

/// Sets the given rlimits in the calling process. Async-signal-safe: for `pre_exec`.
pub fn apply_rlimits(limits: &[(libc::__rlimit_resource_t, libc::rlim_t)]) -> std::io::Result<()> {
    for &(resource, value) in limits {
        let lim = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit reads a valid, initialised struct and has no other effects.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
