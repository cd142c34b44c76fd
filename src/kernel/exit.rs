//! How a kernel process ended, and what that most likely means for the user.

use serde::{Deserialize, Serialize};

use crate::sandbox::Limits;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// Set when waiting for the process itself failed.
    pub wait_error: Option<String>,
    /// The container engine reports that its out-of-memory killer ended the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// The kernel's container engine stopped answering: what happened and what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_lost: Option<String>,
}

impl ExitInfo {
    /// `via_bwrap`: bubblewrap reports a child killed by signal N as exit code 128+N.
    pub fn from_status(code: Option<i32>, signal: Option<i32>, via_bwrap: bool) -> Self {
        match (code, signal) {
            (Some(c), None) if via_bwrap && c > 128 && c < 128 + 65 => Self {
                code: None,
                signal: Some(c - 128),
                wait_error: None,
                oom_killed: false,
                engine_lost: None,
            },
            _ => Self {
                code,
                signal,
                wait_error: None,
                oom_killed: false,
                engine_lost: None,
            },
        }
    }

    pub fn unknown(reason: String) -> Self {
        Self {
            code: None,
            signal: None,
            wait_error: Some(reason),
            oom_killed: false,
            engine_lost: None,
        }
    }

    /// A sentence on what happened and the likely cause.
    pub fn explain(&self, limits: &Limits, killed_by_host: Option<&str>) -> String {
        if let Some(why) = killed_by_host {
            return match &self.engine_lost {
                Some(lost) => format!("was killed by mcpr: {why}, and {lost}"),
                None => format!("was killed by mcpr: {why}"),
            };
        }
        if let Some(lost) = &self.engine_lost {
            return lost.clone();
        }
        if self.oom_killed {
            return format!(
                "was killed by the container's out-of-memory killer: the kernel and what it started used up the {} MiB memory limit; raise kernel.limits.memory_mb in mcpr.toml",
                limits.memory_mb
            );
        }
        if let Some(sig) = self.signal {
            let name = signal_name(sig);
            let cause = match sig {
                libc::SIGKILL => format!(
                    "probably the out-of-memory killer (the kernel's limit is {} MiB) or another process",
                    limits.memory_mb
                ),
                libc::SIGSEGV | libc::SIGBUS | libc::SIGABRT => format!(
                    "often a failed allocation in native code under the {} MiB memory limit, or a bug in an extension module",
                    limits.memory_mb
                ),
                libc::SIGXCPU => format!(
                    "the kernel used up its CPU-time limit of {} s; raise kernel.limits.cpu_seconds in mcpr.toml",
                    limits.cpu_seconds
                ),
                libc::SIGXFSZ => format!(
                    "a file grew past the {} MiB file-size limit",
                    limits.file_size_mb
                ),
                _ => "an unexpected signal".to_string(),
            };
            return format!("was killed by {name} — {cause}");
        }
        match (self.code, &self.wait_error) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(e)) => format!("ended, but its status could not be read: {e}"),
            (None, None) => "ended for an unknown reason".to_string(),
        }
    }
}

pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bwrap_exit_codes_map_back_to_signals() {
        let e = ExitInfo::from_status(Some(137), None, true);
        assert_eq!(e.signal, Some(9));
        let text = e.explain(&Limits::default(), None);
        assert!(text.starts_with("was killed by SIGKILL"), "{text}");
        assert!(text.contains("512 MiB"), "{text}");
        assert_eq!(
            ExitInfo::from_status(Some(137), None, false).code,
            Some(137)
        );
    }

    #[test]
    fn an_engine_oom_kill_is_named_as_such() {
        let e = ExitInfo {
            oom_killed: true,
            ..ExitInfo::from_status(Some(137), None, true)
        };
        let text = e.explain(&Limits::default(), None);
        assert!(text.contains("out-of-memory killer"), "{text}");
        assert!(text.contains("512 MiB"), "{text}");
    }
}
