//! Which provider a run uses, and why: an explicit `--llm` wins, then a configured
//! endpoint (`--base-url`, `OPENAI_BASE_URL`, `[llm] base_url`) or `OPENAI_API_KEY`, then a
//! local OpenAI-compatible server answering at its usual port (Ollama 11434, llama.cpp
//! 8080), then manual mode.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::offline::{ManualProvider, ScriptProvider};
use super::openai::{OpenAiProvider, OpenAiSettings};
use super::{LlmError, Provider};

/// The `[llm]` section of mcpr.toml.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub max_retries: Option<u32>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// What the command line says (each overrides the configuration).
#[derive(Debug, Clone, Default)]
pub struct LlmChoice {
    /// `openai`, `manual`, or `script:FILE`.
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
}

pub struct Selected {
    pub provider: Arc<dyn Provider>,
    /// One sentence: what was chosen and why.
    pub reason: String,
}

const LOCAL_SERVERS: &[(&str, &str)] = &[
    ("Ollama", "127.0.0.1:11434"),
    ("llama.cpp server", "127.0.0.1:8080"),
];

pub async fn select(choice: &LlmChoice, settings: &LlmSettings) -> Result<Selected, LlmError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let api_key = choice.api_key.clone().or_else(|| env("OPENAI_API_KEY"));
    let explicit = choice
        .provider
        .clone()
        .or_else(|| settings.provider.clone());
    if let Some(p) = explicit {
        let why = if choice.provider.is_some() {
            "--llm"
        } else {
            "[llm] provider in mcpr.toml"
        };
        if p == "manual" {
            return Ok(Selected {
                provider: Arc::new(ManualProvider),
                reason: format!("manual mode (you type the code), chosen by {why}"),
            });
        }
        if let Some(file) = p.strip_prefix("script:") {
            let provider = ScriptProvider::load(&PathBuf::from(file))?;
            return Ok(Selected {
                provider: Arc::new(provider),
                reason: format!("scripted responses from {file}, chosen by {why}"),
            });
        }
        if p != "openai" {
            return Err(LlmError::Offline(format!(
                "unknown provider {p:?}: use openai, manual or script:FILE"
            )));
        }
        let base = choice
            .base_url
            .clone()
            .or_else(|| env("OPENAI_BASE_URL"))
            .or_else(|| settings.base_url.clone())
            .unwrap_or_else(|| "https://api.openai.com/v1".into());
        return openai(
            &base,
            choice,
            settings,
            api_key,
            format!("an OpenAI-compatible endpoint at {base}, chosen by {why}"),
        )
        .await;
    }
    let configured = choice
        .base_url
        .clone()
        .map(|b| (b, "--base-url"))
        .or_else(|| env("OPENAI_BASE_URL").map(|b| (b, "OPENAI_BASE_URL")))
        .or_else(|| {
            settings
                .base_url
                .clone()
                .map(|b| (b, "[llm] base_url in mcpr.toml"))
        });
    if let Some((base, why)) = configured {
        return openai(
            &base,
            choice,
            settings,
            api_key,
            format!("the endpoint {base}, configured by {why}"),
        )
        .await;
    }
    if api_key.is_some() {
        let base = "https://api.openai.com/v1".to_string();
        return openai(
            &base,
            choice,
            settings,
            api_key,
            "OpenAI's API, because OPENAI_API_KEY is set".into(),
        )
        .await;
    }
    for (name, addr) in LOCAL_SERVERS {
        if tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .is_ok_and(|r| r.is_ok())
        {
            let base = format!("http://{addr}/v1");
            return openai(
                &base,
                choice,
                settings,
                None,
                format!("a local {name} answering at {addr} (no endpoint or key configured)"),
            )
            .await;
        }
    }
    Ok(Selected {
        provider: Arc::new(ManualProvider),
        reason: "manual mode (you type the code): no --llm, no endpoint or OPENAI_API_KEY, and no local server on 127.0.0.1:11434 or :8080".into(),
    })
}

async fn openai(
    base: &str,
    choice: &LlmChoice,
    settings: &LlmSettings,
    api_key: Option<String>,
    reason: String,
) -> Result<Selected, LlmError> {
    let model = match choice
        .model
        .clone()
        .or_else(|| std::env::var("OPENAI_MODEL").ok().filter(|m| !m.is_empty()))
        .or_else(|| settings.model.clone())
    {
        Some(m) => m,
        None if base.contains("api.openai.com") => "gpt-4o-mini".into(),
        None => first_model(base, api_key.as_deref()).await?,
    };
    let provider = OpenAiProvider::new(OpenAiSettings {
        base_url: base.to_string(),
        api_key,
        model: model.clone(),
        max_attempts: settings.max_retries.unwrap_or(3) + 1,
        timeout: Duration::from_secs_f64(settings.timeout_seconds.unwrap_or(300.0).max(1.0)),
        temperature: settings.temperature,
        max_tokens: settings.max_tokens,
    })?;
    Ok(Selected {
        provider: Arc::new(provider),
        reason: format!("{reason}, model {model}"),
    })
}

/// The first model a local server lists at /models.
async fn first_model(base: &str, api_key: Option<&str>) -> Result<String, LlmError> {
    crate::tools::install_tls_provider();
    let url = format!("{}/models", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| LlmError::Offline(e.to_string()))?;
    let mut req = client.get(&url);
    if let Some(key) = api_key {
        req = req.bearer_auth(key);
    }
    let unreachable = |message: String| LlmError::Unreachable {
        endpoint: base.to_string(),
        message,
    };
    let body: serde_json::Value = req
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .json()
        .await
        .map_err(|e| unreachable(format!("{url} did not answer with a model list: {e}")))?;
    body["data"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| LlmError::Offline(format!("{url} lists no model; pass --model")))
}
