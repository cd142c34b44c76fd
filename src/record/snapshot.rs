//! Workspace snapshots: at each step boundary a session's workspace becomes a manifest
//! (relative path → file content, directory or symlink) stored as an object, and any
//! snapshot can be restored onto the workspace again.
//!
//! A manifest is stored as a tree, one object per folder (as git's trees): a folder's
//! files, symlinks and fifos by name, and its subfolders by the hash of their own tree. A
//! step that changes one file among thousands stores that file, its folder's tree and
//! the trees above it; every other folder keeps its hash and is not written again, nor
//! serialised. Readers get the whole workspace as one flat [`Manifest`] either way; a
//! manifest written before trees (every path in one object) reads back the same.
//!
//! Snapshots never follow symlinks and write only to the object store; restores write
//! only inside the workspace, through handles that never follow what the sandbox planted
//! (`sandbox::confined`). `__pycache__` directories and the generated package entry files
//! (`tools/__init__.py`, `skills/__init__.py`) are neither recorded nor removed. Fifos are
//! recorded (their mode) and made again; sockets and devices are never opened nor
//! recorded, and a restore removes them.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use rustc_hash::FxHashMap;

use super::journal::Journal;
use super::objects::{self, ObjectStore};
use super::scan::{Folder, TreeScan, Workspace, is_rewalk};
use crate::sandbox::confined::{ConfinedDir, Kind, Meta};

/// Bytecode caches are rebuilt by Python at will; recording them would only add noise.
const SKIPPED_DIR: &str = "__pycache__";

/// The `tools` and `skills` packages' entry files are written by mcpr for the process
/// running the session (they depend on its configuration and isolation, e.g. where skills
/// are mounted), not by the session: neither recorded nor restored.
const GENERATED: [&str; 2] = ["tools/__init__.py", "skills/__init__.py"];

/// Scans of a workspace that changes under them before a snapshot fails.
const SNAPSHOT_ATTEMPTS: u32 = 3;

/// What a workspace held at one moment. Keys are paths relative to the workspace,
/// '/'-separated; a BTreeMap so that equal workspaces serialize to equal bytes and hash
/// to the same object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    File {
        hash: String,
        size: u64,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: String,
    },
    /// A named pipe: its mode only (what passes through it is not the workspace's).
    Fifo {
        mode: u32,
    },
}

/// One folder of a snapshot as stored: see the module documentation. An old flat manifest
/// is a root tree whose `entries` hold every path and whose `dirs` are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(super) struct Tree {
    /// Declared first, so that every manifest object starts with `{"entries":`.
    pub(super) entries: BTreeMap<String, Entry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) dirs: BTreeMap<String, Subtree>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Subtree {
    pub(super) hash: String,
    pub(super) mode: u32,
}

/// How every manifest object begins (its first field).
pub const MANIFEST_START: &[u8] = b"{\"entries\":";

/// Deepest folder nesting snapshotted or read back. Sandboxed code can nest folders
/// without end (through folder handles, past the 4096-byte path limit); the snapshot
/// recurses once per level, so it refuses instead of running out of stack. No real
/// workspace comes near.
pub(super) const MAX_TREE_DEPTH: usize = 256;

#[derive(Debug, Default, Clone, Copy)]
pub struct SnapshotStats {
    pub files: u64,
    pub bytes: u64,
    /// Files read and hashed because the stat cache could not vouch for them.
    pub hashed_files: u64,
    pub hashed_bytes: u64,
    /// Folders' trees serialised and stored (the others were equal to the last
    /// snapshot's).
    pub trees_written: u64,
    /// Folders listed and stat'ed.
    pub folders_listed: u64,
    /// Folders not listed, only taking a subfolder's new hash (the change journal saw
    /// nothing happen to their own names).
    pub folders_on_path: u64,
    /// Folders (with everything below them) taken whole from the last snapshot, unread:
    /// the change journal saw nothing happen in them.
    pub folders_reused: u64,
    /// Whether the change journal planned this snapshot (false: a full walk).
    pub journalled: bool,
}

/// `removed` counts every path deleted, a directory's contents included. A file whose
/// content was already right counts as `unchanged` even if its mode was corrected.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestoreStats {
    pub written: u64,
    pub removed: u64,
    pub unchanged: u64,
}

/// Takes and restores snapshots, remembering what it hashed so that unchanged files cost
/// a `stat` and nothing more, and, through a change journal, that unchanged folders cost
/// nothing at all.
pub struct Snapshotter {
    /// Per (workspace, store root): a cached hash is only worth reusing if the object it
    /// names is in the store being written.
    workspaces: HashMap<(PathBuf, PathBuf), Workspace>,
    /// What restores hashed, by path, for the restores that follow.
    restored: HashMap<(PathBuf, PathBuf), HashMap<String, Cached>>,
    /// Whether snapshots may use a change journal.
    journal: bool,
}

impl Default for Snapshotter {
    fn default() -> Snapshotter {
        Snapshotter::new()
    }
}

struct Cached {
    stat: Stat,
    hash: String,
}

