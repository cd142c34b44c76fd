//! The sessions a server has open, by name: opened on first use through the engine (a
//! recorded one is continued), one operation at a time each, closed when idle too long
//! or when the server stops.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::engine::{Context, Op, Ops, SessionSpec, Start};
use crate::event::Event;
use crate::record::recorder::ReplayDir;

/// An open session: its operations, and its events behind a lock that one request holds
/// at a time (so requests naming the same session take turns).
struct Slot {
    ops: Ops,
    events: Mutex<mpsc::UnboundedReceiver<Event>>,
    used: std::sync::Mutex<Instant>,
}

pub struct Sessions {
    ctx: Context,
    base: SessionSpec,
    open: Mutex<BTreeMap<String, Arc<Slot>>>,
}

impl Sessions {
    pub fn new(ctx: Context, base: SessionSpec) -> Sessions {
        Sessions {
            ctx,
            base,
            open: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The record folder, if any session was ever recorded.
    pub fn record_dir(&self) -> Option<ReplayDir> {
        ReplayDir::open_existing(&self.ctx.project.replay_dir())
    }

    /// The open session `name`, opened (or continued) when it is not.
    async fn slot(&self, name: &str) -> Result<Arc<Slot>, String> {
        let mut open = self.open.lock().await;
        if let Some(slot) = open.get(name) {
            return Ok(slot.clone());
        }
        let spec = SessionSpec {
            start: Start::Continue {
                name: name.to_string(),
            },
            ..self.base.clone()
        };
        spec.check().map_err(|e| e.to_string())?;
        let mut handle = crate::engine::start(self.ctx.clone(), spec);
        let mut warm = false;
        loop {
            match handle.events.recv().await {
                Some(Event::SessionStarted { warm: w, .. }) => warm = w,
                Some(Event::OpEnded {
                    op: 0, error: None, ..
                }) => break,
                Some(Event::OpEnded {
                    op: 0,
                    error: Some(e),
                    ..
                }) => return Err(format!("could not open session {name}: {e}")),
                Some(_) => {}
                None => return Err(format!("could not open session {name}")),
            }
        }
        let slot = Arc::new(Slot {
            ops: handle.ops,
            events: Mutex::new(handle.events),
            used: std::sync::Mutex::new(Instant::now()),
        });
        open.insert(name.to_string(), slot.clone());
        crate::cli::out::write_err(format_args!(
            "[mcpr] opened session {name} on a {} kernel\n",
            if warm { "warm" } else { "cold" }
        ));
        Ok(slot)
    }

    /// Runs `op` in session `name` and returns its events. `cancel` (the client's
    /// cancellation) and `timeout` interrupt it; `on_event` sees each event as it comes.
    pub async fn run(
        &self,
        name: &str,
        op: Op,
        timeout: Option<f64>,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<Vec<Event>, String> {
        let slot = self.slot(name).await?;
        let mut events = slot.events.lock().await;
        let id = slot.ops.send(op);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + Duration::from_secs_f64(t));
        let mut stopped = false;
        let mut timed_out = false;
        let mut seen = Vec::new();
        let result = loop {
            // Whether the deadline (true) or the client (false) stopped the call.
            let stop = async {
                match deadline {
                    _ if stopped => std::future::pending().await,
                    Some(at) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(at) => true,
                            () = cancel.cancelled() => false,
                        }
                    }
                    None => {
                        cancel.cancelled().await;
                        false
                    }
                }
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::OpEnded { op, error, .. }) if op == id => {
                        if let (true, Some(t)) = (timed_out, timeout) {
                            seen.push(Event::notice(
                                crate::event::NoticeLevel::Warning,
                                format!("stopped: the call's timeout of {t} s passed"),
                            ));
                        }
                        break match error {
                            None => Ok(seen),
                            Some(e) => Err(e),
                        };
                    }
                    Some(e) => {
                        on_event(&e);
                        seen.push(e);
                    }
                    None => {
                        break Err(format!("session {name} ended unexpectedly; the next call opens it again"));
                    }
                },
                by_deadline = stop => {
                    stopped = true;
                    timed_out = by_deadline;
                    slot.ops.send(Op::Cancel);
                }
            }
        };
        if let Ok(mut used) = slot.used.lock() {
            *used = Instant::now();
        }
        drop(events);
        if result.is_err() {
            // A session whose owner is gone is opened again by the next call.
            let mut open = self.open.lock().await;
            if open.get(name).is_some_and(|s| Arc::ptr_eq(s, &slot)) && slot.ops.is_closed() {
                open.remove(name);
            }
        }
        result
    }

    /// Closes the sessions idle for longer than `idle` (their kernels are freed; the
    /// record stays, and the next call continues them).
    pub async fn close_idle(&self, idle: Duration) -> Vec<String> {
        let mut open = self.open.lock().await;
        let stale: Vec<String> = open
            .iter()
            .filter(|(_, s)| {
                s.used.lock().is_ok_and(|u| u.elapsed() > idle) && s.events.try_lock().is_ok()
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in &stale {
            if let Some(slot) = open.remove(name) {
                close(slot).await;
            }
        }
        stale
    }

    /// Closes every session: kernels and tool servers stop.
    pub async fn close_all(&self) {
        let slots: Vec<Arc<Slot>> = std::mem::take(&mut *self.open.lock().await)
            .into_values()
            .collect();
        for slot in slots {
            close(slot).await;
        }
    }
}

async fn close(slot: Arc<Slot>) {
    let id = slot.ops.send(Op::Shutdown);
    let mut events = slot.events.lock().await;
    let wait = async {
        while let Some(e) = events.recv().await {
            if matches!(e, Event::OpEnded { op, .. } if op == id) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
}
