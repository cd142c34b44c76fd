//! One Docker engine: the connection (API version negotiated, since engines as old as
//! 20.10 speak only API 1.41; unix sockets, plain tcp, tcp with TLS, and ssh, which runs
//! `docker system dial-stdio` on the other host as the Docker CLI does), whether it is
//! up or marked down for a back-off, who owns which container, and the sweep that removes
//! kernel containers left behind by an mcpr process that no longer runs.
//!
//! Ownership is a label `mcpr.owner = host:pid:start-time`. The start time (from /proc)
//! tells a live owner from a later process that reuses its pid. Containers of other
//! hosts sharing a remote engine are never touched.

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        "[docker] workspace = \"bind\" needs an engine on this host (a unix:// socket), not {address}: a bound workspace comes from this host's folders, which a remote engine cannot see. Set [docker] workspace = \"sync\" (or \"auto\") to copy the workspace in and out, or use a local engine (scripts/setup-docker.sh); docs/REMOTE-ENGINES.md says what remote engines need"
    )]
    Remote { address: String },
    #[error("{address} is not an engine address mcpr can use: {reason}")]
    BadAddress { address: String, reason: String },
    #[error("mcpr cannot speak TLS to the engine at {address}: {reason}")]
    Tls { address: String, reason: String },
    #[error(
        "the Docker engine at {address} is marked down ({reason}); it is tried again in {retry_in_s} s. Start it again (scripts/setup-docker.sh for a local one) or remove it from [docker] engines"
    )]
    Down {
        address: String,
        reason: String,
        retry_in_s: u64,
    },
    #[error("{0}")]
    NoneUp(String),
}

/// The first wait after an engine fails; doubled on each further failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

/// An engine, connected on use, shared by every kernel placed on it.
pub struct Engine {
    address: String,
    credentials: Credentials,
    state: Mutex<State>,
    /// Serialises (re)connecting, so one sweep runs per connection.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    client: Option<Docker>,
    /// Set while the engine is marked down: until when, why, how many failures in a row.
    down: Option<(Instant, String)>,
    failures: u32,
}