/// The parts of a file's metadata that change whenever its content may have. ctime is
/// included because tools that preserve mtimes (`cp -p`, `rsync -t`) still move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    dev: u64,
    ino: u64,
    pub(super) len: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stat {
    pub(super) fn of(meta: &Meta) -> Stat {
        Stat {
            dev: meta.dev,
            ino: meta.ino,
            len: meta.len,
            mtime_ns: meta.mtime_ns,
            ctime_ns: meta.ctime_ns,
        }
    }

    /// Modified at or after `racy_from_ns` (the start of the scan less the racy window):
    /// the stat cannot vouch for the content.
    pub(super) fn is_racy(&self, racy_from_ns: i64) -> bool {
        self.mtime_ns >= racy_from_ns
    }
}

impl Snapshotter {
    pub fn new() -> Snapshotter {
        Snapshotter {
            workspaces: HashMap::new(),
            restored: HashMap::new(),
            journal: true,
        }
    }

    /// A snapshotter that walks every folder at every snapshot (no change journal): what
    /// the journal's results are checked against.
    pub fn without_journal() -> Snapshotter {
        Snapshotter {
            journal: false,
            ..Snapshotter::new()
        }
    }

    /// From when on (ns since the epoch) an mtime makes a file of `workspace` racy, for
    /// a scan starting now.
    fn racy_from(state: &mut Workspace, workspace: &Path, store: &ObjectStore) -> i64 {
        let window = *state
            .racy_window
            .get_or_insert_with(|| super::racy::window_ns(workspace, store.root()));
        super::racy::now_ns().saturating_sub(window)
    }

    /// Snapshots `workspace` into `store`; returns the manifest's object hash. The
    /// kernel may still be changing the workspace (its threads and processes outlive a
    /// cell): a name that changes kind between being listed and being read fails the
    /// scan, which is tried again a few times before the error is given up.
    pub fn snapshot(
        &mut self,
        workspace: &Path,
        store: &ObjectStore,
    ) -> io::Result<(String, SnapshotStats)> {
        let mut attempt = 1;
        loop {
            match self.snapshot_once(workspace, store) {
                // Not an attempt: the journal cannot vouch, so walk whole at once.
                Err(e) if is_rewalk(&e) => {}
                Err(e) if attempt < SNAPSHOT_ATTEMPTS && e.kind() != io::ErrorKind::StorageFull => {
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    fn snapshot_once(
        &mut self,
        workspace: &Path,
        store: &ObjectStore,
    ) -> io::Result<(String, SnapshotStats)> {
        let key = (workspace.to_path_buf(), store.root().to_path_buf());
        self.restored.remove(&key);
        let use_journal = self.journal;
        let state = self.workspaces.entry(key).or_default();
        let racy_from_ns = Self::racy_from(state, workspace, store);
        let root = ConfinedDir::open(workspace)?;
        let root_dev = root.meta()?.dev;
        // The journal's plan, when it can vouch for everything since the last snapshot.
        let mut plan = None;
        if let Some(journal) = state.journal.as_mut()
            && journal.is_root(&root)
            && state.folders.contains_key("")
        {
            journal.drain();
            if journal.broken().is_none() {
                let planned = journal.plan(&root);
                if journal.broken().is_none() {
                    plan = Some(planned);
                }
            }
        }
        if plan.is_none() {
            // A new journal, its watches added as the walk lists each folder; the old
            // one's watches go with it.
            state.journal = None;
            state.journal = if use_journal {
                Journal::start(&root)
            } else {
                None
            };
        }
        let journalled = plan.is_some();
        let mut scan = TreeScan {
            folders: &mut state.folders,
            journal: state.journal.as_mut(),
            plan,
            root_dev,
            batch: store.batch(),
            stats: SnapshotStats {
                journalled,
                ..SnapshotStats::default()
            },
            racy_from_ns,
            visited: Vec::new(),
        };
        let built = scan.workspace(&root);
        if let (Ok(_), Some(journal)) = (&built, scan.journal.as_mut()) {
            journal.absorb();
        }
        let TreeScan {
            batch,
            stats,
            visited,
            ..
        } = scan;
        match built.and_then(|hash| batch.finish().map(|()| hash)) {
            Ok(hash) => Ok((hash, stats)),
            Err(e) => {
                // What this scan wrote names objects that were never made durable, and
                // the journal's plan is spent: walk whole next time.
                for rel in visited {
                    state.folders.remove(&rel);
                }
                if !is_rewalk(&e) {
                    state.journal = None;
                }
                Err(e)
            }
        }
    }

    /// Makes `workspace` equal to the snapshot `manifest_hash`: removes what the manifest
    /// lacks, creates dirs and symlinks, writes files whose content differs and restores
    /// modes. Every path is checked and every object required before anything changes.
    pub fn restore(
        &mut self,
        workspace: &Path,
        store: &ObjectStore,
        manifest_hash: &str,
    ) -> io::Result<RestoreStats> {
        let manifest = load_manifest(store, manifest_hash)?;
        check_paths(&manifest, manifest_hash)?;
        for entry in manifest.entries.values() {
            if let Entry::File { hash, .. } = entry {
                store.require(hash)?;
            }
        }
        let key = (workspace.to_path_buf(), store.root().to_path_buf());
        let state = self.workspaces.entry(key.clone()).or_default();
        let racy_from_ns = Self::racy_from(state, workspace, store);
        let root = ConfinedDir::create(workspace)?;
        let root_mode = root.meta()?.mode;
        if root_mode & 0o700 != 0o700 {
            root.set_own_mode((root_mode | 0o700) & 0o7777)?;
        }
        let mut cache = RestoreCache {
            folders: &mut state.folders,
            restored: self.restored.entry(key).or_default(),
        };
        let mut restore = Restore {
            root: &root,
            store,
            manifest: &manifest,
            cache: &mut cache,
            racy_from_ns,
            stats: RestoreStats::default(),
        };
        let result = restore.run();
        let stats = restore.stats;
        // Put back even after a failure: the workspace's own mode is not in the manifest.
        let reset_root = if root_mode & 0o700 == 0o700 {
            Ok(())
        } else {
            root.set_own_mode(root_mode & 0o7777)
        };
        result?;
        reset_root?;
        Ok(stats)
    }
}

/// The workspace a snapshot holds, every path in one map.
pub fn load_manifest(store: &ObjectStore, hash: &str) -> io::Result<Manifest> {
    Ok(manifest_objects(store, hash)?.0)
}

/// The workspace a snapshot holds, and every object its trees are stored in (the root's
/// first): what an export must carry besides the files.
pub fn manifest_objects(store: &ObjectStore, hash: &str) -> io::Result<(Manifest, Vec<String>)> {
    let mut manifest = Manifest::default();
    let mut objects = Vec::new();
    let mut pending = vec![(hash.to_string(), String::new(), 0usize)];
    while let Some((hash, prefix, depth)) = pending.pop() {
        if depth > MAX_TREE_DEPTH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "snapshot {hash} nests folders deeper than {MAX_TREE_DEPTH}: the record is corrupt"
                ),
            ));
        }
        let tree = read_tree(store, &hash)?;
        objects.push(hash);
        for (name, entry) in tree.entries {
            manifest.entries.insert(format!("{prefix}{name}"), entry);
        }
        for (name, sub) in tree.dirs {
            let path = format!("{prefix}{name}");
            manifest
                .entries
                .insert(path.clone(), Entry::Dir { mode: sub.mode });
            pending.push((sub.hash, format!("{path}/"), depth + 1));
        }
    }
    Ok((manifest, objects))
}

