//! One MCP server connection through the official `rmcp` SDK: a child process over
//! stdio, or a streamable-HTTP endpoint.
//!
//! Servers start on first use and stay up for the session. A server that has exited is
//! started again by the next call, which says so; slow calls time out with a clear error;
//! on shutdown the child and everything in its process group are stopped. Credentials
//! from the configuration are used here, on the host, and nowhere else.

use rmcp::model::CallToolRequestParams;
use rmcp::service::{Peer, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{ServerConfig, Transport};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServerError {
    #[error("MCP server {server:?} failed to start: {reason}{}", stderr_note(.stderr))]
    Start {
        server: String,
        reason: String,
        stderr: String,
    },
    #[error(
        "call to {server}.{tool} timed out after {seconds} s (raise tools.call_timeout_seconds in mcpr.toml if it is legitimately slow)"
    )]
    Timeout {
        server: String,
        tool: String,
        seconds: f64,
    },
    #[error("MCP server {server:?} failed during {what}: {reason}{}", stderr_note(.stderr))]
    Failed {
        server: String,
        what: String,
        reason: String,
        stderr: String,
    },
}

fn stderr_note(stderr: &str) -> String {
    let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
    if tail.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = tail.into_iter().rev().collect();
        format!("\nlast lines of its stderr:\n  {}", lines.join("\n  "))
    }
}

struct Live {
    service: RunningService<RoleClient, ()>,
    peer: Peer<RoleClient>,
    /// Process group of a stdio server.
    pgid: Option<i32>,
}

pub struct ServerClient {
    config: ServerConfig,
    /// Folder that relative command paths are taken from (the config file's).
    base_dir: Option<PathBuf>,
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    starts: AtomicU32,
    pub start_timeout: Duration,
    pub call_timeout: Duration,
}

impl ServerClient {
    pub fn new(config: ServerConfig, base_dir: Option<PathBuf>) -> ServerClient {
        ServerClient {
            config,
            base_dir,
            live: tokio::sync::Mutex::new(None),
            stderr: Arc::new(Mutex::new(VecDeque::new())),
            starts: AtomicU32::new(0),
            start_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// How many times the server was started this session.
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::Relaxed)
    }

    /// The live connection, starting the server if needed. The second value says why a
    /// restart happened, when one did.
    async fn connection(&self) -> Result<(Arc<Live>, Option<String>), ServerError> {
        let mut slot = self.live.lock().await;
        let mut restarted = None;
        if let Some(live) = slot.as_ref() {
            let alive = !live.service.is_closed()
                && !live.peer.is_transport_closed()
                && live.pgid.is_none_or(process_running);
            if alive {
                return Ok((live.clone(), None));
            }
            restarted = Some(format!(
                "MCP server {:?} had exited; started it again (its earlier state is gone)",
                self.config.name
            ));
            if let Some(pgid) = live.pgid {
                kill_group(pgid);
            }
        }
        let live = Arc::new(self.start().await?);
        *slot = Some(live.clone());
        Ok((live, restarted))
    }

