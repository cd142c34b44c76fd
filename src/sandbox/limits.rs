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

/// One rlimit: resource, soft and hard value.
pub type Rlimit = (libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t);

impl Limits {
    /// The rlimits to set, computed before fork so the child only makes syscalls. The CPU
    /// limit's hard value is a second above the soft one, so that the kernel is told with
    /// SIGXCPU (and the death is explained as a CPU limit) before the hard SIGKILL.
    pub fn rlimits(&self) -> [Rlimit; 5] {
        let same = |resource, value| (resource, value, value);
        [
            same(libc::RLIMIT_AS, self.memory_mb.saturating_mul(MIB)),
            (
                libc::RLIMIT_CPU,
                self.cpu_seconds,
                self.cpu_seconds.saturating_add(1),
            ),
            same(libc::RLIMIT_FSIZE, self.file_size_mb.saturating_mul(MIB)),
            same(libc::RLIMIT_NOFILE, self.open_files),
            same(libc::RLIMIT_NPROC, self.processes),
        ]
    }

    /// Each limit within the range where a Python kernel starts and works, or why not.
    pub fn check(&self) -> Result<(), String> {
        // Below these the interpreter itself fails to start (measured: 48 MiB of address
        // space cannot start the kernel's threads, 12 descriptors cannot open its pipes).
        let ranges: [(&str, u64, u64, u64, &str); 5] = [
            ("memory_mb", self.memory_mb, 64, 1 << 30, "MiB"),
            ("cpu_seconds", self.cpu_seconds, 1, 1 << 40, "seconds"),
            ("file_size_mb", self.file_size_mb, 1, 1 << 30, "MiB"),
            ("open_files", self.open_files, 16, 1 << 20, "descriptors"),
            (
                "processes",
                self.processes,
                4,
                1 << 20,
                "processes and threads",
            ),
        ];
        for (key, value, min, max, unit) in ranges {
            if !(min..=max).contains(&value) {
                return Err(format!(
                    "[kernel.limits] {key} = {value} is out of range: use {unit} from {min} to {max} \
                     (below {min} the Python kernel cannot start)"
                ));
            }
        }
        Ok(())
    }

    /// The limits set below their defaults, as `key = value (default D)`: the first
    /// suspects when a kernel fails to start.
    pub fn below_defaults(&self) -> Vec<String> {
        let d = Limits::default();
        [
            ("memory_mb", self.memory_mb, d.memory_mb),
            ("cpu_seconds", self.cpu_seconds, d.cpu_seconds),
            ("file_size_mb", self.file_size_mb, d.file_size_mb),
            ("open_files", self.open_files, d.open_files),
            ("processes", self.processes, d.processes),
        ]
        .into_iter()
        .filter(|(_, value, default)| value < default)
        .map(|(key, value, default)| format!("{key} = {value} (default {default})"))
        .collect()
    }
}

/// Sets the given rlimits in the calling process. Async-signal-safe: for `pre_exec`.
pub fn apply_rlimits(limits: &[Rlimit]) -> std::io::Result<()> {
    for &(resource, soft, hard) in limits {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads a valid, initialised struct and has no other effects.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