fn read_tree(store: &ObjectStore, hash: &str) -> io::Result<Tree> {
    let bytes = store.get(hash)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("object {hash} is not a snapshot manifest: {e}"),
        )
    })
}

/// The objects one manifest object names directly (its files and its folders' trees),
/// when `bytes` is one: for walking the store without knowing what each object is.
pub fn manifest_refs(bytes: &[u8]) -> Option<Vec<String>> {
    if !bytes.starts_with(MANIFEST_START) {
        return None;
    }
    let tree: Tree = serde_json::from_slice(bytes).ok()?;
    let files = tree.entries.into_values().filter_map(|e| match e {
        Entry::File { hash, .. } => Some(hash),
        _ => None,
    });
    Some(
        files
            .chain(tree.dirs.into_values().map(|d| d.hash))
            .collect(),
    )
}

/// The manifest of the workspace as it is now, hashing every file (no store writes): for
/// tests and checks.
pub fn current_manifest(workspace: &Path) -> io::Result<Manifest> {
    scan(&ConfinedDir::open(workspace)?, |_, dir, name, _| {
        objects::sha256_reader(&mut dir.open_file_here(name)?, &dir.shown(name))
    })
}

/// One restore in progress. Every change goes through handles below `root` that never
/// follow a symlink: the workspace is the sandbox's, and may change while we work.
struct Restore<'a, 'c> {
    root: &'a ConfinedDir,
    store: &'a ObjectStore,
    manifest: &'a Manifest,
    cache: &'a mut RestoreCache<'c>,
    racy_from_ns: i64,
    stats: RestoreStats,
}

/// The stat cache as a restore sees it: the last snapshot's, by path, and what restores
/// hashed since.
struct RestoreCache<'a> {
    folders: &'a mut FxHashMap<String, Folder>,
    restored: &'a mut HashMap<String, Cached>,
}

impl RestoreCache<'_> {
    fn split(path: &str) -> (&str, &str) {
        path.rsplit_once('/').unwrap_or(("", path))
    }

    /// The hash the cache holds for `path` if `stat` is what it vouched for.
    fn hash(&self, path: &str, stat: &Stat) -> Option<&str> {
        if let Some(cached) = self.restored.get(path) {
            return (cached.stat == *stat).then_some(cached.hash.as_str());
        }
        let (folder, name) = Self::split(path);
        let folder = self.folders.get(folder)?;
        if folder.stats.get(name) != Some(stat) {
            return None;
        }
        match folder.tree.entries.get(name) {
            Some(Entry::File { hash, .. }) => Some(hash),
            _ => None,
        }
    }

    fn insert(&mut self, path: &str, cached: Cached) {
        self.restored.insert(path.to_owned(), cached);
    }

    fn remove(&mut self, path: &str) {
        self.restored.remove(path);
        let (folder, name) = Self::split(path);
        if let Some(folder) = self.folders.get_mut(folder) {
            folder.stats.remove(name);
        }
    }
}

