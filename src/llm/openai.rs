//! The `openai` provider: chat completions through async-openai against any
//! OpenAI-compatible endpoint, streaming, with clear errors for a bad key, an unknown model
//! or an unreachable server.
//!
//! Retries come in two layers, both bounded: async-openai retries 429, 5xx and connect
//! errors up to 3 times with exponential backoff (at most 8 s apart); this provider then
//! retries the whole request, up to `max_attempts`, for what remains (timeouts, malformed
//! or broken streams, and failures that outlasted the inner retries).

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessageArgs,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessageArgs,
    ChatCompletionRequestUserMessageArgs, ChatCompletionStreamOptions,
    CreateChatCompletionRequestArgs,
};
use std::time::Duration;
use tokio_stream::StreamExt;

use super::tool_calls::{self, ToolCall, ToolSchema, ToolTurn, TurnMessage};
use super::{ChatMessage, LlmError, LlmFuture, LlmResponse, Provider, Role, Usage};

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub max_attempts: u32,
    /// Per request, streaming included.
    pub timeout: Duration,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
}

impl OpenAiProvider {
    pub fn new(settings: OpenAiSettings) -> Result<OpenAiProvider, LlmError> {
        crate::tools::install_tls_provider();
        let mut config = OpenAIConfig::new().with_api_base(settings.base_url.trim_end_matches('/'));
        // Local servers ignore the key, but the header must not be empty for some.
        config = config.with_api_key(settings.api_key.clone().unwrap_or_else(|| "none".into()));
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LlmError::Rejected {
                endpoint: settings.base_url.clone(),
                message: e.to_string(),
            })?;
        Ok(OpenAiProvider {
            client: Client::with_config(config).with_http_client(http),
            settings,
        })
    }

    fn endpoint(&self) -> String {
        self.settings.base_url.clone()
    }

    /// One streamed request; Err(retryable?, error).
    async fn attempt(
        &self,
        messages: &[ChatMessage],
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(String, String, Option<Usage>), (bool, LlmError)> {
        let request =
            build_request(&self.settings, messages).map_err(|e| (false, self.classify(e).1))?;
        let mut stream = self
            .client
            .chat()
            .create_stream(request)
            .await
            .map_err(|e| self.classify(e))?;
        let mut content = String::new();
        let mut model = self.settings.model.clone();
        let mut usage = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                let (retry, err) = self.classify(e);
                // A stream that broke after tokens arrived is retried from the start.
                (retry || !content.is_empty(), err)
            })?;
            if !chunk.model.is_empty() {
                model = chunk.model.clone();
            }
            if let Some(u) = chunk.usage {
                usage = Some(Usage {
                    prompt_tokens: u.prompt_tokens as u64,
                    completion_tokens: u.completion_tokens as u64,
                    estimated: false,
                });
            }
            for choice in chunk.choices {
                if let Some(text) = choice.delta.content {
                    on_token(&text);
                    content.push_str(&text);
                }
            }
        }
        Ok((content, model, usage))
    }

    fn classify(&self, e: OpenAIError) -> (bool, LlmError) {
        let endpoint = self.endpoint();
        match e {
            OpenAIError::ApiError(resp) => {
                let status = resp.status_code.as_u16();
                let message = resp.api_error.message.clone();
                match status {
                    401 | 403 => (false, LlmError::BadKey { endpoint }),
                    404 => (
                        false,
                        LlmError::UnknownModel {
                            endpoint,
                            model: self.settings.model.clone(),
                            message,
                        },
                    ),
                    408 | 409 | 429 | 500..=599 => (
                        true,
                        LlmError::GaveUp {
                            endpoint,
                            attempts: 0,
                            message: format!("HTTP {status}: {message}"),
                        },
                    ),
                    _ if resp.api_error.code.as_deref() == Some("model_not_found") => (
                        false,
                        LlmError::UnknownModel {
                            endpoint,
                            model: self.settings.model.clone(),
                            message,
                        },
                    ),
                    _ => (
                        false,
                        LlmError::Rejected {
                            endpoint,
                            message: format!("HTTP {status}: {message}"),
                        },
                    ),
                }
            }
            OpenAIError::Reqwest(err) if err.is_connect() => (
                true,
                LlmError::Unreachable {
                    endpoint,
                    message: root_cause(&err),
                },
            ),
            OpenAIError::Reqwest(err) => (
                true,
                LlmError::GaveUp {
                    endpoint,
                    attempts: 0,
                    message: root_cause(&err),
                },
            ),
            OpenAIError::StreamError(err) => {
                let text = err.to_string();
                let status = text
                    .split_whitespace()
                    .find_map(|w| w.parse::<u16>().ok().filter(|s| (400..600).contains(s)));
                match status {
                    Some(401 | 403) => (false, LlmError::BadKey { endpoint }),
                    Some(404) => (
                        false,
                        LlmError::UnknownModel {
                            endpoint,
                            model: self.settings.model.clone(),
                            message: text,
                        },
                    ),
                    Some(s) if s < 500 && s != 429 && s != 408 => (
                        false,
                        LlmError::Rejected {
                            endpoint,
                            message: text,
                        },
                    ),
                    _ => (
                        true,
                        LlmError::GaveUp {
                            endpoint,
                            attempts: 0,
                            message: format!("stream failed: {text}"),
                        },
                    ),
                }
            }
            OpenAIError::JSONDeserialize(err, body) => (
                true,
                LlmError::GaveUp {
                    endpoint,
                    attempts: 0,
                    message: format!(
                        "malformed response ({err}): {}",
                        body.chars().take(200).collect::<String>()
                    ),
                },
            ),
            other => (
                false,
                LlmError::Rejected {
                    endpoint,
                    message: other.to_string(),
                },
            ),
        }
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn build_request(
    settings: &OpenAiSettings,
    messages: &[ChatMessage],
) -> Result<async_openai::types::chat::CreateChatCompletionRequest, OpenAIError> {
    let mut out: Vec<ChatCompletionRequestMessage> = Vec::with_capacity(messages.len());
    for m in messages {
        out.push(match m.role {
            Role::System => ChatCompletionRequestSystemMessageArgs::default()
                .content(m.content.as_str())
                .build()?
                .into(),
            Role::User => ChatCompletionRequestUserMessageArgs::default()
                .content(m.content.as_str())
                .build()?
                .into(),
            Role::Assistant => ChatCompletionRequestAssistantMessageArgs::default()
                .content(m.content.as_str())
                .build()?
                .into(),
        });
    }
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model(settings.model.as_str())
        .messages(out)
        .stream(true)
        .stream_options(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        });
    if let Some(t) = settings.temperature {
        args.temperature(t);
    }
    if let Some(n) = settings.max_tokens {
        args.max_completion_tokens(n);
    }
    args.build()
}

