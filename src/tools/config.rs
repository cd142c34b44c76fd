//! MCP server configuration in the format users already have: an `mcpServers` object as
//! in Claude Desktop, Cursor or `.mcp.json`.
//!
//! Lookup: `--mcp-config FILE`, else `.mcp.json` in the current directory, else in the
//! project root, else `~/.config/mcpr/mcp.json`. `${VAR}` and `${VAR:-default}` are
//! taken from the host environment when the file is loaded; the values stay on the host
//! (they are listed by [`McpConfig::secret_values`] so records and logs can redact them)
//! and never reach the sandbox. This module only reads and validates; it starts nothing.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const PROJECT_FILE: &str = ".mcp.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking MCP over stdio.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    /// A streamable-HTTP endpoint.
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The name as written in the file.
    pub name: String,
    /// The Python identifier it becomes: `tools.<module>`.
    pub module: String,
    pub transport: Transport,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpConfig {
    /// The file the configuration came from; None when there is none.
    pub source: Option<PathBuf>,
    pub servers: Vec<ServerConfig>,
    /// Things worth telling the user that are not errors (e.g. ignored keys).
    pub warnings: Vec<String>,
    secrets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read MCP config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("MCP config {path} is not valid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("MCP config {path}: {message}")]
    Shape { path: PathBuf, message: String },
    #[error("MCP config {path}, server {server:?}: {message}")]
    Server {
        path: PathBuf,
        server: String,
        message: String,
    },
}

/// Keys other tools write into server entries; accepted and ignored without a warning.
const FOREIGN_KEYS: &[&str] = &[
    "disabled",
    "alwaysAllow",
    "autoApprove",
    "timeout",
    "description",
];

impl McpConfig {
    /// Finds and loads the configuration; `explicit` is `--mcp-config`.
    pub fn discover(
        explicit: Option<&Path>,
        cwd: &Path,
        project_root: &Path,
    ) -> Result<McpConfig, ConfigError> {
        if let Some(path) = explicit {
            return McpConfig::load(path);
        }
        let user = dirs::config_dir().map(|d| d.join("mcpr").join("mcp.json"));
        let candidates = [
            Some(cwd.join(PROJECT_FILE)),
            Some(project_root.join(PROJECT_FILE)),
            user,
        ];
        match candidates.into_iter().flatten().find(|p| p.is_file()) {
            Some(path) => McpConfig::load(&path),
            None => Ok(McpConfig::default()),
        }
    }

    pub fn load(path: &Path) -> Result<McpConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        McpConfig::parse(&text, path, &|name| std::env::var(name).ok())
    }

    /// Parses `text` (named `path` in errors), taking `${VAR}` values from `env`.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<McpConfig, ConfigError> {
        let shape = |message: String| ConfigError::Shape {
            path: path.to_path_buf(),
            message,
        };
        let root: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let servers = root
            .get("mcpServers")
            .ok_or_else(|| shape("no \"mcpServers\" object at the top level".into()))?
            .as_object()
            .ok_or_else(|| shape("\"mcpServers\" must be an object of name → server".into()))?;
        let mut config = McpConfig {
            source: Some(path.to_path_buf()),
            ..McpConfig::default()
        };
        let mut modules: BTreeMap<String, String> = BTreeMap::new();
        for (name, entry) in servers {
            let err = |message: String| ConfigError::Server {
                path: path.to_path_buf(),
                server: name.clone(),
                message,
            };
            let entry = entry
                .as_object()
                .ok_or_else(|| err("must be an object with \"command\" or \"url\"".into()))?;
            if entry.get("disabled").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            // `${VAR}` values are secrets; so are whole env and header values.
            let secrets = &mut config.secrets;
            let mut expand_as = |field: &str, value: &str, whole_is_secret: bool| {
                let out =
                    expand_vars(value, env, secrets).map_err(|m| err(format!("{field}: {m}")))?;
                if whole_is_secret {
                    secrets.push(out.clone());
                }
                Ok::<String, ConfigError>(out)
            };
            let transport = match (entry.get("command"), entry.get("url")) {
                (Some(_), Some(_)) => {
                    return Err(err("has both \"command\" and \"url\"; give one".into()));
                }
                (None, None) => {
                    return Err(err(
                        "needs \"command\" (a program to start) or \"url\" (an HTTP endpoint)"
                            .into(),
                    ));
                }
                (Some(command), None) => {
                    let command = command
                        .as_str()
                        .filter(|c| !c.trim().is_empty())
                        .ok_or_else(|| err("\"command\" must be a non-empty string".into()))?;
                    let command = expand_as("command", command, false)?;
                    let args = string_list(entry, "args").map_err(&err)?;
                    let args = args
                        .iter()
                        .map(|a| expand_as("args", a, false))
                        .collect::<Result<_, _>>()?;
                    let mut env_out = BTreeMap::new();
                    for (k, v) in string_map(entry, "env").map_err(&err)? {
                        let value = expand_as(&format!("env.{k}"), &v, true)?;
                        env_out.insert(k, value);
                    }
                    let cwd = match entry.get("cwd") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(c)) => Some(PathBuf::from(expand_as("cwd", c, false)?)),
                        Some(_) => return Err(err("\"cwd\" must be a string".into())),
                    };
                    Transport::Stdio {
                        command,
                        args,
                        env: env_out,
                        cwd,
                    }
                }
                (None, Some(url)) => {
                    let url = url
                        .as_str()
                        .ok_or_else(|| err("\"url\" must be a string".into()))?;
                    let url = expand_as("url", url, false)?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(err(format!(
                            "\"url\" must start with http:// or https://, got {url:?}"
                        )));
                    }
                    if entry.get("type").and_then(Value::as_str) == Some("sse") {
                        return Err(err(
                            "the legacy SSE transport is not supported; use the server's streamable-HTTP endpoint".into(),
                        ));
                    }
                    let mut headers = BTreeMap::new();
                    for (k, v) in string_map(entry, "headers").map_err(&err)? {
                        let value = expand_as(&format!("headers.{k}"), &v, true)?;
                        headers.insert(k, value);
                    }
                    Transport::Http { url, headers }
                }
            };
            for key in entry.keys() {
                let known = ["command", "args", "env", "cwd", "url", "headers", "type"];
                if !known.contains(&key.as_str()) && !FOREIGN_KEYS.contains(&key.as_str()) {
                    config
                        .warnings
                        .push(format!("server {name:?}: ignoring unknown key {key:?}"));
                }
            }
            let module = module_name(name);
            if let Some(other) = modules.insert(module.clone(), name.clone()) {
                return Err(err(format!(
                    "its module name tools.{module} clashes with server {other:?}; rename one of them"
                )));
            }
            config.servers.push(ServerConfig {
                name: name.clone(),
                module,
                transport,
            });
        }
        config.secrets.retain(|s| s.len() >= 4);
        config.secrets.sort();
        config.secrets.dedup();
        Ok(config)
    }

    pub fn server(&self, name_or_module: &str) -> Option<&ServerConfig> {
        self.servers
            .iter()
            .find(|s| s.name == name_or_module || s.module == name_or_module)
    }

    /// Values taken from the host for this configuration (env values, headers, `${VAR}`
    /// expansions): never to be written to the sandbox, logs or records.
    pub fn secret_values(&self) -> &[String] {
        &self.secrets
    }
}

