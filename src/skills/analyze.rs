//! The host side of the skill analyser: runs `analyze.py` with the resolved interpreter
//! (`-I`, parse-only: it reads code with `ast` and never executes it) and speaks JSON
//! with it over stdin/stdout. A failure of the analyser reaches the user as one line
//! (the last line of its stderr), never as a traceback.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::SkillError;
use crate::python::PythonInfo;

const ANALYZER: &str = include_str!("analyze.py");

/// One file as the analyser read it.
#[derive(Debug, Clone, Deserialize)]
pub struct Scanned {
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub doc: String,
    #[serde(default)]
    pub signature: String,
    #[serde(default)]
    pub hash: String,
    /// The MCP tools the file calls, as `server.tool`.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// A parameter of a generated `run`.
#[derive(Debug, Clone, Deserialize)]
pub struct Param {
    pub name: String,
    pub annotation: String,
    pub default: Value,
}

/// What the analyser made of a step's code.
#[derive(Debug, Clone, Deserialize)]
pub struct Extracted {
    pub keep: bool,
    /// Why the code was not kept.
    #[serde(default)]
    pub why: Option<String>,
    /// The module's code (without the header docstring).
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub signature: String,
    #[serde(default)]
    pub params: Vec<Param>,
    /// The arguments of the step the code came from, by parameter name.
    #[serde(default)]
    pub args: serde_json::Map<String, Value>,
    #[serde(default)]
    pub hash: String,
    /// The MCP tools the module calls, as `server.tool`.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// The longest analyser message passed on: a line, not a traceback.
const MAX_MESSAGE: usize = 300;

pub struct Analyzer<'a> {
    python: &'a PythonInfo,
}

impl<'a> Analyzer<'a> {
    pub fn new(python: &'a PythonInfo) -> Self {
        Self { python }
    }

    /// Parses skill files: docstring, `run` signature and normalised AST hash, or the
    /// parse error. One answer per file, in order.
    pub fn scan(&self, files: &[(&Path, &str)]) -> Result<Vec<Scanned>, SkillError> {
        let files: Vec<Value> = files
            .iter()
            .map(|(path, source)| json!({"path": path.display().to_string(), "source": source}))
            .collect();
        let n = files.len();
        let out: Vec<Scanned> = self.ask(&json!({"op": "scan", "files": files}))?;
        if out.len() != n {
            return Err(SkillError::Analyzer(format!(
                "answered for {} of {n} files",
                out.len()
            )));
        }
        Ok(out)
    }

    /// The skills each code imports (`from skills.x import ...`, `import skills.x`).
    pub fn imports(&self, codes: &[&str]) -> Result<Vec<Vec<String>>, SkillError> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        self.ask(&json!({"op": "imports", "codes": codes}))
    }

    /// Turns a step's code into a skill module, or says why it is not worth keeping.
    pub fn extract(&self, code: &str, task: &str) -> Result<Extracted, SkillError> {
        self.ask(&json!({"op": "extract", "code": code, "task": task}))
    }

    fn ask<T: DeserializeOwned>(&self, request: &Value) -> Result<T, SkillError> {
        let mut child = Command::new(&self.python.executable)
            .args(["-I", "-B", "-c", ANALYZER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .env("PYTHONIOENCODING", "utf-8")
            .spawn()
            .map_err(|e| {
                SkillError::Analyzer(format!(
                    "could not start {}: {e}",
                    self.python.executable.display()
                ))
            })?;
        let body = serde_json::to_vec(request).map_err(|e| SkillError::Analyzer(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A write error shows up below as a failed exit with the interpreter's stderr.
            let _ = stdin.write_all(&body);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| SkillError::Analyzer(e.to_string()))?;
        if !out.status.success() {
            return Err(SkillError::Analyzer(format!(
                "{} ({}): {}",
                self.python.executable.display(),
                out.status,
                last_line(&String::from_utf8_lossy(&out.stderr))
            )));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| SkillError::Analyzer(format!("unexpected answer: {e}")))
    }
}

/// The line that says what went wrong (a traceback's last), cut to [`MAX_MESSAGE`].
fn last_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no message on stderr");
    if line.chars().count() <= MAX_MESSAGE {
        return line.to_string();
    }
    let cut: String = line.chars().take(MAX_MESSAGE - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::last_line;

    #[test]
    fn a_traceback_becomes_its_last_line() {
        let traceback = format!(
            "Traceback (most recent call last):\n{}RecursionError: maximum recursion depth exceeded\n\n",
            "  File \"analyze.py\", line 368, in visit_arg\n".repeat(500)
        );
        assert_eq!(
            last_line(&traceback),
            "RecursionError: maximum recursion depth exceeded"
        );
        assert_eq!(last_line(""), "no message on stderr");
        assert_eq!(last_line(&"é".repeat(1000)).chars().count(), 300);
    }
}
