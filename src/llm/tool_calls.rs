//! Function calling over the chat-completions API: the conversation of a tool-calling
//! loop (assistant turns carrying tool calls, tool results answering them), the tools as
//! OpenAI `tools` schemas, and the fenced-JSON fallback.
//!
//! Small local models often answer a tools request with the call written as a ```json
//! block in the text instead of as a native `tool_calls` entry (llama.cpp turns that
//! form into native calls only with the adjusted template of
//! examples/qwen2.5-fenced-tool-calls.jinja). [`fenced_calls`] reads such a block, so the
//! loop works with either kind of server. This module never runs a tool.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Usage;

/// One message of a function-calling conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum TurnMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        calls: Vec<ToolCall>,
    },
    Tool {
        call_id: String,
        content: String,
    },
}

/// A call the model asked for: the tool's name and its arguments as the model wrote them
/// (JSON text that may be malformed: the loop, not the provider, decides what to do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool as offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSchema {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// The model's answer to one function-calling request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolTurn {
    /// Text of the answer (the final answer when there are no calls).
    pub content: String,
    pub calls: Vec<ToolCall>,
    /// True when the calls were read from a fenced JSON block in the text.
    pub fallback: bool,
    pub model: String,
    pub usage: Usage,
    pub attempts: u32,
}

/// The request body's `messages` for a conversation.
pub fn request_messages(messages: &[TurnMessage]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| match m {
            TurnMessage::System { content } => json!({"role": "system", "content": content}),
            TurnMessage::User { content } => json!({"role": "user", "content": content}),
            TurnMessage::Assistant { content, calls } if calls.is_empty() => {
                json!({"role": "assistant", "content": content})
            }
            TurnMessage::Assistant { content, calls } => json!({
                "role": "assistant",
                "content": content,
                "tool_calls": calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })).collect::<Vec<_>>(),
            }),
            TurnMessage::Tool { call_id, content } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        })
        .collect()
}

/// The request body's `tools`.
pub fn request_tools(tools: &[ToolSchema]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            }})
        })
        .collect()
}

/// Tool calls written in the answer's text: ```json blocks (or a bare object) holding
/// `{"name": …, "arguments": {…}}`. Objects without a string `name` are not calls.
pub fn fenced_calls(content: &str) -> Vec<ToolCall> {
    let mut candidates: Vec<&str> = fenced_bodies(content);
    let trimmed = content.trim();
    if candidates.is_empty() && trimmed.starts_with('{') {
        candidates.push(trimmed);
    }
    let mut calls = Vec::new();
    for body in candidates {
        let Ok(value) = serde_json::from_str::<Value>(body.trim()) else {
            continue;
        };
        let Some(name) = value.get("name").and_then(Value::as_str) else {
            continue;
        };
        let arguments = match value.get("arguments").or_else(|| value.get("parameters")) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => "{}".to_string(),
        };
        calls.push(ToolCall {
            id: format!("call_fenced_{}", calls.len()),
            name: name.to_string(),
            arguments,
        });
    }
    calls
}

/// Bodies of ``` blocks tagged json (or untagged).
fn fenced_bodies(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(line_end) = after.find('\n') else {
            break;
        };
        let tag = after[..line_end].trim().to_ascii_lowercase();
        let body_start = &after[line_end + 1..];
        let (body, next) = match body_start.find("```") {
            Some(end) => (&body_start[..end], &body_start[end + 3..]),
            None => (body_start, ""),
        };
        if tag.is_empty() || tag == "json" {
            out.push(body);
        }
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_json_calls_are_read_and_prose_is_not() {
        let text = "I will call it.\n```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```";
        let calls = fenced_calls(text);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, r#"{"city":"Paris"}"#);
        assert!(fenced_calls("The answer is 18 degrees.").is_empty());
        assert!(fenced_calls("```python\nprint(1)\n```").is_empty());
        assert!(fenced_calls("```json\n{\"city\": \"Paris\"}\n```").is_empty());
        let bare = fenced_calls("{\"name\": \"list_notes\"}");
        assert_eq!(bare[0].arguments, "{}");
    }

    #[test]
    fn tool_messages_carry_their_call_ids() {
        let messages = request_messages(&[
            TurnMessage::Assistant {
                content: String::new(),
                calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "t".into(),
                    arguments: "{}".into(),
                }],
            },
            TurnMessage::Tool {
                call_id: "c1".into(),
                content: "ok".into(),
            },
        ]);
        assert_eq!(messages[0]["tool_calls"][0]["function"]["name"], "t");
        assert_eq!(messages[1]["tool_call_id"], "c1");
    }
}
