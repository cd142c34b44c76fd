//! The tools an agent prompt names for a task: every server's catalog gathered within
//! the suggestion budget (slow or failing servers are left out and named), ranked by the
//! task, and each shown with its import line and typed, keyword-only signature, so a
//! model calls it right the first time.
//!
//! The block is bounded in tokens whatever is configured: at most `k` tools, each at most
//! [`TOOL_MAX_TOKENS`] (a long signature loses its optional parameters, then its
//! description, then its types), and [`BLOCK_MAX_TOKENS`] for all of them.

use std::sync::Arc;

use super::catalog::{Catalog, ToolInfo, first_line};
use super::codegen::{Signature, signature};
use super::hub::ToolHub;
use super::search::{Hit, search};

/// Most tokens one suggested tool may take (its import line and signature line).
pub const TOOL_MAX_TOKENS: usize = 90;
/// Most tokens all suggested tools together may take.
pub const BLOCK_MAX_TOKENS: usize = 400;
/// Longest description shown after a signature, in characters.
const DESCRIPTION_MAX_CHARS: usize = 120;

/// What the prompt gets: its tool lines, and notices about servers left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suggestions {
    pub lines: Vec<String>,
    pub notices: Vec<String>,
}

/// The `k` tools most relevant to `task`, from what the servers give within the budget.
pub async fn suggest(hub: &Arc<ToolHub>, task: &str, k: usize) -> Suggestions {
    if k == 0 || hub.config().servers.is_empty() {
        return Suggestions::default();
    }
    let budget = hub.suggestion_wait();
    let gathered = hub.gather(Some(budget)).await;
    let hits = search(&gathered.catalogs, task, k).unwrap_or_default();
    let wait = budget.as_secs_f64();
    let notices = gathered
        .slow
        .iter()
        .map(|server| {
            format!(
                "MCP server {server:?} did not list its tools within {wait} s, so this step's prompt suggests tools of the other servers (it keeps starting in the background)"
            )
        })
        .chain(gathered.failed.iter().map(|(server, why)| {
            format!("MCP server {server:?} is left out of this step's tool suggestions: {why}")
        }))
        .collect();
    Suggestions {
        lines: render(&gathered.catalogs, &hits),
        notices,
    }
}

/// Prompt lines for `hits`: per tool an import line and a signature line, within budget.
pub fn render(catalogs: &[Catalog], hits: &[Hit]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut used = 0;
    for hit in hits {
        let Some(tool) = catalogs
            .iter()
            .find(|c| c.module == hit.module)
            .and_then(|c| c.tool(&hit.tool))
        else {
            continue;
        };
        let entry = entry(&hit.module, tool);
        let tokens = crate::tokens::count(&entry.join("\n"));
        if used + tokens > BLOCK_MAX_TOKENS {
            break;
        }
        used += tokens;
        lines.extend(entry);
    }
    lines
}

/// The import line and the longest signature line that fits [`TOOL_MAX_TOKENS`].
fn entry(module: &str, tool: &ToolInfo) -> Vec<String> {
    let import = format!("from tools.{module} import {}", tool.function);
    let sig = signature(tool);
    let description = clip(&first_line(&tool.description), DESCRIPTION_MAX_CHARS);
    let fits = |line: &str| crate::tokens::count(&format!("{import}\n{line}")) <= TOOL_MAX_TOKENS;
    let with_description = |s: String| {
        if description.is_empty() {
            s
        } else {
            format!("{s}  # {description}")
        }
    };
    // Fewer optional parameters first, then no description, then no types.
    for optional in (0..=sig.optional()).rev() {
        let line = with_description(sig.render(optional));
        if fits(&line) {
            return vec![import, line];
        }
    }
    let line = sig.render(0);
    if fits(&line) {
        return vec![import, line];
    }
    let line = names_only(&sig, &fits);
    vec![import, line]
}

