//! A session's tools: the configured servers, their catalogs, the `tools` package in the
//! workspace, and tool calls.
//!
//! A catalog comes from the session, else the cache, else the server. Once a server is
//! running, its catalog is checked against it: after every start (a new version or an
//! upgraded server under the same command line lists different tools), after the server
//! announces `notifications/tools/list_changed`, and when a call names a tool the catalog
//! or the server does not know (listed once more, then the call is retried or refused).
//! A changed list updates the cache and rewrites `tools/<server>.py`, and the kernel is
//! told. Before a call reaches the server, the tool policy ([`super::policy`]) allows it,
//! refuses it, or asks the [`Approver`] a front end set. Results become plain data in
//! [`super::results`]; the host calls are registered in
//! [`super::host_calls`]; gathering every server's catalog is [`super::gather`].

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::catalog::{Catalog, CatalogChange, ToolInfo};
use super::client::{ServerClient, ServerError};
use super::codegen;
use super::config::McpConfig;
use super::gather::GatherState;
use super::policy::{ApprovalRequest, Approver, Decision, Policy, Rule};
use super::results::Results;
use crate::hostcall::HostCallError;
use crate::sandbox::confined::ConfinedDir;

/// The `tools` package written into every workspace.
const TOOLS_PACKAGE: &str = include_str!("runtime/tools_init.py");

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
    /// Longest the agent waits for servers' tool lists when choosing the tools its prompt
    /// names; slower servers are left out of that step's suggestions (and named).
    pub suggestion_wait_seconds: f64,
    /// `[tools.policy]`: which calls go ahead, wait for approval, or are refused.
    pub policy: Policy,
}

impl Default for ToolSettings {
    fn default() -> Self {
        Self {
            call_timeout_seconds: 60.0,
            start_timeout_seconds: 30.0,
            large_result_kb: 16,
            suggestion_wait_seconds: 2.0,
            policy: Policy::default(),
        }
    }
}

/// A catalog in use, and the server's tools epoch (starts, announced changes) when it was
/// last read from the running server; None while it is the cached one.
#[derive(Clone)]
struct Known {
    catalog: Catalog,
    checked: Option<(u32, u64)>,
}

/// A server's catalog after asking the server for its tools (or finding it already checked).
#[derive(Debug, Clone)]
pub struct Listed {
    pub catalog: Catalog,
    /// What changed against the catalog known before; None when nothing did or none was.
    pub change: Option<CatalogChange>,
    /// Whether there was a catalog before (in the session or the cache).
    pub had_catalog: bool,
    /// Whether the server was asked just now.
    pub asked: bool,
}

/// A tool call's value, and what the kernel should be told.
#[derive(Debug, Clone, Default)]
pub struct CallReply {
    pub value: Value,
    /// Things to show the user (a restarted server, a changed tool list).
    pub notices: Vec<String>,
    /// Modules written again because their server's tools changed: reload them.
    pub regenerated: Vec<String>,
}

