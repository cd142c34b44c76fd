//! A session's tools: the configured servers, their catalogs, the `tools` package in the
//! workspace, and the host calls that code in the kernel uses to reach them.
//!
//! Results are turned into plain data on the host: `structuredContent` as is, text as a
//! string, several contents as a list, images and other binary content saved in the
//! workspace and passed as a small marker, and results over `large_result_bytes` written
//! to the workspace and passed as a handle, so neither the channel nor the event log
//! carries the blob. Host-call names: `tools.call`, `tools.servers`, `tools.list`,
//! `tools.search`, `tools.module`, `tools.locate`.

use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::catalog::{self, Catalog};
use super::client::{ServerClient, ServerError};
use super::codegen;
use super::config::{McpConfig, Transport};
use crate::hostcall::{HostCallError, HostCalls};
use crate::sandbox::confined::ConfinedDir;

/// The `tools` package written into every workspace.
const TOOLS_PACKAGE: &str = include_str!("runtime/tools_init.py");
/// Where results and binary content are saved, relative to the workspace.
pub const RESULTS_DIR: &str = ".mcpr/results";

/// The `[tools]` section of mcpr.toml.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolSettings {
    /// Longest a tool call may take.
    pub call_timeout_seconds: f64,
    /// Longest a server may take to start and answer the MCP handshake.
    pub start_timeout_seconds: f64,
    /// Results larger than this are saved in the workspace and passed as a handle.
    pub large_result_kb: usize,
}

impl Default for ToolSettings {
    fn default() -> Self {
        Self {
            call_timeout_seconds: 60.0,
            start_timeout_seconds: 30.0,
            large_result_kb: 16,
        }
    }
}

pub struct ToolHub {
    config: McpConfig,
    clients: BTreeMap<String, Arc<ServerClient>>,
    catalogs: tokio::sync::Mutex<BTreeMap<String, Catalog>>,
    /// Modules whose catalog came from the server in this session (not from the cache).
    fresh: std::sync::Mutex<BTreeSet<String>>,
    workspace: PathBuf,
    pub large_result_bytes: usize,
    saved: AtomicU64,
    /// Configured secret values: removed from results before they reach the sandbox.
    secrets: crate::secrets::Secrets,
}

impl ToolHub {
    pub fn new(config: McpConfig, workspace: PathBuf) -> Arc<ToolHub> {
        ToolHub::with_settings(config, workspace, &ToolSettings::default())
    }

