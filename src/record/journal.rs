//! A change journal for workspace snapshots: inotify watches on every folder of a
//! workspace, so that the next snapshot lists and stats only the folders something
//! happened in, and takes every other folder's tree from the last snapshot whole.
//!
//! What it trusts: that every change to a folder's names (create, delete, rename, a file
//! swapped for a folder or a symlink), to a file's content by `write`/`truncate`, and to
//! modes and times makes an event on the watch of the folder holding the name (watches
//! are on inodes, so writes from a sandbox's bind mount or a container's count too).
//! What it does not trust, and how it copes:
//! - Writes through a shared memory map make no event. A file opened for writing makes
//!   `IN_OPEN` (which does not say for what) and, when its last user is gone,
//!   `IN_CLOSE_WRITE`. So every opened file is a *suspect* until a read lease
//!   (`F_SETLEASE F_RDLCK`, refused while anyone has the file open for writing, mapped
//!   or not) proves it has no writer; a suspect with a writer, or whose lease cannot be
//!   taken, keeps its folder listed and the file hashed at every snapshot. A file closed
//!   after writing is hashed once more whatever its stat says (a map's writes need not
//!   move the mtime). Events are never counted: inotify merges identical consecutive
//!   events, so only the lease can say that every opener is gone.
//! - mcpr's own reads (hashing, the lease) make `IN_OPEN` too. Each such file is kept
//!   open as a *witness*; after the events are read again its lease is taken once more
//!   on that same handle, so that the journal's own opens do not make suspects forever.
//! - When it cannot vouch it says so ([`Journal::broken`]) and the snapshotter walks the
//!   whole workspace with a new journal: at the start, after `IN_Q_OVERFLOW` or an
//!   unmount, when a watch cannot be added (`ENOSPC`: `max_user_watches`; `EACCES`; no
//!   `/proc`), when a watched folder is deleted or moved without its parent's event, when
//!   the workspace folder itself moves or is replaced, a file with several names (hard
//!   links: a write by one name makes no event in the other's folder), a folder on
//!   another filesystem, and workspaces on network or FUSE filesystems (changed by other
//!   machines, which make no event here) never get a journal.
//!
//! Watches are added through `/proc/self/fd/N` of a handle opened beneath the workspace
//! with `O_NOFOLLOW` ([`ConfinedDir`]): the kernel resolves that magic link to the
//! handle's own inode, never to a path the sandbox could have swapped, and `IN_ONLYDIR`
//! refuses anything but a folder. The inotify descriptor is close-on-exec (never reaches
//! a kernel) and its watches go with it when the journal is dropped. This module never
//! writes: it opens workspace files read-only, beneath the workspace.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags as F, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::sandbox::confined::ConfinedDir;

/// `fcntl`'s F_SETSIG (Linux; not exported by the libc crate).
const F_SETSIG: libc::c_int = 10;

/// Witnesses held before the events are read and their leases taken again (each is an
/// open file).
const WITNESS_BATCH: usize = 64;

/// A file of the workspace: its folder ('/'-separated, "" for the workspace) and name.
pub(super) type FileKey = (String, OsString);

pub(super) struct Journal {
    inotify: Inotify,
    /// The workspace folder's (dev, ino) when the journal started.
    root: (u64, u64),
    folder_of: FxHashMap<i32, String>,
    watch_of: FxHashMap<String, WatchDescriptor>,
    /// Watches of folders deleted or moved away (their last events are ignored).
    retired: FxHashSet<i32>,
    dirty: FxHashSet<String>,
    fresh: FxHashSet<String>,
    rewritten: FxHashSet<FileKey>,
    suspects: FxHashSet<FileKey>,
    witnesses: Vec<(FileKey, File)>,
    broken: Option<String>,
}

/// What the events since the last snapshot say must be looked at.
#[derive(Default)]
pub(super) struct Plan {
    /// Folders to list and stat.
    pub dirty: FxHashSet<String>,
    /// New folders (created or moved in): scanned whole, nothing of theirs trusted.
    pub fresh: FxHashSet<String>,
    /// Folders on the way to a dirty or fresh one (their own entries are kept).
    pub on_path: FxHashSet<String>,
    /// Files closed after writing: hashed whatever their stat says.
    pub rewritten: FxHashSet<FileKey>,
}

impl Journal {
    /// A journal for the workspace `root`, with no watch yet; None when its filesystem
    /// is changed by other machines or inotify is not available.
    pub fn start(root: &ConfinedDir) -> Option<Journal> {
        let fs = nix::sys::statfs::fstatfs(root.handle()).ok()?;
        #[allow(clippy::unnecessary_cast)] // the magic's type differs between libcs
        if super::racy::is_remote(fs.filesystem_type().0 as i64) {
            return None;
        }
        let meta = root.meta().ok()?;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
        Some(Journal {
            inotify,
            root: (meta.dev, meta.ino),
            folder_of: FxHashMap::default(),
            watch_of: FxHashMap::default(),
            retired: FxHashSet::default(),
            dirty: FxHashSet::default(),
            fresh: FxHashSet::default(),
            rewritten: FxHashSet::default(),
            suspects: FxHashSet::default(),
            witnesses: Vec::new(),
            broken: None,
        })
    }

