//! The timeline's reading of a log, kept between reads.
//!
//! A timeline reads every line of a session's log (peeking at most), which for a session
//! of 10,000 steps costs a few hundred milliseconds: too slow for a console that opens on
//! it and reloads it after every step. Logs only grow, so the state of a reading (a
//! [`Reading`]) is kept in `.replay/cache/timeline/NAME.json` with the byte offset it
//! reached; the next reading loads it and reads only the lines appended since.
//!
//! The cache is trusted only for the same file (device and inode: a log that was replaced
//! is read again), when the log is at least as long as the offset and its bytes just
//! before the offset hash as they did (a log that was rewritten in place is read again),
//! and for the same cache format and mcpr version. Anything else, including a cache that
//! does not read, means a full reading, whose result replaces the cache. The cache holds
//! only what the log holds; losing it costs one full reading. It lives under `.replay/`,
//! which sandboxed code cannot reach.

use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::read::Reading;
use super::{Detail, LogError, SessionLog};
use crate::record::objects::{ObjectStore, sha256_hex};

/// Bumped when [`Reading`] or what it holds changes shape or meaning.
const FORMAT: u32 = 1;
/// Bytes before the offset whose hash must match.
const CHECKED: u64 = 4096;
/// A reading that found fewer new bytes than this keeps the cache as it was: the next one
/// reads those lines again, which costs less than rewriting the cache after every step.
const REWRITE_AFTER: usize = 256 * 1024;

#[derive(Serialize, Deserialize)]
struct Kept<R> {
    format: u32,
    mcpr: String,
    dev: u64,
    ino: u64,
    /// Bytes of the log read: whole lines only.
    offset: u64,
    /// sha256 of the `CHECKED` bytes before `offset`.
    check: String,
    reading: R,
}

/// Where the timeline's reading of session `name` is kept, under the record's root.
pub fn path(root: &Path, name: &str) -> PathBuf {
    root.join("cache")
        .join("timeline")
        .join(format!("{name}.json"))
}