/// `f(*, a, b, ...)`: the required parameters' names, as many as fit.
fn names_only(sig: &Signature, fits: &dyn Fn(&str) -> bool) -> String {
    let names: Vec<&str> = sig.params[..sig.required]
        .iter()
        .map(|p| p.split(':').next().unwrap_or(p).trim())
        .collect();
    for shown in (0..=names.len()).rev() {
        let mut params = names[..shown].to_vec();
        if shown < names.len() || sig.optional() > 0 {
            params.push("...");
        }
        let line = if params.is_empty() {
            format!("{}()", sig.function)
        } else {
            format!("{}(*, {})", sig.function, params.join(", "))
        };
        if fits(&line) || shown == 0 {
            return line;
        }
    }
    format!("{}(...)", sig.function)
}

fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn catalog(server: &str, tools: Value) -> Catalog {
        crate::tools::catalog::test_catalog(server, tools, None)
    }

    #[test]
    fn a_suggestion_shows_the_import_and_the_keyword_only_signature() {
        let time = catalog(
            "time",
            json!([{"name": "convert_time", "description": "Convert time between timezones",
                "inputSchema": {"type": "object", "required": ["source_timezone", "time", "target_timezone"],
                    "properties": {"source_timezone": {"type": "string"}, "time": {"type": "string"}, "target_timezone": {"type": "string"}}},
                "outputSchema": {"type": "object"}}]),
        );
        let hits = search(std::slice::from_ref(&time), "convert time", 5).unwrap();
        assert_eq!(
            render(&[time], &hits),
            [
                "from tools.time import convert_time",
                "convert_time(*, source_timezone: str, time: str, target_timezone: str) -> dict[str, Any]  # Convert time between timezones",
            ]
        );
    }

    #[test]
    fn the_block_stays_within_its_budget_however_large_the_tools() {
        // Forty servers of tools with long names, many parameters and long descriptions.
        let params: serde_json::Map<String, Value> = (0..40)
            .map(|i| {
                (
                    format!("parameter_number_{i}_with_a_long_name"),
                    json!({"type": "object", "description": "x ".repeat(200)}),
                )
            })
            .collect();
        let required: Vec<String> = params.keys().take(20).cloned().collect();
        let catalogs: Vec<Catalog> = (0..40)
            .map(|s| {
                catalog(
                    &format!("server{s}"),
                    json!([{"name": "search_everything", "description": "Search everything everywhere. ".repeat(50),
                        "inputSchema": {"type": "object", "properties": params, "required": required}}]),
                )
            })
            .collect();
        let hits = search(&catalogs, "search everything", 40).unwrap();
        assert!(hits.len() >= 5);
        let lines = render(&catalogs, &hits);
        assert!(!lines.is_empty());
        let block = crate::tokens::count(&lines.join("\n"));
        assert!(block <= BLOCK_MAX_TOKENS, "{block} tokens");
        for pair in lines.chunks(2) {
            let tokens = crate::tokens::count(&pair.join("\n"));
            assert!(tokens <= TOOL_MAX_TOKENS, "{tokens}: {pair:?}");
            assert!(
                pair[1].starts_with("search_everything(*, parameter_number_0"),
                "{pair:?}"
            );
        }
    }

    #[test]
    fn long_signatures_drop_optional_parameters_first() {
        let c = catalog(
            "git",
            json!([{"name": "git_log", "description": "Shows the commit logs",
            "inputSchema": {"type": "object", "required": ["repo_path"], "properties": {
                "repo_path": {"type": "string"},
                "max_count": {"type": "integer", "default": 10},
                "start_timestamp": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
                "end_timestamp": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
                "an_optional_parameter_with_a_very_long_name_indeed_number_one": {"type": "string", "default": "a long default value that takes many tokens to write out"},
                "an_optional_parameter_with_a_very_long_name_indeed_number_two": {"type": "string", "default": "another long default value that takes many tokens"}
            }}}]),
        );
        let line = &entry("git", &c.tools[0])[1];
        assert!(
            line.starts_with("git_log(*, repo_path: str, max_count: int = 10")
                && line.contains(", ...) -> Any  # Shows the commit logs"),
            "{line}"
        );
    }
}