    pub fn with_settings(
        config: McpConfig,
        workspace: PathBuf,
        settings: &ToolSettings,
    ) -> Arc<ToolHub> {
        let seconds = |s: f64| std::time::Duration::from_secs_f64(s.clamp(0.001, 86_400.0));
        let base_dir = config
            .source
            .as_ref()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf);
        let clients = config
            .servers
            .iter()
            .map(|s| {
                let mut client = ServerClient::new(s.clone(), base_dir.clone());
                client.call_timeout = seconds(settings.call_timeout_seconds);
                client.start_timeout = seconds(settings.start_timeout_seconds);
                (s.module.clone(), Arc::new(client))
            })
            .collect();
        let secrets = crate::secrets::Secrets::new(config.secret_values().iter().cloned());
        Arc::new(ToolHub {
            secrets,
            config,
            clients,
            catalogs: tokio::sync::Mutex::new(BTreeMap::new()),
            fresh: std::sync::Mutex::new(BTreeSet::new()),
            workspace,
            large_result_bytes: settings.large_result_kb * 1024,
            saved: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &McpConfig {
        &self.config
    }

    pub fn client(&self, server: &str) -> Option<&Arc<ServerClient>> {
        self.config
            .server(server)
            .and_then(|s| self.clients.get(&s.module))
    }

    fn unknown_server(&self, server: &str) -> HostCallError {
        let known: Vec<&str> = self
            .config
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        HostCallError::new(
            "unknown_server",
            if known.is_empty() {
                format!(
                    "no MCP server named {server:?}: none are configured (see .mcp.json or --mcp-config)"
                )
            } else {
                format!(
                    "no MCP server named {server:?}; configured: {}",
                    known.join(", ")
                )
            },
        )
    }

    /// Writes `tools/__init__.py`, and a module for every server whose catalog is known
    /// without starting it.
    pub async fn prepare_workspace(&self) -> std::io::Result<()> {
        self.workspace()?
            .write("tools/__init__.py", TOOLS_PACKAGE.as_bytes(), 0o644)?;
        for server in &self.config.servers {
            if let Some(cached) = Catalog::load_cached(server) {
                self.write_module(&cached)?;
                self.catalogs
                    .lock()
                    .await
                    .insert(server.module.clone(), cached);
            }
        }
        Ok(())
    }

    fn write_module(&self, catalog: &Catalog) -> std::io::Result<PathBuf> {
        let rel = PathBuf::from("tools").join(format!("{}.py", catalog.module));
        let source = codegen::render_module(catalog);
        self.workspace()?.write(&rel, source.as_bytes(), 0o644)?;
        Ok(rel)
    }

    /// The session workspace, where every write of the hub goes through a handle that
    /// never follows what the sandboxed code planted (see `sandbox::confined`).
    fn workspace(&self) -> std::io::Result<ConfinedDir> {
        ConfinedDir::open(&self.workspace)
    }

    /// The server's catalog: known in this session, else cached, else from the server.
    pub async fn catalog(&self, server: &str) -> Result<Catalog, HostCallError> {
        let config = self
            .config
            .server(server)
            .ok_or_else(|| self.unknown_server(server))?;
        if let Some(c) = self.catalogs.lock().await.get(&config.module) {
            return Ok(c.clone());
        }
        if let Some(cached) = Catalog::load_cached(config) {
            self.catalogs
                .lock()
                .await
                .insert(config.module.clone(), cached.clone());
            return Ok(cached);
        }
        self.refresh(&config.module).await
    }

    /// Lists the server's tools now, updating cache, catalog and module file.
    async fn refresh(&self, module: &str) -> Result<Catalog, HostCallError> {
        let client = self
            .clients
            .get(module)
            .ok_or_else(|| self.unknown_server(module))?;
        let (tools, _) = client.list_tools().await.map_err(server_error)?;
        let catalog = Catalog::from_tools(client.config(), &tools);
        catalog.store(client.config());
        if self.workspace().and_then(|ws| ws.open_dir("tools")).is_ok() {
            let _ = self.write_module(&catalog);
        }
        self.catalogs
            .lock()
            .await
            .insert(module.to_string(), catalog.clone());
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.insert(module.to_string());
        }
        Ok(catalog)
    }

    /// Every server's catalog (servers not seen before are started).
    pub async fn all_catalogs(&self) -> (Vec<Catalog>, Vec<String>) {
        let mut catalogs = Vec::new();
        let mut problems = Vec::new();
        for server in &self.config.servers {
            match self.catalog(&server.name).await {
                Ok(c) => catalogs.push(c),
                Err(e) => problems.push(e.message),
            }
        }
        (catalogs, problems)
    }

    /// Calls a tool and turns its result into plain data (see the module doc).
    pub async fn call(
        &self,
        server: &str,
        tool: &str,
        args: Value,
    ) -> Result<(Value, Option<String>), HostCallError> {
        let client = self
            .client(server)
            .ok_or_else(|| self.unknown_server(server))?
            .clone();
        let module = client.config().module.clone();
        let catalog = self.catalog(server).await?;
        let Some(info) = catalog.tool(tool) else {
            let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(HostCallError::new(
                "unknown_tool",
                format!(
                    "server {server:?} has no tool {tool:?}; it has: {}",
                    names.join(", ")
                ),
            ));
        };
        let tool = info.name.clone();
        let tool = tool.as_str();
        let (result, notice) = client
            .call(tool, args)
            .await
            .map_err(|e| self.redact_error(server_error(e)))?;
        // A server may echo its own credentials; they must not reach the sandbox.
        let result = self.secrets.redact_value(result);
        // A catalog read from the cache is checked against the live server once.
        let stale = self
            .fresh
            .lock()
            .map(|f| !f.contains(&module))
            .unwrap_or(false);
        if stale {
            let _ = self.refresh(&module).await;
        }
        let value = self.convert(server, tool, result)?;
        Ok((value, notice))
    }

    fn redact_error(&self, e: HostCallError) -> HostCallError {
        HostCallError::new(e.kind, self.secrets.redact(&e.message))
    }

    fn convert(&self, server: &str, tool: &str, result: Value) -> Result<Value, HostCallError> {
        let contents = result
            .get("content")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            let text: Vec<String> = contents
                .iter()
                .filter_map(|c| c.get("text").and_then(Value::as_str).map(str::to_string))
                .collect();
            let message = if text.is_empty() {
                "the tool reported an error".to_string()
            } else {
                text.join("\n")
            };
            return Err(HostCallError::new("tool_error", message));
        }
        let value = match result.get("structuredContent") {
            Some(v) if !v.is_null() => v.clone(),
            _ => {
                let mut items: Vec<Value> = contents
                    .iter()
                    .map(|c| self.convert_content(server, tool, c))
                    .collect();
                match items.len() {
                    0 => Value::Null,
                    1 => items.remove(0),
                    _ => Value::Array(items),
                }
            }
        };
        Ok(self.offload_if_large(server, tool, value))
    }

