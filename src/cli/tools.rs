//! `mcpr tools`: look at, refresh and call the configured MCP servers from the terminal.
//!
//! A tool is named `SERVER.TOOL` everywhere (`time.get_current_time`); a bare `TOOL` works
//! when one server has it, and `call SERVER TOOL` (the older form) still works.
//!
//! A tool typed on the command line is the user's own request: `tools call` answers the
//! tool policy's `ask` with yes, while a tool the policy denies stays denied.

use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{CliError, current_project, mcp_config};
use crate::tools::catalog::{Catalog, first_line};
use crate::tools::hub::{Listed, ToolHub};
use crate::tools::policy::{ApprovalRequest, Decision};
use crate::tools::search;

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
    /// List servers and their tools, as the servers give them now
    List {
        /// Only this server (its name or module)
        #[arg(value_name = "SERVER")]
        only: Option<String>,
        /// Only this server (the same as the positional SERVER)
        #[arg(long, value_name = "SERVER", conflicts_with = "only")]
        server: Option<String>,
        /// Show the cached tool lists without starting servers
        #[arg(long)]
        cached: bool,
        /// Print the catalogs as JSON
        #[arg(long)]
        json: bool,
    },
    /// Ask servers for their tools again and update the cache (after a server changed)
    Refresh {
        /// Only this server (default: every configured server)
        #[arg(value_name = "SERVER")]
        server: Option<String>,
    },
    /// Rank tools across all servers for a task or query in plain words
    Search {
        /// What you want to do, e.g. "commit history"
        query: String,
        /// Most tools to show
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// Print the hits as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a tool's Python signature and documentation, its annotations and the policy rule for it
    Describe {
        /// The tool: SERVER.TOOL, or TOOL when one server has it
        #[arg(value_name = "TOOL")]
        name: String,
    },
    /// Call a tool and print its result as JSON
    Call {
        /// The tool: SERVER.TOOL, or TOOL when one server has it, or SERVER followed by TOOL
        #[arg(value_name = "TOOL")]
        target: String,
        /// The tool's name, when the server is given separately as the first argument
        #[arg(value_name = "NAME")]
        tool: Option<String>,
        /// Arguments as a JSON object, e.g. '{"timezone": "UTC"}'
        #[arg(long, default_value = "{}", value_name = "JSON")]
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
    for warning in project.config.tools.policy.unmatched(&config) {
        errln!("[mcpr] warning: {warning}");
    }
    let hub = ToolHub::with_settings(config, scratch.clone(), &project.config.tools);
    hub.set_approver(Some(Arc::new(|_: ApprovalRequest| async {
        Decision::AllowOnce
    })));
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
        ToolsCommand::List {
            only,
            server,
            cached,
            json,
        } => list(hub, only.or(server), cached, json).await,
        ToolsCommand::Refresh { server } => refresh(hub, server).await,
        ToolsCommand::Search { query, limit, json } => {
            let (catalogs, problems) = hub.all_catalogs().await;
            for p in &problems {
                errln!("warning: {p}");
            }
            let hits = search::search(&catalogs, &query, limit).map_err(CliError::failed)?;
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
            let (server, tool) = resolve(hub, &name, None).await?;
            let catalog = hub
                .catalog(&server)
                .await
                .map_err(|e| CliError::failed(e.message))?;
            let Some(t) = catalog.tool(&tool) else {
                return Err(CliError::usage(format!(
                    "server {server:?} has no tool {tool:?}; try `mcpr tools list {server}`"
                )));
            };
            let source = crate::tools::codegen::render_function(t);
            outln!(
                "from tools.{} import {}\n\n{}",
                catalog.module,
                t.function,
                source.trim_start_matches("@_tool\n").trim_end()
            );
            let hints = t
                .annotations
                .as_ref()
                .map(|a| {
                    let title = a
                        .title
                        .as_ref()
                        .map(|title| format!("{title:?}; "))
                        .unwrap_or_default();
                    format!("{title}{}", a.describe())
                })
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "none".to_string());
            let verdict = hub.policy().decide(&catalog.server, &catalog.module, t);
            outln!(
                "\nannotations: {hints}\npolicy: {} ({})",
                verdict.rule.as_str(),
                verdict.reason
            );
            Ok(false)
        }
        ToolsCommand::Call { target, tool, args } => {
            let args: Value = serde_json::from_str(&args)
                .map_err(|e| CliError::usage(format!("--args is not valid JSON: {e}")))?;
            if !args.is_object() {
                return Err(CliError::usage(
                    "--args must be a JSON object, e.g. '{\"timezone\": \"UTC\"}'",
                ));
            }
            let (server, tool) = resolve(hub, &target, tool.as_deref()).await?;
            match hub.call(&server, &tool, args).await {
                Ok(reply) => {
                    for n in &reply.notices {
                        errln!("[mcpr] {n}");
                    }
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&reply.value).map_err(CliError::failed)?
                    );
                    Ok(reply.value.to_string().contains("\"__mcpr__\""))
                }
                Err(e) if e.kind == "unknown_server" || e.kind == "unknown_tool" => {
                    Err(CliError::usage(e.message))
                }
                Err(e) => Err(CliError::failed(format!("{} ({})", e.message, e.kind))),
            }
        }
    }
}