impl OpenAiProvider {
    /// One function-calling request (not streamed): the tools as `tools` schemas, one call
    /// per turn asked for; calls come back native or, failing that, read from a fenced
    /// JSON block in the text. Retried like [`Provider::complete`].
    pub async fn complete_with_tools(
        &self,
        messages: &[TurnMessage],
        tools: &[ToolSchema],
    ) -> Result<ToolTurn, LlmError> {
        let mut delay = Duration::from_millis(250);
        let max = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.tools_attempt(messages, tools).await {
                Ok(mut turn) => {
                    turn.attempts = attempt;
                    return Ok(turn);
                }
                Err((true, _)) if attempt < max => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                    attempt += 1;
                }
                Err((
                    _,
                    LlmError::GaveUp {
                        endpoint, message, ..
                    },
                )) => {
                    return Err(LlmError::GaveUp {
                        endpoint,
                        attempts: attempt,
                        message,
                    });
                }
                Err((_, err)) => return Err(err),
            }
        }
    }

    async fn tools_attempt(
        &self,
        messages: &[TurnMessage],
        tools: &[ToolSchema],
    ) -> Result<ToolTurn, (bool, LlmError)> {
        let mut body = serde_json::json!({
            "model": self.settings.model,
            "messages": tool_calls::request_messages(messages),
            "tools": tool_calls::request_tools(tools),
            "parallel_tool_calls": false,
        });
        if let Some(t) = self.settings.temperature {
            body["temperature"] = t.into();
        }
        if let Some(n) = self.settings.max_tokens {
            body["max_completion_tokens"] = n.into();
        }
        let request: async_openai::types::chat::CreateChatCompletionRequest =
            serde_json::from_value(body).map_err(|e| {
                (
                    false,
                    LlmError::Rejected {
                        endpoint: self.endpoint(),
                        message: format!("could not build the request: {e}"),
                    },
                )
            })?;
        let response = self
            .client
            .chat()
            .create(request)
            .await
            .map_err(|e| self.classify(e))?;
        let message = response.choices.into_iter().next().map(|c| c.message);
        let content = message
            .as_ref()
            .and_then(|m| m.content.clone())
            .unwrap_or_default();
        let mut calls: Vec<ToolCall> = message
            .and_then(|m| m.tool_calls)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => Some(ToolCall {
                    id: f.id,
                    name: f.function.name,
                    arguments: f.function.arguments,
                }),
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        let fallback = calls.is_empty() && {
            calls = tool_calls::fenced_calls(&content);
            !calls.is_empty()
        };
        let usage = match response.usage {
            Some(u) => Usage {
                prompt_tokens: u.prompt_tokens as u64,
                completion_tokens: u.completion_tokens as u64,
                estimated: false,
            },
            None => estimate_tool_usage(messages, tools, &content, &calls),
        };
        Ok(ToolTurn {
            content,
            calls,
            fallback,
            model: response.model,
            usage,
            attempts: 1,
        })
    }
}

