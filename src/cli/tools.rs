//! `mcpr tools`: look at and call the configured MCP servers from the terminal.

use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CliError, current_project, mcp_config};
use crate::tools::catalog::{self, first_line};
use crate::tools::hub::ToolHub;

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// MCP server configuration (default: .mcp.json, then ~/.config/mcpr/mcp.json)
    #[arg(long, global = true, value_name = "FILE")]
    mcp_config: Option<PathBuf>,
    #[command(subcommand)]
    command: ToolsCommand,
}

#[derive(Debug, Subcommand)]
enum ToolsCommand {
    /// List servers and their tools
    List {
        /// Only this server
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Rank tools across all servers for a query
    Search {
        query: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show a tool's Python signature and documentation (NAME or SERVER.NAME)
    Describe { name: String },
    /// Call a tool and print its result as JSON
    Call {
        server: String,
        tool: String,
        /// Arguments as a JSON object
        #[arg(long, default_value = "{}")]
        args: String,
    },
}

pub async fn run(args: ToolsArgs) -> Result<ExitCode, CliError> {
    let project = current_project()?;
    let config = mcp_config(args.mcp_config.as_deref(), &project)?;
    if config.servers.is_empty() {
        return Err(CliError::usage(
            "no MCP servers configured: add them to .mcp.json ({\"mcpServers\": {...}}) or pass --mcp-config FILE",
        ));
    }
    // Results and images of `tools call` are saved in a scratch folder, shown in the output.
    let scratch = std::env::temp_dir().join(format!("mcpr-tools-{}", std::process::id()));
    let hub = ToolHub::with_settings(config, scratch.clone(), &project.config.tools);
    let result = run_with(&hub, args.command).await;
    hub.shutdown().await;
    if !matches!(result, Ok(true)) {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result.map(|_| ExitCode::SUCCESS)
}

/// Returns whether files were saved in the scratch folder (and must be kept).
async fn run_with(hub: &Arc<ToolHub>, command: ToolsCommand) -> Result<bool, CliError> {
    match command {
        ToolsCommand::List { server, json } => {
            let servers: Vec<String> = match &server {
                Some(s) => {
                    let config = hub
                        .config()
                        .server(s)
                        .ok_or_else(|| CliError::usage(format!("no server named {s:?}")))?;
                    vec![config.name.clone()]
                }
                None => hub
                    .config()
                    .servers
                    .iter()
                    .map(|s| s.name.clone())
                    .collect(),
            };
            let mut out = Vec::new();
            let mut failed = Vec::new();
            for name in servers {
                match hub.catalog(&name).await {
                    Ok(c) => out.push(c),
                    Err(e) => failed.push(e.message),
                }
            }
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&out).map_err(CliError::failed)?
                );
            } else {
                for c in &out {
                    outln!("{} (tools.{}): {} tools", c.server, c.module, c.tools.len());
                    for t in &c.tools {
                        outln!("  {:<28} {}", t.function, first_line(&t.description));
                    }
                }
            }
            for f in &failed {
                errln!("error: {f}");
            }
            if !failed.is_empty() {
                return Err(CliError::failed(format!(
                    "{} server(s) could not be listed",
                    failed.len()
                )));
            }
            Ok(false)
        }
        ToolsCommand::Search { query, limit, json } => {
            let (catalogs, problems) = hub.all_catalogs().await;
            for p in &problems {
                errln!("warning: {p}");
            }
            let hits = catalog::search(&catalogs, &query, limit).map_err(CliError::failed)?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&hits).map_err(CliError::failed)?
                );
            } else if hits.is_empty() {
                outln!("no tool matches {query:?}");
            } else {
                for h in hits {
                    outln!(
                        "{:<36} {}",
                        format!("{}.{}", h.module, h.function),
                        h.description
                    );
                }
            }
            Ok(false)
        }
        ToolsCommand::Describe { name } => {
            let (server, tool) = match name.split_once('.') {
                Some((s, t)) => (Some(s.to_string()), t.to_string()),
                None => (None, name.clone()),
            };
            let (catalogs, _) = hub.all_catalogs().await;
            let found = catalogs
                .iter()
                .filter(|c| {
                    server
                        .as_deref()
                        .is_none_or(|s| c.server == s || c.module == s)
                })
                .find_map(|c| c.tool(&tool).map(|t| (c, t)))
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "no tool named {name:?}; try `mcpr tools search {tool}`"
                    ))
                })?;
            let (c, t) = found;
            let module = crate::tools::codegen::render_module(&crate::tools::catalog::Catalog {
                server: c.server.clone(),
                module: c.module.clone(),
                tools: vec![t.clone()],
            });
            let function = module
                .split_once("\ndef ")
                .map(|(_, f)| format!("def {f}"))
                .unwrap_or(module);
            outln!(
                "from tools.{} import {}\n\n{}",
                c.module,
                t.function,
                function.trim_end()
            );
            Ok(false)
        }
        ToolsCommand::Call { server, tool, args } => {
            let args: Value = serde_json::from_str(&args)
                .map_err(|e| CliError::usage(format!("--args is not valid JSON: {e}")))?;
            if !args.is_object() {
                return Err(CliError::usage(
                    "--args must be a JSON object, e.g. '{\"timezone\": \"UTC\"}'",
                ));
            }
            match hub.call(&server, &tool, args).await {
                Ok((value, notice)) => {
                    if let Some(n) = notice {
                        errln!("[mcpr] {n}");
                    }
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&value).map_err(CliError::failed)?
                    );
                    Ok(value.to_string().contains("\"__mcpr__\""))
                }
                Err(e) if e.kind == "unknown_server" || e.kind == "unknown_tool" => {
                    Err(CliError::usage(e.message))
                }
                Err(e) => Err(CliError::failed(format!("{} ({})", e.message, e.kind))),
            }
        }
    }
}