/// The servers a command is about: one by name or module, else all.
fn servers(hub: &ToolHub, only: Option<&str>) -> Result<Vec<String>, CliError> {
    match only {
        Some(s) => {
            let config = hub.config().server(s).ok_or_else(|| {
                CliError::usage(format!(
                    "no server named {s:?}; configured: {}",
                    server_names(hub)
                ))
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

fn server_names(hub: &ToolHub) -> String {
    let names: Vec<&str> = hub
        .config()
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    names.join(", ")
}

async fn list(
    hub: &Arc<ToolHub>,
    only: Option<String>,
    cached: bool,
    json: bool,
) -> Result<bool, CliError> {
    let mut out: Vec<Catalog> = Vec::new();
    let mut failed = Vec::new();
    for name in servers(hub, only.as_deref())? {
        let catalog = if cached {
            hub.catalog(&name).await
        } else {
            hub.checked_catalog(&name).await.map(|l| l.catalog)
        };
        match catalog {
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

async fn refresh(hub: &Arc<ToolHub>, only: Option<String>) -> Result<bool, CliError> {
    let mut failed = 0;
    for name in servers(hub, only.as_deref())? {
        match hub.refresh(&name).await {
            Ok(listed) => outln!("{name}: {}", refreshed(&listed)),
            Err(e) => {
                errln!("error: {}", e.message);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(CliError::failed(format!(
            "{failed} server(s) could not be listed"
        )));
    }
    Ok(false)
}

/// "4 tools (version 1.0 → 2.0): added gamma; removed beta", "2 tools, unchanged", …
fn refreshed(listed: &Listed) -> String {
    let count = format!("{} tools", listed.catalog.tools.len());
    match &listed.change {
        _ if !listed.had_catalog => format!("{count}, listed for the first time"),
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

/// (server, tool) for `SERVER.TOOL`, `TOOL` (when one server has it) or, with `tool`
/// given, `SERVER` and `TOOL` apart.
async fn resolve(
    hub: &Arc<ToolHub>,
    target: &str,
    tool: Option<&str>,
) -> Result<(String, String), CliError> {
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
        return Err(CliError::usage(format!(
            "no MCP server named {server:?}; configured: {}",
            server_names(hub)
        )));
    }
    let (catalogs, problems) = hub.all_catalogs().await;
    let found: Vec<&Catalog> = catalogs
        .iter()
        .filter(|c| c.tool(target).is_some())
        .collect();
    match found.as_slice() {
        [one] => Ok((one.server.clone(), target.to_string())),
        [] => {
            for p in &problems {
                errln!("warning: {p}");
            }
            Err(CliError::usage(format!(
                "no tool named {target:?}; try `mcpr tools search {target}`"
            )))
        }
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|c| format!("{}.{target}", c.server))
                .collect();
            Err(CliError::usage(format!(
                "{target:?} is a tool of several servers; name one: {}",
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_argument_of_mcpr_tools_has_help() {
        let cli = super::super::Cli::command();
        let tools = cli
            .find_subcommand("tools")
            .expect("mcpr has a tools command");
        let mut missing = Vec::new();
        for command in std::iter::once(tools).chain(tools.get_subcommands()) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
