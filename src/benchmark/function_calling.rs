//! The `json` arm: the classic function-calling loop. The same MCP tools the code arm
//! imports are offered to the model as OpenAI `tools` schemas; each turn the model makes
//! one call (or answers), the call goes through the same `ToolHub` and its result comes
//! back as a `tool` message. Same provider code as the agent (native tool calls, with
//! the fenced-JSON fallback), same turn and token limits.

use serde_json::Value;
use std::sync::Arc;

use super::arms::ArmRun;
use crate::llm::openai::OpenAiProvider;
use crate::llm::tool_calls::{ToolCall, ToolSchema, TurnMessage};
use crate::tools::hub::ToolHub;

/// Limits both model arms share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Model calls for one task: the code arm's attempts, the json arm's turns.
    pub max_turns: u32,
}

/// The body both model arms' system prompts end with, word for word: what a good answer
/// is, whatever the way of calling tools.
pub const SHARED_BODY: &str = "Get every fact the task asks about from the tools, and never state a result they did not give you. If a call fails, read the error and try again, corrected. When you have the answer, give it plainly and completely: every value the task asks for.";

/// How the json arm calls tools (the code arm's agent prompt says how it does).
pub const JSON_MECHANICS: &str = "You complete tasks by calling the tools you are given, one call per turn; each call's result comes back to you. When you have the answer, reply in plain words, without a tool call.";

/// The json arm's system prompt: its mechanics, then the shared body.
pub fn json_system_prompt() -> String {
    format!("{JSON_MECHANICS}\n\n{SHARED_BODY}")
}

/// Bytes of one tool result shown to the model (head and tail), as the code arm's
/// output excerpt is bounded.
pub const RESULT_EXCERPT_BYTES: usize = 16 * 1024;

/// A tool as the model sees it and where it lives.
#[derive(Debug, Clone)]
pub struct OfferedTool {
    pub schema: ToolSchema,
    pub server: String,
    pub tool: String,
}

/// Every tool of every configured server; names clash-free (`server_tool` on a clash).
pub async fn offered_tools(hub: &Arc<ToolHub>) -> Result<Vec<OfferedTool>, String> {
    let mut out: Vec<OfferedTool> = Vec::new();
    for server in hub.config().servers.iter().map(|s| s.name.clone()) {
        let catalog = hub
            .catalog(&server)
            .await
            .map_err(|e| format!("the {server} server's tools: {}", e.message))?;
        for t in catalog.tools {
            out.push(OfferedTool {
                schema: ToolSchema {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.input_schema.clone(),
                },
                server: server.clone(),
                tool: t.name,
            });
        }
    }
    let names: Vec<String> = out.iter().map(|t| t.schema.name.clone()).collect();
    for t in &mut out {
        if names.iter().filter(|n| **n == t.schema.name).count() > 1 {
            t.schema.name = format!("{}_{}", t.server, t.tool);
        }
    }
    Ok(out)
}

/// Runs the loop for `task` until the model answers without a call or the turns run out.
pub async fn run(
    provider: &OpenAiProvider,
    hub: &Arc<ToolHub>,
    task: &str,
    limits: &Limits,
) -> ArmRun {
    let mut out = ArmRun::default();
    let tools = match offered_tools(hub).await {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let schemas: Vec<ToolSchema> = tools.iter().map(|t| t.schema.clone()).collect();
    let mut messages = vec![
        TurnMessage::System {
            content: json_system_prompt(),
        },
        TurnMessage::User {
            content: task.to_string(),
        },
    ];
    let mut answered = false;
    for _ in 0..limits.max_turns.max(1) {
        let turn = match provider.complete_with_tools(&messages, &schemas).await {
            Ok(t) => t,
            Err(e) => {
                out.errors.push(e.to_string());
                return out;
            }
        };
        out.model_calls += 1;
        out.prompt_tokens += turn.usage.prompt_tokens;
        out.completion_tokens += turn.usage.completion_tokens;
        out.model = turn.model.clone();
        let Some(call) = turn.calls.first().cloned() else {
            out.answer = turn.content;
            answered = true;
            break;
        };
        // One call per turn: the first runs; the model is told the rest did not.
        let skipped = turn.calls.len() - 1;
        messages.push(TurnMessage::Assistant {
            content: if turn.fallback {
                String::new()
            } else {
                turn.content
            },
            calls: vec![call.clone()],
        });
        let mut result = match execute(hub, &tools, &call).await {
            Ok(text) => {
                out.tool_calls += 1;
                text
            }
            Err(e) => {
                out.retries += 1;
                out.errors.push(e.clone());
                format!("error: {e}")
            }
        };
        if skipped > 0 {
            result.push_str(&format!(
                "\n(only the first call of a turn runs: {skipped} more call(s) were not made; make them one per turn)"
            ));
        }
        messages.push(TurnMessage::Tool {
            call_id: call.id,
            content: result,
        });
    }
    if !answered {
        out.errors.push(format!(
            "no final answer within {} turns",
            limits.max_turns.max(1)
        ));
    }
    out
}

/// Runs one call; Err is what the model is told went wrong.
async fn execute(
    hub: &Arc<ToolHub>,
    tools: &[OfferedTool],
    call: &ToolCall,
) -> Result<String, String> {
    let Some(tool) = tools.iter().find(|t| t.schema.name == call.name) else {
        let known: Vec<&str> = tools.iter().map(|t| t.schema.name.as_str()).collect();
        return Err(format!(
            "there is no tool named {:?}; the tools are: {}",
            call.name,
            known.join(", ")
        ));
    };
    let args: Value = if call.arguments.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(&call.arguments).map_err(|e| {
            format!(
                "the arguments of {} are not valid JSON ({e}): {}; send a JSON object",
                call.name, call.arguments
            )
        })?
    };
    if !args.is_object() {
        return Err(format!(
            "the arguments of {} must be a JSON object, not {args}",
            call.name
        ));
    }
    let reply = hub
        .call(&tool.server, &tool.tool, args)
        .await
        .map_err(|e| format!("{} failed: {}", call.name, e.message))?;
    let text = match &reply.value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(crate::agent::prompt::excerpt(&text, RESULT_EXCERPT_BYTES))
}
