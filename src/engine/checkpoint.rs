//! Saving the kernel's state at a step boundary, and rebuilding a session's state from the
//! best source the record offers: the latest saved checkpoint on the path to the target
//! step (names it could not hold re-created by re-running only the steps that defined
//! them, later steps replayed), else a replay of every recorded cell.
//!
//! The kernel side is `mcpr/_checkpoint.py`; pickles travel over host calls that exist
//! only while the quiet save or load runs. Whatever goes wrong on the checkpoint path
//! (an object missing or damaged, a Python version changed, a re-run step diverging)
//! costs only speed: the kernel is started again and the recorded cells are replayed,
//! and the `StateRestored` event says so. This module never decides what a checkpoint
//! holds on disk; [`crate::record::checkpoint`] does.

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::emit::Emitter;
use super::record::replay_into;
use crate::event::{Event, NoticeLevel, RestoreSource};
use crate::hostcall::{HostCallError, HostCalls};
use crate::record::checkpoint::{self, Checkpoint, Incoming};
use crate::record::objects::ObjectStore;
use crate::record::recorder::ReplayDir;
use crate::record::replay::{HistoryStep, ReplayError, ReplayReport};
use crate::record::snapshot::Snapshotter;
use crate::secrets::Secrets;
use crate::session::Session;

const MARK: &str = "\u{0}mcpr-checkpoint ";
const MODULE: &str = "__import__('mcpr._checkpoint', fromlist=['_'])";

/// What the kernel says after a save.
#[derive(Deserialize)]
struct Saved {
    format: u32,
    python: String,
    saved: BTreeMap<String, String>,
    modules: BTreeMap<String, String>,
    aliases: BTreeMap<String, String>,
    unsaved: BTreeMap<String, String>,
    defined: BTreeMap<String, u64>,
}

/// What the kernel says after a load or a re-apply.
#[derive(Deserialize)]
struct Loaded {
    restored: Vec<String>,
    missing: Vec<String>,
    failed: BTreeMap<String, String>,
    /// Saved objects missing from the record or not matching their hash.
    #[serde(default)]
    damaged: BTreeMap<String, String>,
}

impl Loaded {
    /// A damaged object makes the whole checkpoint untrustworthy.
    fn check(self) -> Result<Loaded, String> {
        match self.damaged.iter().next() {
            Some((name, why)) => Err(format!(
                "the saved object of {name} is damaged or missing ({why})"
            )),
            None => Ok(self),
        }
    }
}

fn report<T: for<'de> Deserialize<'de>>(stdout: &str) -> Result<T, String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .ok_or("the kernel did not report the checkpoint")?;
    serde_json::from_str(line)
        .map_err(|e| format!("the kernel's checkpoint report is unreadable: {e}"))
}

fn bad(message: impl Into<String>) -> HostCallError {
    HostCallError::bad_args(message)
}

/// Runs `code` quietly with the `checkpoint.*` calls `extra` added to the session's own.
async fn run_with(
    session: &mut Session,
    code: &str,
    extra: impl FnOnce(&mut HostCalls),
) -> Result<String, String> {
    let mut calls = session.calls_mut().clone();
    extra(&mut calls);
    let live = session.replace_calls(calls);
    let mut opts = session.cell_options();
    // A save or load of a large state may take a while; it is never cut short.
    opts.timeout = None;
    let result = session.run_quiet(code, &opts).await;
    session.replace_calls(live);
    result
}

