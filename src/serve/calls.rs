//! The long calls, `run_python` and `run_task`: each runs in a tokio task of its own so
//! that it can outlive its request. A client that declared the MCP tasks extension
//! (`io.modelcontextprotocol/tasks`) gets the result at once when the call ends within
//! [`TASK_AFTER`]; a longer call becomes a task, which the client polls with `tasks/get`
//! and stops with `tasks/cancel` (the cell is interrupted through the session's cancel,
//! and the session stays usable). Other clients wait for the result, and their
//! cancellation (`notifications/cancelled`) interrupts the cell the same way.

use rmcp::model::{CallToolResponse, CallToolResult, CreateTaskResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::task_manager::{TaskContext, TaskExit, TaskManager, TaskOptions};
use rmcp::{ErrorData, RoleServer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Shared, failure, format};
use crate::engine::Op;
use crate::event::Event;

/// How long a call may run before it becomes a task (for clients that take tasks).
pub const TASK_AFTER: Duration = Duration::from_secs(1);

/// How long a task and then its result are kept (the MCP `ttlMs`). A task still running
/// then is stopped.
const TASK_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// How often a client should ask after a task.
const POLL_MS: u64 = 250;

/// A `run_python` or `run_task` call, checked and ready to run.
pub struct Call {
    pub session: String,
    pub op: Op,
    pub timeout: Option<f64>,
}

impl Call {
    /// The text a model reads from the call's events.
    fn result(&self, run: Result<Vec<Event>, String>) -> CallToolResult {
        match (run, &self.op) {
            (Ok(events), Op::RunTask(_)) => format::task(&self.session, &events),
            (Ok(events), _) => format::cell(&self.session, &events),
            (Err(e), _) => failure(e),
        }
    }
}

/// Where a running call's output goes: progress notifications while its request is
/// open, the task's status message once it became a task.
enum Route {
    Progress(mpsc::UnboundedSender<String>),
    Task(TaskContext),
    Nowhere,
}

struct Sink(Mutex<Route>);

impl Sink {
    fn event(&self, event: &Event) {
        let Some(message) = message(event) else {
            return;
        };
        let Ok(route) = self.0.lock() else { return };
        match &*route {
            Route::Progress(tx) => {
                let _ = tx.send(message);
            }
            Route::Task(task) => {
                if let Some(line) = message.lines().rev().find(|l| !l.trim().is_empty()) {
                    task.set_status_message(format!("running: {}", clip(line.trim(), 200)));
                }
            }
            Route::Nowhere => {}
        }
    }

    fn route(&self, to: Route) {
        if let Ok(mut route) = self.0.lock() {
            *route = to;
        }
    }
}

/// What a progress notification says about an event, if anything.
fn message(event: &Event) -> Option<String> {
    match event {
        Event::Output { text, .. } => Some(text.clone()),
        Event::CallStarted { name, args, .. } if name == "tools.call" => Some(format!(
            "calling {}.{}",
            args["server"].as_str().unwrap_or("?"),
            args["tool"].as_str().unwrap_or("?")
        )),
        _ => None,
    }
}

fn clip(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Progress notifications for a request that asked for them, sent in order by a task of
/// their own, all before the result.
struct Progress {
    tx: Option<mpsc::UnboundedSender<String>>,
    sender: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn of(ctx: &RequestContext<RoleServer>) -> Progress {
        let Some(token) = ctx.meta.get_progress_token() else {
            return Progress {
                tx: None,
                sender: None,
            };
        };
        let peer = ctx.peer.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let sender = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(message) = rx.recv().await {
                n += 1;
                let mut param = ProgressNotificationParam::new(token.clone(), n as f64);
                param.message = Some(message);
                if peer.notify_progress(param).await.is_err() {
                    return;
                }
            }
        });
        Progress {
            tx: Some(tx),
            sender: Some(sender),
        }
    }

    /// Waits until every notification is sent (the result must come after them). The
    /// sink must no longer hold a sender.
    async fn finish(mut self) {
        self.tx = None;
        if let Some(sender) = self.sender.take() {
            let _ = sender.await;
        }
    }
}