pub struct ToolHub {
    pub(super) config: McpConfig,
    clients: BTreeMap<String, Arc<ServerClient>>,
    catalogs: tokio::sync::Mutex<BTreeMap<String, Known>>,
    /// One listing at a time per server (keyed by module).
    listing: BTreeMap<String, tokio::sync::Mutex<()>>,
    workspace: PathBuf,
    results: Results,
    pub(super) gather: std::sync::Mutex<GatherState>,
    suggestion_wait: Duration,
    /// Configured secret values: removed from results before they reach the sandbox.
    secrets: crate::secrets::Secrets,
    policy: Policy,
    /// Who answers the policy's `ask`; None: nobody can (a non-interactive run).
    approver: RwLock<Option<Arc<dyn Approver>>>,
    /// (server, tool) allowed for the rest of the session by an approver.
    allowed_for_session: std::sync::Mutex<BTreeSet<(String, String)>>,
    approval_ids: AtomicU64,
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
        let seconds = |s: f64| Duration::from_secs_f64(s.clamp(0.001, 86_400.0));
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
        let listing = config
            .servers
            .iter()
            .map(|s| (s.module.clone(), tokio::sync::Mutex::new(())))
            .collect();
        let secrets = crate::secrets::Secrets::new(config.secret_values().iter().cloned());
        Arc::new(ToolHub {
            secrets,
            config,
            clients,
            catalogs: tokio::sync::Mutex::new(BTreeMap::new()),
            listing,
            results: Results::new(workspace.clone(), settings.large_result_kb * 1024),
            workspace,
            gather: std::sync::Mutex::new(GatherState::default()),
            suggestion_wait: seconds(settings.suggestion_wait_seconds),
            policy: settings.policy.clone(),
            approver: RwLock::new(None),
            allowed_for_session: std::sync::Mutex::new(BTreeSet::new()),
            approval_ids: AtomicU64::new(0),
        })
    }

    /// Sets who answers when the policy says `ask` (None: nobody, and such calls are
    /// refused as in a non-interactive run). Calls already asking keep their approver.
    pub fn set_approver(&self, approver: Option<Arc<dyn Approver>>) {
        // A poisoned lock only means a panic elsewhere; the slot itself is always whole.
        let mut slot = self
            .approver
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = approver;
    }

    /// The tool policy in force (`[tools.policy]` and overrides).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn config(&self) -> &McpConfig {
        &self.config
    }

    pub fn client(&self, server: &str) -> Option<&Arc<ServerClient>> {
        self.config
            .server(server)
            .and_then(|s| self.clients.get(&s.module))
    }

    /// How long the prompt's tool suggestions wait for servers (`suggestion_wait_seconds`).
    pub fn suggestion_wait(&self) -> Duration {
        self.suggestion_wait
    }

    pub(super) fn unknown_server(&self, server: &str) -> HostCallError {
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
                self.catalogs.lock().await.insert(
                    server.module.clone(),
                    Known {
                        catalog: cached,
                        checked: None,
                    },
                );
            }
        }
        Ok(())
    }

    pub(super) fn write_module(&self, catalog: &Catalog) -> std::io::Result<PathBuf> {
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

    fn module_of(&self, server: &str) -> Result<(String, Arc<ServerClient>), HostCallError> {
        let config = self
            .config
            .server(server)
            .ok_or_else(|| self.unknown_server(server))?;
        let client = self
            .clients
            .get(&config.module)
            .ok_or_else(|| self.unknown_server(server))?;
        Ok((config.module.clone(), client.clone()))
    }

    /// The catalog known without asking the server: this session's, else the cached one.
    pub(super) async fn known_catalog(&self, module: &str) -> Option<Catalog> {
        let mut catalogs = self.catalogs.lock().await;
        if let Some(known) = catalogs.get(module) {
            return Some(known.catalog.clone());
        }
        let cached = Catalog::load_cached(self.config.server(module)?)?;
        catalogs.insert(
            module.to_string(),
            Known {
                catalog: cached.clone(),
                checked: None,
            },
        );
        Some(cached)
    }

    /// The server's catalog: this session's, else cached, else from the server. A running
    /// server whose tools may have changed since (it restarted or announced a change) is
    /// asked again.
    pub async fn catalog(&self, server: &str) -> Result<Catalog, HostCallError> {
        let (module, client) = self.module_of(server)?;
        let checked = self.catalogs.lock().await.get(&module).map(|k| k.checked);
        if let Some(checked) = checked
            && client.is_live()
            && checked != Some(client.tools_epoch())
        {
            return Ok(self.list(&module, false).await?.catalog);
        }
        match self.known_catalog(&module).await {
            Some(catalog) => Ok(catalog),
            None => Ok(self.list(&module, false).await?.catalog),
        }
    }

    /// The catalog as the running server has it now: starts the server if needed and
    /// asks it, unless it was asked since its last start and announced no change.
    pub async fn checked_catalog(&self, server: &str) -> Result<Listed, HostCallError> {
        let (module, client) = self.module_of(server)?;
        client.connect().await.map_err(server_error)?;
        self.list(&module, false).await
    }

    /// Asks the server for its tools now, whatever is known (`mcpr tools refresh`).
    pub async fn refresh(&self, server: &str) -> Result<Listed, HostCallError> {
        let (module, _) = self.module_of(server)?;
        self.list(&module, true).await
    }

    /// Lists the server's tools (unless already checked against this start and no change
    /// was announced, or `force`), and updates catalog, cache and module file.
    async fn list(&self, module: &str, force: bool) -> Result<Listed, HostCallError> {
        let client = self
            .clients
            .get(module)
            .ok_or_else(|| self.unknown_server(module))?;
        let config = client.config();
        let _one_at_a_time = match self.listing.get(module) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let before = self.catalogs.lock().await.get(module).cloned();
        if !force
            && let Some(known) = &before
            && known.checked == Some(client.tools_epoch())
        {
            return Ok(Listed {
                catalog: known.catalog.clone(),
                change: None,
                had_catalog: true,
                asked: false,
            });
        }
        client.connect().await.map_err(server_error)?;
        // Read before asking: a change announced while listing is listed again next time.
        let epoch = client.tools_epoch();
        let (tools, _) = client.list_tools().await.map_err(server_error)?;
        let catalog = Catalog::from_tools(config, &tools, client.server_version());
        let previous = before
            .map(|k| k.catalog)
            .or_else(|| Catalog::load_cached(config));
        let change = previous.as_ref().and_then(|p| catalog.changes_since(p));
        if previous.is_none() || change.is_some() {
            catalog.store(config);
        }
        if self.workspace().and_then(|ws| ws.open_dir("tools")).is_ok() {
            let _ = self.write_module(&catalog);
        }
        self.catalogs.lock().await.insert(
            module.to_string(),
            Known {
                catalog: catalog.clone(),
                checked: Some(epoch),
            },
        );
        self.server_answered(module);
        Ok(Listed {
            catalog,
            change,
            had_catalog: previous.is_some(),
            asked: true,
        })
    }

    /// Calls a tool and turns its result into plain data (see [`super::results`]).
    pub async fn call(
        &self,
        server: &str,
        tool: &str,
        args: Value,
    ) -> Result<CallReply, HostCallError> {
        let (module, client) = self.module_of(server)?;
        let name = client.config().name.clone();
        let mut reply = CallReply::default();
        let restarted = client
            .connect()
            .await
            .map_err(|e| self.redact_error(server_error(e)))?;
        reply.notices.extend(restarted);
        // Checked against this start: an upgraded server is seen before the call.
        let mut listed = self.list(&module, false).await?;
        self.note_change(&mut reply, &name, &listed);
        if listed.catalog.tool(tool).is_none() && !listed.asked {
            // The server may have gained the tool without announcing it.
            listed = self.list(&module, true).await?;
            self.note_change(&mut reply, &name, &listed);
        }
        let Some(info) = listed.catalog.tool(tool).cloned() else {
            return Err(unknown_tool(&name, tool, &listed, "has no"));
        };
        self.authorize(&name, &module, &info, &args).await?;
        let mut result = client.call(&info.name, args.clone()).await;
        if says_unknown_tool(&result, &info.name) {
            // The tool went away under a list we had just checked: ask again, once.
            let relisted = self.list(&module, true).await?;
            self.note_change(&mut reply, &name, &relisted);
            if relisted.catalog.tool(&info.name).is_none() {
                return Err(unknown_tool(&name, &info.name, &relisted, "no longer has"));
            }
            result = client.call(&info.name, args).await;
        }
        let (result, notice) = result.map_err(|e| self.redact_error(server_error(e)))?;
        reply.notices.extend(notice);
        // A server may echo its own credentials; they must not reach the sandbox.
        let result = self.secrets.redact_value(result);
        reply.value = self.results.convert(&name, &info.name, result)?;
        Ok(reply)
    }

    /// Whether the policy lets this call go ahead: allowed, refused with kind `denied`
    /// (saying why and what to change), or asked of the approver.
    async fn authorize(
        &self,
        server: &str,
        module: &str,
        tool: &ToolInfo,
        args: &Value,
    ) -> Result<(), HostCallError> {
        let verdict = self.policy.decide(server, module, tool);
        let call = format!("{server}.{}", tool.name);
        let how = verdict.how_to_allow(server, &tool.name);
        match verdict.rule {
            Rule::Allow => return Ok(()),
            Rule::Deny => {
                return Err(HostCallError::new(
                    "denied",
                    format!(
                        "{call} is denied by the tool policy: {}. The call was not made; to allow it, {how}",
                        verdict.reason
                    ),
                ));
            }
            Rule::Ask => {}
        }
        let key = (server.to_string(), tool.name.clone());
        // A poisoned lock only means a panic elsewhere; the set itself is always whole.
        if self
            .allowed_for_session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&key)
        {
            return Ok(());
        }
        let approver = self
            .approver
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(approver) = approver else {
            return Err(HostCallError::new(
                "denied",
                format!(
                    "{call} needs approval ({}), and nobody could be asked: this run is non-interactive. The call was not made; to allow it, {how}",
                    verdict.reason
                ),
            ));
        };
        let request = ApprovalRequest {
            id: self.approval_ids.fetch_add(1, Ordering::Relaxed) + 1,
            server: server.to_string(),
            tool: tool.name.clone(),
            // The approver may show or record them: no credentials.
            args: self.secrets.redact_value(args.clone()),
            class: verdict.class,
            reason: verdict.reason.clone(),
        };
        match approver.decide(request).await {
            Decision::AllowOnce => Ok(()),
            Decision::AllowSession => {
                self.allowed_for_session
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key);
                Ok(())
            }
            Decision::Deny => Err(HostCallError::new(
                "denied",
                format!(
                    "{call} was denied by the user (asked because: {}). The call was not made",
                    verdict.reason
                ),
            )),
        }
    }

    /// Tells the kernel about a changed tool list, and which module to load again.
    fn note_change(&self, reply: &mut CallReply, server: &str, listed: &Listed) {
        if let Some(change) = &listed.change {
            reply
                .notices
                .push(change_notice(server, &listed.catalog, change));
            if !change.same_tools() && !reply.regenerated.contains(&listed.catalog.module) {
                reply.regenerated.push(listed.catalog.module.clone());
            }
        }
    }

    fn redact_error(&self, e: HostCallError) -> HostCallError {
        HostCallError::new(e.kind, self.secrets.redact(&e.message))
    }

    /// Stops every server that was started, and every start still in progress.
    pub async fn shutdown(&self) {
        self.stop_gathering();
        for client in self.clients.values() {
            client.shutdown().await;
        }
    }
}

