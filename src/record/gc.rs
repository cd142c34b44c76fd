//! `mcpr replay gc`: removes the objects no session refers to, so the store stays
//! bounded as sessions are deleted.
//!
//! What is kept is found from the logs themselves: every 64-hex-digit string in any line
//! of any log (a damaged line included: what it may name is kept), then what those
//! objects name in turn (a snapshot manifest's files, a chunked object's chunks). Loose
//! objects outside that set are removed; a pack whose objects are all unreferenced is
//! removed, and one with some is written again with only those. Temporary files and packs
//! without an index (left by a crash) go too.
//!
//! It runs only while no process has the record open for writing (an exclusive lock on
//! the store's lock file, which every writer holds shared): an object written for a step
//! that has not ended yet is referred to by no log, and must not be taken for garbage.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use super::objects::{LOCK_FILE, ObjectStore, is_hash};
use super::pack::{self, IdxEntry, Kind, PACK_DIR};
use super::recorder::{RecordError, ReplayDir};
use super::snapshot::{MANIFEST_START, manifest_refs};

/// What a collection found (and, unless a dry run, did).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub sessions: usize,
    /// Objects kept.
    pub live: usize,
    /// Unreferenced objects (removed, or to be removed).
    pub removed: usize,
    pub removed_bytes: u64,
    /// Packs removed whole, and packs written again with only what is referenced.
    pub packs_removed: usize,
    pub packs_rewritten: usize,
    /// Temporary files and packs without an index, left by interrupted writes.
    pub leftovers: usize,
}

fn io_err(what: String) -> impl Fn(io::Error) -> RecordError {
    move |e| RecordError::Io(format!("{what}: {e}"))
}

pub fn gc(root: &Path, dry_run: bool) -> Result<GcReport, RecordError> {
    let Some(dir) = ReplayDir::open_existing(root) else {
        return Ok(GcReport {
            dry_run,
            ..GcReport::default()
        });
    };
    let objects = root.join("objects");
    if !objects.is_dir() {
        return Ok(GcReport {
            dry_run,
            ..GcReport::default()
        });
    }
    let lock_path = objects.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(format!("cannot open {}", lock_path.display())))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(RecordError::Io(format!(
                "the record in {} is open in a running mcpr (a session, the console or \
                 `mcpr serve`): close it, then run `mcpr replay gc` again",
                root.display()
            )));
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(io_err(format!("cannot lock {}", lock_path.display()))(e));
        }
    }
    let store = dir.store();
    let sessions = dir.session_names()?;
    let live = live_objects(&dir, store, &sessions)?;

    let mut report = GcReport {
        dry_run,
        sessions: sessions.len(),
        live: live.len(),
        ..GcReport::default()
    };
    sweep_loose(store, &live, dry_run, &mut report)?;
    sweep_packs(store, &live, dry_run, &mut report)?;
    sweep_leftovers(&objects, dry_run, &mut report)?;
    drop(lock);
    Ok(report)
}

/// Every object some session can reach.
fn live_objects(
    dir: &ReplayDir,
    store: &ObjectStore,
    sessions: &[String],
) -> Result<HashSet<String>, RecordError> {
    let mut live = HashSet::new();
    for session in sessions {
        let path = dir.log_path(session);
        let text = fs::read(&path).map_err(io_err(format!("cannot read {}", path.display())))?;
        hashes_in(&text, &mut live);
    }
    // What the named objects name: manifests' files (JSON, so hashes appear as text) and
    // chunked objects' chunks.
    let mut queue: Vec<String> = live.iter().cloned().collect();
    while let Some(hash) = queue.pop() {
        let mut found = HashSet::new();
        let chunks = store
            .chunks_of(&hash)
            .map_err(io_err(format!("object {hash}")))?;
        // Whether the object may be a manifest, from its first bytes (a large one is
        // chunked like any large content): only those are read whole.
        let head = match &chunks {
            Some(chunks) => chunks.first().and_then(|c| store.get(c).ok()),
            None => store.get(&hash).ok(),
        };
        if head.as_ref().is_some_and(|h| h.starts_with(MANIFEST_START)) {
            let whole = match &chunks {
                Some(_) => store.get(&hash).ok(),
                None => head,
            };
            // A manifest's files, and its folders' own trees.
            found.extend(
                whole
                    .and_then(|bytes| manifest_refs(&bytes))
                    .unwrap_or_default(),
            );
        }
        found.extend(chunks.unwrap_or_default());
        for h in found {
            if live.insert(h.clone()) {
                queue.push(h);
            }
        }
    }
    Ok(live)
}

