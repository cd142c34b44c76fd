//! The `[docker]` section of mcpr.toml: which engine and image the Docker backend uses
//! and the container-only limits that `[kernel.limits]` does not name.

use serde::{Deserialize, Serialize};

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
        Ok(())
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
}
