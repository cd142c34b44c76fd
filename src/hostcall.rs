//! Host calls: named handlers that code in the kernel can call mid-execution.
//!
//! One mechanism carries every call from the sandbox into the host (MCP tool calls,
//! `ask_llm` and skill look-ups are registered here later). Handlers run on the host,
//! concurrently, and never see the kernel's process; what they return goes back as the
//! call's result, and an error is raised in Python as `mcpr.HostCallError`.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type CallFuture = Pin<Box<dyn Future<Output = Result<Value, HostCallError>> + Send>>;

/// A failed host call; `kind` is machine-readable, `message` is for the person.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct HostCallError {
    pub kind: String,
    pub message: String,
}

impl HostCallError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    pub fn bad_args(message: impl Into<String>) -> Self {
        Self::new("bad_arguments", message)
    }
}

pub trait HostCallHandler: Send + Sync {
    fn call(&self, args: Value) -> CallFuture;
}

impl<F, Fut> HostCallHandler for F
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, HostCallError>> + Send + 'static,
{
    fn call(&self, args: Value) -> CallFuture {
        Box::pin(self(args))
    }
}

/// Serves any call no named handler takes (given the name and the arguments).
pub type FallbackHandler = Arc<dyn Fn(&str, Value) -> CallFuture + Send + Sync>;

/// The handlers a session offers, by name.
#[derive(Clone, Default)]
pub struct HostCalls {
    handlers: BTreeMap<String, Arc<dyn HostCallHandler>>,
    fallback: Option<FallbackHandler>,
}

impl HostCalls {
    /// The built-in `echo` (returns its arguments) and `sleep` (`seconds`, at most 60).
    pub fn with_builtins() -> Self {
        let mut calls = Self::default();
        calls.register("echo", |args: Value| async move { Ok(args) });
        calls.register("sleep", |args: Value| async move {
            let seconds = args
                .get("seconds")
                .and_then(Value::as_f64)
                .ok_or_else(|| HostCallError::bad_args("sleep needs a number `seconds`"))?;
            if !(0.0..=60.0).contains(&seconds) {
                return Err(HostCallError::bad_args(format!(
                    "sleep takes 0 to 60 seconds, got {seconds}"
                )));
            }
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            Ok(json!(null))
        });
        calls
    }

    pub fn register(&mut self, name: impl Into<String>, handler: impl HostCallHandler + 'static) {
        self.handlers.insert(name.into(), Arc::new(handler));
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Host calls answered by one handler whatever their name (replay serves recorded
    /// results this way).
    pub fn with_fallback(fallback: FallbackHandler) -> Self {
        Self {
            handlers: BTreeMap::new(),
            fallback: Some(fallback),
        }
    }

    /// Starts the call; an unknown name fails with kind `unknown` listing what exists.
    pub fn dispatch(&self, name: &str, args: Value) -> CallFuture {
        match (self.handlers.get(name), &self.fallback) {
            (Some(handler), _) => handler.call(args),
            (None, Some(fallback)) => fallback(name, args),
            (None, None) => {
                let known: Vec<&str> = self.names().collect();
                let message = format!(
                    "no host call named {name:?}; available: {}",
                    known.join(", ")
                );
                Box::pin(async move { Err(HostCallError::new("unknown", message)) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echo_returns_args_and_unknown_names_are_listed() {
        let calls = HostCalls::with_builtins();
        assert_eq!(
            calls.dispatch("echo", json!({"a": 1})).await.unwrap(),
            json!({"a": 1})
        );
        let err = calls.dispatch("nope", json!({})).await.unwrap_err();
        assert_eq!(err.kind, "unknown");
        assert!(err.message.contains("echo, sleep"), "{}", err.message);
    }

    #[tokio::test]
    async fn sleep_validates_its_argument() {
        let calls = HostCalls::with_builtins();
        let err = calls
            .dispatch("sleep", json!({"seconds": -1}))
            .await
            .unwrap_err();
        assert_eq!(err.kind, "bad_arguments");
    }
}