/// The 64-hex-digit words of `text`.
fn hashes_in(text: &[u8], out: &mut HashSet<String>) {
    let mut start = None;
    for (i, b) in text.iter().chain(std::iter::once(&b' ')).enumerate() {
        let hexdigit = matches!(b, b'0'..=b'9' | b'a'..=b'f');
        match (hexdigit, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s == 64 {
                    let word = String::from_utf8_lossy(&text[s..i]).into_owned();
                    if is_hash(&word) {
                        out.insert(word);
                    }
                }
                start = None;
            }
            _ => {}
        }
    }
}

fn sweep_loose(
    store: &ObjectStore,
    live: &HashSet<String>,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), RecordError> {
    for (hash, size) in store
        .loose()
        .map_err(io_err("cannot list objects".into()))?
    {
        if live.contains(&hash) {
            continue;
        }
        report.removed += 1;
        report.removed_bytes += size;
        if !dry_run {
            let path = store
                .path(&hash)
                .map_err(io_err(format!("object {hash}")))?;
            fs::remove_file(&path).map_err(io_err(format!("cannot remove {}", path.display())))?;
        }
    }
    Ok(())
}

fn sweep_packs(
    store: &ObjectStore,
    live: &HashSet<String>,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), RecordError> {
    let packs = pack::list_packs(store.root()).map_err(io_err("cannot read the packs".into()))?;
    // An object kept in one pack need not be kept in another too.
    let mut kept: HashSet<String> = HashSet::new();
    let mut rewrite: Vec<(String, Vec<IdxEntry>)> = Vec::new();
    for (name, entries) in packs {
        let mut keep = Vec::new();
        let mut dropped = false;
        for e in entries {
            if live.contains(&e.hash) && kept.insert(e.hash.clone()) {
                keep.push(e);
            } else {
                if !live.contains(&e.hash) {
                    report.removed += 1;
                }
                report.removed_bytes += e.len;
                dropped = true;
            }
        }
        if !dropped {
            continue;
        }
        if keep.is_empty() {
            report.packs_removed += 1;
        } else {
            report.packs_rewritten += 1;
        }
        rewrite.push((name, keep));
    }
    if dry_run || rewrite.is_empty() {
        return Ok(());
    }
    let mut batch = store.batch();
    let mut bytes_of: HashMap<String, (Kind, Vec<u8>)> = HashMap::new();
    for (name, keep) in &rewrite {
        let path = store.root().join(PACK_DIR).join(format!("{name}.pack"));
        for e in keep {
            let raw = pack::read_raw(&path, e).map_err(io_err(format!("object {}", e.hash)))?;
            bytes_of.insert(e.hash.clone(), (e.kind, raw));
        }
    }
    for (hash, (kind, raw)) in bytes_of {
        batch
            .append_raw(hash.clone(), kind, &raw)
            .map_err(io_err(format!("object {hash}")))?;
    }
    batch
        .finish()
        .map_err(io_err("cannot write the new pack".into()))?;
    for (name, _) in &rewrite {
        for ext in ["idx", "pack"] {
            let path = store.root().join(PACK_DIR).join(format!("{name}.{ext}"));
            fs::remove_file(&path).map_err(io_err(format!("cannot remove {}", path.display())))?;
        }
    }
    Ok(())
}

/// Temporary files (in the store and its pack folder) and packs without an index.
fn sweep_leftovers(
    objects: &Path,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), RecordError> {
    let mut doomed = Vec::new();
    for dir in [objects.to_path_buf(), objects.join(PACK_DIR)] {
        let Ok(listing) = fs::read_dir(&dir) else {
            continue;
        };
        let names: BTreeSet<String> = listing
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in &names {
            let orphan_pack = name
                .strip_suffix(".pack")
                .is_some_and(|stem| !names.contains(&format!("{stem}.idx")));
            if name.starts_with(".mcpr-tmp-") || orphan_pack {
                doomed.push(dir.join(name));
            }
        }
    }
    report.leftovers = doomed.len();
    if !dry_run {
        for path in doomed {
            fs::remove_file(&path).map_err(io_err(format!("cannot remove {}", path.display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_whole_64_digit_words() {
        let a = "a".repeat(64);
        let b = "0123456789abcdef".repeat(4);
        let text = format!(
            "{{\"snapshot\":\"{a}\",\"x\":\"{b}f\",\"$object\":\"{b}\"}} {}",
            "c".repeat(63)
        );
        let mut out = HashSet::new();
        hashes_in(text.as_bytes(), &mut out);
        assert_eq!(out, HashSet::from([a, b]));
    }
}
