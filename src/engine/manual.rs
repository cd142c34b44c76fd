//! Manual mode over a channel: the user is the model. Each answer the agent needs is
//! asked for with a `CodeRequested` event, and whatever front end the user types in
//! answers with [`super::Op::Answer`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, mpsc};

use super::emit::Emitter;
use crate::event::Event;
use crate::llm::{ChatMessage, LlmError, LlmFuture, Provider};

/// The answering side: the session's owner hands typed code to it.
#[derive(Clone)]
pub struct ManualAnswers(mpsc::UnboundedSender<String>);

impl ManualAnswers {
    /// Gives the code for the pending (or next) request; false when the session is gone.
    pub fn answer(&self, code: String) -> bool {
        self.0.send(code).is_ok()
    }
}

pub struct ChannelManual {
    answers: Mutex<mpsc::UnboundedReceiver<String>>,
    out: Emitter,
    step: Arc<AtomicU64>,
}

impl ChannelManual {
    /// The provider and its answering side; `step` holds the id of the step running.
    pub fn new(out: Emitter, step: Arc<AtomicU64>) -> (ChannelManual, ManualAnswers) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            ChannelManual {
                answers: Mutex::new(rx),
                out,
                step,
            },
            ManualAnswers(tx),
        )
    }
}

impl Provider for ChannelManual {
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
            let mut answers = self.answers.lock().await;
            self.out.send(Event::CodeRequested {
                step: self.step.load(Ordering::SeqCst),
                prompt: messages
                    .last()
                    .map(|m| m.content.clone())
                    .unwrap_or_default(),
            });
            let content = answers.recv().await.ok_or_else(|| {
                LlmError::Offline("manual mode: nobody is left to type the code".into())
            })?;
            Ok(crate::llm::offline::typed_answer(
                messages, content, on_token,
            ))
        })
    }
}

/// A session that runs cells only: a task step says how to give it a model.
pub struct NoModel;

impl Provider for NoModel {
    fn kind(&self) -> &'static str {
        "none"
    }

    fn model(&self) -> String {
        "none".into()
    }

    fn complete<'a>(
        &'a self,
        _messages: &'a [ChatMessage],
        _on_token: &'a mut (dyn FnMut(&str) + Send),
    ) -> LlmFuture<'a> {
        Box::pin(async {
            Err(LlmError::Offline(
                "this session was opened without a model, so it runs cells only; open it with a model (`mcpr run --session NAME \"task\"`) to run tasks".into(),
            ))
        })
    }
}
