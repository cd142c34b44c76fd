//! The host side of the skill analyser: runs `analyze.py` with the resolved interpreter
//! (`-I`, parse-only: it reads code with `ast` and never executes it) and speaks JSON
//! with it over stdin/stdout.

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
}

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
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| SkillError::Analyzer(format!("unexpected answer: {e}")))
    }
}