impl Restore<'_, '_> {
    fn run(&mut self) -> io::Result<()> {
        self.remove_unwanted()?;
        let manifest = self.manifest;
        for (path, entry) in &manifest.entries {
            let (dir, name) = self.parent_of(path)?;
            let current = dir.stat(name)?;
            match entry {
                Entry::Dir { .. } => self.put_dir(&dir, name, current)?,
                Entry::File { hash, size, mode } => {
                    self.put_file(path, &dir, name, current, hash, *size, *mode)?;
                }
                Entry::Symlink { target } => self.put_symlink(&dir, name, current, target)?,
                Entry::Fifo { mode } => self.put_fifo(&dir, name, current, *mode)?,
            }
        }
        // Children before parents: a directory without owner write or search permission
        // would otherwise stop the changes below it.
        for (path, entry) in manifest.entries.iter().rev() {
            if let Entry::Dir { mode } = entry {
                let (dir, name) = self.parent_of(path)?;
                dir.set_mode(name, *mode)?;
            }
        }
        Ok(())
    }

    /// The folder holding the manifest path `path` (checked by `check_paths`), and its name.
    fn parent_of<'p>(&self, path: &'p str) -> io::Result<(ConfinedDir, &'p OsStr)> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        Ok((self.root.open_dir(parent)?, OsStr::new(name)))
    }

    /// Deletes whatever the manifest lacks or holds as another kind, and opens up the
    /// directories that stay so that their contents can change.
    fn remove_unwanted(&mut self) -> io::Result<()> {
        let (manifest, cache) = (self.manifest, &mut *self.cache);
        let removed = &mut self.stats.removed;
        walk(self.root, |rel, dir, name, meta| {
            let wanted = rel.to_str().and_then(|path| manifest.entries.get(path));
            let keep = match wanted {
                Some(Entry::Dir { .. }) => meta.kind == Kind::Dir,
                Some(Entry::File { .. }) => meta.kind == Kind::File,
                Some(Entry::Symlink { .. }) => meta.kind == Kind::Symlink,
                Some(Entry::Fifo { .. }) => meta.kind == Kind::Fifo,
                None => false,
            };
            if !keep {
                *removed += dir.remove_tree(name)?;
                if let Some(path) = rel.to_str() {
                    cache.remove(path);
                }
                return Ok(false);
            }
            if meta.kind == Kind::Dir {
                make_owner_rwx(dir, name, meta.mode)?;
            }
            Ok(true)
        })
    }

    fn put_dir(
        &mut self,
        dir: &ConfinedDir,
        name: &OsStr,
        current: Option<Meta>,
    ) -> io::Result<()> {
        if let Some(meta) = &current {
            if meta.kind == Kind::Dir {
                self.stats.unchanged += 1;
                return Ok(());
            }
            self.stats.removed += dir.remove_tree(name)?;
        }
        dir.make_dir(name, 0o777)?;
        if let Some(meta) = dir.stat(name)? {
            make_owner_rwx(dir, name, meta.mode)?;
        }
        self.stats.written += 1;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn put_file(
        &mut self,
        path: &str,
        dir: &ConfinedDir,
        name: &OsStr,
        current: Option<Meta>,
        hash: &str,
        size: u64,
        mode: u32,
    ) -> io::Result<()> {
        if let Some(meta) = &current {
            if meta.kind == Kind::File && self.holds(path, dir, name, meta, hash, size)? {
                if meta.mode != mode {
                    dir.set_mode(name, mode)?;
                }
                self.stats.unchanged += 1;
                return Ok(());
            }
            if meta.kind == Kind::Dir {
                self.stats.removed += dir.remove_tree(name)?;
            }
        }
        self.cache.remove(path);
        self.store.copy_into(hash, dir, name, mode)?;
        self.stats.written += 1;
        Ok(())
    }

    /// Whether the file `name` already has the content `hash`, hashing it only when its
    /// length matches and the stat cache cannot answer.
    fn holds(
        &mut self,
        path: &str,
        dir: &ConfinedDir,
        name: &OsStr,
        meta: &Meta,
        hash: &str,
        size: u64,
    ) -> io::Result<bool> {
        if meta.len != size {
            return Ok(false);
        }
        let stat = Stat::of(meta);
        if let Some(known) = self.cache.hash(path, &stat) {
            return Ok(known == hash);
        }
        let mut file = dir.open_file_here(name)?;
        let (actual, read) = objects::sha256_reader(&mut file, &dir.shown(name))?;
        if read == stat.len && !stat.is_racy(self.racy_from_ns) {
            let cached = Cached {
                stat,
                hash: actual.clone(),
            };
            self.cache.insert(path, cached);
        }
        Ok(actual == hash)
    }

    fn put_fifo(
        &mut self,
        dir: &ConfinedDir,
        name: &OsStr,
        current: Option<Meta>,
        mode: u32,
    ) -> io::Result<()> {
        if let Some(meta) = &current {
            if meta.kind == Kind::Fifo {
                if meta.mode != mode {
                    dir.set_mode(name, mode)?;
                }
                self.stats.unchanged += 1;
                return Ok(());
            }
            self.stats.removed += dir.remove_tree(name)?;
        }
        dir.make_fifo(name, mode)?;
        self.stats.written += 1;
        Ok(())
    }

    fn put_symlink(
        &mut self,
        dir: &ConfinedDir,
        name: &OsStr,
        current: Option<Meta>,
        target: &str,
    ) -> io::Result<()> {
        if let Some(meta) = &current {
            if meta.kind == Kind::Symlink
                && dir
                    .read_link(name)
                    .is_ok_and(|existing| existing == Path::new(target))
            {
                self.stats.unchanged += 1;
                return Ok(());
            }
            if meta.kind == Kind::Dir {
                self.stats.removed += dir.remove_tree(name)?;
            }
        }
        // Made under a temporary name and renamed, like files, so the path is never absent.
        dir.symlink(Path::new(target), name)?;
        self.stats.written += 1;
        Ok(())
    }
}

