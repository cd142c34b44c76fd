//! The host side of one kernel process: starts the protocol, runs cells, serves host
//! calls, enforces time limits, and explains the kernel's death.
//!
//! A `Kernel` is bound to one process for its whole life and is never handed to a second
//! session. It does not restart itself: when its process dies it says so and the owning
//! [`crate::session::Session`] starts a fresh one.

mod exit;
pub mod live;
pub mod output;
pub mod protocol;
pub mod runtime;

pub use exit::{ExitInfo, signal_name};
pub use output::OutputPolicy;

use serde_json::Value;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backend::{KernelProcess, Launched};
use crate::event::{CallOutcome, CellStatus, Event, Stream};
use crate::hostcall::{HostCallError, HostCalls};
use crate::sandbox::Limits;
use output::OutputSpill;
use protocol::{FrameDecoder, FrameError, HostMsg, KernelMsg, ReplyError};

const STDERR_TAIL: usize = 8 * 1024;
/// Longest a write to the kernel's stdin may take before the kernel is deemed frozen.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Facts the kernel reported when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    /// The kernel's pid as it sees itself (inside a PID namespace, a small number).
    pub pid: u32,
    /// The launched process as the host sees it.
    pub host_pid: Option<u32>,
    pub python: String,
    pub uid: u32,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("the kernel failed to start: {reason}{}", stderr_suffix(.stderr))]
    StartFailed { reason: String, stderr: String },
    #[error(transparent)]
    Launch(#[from] crate::backend::LaunchError),
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("\nkernel stderr:\n{}", stderr.trim_end())
    }
}

/// How one cell may run.
#[derive(Debug, Clone)]
pub struct CellOptions {
    pub timeout: Option<Duration>,
    /// After the interrupt, how long before the process group is killed.
    pub grace: Duration,
    pub output: OutputPolicy,
    pub cancel: CancellationToken,
}

impl Default for CellOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(60)),
            grace: Duration::from_secs(2),
            output: OutputPolicy::default(),
            cancel: CancellationToken::new(),
        }
    }
}

enum Incoming {
    Msg(KernelMsg),
    Bad(FrameError),
    Closed,
}

#[derive(Clone, PartialEq, Eq)]
enum StopReason {
    Timeout,
    Cancel,
    /// The kernel broke the protocol in a way that cannot be skipped safely.
    Protocol(String),
}

#[derive(Clone, PartialEq, Eq)]
enum Phase {
    Running,
    Interrupted {
        kill_at: Instant,
        reason: StopReason,
    },
    Killed {
        reason: StopReason,
    },
}

/// How often an interrupt is sent again while a cell has not stopped: a signal that
/// reaches the kernel just before a blocking call is handled only when the call returns.
const INTERRUPT_REPEAT: Duration = Duration::from_millis(200);

type CallDone = (u64, String, Value, Result<Value, HostCallError>, Duration);

/// What the cell loop does after one kernel message.
enum Handled {
    Continue,
    /// A host call finished at once: answer it.
    Reply(CallDone),
    Finished(CellStatus),
}

pub struct Kernel {
    process: Box<dyn KernelProcess>,
    stdin: Box<dyn AsyncWrite + Send + Unpin>,
    reader: FrameReader,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    info: KernelInfo,
    max_frame: usize,
    limits: Limits,
    /// Why the process is gone, once it is.
    death: Option<String>,
}

