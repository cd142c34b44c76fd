//! One snapshot being taken, over what the last one left: each folder's tree, hash and
//! the stats that vouch for its files, kept per folder and updated in place (a folder
//! whose tree comes out equal is neither serialised nor stored again, and an unchanged
//! file moves its hash from the old tree to the new one, never copied).
//!
//! With a change journal ([`super::journal`]) only the folders it names are listed and
//! stat'ed; their ancestors keep their own entries and only take their children's new
//! hashes; every other folder is reused whole. Without one, or when it cannot vouch,
//! every folder is listed (a full walk), which also starts a new journal: each folder is
//! watched before it is listed, and every file's lease is asked once, since a writer from
//! before the watches would have made no event.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};

use super::journal::{self, FileKey, Journal, Plan};
use super::pack::Batch;
use super::snapshot::{
    Entry, MAX_TREE_DEPTH, SnapshotStats, Stat, Subtree, Tree, is_recorded_in, utf8,
};
use crate::sandbox::confined::{ConfinedDir, Kind};

/// What the snapshots of one (workspace, store) build on.
#[derive(Default)]
pub(super) struct Workspace {
    pub folders: FxHashMap<String, Folder>,
    pub journal: Option<Journal>,
    pub racy_window: Option<i64>,
}

/// One folder as the last snapshot saw it.
pub(super) struct Folder {
    pub tree: Tree,
    pub hash: String,
    /// The stats that vouch for the files of `tree`, by name (only files that were not
    /// racy, nor open for writing, when seen).
    pub stats: FxHashMap<String, Stat>,
    /// Files and their bytes in the whole subtree.
    total: (u64, u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Listed, and every folder below it too; `fresh`: nothing of the last snapshot's is
    /// trusted (a folder new to the journal).
    Whole { fresh: bool },
    /// Listed; its subfolders as the plan says.
    Listed,
    /// Not listed: its own entries kept, its subfolders as the plan says.
    OnPath,
    /// Reused whole.
    Reused,
}

/// A scan found what the journal cannot vouch for after it had planned: the snapshot is
/// taken again as a full walk.
#[derive(Debug)]
pub(super) struct Rewalk;

impl std::fmt::Display for Rewalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the change journal cannot vouch for this workspace; walking it whole")
    }
}

impl std::error::Error for Rewalk {}

pub(super) fn is_rewalk(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Rewalk>())
}

pub(super) struct TreeScan<'w, 's> {
    pub folders: &'w mut FxHashMap<String, Folder>,
    pub journal: Option<&'w mut Journal>,
    /// None: a full walk.
    pub plan: Option<Plan>,
    pub root_dev: u64,
    pub batch: Batch<'s>,
    pub stats: SnapshotStats,
    pub racy_from_ns: i64,
    /// Folders written into `folders` by this scan: forgotten again if it fails (their
    /// objects are in a batch that was never made durable).
    pub visited: Vec<String>,
}

impl TreeScan<'_, '_> {
    /// The hash of the workspace's tree.
    pub fn workspace(&mut self, root: &ConfinedDir) -> io::Result<String> {
        self.folder(root, "", 0, None)
    }