/// Refuses a manifest that could make a restore write outside the workspace: absolute
/// paths, `..` (or `.`, or empty) components, and entries whose parent is not recorded as
/// a directory (a symlink recorded as `a` must not carry a file `a/b` out of the tree).
fn check_paths(manifest: &Manifest, hash: &str) -> io::Result<()> {
    let refuse = |path: &str, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot {hash} holds the unsafe path {path:?} ({why}); \
                 the record is corrupt or was edited, so nothing was restored"
            ),
        )
    };
    for path in manifest.entries.keys() {
        let relative = !path.is_empty()
            && path
                .split('/')
                .all(|part| !matches!(part, "" | "." | "..") && !part.contains('\0'));
        if !relative {
            return Err(refuse(
                path,
                "paths must be relative to the workspace, without '..'",
            ));
        }
        if let Some((parent, _)) = path.rsplit_once('/')
            && !matches!(manifest.entries.get(parent), Some(Entry::Dir { .. }))
        {
            return Err(refuse(
                path,
                "its parent is not a directory of the snapshot",
            ));
        }
    }
    Ok(())
}

/// Builds the manifest of the tree below `root`, asking `file` for each regular file's
/// (hash, size), given its manifest path, folder, name and metadata.
fn scan<F>(root: &ConfinedDir, mut file: F) -> io::Result<Manifest>
where
    F: FnMut(&str, &ConfinedDir, &OsStr, &Meta) -> io::Result<(String, u64)>,
{
    let mut manifest = Manifest::default();
    walk(root, |rel, dir, name, meta| {
        let path = utf8(rel, rel)?;
        let entry = match meta.kind {
            Kind::Symlink => {
                let target = dir.read_link(name)?;
                let target = utf8(&target, rel)?.to_owned();
                Entry::Symlink { target }
            }
            Kind::Dir => Entry::Dir { mode: meta.mode },
            Kind::Fifo => Entry::Fifo { mode: meta.mode },
            // Sockets and devices cannot be made again (a socket needs its server); a
            // restore removes them.
            Kind::Special => return Ok(true),
            Kind::File => {
                let (hash, size) = file(path, dir, name, meta)?;
                Entry::File {
                    hash,
                    size,
                    mode: meta.mode,
                }
            }
        };
        manifest.entries.insert(path.to_owned(), entry);
        Ok(true)
    })?;
    Ok(manifest)
}

/// Visits everything below `root` depth first, parents before children, through handles
/// that never follow symlinks (and never open special files), skipping `__pycache__`
/// directories and the generated package entry files.
/// `visit` gets the path relative to `root`, the folder holding it, its name and metadata,
/// and says whether to descend into a directory; it runs before the directory is read, so
/// it may still change its mode.
fn walk<F>(root: &ConfinedDir, mut visit: F) -> io::Result<()>
where
    F: FnMut(&Path, &ConfinedDir, &OsStr, &Meta) -> io::Result<bool>,
{
    walk_under(root, Path::new(""), &mut visit)
}

/// Whether the name at `rel` (relative to the workspace) belongs to snapshots: bytecode
/// caches and the generated package entry files do not.
fn is_recorded(rel: &Path, kind: Kind) -> bool {
    match kind {
        Kind::File => !GENERATED.iter().any(|g| rel == Path::new(g)),
        Kind::Dir => rel.file_name() != Some(OsStr::new(SKIPPED_DIR)),
        Kind::Symlink | Kind::Fifo | Kind::Special => true,
    }
}

/// As [`is_recorded`], for the name `name` of the folder `folder` ('/'-separated).
pub(super) fn is_recorded_in(folder: &str, name: &str, kind: Kind) -> bool {
    match kind {
        Kind::File => !GENERATED
            .iter()
            .any(|g| g.split_once('/') == Some((folder, name))),
        Kind::Dir => name != SKIPPED_DIR,
        Kind::Symlink | Kind::Fifo | Kind::Special => true,
    }
}

