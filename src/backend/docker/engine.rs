//! One Docker engine: the connection (API version negotiated, since engines as old as
//! 20.10 speak only API 1.41), who owns which container, and the sweep that removes
//! kernel containers left behind by an mcpr process that no longer runs.
//!
//! Ownership is a label `mcpr.owner = host:pid:start-time`. The start time (from /proc)
//! tells a live owner from a later process that reuses its pid. Containers of other
//! hosts sharing a remote engine are never touched.

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use std::collections::HashMap;
use tokio::sync::OnceCell;

/// Marks every container mcpr starts for a kernel.
pub const KERNEL_LABEL: &str = "mcpr.kernel";
/// `host:pid:start-time` of the mcpr process that started the container.
pub const OWNER_LABEL: &str = "mcpr.owner";

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Docker engine answers at {address}: {reason}. Start one (scripts/setup-docker.sh prepares a local engine and the default image), set [docker] host in mcpr.toml, or use another --isolation"
    )]
    Unreachable { address: String, reason: String },
    #[error(
        "the Docker backend needs an engine on this host (a unix:// socket), not {address}: kernels bind the workspace and the runtime from this host's folders, which a remote engine cannot see. Use a local engine (scripts/setup-docker.sh) or unset [docker] host / DOCKER_HOST; docs/REMOTE-ENGINES.md says what remote engines need"
    )]
    Remote { address: String },
    #[error("{address} is not an engine address mcpr can use: {reason}")]
    BadAddress { address: String, reason: String },
}

/// A lazily connected engine, shared by every kernel of one backend.
pub struct Engine {
    address: String,
    client: OnceCell<Result<Docker, EngineError>>,
}

impl Engine {
    pub fn new(address: String) -> Engine {
        Engine {
            address,
            client: OnceCell::new(),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The client, connected on first use; the first connection also sweeps orphans.
    pub async fn client(&self) -> Result<Docker, EngineError> {
        self.client
            .get_or_init(|| async {
                let docker = connect(&self.address).await?;
                sweep_orphans(&docker).await;
                Ok(docker)
            })
            .await
            .clone()
    }
}

/// Connects to `address` and settles on the API version both sides speak.
pub async fn connect(address: &str) -> Result<Docker, EngineError> {
    let docker = if address.starts_with("unix://") {
        // A long request timeout: attached kernels and waits last as long as sessions.
        Docker::connect_with_unix(address, 120, bollard::API_DEFAULT_VERSION)
    } else {
        Docker::connect_with_host(address)
    }
    .map_err(|e| EngineError::BadAddress {
        address: address.to_string(),
        reason: e.to_string(),
    })?;
    let unreachable = |e: bollard::errors::Error| EngineError::Unreachable {
        address: address.to_string(),
        reason: e.to_string(),
    };
    docker.negotiate_version().await.map_err(unreachable)
}

/// This process as the owner label names it.
pub fn owner_label() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", hostname(), start_time(pid).unwrap_or(0))
}

/// Labels every kernel container carries.
pub fn labels() -> HashMap<String, String> {
    HashMap::from([
        (KERNEL_LABEL.to_string(), "1".to_string()),
        (OWNER_LABEL.to_string(), owner_label()),
    ])
}

/// Removes kernel containers whose owner was an mcpr process of this host that is gone
/// (killed, crashed, or ended before it could remove them). Returns how many went.
pub async fn sweep_orphans(docker: &Docker) -> usize {
    let filters = HashMap::from([("label", vec![KERNEL_LABEL])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return 0;
    };
    let mut removed = 0;
    for container in containers {
        let owner = container
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .cloned()
            .unwrap_or_default();
        let (Some(id), true) = (container.id, is_orphan(&owner)) else {
            continue;
        };
        let force = RemoveContainerOptionsBuilder::default().force(true).build();
        if docker.remove_container(&id, Some(force)).await.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// True when `owner` names a process of this host that no longer runs.
fn is_orphan(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(started), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let (Ok(pid), Ok(started)) = (pid.parse::<u32>(), started.parse::<u64>()) else {
        return false;
    };
    start_time(pid) != Some(started)
}

/// The start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_owns_its_label_and_a_dead_pid_does_not() {
        assert!(!is_orphan(&owner_label()));
        let dead = format!("{}:{}:1", hostname(), u32::MAX - 1);
        assert!(is_orphan(&dead));
        // Another host's containers are never ours to remove.
        assert!(!is_orphan("elsewhere.example:1:1"));
        assert!(!is_orphan("garbage"));
    }
}
