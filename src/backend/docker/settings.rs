//! The `[docker]` section of mcpr.toml: which engines and image the Docker backend uses,
//! how the workspace reaches a container (bound or synchronised), the warm pool's size
//! and the container-only limits that `[kernel.limits]` does not name.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::engine::Credentials;

/// How a kernel container gets the session's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceMode {
    /// `bind` for an engine on a local unix socket, `sync` for any other address.
    #[default]
    Auto,
    /// The host folder bound at /workspace: only an engine on this host can see it.
    Bind,
    /// Copied into the container at start and back out at each step boundary.
    Sync,
}

/// The image `scripts/setup-docker.sh` builds (Debian bookworm minbase with python3).
pub const DEFAULT_IMAGE: &str = "mcpr-python:bookworm";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSettings {
    /// An image with Python 3; mcpr puts its own runtime in, so nothing else is needed.
    pub image: String,
    /// The interpreter inside the image.
    pub python: String,
    /// Engine address in `DOCKER_HOST` form (`unix://…`, `tcp://…`, `https://…`); when
    /// unset, `DOCKER_HOST`, then the local socket.
    pub host: Option<String>,
    /// Several engines as one pool, each in `DOCKER_HOST` form; when set, `host` is
    /// not used. New sessions go to the engine with the most free capacity.
    pub engines: Vec<String>,
    /// How many kernel containers each engine's pool may run at once; 0 (the default)
    /// takes the engine's own size: the fewer of its CPUs / `cpus` and its memory /
    /// `[kernel.limits] memory_mb`.
    pub capacity: usize,
    /// Folder with `ca.pem`, `cert.pem` and `key.pem` for `tcp://` engines with TLS; when
    /// unset, `DOCKER_CERT_PATH`. Without either, `tcp://` speaks plain HTTP.
    pub cert_path: Option<PathBuf>,
    /// The private key for `ssh://` engines; when unset, ssh's own configuration (agent,
    /// `~/.ssh/config`) decides.
    pub ssh_identity: Option<PathBuf>,
    /// `bind`, `sync` or `auto` (bind on a local unix socket, sync otherwise).
    pub workspace: WorkspaceMode,
    /// Size of the workspace inside a container in sync mode (a tmpfs), in MiB.
    pub workspace_mb: u64,
    /// Ready containers kept per image by front ends that keep a warm pool (`mcpr bench`,
    /// long-running sessions); 0 keeps none.
    pub pool_size: usize,
    /// CPUs each kernel container may use (fractions allowed).
    pub cpus: f64,
    /// Size of the private tmpfs at /tmp, in MiB.
    pub tmp_mb: u64,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.into(),
            python: "python3".into(),
            host: None,
            engines: Vec::new(),
            capacity: 0,
            cert_path: None,
            ssh_identity: None,
            workspace: WorkspaceMode::Auto,
            workspace_mb: 1024,
            pool_size: 2,
            cpus: 1.0,
            tmp_mb: 64,
        }
    }
}

impl DockerSettings {
    /// Each value within its range, or a message naming the key and the range.
    pub fn check(&self) -> Result<(), String> {
        if self.image.trim().is_empty() {
            return Err("[docker] image is empty: name an image that has python3".into());
        }
        if !(0.01..=1024.0).contains(&self.cpus) {
            return Err(format!(
                "[docker] cpus = {} is out of range: use a number of CPUs from 0.01 to 1024",
                self.cpus
            ));
        }
        if !(1..=1024 * 1024).contains(&self.tmp_mb) {
            return Err(format!(
                "[docker] tmp_mb = {} is out of range: use MiB from 1 to 1048576",
                self.tmp_mb
            ));
        }
        if !(1..=1024 * 1024).contains(&self.workspace_mb) {
            return Err(format!(
                "[docker] workspace_mb = {} is out of range: use MiB from 1 to 1048576",
                self.workspace_mb
            ));
        }
        if self.pool_size > 64 {
            return Err(format!(
                "[docker] pool_size = {} is out of range: keep 0 to 64 ready containers",
                self.pool_size
            ));
        }
        for address in self.engine_addresses() {
            if address.trim().is_empty() {
                return Err("[docker] engines holds an empty address: use unix://PATH, tcp://HOST:PORT or ssh://USER@HOST".into());
            }
        }
        Ok(())
    }

    /// Every engine of the pool: `engines` when set, else the one [`engine_address`].
    ///
    /// [`engine_address`]: Self::engine_address
    pub fn engine_addresses(&self) -> Vec<String> {
        if self.engines.is_empty() {
            vec![self.engine_address()]
        } else {
            self.engines.clone()
        }
    }

    /// Whether kernels on the engine at `address` get the workspace by copying.
    pub fn syncs(&self, address: &str) -> bool {
        match self.workspace {
            WorkspaceMode::Bind => false,
            WorkspaceMode::Sync => true,
            WorkspaceMode::Auto => !address.starts_with("unix://"),
        }
    }

    /// What the engines are spoken to with.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            tls: self.tls_folder(),
            ssh_identity: self.ssh_identity.clone(),
        }
    }

    /// The folder of TLS client files: the setting, then `DOCKER_CERT_PATH`.
    pub fn tls_folder(&self) -> Option<PathBuf> {
        self.cert_path.clone().or_else(|| {
            std::env::var_os("DOCKER_CERT_PATH")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        })
    }

    /// The engine address to use: the setting, then `DOCKER_HOST`, then the local socket.
    pub fn engine_address(&self) -> String {
        self.host
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_name_the_key_and_the_range() {
        assert!(DockerSettings::default().check().is_ok());
        let bad = DockerSettings {
            cpus: 0.0,
            ..DockerSettings::default()
        };
        let e = bad.check().unwrap_err();
        assert!(
            e.contains("[docker] cpus = 0") && e.contains("0.01 to 1024"),
            "{e}"
        );
        let bad = DockerSettings {
            tmp_mb: 0,
            ..DockerSettings::default()
        };
        assert!(bad.check().unwrap_err().contains("[docker] tmp_mb"));
        let bad = DockerSettings {
            image: " ".into(),
            ..DockerSettings::default()
        };
        assert!(bad.check().unwrap_err().contains("[docker] image"));
    }

    #[test]
    fn the_setting_wins_over_the_environment() {
        let s = DockerSettings {
            host: Some("unix:///run/other.sock".into()),
            ..DockerSettings::default()
        };
        assert_eq!(s.engine_address(), "unix:///run/other.sock");
    }

    #[test]
    fn the_workspace_is_bound_on_a_local_socket_and_synced_elsewhere() {
        let auto = DockerSettings::default();
        assert!(!auto.syncs("unix:///var/run/docker.sock"));
        assert!(auto.syncs("tcp://10.0.0.2:2376"));
        let forced = DockerSettings {
            workspace: WorkspaceMode::Sync,
            ..DockerSettings::default()
        };
        assert!(forced.syncs("unix:///var/run/docker.sock"));
        let pool = DockerSettings {
            host: Some("unix:///not/used.sock".into()),
            engines: vec!["unix:///a.sock".into(), "tcp://b:2376".into()],
            ..DockerSettings::default()
        };
        assert_eq!(pool.engine_addresses(), ["unix:///a.sock", "tcp://b:2376"]);
        let empty = DockerSettings {
            engines: vec![" ".into()],
            ..DockerSettings::default()
        };
        assert!(empty.check().unwrap_err().contains("[docker] engines"));
        let big = DockerSettings {
            pool_size: 65,
            ..DockerSettings::default()
        };
        assert!(big.check().unwrap_err().contains("[docker] pool_size"));
    }
}
