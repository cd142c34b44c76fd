//! Reading a session log: a fold over its lines, one at a time, whose state can be kept
//! and fed the lines appended later (see [`super::cache`]), so that a reader of a long log
//! that grows goes on from where it stopped instead of reading it again.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

use super::{
    DamagedStep, Detail, FORMAT_VERSION, Line, LogError, LogWarning, SessionHeader, SessionLog,
    Step,
};
use crate::event::Event;
use crate::record::objects::ObjectStore;

/// What the lines read so far say.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Reading {
    header: Option<SessionHeader>,
    steps: Vec<Step>,
    head: Option<u64>,
    warnings: Vec<LogWarning>,
    damaged: Vec<DamagedStep>,
    /// Lines read: the next one is number `lines + 1`.
    lines: usize,
}

impl Reading {
    /// Reads `bytes`, the log's text after the lines read so far. Lines are numbered on
    /// from the ones before; a last line without its newline is a torn write, reported
    /// as such (feed such a tail only once, as the last).
    pub(crate) fn feed(
        &mut self,
        path: &Path,
        bytes: &[u8],
        store: &ObjectStore,
        detail: Detail,
    ) -> Result<(), LogError> {
        let torn = !bytes.is_empty() && !bytes.ends_with(b"\n");
        let total = bytes.split(|b| *b == b'\n').count();
        let first = self.lines;
        for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let number = first + index + 1;
            let last = index + 1 == total;
            if !last || torn {
                self.lines = number;
            }
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.line(path, raw, number, last && torn, store, detail)?;
        }
        Ok(())
    }

    fn line(
        &mut self,
        path: &Path,
        raw: &[u8],
        number: usize,
        torn_last: bool,
        store: &ObjectStore,
        detail: Detail,
    ) -> Result<(), LogError> {
        let (steps, warnings, damaged) = (&mut self.steps, &mut self.warnings, &mut self.damaged);
        if detail != Detail::Full
            && let Ok(peek) = serde_json::from_slice::<Peek>(raw)
            && peek.kind == "event"
            && let (Some(step), Some(event)) = (peek.step, peek.event)
            && !detail.keeps(step, &event.kind)
        {
            if !steps.iter().rev().any(|s| s.id() == step) {
                note_unknown_step(damaged, warnings, number, step, "event");
            }
            return Ok(());
        }
        // Well-formed lines (nearly all) are read straight into their type; a line that
        // is not is read again to say what is wrong with it.
        let line: Line = match serde_json::from_slice(raw) {
            Ok(line) => line,
            Err(_) => match unreadable(raw, number, torn_last, warnings, damaged) {
                Some(line) => line,
                None => return Ok(()),
            },
        };
        match line {
            Line::Session(h) => {
                if self.header.is_some() {
                    warnings.push(LogWarning {
                        line: number,
                        message: "second `session` line ignored".into(),
                    });
                } else {
                    if h.format > FORMAT_VERSION {
                        return Err(LogError::Format {
                            path: path.to_path_buf(),
                            found: h.format,
                        });
                    }
                    self.header = Some(h);
                }
            }
            Line::Step(begin) => steps.push(Step {
                begin,
                events: Vec::new(),
                end: None,
                line: number,
                interruption_noted: false,
                checkpoint: None,
            }),
            Line::Event { step, event } => {
                let Some(target) = steps.iter_mut().rev().find(|s| s.id() == step) else {
                    note_unknown_step(damaged, warnings, number, step, "event");
                    return Ok(());
                };
                let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
                if !detail.keeps(step, kind) {
                    return Ok(());
                }
                match resolve(event, store)
                    .and_then(|v| serde_json::from_value::<Event>(v).map_err(|e| e.to_string()))
                {
                    Ok(e) => target.events.push(e),
                    Err(message) => warnings.push(LogWarning {
                        line: number,
                        message: format!("event skipped: {message}"),
                    }),
                }
            }
            Line::End(end) => match steps.iter_mut().rev().find(|s| s.id() == end.step) {
                Some(s) => {
                    self.head = Some(end.step);
                    s.end = Some(end);
                }
                None => {
                    // The step is lost, but it ended: later steps came after it.
                    self.head = Some(end.step);
                    note_unknown_step(damaged, warnings, number, end.step, "end");
                }
            },
            Line::Head { step, .. } => self.head = Some(step),
            Line::Interrupted { step, .. } => {
                if let Some(s) = steps.iter_mut().rev().find(|s| s.id() == step) {
                    s.interruption_noted = true;
                }
            }
            Line::Checkpoint(c) => {
                if let Some(s) = steps.iter_mut().rev().find(|s| s.id() == c.step) {
                    s.checkpoint = Some(c);
                }
            }
        }
        Ok(())
    }

    /// The log as read: an error when no header was found.
    pub(crate) fn finish(self, path: &Path) -> Result<SessionLog, LogError> {
        let header = self.header.ok_or_else(|| LogError::NoHeader {
            path: path.to_path_buf(),
            message: "none found".into(),
        })?;
        let head = self
            .head
            .unwrap_or_else(|| header.fork.as_ref().map_or(0, |f| f.step));
        Ok(SessionLog {
            path: path.to_path_buf(),
            header,
            steps: self.steps,
            head,
            warnings: self.warnings,
            damaged: self.damaged,
        })
    }
}