/// Saves the kernel's globals after `step`: the pickles the store lacks are written in
/// one batch; returns the checkpoint line to append to the log.
pub async fn save(
    session: &mut Session,
    step: u64,
    store: &ObjectStore,
    secrets: &Secrets,
) -> Result<Checkpoint, String> {
    let incoming = Arc::new(Mutex::new(Incoming::default()));
    let code = format!("{MODULE}.save({step})");
    let (have, parts) = (store.clone(), incoming.clone());
    let stdout = run_with(session, &code, move |calls| {
        calls.register("checkpoint.missing", move |args: Value| {
            let store = have.clone();
            async move {
                let hashes = args
                    .get("hashes")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("checkpoint.missing needs `hashes`"))?;
                let missing: Vec<&Value> = hashes
                    .iter()
                    .filter(|h| h.as_str().is_none_or(|h| !store.contains(h)))
                    .collect();
                Ok(json!(missing))
            }
        });
        calls.register("checkpoint.put", move |args: Value| {
            let parts = parts.clone();
            async move {
                let field = |k: &str| {
                    args.get(k)
                        .ok_or_else(|| bad(format!("checkpoint.put needs `{k}`")))
                };
                let hash = field("hash")?.as_str().unwrap_or_default().to_string();
                let part = field("part")?.as_u64().unwrap_or(u64::MAX) as usize;
                let count = field("parts")?.as_u64().unwrap_or(0) as usize;
                let data = field("data")?.as_str().unwrap_or_default();
                let bytes =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data)
                        .map_err(|e| bad(format!("checkpoint.put: bad base64: {e}")))?;
                parts
                    .lock()
                    .map_err(|_| bad("checkpoint state poisoned"))?
                    .put(&hash, part, count, bytes)
                    .map_err(bad)?;
                Ok(Value::Null)
            }
        });
    })
    .await?;
    let saved: Saved = report(&stdout)?;
    let unsaved = saved
        .unsaved
        .into_iter()
        .map(|(name, why)| (name, secrets.redact(&why)))
        .collect();
    let line = Checkpoint {
        step,
        format: saved.format,
        python: saved.python,
        saved: saved.saved,
        modules: saved.modules,
        aliases: saved.aliases,
        unsaved,
        defined: saved.defined,
        bytes: 0,
        digest: String::new(),
    };
    let incoming = std::mem::take(&mut *incoming.lock().map_err(|_| "checkpoint state poisoned")?);
    let (store, secrets) = (store.clone(), secrets.clone());
    tokio::task::spawn_blocking(move || checkpoint::store(&store, line, incoming, &secrets))
        .await
        .map_err(|e| e.to_string())?
}

/// Loads (or, `again`, re-applies) checkpoint `c` into the session's kernel.
async fn load(
    session: &mut Session,
    c: &Checkpoint,
    again: bool,
    store: &ObjectStore,
) -> Result<Loaded, String> {
    let manifest = json!({
        "saved": c.saved, "modules": c.modules, "aliases": c.aliases,
        "unsaved": c.unsaved, "defined": c.defined,
    });
    let literal = serde_json::to_string(&manifest.to_string()).map_err(|e| e.to_string())?;
    let verb = if again { "reapply" } else { "load" };
    let code = format!("{MODULE}.{verb}(__import__('json').loads({literal}))");
    let store = store.clone();
    let stdout = run_with(session, &code, move |calls| {
        calls.register("checkpoint.get", move |args: Value| {
            let store = store.clone();
            async move {
                let hash = args
                    .get("hash")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let part = args.get("part").and_then(Value::as_u64).unwrap_or(0) as usize;
                let size = args
                    .get("part_size")
                    .and_then(Value::as_u64)
                    .unwrap_or(1 << 20) as usize;
                let (bytes, parts) = tokio::task::spawn_blocking(move || {
                    checkpoint::part(&store, &hash, part, size)
                })
                .await
                .map_err(|e| HostCallError::new("failed", e.to_string()))?
                .map_err(|e| HostCallError::new("failed", e.to_string()))?;
                let data =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
                Ok(json!({"data": data, "parts": parts}))
            }
        });
    })
    .await?;
    report(&stdout)
}

/// How the state was rebuilt.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub source: RestoreSource,
    pub checkpoint: Option<u64>,
    /// Cells re-run (to re-create names, and after the checkpoint; or all of them).
    pub cells: usize,
    pub recreated: Vec<String>,
    /// Why a checkpoint on the path was not used.
    pub fallback: Option<String>,
    /// The replay part (cells re-run, calls served, differences).
    pub report: ReplayReport,
    pub duration_ms: f64,
}

/// What [`restore`] may use.
#[derive(Debug, Clone, Default)]
pub struct Via {
    /// The latest saved checkpoint on the path (`[checkpoints] saved`).
    pub saved: bool,
    /// Why a live checkpoint was not used, when one was tried first.
    pub live_fallback: Option<String>,
}

