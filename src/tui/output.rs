//! The output pane's content: an append-only store of lines (one text arena, a small
//! record per line), grouped into blocks for copying, and the host calls that tool-call
//! lines show. A million lines cost the text plus 24 bytes each; only the visible slice
//! is ever laid out. Never draws.

use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;

use crate::event::CallOutcome;

/// What a line is, which decides its style and which block it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Stdout,
    Stderr,
    /// The model's words as they stream.
    Agent,
    /// The value of a cell's last expression.
    Value,
    /// A traceback line.
    Error,
    /// The traceback line that points into the cell's own code.
    ErrorHere,
    /// What the console says (step ended, attempt started, …).
    Info,
    Warning,
    /// A task or cell as submitted.
    Input,
    /// A host call; the line's text is drawn from the call.
    Call,
}

#[derive(Debug, Clone, Copy)]
struct LineMeta {
    /// Byte offset into the arena, or the call's index for `Call` lines.
    start: usize,
    len: u32,
    kind: LineKind,
    block: u32,
}

/// A host call as the output shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: u64,
    pub name: String,
    pub args: Value,
    pub started: Instant,
    /// None while it runs.
    pub outcome: Option<CallOutcome>,
    pub duration_ms: f64,
    /// Bytes of the result as JSON.
    pub size: usize,
    pub expanded: bool,
}

impl Call {
    /// `demo.get_weather(city='Paris')`: tools by server and tool, arguments as Python
    /// keywords.
    pub fn label(&self) -> String {
        let (name, args) = match self.name.as_str() {
            "tools.call" => (
                format!(
                    "{}.{}",
                    self.args
                        .get("server")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    self.args.get("tool").and_then(Value::as_str).unwrap_or("?")
                ),
                self.args.get("args").cloned().unwrap_or(Value::Null),
            ),
            other => (other.to_string(), self.args.clone()),
        };
        let args = match args {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{k}={}", python_repr(v, 40)))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Null => String::new(),
            other => python_repr(&other, 60),
        };
        format!("{name}({args})")
    }

    /// A result too large to pass inline: the workspace path it was saved at, and its
    /// size (the tool hub's `{"__mcpr__": "large", ...}` marker).
    pub fn offloaded(&self) -> Option<(String, u64)> {
        let Some(CallOutcome::Ok(v)) = &self.outcome else {
            return None;
        };
        let v = match v.get("result") {
            Some(inner) if inner.get("__mcpr__").is_some() => inner,
            _ => v,
        };
        if v.get("__mcpr__").and_then(Value::as_str) != Some("large") {
            return None;
        }
        let path = v.get("path").and_then(Value::as_str)?.to_string();
        Some((path, v.get("bytes").and_then(Value::as_u64).unwrap_or(0)))
    }

    /// The lines shown under an expanded call: its arguments and its result.
    pub fn detail(&self) -> Vec<String> {
        let mut out = vec!["  arguments:".to_string()];
        let args = match self.name.as_str() {
            "tools.call" => self.args.get("args").cloned().unwrap_or(Value::Null),
            _ => self.args.clone(),
        };
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        out.extend(pretty(&args).lines().map(|l| format!("    {l}")));
        match &self.outcome {
            None => out.push("  running…".into()),
            Some(CallOutcome::Ok(v)) => {
                out.push("  result:".into());
                out.extend(pretty(v).lines().map(|l| format!("    {l}")));
            }
            Some(CallOutcome::Error { kind, message }) => {
                out.push(format!("  error ({kind}):"));
                out.extend(message.lines().map(|l| format!("    {l}")));
            }
        }
        out
    }
}

/// A short Python-looking repr of a JSON value.
pub fn python_repr(v: &Value, max: usize) -> String {
    let text = match v {
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    };
    crate::record::clip(&text.replace('\n', "\\n"), max)
}

/// A byte count as people read it: `212 B`, `3.4 KB`, `1.2 MB`.
pub fn human_bytes(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1024 * 1024 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// A duration in milliseconds as people read it.
pub fn human_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!(
            "{}m{:02}s",
            (ms / 60_000.0) as u64,
            ((ms / 1000.0) as u64) % 60
        )
    }
}

