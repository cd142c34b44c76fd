//! The agent loop: a task in plain words becomes code that runs in the session's kernel,
//! with the model fixing its own errors, and code can call the model back (`ask_llm`).
//!
//! One step: build the prompt (fixed part, relevant tools, context description, earlier
//! steps), ask the model (streaming), take the code from its answer, run it; on an error
//! send the traceback and bounded output back and try again, up to `max_attempts`. An
//! answer without code ends the step as the final answer. Everything is reported as
//! events; the agent keeps no state the events do not show.

pub mod ask;
pub mod extract;
pub mod prompt;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use crate::event::{CellStatus, Event, LlmPurpose, StepSummary};
use crate::llm::{ChatMessage, Provider};
use crate::sandbox::confined::ConfinedDir;
use crate::session::Session;
use crate::tools::hub::ToolHub;
use ask::AskState;
use tokio_util::sync::CancellationToken;

/// The `[agent]` section of mcpr.toml.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Tries per step (the first and its fixes).
    pub max_attempts: u32,
    /// Bytes of a run's output shown back to the model (head and tail).
    pub output_excerpt_bytes: usize,
    /// Earlier steps kept in the prompt.
    pub history_steps: usize,
    /// Tools named in the prompt, by relevance to the task.
    pub tools_in_prompt: usize,
    /// Skills named in the prompt, by relevance to the task.
    pub skills_in_prompt: usize,
    pub ask_llm_max_calls: u32,
    pub ask_llm_max_tokens: u64,
    /// When the model answers without code, ask once more for code that computes the
    /// answer; a step that still ends without code is then not a success. Off for
    /// chat-like use, where a plain answer is the point.
    pub require_code: bool,
    /// A paragraph ending the system prompt (the benchmark's body shared by its arms);
    /// not a setting of mcpr.toml.
    #[serde(skip)]
    pub system_note: Option<String>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            output_excerpt_bytes: 2000,
            history_steps: 5,
            tools_in_prompt: 5,
            skills_in_prompt: 5,
            ask_llm_max_calls: 50,
            ask_llm_max_tokens: 200_000,
            require_code: true,
            system_note: None,
        }
    }
}

/// The input given with `--context`: where it is and what the prompt may say about it.
#[derive(Debug, Clone)]
pub struct ContextInput {
    /// Path relative to the workspace.
    pub rel_path: PathBuf,
    pub description: String,
}

impl ContextInput {
    /// Copies `file` into the workspace and describes it by size and kind only. A copy,
    /// never a hard link: the sandboxed code owns the workspace, and a link would hand it
    /// the user's own file to change (and the host's chown of the workspace would give
    /// that file away).
    pub fn install(file: &Path, workspace: &Path) -> std::io::Result<ContextInput> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "context".into());
        let rel = PathBuf::from("context").join(&name);
        let mut source = std::fs::File::open(file)?;
        let mut size = 0;
        ConfinedDir::open(workspace)?.write_with(&rel, 0o644, |dest| {
            size = std::io::copy(&mut source, dest)?;
            Ok(())
        })?;
        let kind = sniff_kind(file);
        Ok(ContextInput {
            rel_path: rel,
            description: format!("{} of {kind}", human_size(size)),
        })
    }

    fn kind_word(&self) -> &str {
        self.description.split(" of ").nth(1).unwrap_or("text")
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

fn sniff_kind(path: &Path) -> String {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let start = head[..n].iter().find(|b| !b.is_ascii_whitespace()).copied();
    match (ext.as_str(), start) {
        ("json", _) | (_, Some(b'{' | b'[')) => "JSON text".into(),
        ("jsonl" | "ndjson", _) => "JSON Lines text".into(),
        ("csv", _) => "CSV text".into(),
        ("tsv", _) => "TSV text".into(),
        ("md", _) => "Markdown text".into(),
        _ if std::str::from_utf8(&head[..n]).is_ok() => "text".into(),
        _ => "binary data".into(),
    }
}

/// Where the agent gets reusable code from, and where it hands code that ran. The
/// skill library implements it; without one the agent simply has no skills.
pub trait SkillSource: Send + Sync {
    /// Prompt lines for the skills most relevant to `task`, at most `k`, best first.
    fn relevant(&self, task: &str, k: usize) -> Vec<String>;
    /// Called when a step ends (before `StepFinished`), whether or not it succeeded:
    /// counts the skills its code imported and may keep the code as a new skill.
    fn step_finished<'a>(&'a self, step: FinishedStep<'a>) -> SkillFuture<'a>;
}

pub type SkillFuture<'a> = Pin<Box<dyn Future<Output = SkillReport> + Send + 'a>>;

/// A finished step as the skill source sees it.
pub struct FinishedStep<'a> {
    pub session: &'a str,
    pub step: u64,
    pub task: &'a str,
    /// The model that wrote the code.
    pub model: &'a str,
    /// The code of each attempt that ran, and whether it ran without error.
    pub runs: &'a [(String, bool)],
    pub summary: &'a StepSummary,
}