    /// Why the journal cannot vouch for what it did not see, if it cannot.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// From now on the journal cannot vouch (the first reason is kept).
    pub fn give_up(&mut self, why: impl Into<String>) {
        if self.broken.is_none() {
            self.broken = Some(why.into());
        }
    }

    /// Whether `root` is still the folder the journal watches.
    pub fn is_root(&self, root: &ConfinedDir) -> bool {
        root.meta()
            .is_ok_and(|meta| (meta.dev, meta.ino) == self.root)
    }

    pub fn is_watched(&self, rel: &str) -> bool {
        self.watch_of.contains_key(rel)
    }

    /// Watches the folder `dir` (at `rel`); call before listing it, so that nothing
    /// made after the listing goes unseen.
    pub fn watch(&mut self, dir: &ConfinedDir, rel: &str) {
        if self.broken.is_some() {
            return;
        }
        let mask = F::IN_MODIFY
            | F::IN_ATTRIB
            | F::IN_CLOSE_WRITE
            | F::IN_OPEN
            | F::IN_CREATE
            | F::IN_DELETE
            | F::IN_MOVED_FROM
            | F::IN_MOVED_TO
            | F::IN_DELETE_SELF
            | F::IN_MOVE_SELF
            | F::IN_ONLYDIR;
        // The magic link resolves to the handle's inode itself (no path is looked up
        // again), which is why it is followed: IN_DONT_FOLLOW would watch the link.
        let handle = format!("/proc/self/fd/{}", dir.as_raw_fd());
        match self.inotify.add_watch(handle.as_str(), mask) {
            Ok(wd) => match self.folder_of.get(&wd.as_raw()) {
                Some(known) if known != rel => {
                    let why = format!("folder {known:?} moved to {rel:?} while being read");
                    self.give_up(why);
                }
                _ => {
                    self.folder_of.insert(wd.as_raw(), rel.to_owned());
                    self.watch_of.insert(rel.to_owned(), wd);
                }
            },
            Err(Errno::ENOSPC) => self.give_up(
                "no inotify watch is left (raise fs.inotify.max_user_watches to journal \
                 large workspaces)",
            ),
            Err(e) => self.give_up(format!("cannot watch {}: {e}", dir.path().display())),
        }
    }

