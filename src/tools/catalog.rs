//! What tools each server offers, as last seen, cached between sessions.
//!
//! A catalog is the server's tool list (names, descriptions, JSON Schemas, annotations) and
//! the server's name and version from its handshake. It is cached per server configuration
//! under the user cache folder so a new session can write `tools/<server>.py` without
//! starting the server; [`Catalog::changes_since`] says what a fresh list changed, so the
//! hub can tell the user. Searching catalogs is [`super::search`]'s job.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use super::config::{ServerConfig, Transport};

/// Bumped when the cached file's shape changes; files of another format are not read (so
/// a server cached before annotations were kept is listed again).
const CACHE_FORMAT: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// The tool's name on its server.
    pub name: String,
    /// The Python function it becomes in `tools.<module>`.
    pub function: String,
    pub description: String,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The server's hints about what the tool does; None when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
}

/// MCP tool annotations (`Tool.annotations`): hints from the server, not guarantees. The
/// tool policy ([`super::policy`]) classifies tools by them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool does not change its environment (MCP default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// A tool that changes things may destroy (true) or only adds (false); MCP default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling it again with the same arguments changes nothing more (MCP default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// It reaches outside entities, e.g. the web (MCP default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// The annotations of a `tools/list` tool object, field by field: a malformed hint is
    /// left out rather than losing the others. None when the tool has no annotations.
    pub fn from_tool_json(tool: &Value) -> Option<ToolAnnotations> {
        let a = tool.get("annotations")?.as_object()?;
        let hint = |key: &str| a.get(key).and_then(Value::as_bool);
        Some(ToolAnnotations {
            title: a.get("title").and_then(Value::as_str).map(str::to_string),
            read_only_hint: hint("readOnlyHint"),
            destructive_hint: hint("destructiveHint"),
            idempotent_hint: hint("idempotentHint"),
            open_world_hint: hint("openWorldHint"),
        })
    }

    /// The hints in words, e.g. "read-only, idempotent, closed world"; empty when none.
    pub fn describe(&self) -> String {
        let flag = |v: Option<bool>, yes: &'static str, no: &'static str| {
            v.map(|v| if v { yes } else { no })
        };
        [
            flag(self.read_only_hint, "read-only", "not read-only"),
            flag(self.destructive_hint, "destructive", "additive"),
            flag(self.idempotent_hint, "idempotent", "not idempotent"),
            flag(self.open_world_hint, "open world", "closed world"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Server name as configured.
    pub server: String,
    /// Python module name: `tools.<module>`.
    pub module: String,
    pub tools: Vec<ToolInfo>,
    /// The server's version from its handshake (`serverInfo.version`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
}

/// What changed between two catalogs of one server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Tools whose description or schemas changed.
    pub changed: Vec<String>,
    /// The server's version before and after, when it changed.
    pub version: Option<(String, String)>,
}

impl CatalogChange {
    /// True when the tools themselves are the same (the version may still differ).
    pub fn same_tools(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl std::fmt::Display for CatalogChange {
    /// E.g. "added gamma; removed beta; changed alpha".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what} {}", names.join(", ")))
        .collect();
        if parts.is_empty() {
            f.write_str("the same tools")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// The cache file: the catalog and the format it was written in.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    #[serde(flatten)]
    catalog: Catalog,
}

impl Catalog {
    /// Builds a catalog from the server's `tools/list` answer (as JSON tool objects) and
    /// the version it reported in its handshake.
    pub fn from_tools(
        server: &ServerConfig,
        tools: &[Value],
        server_version: Option<String>,
    ) -> Catalog {
        let mut taken: Vec<String> = Vec::new();
        let tools = tools
            .iter()
            .filter_map(|t| {
                let name = t.get("name")?.as_str()?.to_string();
                let mut function = super::config::module_name(&name);
                while taken.contains(&function) {
                    function.push('_');
                }
                taken.push(function.clone());
                Some(ToolInfo {
                    function,
                    description: t
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                    input_schema: t
                        .get("inputSchema")
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                    output_schema: t.get("outputSchema").cloned(),
                    annotations: ToolAnnotations::from_tool_json(t),
                    name,
                })
            })
            .collect();
        Catalog {
            server: server.name.clone(),
            module: server.module.clone(),
            tools,
            server_version,
        }
    }

    /// What `self` changed against `earlier`; None when nothing did.
    pub fn changes_since(&self, earlier: &Catalog) -> Option<CatalogChange> {
        let names =
            |c: &Catalog| -> Vec<String> { c.tools.iter().map(|t| t.name.clone()).collect() };
        let (now, before) = (names(self), names(earlier));
        let change = CatalogChange {
            added: now
                .iter()
                .filter(|n| !before.contains(n))
                .cloned()
                .collect(),
            removed: before
                .iter()
                .filter(|n| !now.contains(n))
                .cloned()
                .collect(),
            changed: self
                .tools
                .iter()
                .filter(|t| earlier.tool(&t.name).is_some_and(|old| old != *t))
                .map(|t| t.name.clone())
                .collect(),
            version: match (&earlier.server_version, &self.server_version) {
                (Some(old), Some(new)) if old != new => Some((old.clone(), new.clone())),
                _ => None,
            },
        };
        (change != CatalogChange::default()).then_some(change)
    }

    pub fn tool(&self, name: &str) -> Option<&ToolInfo> {
        self.tools
            .iter()
            .find(|t| t.name == name || t.function == name)
    }

    /// Where this server's catalog is cached.
    pub fn cache_path(server: &ServerConfig) -> Option<PathBuf> {
        let mut h = std::hash::DefaultHasher::new();
        server.name.hash(&mut h);
        // The launch identity, without env values or headers (they are secrets).
        match &server.transport {
            Transport::Stdio {
                command, args, cwd, ..
            } => (command, args, cwd).hash(&mut h),
            Transport::Http { url, .. } => url.hash(&mut h),
        }
        let dir = dirs::cache_dir()?.join("mcpr").join("tools");
        Some(dir.join(format!("{}-{:016x}.json", server.module, h.finish())))
    }

    /// The cached catalog, unless there is none or it was written in another format.
    pub fn load_cached(server: &ServerConfig) -> Option<Catalog> {
        let text = std::fs::read_to_string(Catalog::cache_path(server)?).ok()?;
        let file: CacheFile = serde_json::from_str(&text).ok()?;
        (file.format == CACHE_FORMAT).then_some(file.catalog)
    }

    /// Saves the catalog for later sessions; a failure only costs a server start later.
    pub fn store(&self, server: &ServerConfig) {
        let Some(path) = Catalog::cache_path(server) else {
            return;
        };
        if let Some(dir) = path.parent()
            && std::fs::create_dir_all(dir).is_ok()
            && let Ok(text) = serde_json::to_string(&CacheFile {
                format: CACHE_FORMAT,
                catalog: self.clone(),
            })
        {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    }
}

pub fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A catalog of `tools` (MCP tool JSON) for a server reached over HTTP, for unit tests.
#[cfg(test)]
pub(crate) fn test_catalog(server: &str, tools: Value, version: Option<&str>) -> Catalog {
    let config = ServerConfig {
        name: server.into(),
        module: server.into(),
        transport: super::config::Transport::Http {
            url: "http://x".into(),
            headers: Default::default(),
        },
    };
    let tools = tools.as_array().cloned().unwrap_or_default();
    Catalog::from_tools(&config, &tools, version.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog(server: &str, tools: Value) -> Catalog {
        test_catalog(server, tools, Some("s 1.0"))
    }

    #[test]
    fn clashing_function_names_are_made_unique() {
        let c = catalog("s", json!([{"name": "a-b"}, {"name": "a_b"}]));
        assert_eq!(c.tools[0].function, "a_b");
        assert_eq!(c.tools[1].function, "a_b_");
    }

    #[test]
    fn annotations_are_kept_and_a_malformed_hint_loses_only_itself() {
        let c = catalog(
            "s",
            json!([
                {"name": "a", "annotations": {"title": "A", "readOnlyHint": true, "openWorldHint": false}},
                {"name": "b", "annotations": {"destructiveHint": "yes", "idempotentHint": true}},
                {"name": "c"},
            ]),
        );
        let a = c.tools[0].annotations.clone().unwrap();
        assert_eq!(a.title.as_deref(), Some("A"));
        assert_eq!(a.describe(), "read-only, closed world");
        let b = c.tools[1].annotations.clone().unwrap();
        assert_eq!((b.destructive_hint, b.idempotent_hint), (None, Some(true)));
        assert_eq!(c.tools[2].annotations, None);
        // Kept through the cache file's JSON, in MCP's spelling.
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"readOnlyHint\":true"), "{text}");
        assert_eq!(serde_json::from_str::<Catalog>(&text).unwrap(), c);
        // A changed hint is a changed tool: the policy may now treat it otherwise.
        let mut later = c.clone();
        later.tools[0].annotations = Some(ToolAnnotations {
            read_only_hint: Some(false),
            ..a
        });
        assert_eq!(later.changes_since(&c).unwrap().changed, ["a"]);
    }

    #[test]
    fn changes_name_added_removed_and_changed_tools_and_the_version() {
        let old = catalog("s", json!([{"name": "a"}, {"name": "b"}]));
        let mut new = catalog(
            "s",
            json!([{"name": "a", "description": "now documented"}, {"name": "c"}]),
        );
        assert_eq!(old.changes_since(&old), None);
        new.server_version = Some("s 2.0".into());
        let change = new.changes_since(&old).unwrap();
        assert_eq!(change.to_string(), "added c; removed b; changed a");
        assert_eq!(change.version, Some(("s 1.0".into(), "s 2.0".into())));
        let mut same = old.clone();
        same.server_version = Some("s 1.1".into());
        assert!(same.changes_since(&old).unwrap().same_tools());
    }
}