/// A call running in a tokio task of its own.
pub struct Running {
    done: oneshot::Receiver<CallToolResult>,
    cancel: CancellationToken,
    /// Stops the call when whoever waits for it is gone (a request dropped, a task
    /// stopped at its TTL or at shutdown).
    guard: DropGuard,
    sink: Arc<Sink>,
    progress: Progress,
}

/// Starts `call` in its session.
pub fn start(shared: Arc<Shared>, call: Call, ctx: &RequestContext<RoleServer>) -> Running {
    let progress = Progress::of(ctx);
    let sink = Arc::new(Sink(Mutex::new(match &progress.tx {
        Some(tx) => Route::Progress(tx.clone()),
        None => Route::Nowhere,
    })));
    let cancel = CancellationToken::new();
    let (tx, done) = oneshot::channel();
    {
        let (sink, cancel) = (sink.clone(), cancel.clone());
        tokio::spawn(async move {
            let run = shared
                .sessions
                .run(
                    &call.session,
                    call.op.clone(),
                    call.timeout,
                    &cancel,
                    &mut |e| sink.event(e),
                )
                .await;
            let _ = tx.send(call.result(run));
        });
    }
    Running {
        done,
        guard: cancel.clone().drop_guard(),
        cancel,
        sink,
        progress,
    }
}

fn ended(result: Result<CallToolResult, oneshot::error::RecvError>) -> CallToolResult {
    result.unwrap_or_else(|_| failure("the call ended without a result (the server is stopping)"))
}

impl Running {
    /// Waits for the result; the request's cancellation interrupts the call.
    pub async fn wait(mut self, request: &CancellationToken) -> CallToolResult {
        let result = match self.first(request, None).await {
            Some(result) => result,
            None => ended((&mut self.done).await),
        };
        self.finish().await;
        result
    }

    /// The result if the call ends first, else waits for it after the request's
    /// cancellation stopped it; `None` when `limit` passed first.
    async fn first(
        &mut self,
        request: &CancellationToken,
        limit: Option<Duration>,
    ) -> Option<CallToolResult> {
        let limit = async {
            match limit {
                Some(at) => tokio::time::sleep(at).await,
                None => std::future::pending().await,
            }
        };
        let cancelled = tokio::select! {
            r = &mut self.done => return Some(ended(r)),
            () = request.cancelled() => true,
            () = limit => false,
        };
        if cancelled {
            self.cancel.cancel();
            return Some(ended((&mut self.done).await));
        }
        None
    }

    async fn finish(self) {
        self.sink.route(Route::Nowhere);
        self.progress.finish().await;
        self.guard.disarm();
    }

    /// Waits up to [`TASK_AFTER`] for the result; a call still running then becomes a
    /// task in `tasks`.
    pub async fn or_task(
        mut self,
        request: &CancellationToken,
        tasks: &TaskManager,
        session: &str,
    ) -> CallToolResponse {
        if let Some(result) = self.first(request, Some(TASK_AFTER)).await {
            self.finish().await;
            return CallToolResponse::Complete(result);
        }
        // The request ends with the task's handle: no progress notification may follow.
        self.sink.route(Route::Nowhere);
        let Running {
            done,
            cancel,
            guard,
            sink,
            progress,
        } = self;
        progress.finish().await;
        let options = TaskOptions::new()
            .with_ttl_ms(TASK_TTL_MS)
            .with_poll_interval_ms(POLL_MS)
            .with_status_message(format!("running in session {session}"));
        let task = tasks.spawn(options, move |task| {
            sink.route(Route::Task(task.clone()));
            Box::pin(async move {
                let _guard = guard;
                let mut done = done;
                tokio::select! {
                    r = &mut done => {
                        task.set_status_message("ended");
                        r.map_err(|_| TaskExit::Error(ErrorData::internal_error(
                            "the call ended without a result (the server is stopping)",
                            None,
                        )))
                    }
                    () = task.cancelled() => {
                        cancel.cancel();
                        // The session is usable again once the interrupted call has ended.
                        let _ = done.await;
                        task.set_status_message("cancelled; the session goes on");
                        Err(TaskExit::Cancelled)
                    }
                }
            })
        });
        CallToolResponse::Task(CreateTaskResult::new(task))
    }
}
