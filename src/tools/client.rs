//! One MCP server connection through the official `rmcp` SDK: a child process over
//! stdio, or a streamable-HTTP endpoint.
//!
//! Servers start on first use and stay up for the session. A server that has exited is
//! started again by the next call, which says so; slow calls time out with a clear error;
//! on shutdown the child and everything in its process group are stopped, a start still
//! in progress included. A stdio server's stdout is read line by line before rmcp sees
//! it: lines that are not JSON are kept aside, so a server that prints a banner or a usage
//! message is reported as writing non-MCP output, not as a closed connection. The server's
//! `notifications/tools/list_changed` and its handshake version are recorded for the hub,
//! which decides when to list its tools again. Credentials from the configuration are
//! used here, on the host, and nowhere else.

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{MaybeSendFuture, NotificationContext, Peer, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    #[error(
        "MCP server {server:?} wrote non-MCP output on stdout: {first_line}\n(a stdio MCP server may write only JSON-RPC messages there: check its command and arguments, and make it log to stderr){}",
        stderr_note(.stderr)
    )]
    NotMcp {
        server: String,
        first_line: String,
        stderr: String,
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

/// What a server said on stdout that was not an MCP message.
#[derive(Debug, Clone, Default)]
struct StdoutNoise {
    first_line: Option<String>,
}

/// Receives the server's notifications; counts `tools/list_changed` for the hub.
#[derive(Clone)]
struct Notifications {
    tool_list_changes: Arc<AtomicU64>,
}

impl ClientHandler for Notifications {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.tool_list_changes.fetch_add(1, Ordering::SeqCst);
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcpr", env!("CARGO_PKG_VERSION")),
        )
    }
}

struct Live {
    service: RunningService<RoleClient, Notifications>,
    peer: Peer<RoleClient>,
    /// Process group of a stdio server.
    pgid: Option<i32>,
    /// The stdio server's process, killed when the connection is dropped.
    _child: Option<tokio::process::Child>,
}

pub struct ServerClient {
    config: ServerConfig,
    /// Folder that relative command paths are taken from (the config file's).
    base_dir: Option<PathBuf>,
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    stdout_noise: Arc<Mutex<StdoutNoise>>,
    starts: AtomicU32,
    /// `notifications/tools/list_changed` received, all connections together.
    tool_list_changes: Arc<AtomicU64>,
    /// The process group of a start in progress (0: none), so shutdown can stop it.
    starting_pgid: AtomicI32,
    /// The version in `serverInfo` of the last handshake.
    version: Mutex<Option<String>>,
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
            stdout_noise: Arc::new(Mutex::new(StdoutNoise::default())),
            starts: AtomicU32::new(0),
            tool_list_changes: Arc::new(AtomicU64::new(0)),
            starting_pgid: AtomicI32::new(0),
            version: Mutex::new(None),
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

    /// Changes to the tool list the server announced, and starts: when either moves, a
    /// tool list read earlier may be out of date.
    pub fn tools_epoch(&self) -> (u32, u64) {
        (self.starts(), self.tool_list_changes.load(Ordering::SeqCst))
    }

    /// The server's version from its last handshake (`serverInfo.version`).
    pub fn server_version(&self) -> Option<String> {
        self.version.lock().ok().and_then(|v| v.clone())
    }

    /// True when the server is connected and running now. False while it is starting or
    /// has exited, and also while another task briefly holds the connection: callers use
    /// it only to decide whether checking the server now is worth it.
    pub fn is_live(&self) -> bool {
        match self.live.try_lock() {
            Ok(slot) => slot.as_ref().is_some_and(|live| alive(live)),
            Err(_) => false,
        }
    }

    /// Connects, starting the server if needed; the notice says why it was restarted.
    pub async fn connect(&self) -> Result<Option<String>, ServerError> {
        self.connection().await.map(|(_, notice)| notice)
    }