impl Engine {
    pub fn new(address: String, credentials: Credentials) -> Engine {
        Engine {
            address,
            credentials,
            state: Mutex::new(State::default()),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// What this engine is spoken to with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Why the engine is down and for how much longer, or None when it may be used.
    pub fn down(&self) -> Option<EngineError> {
        let state = lock(&self.state);
        let (until, reason) = state.down.as_ref()?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(EngineError::Down {
            address: self.address.clone(),
            reason: reason.clone(),
            retry_in_s: left.as_secs().max(1),
        })
    }

    /// Marks the engine down after a failed request: it is left alone for a back-off
    /// that doubles with each failure in a row, then tried again.
    pub fn mark_down(&self, reason: &str) {
        let mut state = lock(&self.state);
        state.client = None;
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << state.failures.min(5))
            .min(LONGEST_BACKOFF);
        state.failures = state.failures.saturating_add(1);
        state.down = Some((Instant::now() + wait, reason.to_string()));
    }

    /// The client, connecting when there is none; each new connection sweeps orphans.
    /// Fails at once while the engine is marked down.
    pub async fn client(&self) -> Result<Docker, EngineError> {
        if let Some(down) = self.down() {
            return Err(down);
        }
        if let Some(client) = lock(&self.state).client.clone() {
            return Ok(client);
        }
        let _one = self.connecting.lock().await;
        if let Some(client) = lock(&self.state).client.clone() {
            return Ok(client);
        }
        match connect_with(&self.address, &self.credentials).await {
            Ok(docker) => {
                sweep_orphans(&docker).await;
                let mut state = lock(&self.state);
                state.client = Some(docker.clone());
                state.down = None;
                state.failures = 0;
                Ok(docker)
            }
            Err(e @ EngineError::Unreachable { .. }) => {
                self.mark_down(&e.to_string());
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What an engine is spoken to with besides its address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    /// A folder with `ca.pem`, `cert.pem` and `key.pem`: with it a `tcp://` engine is
    /// spoken to over TLS, its certificate checked against `ca.pem`.
    pub tls: Option<PathBuf>,
    /// The private key for `ssh://` engines; without it ssh's own configuration (agent,
    /// `~/.ssh/config`) decides.
    pub ssh_identity: Option<PathBuf>,
}

/// Connects to `address` (TLS client files from `DOCKER_CERT_PATH` for `tcp://`).
pub async fn connect(address: &str) -> Result<Docker, EngineError> {
    let tls = std::env::var_os("DOCKER_CERT_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let credentials = Credentials {
        tls,
        ssh_identity: None,
    };
    connect_with(address, &credentials).await
}

/// A request timeout long enough for attached kernels and waits, which last as long as
/// sessions.
const REQUEST_TIMEOUT_S: u64 = 120;

/// Connects to `address` with `credentials` and settles on the API version both sides
/// speak.
///
/// An `ssh://USER@HOST[:PORT]` engine is reached by the system's `ssh` client running
/// `docker system dial-stdio` there (so that host needs the Docker CLI, and the user
/// access to its engine). Its host key is accepted on first use and checked from then on
/// (`StrictHostKeyChecking=accept-new`): put it in `known_hosts` beforehand to pin it.
pub async fn connect_with(address: &str, credentials: &Credentials) -> Result<Docker, EngineError> {
    let tls = credentials.tls.as_deref();
    let bad = |reason: String| EngineError::BadAddress {
        address: address.to_string(),
        reason,
    };
    let tls_error = |reason: String| EngineError::Tls {
        address: address.to_string(),
        reason,
    };
    let version = bollard::API_DEFAULT_VERSION;
    let mut ssh_dialer = None;
    let docker = if address.starts_with("unix://") {
        Docker::connect_with_unix(address, REQUEST_TIMEOUT_S, version)
    } else if address.starts_with("ssh://") {
        if let Some(key) = &credentials.ssh_identity
            && !key.is_file()
        {
            return Err(bad(format!(
                "[docker] ssh_identity names {}, which is not a file: name the private key ssh should use, or unset it to let ssh's own configuration decide",
                key.display()
            )));
        }
        let target = super::ssh::parse(address).map_err(bad)?;
        let identity = credentials.ssh_identity.as_deref();
        super::ssh::connect(address, target, identity, REQUEST_TIMEOUT_S, version).map(
            |(docker, dialer)| {
                ssh_dialer = Some(dialer);
                docker
            },
        )
    } else if address.starts_with("tcp://") || address.starts_with("https://") {
        match tls {
            Some(dir) => {
                for file in ["ca.pem", "cert.pem", "key.pem"] {
                    if !dir.join(file).is_file() {
                        return Err(tls_error(format!(
                            "TLS needs {} (set [docker] cert_path or DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem)",
                            dir.join(file).display()
                        )));
                    }
                }
                Docker::connect_with_ssl(
                    address,
                    &dir.join("key.pem"),
                    &dir.join("cert.pem"),
                    &dir.join("ca.pem"),
                    REQUEST_TIMEOUT_S,
                    version,
                )
            }
            None if address.starts_with("https://") => {
                return Err(tls_error(
                    "https:// needs TLS client files: set [docker] cert_path or DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem".into(),
                ));
            }
            None => Docker::connect_with_http(address, REQUEST_TIMEOUT_S, version),
        }
    } else {
        return Err(bad(
            "use unix:///path/to/docker.sock, tcp://HOST:PORT (with TLS files for a remote engine) or ssh://USER@HOST".into(),
        ));
    }
    .map_err(|e| match e {
        // A socket that is gone is an engine that is gone, not a bad address.
        bollard::errors::Error::SocketNotFoundError(path) => EngineError::Unreachable {
            address: address.to_string(),
            reason: format!("no socket at {path}"),
        },
        e => bad(e.to_string()),
    })?;
    let failed = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => return Ok(docker),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("it did not answer within {} s", CONNECT_TIMEOUT.as_secs()),
    };
    // What ssh said is the reason an ssh engine did not answer.
    let said = match &ssh_dialer {
        Some(dialer) => dialer.said().await,
        None => None,
    };
    Err(EngineError::Unreachable {
        address: address.to_string(),
        reason: match said {
            Some(said) => format!("{failed}; ssh said: {said}"),
            None => failed,
        },
    })
}

/// How long an engine may take to answer the first request of a connection (the long
/// request timeout is for attachments and waits, which last as long as sessions).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
