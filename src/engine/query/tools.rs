//! The tool catalog as queries: servers with their tools (cached or as the servers give
//! them now), refreshing, search, one tool's description, and resolving a tool's name.
//! Each takes the [`ToolHub`] of the configured servers (see [`crate::tools::hub`]).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::QueryError;
use crate::tools::catalog::{Catalog, CatalogChange, ToolInfo};
use crate::tools::hub::{Listed, ToolHub};
use crate::tools::search::{self, Hit};

/// The servers a request is about: `only` (its name or module), else every configured one.
pub fn servers(hub: &ToolHub, only: Option<&str>) -> Result<Vec<String>, QueryError> {
    match only {
        Some(s) => {
            let config = hub.config().server(s).ok_or_else(|| QueryError::NoTool {
                message: format!("no server named {s:?}; configured: {}", server_names(hub)),
                warnings: Vec::new(),
            })?;
            Ok(vec![config.name.clone()])
        }
        None => Ok(hub
            .config()
            .servers
            .iter()
            .map(|s| s.name.clone())
            .collect()),
    }
}

/// The configured servers' names, comma-separated.
pub fn server_names(hub: &ToolHub) -> String {
    let names: Vec<&str> = hub
        .config()
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    names.join(", ")
}

/// Servers with their tools, and the servers that could not be listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCatalogs {
    pub catalogs: Vec<Catalog>,
    /// Why each server that could not be listed could not, in words.
    pub failed: Vec<String>,
}

/// The catalogs of `only` (default: every server): with `cached`, as known (this
/// process's, else the cache, else asked), otherwise as each server gives them now
/// (servers are started).
pub async fn catalogs(
    hub: &Arc<ToolHub>,
    only: Option<&str>,
    cached: bool,
) -> Result<ToolCatalogs, QueryError> {
    let mut out = ToolCatalogs {
        catalogs: Vec::new(),
        failed: Vec::new(),
    };
    for name in servers(hub, only)? {
        let catalog = if cached {
            hub.catalog(&name).await
        } else {
            hub.checked_catalog(&name).await.map(|l| l.catalog)
        };
        match catalog {
            Ok(c) => out.catalogs.push(c),
            Err(e) => out.failed.push(e.message),
        }
    }
    Ok(out)
}

/// What asking a server for its tools again found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refreshed {
    pub server: String,
    /// The number of tools it has now; None when it could not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<usize>,
    /// No catalog was known before (in this process or the cache).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_listing: bool,
    /// What changed against the catalog known before; None when nothing did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<CatalogChange>,
    /// Why it could not be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Refreshed {
    fn from_listed(server: &str, listed: &Listed) -> Refreshed {
        Refreshed {
            server: server.to_string(),
            tools: Some(listed.catalog.tools.len()),
            first_listing: !listed.had_catalog,
            change: listed.change.clone().filter(|_| listed.had_catalog),
            error: None,
        }
    }

    /// "4 tools (version 1.0 → 2.0): added gamma; removed beta", "2 tools, unchanged",
    /// "3 tools, listed for the first time"; the error when it failed.
    pub fn summary(&self) -> String {
        let Some(tools) = self.tools else {
            return self.error.clone().unwrap_or_default();
        };
        let count = format!("{tools} tools");
        match &self.change {
            _ if self.first_listing => format!("{count}, listed for the first time"),
            None => format!("{count}, unchanged"),
            Some(change) => {
                let version = change
                    .version
                    .as_ref()
                    .map(|(old, new)| format!(" (version {old} → {new})"))
                    .unwrap_or_default();
                format!("{count}{version}: {change}")
            }
        }
    }
}

/// Asks `only` (default: every server) for its tools now and updates the cache.
/// `on_each` sees each server's outcome as soon as it is known.
pub async fn refresh(
    hub: &Arc<ToolHub>,
    only: Option<&str>,
    on_each: &mut (dyn FnMut(&Refreshed) + Send),
) -> Result<Vec<Refreshed>, QueryError> {
    let mut out = Vec::new();
    for name in servers(hub, only)? {
        let refreshed = match hub.refresh(&name).await {
            Ok(listed) => Refreshed::from_listed(&name, &listed),
            Err(e) => Refreshed {
                server: name.clone(),
                tools: None,
                first_listing: false,
                change: None,
                error: Some(e.message),
            },
        };
        on_each(&refreshed);
        out.push(refreshed);
    }
    Ok(out)
}

