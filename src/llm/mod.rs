//! Language-model providers behind one small trait.
//!
//! `openai` speaks the chat-completions API through async-openai to any compatible
//! endpoint (OpenAI, Azure, Ollama, vLLM, llama.cpp, LM Studio). `script` serves canned
//! responses from a file and `manual` takes what the user types, so mcpr works without
//! any account. [`select`] decides which to use and says why. Providers never see the
//! kernel; they only turn messages into text.

pub mod offline;
pub mod openai;
pub mod select;
pub mod tool_calls;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when the server did not report usage and mcpr counted the tokens itself.
    pub estimated: bool,
}

impl Usage {
    /// Counts the tokens of an exchange (o200k_base), for servers that report none.
    pub fn estimate(messages: &[ChatMessage], answer: &str) -> Usage {
        // A few tokens of framing per message, as chat templates add.
        let prompt = messages
            .iter()
            .map(|m| crate::tokens::count(&m.content) as u64 + 4)
            .sum();
        Usage {
            prompt_tokens: prompt,
            completion_tokens: crate::tokens::count(answer) as u64,
            estimated: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResponse {
    pub content: String,
    pub model: String,
    pub usage: Usage,
    /// Attempts made, retries included.
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error(
        "the LLM endpoint {endpoint} refused the API key (HTTP 401): set the right key in the OPENAI_API_KEY environment variable (mcpr reads the key from there only, never from a flag or mcpr.toml)"
    )]
    BadKey { endpoint: String },
    #[error(
        "the LLM endpoint {endpoint} does not know model {model:?}: {message}. Pick one with --model (list them at {endpoint}/models)"
    )]
    UnknownModel {
        endpoint: String,
        model: String,
        message: String,
    },
    #[error(
        "the LLM endpoint {endpoint} is unreachable: {message}. Is the server running? Set --base-url or OPENAI_BASE_URL"
    )]
    Unreachable { endpoint: String, message: String },
    #[error("the LLM endpoint {endpoint} failed after {attempts} attempts: {message}")]
    GaveUp {
        endpoint: String,
        attempts: u32,
        message: String,
    },
    #[error("the LLM endpoint {endpoint} rejected the request: {message}")]
    Rejected { endpoint: String, message: String },
    #[error("{0}")]
    Offline(String),
}

pub type LlmFuture<'a> = Pin<Box<dyn Future<Output = Result<LlmResponse, LlmError>> + Send + 'a>>;

/// Streams tokens to `on_token` as they arrive and returns the whole answer.
pub trait Provider: Send + Sync {
    /// "openai", "script", "manual", …
    fn kind(&self) -> &'static str;
    /// The model (or file, for offline providers) answering.
    fn model(&self) -> String;
    fn complete<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> LlmFuture<'a>;
}