/// Rebuilds the state after the last step of `history` in `session` (a fresh kernel):
/// from the latest saved checkpoint when `saved` allows and it can be trusted, else by
/// replaying every cell. Sends `StateRestored` saying which.
pub async fn restore(
    session: &mut Session,
    history: &[HistoryStep],
    base: &str,
    snapshots: &mut Snapshotter,
    dir: &ReplayDir,
    out: &Emitter,
    how: Via,
) -> Result<Restored, ReplayError> {
    let started = Instant::now();
    let target = history.last().map_or(0, |h| h.step.id());
    let Via {
        saved,
        live_fallback: mut fallback,
    } = how;
    let at = if saved {
        history.iter().rposition(|h| h.step.checkpoint.is_some())
    } else {
        None
    };
    let restored = match at {
        Some(index) => match from_saved(session, history, base, index, snapshots, dir, out).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(why)) => {
                let step = history[index].step.id();
                out.notice(
                    NoticeLevel::Warning,
                    format!(
                        "the saved checkpoint of step {step} was not used: {why}; replaying the recorded cells instead"
                    ),
                );
                fallback = Some(match fallback.take() {
                    Some(live) => format!("{live}; {why}"),
                    None => why,
                });
                session.restart_kernel().await;
                None.ok_or(())
            }
            Err(e) => return Err(e),
        },
        None => None.ok_or(()),
    };
    let mut restored = match restored {
        Ok(r) => r,
        Err(()) => {
            let report = replay_into(session, history, base, snapshots, dir, out).await?;
            Restored {
                source: RestoreSource::Replay,
                checkpoint: None,
                cells: report.cells,
                recreated: Vec::new(),
                fallback: None,
                report,
                duration_ms: 0.0,
            }
        }
    };
    restored.fallback = fallback;
    restored.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    announce(session, target, &restored, out);
    Ok(restored)
}

fn announce(session: &Session, target: u64, restored: &Restored, out: &Emitter) {
    out.send(Event::StateRestored {
        session: session.name().to_string(),
        step: target,
        source: restored.source,
        checkpoint: restored.checkpoint,
        cells: restored.cells as u64,
        recreated: restored.recreated.clone(),
        fallback: restored.fallback.clone(),
        duration_ms: restored.duration_ms,
        warm: restored.source != RestoreSource::Live && session.kernel_warm(),
    });
}

/// What a rewind through the live checkpoints came to.
pub enum Live {
    Restored(Restored),
    /// No copy was on the path, or waking it failed (why).
    NotUsed(Option<String>),
}