fn walk_under<F>(dir: &ConfinedDir, rel: &Path, visit: &mut F) -> io::Result<()>
where
    F: FnMut(&Path, &ConfinedDir, &OsStr, &Meta) -> io::Result<bool>,
{
    for name in dir.names()? {
        let rel = rel.join(&name);
        // Deleted since the listing: it is simply not part of the workspace any more.
        let Some(meta) = dir.stat(&name)? else {
            continue;
        };
        if is_recorded(&rel, meta.kind) && visit(&rel, dir, &name, &meta)? && meta.kind == Kind::Dir
        {
            let child = match dir.child_dir(&name) {
                Ok(child) => child,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            walk_under(&child, &rel, visit)?;
        }
    }
    Ok(())
}

/// Lets the owner list, enter and change a directory for the length of a restore; its
/// recorded mode is set again at the end.
fn make_owner_rwx(dir: &ConfinedDir, name: &OsStr, mode: u32) -> io::Result<()> {
    if mode & 0o700 == 0o700 {
        return Ok(());
    }
    dir.set_mode(name, (mode | 0o700) & 0o7777)
}

/// Manifest keys and symlink targets are JSON strings, so a name that is not UTF-8 cannot
/// be recorded faithfully; refusing beats restoring a different name.
pub(super) fn utf8<'a>(path: &'a Path, entry: &Path) -> io::Result<&'a str> {
    path.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "cannot snapshot {}: the name is not UTF-8; rename it",
                entry.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, SystemTime};

    struct Fixture {
        _dir: tempfile::TempDir,
        workspace: PathBuf,
        store: ObjectStore,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("workspace");
        fs::create_dir(&workspace).unwrap();
        let store = ObjectStore::open(&dir.path().join("objects")).unwrap();
        Fixture {
            _dir: dir,
            workspace,
            store,
        }
    }

    fn write(root: &Path, path: &str, content: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn chmod(root: &Path, path: &str, mode: u32) {
        fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Moves every file's mtime an hour back, out of the racy window, as if the files had
    /// been written long before the snapshot.
    fn backdate(root: &Path) {
        let past = SystemTime::now() - Duration::from_secs(3600);
        walk(&ConfinedDir::open(root).unwrap(), |rel, _, _, meta| {
            if meta.kind == Kind::File {
                File::open(root.join(rel))?.set_modified(past)?;
            }
            Ok(true)
        })
        .unwrap();
    }

    fn assert_matches(workspace: &Path, store: &ObjectStore, hash: &str) {
        assert_eq!(
            current_manifest(workspace).unwrap(),
            load_manifest(store, hash).unwrap()
        );
    }

    #[test]
    fn restore_undoes_edits_additions_deletions_symlinks_and_mode_changes() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        write(&ws, "a.txt", "alpha");
        write(&ws, "sub/b.txt", "beta");
        write(&ws, "run.sh", "#!/bin/sh\n");
        chmod(&ws, "run.sh", 0o755);
        write(&ws, "frozen/f.txt", "fixed");
        chmod(&ws, "frozen/f.txt", 0o444);
        chmod(&ws, "frozen", 0o555);
        symlink("a.txt", ws.join("old-link")).unwrap();
        write(&ws, "__pycache__/a.cpython-312.pyc", "bytecode");
        let mut snapshotter = Snapshotter::new();
        let (first, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_eq!(stats.files, 4);
        let manifest = load_manifest(&store, &first).unwrap();
        assert!(manifest.entries.keys().all(|k| !k.contains("__pycache__")));
        assert_eq!(
            manifest.entries["old-link"],
            Entry::Symlink {
                target: "a.txt".into()
            }
        );
        assert_eq!(manifest.entries["frozen"], Entry::Dir { mode: 0o555 });
        assert_matches(&ws, &store, &first);

        write(&ws, "a.txt", "alpha, edited");
        write(&ws, "c.txt", "new");
        fs::remove_file(ws.join("sub/b.txt")).unwrap();
        write(&ws, "new/deep/d.txt", "deep");
        symlink("/etc/passwd", ws.join("new-link")).unwrap();
        fs::remove_file(ws.join("old-link")).unwrap();
        symlink("c.txt", ws.join("old-link")).unwrap();
        chmod(&ws, "run.sh", 0o600);
        chmod(&ws, "frozen", 0o755);
        write(&ws, "frozen/g.txt", "sneaked in");
        chmod(&ws, "frozen", 0o500);
        let (second, _) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_ne!(first, second);

        let stats = snapshotter.restore(&ws, &store, &first).unwrap();
        assert_matches(&ws, &store, &first);
        assert_eq!(fs::read_to_string(ws.join("a.txt")).unwrap(), "alpha");
        assert!(!ws.join("new").exists());
        assert!(fs::symlink_metadata(ws.join("new-link")).is_err());
        assert_eq!(
            fs::read_link(ws.join("old-link")).unwrap(),
            Path::new("a.txt")
        );
        assert_eq!(
            fs::metadata(ws.join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o755
        );
        assert!(ws.join("__pycache__/a.cpython-312.pyc").is_file());
        // c.txt, new, new/deep, new/deep/d.txt, new-link, frozen/g.txt
        assert_eq!(stats.removed, 6);
        // a.txt, sub/b.txt, old-link
        assert_eq!(stats.written, 3);

        snapshotter.restore(&ws, &store, &second).unwrap();
        assert_matches(&ws, &store, &second);
        snapshotter.restore(&ws, &store, &first).unwrap();
        assert_matches(&ws, &store, &first);

        // A fresh process, with no stat cache, restores the same.
        Snapshotter::new().restore(&ws, &store, &second).unwrap();
        assert_matches(&ws, &store, &second);
        // Lets the temporary folder be deleted when the tests do not run as root.
        chmod(&ws, "frozen", 0o755);
    }

    #[test]
    fn restoring_onto_an_equal_workspace_writes_nothing() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        write(&ws, "a.txt", "alpha");
        write(&ws, "sub/b.txt", "beta");
        symlink("a.txt", ws.join("link")).unwrap();
        let (hash, _) = Snapshotter::new().snapshot(&ws, &store).unwrap();
        let stats = Snapshotter::new().restore(&ws, &store, &hash).unwrap();
        assert_eq!((stats.written, stats.removed, stats.unchanged), (0, 0, 4));
    }

    #[test]
    fn restore_creates_a_missing_workspace() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        write(&ws, "sub/b.txt", "beta");
        let (hash, _) = Snapshotter::new().snapshot(&ws, &store).unwrap();
        let elsewhere = ws.with_file_name("fresh/workspace");
        Snapshotter::new()
            .restore(&elsewhere, &store, &hash)
            .unwrap();
        assert_matches(&elsewhere, &store, &hash);
    }

    #[test]
    fn unchanged_files_are_not_hashed_again() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        for i in 0..5 {
            write(&ws, &format!("dir/file-{i}.txt"), &format!("content {i}"));
        }
        backdate(&ws);
        let mut snapshotter = Snapshotter::new();
        let (first, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_eq!((stats.files, stats.hashed_files), (5, 5));

        let (again, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_eq!(again, first);
        assert_eq!(
            (stats.files, stats.hashed_files, stats.hashed_bytes),
            (5, 0, 0)
        );
        assert_eq!(stats.bytes, 5 * "content 0".len() as u64);

        write(&ws, "dir/file-3.txt", "changed content");
        let (changed, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_ne!(changed, first);
        assert_eq!(stats.hashed_files, 1);
        assert_eq!(stats.hashed_bytes, "changed content".len() as u64);
    }

    #[test]
    fn a_changed_file_stores_only_the_trees_of_its_folders() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        for folder in ["a/x", "a/y", "b"] {
            for i in 0..20 {
                write(&ws, &format!("{folder}/f{i}.txt"), &format!("{folder} {i}"));
            }
        }
        backdate(&ws);
        let mut snapshotter = Snapshotter::new();
        let (first, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        // The workspace, a, a/x, a/y and b.
        assert_eq!(stats.trees_written, 5);
        write(&ws, "a/x/f3.txt", "changed");
        let (second, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_eq!(stats.trees_written, 3, "a/x, a and the workspace only");

        let (before, before_trees) = manifest_objects(&store, &first).unwrap();
        let (after, after_trees) = manifest_objects(&store, &second).unwrap();
        let kept = after_trees
            .iter()
            .filter(|t| before_trees.contains(t))
            .count();
        assert_eq!(
            (after_trees.len(), kept),
            (5, 2),
            "a/y and b keep their trees"
        );
        let changed: Vec<&String> = after
            .entries
            .iter()
            .filter(|(path, entry)| before.entries.get(*path) != Some(*entry))
            .map(|(path, _)| path)
            .collect();
        assert_eq!(changed, ["a/x/f3.txt"]);
        assert_eq!(
            after,
            current_manifest(&ws).unwrap(),
            "the trees read back flat"
        );

        // A cold snapshotter comes to the same hash: trees are a function of content.
        let (cold, _) = Snapshotter::new().snapshot(&ws, &store).unwrap();
        assert_eq!(cold, second);
    }

    #[test]
    fn folders_nested_beyond_the_limit_are_refused_by_name_not_overflowing_the_stack() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        let deep: PathBuf = std::iter::repeat_n("d", MAX_TREE_DEPTH + 2).collect();
        fs::create_dir_all(ws.join(&deep)).unwrap();
        let e = Snapshotter::new().snapshot(&ws, &store).unwrap_err();
        assert!(e.to_string().contains("nest deeper than 256"), "{e}");
    }

    #[test]
    fn a_flat_manifest_written_before_trees_reads_back_and_restores_the_same() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        write(&ws, "top.txt", "top");
        write(&ws, "deep/er/file.txt", "deep");
        let mut snapshotter = Snapshotter::new();
        let (tree, _) = snapshotter.snapshot(&ws, &store).unwrap();
        let flat = current_manifest(&ws).unwrap();
        let flat_hash = store.put(&serde_json::to_vec(&flat).unwrap()).unwrap();
        assert_ne!(flat_hash, tree);
        assert_eq!(load_manifest(&store, &flat_hash).unwrap(), flat);
        assert_eq!(load_manifest(&store, &tree).unwrap(), flat);

        fs::remove_dir_all(ws.join("deep")).unwrap();
        write(&ws, "top.txt", "edited");
        snapshotter.restore(&ws, &store, &flat_hash).unwrap();
        assert_eq!(current_manifest(&ws).unwrap(), flat);
    }

    /// On filesystems with coarse timestamps a same-length rewrite in the same clock tick
    /// keeps every stat field, so a recently modified file must not be trusted from cache.
    #[test]
    fn files_modified_just_before_a_snapshot_are_hashed_again_next_time() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        let mut snapshotter = Snapshotter::new();
        write(&ws, "x.txt", "aaaa");
        let (first, _) = snapshotter.snapshot(&ws, &store).unwrap();
        // Rewritten at once: in the same tick when the scan ran within the window (so it
        // did not vouch for the file), in a later tick (a new mtime) otherwise.
        fs::write(ws.join("x.txt"), "bbbb").unwrap();
        let (second, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_ne!(first, second);
        assert_eq!(stats.hashed_files, 1);
        assert_matches(&ws, &store, &second);
    }

    /// The racy rule with the stat kept whole: a file stamped no earlier than the scan's
    /// start (a coarse clock trailing, a tick not yet passed) is rewritten with the same
    /// length and its mtime put back, as a rewrite in the same tick would leave it.
    #[test]
    fn a_same_size_rewrite_within_the_window_is_still_seen() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        let mut snapshotter = Snapshotter::new();
        write(&ws, "x.txt", "aaaa");
        let stamp = SystemTime::now() + Duration::from_millis(500);
        File::options()
            .write(true)
            .open(ws.join("x.txt"))
            .unwrap()
            .set_modified(stamp)
            .unwrap();
        let (first, _) = snapshotter.snapshot(&ws, &store).unwrap();
        let file = File::options().write(true).open(ws.join("x.txt")).unwrap();
        std::io::Write::write_all(&mut &file, b"bbbb").unwrap();
        file.set_modified(stamp).unwrap();
        let (second, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_ne!(first, second);
        assert_eq!(stats.hashed_files, 1);
        assert_matches(&ws, &store, &second);
    }

    /// The window is the filesystem's granularity and the clock's tick, not seconds: a
    /// file written a second before a snapshot on a local filesystem is trusted after it.
    #[test]
    fn a_file_older_than_the_window_is_trusted() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        write(&ws, "x.txt", "aaaa");
        File::options()
            .write(true)
            .open(ws.join("x.txt"))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(1))
            .unwrap();
        let mut snapshotter = Snapshotter::new();
        let (first, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_eq!(stats.hashed_files, 1);
        let (again, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert_eq!(again, first);
        assert_eq!(stats.hashed_files, 0);
    }

    #[test]
    fn a_file_can_become_a_directory_and_back() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        let mut snapshotter = Snapshotter::new();
        write(&ws, "a", "a file");
        write(&ws, "b/inner/x.txt", "in a dir");
        let (files_first, _) = snapshotter.snapshot(&ws, &store).unwrap();

        fs::remove_file(ws.join("a")).unwrap();
        write(&ws, "a/y.txt", "now a dir");
        fs::remove_dir_all(ws.join("b")).unwrap();
        write(&ws, "b", "now a file");
        let (swapped, _) = snapshotter.snapshot(&ws, &store).unwrap();

        snapshotter.restore(&ws, &store, &files_first).unwrap();
        assert_matches(&ws, &store, &files_first);
        assert!(ws.join("a").is_file() && ws.join("b").is_dir());
        snapshotter.restore(&ws, &store, &swapped).unwrap();
        assert_matches(&ws, &store, &swapped);
        assert!(ws.join("a").is_dir() && ws.join("b").is_file());
    }

    #[test]
    fn fifos_are_recorded_and_made_again_sockets_removed_and_neither_opened() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        write(&ws, "a.txt", "alpha");
        nix::unistd::mkfifo(
            &ws.join("pipe"),
            nix::sys::stat::Mode::from_bits_truncate(0o640),
        )
        .unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(ws.join("sock")).unwrap();
        // Opening the fifo would block the snapshot for good; it must not be opened.
        let (hash, stats) = Snapshotter::new().snapshot(&ws, &store).unwrap();
        assert_eq!(stats.files, 1);
        let manifest = load_manifest(&store, &hash).unwrap();
        assert_eq!(
            manifest.entries.get("pipe"),
            Some(&Entry::Fifo { mode: 0o640 })
        );
        assert!(!manifest.entries.contains_key("sock"));
        fs::remove_file(ws.join("pipe")).unwrap();
        Snapshotter::new().restore(&ws, &store, &hash).unwrap();
        let meta = fs::symlink_metadata(ws.join("pipe")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert!(
            fs::symlink_metadata(ws.join("sock")).is_err(),
            "the socket was removed"
        );
        assert_matches(&ws, &store, &hash);
    }

    #[test]
    fn manifests_reaching_outside_the_workspace_are_refused() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        let content = store.put(b"evil").unwrap();
        let file = Entry::File {
            hash: content,
            size: 4,
            mode: 0o644,
        };
        let cases: [&[(&str, Entry)]; 4] = [
            &[("../evil", file.clone())],
            &[("/tmp/evil", file.clone())],
            &[("ok/../../evil", file.clone())],
            &[
                (
                    "link",
                    Entry::Symlink {
                        target: "..".into(),
                    },
                ),
                ("link/evil", file.clone()),
            ],
        ];
        for entries in cases {
            let manifest = Manifest {
                entries: entries
                    .iter()
                    .cloned()
                    .map(|(k, e)| (k.to_owned(), e))
                    .collect(),
            };
            let hash = store.put(&serde_json::to_vec(&manifest).unwrap()).unwrap();
            let err = Snapshotter::new().restore(&ws, &store, &hash).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let bad_key = entries.last().unwrap().0;
            assert!(err.to_string().contains(bad_key), "{err}");
        }
        assert!(!ws.parent().unwrap().join("evil").exists());
        assert_eq!(fs::read_dir(&ws).unwrap().count(), 0);
    }

    #[test]
    fn a_restore_needing_a_missing_object_changes_nothing() {
        let Fixture {
            _dir,
            workspace: ws,
            store,
        } = fixture();
        let manifest = Manifest {
            entries: BTreeMap::from([(
                "a.txt".to_owned(),
                Entry::File {
                    hash: objects::sha256_hex(b"gone"),
                    size: 4,
                    mode: 0o644,
                },
            )]),
        };
        let hash = store.put(&serde_json::to_vec(&manifest).unwrap()).unwrap();
        write(&ws, "keep.txt", "kept");
        let err = Snapshotter::new().restore(&ws, &store, &hash).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("incomplete"), "{err}");
        assert!(ws.join("keep.txt").is_file());
    }
}
