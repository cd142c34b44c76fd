//! `ask_llm(prompt, data)` from running code: answered by the session's provider, within
//! per-step limits on calls and tokens. Answers are text and are never run as code (a
//! depth of one). Every exchange is recorded for the step's events.

use serde_json::Value;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::event::{Event, LlmPurpose};
use crate::hostcall::{HostCallError, HostCalls};
use crate::llm::{ChatMessage, Provider};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AskLimits {
    /// `ask_llm` calls allowed in one step.
    pub max_calls_per_step: u32,
    /// Prompt plus completion tokens `ask_llm` may use in one step.
    pub max_tokens_per_step: u64,
}

impl Default for AskLimits {
    fn default() -> Self {
        Self {
            max_calls_per_step: 50,
            max_tokens_per_step: 200_000,
        }
    }
}

const ASK_SYSTEM: &str = "You are called from a program to judge or extract from data. Answer with the answer only: no code, no preamble, no markdown unless asked.";

pub struct AskState {
    provider: Arc<dyn Provider>,
    limits: AskLimits,
    step: AtomicU64,
    calls: AtomicU32,
    tokens: AtomicU64,
    records: Mutex<Vec<Event>>,
}

impl AskState {
    pub fn new(provider: Arc<dyn Provider>, limits: AskLimits) -> Arc<AskState> {
        Arc::new(AskState {
            provider,
            limits,
            step: AtomicU64::new(0),
            calls: AtomicU32::new(0),
            tokens: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
        })
    }

    /// Resets the per-step budget.
    pub fn begin_step(&self, step: u64) {
        self.step.store(step, Ordering::SeqCst);
        self.calls.store(0, Ordering::SeqCst);
        self.tokens.store(0, Ordering::SeqCst);
    }

    /// The exchanges recorded since the last drain, as events.
    pub fn drain(&self) -> Vec<Event> {
        self.records
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    pub fn register(self: &Arc<Self>, calls: &mut HostCalls) {
        let state = self.clone();
        calls.register("ask_llm", move |args: Value| {
            let state = state.clone();
            async move { state.ask(args).await }
        });
    }

    async fn ask(&self, args: Value) -> Result<Value, HostCallError> {
        let prompt = args
            .get("prompt")
            .and_then(Value::as_str)
            .ok_or_else(|| HostCallError::bad_args("ask_llm needs a string prompt"))?;
        let data = args.get("data").and_then(Value::as_str);
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.limits.max_calls_per_step {
            return Err(HostCallError::new(
                "limit",
                format!(
                    "ask_llm was called more than {} times in this step (agent.ask_llm_max_calls in mcpr.toml); batch items into fewer calls",
                    self.limits.max_calls_per_step
                ),
            ));
        }
        let user = match data {
            Some(d) => format!("{prompt}\n\nData:\n{d}"),
            None => prompt.to_string(),
        };
        let messages = vec![ChatMessage::system(ASK_SYSTEM), ChatMessage::user(user)];
        let estimate = messages
            .iter()
            .map(|m| crate::tokens::count(&m.content) as u64)
            .sum::<u64>();
        let used = self.tokens.load(Ordering::SeqCst);
        if used + estimate > self.limits.max_tokens_per_step {
            return Err(HostCallError::new(
                "limit",
                format!(
                    "ask_llm would exceed this step's token budget ({used} used + about {estimate} for this prompt > {}; agent.ask_llm_max_tokens in mcpr.toml); send less data per call",
                    self.limits.max_tokens_per_step
                ),
            ));
        }
        let started = Instant::now();
        let step = self.step.load(Ordering::SeqCst);
        let result = self.provider.complete(&messages, &mut |_| {}).await;
        let record = match &result {
            Ok(r) => {
                self.tokens.fetch_add(
                    r.usage.prompt_tokens + r.usage.completion_tokens,
                    Ordering::SeqCst,
                );
                Event::LlmCall {
                    step,
                    purpose: LlmPurpose::AskLlm,
                    provider: self.provider.kind().into(),
                    model: r.model.clone(),
                    request: messages.clone(),
                    response: r.content.clone(),
                    usage: r.usage,
                    duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                    attempts: r.attempts,
                }
            }
            Err(e) => Event::LlmFailed {
                step,
                purpose: LlmPurpose::AskLlm,
                message: e.to_string(),
            },
        };
        if let Ok(mut r) = self.records.lock() {
            r.push(record);
        }
        match result {
            Ok(r) => Ok(Value::String(r.content)),
            Err(e) => Err(HostCallError::new("llm_failed", e.to_string())),
        }
    }

    /// Tokens `ask_llm` used in this step.
    pub fn tokens_used(&self) -> u64 {
        self.tokens.load(Ordering::SeqCst)
    }
}