/// One line as the renderer needs it.
#[derive(Debug, Clone, Copy)]
pub struct LineRef<'a> {
    pub kind: LineKind,
    /// Empty for call lines (their text comes from the call).
    pub text: &'a str,
    pub call: Option<&'a Call>,
}

#[derive(Debug, Default)]
pub struct OutputStore {
    text: String,
    lines: Vec<LineMeta>,
    /// The first line of each block.
    blocks: Vec<usize>,
    calls: Vec<Call>,
    by_id: HashMap<u64, usize>,
    /// The last line may still grow (a stream chunk ended mid-line).
    open: bool,
}

impl OutputStore {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn line(&self, i: usize) -> Option<LineRef<'_>> {
        let m = self.lines.get(i)?;
        Some(match m.kind {
            LineKind::Call => LineRef {
                kind: m.kind,
                text: "",
                call: self.calls.get(m.start),
            },
            kind => LineRef {
                kind,
                text: self
                    .text
                    .get(m.start..m.start + m.len as usize)
                    .unwrap_or_default(),
                call: None,
            },
        })
    }

    fn last_kind(&self) -> Option<LineKind> {
        self.lines.last().map(|m| m.kind)
    }

    fn new_line(&mut self, kind: LineKind, new_block: bool) {
        if new_block || self.last_kind() != Some(kind) || self.blocks.is_empty() {
            self.blocks.push(self.lines.len());
        }
        self.lines.push(LineMeta {
            start: self.text.len(),
            len: 0,
            kind,
            block: (self.blocks.len() - 1) as u32,
        });
    }

    /// Appends streamed text: continues an open line of the same kind, starts a line
    /// after each newline. Consecutive lines of one kind form one block.
    pub fn push_stream(&mut self, kind: LineKind, text: &str) {
        for (i, piece) in text.split('\n').enumerate() {
            let continues = i == 0 && self.open && self.last_kind() == Some(kind);
            if !continues {
                self.new_line(kind, false);
            }
            let piece = piece.strip_suffix('\r').unwrap_or(piece);
            self.text.push_str(piece);
            if let Some(m) = self.lines.last_mut() {
                m.len += piece.len() as u32;
            }
            self.open = true;
        }
        // A chunk ending in a newline leaves an empty open line; drop it until more comes.
        if text.ends_with('\n') {
            self.lines.pop();
            if let Some(&first) = self.blocks.last()
                && first >= self.lines.len()
            {
                self.blocks.pop();
            }
            self.open = false;
        }
    }

    /// Closes an open line (what comes next starts a line of its own).
    pub fn close_line(&mut self) {
        self.open = false;
    }

    /// Adds complete lines of `kind` as a block of their own.
    pub fn push_block(&mut self, kind: LineKind, text: &str) {
        self.open = false;
        let mut first = true;
        for line in text.trim_end_matches('\n').split('\n') {
            self.new_line(kind, first);
            first = false;
            self.text.push_str(line);
            if let Some(m) = self.lines.last_mut() {
                m.len = line.len() as u32;
            }
        }
    }

    /// Adds a traceback: the lines pointing at the cell's line `at` stand out.
    pub fn push_traceback(&mut self, text: &str, at: Option<u32>) {
        self.open = false;
        let mut first = true;
        let marker = at.map(|n| format!("line {n}"));
        for line in text.trim_end_matches('\n').split('\n') {
            let here = marker.as_ref().is_some_and(|m| {
                line.contains(m.as_str())
                    && line[line.find(m.as_str()).unwrap_or(0) + m.len()..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_ascii_digit())
            });
            let kind = if here {
                LineKind::ErrorHere
            } else {
                LineKind::Error
            };
            // One block for the whole traceback, whatever its line kinds.
            if first {
                self.blocks.push(self.lines.len());
            }
            self.lines.push(LineMeta {
                start: self.text.len(),
                len: line.len() as u32,
                kind,
                block: (self.blocks.len() - 1) as u32,
            });
            self.text.push_str(line);
            first = false;
        }
    }

    /// A host call starting: one line, updated when it ends.
    pub fn call_started(&mut self, id: u64, name: &str, args: Value, now: Instant) {
        self.open = false;
        self.calls.push(Call {
            id,
            name: name.to_string(),
            args,
            started: now,
            outcome: None,
            duration_ms: 0.0,
            size: 0,
            expanded: false,
        });
        self.by_id.insert(id, self.calls.len() - 1);
        self.blocks.push(self.lines.len());
        self.lines.push(LineMeta {
            start: self.calls.len() - 1,
            len: 0,
            kind: LineKind::Call,
            block: (self.blocks.len() - 1) as u32,
        });
    }

    /// A host call ended (one never seen starting gets its line now).
    pub fn call_ended(
        &mut self,
        id: u64,
        name: &str,
        args: Value,
        outcome: CallOutcome,
        duration_ms: f64,
        now: Instant,
    ) {
        let index = match self.by_id.get(&id) {
            Some(&i) if id != 0 => i,
            _ => {
                self.call_started(id, name, args, now);
                self.calls.len() - 1
            }
        };
        if let Some(call) = self.calls.get_mut(index) {
            call.size = match &outcome {
                CallOutcome::Ok(v) => v.to_string().len(),
                CallOutcome::Error { message, .. } => message.len(),
            };
            call.outcome = Some(outcome);
            call.duration_ms = duration_ms;
        }
        self.by_id.remove(&id);
    }

    /// Whether any call is still running (the spinner needs frames).
    pub fn calls_running(&self) -> bool {
        !self.by_id.is_empty()
    }

    /// Ends the calls still shown running (their cell ended without them).
    pub fn abandon_calls(&mut self) {
        for (_, i) in self.by_id.drain() {
            if let Some(c) = self.calls.get_mut(i) {
                c.outcome = Some(CallOutcome::Error {
                    kind: crate::event::ABANDONED.into(),
                    message: "the cell ended before the call returned".into(),
                });
            }
        }
    }

    /// Expands or folds the call on line `i`; false when it is not a call line.
    pub fn toggle_call(&mut self, i: usize) -> bool {
        match self.lines.get(i) {
            Some(m) if m.kind == LineKind::Call => {
                if let Some(c) = self.calls.get_mut(m.start) {
                    c.expanded = !c.expanded;
                }
                true
            }
            _ => false,
        }
    }

    /// The plain text of the block holding line `i` (a tool call: its result).
    pub fn block_text(&self, i: usize) -> Option<String> {
        let m = self.lines.get(i)?;
        if m.kind == LineKind::Call {
            let call = self.calls.get(m.start)?;
            return Some(match &call.outcome {
                Some(CallOutcome::Ok(v)) => {
                    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
                }
                Some(CallOutcome::Error { message, .. }) => message.clone(),
                None => call.label(),
            });
        }
        let first = *self.blocks.get(m.block as usize)?;
        let end = self
            .blocks
            .get(m.block as usize + 1)
            .copied()
            .unwrap_or(self.lines.len());
        let lines: Vec<&str> = (first..end)
            .filter_map(|j| self.line(j))
            .map(|l| l.text)
            .collect();
        Some(lines.join("\n"))
    }

    /// The next line at or after `from` (before, going back) whose text holds `query`
    /// (case-insensitive for a lower-case query), wrapping around.
    pub fn search(&self, query: &str, from: usize, forward: bool) -> Option<usize> {
        if query.is_empty() || self.lines.is_empty() {
            return None;
        }
        let fold = !query.chars().any(char::is_uppercase);
        let needle = query.to_string();
        let matches = |i: usize| {
            self.line(i).is_some_and(|l| {
                let owned;
                let text = match l.call {
                    Some(c) => {
                        owned = c.label();
                        owned.as_str()
                    }
                    None => l.text,
                };
                if fold {
                    text.to_lowercase().contains(&needle)
                } else {
                    text.contains(&needle)
                }
            })
        };
        let n = self.lines.len();
        (0..n)
            .map(|k| {
                if forward {
                    (from + k) % n
                } else {
                    (from + n - k % n) % n
                }
            })
            .find(|&i| matches(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &OutputStore) -> Vec<String> {
        (0..s.len())
            .map(|i| s.line(i).unwrap().text.to_string())
            .collect()
    }

    #[test]
    fn streamed_chunks_join_into_lines() {
        let mut s = OutputStore::default();
        s.push_stream(LineKind::Stdout, "hel");
        s.push_stream(LineKind::Stdout, "lo\nwor");
        s.push_stream(LineKind::Stdout, "ld\n");
        s.push_stream(LineKind::Stdout, "again\n");
        assert_eq!(texts(&s), ["hello", "world", "again"]);
        assert_eq!(s.block_text(1).unwrap(), "hello\nworld\nagain");
    }

    #[test]
    fn another_stream_starts_a_line_and_a_block() {
        let mut s = OutputStore::default();
        s.push_stream(LineKind::Stdout, "a");
        s.push_stream(LineKind::Stderr, "warn\n");
        s.push_stream(LineKind::Stdout, "b\n");
        assert_eq!(texts(&s), ["a", "warn", "b"]);
        assert_eq!(s.line(1).unwrap().kind, LineKind::Stderr);
        assert_eq!(s.block_text(1).unwrap(), "warn");
        assert_eq!(s.block_text(2).unwrap(), "b");
    }

    #[test]
    fn calls_show_label_and_end_in_place() {
        let mut s = OutputStore::default();
        let now = Instant::now();
        let args =
            serde_json::json!({"server": "demo", "tool": "get_weather", "args": {"city": "Paris"}});
        s.call_started(7, "tools.call", args.clone(), now);
        s.push_stream(LineKind::Stdout, "after\n");
        assert!(s.calls_running());
        s.call_ended(
            7,
            "tools.call",
            args,
            CallOutcome::Ok(serde_json::json!({"t": 21})),
            0.4,
            now,
        );
        assert!(!s.calls_running());
        let call = s.line(0).unwrap().call.unwrap();
        assert_eq!(call.label(), "demo.get_weather(city='Paris')");
        assert_eq!(call.size, 8);
        assert!(s.block_text(0).unwrap().contains("\"t\": 21"));
        assert!(s.toggle_call(0));
        assert!(!s.toggle_call(1));
    }

    #[test]
    fn tracebacks_mark_the_cells_line() {
        let mut s = OutputStore::default();
        s.push_traceback(
            "Traceback (most recent call last):\n  Cell line 12, in <module>\n  Cell line 1, in f\nZeroDivisionError: x",
            Some(1),
        );
        let kinds: Vec<LineKind> = (0..s.len()).map(|i| s.line(i).unwrap().kind).collect();
        assert_eq!(
            kinds,
            [
                LineKind::Error,
                LineKind::Error,
                LineKind::ErrorHere,
                LineKind::Error
            ]
        );
        assert_eq!(s.block_text(3).unwrap().lines().count(), 4);
    }

    #[test]
    fn search_wraps_and_goes_both_ways() {
        let mut s = OutputStore::default();
        s.push_block(LineKind::Stdout, "alpha\nbeta\nALPHA two\ngamma");
        assert_eq!(s.search("alpha", 1, true), Some(2));
        assert_eq!(s.search("alpha", 3, true), Some(0));
        assert_eq!(s.search("alpha", 1, false), Some(0));
        assert_eq!(s.search("ALPHA", 0, true), Some(2));
        assert_eq!(s.search("zeta", 0, true), None);
    }

    #[test]
    fn a_million_lines_stay_small() {
        let mut s = OutputStore::default();
        for i in 0..1_000_000 {
            s.push_stream(LineKind::Stdout, &format!("line {i}\n"));
        }
        assert_eq!(s.len(), 1_000_000);
        assert_eq!(s.line(999_999).unwrap().text, "line 999999");
        assert!(std::mem::size_of::<LineMeta>() <= 24);
    }
}
