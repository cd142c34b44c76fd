//! Tool results turned into plain data for the kernel: `structuredContent` as is, text
//! as a string, several contents as a list, images and other binary content saved in the
//! workspace and passed as a small marker, and results over `large_result_bytes` written
//! to the workspace and passed as a handle, so neither the channel nor the event log
//! carries the blob. Every file goes through the workspace's confined handle.

use base64::Engine;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::hostcall::HostCallError;
use crate::sandbox::confined::ConfinedDir;

/// Where results and binary content are saved, relative to the workspace.
pub const RESULTS_DIR: &str = ".mcpr/results";

pub struct Results {
    workspace: PathBuf,
    pub large_result_bytes: usize,
    saved: AtomicU64,
}

impl Results {
    pub fn new(workspace: PathBuf, large_result_bytes: usize) -> Results {
        Results {
            workspace,
            large_result_bytes,
            saved: AtomicU64::new(0),
        }
    }

    /// A `CallToolResult` as the kernel gets it; `isError` becomes a `tool_error`.
    pub fn convert(&self, server: &str, tool: &str, result: Value) -> Result<Value, HostCallError> {
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
        ConfinedDir::open(&self.workspace)?.write(rel, bytes, 0o644)
    }
}
