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
            Ok(typed_answer(messages, content, on_token))
        })
    }
}

/// The response made of code the user typed as the model's answer.
pub fn typed_answer(
    messages: &[ChatMessage],
    content: String,
    on_token: &mut (dyn FnMut(&str) + Send),
) -> LlmResponse {
    on_token(&content);
    LlmResponse {
        usage: Usage::estimate(messages, &content),
        content,
        model: "you".into(),
        attempts: 1,
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
    drop(err);
    read_code()
}

/// Reads code typed on stdin up to a line holding only `.` (or the end of input).
pub fn read_code() -> std::io::Result<String> {
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

/// Serves the exchanges of an earlier session, in order, without asking any model. A
/// request that differs from the recorded one is a divergence, reported rather than
/// answered, so a replay never silently drifts from what happened.
pub struct RecordedProvider {
    kind_of_original: String,
    exchanges: Mutex<std::collections::VecDeque<(Vec<ChatMessage>, LlmResponse)>>,
    served: Mutex<usize>,
}

impl RecordedProvider {
    pub fn new(
        original_kind: impl Into<String>,
        exchanges: Vec<(Vec<ChatMessage>, LlmResponse)>,
    ) -> RecordedProvider {
        RecordedProvider {
            kind_of_original: original_kind.into(),
            exchanges: Mutex::new(exchanges.into()),
            served: Mutex::new(0),
        }
    }

    /// The provider that originally answered (for display).
    pub fn original_kind(&self) -> &str {
        &self.kind_of_original
    }
}

impl Provider for RecordedProvider {
    fn kind(&self) -> &'static str {
        "recorded"
    }

    fn model(&self) -> String {
        format!("recorded {}", self.kind_of_original)
    }

    fn complete<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> LlmFuture<'a> {
        Box::pin(async move {
            let poisoned = || LlmError::Offline("recorded exchanges poisoned".into());
            let mut served = self.served.lock().map_err(|_| poisoned())?;
            let next = self.exchanges.lock().map_err(|_| poisoned())?.pop_front();
            let Some((request, response)) = next else {
                return Err(LlmError::Offline(format!(
                    "divergence: the record has no LLM exchange after the {} served",
                    *served
                )));
            };
            if request != messages {
                let at = request
                    .iter()
                    .zip(messages)
                    .position(|(a, b)| a != b)
                    .unwrap_or(request.len().min(messages.len()));
                return Err(LlmError::Offline(format!(
                    "divergence at LLM exchange {}: message {at} differs from the record (recorded {} messages, asked with {})",
                    *served + 1,
                    request.len(),
                    messages.len()
                )));
            }
            *served += 1;
            on_token(&response.content);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scripts_split_on_separator_lines_and_run_out_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.txt");
        std::fs::write(&path, "one\n%%%\n```python\nx = 1\n```\n").unwrap();
        let p = ScriptProvider::load(&path).unwrap();
        let m = [ChatMessage::user("hi")];
        assert_eq!(p.complete(&m, &mut |_| {}).await.unwrap().content, "one");
        assert_eq!(
            p.complete(&m, &mut |_| {}).await.unwrap().content,
            "```python\nx = 1\n```"
        );
        let err = p.complete(&m, &mut |_| {}).await.unwrap_err().to_string();
        assert!(err.contains("no response left (all 2 were used)"), "{err}");
    }

    #[tokio::test]
    async fn recorded_exchanges_replay_and_divergence_is_reported() {
        let asked = vec![ChatMessage::user("task")];
        let answer = LlmResponse {
            content: "42".into(),
            model: "m".into(),
            usage: Usage::default(),
            attempts: 1,
        };
        let p = RecordedProvider::new("openai", vec![(asked.clone(), answer.clone())]);
        assert_eq!(p.complete(&asked, &mut |_| {}).await.unwrap(), answer);
        let p = RecordedProvider::new("openai", vec![(asked, answer)]);
        let err = p
            .complete(&[ChatMessage::user("other task")], &mut |_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("divergence at LLM exchange 1: message 0 differs"),
            "{err}"
        );
    }
}