/// Tools ranked for a query, and the servers left out of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSearch {
    pub hits: Vec<Hit>,
    /// Servers that could not be asked, in words.
    pub problems: Vec<String>,
}

/// The tools of every server ranked for `query` (catalogs gathered concurrently).
pub async fn search(
    hub: &Arc<ToolHub>,
    query: &str,
    limit: usize,
) -> Result<ToolSearch, QueryError> {
    let (catalogs, problems) = hub.all_catalogs().await;
    let hits =
        search::search(&catalogs, query, limit).map_err(|e| QueryError::Sqlite(e.to_string()))?;
    Ok(ToolSearch { hits, problems })
}

/// One tool as Python sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDescription {
    pub server: String,
    pub module: String,
    /// `from tools.<module> import <function>`.
    pub import: String,
    /// The Python function: signature and docstring.
    pub source: String,
    pub tool: ToolInfo,
    /// What the session's tool-call policy does with a call of it, and why.
    pub policy: crate::tools::policy::Rule,
    pub class: crate::tools::policy::ToolClass,
    pub policy_reason: String,
}

/// The description of tool `name` (`SERVER.TOOL`, or `TOOL` when one server has it).
pub async fn describe(hub: &Arc<ToolHub>, name: &str) -> Result<ToolDescription, QueryError> {
    let (server, tool) = resolve(hub, name, None).await?;
    let catalog = hub
        .catalog(&server)
        .await
        .map_err(|e| QueryError::Tools(e.message))?;
    let Some(t) = catalog.tool(&tool) else {
        return Err(QueryError::NoTool {
            message: format!(
                "server {server:?} has no tool {tool:?}; try `mcpr tools list {server}`"
            ),
            warnings: Vec::new(),
        });
    };
    let source = crate::tools::codegen::render_function(t);
    let verdict = hub.policy().decide(&catalog.server, &catalog.module, t);
    Ok(ToolDescription {
        policy: verdict.rule,
        class: verdict.class,
        policy_reason: verdict.reason,
        import: format!("from tools.{} import {}", catalog.module, t.function),
        source: source.trim_start_matches("@_tool\n").trim_end().to_string(),
        server,
        module: catalog.module.clone(),
        tool: t.clone(),
    })
}

/// (server, tool) for `SERVER.TOOL`, `TOOL` (when one server has it) or, with `tool`
/// given, `SERVER` and `TOOL` apart. A `tools.` prefix is allowed.
pub async fn resolve(
    hub: &Arc<ToolHub>,
    target: &str,
    tool: Option<&str>,
) -> Result<(String, String), QueryError> {
    if let Some(tool) = tool {
        return Ok((target.to_string(), tool.to_string()));
    }
    let target = target.strip_prefix("tools.").unwrap_or(target);
    // Server names may hold dots themselves: try every split, the configured one wins.
    for (i, _) in target.match_indices('.') {
        let (server, tool) = (&target[..i], &target[i + 1..]);
        if hub.config().server(server).is_some() {
            return Ok((server.to_string(), tool.to_string()));
        }
    }
    if let Some((server, _)) = target.split_once('.') {
        return Err(QueryError::NoTool {
            message: format!(
                "no MCP server named {server:?}; configured: {}",
                server_names(hub)
            ),
            warnings: Vec::new(),
        });
    }
    let (catalogs, problems) = hub.all_catalogs().await;
    let found: Vec<&Catalog> = catalogs
        .iter()
        .filter(|c| c.tool(target).is_some())
        .collect();
    match found.as_slice() {
        [one] => Ok((one.server.clone(), target.to_string())),
        [] => Err(QueryError::NoTool {
            message: format!("no tool named {target:?}; try `mcpr tools search {target}`"),
            warnings: problems,
        }),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|c| format!("{}.{target}", c.server))
                .collect();
            Err(QueryError::NoTool {
                message: format!(
                    "{target:?} is a tool of several servers; name one: {}",
                    names.join(", ")
                ),
                warnings: Vec::new(),
            })
        }
    }
}