    /// The hash of the tree of `dir`, at `rel` ('/'-separated, "" for the workspace).
    fn folder(
        &mut self,
        dir: &ConfinedDir,
        rel: &str,
        depth: usize,
        inherited: Option<Mode>,
    ) -> io::Result<String> {
        if depth > MAX_TREE_DEPTH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "cannot snapshot {rel}: folders nest deeper than {MAX_TREE_DEPTH} levels; flatten them"
                ),
            ));
        }
        let mode = inherited.unwrap_or_else(|| self.mode_of(rel));
        match mode {
            Mode::Reused => {
                if let Some(folder) = self.folders.get(rel) {
                    self.stats.folders_reused += 1;
                    self.stats.files += folder.total.0;
                    self.stats.bytes += folder.total.1;
                    return Ok(folder.hash.clone());
                }
                self.list(dir, rel, depth, Mode::Whole { fresh: true })
            }
            Mode::OnPath => self.on_path(dir, rel, depth),
            _ => self.list(dir, rel, depth, mode),
        }
    }

    fn mode_of(&self, rel: &str) -> Mode {
        let Some(plan) = &self.plan else {
            return Mode::Whole { fresh: false };
        };
        if plan.fresh.contains(rel) || !self.folders.contains_key(rel) {
            Mode::Whole { fresh: true }
        } else if plan.dirty.contains(rel)
            || !self.journal.as_ref().is_some_and(|j| j.is_watched(rel))
        {
            Mode::Listed
        } else if plan.on_path.contains(rel) {
            Mode::OnPath
        } else {
            Mode::Reused
        }
    }

    /// The journal cannot vouch for the workspace any more: a full walk notes it and goes
    /// on; a planned scan stops, to be taken again whole.
    fn give_up(&mut self, why: String) -> io::Result<()> {
        if let Some(journal) = self.journal.as_mut() {
            journal.give_up(why);
            if self.plan.is_some() {
                return Err(io::Error::other(Rewalk));
            }
        }
        Ok(())
    }

    /// A folder none of whose names changed: its subfolders on the plan's way are scanned
    /// and their new hashes taken; its own entries stay.
    fn on_path(&mut self, dir: &ConfinedDir, rel: &str, depth: usize) -> io::Result<String> {
        let Some(mut folder) = self.folders.remove(rel) else {
            return self.list(dir, rel, depth, Mode::Whole { fresh: true });
        };
        // On an error the folder stays out of the state: the failed scan is forgotten.
        let changed = self.on_path_children(dir, rel, depth, &mut folder)?;
        self.stats.folders_on_path += 1;
        if changed {
            folder.hash = self.store_tree(&folder.tree, dir)?;
        }
        let hash = folder.hash.clone();
        self.visited.push(rel.to_owned());
        self.folders.insert(rel.to_owned(), folder);
        Ok(hash)
    }

    fn on_path_children(
        &mut self,
        dir: &ConfinedDir,
        rel: &str,
        depth: usize,
        folder: &mut Folder,
    ) -> io::Result<bool> {
        let mut changed = false;
        let own = own_totals(&folder.tree);
        let mut total = own;
        for (name, sub) in folder.tree.dirs.iter_mut() {
            let child_rel = journal::join(rel, OsStr::new(name));
            let planned = self.plan.as_ref().is_some_and(|p| {
                p.dirty.contains(&child_rel)
                    || p.fresh.contains(&child_rel)
                    || p.on_path.contains(&child_rel)
            });
            if planned || !self.folders.contains_key(&child_rel) {
                let child = dir.child_dir(OsStr::new(name))?;
                let hash = self.folder(&child, &child_rel, depth + 1, None)?;
                if hash != sub.hash {
                    sub.hash = hash;
                    changed = true;
                }
            } else {
                self.stats.folders_reused += 1;
            }
            if let Some(child) = self.folders.get(&child_rel) {
                total.0 += child.total.0;
                total.1 += child.total.1;
                if !planned {
                    self.stats.files += child.total.0;
                    self.stats.bytes += child.total.1;
                }
            }
        }
        self.stats.files += own.0;
        self.stats.bytes += own.1;
        folder.total = total;
        Ok(changed)
    }

    /// Lists and stats the folder, hashing each file its stat cannot vouch for.
    fn list(
        &mut self,
        dir: &ConfinedDir,
        rel: &str,
        depth: usize,
        mode: Mode,
    ) -> io::Result<String> {
        if let Some(journal) = self.journal.as_mut() {
            // Before the listing: whatever is made after it makes an event.
            journal.watch(dir, rel);
            if journal.broken().is_some() && self.plan.is_some() {
                return Err(io::Error::other(Rewalk));
            }
        }
        let old = self.folders.remove(rel);
        let fresh = mode == Mode::Whole { fresh: true };
        let (mut old_tree, old_hash, mut old_stats) = match old {
            Some(f) if !fresh => (f.tree, Some(f.hash), f.stats),
            Some(f) => {
                for name in f.tree.dirs.keys() {
                    self.forget(&journal::join(rel, OsStr::new(name)));
                }
                (Tree::default(), None, FxHashMap::default())
            }
            None => (Tree::default(), None, FxHashMap::default()),
        };
        let inherited = match mode {
            Mode::Whole { .. } => Some(mode),
            _ => None,
        };
        let rewritten: FxHashSet<OsString> = self
            .plan
            .as_ref()
            .map(|p| {
                p.rewritten
                    .iter()
                    .filter(|(folder, _)| folder == rel)
                    .map(|(_, name)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        // A full walk starts the journal: a writer from before its watches made no event.
        let ask_every_lease = self.plan.is_none();
        let mut tree = Tree::default();
        let mut stats = FxHashMap::default();
        let mut changed = old_hash.is_none();
        let mut total = (0u64, 0u64);
        self.stats.folders_listed += 1;
        for name in dir.names()? {
            let key = utf8(Path::new(&name), &dir.shown(&name))?;
            // Deleted since the listing: it is simply not part of the workspace any more.
            let Some(meta) = dir.stat(&name)? else {
                continue;
            };
            if !is_recorded_in(rel, key, meta.kind) {
                continue;
            }
            let (key, old_entry) = match old_tree.entries.remove_entry(key) {
                Some((k, e)) => (k, Some(e)),
                None => (key.to_owned(), None),
            };
            let entry = match meta.kind {
                Kind::File => {
                    if meta.nlink > 1 && self.journal.is_some() {
                        self.give_up(format!(
                            "{} has several names (hard links)",
                            dir.shown(&name).display()
                        ))?;
                    }
                    let stat = Stat::of(&meta);
                    let old_stat = old_stats.remove(&key);
                    let vouches = old_stat == Some(stat)
                        && matches!(&old_entry, Some(Entry::File { size, .. }) if *size == stat.len)
                        && !rewritten.contains(&name);
                    let file = FileSeen {
                        name: &name,
                        stat,
                        mode: meta.mode,
                        old: old_entry,
                        vouches,
                    };
                    let (entry, vouched, differs) = self.file(dir, rel, file, ask_every_lease)?;
                    if vouched {
                        stats.insert(key.clone(), stat);
                    }
                    if let Entry::File { size, .. } = &entry {
                        total.0 += 1;
                        total.1 += size;
                    }
                    changed |= differs;
                    entry
                }
                Kind::Dir => {
                    if meta.dev != self.root_dev {
                        self.give_up(format!(
                            "{} is on another filesystem",
                            dir.shown(&name).display()
                        ))?;
                    }
                    let child_rel = journal::join(rel, &name);
                    let child = match dir.child_dir(&name) {
                        Ok(child) => child,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    let hash = self.folder(&child, &child_rel, depth + 1, inherited)?;
                    if let Some(child) = self.folders.get(&child_rel) {
                        total.0 += child.total.0;
                        total.1 += child.total.1;
                    }
                    let sub = Subtree {
                        hash,
                        mode: meta.mode,
                    };
                    changed |= old_tree.dirs.remove(&key).is_none_or(|old| old != sub);
                    tree.dirs.insert(key, sub);
                    continue;
                }
                Kind::Symlink => {
                    let target = dir.read_link(&name)?;
                    let entry = Entry::Symlink {
                        target: utf8(&target, &dir.shown(&name))?.to_owned(),
                    };
                    changed |= old_entry.as_ref() != Some(&entry);
                    entry
                }
                Kind::Fifo => {
                    let entry = Entry::Fifo { mode: meta.mode };
                    changed |= old_entry.as_ref() != Some(&entry);
                    entry
                }
                // Sockets and devices cannot be made again (a socket needs its server); a
                // restore removes them.
                Kind::Special => {
                    changed |= old_entry.is_some();
                    continue;
                }
            };
            tree.entries.insert(key, entry);
        }
        changed |= !old_tree.entries.is_empty() || !old_tree.dirs.is_empty();
        for gone in old_tree.dirs.into_keys() {
            self.forget(&journal::join(rel, OsStr::new(&gone)));
        }
        let hash = match old_hash {
            Some(hash) if !changed => hash,
            _ => self.store_tree(&tree, dir)?,
        };
        self.visited.push(rel.to_owned());
        self.folders.insert(
            rel.to_owned(),
            Folder {
                tree,
                hash: hash.clone(),
                stats,
                total,
            },
        );
        Ok(hash)
    }

    /// A regular file's entry, whether its stat now vouches for it, and whether it differs
    /// from the last snapshot's. Its hash comes from the last snapshot when the stat
    /// vouches (and no writer has it open), else it is read and stored.
    fn file(
        &mut self,
        dir: &ConfinedDir,
        rel: &str,
        seen: FileSeen<'_>,
        ask_lease: bool,
    ) -> io::Result<(Entry, bool, bool)> {
        let FileSeen {
            name,
            stat,
            mode,
            old,
            vouches,
        } = seen;
        let mut opened = None;
        let mut no_writer = true;
        if self.journal.is_some() && (ask_lease || !vouches) {
            let file = dir.open_file_here(name)?;
            no_writer = journal::has_no_writer(&file);
            opened = Some(file);
        }
        let (hash, size, differs) = match old {
            Some(Entry::File {
                hash,
                size,
                mode: old_mode,
            }) if vouches && no_writer => (hash, size, old_mode != mode),
            old => {
                let mut file = match opened.take() {
                    Some(file) => file,
                    None => dir.open_file_here(name)?,
                };
                let (hash, size) = self.batch.put_reader(&mut file, &dir.shown(name))?;
                opened = Some(file);
                self.stats.hashed_files += 1;
                self.stats.hashed_bytes += size;
                let same = matches!(&old, Some(Entry::File { hash: h, size: s, mode: m })
                    if *h == hash && *s == size && *m == mode);
                (hash, size, !same)
            }
        };
        let entry = Entry::File { hash, size, mode };
        self.stats.files += 1;
        self.stats.bytes += size;
        if let (Some(journal), Some(file)) = (self.journal.as_mut(), opened) {
            let key: FileKey = (rel.to_owned(), name.to_owned());
            if no_writer {
                journal.witness(key, file);
            } else {
                journal.suspect(key);
            }
        }
        // A length that moved while we read means the file changed under us.
        let vouched = no_writer && size == stat.len && !stat.is_racy(self.racy_from_ns);
        Ok((entry, vouched, differs))
    }

    /// Stores a folder's tree; a folder of very many entries is chunked like a large
    /// file, so one changed entry stores a chunk or two, not the whole list again.
    fn store_tree(&mut self, tree: &Tree, dir: &ConfinedDir) -> io::Result<String> {
        self.stats.trees_written += 1;
        let bytes = serde_json::to_vec(tree)?;
        let what = format!("the manifest of {}", dir.shown(OsStr::new(".")).display());
        Ok(self
            .batch
            .put_reader(&mut bytes.as_slice(), Path::new(&what))?
            .0)
    }

    /// Forgets the folder `rel` and every folder below it (gone from the workspace).
    fn forget(&mut self, rel: &str) {
        let mut pending = vec![rel.to_owned()];
        while let Some(rel) = pending.pop() {
            if let Some(folder) = self.folders.remove(&rel) {
                for name in folder.tree.dirs.keys() {
                    pending.push(journal::join(&rel, OsStr::new(name)));
                }
            }
        }
    }
}

/// A regular file as listed: its name, stat and mode, its entry in the last snapshot and
/// whether that snapshot's stat vouches for it.
struct FileSeen<'a> {
    name: &'a OsStr,
    stat: Stat,
    mode: u32,
    old: Option<Entry>,
    vouches: bool,
}

/// Files and bytes of a tree's own files.
fn own_totals(tree: &Tree) -> (u64, u64) {
    tree.entries.values().fold((0, 0), |(n, b), e| match e {
        Entry::File { size, .. } => (n + 1, b + size),
        _ => (n, b),
    })
}
