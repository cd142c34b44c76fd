//! Per-cell output caps: the first `inline_bytes` of output travel as events; the rest
//! of each stream goes to a file in the session workspace (whole stream, so the file
//! stands alone), itself capped at `overflow_bytes`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::event::{Overflow, Stream};
use crate::sandbox::confined::ConfinedDir;

/// Folder under the workspace where overflowing output is written.
pub const OVERFLOW_DIR: &str = ".mcpr/output";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputPolicy {
    /// Bytes of output (both streams together) sent inline per cell.
    pub inline_bytes: usize,
    /// Largest overflow file per stream and cell; beyond it output is dropped and counted.
    pub overflow_bytes: u64,
}

impl Default for OutputPolicy {
    fn default() -> Self {
        Self {
            inline_bytes: 1024 * 1024,
            overflow_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Default)]
struct Spill {
    /// What this stream sent inline so far, to head its overflow file.
    inline_copy: String,
    total: u64,
    file: Option<(BufWriter<File>, PathBuf)>,
    written: u64,
    dropped: u64,
    error: Option<String>,
}

pub struct OutputSpill {
    policy: OutputPolicy,
    workspace: PathBuf,
    cell: u64,
    inline_used: usize,
    streams: [Spill; 2],
}

impl OutputSpill {
    pub fn new(policy: OutputPolicy, workspace: &Path, cell: u64) -> Self {
        Self {
            policy,
            workspace: workspace.to_path_buf(),
            cell,
            inline_used: 0,
            streams: Default::default(),
        }
    }

    /// Takes one chunk; returns the part to emit inline, if any.
    pub fn accept(&mut self, stream: Stream, text: String) -> Option<String> {
        let index = stream as usize;
        self.streams[index].total += text.len() as u64;
        if self.streams[index].file.is_none() && self.streams[index].error.is_none() {
            let room = self.policy.inline_bytes - self.inline_used;
            if text.len() <= room {
                self.inline_used += text.len();
                self.streams[index].inline_copy.push_str(&text);
                return Some(text);
            }
            let cut = floor_char_boundary(&text, room);
            self.inline_used = self.policy.inline_bytes;
            self.open_file(stream);
            let head = text[..cut].to_string();
            self.write(stream, &text);
            return (!head.is_empty()).then_some(head);
        }
        self.write(stream, &text);
        None
    }

    fn open_file(&mut self, stream: Stream) {
        let rel =
            PathBuf::from(OVERFLOW_DIR).join(format!("cell-{}.{}.txt", self.cell, stream.as_str()));
        let spill = &mut self.streams[stream as usize];
        // The workspace is the sandbox's: the file is created beneath a handle on it,
        // never through a symlink the cell may have planted.
        let opened = ConfinedDir::open(&self.workspace).and_then(|ws| ws.create_file(&rel, 0o644));
        match opened {
            Ok(file) => {
                let head = std::mem::take(&mut spill.inline_copy);
                spill.file = Some((BufWriter::with_capacity(256 * 1024, file), rel));
                self.write(stream, &head);
            }
            Err(e) => spill.error = Some(format!("could not keep the overflowing output: {e}")),
        }
    }

    fn write(&mut self, stream: Stream, text: &str) {
        let cap = self.policy.overflow_bytes;
        let spill = &mut self.streams[stream as usize];
        let Some((file, _)) = spill.file.as_mut() else {
            spill.dropped += text.len() as u64;
            return;
        };
        let room = cap.saturating_sub(spill.written) as usize;
        let cut = floor_char_boundary(text, room);
        if let Err(e) = file.write_all(&text.as_bytes()[..cut]) {
            spill.error = Some(e.to_string());
            spill.file = None;
            spill.dropped += text.len() as u64;
            return;
        }
        spill.written += cut as u64;
        spill.dropped += (text.len() - cut) as u64;
    }

    /// Flushes the files and lists what overflowed.
    pub fn finish(mut self) -> (Vec<Overflow>, Vec<String>) {
        let mut overflow = Vec::new();
        let mut problems = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let spill = &mut self.streams[stream as usize];
            if let Some((mut file, rel)) = spill.file.take() {
                if let Err(e) = file.flush() {
                    problems.push(format!("writing {}: {e}", rel.display()));
                }
                overflow.push(Overflow {
                    stream,
                    path: rel,
                    bytes: spill.total,
                    dropped: spill.dropped,
                });
            }
            if let Some(e) = spill.error.take() {
                problems.push(e);
            }
        }
        (overflow, problems)
    }
}

fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_goes_to_a_file_holding_the_whole_stream() {
        let dir = tempfile::tempdir().unwrap();
        let policy = OutputPolicy {
            inline_bytes: 10,
            overflow_bytes: 1000,
        };
        let mut spill = OutputSpill::new(policy, dir.path(), 7);
        assert_eq!(
            spill.accept(Stream::Stdout, "hello ".into()).as_deref(),
            Some("hello ")
        );
        assert_eq!(
            spill
                .accept(Stream::Stdout, "wörld and more".into())
                .as_deref(),
            Some("wör")
        );
        assert_eq!(spill.accept(Stream::Stdout, "!".into()), None);
        let (overflow, problems) = spill.finish();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(overflow.len(), 1);
        assert_eq!(
            overflow[0].path,
            Path::new(".mcpr/output/cell-7.stdout.txt")
        );
        let text = std::fs::read_to_string(dir.path().join(&overflow[0].path)).unwrap();
        assert_eq!(text, "hello wörld and more!");
        assert_eq!(overflow[0].bytes, text.len() as u64);
    }

    #[test]
    fn overflow_file_is_capped_and_the_rest_counted() {
        let dir = tempfile::tempdir().unwrap();
        let policy = OutputPolicy {
            inline_bytes: 0,
            overflow_bytes: 4,
        };
        let mut spill = OutputSpill::new(policy, dir.path(), 1);
        assert_eq!(spill.accept(Stream::Stderr, "abcdefgh".into()), None);
        let (overflow, _) = spill.finish();
        assert_eq!(overflow[0].dropped, 4);
        assert_eq!(overflow[0].bytes, 8);
    }
}