fn string_list(entry: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("\"{key}\" must hold only strings, found {v}"))
            })
            .collect(),
        Some(other) => Err(format!(
            "\"{key}\" must be a list of strings, found {other}"
        )),
    }
}

fn string_map(entry: &Map<String, Value>, key: &str) -> Result<Vec<(String, String)>, String> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                other => Err(format!("\"{key}.{k}\" must be a string, found {other}")),
            })
            .collect(),
        Some(other) => Err(format!(
            "\"{key}\" must be an object of strings, found {other}"
        )),
    }
}

/// Replaces `${VAR}` and `${VAR:-default}`; records every substituted value.
fn expand_vars(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    taken: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed \"${{\" in {text:?}"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            return Err(format!(
                "\"${{{inner}}}\" is not a valid variable reference"
            ));
        }
        let value = match (env(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(format!(
                    "${{{name}}} is not set in the environment; export it or write ${{{name}:-default}}"
                ));
            }
        };
        taken.push(value.clone());
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The Python identifier for a server name: lower-case, `[a-z0-9_]`, not a keyword,
/// not starting with a digit.
pub fn module_name(name: &str) -> String {
    let mut m: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if m.is_empty() || m.as_bytes()[0].is_ascii_digit() {
        m.insert(0, '_');
    }
    const KEYWORDS: &[&str] = &[
        "false", "none", "true", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    if KEYWORDS.contains(&m.as_str()) {
        m.push('_');
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "GITHUB_TOKEN" => Some("ghp-secret-value".into()),
            "HOME_DIR" => Some("/home/u".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<McpConfig, ConfigError> {
        McpConfig::parse(text, Path::new("/p/.mcp.json"), &env)
    }

    #[test]
    fn reads_stdio_and_http_servers_with_expansion() {
        let c = parse(
            r#"{"mcpServers": {
                "git": {"command": "uvx", "args": ["mcp-server-git", "--repository", "${HOME_DIR}/repo"],
                        "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}, "cwd": "/tmp", "alwaysAllow": []},
                "remote-api": {"url": "https://example.test/mcp", "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}},
                "off": {"command": "nope", "disabled": true}
            }}"#,
        )
        .unwrap();
        assert_eq!(c.servers.len(), 2);
        let git = c.server("git").unwrap();
        let Transport::Stdio { args, env, cwd, .. } = &git.transport else {
            panic!()
        };
        assert_eq!(args[2], "/home/u/repo");
        assert_eq!(env["GITHUB_TOKEN"], "ghp-secret-value");
        assert_eq!(cwd.as_deref(), Some(Path::new("/tmp")));
        let remote = c.server("remote_api").expect("found by module name");
        assert_eq!(remote.name, "remote-api");
        assert!(c.secret_values().contains(&"ghp-secret-value".to_string()));
        assert!(
            c.secret_values()
                .contains(&"Bearer ghp-secret-value".to_string())
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn errors_name_the_file_the_server_and_the_problem() {
        let cases = [
            (
                r#"{"mcpServers": {"a": {"command": "x", "url": "http://y"}}}"#,
                "server \"a\": has both",
            ),
            (r#"{"mcpServers": {"a": {}}}"#, "needs \"command\""),
            (
                r#"{"mcpServers": {"a": {"command": "x", "args": "--flag"}}}"#,
                "\"args\" must be a list",
            ),
            (
                r#"{"mcpServers": {"a": {"command": "x", "env": {"T": "${MISSING}"}}}}"#,
                "${MISSING} is not set",
            ),
            (
                r#"{"mcpServers": {"a": {"url": "ftp://x"}}}"#,
                "must start with http",
            ),
            (
                r#"{"mcpServers": {"a-b": {"command": "x"}, "a_b": {"command": "y"}}}"#,
                "clashes with server",
            ),
            (r#"{"servers": {}}"#, "no \"mcpServers\""),
            ("{\"mcpServers\": {", "not valid JSON"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains("/p/.mcp.json"), "{err}");
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let c = parse(r#"{"mcpServers": {"t": {"command": "x", "args": ["${NOPE:-fallback}"], "colour": "red"}}}"#).unwrap();
        let Transport::Stdio { args, .. } = &c.servers[0].transport else {
            panic!()
        };
        assert_eq!(args, &["fallback"]);
        assert_eq!(
            c.warnings,
            vec!["server \"t\": ignoring unknown key \"colour\"".to_string()]
        );
    }

    #[test]
    fn module_names_are_python_identifiers() {
        assert_eq!(module_name("my-server"), "my_server");
        assert_eq!(module_name("Git"), "git");
        assert_eq!(module_name("1password"), "_1password");
        assert_eq!(module_name("import"), "import_");
        assert_eq!(module_name("ünï"), "_n_");
    }

    #[test]
    fn discovery_prefers_explicit_then_cwd_then_project() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            r#"{"mcpServers": {"root": {"command": "a"}}}"#,
        )
        .unwrap();
        let c = McpConfig::discover(None, &sub, dir.path()).unwrap();
        assert_eq!(c.servers[0].name, "root");
        std::fs::write(
            sub.join(PROJECT_FILE),
            r#"{"mcpServers": {"here": {"command": "a"}}}"#,
        )
        .unwrap();
        assert_eq!(
            McpConfig::discover(None, &sub, dir.path()).unwrap().servers[0].name,
            "here"
        );
        let other = dir.path().join("other.json");
        std::fs::write(&other, r#"{"mcpServers": {}}"#).unwrap();
        assert!(
            McpConfig::discover(Some(&other), &sub, dir.path())
                .unwrap()
                .servers
                .is_empty()
        );
    }
}