    /// Reads every event queued so far into the journal's state.
    pub fn drain(&mut self) {
        let mut events = Vec::new();
        loop {
            match self.inotify.read_events() {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => events.extend(batch),
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    self.give_up(format!("cannot read the change journal: {e}"));
                    return;
                }
            }
        }
        // Folders removed or moved away first: their own last events (which the kernel
        // queues after their parent's) are then known to be theirs.
        for event in &events {
            let removed = event.mask.contains(F::IN_ISDIR)
                && event.mask.intersects(F::IN_DELETE | F::IN_MOVED_FROM);
            if let (true, Some(name)) = (removed, &event.name)
                && let Some(folder) = self.folder_of.get(&event.wd.as_raw())
            {
                let gone = join(folder, name);
                self.retire(&gone);
            }
        }
        for event in events {
            self.note(event);
        }
    }

    fn note(&mut self, event: InotifyEvent) {
        let mask = event.mask;
        if mask.contains(F::IN_Q_OVERFLOW) {
            return self.give_up("more changes than the journal's queue holds");
        }
        if mask.contains(F::IN_UNMOUNT) {
            return self.give_up("the workspace's filesystem was unmounted");
        }
        let wd = event.wd.as_raw();
        let Some(folder) = self.folder_of.get(&wd) else {
            if self.retired.contains(&wd) {
                if mask.contains(F::IN_IGNORED) {
                    self.retired.remove(&wd);
                }
                return;
            }
            return self.give_up("an event from a watch the journal does not know");
        };
        let Some(name) = event.name else {
            if mask.intersects(F::IN_DELETE_SELF | F::IN_MOVE_SELF | F::IN_IGNORED) {
                let why = if folder.is_empty() {
                    "the workspace folder was moved or deleted".to_owned()
                } else {
                    format!("folder {folder:?} went away unannounced")
                };
                self.give_up(why);
            }
            // Other events of a folder itself (its mode, a listing) come to its parent too.
            return;
        };
        let folder = folder.clone();
        let is_dir = mask.contains(F::IN_ISDIR);
        if mask.contains(F::IN_OPEN) && !is_dir {
            self.suspects.insert((folder.clone(), name.clone()));
        }
        if mask.contains(F::IN_CLOSE_WRITE) {
            self.rewritten.insert((folder.clone(), name.clone()));
        }
        if is_dir && mask.intersects(F::IN_CREATE | F::IN_MOVED_TO) {
            self.fresh.insert(join(&folder, &name));
        }
        let changed = F::IN_MODIFY
            | F::IN_ATTRIB
            | F::IN_CLOSE_WRITE
            | F::IN_CREATE
            | F::IN_DELETE
            | F::IN_MOVED_FROM
            | F::IN_MOVED_TO;
        if mask.intersects(changed) {
            self.dirty.insert(folder);
        }
    }

    /// Forgets the folder `rel` and every folder below it, removing their watches.
    fn retire(&mut self, rel: &str) {
        let below = format!("{rel}/");
        let gone: Vec<String> = self
            .watch_of
            .keys()
            .filter(|r| r.as_str() == rel || r.starts_with(&below))
            .cloned()
            .collect();
        for r in gone {
            if let Some(wd) = self.watch_of.remove(&r) {
                self.folder_of.remove(&wd.as_raw());
                self.retired.insert(wd.as_raw());
                // Already gone with its folder (EINVAL) is fine.
                let _ = self.inotify.rm_watch(wd);
            }
        }
    }

    /// What to look at now: the folders with events since the last plan, and the folders
    /// leading to them. Each suspect's lease is asked first: one with a writer (or whose
    /// lease cannot be had) keeps its folder listed and itself hashed.
    pub fn plan(&mut self, root: &ConfinedDir) -> Plan {
        let mut forced = Vec::new();
        let suspects: Vec<FileKey> = self.suspects.iter().cloned().collect();
        for key in suspects {
            let opened = root
                .open_dir(&key.0)
                .and_then(|dir| dir.open_file_here(&key.1));
            match opened {
                Ok(file) if has_no_writer(&file) => self.witness(key, file),
                Ok(_) => forced.push(key),
                // Gone, or no longer a file: its folder has the events that say so.
                Err(_) => {
                    self.suspects.remove(&key);
                }
            }
        }
        self.absorb();
        let mut plan = Plan {
            dirty: std::mem::take(&mut self.dirty),
            fresh: std::mem::take(&mut self.fresh),
            on_path: FxHashSet::default(),
            rewritten: std::mem::take(&mut self.rewritten),
        };
        for key in forced {
            plan.dirty.insert(key.0.clone());
            plan.rewritten.insert(key);
        }
        for rel in plan.dirty.iter().chain(&plan.fresh) {
            plan.on_path.insert(String::new());
            let mut rel = rel.as_str();
            while let Some((parent, _)) = rel.rsplit_once('/') {
                if !plan.on_path.insert(parent.to_owned()) {
                    break;
                }
                rel = parent;
            }
        }
        plan
    }

    /// Keeps `file` (opened read-only by the snapshot at `key`, with no writer when its
    /// lease was asked) open until the events its opening made have been read.
    pub fn witness(&mut self, key: FileKey, file: File) {
        self.suspects.remove(&key);
        self.witnesses.push((key, file));
        if self.witnesses.len() >= WITNESS_BATCH {
            self.absorb();
        }
    }

    /// The file at `key` has a writer (or its lease could not be had): it is looked at
    /// again next time, hashed whatever its stat says.
    pub fn suspect(&mut self, key: FileKey) {
        self.suspects.insert(key);
    }

    /// Reads the events the witnesses' own opens made (with any others), then asks each
    /// witness's lease again on its same handle: with no writer now, every open read so
    /// far was a reader's or is closed (and a writer's close says so), so it is no
    /// suspect.
    pub fn absorb(&mut self) {
        self.drain();
        for (key, file) in std::mem::take(&mut self.witnesses) {
            if has_no_writer(&file) {
                self.suspects.remove(&key);
            } else {
                self.suspects.insert(key);
            }
        }
    }
}

/// Whether no one has `file` open for writing (shared maps included): a read lease is
/// refused while anyone does. It is released at once; a writer opening meanwhile waits
/// that long, and the break is signalled with SIGURG, which is ignored by default (the
/// default SIGIO would end mcpr). False when the lease cannot be taken at all (another
/// owner without CAP_LEASE, leases disabled): the file is then never trusted.
pub(super) fn has_no_writer(file: &File) -> bool {
    let fd = file.as_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor `file` owns for the whole call.
    unsafe {
        if libc::fcntl(fd, F_SETSIG, libc::SIGURG) != 0 {
            return false;
        }
        if libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) != 0 {
            return false;
        }
        libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK);
    }
    true
}

/// `rel/name` ('/'-separated; `name` alone at the workspace).
pub(super) fn join(rel: &str, name: &OsStr) -> String {
    let name = name.to_string_lossy();
    if rel.is_empty() {
        name.into_owned()
    } else {
        format!("{rel}/{name}")
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