    fn convert_content(&self, server: &str, tool: &str, content: &Value) -> Value {
        match content.get("type").and_then(Value::as_str) {
            Some("text") => content.get("text").cloned().unwrap_or(Value::Null),
            Some(kind @ ("image" | "audio")) => {
                let mime = content
                    .get("mimeType")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream");
                let data = content.get("data").and_then(Value::as_str).unwrap_or("");
                self.save_binary(server, tool, kind, mime, data)
            }
            Some("resource") => {
                let resource = content.get("resource").cloned().unwrap_or(Value::Null);
                if let Some(text) = resource.get("text") {
                    text.clone()
                } else if let Some(blob) = resource.get("blob").and_then(Value::as_str) {
                    let mime = resource
                        .get("mimeType")
                        .and_then(Value::as_str)
                        .unwrap_or("application/octet-stream");
                    self.save_binary(server, tool, "blob", mime, blob)
                } else {
                    resource
                }
            }
            _ => content.clone(),
        }
    }

    fn next_name(&self, server: &str, tool: &str, ext: &str) -> PathBuf {
        let n = self.saved.fetch_add(1, Ordering::Relaxed) + 1;
        let safe = |s: &str| super::config::module_name(s);
        PathBuf::from(RESULTS_DIR).join(format!("{n:04}-{}-{}.{ext}", safe(server), safe(tool)))
    }