/// What the skill source did with a step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SkillReport {
    /// Skills the step's code imported.
    pub used: Vec<String>,
    /// Skills made from the step's code.
    pub created: Vec<String>,
    /// Why the step's code was not kept, when it was considered.
    pub not_kept: Option<String>,
}

/// What the model is told when it answered without code and code is required.
const CODE_PLEASE: &str = "Your answer ran no code, so nothing checked it. Answer with Python that computes the answer (use the tools and data; print the result) instead of answering from memory.";

fn count_llm_call(summary: &mut StepSummary, event: &Event) {
    if let Event::LlmCall { usage, .. } = event {
        summary.llm_calls += 1;
        summary.prompt_tokens += usage.prompt_tokens;
        summary.completion_tokens += usage.completion_tokens;
    }
}

pub struct Agent {
    provider: Arc<dyn Provider>,
    session: Session,
    hub: Option<Arc<ToolHub>>,
    settings: AgentSettings,
    ask: Arc<AskState>,
    context: Option<ContextInput>,
    history: Vec<(String, Option<String>, String)>,
    step: u64,
    skills: Option<Arc<dyn SkillSource>>,
}

impl Agent {
    /// Wraps a started session. `ask` must be registered on the session's host calls.
    pub async fn new(
        provider: Arc<dyn Provider>,
        mut session: Session,
        ask: Arc<AskState>,
        hub: Option<Arc<ToolHub>>,
        settings: AgentSettings,
        context: Option<ContextInput>,
    ) -> Result<Agent, crate::session::StartupFailed> {
        let mut startup = String::from(
            "import builtins as _b, mcpr as _m\n_b.ask_llm = _m.ask_llm\n_b.ask_llm_async = _m.ask_llm_async\n",
        );
        if let Some(c) = &context {
            startup.push_str(&format!(
                "_b.CONTEXT_DATA = _m.ContextData({:?}, {:?})\n",
                c.rel_path.to_string_lossy(),
                c.kind_word()
            ));
        }
        startup.push_str("del _b, _m\n");
        session.set_startup_code(startup).await.map_err(|e| {
            crate::session::StartupFailed(format!(
                "could not prepare the kernel for the agent: {e}"
            ))
        })?;
        Ok(Agent {
            provider,
            session,
            hub,
            settings,
            ask,
            context,
            history: Vec::new(),
            step: 0,
            skills: None,
        })
    }