/// The log at `log` read with [`Detail::Timeline`], going on from the kept reading when
/// it can be trusted, and keeping the new one.
pub fn read_timeline(
    root: &Path,
    name: &str,
    log: &Path,
    store: &ObjectStore,
) -> Result<SessionLog, LogError> {
    let io = |source| LogError::Io {
        path: log.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(log).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let kept_at = path(root, name);
    let kept = load(&kept_at)
        .filter(|k| k.format == FORMAT && k.mcpr == env!("CARGO_PKG_VERSION"))
        .filter(|k| k.dev == meta.dev() && k.ino == meta.ino() && k.offset <= meta.len())
        .filter(|k| check(&file, k.offset).is_some_and(|c| c == k.check));
    let (mut reading, start) = match kept {
        Some(k) => (k.reading, k.offset),
        None => (Reading::default(), 0),
    };
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    // Whole lines go into the kept reading; a torn last line is read after it is saved.
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    reading.feed(log, &bytes[..whole], store, Detail::Timeline)?;
    if start == 0 || whole >= REWRITE_AFTER {
        let offset = start + whole as u64;
        if let Some(check) = check(&file, offset) {
            save(
                &kept_at,
                &Kept {
                    format: FORMAT,
                    mcpr: env!("CARGO_PKG_VERSION").into(),
                    dev: meta.dev(),
                    ino: meta.ino(),
                    offset,
                    check,
                    reading: &reading,
                },
            );
        }
    }
    reading.feed(log, &bytes[whole..], store, Detail::Timeline)?;
    reading.finish(log)
}

fn load(path: &Path) -> Option<Kept<Reading>> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The hash of the bytes just before `offset`.
fn check(file: &std::fs::File, offset: u64) -> Option<String> {
    let from = offset.saturating_sub(CHECKED);
    let mut buf = vec![0u8; (offset - from) as usize];
    file.read_exact_at(&mut buf, from).ok()?;
    Some(sha256_hex(&buf))
}

/// Writes the cache through a temporary file and a rename; a cache that cannot be written
/// (a full disk, a read-only record) is only a slower next reading, so errors are dropped.
fn save(path: &Path, kept: &Kept<&Reading>) {
    let Some(dir) = path.parent() else { return };
    let Ok(bytes) = serde_json::to_vec(kept) else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // Readers in several threads or processes may save at once: each its own file.
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id(),
        SAVES.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::write(&tmp, &bytes).is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header() -> String {
        r#"{"type":"session","format":1,"id":"i","name":"s","created":"t","base":"b","mcpr":"0"}"#
            .to_string()
            + "\n"
    }

    /// The lines of step `step`: a cell start, an output, a model call, its end.
    fn step_lines(step: u64) -> String {
        format!(
            concat!(
                r#"{{"type":"step","step":{s},"parent":{p},"kind":"cell","started":"t"}}"#,
                "\n",
                r#"{{"type":"event","step":{s},"event":{{"type":"cell_started","cell":1,"code":"x = {s:04}"}}}}"#,
                "\n",
                r#"{{"type":"event","step":{s},"event":{{"type":"output","cell":1,"stream":"stdout","text":"out {s}"}}}}"#,
                "\n",
                r#"{{"type":"end","step":{s},"success":true,"duration_ms":1.0,"snapshot":"m"}}"#,
                "\n"
            ),
            s = step,
            p = step - 1
        )
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        log: PathBuf,
        store: ObjectStore,
    }

    fn fixture(steps: u64) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let store = ObjectStore::open(&root.join("objects")).unwrap();
        let log = root.join("s.jsonl");
        let body: String = (1..=steps).map(step_lines).collect();
        std::fs::write(&log, header() + &body).unwrap();
        Fixture {
            _tmp: tmp,
            root,
            log,
            store,
        }
    }

    impl Fixture {
        fn cached(&self) -> SessionLog {
            read_timeline(&self.root, "s", &self.log, &self.store).unwrap()
        }
        fn full(&self) -> SessionLog {
            SessionLog::read(&self.log, &self.store, Detail::Timeline).unwrap()
        }
        fn kept(&self) -> Kept<Reading> {
            load(&path(&self.root, "s")).expect("a kept reading")
        }
        fn code(&self, log: &SessionLog, step: u64) -> String {
            match &log.step(step).unwrap().events[0] {
                crate::event::Event::CellStarted { code, .. } => code.clone(),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Everything a reader sees, compared whole.
    fn same(a: &SessionLog, b: &SessionLog) {
        assert_eq!(a.header, b.header);
        assert_eq!(a.steps, b.steps);
        assert_eq!(a.head, b.head);
        assert_eq!(a.warnings, b.warnings);
        assert_eq!(a.damaged, b.damaged);
    }

    #[test]
    fn a_kept_reading_goes_on_with_the_lines_appended_since() {
        let f = fixture(60);
        same(&f.cached(), &f.full());
        let len = std::fs::metadata(&f.log).unwrap().len();
        assert_eq!(f.kept().offset, len);

        // Appended steps, a rewind and an event of an unknown step: the same as a full read,
        // line numbers in warnings included.
        append(
            &f.log,
            &(step_lines(61)
                + r#"{"type":"head","step":30,"time":"t"}"#
                + "\n"
                + r#"{"type":"event","step":99,"event":{"type":"output","cell":1,"stream":"stdout","text":"lost"}}"#
                + "\n"
                + &step_lines(62)),
        );
        let cached = f.cached();
        same(&cached, &f.full());
        assert_eq!(cached.steps.len(), 62);
        assert_eq!(cached.warnings.len(), 1, "{:?}", cached.warnings);
        // A small tail keeps the old cache: the next reading reads it again.
        assert_eq!(f.kept().offset, len);

        // The kept reading is what was used: an edit in place far before the end (which an
        // append-only log never gets) is not seen, while a fresh full read sees it.
        let text = std::fs::read_to_string(&f.log).unwrap();
        std::fs::write(&f.log, text.replacen("x = 0001", "x = 9999", 1)).unwrap();
        assert_eq!(f.code(&f.cached(), 1), "x = 0001");
        assert_eq!(f.code(&f.full(), 1), "x = 9999");
    }

    #[test]
    fn a_log_rewritten_near_the_offset_or_replaced_is_read_again() {
        let f = fixture(60);
        f.cached();
        // Rewritten in place just before the offset: the check fails.
        let text = std::fs::read_to_string(&f.log).unwrap();
        std::fs::write(&f.log, text.replacen("x = 0060", "x = 6666", 1)).unwrap();
        assert_eq!(f.code(&f.cached(), 60), "x = 6666");

        // Replaced by another file (a new inode), even one as long with the same tail.
        f.cached();
        let text = std::fs::read_to_string(&f.log).unwrap();
        let other = f.root.join("other.jsonl");
        std::fs::write(&other, text.replacen("x = 0001", "x = 1111", 1)).unwrap();
        std::fs::rename(&other, &f.log).unwrap();
        assert_eq!(f.code(&f.cached(), 1), "x = 1111");

        // Shorter than the offset: read again.
        std::fs::write(&f.log, header() + &step_lines(1)).unwrap();
        let cached = f.cached();
        assert_eq!(cached.steps.len(), 1);
        same(&cached, &f.full());
    }

    #[test]
    fn a_torn_last_line_is_reported_and_never_kept() {
        let f = fixture(3);
        let step4 = step_lines(4);
        let (begun, rest) = step4.split_at(40);
        append(&f.log, begun);
        let cached = f.cached();
        same(&cached, &f.full());
        assert!(
            cached.warnings[0]
                .message
                .starts_with("incomplete last line"),
            "{:?}",
            cached.warnings
        );
        // The writer ends the torn line first; here the line is completed instead, as if
        // the write had only been slow. The kept reading stopped before it.
        append(&f.log, rest);
        let cached = f.cached();
        same(&cached, &f.full());
        assert_eq!(cached.steps.len(), 4);
        assert!(cached.warnings.is_empty(), "{:?}", cached.warnings);
    }

    #[test]
    fn a_damaged_or_foreign_cache_means_a_full_reading() {
        let f = fixture(5);
        f.cached();
        let at = path(&f.root, "s");
        std::fs::write(&at, b"{not json").unwrap();
        same(&f.cached(), &f.full());
        // Rewritten whole.
        assert_eq!(f.kept().format, FORMAT);

        // Another format is not trusted, whatever it holds (trusted, this empty reading
        // would have no header).
        let mut kept = f.kept();
        kept.format = FORMAT + 1;
        kept.reading = Reading::default();
        std::fs::write(&at, serde_json::to_vec(&kept).unwrap()).unwrap();
        same(&f.cached(), &f.full());

        // A cache that cannot be written (its folder is a file) costs nothing but speed.
        std::fs::remove_dir_all(f.root.join("cache")).unwrap();
        std::fs::write(f.root.join("cache"), b"").unwrap();
        same(&f.cached(), &f.full());
    }
}