    fn save_binary(&self, server: &str, tool: &str, kind: &str, mime: &str, data: &str) -> Value {
        let bytes = match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
            Ok(b) => b,
            Err(e) => {
                return json!({"__mcpr__": "error", "message": format!("{kind} content was not valid base64: {e}")});
            }
        };
        let ext = mime
            .rsplit('/')
            .next()
            .unwrap_or("bin")
            .split(['+', ';'])
            .next()
            .unwrap_or("bin");
        let rel = self.next_name(server, tool, ext);
        match self.write_file(&rel, &bytes) {
            Ok(()) => json!({"__mcpr__": kind, "mime": mime, "path": rel, "bytes": bytes.len()}),
            Err(e) => {
                json!({"__mcpr__": "error", "message": format!("could not save {kind} content: {e}")})
            }
        }
    }

    fn offload_if_large(&self, server: &str, tool: &str, value: Value) -> Value {
        let (bytes, format) = match &value {
            Value::String(s) => (s.clone().into_bytes(), "text"),
            other => (serde_json::to_vec(other).unwrap_or_default(), "json"),
        };
        if bytes.len() <= self.large_result_bytes {
            return value;
        }
        let rel = self.next_name(server, tool, if format == "text" { "txt" } else { "json" });
        match self.write_file(&rel, &bytes) {
            Ok(()) => {
                json!({"__mcpr__": "large", "format": format, "path": rel, "bytes": bytes.len()})
            }
            // Not worth failing the call over: send it inline instead.
            Err(_) => value,
        }
    }

    fn write_file(&self, rel: &Path, bytes: &[u8]) -> std::io::Result<()> {
        self.workspace()?.write(rel, bytes, 0o644)
    }

    /// Registers the `tools.*` host calls on `calls`.
    pub fn register(self: &Arc<Self>, calls: &mut HostCalls) {
        let hub = self.clone();
        calls.register("tools.call", move |args: Value| {
            let hub = hub.clone();
            async move {
                let server = str_arg(&args, "server")?;
                let tool = str_arg(&args, "tool")?;
                let (value, notice) = hub
                    .call(
                        &server,
                        &tool,
                        args.get("args").cloned().unwrap_or(Value::Null),
                    )
                    .await?;
                Ok(match notice {
                    Some(n) => json!({"value": value, "notice": n}),
                    None => json!({"value": value}),
                })
            }
        });
        let hub = self.clone();
        calls.register("tools.servers", move |_args: Value| {
            let hub = hub.clone();
            async move {
                Ok(Value::Array(
                    hub.config
                        .servers
                        .iter()
                        .map(|s| {
                            let transport = match s.transport {
                                Transport::Stdio { .. } => "stdio",
                                Transport::Http { .. } => "http",
                            };
                            json!({"name": s.name, "module": s.module, "transport": transport})
                        })
                        .collect(),
                ))
            }
        });
        let hub = self.clone();
        calls.register("tools.list", move |args: Value| {
            let hub = hub.clone();
            async move {
                let server = str_arg(&args, "server")?;
                let catalog = hub.catalog(&server).await?;
                Ok(Value::Array(
                    catalog
                        .tools
                        .iter()
                        .map(|t| json!({"name": t.name, "function": t.function, "description": catalog::first_line(&t.description)}))
                        .collect(),
                ))
            }
        });
        let hub = self.clone();
        calls.register("tools.search", move |args: Value| {
            let hub = hub.clone();
            async move {
                let query = str_arg(&args, "query")?;
                let limit = args
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(5)
                    .min(100) as usize;
                let (catalogs, problems) = hub.all_catalogs().await;
                let hits = catalog::search(&catalogs, &query, limit)
                    .map_err(|e| HostCallError::new("search_failed", e.to_string()))?;
                Ok(json!({"hits": hits, "problems": problems}))
            }
        });
        let hub = self.clone();
        calls.register("tools.module", move |args: Value| {
            let hub = hub.clone();
            async move {
                let server = str_arg(&args, "server")?;
                let catalog = hub.catalog(&server).await?;
                let rel = hub.write_module(&catalog).map_err(|e| {
                    HostCallError::new(
                        "failed",
                        format!("could not write the module for {server}: {e}"),
                    )
                })?;
                Ok(json!({"path": rel}))
            }
        });
        let hub = self.clone();
        calls.register("tools.locate", move |args: Value| {
            let hub = hub.clone();
            async move {
                let name = str_arg(&args, "name")?;
                let (catalogs, _) = hub.all_catalogs().await;
                let found: Vec<Value> = catalogs
                    .iter()
                    .filter_map(|c| {
                        c.tool(&name)
                            .map(|t| json!({"module": c.module, "function": t.function}))
                    })
                    .collect();
                Ok(Value::Array(found))
            }
        });
    }

    /// Stops every server that was started.
    pub async fn shutdown(&self) {
        for client in self.clients.values() {
            client.shutdown().await;
        }
    }
}

fn str_arg(args: &Value, key: &str) -> Result<String, HostCallError> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| HostCallError::bad_args(format!("missing string argument {key:?}")))
}

fn server_error(e: ServerError) -> HostCallError {
    let kind = match e {
        ServerError::Start { .. } => "server_failed",
        ServerError::Timeout { .. } => "timeout",
        ServerError::Failed { .. } => "server_failed",
    };
    HostCallError::new(kind, e.to_string())
}
