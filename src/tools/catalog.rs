//! What tools each server offers, cached between sessions, and ranked search over them.
//!
//! A catalog is the server's tool list (names, descriptions, JSON Schemas) as last seen.
//! It is cached per server configuration under the user cache folder so a new session
//! can write `tools/<server>.py` without starting the server. Search runs SQLite FTS5
//! (BM25, Porter stemming) over tool names, descriptions, parameter names and
//! descriptions, with a small thesaurus for the words tool users swap most.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use super::config::{ServerConfig, Transport};

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Server name as configured.
    pub server: String,
    /// Python module name: `tools.<module>`.
    pub module: String,
    pub tools: Vec<ToolInfo>,
}

impl Catalog {
    /// Builds a catalog from the server's `tools/list` answer (as JSON tool objects).
    pub fn from_tools(server: &ServerConfig, tools: &[Value]) -> Catalog {
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
                    name,
                })
            })
            .collect();
        Catalog {
            server: server.name.clone(),
            module: server.module.clone(),
            tools,
        }
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

    pub fn load_cached(server: &ServerConfig) -> Option<Catalog> {
        let text = std::fs::read_to_string(Catalog::cache_path(server)?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Saves the catalog for later sessions; a failure only costs a server start later.
    pub fn store(&self, server: &ServerConfig) {
        let Some(path) = Catalog::cache_path(server) else {
            return;
        };
        if let Some(dir) = path.parent()
            && std::fs::create_dir_all(dir).is_ok()
            && let Ok(text) = serde_json::to_string(self)
        {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    }
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub server: String,
    pub module: String,
    pub tool: String,
    pub function: String,
    pub description: String,
    pub score: f64,
}

/// Words tool users swap for one another; a query word also matches its partners.
const THESAURUS: &[&[&str]] = &[
    &["history", "log", "logs"],
    &["delete", "remove", "rm", "drop"],
    &["find", "search", "lookup", "query"],
    &["get", "fetch", "read", "retrieve", "show"],
    &["create", "add", "new", "make", "insert"],
    &["update", "edit", "modify", "change"],
    &["list", "enumerate", "all"],
    &["time", "clock", "date", "datetime"],
    &["weather", "forecast", "temperature"],
    &["calculate", "compute", "math", "arithmetic", "evaluate"],
];

/// Ranks tools across catalogs for `query`; best first.
pub fn search(
    catalogs: &[Catalog],
    query: &str,
    limit: usize,
) -> Result<Vec<Hit>, rusqlite::Error> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let db = Connection::open_in_memory()?;
    db.execute_batch(
        "CREATE VIRTUAL TABLE tools USING fts5(name, description, params, server, tokenize = 'porter unicode61');",
    )?;
    let mut rows: Vec<(&Catalog, &ToolInfo)> = Vec::new();
    {
        let mut insert = db.prepare("INSERT INTO tools (rowid, name, description, params, server) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for catalog in catalogs {
            for tool in &catalog.tools {
                rows.push((catalog, tool));
                insert.execute(rusqlite::params![
                    rows.len() as i64,
                    tool.name.replace(['_', '-', '.'], " "),
                    tool.description,
                    param_text(&tool.input_schema),
                    catalog.server,
                ])?;
            }
        }
    }
    let mut terms: Vec<String> = Vec::new();
    for word in &words {
        let partners = THESAURUS
            .iter()
            .find(|group| group.contains(&word.as_str()))
            .map(|g| g.to_vec())
            .unwrap_or_else(|| vec![word.as_str()]);
        for p in partners {
            let quoted = format!("\"{}\"", p.replace('"', ""));
            if !terms.contains(&quoted) {
                terms.push(quoted);
            }
        }
    }
    // A name hit counts most, then the description, then parameters and the server.
    let mut stmt = db.prepare(
        "SELECT rowid, bm25(tools, 10.0, 4.0, 1.5, 2.0) AS score FROM tools WHERE tools MATCH ?1 ORDER BY score LIMIT ?2",
    )?;
    let hits = stmt
        .query_map(rusqlite::params![terms.join(" OR "), limit as i64], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
        })?
        .filter_map(Result::ok)
        .filter_map(|(rowid, score)| {
            let (catalog, tool) = rows.get((rowid - 1) as usize)?;
            Some(Hit {
                server: catalog.server.clone(),
                module: catalog.module.clone(),
                tool: tool.name.clone(),
                function: tool.function.clone(),
                description: first_line(&tool.description),
                score: -score,
            })
        })
        .collect();
    Ok(hits)
}

fn param_text(schema: &Value) -> String {
    let mut text = String::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            text.push_str(&name.replace('_', " "));
            text.push(' ');
            if let Some(d) = prop.get("description").and_then(Value::as_str) {
                text.push_str(d);
                text.push(' ');
            }
        }
    }
    text
}

pub fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog(server: &str, tools: Value) -> Catalog {
        let config = ServerConfig {
            name: server.into(),
            module: server.into(),
            transport: Transport::Http {
                url: "http://x".into(),
                headers: Default::default(),
            },
        };
        Catalog::from_tools(&config, tools.as_array().unwrap())
    }

    #[test]
    fn search_ranks_by_name_and_description() {
        let git = catalog(
            "git",
            json!([
                {"name": "git_commit", "description": "Records changes to the repository", "inputSchema": {"properties": {"message": {"type": "string"}}}},
                {"name": "git_log", "description": "Shows the commit logs", "inputSchema": {"properties": {"max_count": {"type": "integer"}}}},
                {"name": "git_status", "description": "Shows the working tree status", "inputSchema": {}}
            ]),
        );
        let time = catalog(
            "time",
            json!([{"name": "get_current_time", "description": "Get current time in a specific timezone"}]),
        );
        let hits = search(&[git.clone(), time.clone()], "commit history", 5).unwrap();
        assert_eq!(hits[0].tool, "git_log", "{hits:?}");
        let hits = search(&[git, time], "what time is it", 5).unwrap();
        assert_eq!(hits[0].tool, "get_current_time", "{hits:?}");
    }

    #[test]
    fn clashing_function_names_are_made_unique() {
        let c = catalog("s", json!([{"name": "a-b"}, {"name": "a_b"}]));
        assert_eq!(c.tools[0].function, "a_b");
        assert_eq!(c.tools[1].function, "a_b_");
    }
}