impl Kernel {
    /// Wires up a launched process and waits for its greeting.
    pub async fn start(
        launched: Launched,
        limits: Limits,
        max_frame: usize,
        startup_timeout: Duration,
    ) -> Result<Kernel, KernelError> {
        let Launched {
            stdin,
            stdout,
            stderr,
            process,
            description,
            host_pid,
        } = launched;
        let mut reader = FrameReader::new(stdout, max_frame);
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(keep_tail(stderr, stderr_tail.clone()));

        let greeting = tokio::time::timeout(startup_timeout, reader.next()).await;
        let fail = |reason: String| async {
            process.kill();
            let mut exit = process.exit();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some)).await;
            let how = exit
                .borrow()
                .as_ref()
                .map(|e| e.explain(&limits, None))
                .unwrap_or_default();
            // Give the stderr reader a moment to collect the last words.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let mut reason = if how.is_empty() {
                reason
            } else {
                format!("{reason}; the process {how}")
            };
            let low = limits.below_defaults();
            if !low.is_empty() {
                reason.push_str(&format!(
                    ". [kernel.limits] set below the defaults may be too low for the interpreter: {}; raise them in mcpr.toml",
                    low.join(", ")
                ));
            }
            KernelError::StartFailed {
                reason,
                stderr: tail_text(&stderr_tail),
            }
        };
        let info = match greeting {
            Err(_) => {
                return Err(fail(format!("no greeting within {startup_timeout:?}")).await);
            }
            Ok(Incoming::Msg(KernelMsg::Hello {
                version,
                pid,
                python,
                uid,
            })) => {
                if version != protocol::PROTOCOL_VERSION {
                    return Err(fail(format!(
                        "kernel speaks protocol {version}, this mcpr speaks {}",
                        protocol::PROTOCOL_VERSION
                    ))
                    .await);
                }
                KernelInfo {
                    pid,
                    host_pid,
                    python,
                    uid,
                    description,
                }
            }
            Ok(Incoming::Msg(other)) => {
                return Err(fail(format!("expected a greeting, got {other:?}")).await);
            }
            Ok(Incoming::Bad(e)) => return Err(fail(e.to_string()).await),
            Ok(Incoming::Closed) => {
                return Err(fail("it exited before greeting".to_string()).await);
            }
        };
        Ok(Kernel {
            process,
            stdin,
            reader,
            stderr_tail,
            info,
            max_frame,
            limits,
            death: None,
        })
    }

    pub fn info(&self) -> &KernelInfo {
        &self.info
    }

    /// Why the kernel died, if it did.
    pub fn death(&self) -> Option<&str> {
        self.death.as_deref()
    }

    pub fn is_alive(&self) -> bool {
        self.death.is_none() && self.process.exit().borrow().is_none()
    }

    /// Writes one frame to the kernel. A kernel that stops reading (frozen, stopped)
    /// cannot stall the host: after [`WRITE_TIMEOUT`] it is killed and reported dead.
    async fn send(&mut self, msg: &HostMsg) {
        let frame = match protocol::encode(msg, self.max_frame) {
            Ok(frame) => frame,
            // Only a reply can be this large; tell the waiting caller instead.
            Err(e) => match msg {
                HostMsg::Reply { id, .. } => {
                    let fallback = HostMsg::Reply {
                        id: *id,
                        ok: false,
                        value: None,
                        error: Some(ReplyError {
                            kind: "too_large".into(),
                            message: e.to_string(),
                        }),
                    };
                    match protocol::encode(&fallback, self.max_frame) {
                        Ok(frame) => frame,
                        Err(_) => return,
                    }
                }
                _ => return,
            },
        };
        let write = async {
            self.stdin.write_all(&frame).await?;
            self.stdin.flush().await
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => {}
            // A closed pipe means the process is gone; the reader reports that.
            Ok(Err(_)) => {}
            Err(_) => self.process.kill(),
        }
    }

    /// Runs one cell to the end, emitting its events. `workspace` receives overflow files.
    pub async fn run_cell(
        &mut self,
        cell: u64,
        code: &str,
        opts: &CellOptions,
        calls: &HostCalls,
        workspace: &Path,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> CellStatus {
        let started = Instant::now();
        sink(Event::CellStarted {
            cell,
            code: code.to_string(),
        });
        let exec = HostMsg::Exec {
            cell,
            code: code.to_string(),
        };
        if let Err(e) = protocol::encode(&exec, self.max_frame) {
            return finish_early(sink, cell, started, "CellTooLarge", e.to_string());
        }
        if let Some(death) = &self.death {
            let message = format!("the kernel is gone ({death}); start a new session");
            return finish_early(sink, cell, started, "KernelDied", message);
        }
        self.refresh_workspace(cell, sink).await;
        self.send(&exec).await;

        let mut spill = OutputSpill::new(opts.output, workspace, cell);
        let mut running_calls: JoinSet<CallDone> = JoinSet::new();
        // Calls running concurrently, by id: the ones still running when the cell ends
        // are ended (abandoned) for whoever showed them starting.
        let mut in_flight: std::collections::BTreeMap<u64, (String, Value, Instant)> =
            Default::default();
        let mut phase = Phase::Running;
        let deadline = opts.timeout.map(|t| started + t);
        let status = loop {
            // While interrupted, the interrupt is repeated (see `INTERRUPT_REPEAT`) until
            // the cell ends or the grace period is over.
            let wake_at = match &phase {
                Phase::Running => deadline,
                Phase::Interrupted { kill_at, .. } => {
                    Some((Instant::now() + INTERRUPT_REPEAT).min(*kill_at))
                }
                Phase::Killed { .. } => None,
            };
            let timer = async move {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                msg = self.reader.next() => match msg {
                    Incoming::Msg(msg) => {
                        match self.on_message(msg, cell, &phase, opts, calls, &mut spill, &mut running_calls, &mut in_flight, sink) {
                            Handled::Continue => {}
                            Handled::Reply(done) => self.reply(cell, done, sink).await,
                            Handled::Finished(status) => break status,
                        }
                    }
                    // A length over the limit means the stream is corrupt: skipping that
                    // many bytes could swallow real frames, so stop the kernel instead.
                    Incoming::Bad(e @ FrameError::TooLarge { .. }) => {
                        if !matches!(phase, Phase::Killed { .. }) {
                            self.process.kill();
                            phase = Phase::Killed { reason: StopReason::Protocol(format!("it sent a {e}")) };
                        }
                    }
                    Incoming::Bad(e) => sink(Event::Output {
                        cell,
                        stream: Stream::Stderr,
                        text: format!("[mcpr] ignored a malformed message from the kernel: {e}\n"),
                    }),
                    Incoming::Closed => break self.on_death(cell, phase, opts, sink).await,
                },
                Some(done) = running_calls.join_next(), if !running_calls.is_empty() => {
                    if let Ok(done) = done {
                        in_flight.remove(&done.0);
                        self.reply(cell, done, sink).await;
                    }
                }
                () = timer => {
                    phase = match phase.clone() {
                        Phase::Running => {
                            self.send(&HostMsg::Interrupt { cell: Some(cell) }).await;
                            Phase::Interrupted { kill_at: Instant::now() + opts.grace, reason: StopReason::Timeout }
                        }
                        Phase::Interrupted { kill_at, reason } if Instant::now() < kill_at => {
                            self.send(&HostMsg::Interrupt { cell: Some(cell) }).await;
                            Phase::Interrupted { kill_at, reason }
                        }
                        Phase::Interrupted { reason, .. } => {
                            self.process.kill();
                            Phase::Killed { reason }
                        }
                        killed => killed,
                    };
                }
                () = opts.cancel.cancelled(), if phase == Phase::Running => {
                    self.send(&HostMsg::Interrupt { cell: Some(cell) }).await;
                    phase = Phase::Interrupted { kill_at: Instant::now() + opts.grace, reason: StopReason::Cancel };
                }
            }
        };
        running_calls.abort_all();
        for (id, (name, args, t)) in in_flight {
            sink(Event::HostCall {
                cell,
                id,
                name,
                args,
                outcome: CallOutcome::Error {
                    kind: crate::event::ABANDONED.into(),
                    message: "the cell ended before the call did; its result was dropped".into(),
                },
                duration_ms: ms(t.elapsed()),
            });
        }
        self.sync_workspace(cell, sink).await;
        let (overflow, problems) = spill.finish();
        for problem in problems {
            sink(Event::Output {
                cell,
                stream: Stream::Stderr,
                text: format!("[mcpr] output overflow: {problem}\n"),
            });
        }
        sink(Event::CellFinished {
            cell,
            status,
            duration_ms: ms(started.elapsed()),
            overflow,
        });
        status
    }

    /// For a kernel with a copied workspace, copies in what the host changed there since
    /// the last copy; a failure is said on the cell's stderr.
    async fn refresh_workspace(&mut self, cell: u64, sink: &mut (dyn FnMut(Event) + Send)) {
        let Some(refresh) = self.process.refresh_workspace() else {
            return;
        };
        if let Err(e) = refresh.await {
            sink(Event::Output {
                cell,
                stream: Stream::Stderr,
                text: format!("[mcpr] workspace copy into the container: {e}\n"),
            });
        }
    }

    /// At the step boundary, brings a copied workspace (a container on another engine)
    /// back to the host before anything records it; what could not be copied is said on
    /// the cell's stderr.
    async fn sync_workspace(&mut self, cell: u64, sink: &mut (dyn FnMut(Event) + Send)) {
        if !self.is_alive() {
            return;
        }
        let Some(sync) = self.process.sync_workspace() else {
            return;
        };
        let problems = match sync.await {
            Ok(refused) => refused,
            Err(e) => vec![e],
        };
        for problem in problems {
            sink(Event::Output {
                cell,
                stream: Stream::Stderr,
                text: format!("[mcpr] workspace copy from the container: {problem}\n"),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &self,
        msg: KernelMsg,
        cell: u64,
        phase: &Phase,
        opts: &CellOptions,
        calls: &HostCalls,
        spill: &mut OutputSpill,
        running_calls: &mut JoinSet<CallDone>,
        in_flight: &mut std::collections::BTreeMap<u64, (String, Value, Instant)>,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> Handled {
        match msg {
            // Output can trail in from a previous cell's background threads; it is
            // shown with the cell running now, which is when the user sees it.
            KernelMsg::Out { stream, text, .. } => {
                if let Some(text) = spill.accept(stream, text) {
                    sink(Event::Output { cell, stream, text });
                }
            }
            KernelMsg::Call { id, name, args, .. } => {
                sink(Event::CallStarted {
                    cell,
                    id,
                    name: name.clone(),
                    args: args.clone(),
                });
                let t = Instant::now();
                let mut call = calls.dispatch(&name, args.clone());
                // Most handlers (echo, cached look-ups) finish at once: answer inline and
                // save a task hop; the rest run concurrently. A future polled with a no-op
                // waker re-registers its real waker when the task polls it again.
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                if let std::task::Poll::Ready(result) = call.as_mut().poll(&mut cx) {
                    return Handled::Reply((id, name, args, result, t.elapsed()));
                }
                in_flight.insert(id, (name.clone(), args.clone(), t));
                running_calls.spawn(async move {
                    let result = call.await;
                    (id, name, args, result, t.elapsed())
                });
            }
            KernelMsg::Value { repr, json, .. } => sink(Event::Value { cell, repr, json }),
            KernelMsg::Error {
                ename,
                evalue,
                traceback,
                line,
                column,
                ..
            } => {
                let message = match phase {
                    Phase::Interrupted {
                        reason: StopReason::Timeout,
                        ..
                    } if ename == "KeyboardInterrupt" => format!(
                        "interrupted: the cell exceeded its time limit of {}",
                        human_duration(opts.timeout.unwrap_or_default())
                    ),
                    Phase::Interrupted {
                        reason: StopReason::Cancel,
                        ..
                    } if ename == "KeyboardInterrupt" => {
                        "interrupted: the cell was cancelled".into()
                    }
                    _ if ename == "MemoryError" => format!(
                        "{evalue}{}the kernel reached its memory limit of {} MiB (kernel.limits.memory_mb)",
                        if evalue.is_empty() { "" } else { " — " },
                        self.limits.memory_mb
                    ),
                    _ => evalue,
                };
                sink(Event::Error {
                    cell,
                    ename,
                    message,
                    traceback,
                    line,
                    column,
                });
            }
            KernelMsg::Done { status, .. } => {
                return Handled::Finished(match (status.as_str(), phase) {
                    ("ok", _) => CellStatus::Ok,
                    (
                        "interrupted",
                        Phase::Interrupted {
                            reason: StopReason::Timeout,
                            ..
                        },
                    ) => CellStatus::Timeout,
                    (
                        "interrupted",
                        Phase::Interrupted {
                            reason: StopReason::Cancel,
                            ..
                        },
                    ) => CellStatus::Cancelled,
                    _ => CellStatus::Error,
                });
            }
            // Answers to live-checkpoint requests belong to no cell.
            KernelMsg::Hello { .. }
            | KernelMsg::Frozen { .. }
            | KernelMsg::Thawed { .. }
            | KernelMsg::Dropped { .. } => {}
        }
        Handled::Continue
    }

    async fn reply(&mut self, cell: u64, done: CallDone, sink: &mut (dyn FnMut(Event) + Send)) {
        // A host call may have written the workspace (a tools module, a large result)
        // for the kernel to read as soon as it has the reply.
        self.refresh_workspace(cell, sink).await;
        let (id, name, args, result, took) = done;
        let (msg, outcome) = match result {
            Ok(value) => (
                HostMsg::Reply {
                    id,
                    ok: true,
                    value: Some(value.clone()),
                    error: None,
                },
                CallOutcome::Ok(value),
            ),
            Err(e) => (
                HostMsg::Reply {
                    id,
                    ok: false,
                    value: None,
                    error: Some(ReplyError {
                        kind: e.kind.clone(),
                        message: e.message.clone(),
                    }),
                },
                CallOutcome::Error {
                    kind: e.kind,
                    message: e.message,
                },
            ),
        };
        self.send(&msg).await;
        sink(Event::HostCall {
            cell,
            id,
            name,
            args,
            outcome,
            duration_ms: ms(took),
        });
    }

    async fn on_death(
        &mut self,
        cell: u64,
        phase: Phase,
        opts: &CellOptions,
        sink: &mut (dyn FnMut(Event) + Send),
    ) -> CellStatus {
        let mut exit = self.process.exit();
        if tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.process.kill();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some)).await;
        }
        // Let the stderr reader catch the process's last words (e.g. faulthandler).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let timeout_text = human_duration(opts.timeout.unwrap_or_default());
        let (status, killed_by_host) = match phase {
            Phase::Killed {
                reason: StopReason::Protocol(why),
            } => (CellStatus::KernelDied, Some(why)),
            Phase::Killed {
                reason: StopReason::Timeout,
            } => (
                CellStatus::Timeout,
                Some(format!(
                    "the cell exceeded its time limit of {timeout_text} and did not stop within {} of the interrupt",
                    human_duration(opts.grace)
                )),
            ),
            Phase::Killed {
                reason: StopReason::Cancel,
            } => (
                CellStatus::Cancelled,
                Some(format!(
                    "the cell was cancelled and did not stop within {} of the interrupt",
                    human_duration(opts.grace)
                )),
            ),
            _ => (CellStatus::KernelDied, None),
        };
        let explanation = exit
            .borrow()
            .as_ref()
            .map(|e| e.explain(&self.limits, killed_by_host.as_deref()))
            .unwrap_or_else(|| "stopped answering".to_string());
        let message =
            format!("the kernel {explanation}; variables and imports of this session are lost");
        self.death = Some(explanation);
        sink(Event::Error {
            cell,
            ename: if status == CellStatus::KernelDied {
                "KernelDied"
            } else {
                "KernelKilled"
            }
            .into(),
            message,
            traceback: tail_text(&self.stderr_tail),
            line: None,
            column: None,
        });
        status
    }

    /// Asks the kernel to exit, then makes sure it has.
    pub async fn shutdown(mut self) {
        self.send(&HostMsg::Shutdown).await;
        let mut exit = self.process.exit();
        if tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.process.kill();
        }
        self.death.get_or_insert_with(|| "shut down".into());
    }

    /// Kills the process now (it is also killed when the `Kernel` is dropped).
    pub fn kill(&self) {
        self.process.kill();
    }
}

