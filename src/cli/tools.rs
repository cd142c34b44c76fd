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

use super::{CliError, current_project, mcp_config, query_error};
use crate::engine::query::QueryError;
use crate::engine::query::tools as query;
use crate::tools::catalog::first_line;
use crate::tools::hub::ToolHub;
use crate::tools::policy::{ApprovalRequest, Decision};

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
            let found = query::search(hub, &query, limit)
                .await
                .map_err(CliError::failed)?;
            for p in &found.problems {
                errln!("warning: {p}");
            }
            let hits = found.hits;
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
            let described = query::describe(hub, &name).await.map_err(tool_error)?;
            outln!("{}\n\n{}", described.import, described.source);
            let hints = described
                .tool
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
            outln!(
                "\nannotations: {hints}\npolicy: {} ({})",
                described.policy.as_str(),
                described.policy_reason
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
            let (server, tool) = query::resolve(hub, &target, tool.as_deref())
                .await
                .map_err(tool_error)?;
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

/// A tool or server that is not there is a usage error, after the servers that could not
/// be asked while looking for it.
fn tool_error(e: QueryError) -> CliError {
    if let QueryError::NoTool { warnings, .. } = &e {
        for w in warnings {
            errln!("warning: {w}");
        }
    }
    query_error(e)
}

async fn list(
    hub: &Arc<ToolHub>,
    only: Option<String>,
    cached: bool,
    json: bool,
) -> Result<bool, CliError> {
    let listed = query::catalogs(hub, only.as_deref(), cached)
        .await
        .map_err(tool_error)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&listed.catalogs).map_err(CliError::failed)?
        );
    } else {
        for c in &listed.catalogs {
            outln!("{} (tools.{}): {} tools", c.server, c.module, c.tools.len());
            for t in &c.tools {
                outln!("  {:<28} {}", t.function, first_line(&t.description));
            }
        }
    }
    for f in &listed.failed {
        errln!("error: {f}");
    }
    if !listed.failed.is_empty() {
        return Err(CliError::failed(format!(
            "{} server(s) could not be listed",
            listed.failed.len()
        )));
    }
    Ok(false)
}

async fn refresh(hub: &Arc<ToolHub>, only: Option<String>) -> Result<bool, CliError> {
    let refreshed = query::refresh(hub, only.as_deref(), &mut |r| match &r.error {
        None => outln!("{}: {}", r.server, r.summary()),
        Some(e) => errln!("error: {e}"),
    })
    .await
    .map_err(tool_error)?;
    let failed = refreshed.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        return Err(CliError::failed(format!(
            "{failed} server(s) could not be listed"
        )));
    }
    Ok(false)
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