    async fn start(&self) -> Result<Live, ServerError> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        let fail = |reason: String| ServerError::Start {
            server: self.config.name.clone(),
            reason,
            stderr: crate::kernel::tail_text(&self.stderr),
        };
        let (service, pgid) = match &self.config.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let program = resolve_command(command, self.base_dir.as_deref());
                let mut cmd = tokio::process::Command::new(&program);
                cmd.args(args).envs(env).kill_on_drop(true).process_group(0);
                if let Some(dir) = cwd {
                    match &self.base_dir {
                        Some(base) if dir.is_relative() => cmd.current_dir(base.join(dir)),
                        _ => cmd.current_dir(dir),
                    };
                }
                // SAFETY: prctl is async-signal-safe and takes no pointers.
                unsafe {
                    cmd.pre_exec(|| {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
                        {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let (transport, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| fail(format!("could not run {}: {e}", program.display())))?;
                let pgid = transport.id().map(|p| p as i32);
                if let Some(stderr) = stderr {
                    tokio::spawn(crate::kernel::keep_tail(
                        Box::new(stderr),
                        self.stderr.clone(),
                    ));
                }
                let service = tokio::time::timeout(self.start_timeout, ().serve(transport))
                    .await
                    .map_err(|_| {
                        if let Some(pgid) = pgid {
                            kill_group(pgid);
                        }
                        fail(format!(
                            "no MCP handshake within {} s",
                            self.start_timeout.as_secs()
                        ))
                    })?
                    .map_err(|e| {
                        if let Some(pgid) = pgid {
                            kill_group(pgid);
                        }
                        fail(e.to_string())
                    })?;
                (service, pgid)
            }
            Transport::Http { url, headers } => {
                let mut map = reqwest::header::HeaderMap::new();
                for (k, v) in headers {
                    let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|e| fail(format!("header {k:?} is not a valid name: {e}")))?;
                    let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                        fail(format!(
                            "header {k:?} has a value that is not valid in HTTP"
                        ))
                    })?;
                    value.set_sensitive(true);
                    map.insert(name, value);
                }
                crate::tools::install_tls_provider();
                let client = reqwest::Client::builder()
                    .default_headers(map)
                    .build()
                    .map_err(|e| fail(format!("could not build the HTTP client: {e}")))?;
                let config = rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url.as_str());
                let transport = StreamableHttpClientTransport::with_client(client, config);
                let service = tokio::time::timeout(self.start_timeout, ().serve(transport))
                    .await
                    .map_err(|_| {
                        fail(format!(
                            "no MCP handshake with {url} within {} s",
                            self.start_timeout.as_secs()
                        ))
                    })?
                    .map_err(|e| fail(format!("{url}: {e}")))?;
                (service, None)
            }
        };
        let peer = service.peer().clone();
        Ok(Live {
            service,
            peer,
            pgid,
        })
    }

    fn failed(&self, what: &str, reason: String) -> ServerError {
        ServerError::Failed {
            server: self.config.name.clone(),
            what: what.to_string(),
            reason,
            stderr: crate::kernel::tail_text(&self.stderr),
        }
    }

    /// The server's tools, as the JSON of MCP `Tool` objects.
    pub async fn list_tools(&self) -> Result<(Vec<Value>, Option<String>), ServerError> {
        let (live, notice) = self.connection().await?;
        let tools = tokio::time::timeout(self.call_timeout, live.peer.list_all_tools())
            .await
            .map_err(|_| self.failed("tools/list", "no answer in time".into()))?
            .map_err(|e| self.failed("tools/list", e.to_string()))?;
        let tools = tools
            .into_iter()
            .filter_map(|t| serde_json::to_value(t).ok())
            .collect();
        Ok((tools, notice))
    }

    /// Calls `tool`; the result is the JSON of the MCP `CallToolResult`.
    pub async fn call(
        &self,
        tool: &str,
        args: Value,
    ) -> Result<(Value, Option<String>), ServerError> {
        let (live, notice) = self.connection().await?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        match args {
            Value::Object(map) => params = params.with_arguments(map),
            Value::Null => {}
            other => {
                return Err(self.failed(
                    &format!("tools/call {tool}"),
                    format!("arguments must be an object, got {other}"),
                ));
            }
        }
        let result = tokio::time::timeout(self.call_timeout, live.peer.call_tool(params))
            .await
            .map_err(|_| ServerError::Timeout {
                server: self.config.name.clone(),
                tool: tool.to_string(),
                seconds: self.call_timeout.as_secs_f64(),
            })?
            .map_err(|e| self.failed(&format!("tools/call {tool}"), e.to_string()))?;
        let value = serde_json::to_value(result)
            .map_err(|e| self.failed(&format!("tools/call {tool}"), e.to_string()))?;
        Ok((value, notice))
    }

    /// Stops the server and everything it started.
    pub async fn shutdown(&self) {
        let live = self.live.lock().await.take();
        if let Some(live) = live {
            let pgid = live.pgid;
            if let Ok(live) = Arc::try_unwrap(live) {
                let _ = tokio::time::timeout(Duration::from_secs(3), live.service.cancel()).await;
            }
            if let Some(pgid) = pgid {
                kill_group(pgid);
            }
        }
    }
}

impl Drop for ServerClient {
    fn drop(&mut self) {
        if let Ok(slot) = self.live.try_lock()
            && let Some(pgid) = slot.as_ref().and_then(|l| l.pgid)
        {
            kill_group(pgid);
        }
    }
}

/// True unless the process is gone or a zombie (dead but not yet reaped).
fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

fn kill_group(pgid: i32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// A command with a slash that is relative is taken from the config file's folder.
fn resolve_command(command: &str, base: Option<&Path>) -> PathBuf {
    let path = Path::new(command);
    match base {
        Some(base) if command.contains('/') && path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    }
}
