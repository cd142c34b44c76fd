//! The `tools.*` host calls that the `tools` package in the kernel makes:
//! `tools.call` (`server`, `tool`, `args`), `tools.servers`, `tools.list` (`server`),
//! `tools.search` (`query`, `limit`), `tools.module` (`server`, optional `tool`: a name the
//! module lacks, listed again once) and `tools.locate` (`name`). Each is a thin adapter
//! over [`ToolHub`]; none holds state of its own.

use serde_json::{Value, json};
use std::sync::Arc;

use super::catalog::first_line;
use super::config::Transport;
use super::hub::ToolHub;
use super::search;
use crate::hostcall::{HostCallError, HostCalls};

impl ToolHub {
    /// Registers the `tools.*` host calls on `calls`.
    pub fn register(self: &Arc<Self>, calls: &mut HostCalls) {
        let hub = self.clone();
        calls.register("tools.call", move |args: Value| {
            let hub = hub.clone();
            async move {
                let server = str_arg(&args, "server")?;
                let tool = str_arg(&args, "tool")?;
                let reply = hub
                    .call(
                        &server,
                        &tool,
                        args.get("args").cloned().unwrap_or(Value::Null),
                    )
                    .await?;
                let mut out = json!({"value": reply.value});
                if !reply.notices.is_empty() {
                    out["notice"] = json!(reply.notices.join("\n"));
                }
                if !reply.regenerated.is_empty() {
                    out["regenerated"] = json!(reply.regenerated);
                }
                Ok(out)
            }
        });
        let hub = self.clone();
        calls.register("tools.servers", move |_args: Value| {
            let hub = hub.clone();
            async move {
                Ok(Value::Array(
                    hub.config()
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
                // Asked of one server by name: worth starting it to be current.
                let catalog = hub.checked_catalog(&server).await?.catalog;
                Ok(Value::Array(
                    catalog
                        .tools
                        .iter()
                        .map(|t| json!({"name": t.name, "function": t.function, "description": first_line(&t.description)}))
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
                let hits = search::search(&catalogs, &query, limit)
                    .map_err(|e| HostCallError::new("search_failed", e.to_string()))?;
                Ok(json!({"hits": hits, "problems": problems}))
            }
        });
        let hub = self.clone();
        calls.register("tools.module", move |args: Value| {
            let hub = hub.clone();
            async move {
                let server = str_arg(&args, "server")?;
                let mut catalog = hub.catalog(&server).await?;
                let tool = args.get("tool").and_then(Value::as_str);
                if let Some(tool) = tool
                    && catalog.tool(tool).is_none()
                {
                    // The server may have gained the tool since its list was cached.
                    catalog = hub.refresh(&server).await?.catalog;
                }
                let rel = hub.write_module(&catalog).map_err(|e| {
                    HostCallError::new(
                        "failed",
                        format!("could not write the module for {server}: {e}"),
                    )
                })?;
                let tools: Vec<&str> = catalog.tools.iter().map(|t| t.function.as_str()).collect();
                Ok(json!({
                    "path": rel,
                    "found": tool.map(|t| catalog.tool(t).is_some()),
                    "tools": tools,
                }))
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
}

fn str_arg(args: &Value, key: &str) -> Result<String, HostCallError> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| HostCallError::bad_args(format!("missing string argument {key:?}")))
}