    /// Lets the agent use (and feed) a skill library.
    pub fn with_skills(mut self, skills: Arc<dyn SkillSource>) -> Agent {
        self.skills = Some(skills);
        self
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Continues after earlier steps (restored from the record): their tasks, code and
    /// results become the prompt's history, and the next step gets the id `next_step`.
    pub fn continue_after(
        &mut self,
        earlier: Vec<(String, Option<String>, String)>,
        next_step: u64,
    ) {
        let keep = earlier.len().saturating_sub(self.settings.history_steps);
        self.history = earlier.into_iter().skip(keep).collect();
        self.step = next_step.saturating_sub(1);
    }

    /// Makes the next step's id `id` (ids come from the session record).
    pub fn set_next_step(&mut self, id: u64) {
        self.step = id.saturating_sub(1);
    }

    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    /// Runs one task to the end.
    pub async fn run_step(
        &mut self,
        task: &str,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> StepSummary {
        self.run_step_with(task, &CancellationToken::new(), sink)
            .await
    }

    /// Runs one task until it ends or `cancel` fires. Cancelling stops the model's answer
    /// where it is, or interrupts the running cell (and with it any tool or `ask_llm`
    /// call it waits for); the step then ends `cancelled`, and the session stays usable
    /// for the next step.
    pub async fn run_step_with(
        &mut self,
        task: &str,
        cancel: &CancellationToken,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> StepSummary {
        self.step += 1;
        let step = self.step;
        self.ask.begin_step(step);
        sink(Event::StepStarted {
            step,
            task: task.to_string(),
        });
        // The tools the prompt names for the task, and notices about servers left out (a
        // clone of the hub: the agent itself is not shared across the await).
        let tools = match self.hub.clone() {
            Some(hub) => {
                crate::tools::suggest::suggest(&hub, task, self.settings.tools_in_prompt).await
            }
            None => Default::default(),
        };
        for message in tools.notices {
            sink(Event::Notice {
                step,
                level: crate::event::NoticeLevel::Warning,
                message,
            });
        }
        // The library's search reads SQLite: off the async threads.
        let skills = match self.skills.clone() {
            Some(source) if self.settings.skills_in_prompt > 0 => {
                let (task, k) = (task.to_string(), self.settings.skills_in_prompt);
                tokio::task::spawn_blocking(move || source.relevant(&task, k))
                    .await
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let with_tools = self
            .hub
            .as_ref()
            .is_some_and(|h| !h.config().servers.is_empty());
        let keep = self
            .history
            .len()
            .saturating_sub(self.settings.history_steps);
        let mut messages = prompt::build(&prompt::PromptParts {
            tool_instructions: with_tools.then_some(crate::tools::instructions::TOOL_INSTRUCTIONS),
            relevant_tools: &tools.lines,
            relevant_skills: &skills,
            context: self.context.as_ref().map(|c| c.description.as_str()),
            history: &self.history[keep..],
            note: self.settings.system_note.as_deref(),
            task,
        });
        let mut summary = StepSummary {
            step,
            success: false,
            answer: None,
            output: String::new(),
            error: None,
            attempts: 0,
            llm_calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            llm_ms: 0.0,
            exec_ms: 0.0,
            skills_used: Vec::new(),
            skills_created: Vec::new(),
            skill_not_kept: None,
            answered_without_code: false,
            cancelled: false,
        };
        let mut last_code = None;
        let mut runs: Vec<(String, bool)> = Vec::new();
        let mut model = self.provider.model();
        let mut nudged = false;
        while summary.attempts < self.settings.max_attempts.max(1) {
            if cancel.is_cancelled() {
                summary.cancelled = true;
                break;
            }
            summary.attempts += 1;
            let started = Instant::now();
            let provider = self.provider.clone();
            let mut on_token = |t: &str| {
                sink(Event::LlmToken {
                    step,
                    text: t.to_string(),
                })
            };
            let answer = provider.complete(&messages, &mut on_token);
            let result = tokio::select! {
                result = answer => result,
                () = cancel.cancelled() => {
                    summary.llm_ms += started.elapsed().as_secs_f64() * 1000.0;
                    summary.cancelled = true;
                    break;
                }
            };
            summary.llm_ms += started.elapsed().as_secs_f64() * 1000.0;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    sink(Event::LlmFailed {
                        step,
                        purpose: LlmPurpose::Code,
                        message: e.to_string(),
                    });
                    summary.error = Some(e.to_string());
                    break;
                }
            };
            summary.llm_calls += 1;
            model = response.model.clone();
            summary.prompt_tokens += response.usage.prompt_tokens;
            summary.completion_tokens += response.usage.completion_tokens;
            sink(Event::LlmCall {
                step,
                purpose: LlmPurpose::Code,
                provider: self.provider.kind().into(),
                model: response.model.clone(),
                request: messages.clone(),
                response: response.content.clone(),
                usage: response.usage,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                attempts: response.attempts,
            });
            let Some(code) = extract::extract_code(&response.content) else {
                if runs.is_empty() && self.settings.require_code && !nudged {
                    // An answer no code computed is often a guess: ask once for code. The
                    // nudge does not use up an attempt.
                    nudged = true;
                    summary.attempts -= 1;
                    messages.push(ChatMessage::assistant(response.content));
                    messages.push(ChatMessage::user(CODE_PLEASE.to_string()));
                    continue;
                }
                summary.answer = Some(response.content.trim().to_string());
                if runs.is_empty() {
                    summary.answered_without_code = true;
                    summary.success = !self.settings.require_code;
                    summary.error = self.settings.require_code.then(|| {
                        "the model answered without code, twice; nothing computed the answer"
                            .to_string()
                    });
                }
                // Otherwise the last code attempt failed (a success ends the loop), and
                // the step keeps its status and error: giving up in words is no success.
                break;
            };
            sink(Event::CodeGenerated {
                step,
                attempt: summary.attempts,
                code: code.clone(),
            });
            let (status, output, error) = self.run_code(&code, cancel, sink, &mut summary).await;
            last_code = Some(code.clone());
            runs.push((code.clone(), status.is_success()));
            summary.output = prompt::excerpt(&output, self.settings.output_excerpt_bytes);
            if status.is_success() {
                summary.success = true;
                summary.error = None;
                break;
            }
            if status == CellStatus::Cancelled || cancel.is_cancelled() {
                summary.cancelled = true;
                break;
            }
            let error = error.unwrap_or_else(|| format!("the run ended with status {status:?}"));
            summary.error = Some(error.clone());
            messages.push(ChatMessage::assistant(response.content));
            messages.push(ChatMessage::user(format!(
                "The code failed:\n{}\nOutput before the failure:\n{}\nFix it: answer with the corrected code.",
                prompt::excerpt(&error, self.settings.output_excerpt_bytes),
                if output.is_empty() { "(none)".to_string() } else { summary.output.clone() }
            )));
        }
        if summary.cancelled {
            summary.success = false;
            summary.error = Some("the step was cancelled".to_string());
        }
        for e in self.ask.drain() {
            count_llm_call(&mut summary, &e);
            sink(e);
        }
        let remembered = summary
            .answer
            .clone()
            .unwrap_or_else(|| summary.output.clone());
        let code = if summary.answer.is_some() {
            None
        } else {
            last_code
        };
        if let Some(skills) = &self.skills {
            let report = skills
                .step_finished(FinishedStep {
                    session: self.session.name(),
                    step,
                    task,
                    model: &model,
                    runs: &runs,
                    summary: &summary,
                })
                .await;
            summary.skills_used = report.used;
            summary.skills_created = report.created;
            summary.skill_not_kept = report.not_kept;
        }
        self.history.push((
            task.to_string(),
            code,
            prompt::excerpt(&remembered, self.settings.output_excerpt_bytes),
        ));
        sink(Event::StepFinished(summary.clone()));
        summary
    }

    /// Runs code; returns status, everything printed (value included), and the error text.
    async fn run_code(
        &mut self,
        code: &str,
        cancel: &CancellationToken,
        sink: &mut (dyn FnMut(Event) + Send),
        summary: &mut StepSummary,
    ) -> (CellStatus, String, Option<String>) {
        let started = Instant::now();
        let mut opts = self.session.cell_options();
        opts.cancel = cancel.child_token();
        let mut output = String::new();
        let mut error = None;
        let ask = self.ask.clone();
        let status = self
            .session
            .run_cell_with(code, &opts, &mut |e| {
                match &e {
                    // The model sees both streams, as a person at a terminal would.
                    Event::Output { text, .. } => output.push_str(text),
                    Event::Value { repr, .. } => {
                        output.push_str(repr);
                        output.push('\n');
                    }
                    Event::Error {
                        ename,
                        message,
                        traceback,
                        ..
                    } => {
                        error = Some(if traceback.trim().is_empty() {
                            format!("{ename}: {message}")
                        } else {
                            traceback.clone()
                        });
                    }
                    _ => {}
                }
                sink(e);
                // ask_llm exchanges show up as they finish, next to the call that made them.
                for record in ask.drain() {
                    count_llm_call(summary, &record);
                    sink(record);
                }
            })
            .await;
        summary.exec_ms += started.elapsed().as_secs_f64() * 1000.0;
        (status, output, error)
    }

    pub async fn close(self) {
        self.session.close().await;
        if let Some(hub) = self.hub {
            hub.shutdown().await;
        }
    }
}