/// Rewinds to the last step of `history` by waking the nearest frozen copy on its path
/// and replaying the steps after it. The current kernel is abandoned on success, and
/// stays as it was otherwise.
pub async fn from_live(
    session: &mut Session,
    frozen: &mut super::frozen::FrozenCopies,
    history: &[HistoryStep],
    snapshots: &mut Snapshotter,
    dir: &ReplayDir,
    out: &Emitter,
) -> Result<Live, ReplayError> {
    let started = Instant::now();
    let path: Vec<u64> = history.iter().map(|h| h.step.id()).collect();
    let Some(step) = frozen.nearest(session, &path) else {
        return Ok(Live::NotUsed(None));
    };
    let Some(index) = path.iter().position(|s| *s == step) else {
        return Ok(Live::NotUsed(None));
    };
    let Some(end) = history[index].step.end.clone() else {
        return Ok(Live::NotUsed(None));
    };
    if let Err(why) = frozen.thaw(session, step).await {
        return Ok(Live::NotUsed(Some(format!(
            "the live checkpoint of step {step} could not be woken: {why}"
        ))));
    }
    snapshots
        .restore(session.workspace(), dir.store(), &end.snapshot)
        .map_err(|source| ReplayError::Restore { step, source })?;
    let after = &history[index + 1..];
    let report = if after.is_empty() {
        ReplayReport::default()
    } else {
        replay_into(session, after, &end.snapshot, snapshots, dir, out).await?
    };
    let restored = Restored {
        source: RestoreSource::Live,
        checkpoint: Some(step),
        cells: report.cells,
        recreated: Vec::new(),
        fallback: None,
        report,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    announce(session, *path.last().unwrap_or(&step), &restored, out);
    Ok(Live::Restored(restored))
}

/// The snapshot step `index` of `history` started from.
fn before(history: &[HistoryStep], base: &str, index: usize) -> String {
    index
        .checked_sub(1)
        .and_then(|i| history[i].step.end.as_ref())
        .map_or_else(|| base.to_string(), |e| e.snapshot.clone())
}

/// The checkpoint path. The outer error is a replay failure after the checkpoint (the
/// same as a full replay would meet); the inner one says why the checkpoint was left.
async fn from_saved(
    session: &mut Session,
    history: &[HistoryStep],
    base: &str,
    index: usize,
    snapshots: &mut Snapshotter,
    dir: &ReplayDir,
    out: &Emitter,
) -> Result<Result<Restored, String>, ReplayError> {
    let at = &history[index];
    let Some(c) = at.step.checkpoint.clone() else {
        return Ok(Err("no checkpoint".into()));
    };
    let Some(end) = at.step.end.clone() else {
        return Ok(Err("its step did not end".into()));
    };
    if let Err(e) = session.ensure_kernel().await {
        return Ok(Err(format!("no kernel to load it into: {e}")));
    }
    let python = session
        .kernel()
        .map(|k| k.info().python.clone())
        .unwrap_or_default();
    if let Err(why) = c.check(&python) {
        return Ok(Err(why.to_string()));
    }
    let store = dir.store();
    if let Err(e) = snapshots.restore(session.workspace(), store, &end.snapshot) {
        return Ok(Err(format!(
            "could not restore the workspace of step {}: {e}",
            c.step
        )));
    }
    if let Some(code) = history[..=index]
        .iter()
        .rev()
        .find_map(|h| h.step.begin.startup.clone())
        && session.startup_code() != Some(code.as_str())
        && let Err(e) = session.set_startup_code(code).await
    {
        return Ok(Err(format!("the session startup code failed: {e}")));
    }
    let result = load_and_recreate(session, history, base, index, &c, snapshots, dir, out).await;
    let (cells, recreated) = match result {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    let after = &history[index + 1..];
    let mut report = ReplayReport::default();
    if !after.is_empty() {
        report = replay_into(session, after, &end.snapshot, snapshots, dir, out).await?;
    }
    Ok(Ok(Restored {
        source: RestoreSource::Saved,
        checkpoint: Some(c.step),
        cells: cells + report.cells,
        recreated,
        fallback: None,
        report,
        duration_ms: 0.0,
    }))
}

/// Loads the checkpoint, re-runs the steps defining what it lacks, applies it again.
/// Returns the cells re-run and the names re-created.
#[allow(clippy::too_many_arguments)]
async fn load_and_recreate(
    session: &mut Session,
    history: &[HistoryStep],
    base: &str,
    index: usize,
    c: &Checkpoint,
    snapshots: &mut Snapshotter,
    dir: &ReplayDir,
    out: &Emitter,
) -> Result<(usize, Vec<String>), String> {
    let first = load(session, c, false, dir.store()).await?.check()?;
    if let Some(name) = c
        .saved
        .keys()
        .find(|n| !first.restored.contains(n) && !first.failed.contains_key(*n))
    {
        return Err(format!("{name} was saved but did not come back"));
    }
    let (steps, orphans) = c.steps_defining(&first.missing);
    if !orphans.is_empty() {
        return Err(format!("no recorded step defines {}", orphans.join(", ")));
    }
    let mut cells = 0;
    for step in &steps {
        let Some(i) = history[..=index].iter().position(|h| h.step.id() == *step) else {
            return Err(format!("step {step} is not on the path to step {}", c.step));
        };
        let names: Vec<&str> = first
            .missing
            .iter()
            .filter(|n| c.defined.get(*n) == Some(step))
            .map(String::as_str)
            .collect();
        let report = replay_into(
            session,
            std::slice::from_ref(&history[i]),
            &before(history, base, i),
            snapshots,
            dir,
            out,
        )
        .await
        .map_err(|e| {
            format!(
                "re-running step {step} to re-create {}: {e}",
                names.join(", ")
            )
        })?;
        cells += report.cells;
    }
    if !steps.is_empty() {
        let end = history[index].step.end.as_ref().map(|e| e.snapshot.clone());
        if let Some(snapshot) = end {
            snapshots
                .restore(session.workspace(), dir.store(), &snapshot)
                .map_err(|e| format!("could not restore the workspace of step {}: {e}", c.step))?;
        }
    }
    let second = load(session, c, true, dir.store()).await?.check()?;
    if !second.missing.is_empty() {
        let why: Vec<String> = second
            .missing
            .iter()
            .map(|n| match second.failed.get(n).or(c.unsaved.get(n)) {
                Some(w) => format!("{n} ({w})"),
                None => n.clone(),
            })
            .collect();
        return Err(format!("could not re-create {}", why.join(", ")));
    }
    Ok((cells, first.missing))
}