/// "MCP server "up" changed its tools (version 1.0 → 2.0): added gamma; removed beta; tools.up was written again".
fn change_notice(server: &str, catalog: &Catalog, change: &CatalogChange) -> String {
    let version = change
        .version
        .as_ref()
        .map(|(old, new)| format!(" (version {old} → {new})"))
        .unwrap_or_default();
    if change.same_tools() {
        match &change.version {
            Some((old, new)) => {
                format!(
                    "MCP server {server:?} is now version {new} (was {old}), with the same tools"
                )
            }
            None => format!("MCP server {server:?} lists the same tools"),
        }
    } else {
        format!(
            "MCP server {server:?} changed its tools{version}: {change}; tools.{} was written again",
            catalog.module
        )
    }
}

fn unknown_tool(server: &str, tool: &str, listed: &Listed, verb: &str) -> HostCallError {
    let names: Vec<&str> = listed
        .catalog
        .tools
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let change = listed
        .change
        .as_ref()
        .map(|c| {
            let version = c
                .version
                .as_ref()
                .map(|(old, new)| format!(" with version {old} → {new}"))
                .unwrap_or_default();
            format!(" (its tools changed{version}: {c})")
        })
        .unwrap_or_default();
    HostCallError::new(
        "unknown_tool",
        format!(
            "server {server:?} {verb} tool {tool:?}; it has: {}{change}",
            names.join(", ")
        ),
    )
}

/// Whether a call failed because the server does not know the tool (by the wording
/// rmcp, the Python SDK and most servers use).
fn says_unknown_tool(result: &Result<(Value, Option<String>), ServerError>, tool: &str) -> bool {
    let text = match result {
        Err(ServerError::Failed { reason, .. }) => reason.clone(),
        Ok((value, _)) if value.get("isError").and_then(Value::as_bool) == Some(true) => value
            .get("content")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        _ => return false,
    };
    let text = text.to_lowercase();
    text.contains("unknown tool")
        || text.contains("tool not found")
        || text.contains("no such tool")
        || (text.contains("not found") && text.contains(&tool.to_lowercase()))
}

pub(super) fn server_error(e: ServerError) -> HostCallError {
    let kind = match e {
        ServerError::Start { .. } | ServerError::NotMcp { .. } => "server_failed",
        ServerError::Timeout { .. } => "timeout",
        ServerError::Failed { .. } => "server_failed",
    };
    HostCallError::new(kind, e.to_string())
}