fn finish_early(
    sink: &mut (dyn FnMut(Event) + Send),
    cell: u64,
    started: Instant,
    ename: &str,
    message: String,
) -> CellStatus {
    let status = if ename == "KernelDied" {
        CellStatus::KernelDied
    } else {
        CellStatus::Error
    };
    sink(Event::Error {
        cell,
        ename: ename.into(),
        message,
        traceback: String::new(),
        line: None,
        column: None,
    });
    sink(Event::CellFinished {
        cell,
        status,
        duration_ms: ms(started.elapsed()),
        overflow: Vec::new(),
    });
    status
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 && s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

pub(crate) fn tail_text(tail: &Mutex<VecDeque<u8>>) -> String {
    let bytes: Vec<u8> = match tail.lock() {
        Ok(t) => t.iter().copied().collect(),
        Err(poisoned) => poisoned.into_inner().iter().copied().collect(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads and decodes frames from the kernel's stdout. Driven by the cell loop itself (no
/// task in between), so each frame costs no cross-thread hand-off. Cancel-safe: bytes
/// are decoded as soon as a read returns, before the next await.
struct FrameReader {
    stdout: Box<dyn AsyncRead + Send + Unpin>,
    decoder: FrameDecoder,
    ready: VecDeque<Incoming>,
    buf: Vec<u8>,
    closed: bool,
}

impl FrameReader {
    fn new(stdout: Box<dyn AsyncRead + Send + Unpin>, max_frame: usize) -> Self {
        Self {
            stdout,
            decoder: FrameDecoder::new(max_frame),
            ready: VecDeque::new(),
            buf: vec![0u8; 64 * 1024],
            closed: false,
        }
    }

    async fn next(&mut self) -> Incoming {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return item;
            }
            if self.closed {
                return Incoming::Closed;
            }
            match self.stdout.read(&mut self.buf).await {
                Ok(0) | Err(_) => self.closed = true,
                Ok(n) => {
                    self.decoder.push(&self.buf[..n]);
                    while let Some(frame) = self.decoder.next_frame() {
                        self.ready.push_back(
                            match frame.and_then(|payload| protocol::parse_kernel_msg(&payload)) {
                                Ok(msg) => Incoming::Msg(msg),
                                Err(e) => Incoming::Bad(e),
                            },
                        );
                    }
                }
            }
        }
    }
}

pub(crate) async fn keep_tail(
    mut stderr: Box<dyn AsyncRead + Send + Unpin>,
    tail: Arc<Mutex<VecDeque<u8>>>,
) {
    let mut buf = vec![0u8; 8 * 1024];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let mut tail = match tail.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        tail.extend(&buf[..n]);
        let excess = tail.len().saturating_sub(STDERR_TAIL);
        tail.drain(..excess);
    }
}
