//! Providers that need no account: `script` serves canned responses from a file, in
//! order; `manual` takes what the user types as the model's answer (a REPL over the
//! same loop). A provider serving responses recorded in an earlier session fits the same
//! trait (the session record uses it).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{ChatMessage, LlmError, LlmFuture, LlmResponse, Provider, Usage};

/// The line that separates responses in a script file.
pub const SCRIPT_SEPARATOR: &str = "%%%";

pub struct ScriptProvider {
    path: PathBuf,
    responses: Mutex<std::collections::VecDeque<String>>,
    used: Mutex<usize>,
}

impl ScriptProvider {
    /// A `.json` file holds an array of strings; any other file holds responses separated
    /// by lines that are exactly `%%%`.
    pub fn load(path: &Path) -> Result<ScriptProvider, LlmError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::Offline(format!("cannot read script {}: {e}", path.display()))
        })?;
        let responses: Vec<String> = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| {
                LlmError::Offline(format!(
                    "script {} must be a JSON array of strings: {e}",
                    path.display()
                ))
            })?
        } else {
            let mut out = vec![String::new()];
            for line in text.split_inclusive('\n') {
                if line.trim_end_matches(['\n', '\r']) == SCRIPT_SEPARATOR {
                    out.push(String::new());
                } else if let Some(last) = out.last_mut() {
                    last.push_str(line);
                }
            }
            out.into_iter().map(|r| r.trim().to_string()).collect()
        };
        Ok(ScriptProvider {
            path: path.to_path_buf(),
            responses: Mutex::new(responses.into()),
            used: Mutex::new(0),
        })
    }
}

impl Provider for ScriptProvider {
    fn kind(&self) -> &'static str {
        "script"
    }

    fn model(&self) -> String {
        self.path.display().to_string()
    }

    fn complete<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> LlmFuture<'a> {
        Box::pin(async move {
            let next = self
                .responses
                .lock()
                .map_err(|_| LlmError::Offline("script state poisoned".into()))?
                .pop_front();
            let mut used = self
                .used
                .lock()
                .map_err(|_| LlmError::Offline("script state poisoned".into()))?;
            let Some(content) = next else {
                return Err(LlmError::Offline(format!(
                    "script {} has no response left (all {} were used); add more, separated by lines of {SCRIPT_SEPARATOR}",
                    self.path.display(),
                    *used
                )));
            };
            *used += 1;
            on_token(&content);
            Ok(LlmResponse {
                usage: Usage::estimate(messages, &content),
                content,
                model: self.model(),
                attempts: 1,
            })
        })
    }
}

/// The user is the model: the last message is shown and the typed code is the answer.
pub struct ManualProvider;

impl Provider for ManualProvider {
    fn kind(&self) -> &'static str {
        "manual"
    }

    fn model(&self) -> String {
        "you".into()
    }

    fn complete<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> LlmFuture<'a> {
        Box::pin(async move {
            let last = messages
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default();
            let content = tokio::task::spawn_blocking(move || read_answer(&last))
                .await
                .map_err(|e| LlmError::Offline(e.to_string()))?
                .map_err(|e| {
                    LlmError::Offline(format!("cannot read your answer from stdin: {e}"))
                })?;
            on_token(&content);
            Ok(LlmResponse {
                usage: Usage::estimate(messages, &content),
                content,
                model: "you".into(),
                attempts: 1,
            })
        })
    }
}

fn read_answer(prompt: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr().lock();
    let excerpt: String = prompt
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    writeln!(
        err,
        "\n--- the model's turn (manual mode) ---\n{excerpt}\n--- type Python code; end with a line holding only '.', or '.' alone to finish ---"
    )?;
    let stdin = std::io::stdin();
    let mut answer = String::new();
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim() == "." {
            break;
        }
        answer.push_str(&line);
        answer.push('\n');
    }
    Ok(answer)
}
