//! A session as an owner task: operations go in on a channel, events come out on
//! another, in order. The owner runs one step at a time; while a step runs it still
//! takes `Cancel`, manual answers and approvals, and queues everything else.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::EngineError;
use super::approvals::Approvals;
use super::emit::Emitter;
use super::live::{Context, LiveSession};
use super::manual::ManualAnswers;
use super::spec::SessionSpec;
use crate::event::Event;
use crate::tools::policy::Decision;

/// What a front end asks of a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A task in plain words: the model writes code, the session runs it.
    RunTask(String),
    /// Code to run as a step of its own.
    RunCell(String),
    /// Cancels the step running (the model's answer, a cell, a tool call in it).
    Cancel,
    /// Goes back to a step of this session (its state rebuilt from the record).
    Rewind(u64),
    /// Branches a new session off this one at a step and continues in it.
    Fork { step: u64, name: Option<String> },
    /// Manual mode: the code answering the last `CodeRequested`.
    Answer(String),
    /// The answer to `ApprovalRequested` number `id`.
    Approve { id: u64, decision: Decision },
    /// Lists the kernel's names as a `Variables` event (waits for a step running;
    /// nothing is recorded).
    Inspect,
    /// Ends the session after the step running (if any) is cancelled.
    Shutdown,
}

/// Sends operations to a session; cheap to clone.
#[derive(Clone)]
pub struct Ops {
    tx: mpsc::UnboundedSender<(u64, Op)>,
    next: std::sync::Arc<AtomicU64>,
}

impl Ops {
    /// Queues `op`; returns the id its `OpEnded` event will carry. Once the session has
    /// ended nothing happens (and no event comes).
    pub fn send(&self, op: Op) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.send((id, op));
        id
    }

    /// Whether the session's owner has ended (nothing sent will be taken).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A running session: its operations and its events.
pub struct SessionHandle {
    pub ops: Ops,
    pub events: mpsc::UnboundedReceiver<Event>,
}

/// Opens a session in a task of its own. Opening is operation 0: its notices and the
/// `SessionStarted` event come first, then `OpEnded { op: 0 }` (with the error if it
/// failed, after which the events end).
pub fn start(ctx: Context, spec: SessionSpec) -> SessionHandle {
    let (out, events) = Emitter::channel();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(owner(ctx, spec, out, rx));
    SessionHandle {
        ops: Ops {
            tx,
            next: std::sync::Arc::new(AtomicU64::new(1)),
        },
        events,
    }
}

fn ended(out: &Emitter, op: u64, result: Result<(), EngineError>) {
    let (error, usage, diverged) = match result {
        Ok(()) => (None, false, None),
        Err(e) => (Some(e.to_string()), e.is_usage(), e.divergence().cloned()),
    };
    out.send(Event::OpEnded {
        op,
        error,
        usage,
        diverged,
    });
}

struct Inbox {
    rx: mpsc::UnboundedReceiver<(u64, Op)>,
    queue: VecDeque<(u64, Op)>,
    /// Every `Ops` is gone: nothing more will come.
    closed: bool,
}

impl Inbox {
    async fn next(&mut self) -> Option<(u64, Op)> {
        if let Some(op) = self.queue.pop_front() {
            return Some(op);
        }
        if self.closed {
            return None;
        }
        self.rx.recv().await
    }
}

async fn owner(
    ctx: Context,
    spec: SessionSpec,
    out: Emitter,
    rx: mpsc::UnboundedReceiver<(u64, Op)>,
) {
    let mut live = match LiveSession::open(ctx, spec, out.clone()).await {
        Ok(live) => {
            ended(&out, 0, Ok(()));
            live
        }
        Err(e) => return ended(&out, 0, Err(e)),
    };
    let mut inbox = Inbox {
        rx,
        queue: VecDeque::new(),
        closed: false,
    };
    while let Some((id, op)) = inbox.next().await {
        match op {
            Op::Shutdown => {
                live.close().await;
                return ended(&out, id, Ok(()));
            }
            Op::Cancel => ended(&out, id, Ok(())),
            Op::Answer(code) => ended(&out, id, answer(live.manual_answers(), code)),
            Op::Approve {
                id: request,
                decision,
            } => ended(&out, id, live.approvals().answer(request, decision)),
            Op::RunTask(task) => {
                let cancel = CancellationToken::new();
                let side = Side {
                    manual: live.manual_answers(),
                    approvals: live.approvals(),
                };
                let step = live.run_task(&task, &cancel);
                drive(step, &mut inbox, &cancel, side, &out).await;
                ended(&out, id, Ok(()));
            }
            Op::RunCell(code) => {
                let cancel = CancellationToken::new();
                let side = Side {
                    manual: live.manual_answers(),
                    approvals: live.approvals(),
                };
                let cell = live.run_cell(&code, &cancel);
                drive(cell, &mut inbox, &cancel, side, &out).await;
                ended(&out, id, Ok(()));
            }
            Op::Inspect => {
                let result = live.variables().await.map(|variables| {
                    out.send(Event::Variables { variables });
                });
                ended(&out, id, result);
            }
            Op::Rewind(step) => {
                let result = live.rewind(step).await;
                ended(&out, id, result);
            }
            Op::Fork { step, name } => {
                live = match live.fork(step, name).await {
                    Ok(forked) => {
                        ended(&out, id, Ok(()));
                        forked
                    }
                    Err((old, e)) => {
                        ended(&out, id, Err(e));
                        *old
                    }
                };
            }
        }
    }
    // Every sender is gone: nobody can ask for anything more.
    live.close().await;
}

fn answer(manual: Option<ManualAnswers>, code: String) -> Result<(), EngineError> {
    match manual {
        Some(m) if m.answer(code) => Ok(()),
        Some(_) => Err(EngineError::Closed),
        None => Err(EngineError::NotManual),
    }
}

/// What answers a running step without the session itself.
struct Side {
    manual: Option<ManualAnswers>,
    approvals: std::sync::Arc<Approvals>,
}

/// Runs `work` to its end while taking the operations that apply to it.
async fn drive<F: Future>(
    work: F,
    inbox: &mut Inbox,
    cancel: &CancellationToken,
    side: Side,
    out: &Emitter,
) -> F::Output {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            op = inbox.rx.recv(), if !inbox.closed => match op {
                None => {
                    inbox.closed = true;
                    cancel.cancel();
                }
                Some((id, Op::Cancel)) => {
                    cancel.cancel();
                    ended(out, id, Ok(()));
                }
                Some((id, Op::Answer(code))) => ended(out, id, answer(side.manual.clone(), code)),
                Some((id, Op::Approve { id: request, decision })) => {
                    ended(out, id, side.approvals.answer(request, decision));
                }
                Some((id, Op::Shutdown)) => {
                    cancel.cancel();
                    inbox.queue.push_front((id, Op::Shutdown));
                }
                Some(other) => inbox.queue.push_back(other),
            },
        }
    }
}