    /// The live connection, starting the server if needed. The second value says why a
    /// restart happened, when one did.
    async fn connection(&self) -> Result<(Arc<Live>, Option<String>), ServerError> {
        let mut slot = self.live.lock().await;
        let mut restarted = None;
        if let Some(live) = slot.as_ref() {
            if alive(live) {
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
        if let Ok(mut noise) = self.stdout_noise.lock() {
            *noise = StdoutNoise::default();
        }
        let handler = Notifications {
            tool_list_changes: self.tool_list_changes.clone(),
        };
        let (service, pgid, child) = match &self.config.transport {
            Transport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let program = resolve_command(command, self.base_dir.as_deref());
                let mut cmd = tokio::process::Command::new(&program);
                cmd.args(args)
                    .envs(env)
                    .kill_on_drop(true)
                    .process_group(0)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
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
                let mut child = cmd
                    .spawn()
                    .map_err(|e| fail(format!("could not run {}: {e}", program.display())))?;
                let pgid = child.id().map(|p| p as i32);
                self.starting_pgid
                    .store(pgid.unwrap_or(0), Ordering::SeqCst);
                let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                    self.starting_pgid.store(0, Ordering::SeqCst);
                    return Err(fail("its stdin and stdout could not be connected".into()));
                };
                if let Some(stderr) = child.stderr.take() {
                    tokio::spawn(crate::kernel::keep_tail(
                        Box::new(stderr),
                        self.stderr.clone(),
                    ));
                }
                // rmcp reads the filtered stream; the filter ends when the server's stdout does.
                let (messages, filtered) = tokio::io::duplex(1 << 16);
                let filter =
                    tokio::spawn(filter_stdout(stdout, messages, self.stdout_noise.clone()));
                let handshake =
                    tokio::time::timeout(self.start_timeout, handler.serve((filtered, stdin)))
                        .await;
                self.starting_pgid.store(0, Ordering::SeqCst);
                let outcome = match handshake {
                    Ok(Ok(service)) => Ok(service),
                    Err(_) => Err((
                        format!(
                            "no MCP handshake within {} s",
                            self.start_timeout.as_secs_f64()
                        ),
                        false,
                    )),
                    Ok(Err(e)) => Err((e.to_string(), true)),
                };
                let service = match outcome {
                    Ok(service) => service,
                    Err((reason, closed)) => {
                        let exited = if closed {
                            exit_status(&mut child).await
                        } else {
                            None
                        };
                        if let Some(pgid) = pgid {
                            kill_group(pgid);
                        }
                        // The filter may still be reading what the server wrote before it went.
                        if self.not_mcp().is_none() {
                            let _ = tokio::time::timeout(Duration::from_millis(500), filter).await;
                        }
                        let reason = match exited {
                            Some(status) => {
                                format!("it exited ({status}) before completing the MCP handshake")
                            }
                            None => reason,
                        };
                        return Err(self.not_mcp().unwrap_or_else(|| fail(reason)));
                    }
                };
                (service, pgid, Some(child))
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
                let service = tokio::time::timeout(self.start_timeout, handler.serve(transport))
                    .await
                    .map_err(|_| {
                        fail(format!(
                            "no MCP handshake with {url} within {} s",
                            self.start_timeout.as_secs_f64()
                        ))
                    })?
                    .map_err(|e| fail(format!("{url}: {e}")))?;
                (service, None, None)
            }
        };
        let peer = service.peer().clone();
        let version = peer
            .peer_info()
            .and_then(|info| info.server_info.clone())
            .map(|i| i.version.trim().to_string())
            .filter(|v| !v.is_empty());
        if let Ok(mut slot) = self.version.lock() {
            *slot = version;
        }
        Ok(Live {
            service,
            peer,
            pgid,
            _child: child,
        })
    }

    /// The server's non-MCP stdout as an error, when it wrote any.
    fn not_mcp(&self) -> Option<ServerError> {
        let first_line = self.stdout_noise.lock().ok()?.first_line.clone()?;
        Some(ServerError::NotMcp {
            server: self.config.name.clone(),
            first_line,
            stderr: crate::kernel::tail_text(&self.stderr),
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

    /// Stops the server and everything it started, a start in progress included.
    pub async fn shutdown(&self) {
        let starting = self.starting_pgid.swap(0, Ordering::SeqCst);
        if starting > 0 {
            kill_group(starting);
        }
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
        let starting = self.starting_pgid.load(Ordering::SeqCst);
        if starting > 0 {
            kill_group(starting);
        }
        if let Ok(slot) = self.live.try_lock()
            && let Some(pgid) = slot.as_ref().and_then(|l| l.pgid)
        {
            kill_group(pgid);
        }
    }
}

fn alive(live: &Live) -> bool {
    !live.service.is_closed()
        && !live.peer.is_transport_closed()
        && live.pgid.is_none_or(process_running)
}

/// Where the stdout filter is in the current line.
#[derive(Clone, Copy, PartialEq)]
enum Line {
    /// Nothing but whitespace yet.
    Start,
    /// A JSON message, passed on as it comes.
    Message,
    /// Something else, kept aside (the first one).
    Noise,
}

/// Most bytes of a non-MCP line kept to show.
const NOISE_KEPT: usize = 1024;

/// Passes the server's JSON lines on to rmcp as they come (never holding a whole line,
/// so its size is rmcp's to limit) and keeps the first other line aside.
async fn filter_stdout(
    mut stdout: tokio::process::ChildStdout,
    mut messages: tokio::io::DuplexStream,
    noise: Arc<Mutex<StdoutNoise>>,
) {
    let mut buf = vec![0u8; 1 << 16];
    let mut line = Line::Start;
    let mut kept: Vec<u8> = Vec::new();
    let mut first_noise = true;
    loop {
        let n = match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let mut from = 0;
        for (i, &b) in chunk.iter().enumerate() {
            match line {
                Line::Start if b == b'{' || b == b'[' => {
                    line = Line::Message;
                    from = i;
                }
                Line::Start if !b.is_ascii_whitespace() => {
                    line = Line::Noise;
                    kept.clear();
                    kept.push(b);
                }
                Line::Start => {}
                Line::Message if b == b'\n' => {
                    if messages.write_all(&chunk[from..=i]).await.is_err() {
                        return;
                    }
                    line = Line::Start;
                }
                Line::Message => {}
                Line::Noise if b == b'\n' => {
                    if first_noise {
                        keep_noise(&noise, &kept);
                        first_noise = false;
                    }
                    line = Line::Start;
                }
                Line::Noise => {
                    if kept.len() < NOISE_KEPT {
                        kept.push(b);
                    }
                }
            }
        }
        match line {
            Line::Message if messages.write_all(&chunk[from..]).await.is_err() => return,
            // A banner without a newline still counts while the server waits.
            Line::Noise if first_noise => keep_noise(&noise, &kept),
            _ => {}
        }
    }
    let _ = messages.shutdown().await;
}

fn keep_noise(noise: &Mutex<StdoutNoise>, kept: &[u8]) {
    if let Ok(mut noise) = noise.lock() {
        let text = String::from_utf8_lossy(kept);
        noise.first_line = Some(text.trim().chars().take(200).collect());
    }
}

/// The child's exit status if it has exited (waiting briefly for it to be reaped).
async fn exit_status(child: &mut tokio::process::Child) -> Option<std::process::ExitStatus> {
    tokio::time::timeout(Duration::from_millis(500), child.wait())
        .await
        .ok()
        .and_then(Result::ok)
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