/// Counts the tokens of a function-calling exchange, for servers that report none.
fn estimate_tool_usage(
    messages: &[TurnMessage],
    tools: &[ToolSchema],
    content: &str,
    calls: &[ToolCall],
) -> Usage {
    let prompt = serde_json::to_string(&tool_calls::request_messages(messages)).unwrap_or_default()
        + &serde_json::to_string(&tool_calls::request_tools(tools)).unwrap_or_default();
    let answer = format!(
        "{content}{}",
        serde_json::to_string(calls).unwrap_or_default()
    );
    Usage {
        prompt_tokens: crate::tokens::count(&prompt) as u64,
        completion_tokens: crate::tokens::count(&answer) as u64,
        estimated: true,
    }
}

impl Provider for OpenAiProvider {
    fn kind(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> String {
        self.settings.model.clone()
    }

    fn complete<'a>(
        &'a self,
        messages: &'a [ChatMessage],
        on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> LlmFuture<'a> {
        Box::pin(async move {
            let mut delay = Duration::from_millis(250);
            let max = self.settings.max_attempts.max(1);
            for attempt in 1..=max {
                match self.attempt(messages, on_token).await {
                    Ok((content, model, usage)) => {
                        let usage = usage.unwrap_or_else(|| Usage::estimate(messages, &content));
                        return Ok(LlmResponse {
                            content,
                            model,
                            usage,
                            attempts: attempt,
                        });
                    }
                    Err((true, err)) if attempt < max => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(8));
                        let _ = err;
                    }
                    Err((_, err)) => {
                        return Err(match err {
                            LlmError::GaveUp {
                                endpoint, message, ..
                            } => LlmError::GaveUp {
                                endpoint,
                                attempts: attempt,
                                message,
                            },
                            other => other,
                        });
                    }
                }
            }
            Err(LlmError::GaveUp {
                endpoint: self.endpoint(),
                attempts: max,
                message: "no attempt was made".into(),
            })
        })
    }
}