/// The first fields of a log line, read without decoding the rest: enough to skip an
/// event that the reader's [`Detail`] drops.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    step: Option<u64>,
    #[serde(borrow)]
    event: Option<PeekEvent<'a>>,
}

#[derive(Deserialize)]
struct PeekEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// Why a log line that does not read as a [`Line`] was skipped (a warning, and a damaged
/// step noted for a `step` line), or the line when it reads after all.
fn unreadable(
    raw: &[u8],
    line: usize,
    torn_last: bool,
    warnings: &mut Vec<LogWarning>,
    damaged: &mut Vec<DamagedStep>,
) -> Option<Line> {
    let value: Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(LogWarning {
                line,
                message: if torn_last {
                    format!(
                        "incomplete last line ({} bytes) skipped: mcpr probably stopped while writing it",
                        raw.len()
                    )
                } else {
                    format!("unreadable line skipped: {e}")
                },
            });
            return None;
        }
    };
    let is_step = value.get("type").and_then(Value::as_str) == Some("step");
    match serde_json::from_value(value) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            if is_step {
                damaged.push(DamagedStep { line, step: None });
            }
            warnings.push(LogWarning {
                line,
                message: if is_step {
                    format!(
                        "damaged `step` line skipped ({e}): that step's events are left out, and steps continuing from it cannot be rebuilt"
                    )
                } else {
                    format!("line of unknown shape skipped: {e}")
                },
            });
            None
        }
    }
}

/// An event or end naming a step that never began belongs to the damaged step line just
/// before it, if there is one: say so once, not once per line.
fn note_unknown_step(
    damaged: &mut [DamagedStep],
    warnings: &mut Vec<LogWarning>,
    line: usize,
    step: u64,
    what: &str,
) {
    if damaged.iter().any(|d| d.step == Some(step)) {
        return;
    }
    if let Some(d) = damaged.iter_mut().rev().find(|d| d.step.is_none()) {
        d.step = Some(step);
        return;
    }
    warnings.push(LogWarning {
        line,
        message: format!("{what} of unknown step {step} skipped"),
    });
}

/// Replaces `{"$object": hash, "bytes": n}` with the stored string.
fn resolve(value: Value, store: &ObjectStore) -> Result<Value, String> {
    match value {
        Value::Object(map) => {
            if map.len() == 2
                && let (Some(Value::String(hash)), Some(_)) = (map.get("$object"), map.get("bytes"))
            {
                let bytes = store
                    .get(hash)
                    .map_err(|e| format!("stored string {hash}: {e}"))?;
                return Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            }
            map.into_iter()
                .map(|(k, v)| resolve(v, store).map(|v| (k, v)))
                .collect::<Result<_, _>>()
                .map(Value::Object)
        }
        Value::Array(items) => items
            .into_iter()
            .map(|v| resolve(v, store))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other),
    }
}
