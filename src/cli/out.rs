//! The CLI's standard output and error: writes that never panic.
//!
//! `println!` panics when stdout is a closed pipe (`mcpr replay list | head -1`) or a full
//! disk (`> /dev/full`). Here the first failed write is remembered and later output to
//! that stream skipped; when the command ends, a closed pipe ends it quietly, as other
//! Unix tools do, and any other failure (a full disk) is an error with a non-zero exit, so
//! that a command whose output was lost never reports success. Stderr failures are
//! ignored: there is nowhere left to report them.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

/// The first error writing stdout, if any.
static STDOUT_FAILED: Mutex<Option<(io::ErrorKind, String)>> = Mutex::new(None);

fn failed() -> Option<(io::ErrorKind, String)> {
    STDOUT_FAILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

fn remember(e: &io::Error) {
    let mut slot = STDOUT_FAILED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    slot.get_or_insert((e.kind(), e.to_string()));
}

/// Writes `bytes` to stdout and flushes; after a failure, does nothing.
pub fn write_bytes(bytes: &[u8]) {
    if failed().is_some() {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        remember(&e);
    }
}

/// `print!` that never panics.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    write_bytes(fmt::format(args).as_bytes());
}

/// `eprint!` that never panics.
pub fn write_err(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// A writer onto stdout with the same rules, for code that streams (`BufWriter`, serde).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some((kind, message)) = failed() {
            return Err(io::Error::new(kind, message));
        }
        io::stdout().lock().write(buf).inspect_err(remember)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some((kind, message)) = failed() {
            return Err(io::Error::new(kind, message));
        }
        io::stdout().lock().flush().inspect_err(remember)
    }
}

/// Why the command's output was lost, when it is an error: `None` when all of it was
/// written or the reader went away (a closed pipe).
pub fn finish() -> Option<String> {
    let flushed = io::stdout().lock().flush();
    if let Err(e) = &flushed {
        remember(e);
    }
    match failed()? {
        (io::ErrorKind::BrokenPipe, _) => None,
        (_, message) => Some(format!("could not write the output: {message}")),
    }
}

/// `println!` that never panics (see the module doc).
macro_rules! outln {
    () => { $crate::cli::out::write_bytes(b"\n") };
    ($($arg:tt)*) => {
        $crate::cli::out::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::cli::out::write_err(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::out::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::out::write_err(format_args!($($arg)*)) };
}
