//! How recently modified a workspace file may be and still be trusted by its stat alone
//! (git's "racily clean" rule): a file rewritten with the same length after a snapshot
//! looked at it, but stamped with an mtime no later than what the snapshot saw, would
//! seem unchanged. Files modified less than the window before a snapshot started are
//! hashed again next time instead.
//!
//! The start of a scan is read from the clock file times are stamped from, the kernel's
//! coarse clock ([`now_ns`]; a fine-grained stamp is never earlier), not the precise
//! clock, which the coarse one may trail by a tick or more on a busy virtual machine.
//! The window is then the filesystem's timestamp granularity (probed once by setting an
//! mtime with nanoseconds on a scratch file in the record's own folder, on the same
//! filesystem, and reading back what was kept) plus one tick as a margin: a write after
//! the scan started is stamped no earlier than start − granularity, so it is never
//! trusted. Network and FUSE filesystems (stamped by another machine's clock), a record
//! on another filesystem, or a probe that fails keep a conservative two seconds.
//!
//! This module writes only the scratch file, in the object store's folder (never mounted
//! into a sandbox), and removes it.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// What a filesystem whose granularity cannot be trusted gets (FAT stamps in two-second
/// steps).
const COARSE_NS: i64 = 2_000_000_000;
/// Assumed when the coarse clock's resolution cannot be read (HZ = 100).
const DEFAULT_TICK_NS: i64 = 10_000_000;

/// Filesystems whose file times come from another machine's clock or from a user-space
/// server (`statfs` magic numbers).
const REMOTE: [i64; 10] = [
    0x6969,                 // NFS
    0x517B,                 // SMB
    0xFF53_4D42_u32 as i64, // CIFS
    0xFE53_4D42_u32 as i64, // SMB2
    0x6573_5546,            // FUSE
    0x0102_1997,            // 9P
    0x00C3_6400,            // Ceph
    0x5346_414F,            // AFS
    0x7375_7245,            // Coda
    0x0BD0_0BD0,            // Lustre
];

/// Whether a filesystem (`statfs` magic) stamps times or changes files from another
/// machine or a user-space server.
pub fn is_remote(magic: i64) -> bool {
    REMOTE.contains(&magic)
}

/// The racy window for snapshots of `workspace`, probing in `scratch_dir` (a folder of
/// mcpr's own).
pub fn window_ns(workspace: &Path, scratch_dir: &Path) -> i64 {
    let tick = coarse_tick_ns();
    let granularity = granularity_ns(workspace, scratch_dir, tick).unwrap_or(COARSE_NS);
    granularity.saturating_add(tick)
}

/// Now on the coarse clock file times are stamped from (ns since the epoch; 0 if it
/// cannot be read, which only makes every file racy).
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc != 0 {
        return 0;
    }
    // `time_t` and the nanoseconds are narrower on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    let ns = (ts.tv_sec as i64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as i64);
    ns
}

/// The resolution of `CLOCK_REALTIME_COARSE`: the tick file times are stamped at.
fn coarse_tick_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc != 0 {
        return DEFAULT_TICK_NS;
    }
    // `time_t` and the nanoseconds are narrower on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    let ns = (ts.tv_sec as i64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as i64);
    ns.clamp(1, 1_000_000_000)
}

/// The workspace filesystem's timestamp granularity, or None when it cannot be trusted.
fn granularity_ns(workspace: &Path, scratch_dir: &Path, tick: i64) -> Option<i64> {
    let fs = nix::sys::statfs::statfs(workspace).ok()?;
    #[allow(clippy::unnecessary_cast)] // the magic's type differs between libcs
    let magic = fs.filesystem_type().0 as i64;
    if is_remote(magic) {
        return None;
    }
    let (ws, scratch) = (
        std::fs::metadata(workspace).ok()?,
        std::fs::metadata(scratch_dir).ok()?,
    );
    if ws.dev() != scratch.dev() {
        return None;
    }
    // Snapshotters of one process may probe at once (within one tick of the clock).
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = scratch_dir.join(format!(".mcpr-tmp-racy-{}-{n}", std::process::id()));
    let probed = probe(&path, tick);
    let _ = std::fs::remove_file(&path);
    probed.ok().flatten()
}

/// Creates `path`, checks that its natural mtime is not behind the clock, then sets an mtime of odd
/// seconds and nanoseconds 123456789 and reads back what the filesystem kept.
fn probe(path: &Path, tick: i64) -> io::Result<Option<i64>> {
    const SECONDS: u64 = 1_000_000_001;
    const NANOS: i64 = 123_456_789;
    let before = now_ns();
    let file = File::create_new(path)?;
    let natural = mtime_ns(&file.metadata()?);
    file.set_modified(UNIX_EPOCH + Duration::new(SECONDS, NANOS as u32))?;
    let kept = file.metadata()?;
    let granularity = if kept.mtime() as u64 != SECONDS {
        COARSE_NS
    } else {
        let ns = kept.mtime_nsec();
        match (0..=9u32)
            .map(|k| 10i64.pow(k))
            .find(|g| NANOS / g * g == ns)
        {
            Some(g) => g,
            None => return Ok(None),
        }
    };
    // Stamped by this machine's clock: not before the first reading of it. Only a stamp
    // behind the clock is a danger (a write after a scan started could then look older
    // than the window); a stamp ahead of it makes files racy longer, which is safe. And
    // ahead is what a local filesystem does on a busy machine: with multigrain
    // timestamps a new file may take the latest fine-grained time handed out, while the
    // coarse clock has missed ticks.
    let slack = granularity.saturating_add(tick).saturating_add(1_000_000);
    if natural < before.saturating_sub(slack) {
        return Ok(None);
    }
    Ok(Some(granularity))
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_filesystem_gets_a_window_of_milliseconds() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        let window = window_ns(&ws, dir.path());
        let tick = coarse_tick_ns();
        // Never narrower than the margin of a tick.
        assert!(window > tick, "{window} ns");
        // tmpfs and ext4 keep nanoseconds: far below the conservative two seconds.
        assert!(window < COARSE_NS, "{window} ns");
        // The scratch file is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_record_on_another_filesystem_keeps_the_conservative_window() {
        let dir = tempfile::tempdir().unwrap();
        // /proc is never the filesystem of a temporary folder.
        let window = window_ns(dir.path(), Path::new("/proc"));
        assert!(window >= COARSE_NS, "{window} ns");
    }
}
