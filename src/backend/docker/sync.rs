//! The workspace of a container that cannot bind this host's folder (a remote engine, or
//! `[docker] workspace = "sync"`): packed into a tarball for the engine's archive API at
//! start, and the engine's tarball of `/workspace` unpacked back at each step boundary.
//!
//! Both directions go through [`ConfinedDir`]: packing never follows a symlink out of the
//! workspace (a link is packed as a link), and unpacking — of a tarball made from what
//! untrusted code left in the container — writes only beneath the workspace: names with
//! `..` or a root are refused, a link in the tarball becomes a link on the host and is
//! never written through, and a folder where the host has a link (or the other way
//! round) replaces it. After unpacking, names the container no longer has are removed
//! from the host, so the host's copy is the container's. mcpr's own output overflow
//! folder, which only the host writes, goes in (cells read it back) but never comes
//! back. Hard links, fifos and devices are skipped.
//!
//! Between steps the host may change the workspace itself (a pooled kernel handed to a
//! session's folder, a rewind restoring files, hand-made changes): a [`Fingerprint`] of
//! the tree taken after each copy tells whether anything changed before the next cell,
//! and which names went.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::sandbox::confined::{ConfinedDir, Kind};

/// The folder of the workspace only the host writes (the output overflow).
const HOST_ONLY: &str = ".mcpr";

/// What an unpack did, for the step's diagnostics.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub written: usize,
    pub removed: u64,
    /// Entries not taken, with why.
    pub refused: Vec<String>,
}

/// Every name of a tree with what identifies its content: kind, length, mtime, mode,
/// inode.
pub type Fingerprint = BTreeMap<PathBuf, (u8, u64, i64, u32, u64)>;

/// The fingerprint of the tree under `root`.
pub fn fingerprint(root: &ConfinedDir) -> io::Result<Fingerprint> {
    let mut seen = Fingerprint::new();
    walk(root, Path::new(""), &mut seen)?;
    Ok(seen)
}

fn walk(dir: &ConfinedDir, rel: &Path, seen: &mut Fingerprint) -> io::Result<()> {
    for name in dir.names()? {
        let Some(meta) = dir.stat(&name)? else {
            continue;
        };
        let path = rel.join(&name);
        seen.insert(path.clone(), ident(&meta));
        if meta.kind == Kind::Dir {
            walk(&dir.child_dir(&name)?, &path, seen)?;
        }
    }
    Ok(())
}

fn ident(meta: &crate::sandbox::confined::Meta) -> (u8, u64, i64, u32, u64) {
    (
        meta.kind as u8,
        meta.len,
        meta.mtime_ns,
        meta.mode,
        meta.ino,
    )
}

/// What the container holds after an unpack that left the host with `host`: the host's
/// tree, except mcpr's own folder, which the container has as of the last copy in
/// (`before`), so output overflow written since then goes in before the next cell.
pub fn as_in_container(mut host: Fingerprint, before: Option<&Fingerprint>) -> Fingerprint {
    host.retain(|path, _| !path.starts_with(HOST_ONLY));
    if let Some(before) = before {
        host.extend(
            before
                .iter()
                .filter(|(path, _)| path.starts_with(HOST_ONLY))
                .map(|(path, id)| (path.clone(), *id)),
        );
    }
    host
}

/// The names of `before` that `now` lacks, parents before children.
pub fn gone(before: &Fingerprint, now: &Fingerprint) -> Vec<PathBuf> {
    let mut gone: Vec<PathBuf> = Vec::new();
    for path in before.keys() {
        if !now.contains_key(path) && !gone.last().is_some_and(|g| path.starts_with(g)) {
            gone.push(path.clone());
        }
    }
    gone
}

/// A tarball of the tree under `root`, its entries owned by `uid:gid` (the kernel's);
/// with `since`, only the names that are new or changed since that fingerprint (so a
/// copy in never overwrites what the kernel changed in the meantime and the host did not).
pub fn pack(
    root: &ConfinedDir,
    uid: u32,
    gid: u32,
    since: Option<&Fingerprint>,
) -> io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    pack_dir(&mut tar, root, Path::new(""), (uid, gid), since)?;
    tar.into_inner()
}

fn pack_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    dir: &ConfinedDir,
    rel: &Path,
    owner: (u32, u32),
    since: Option<&Fingerprint>,
) -> io::Result<()> {
    for name in dir.names()? {
        let Some(meta) = dir.stat(&name)? else {
            continue;
        };
        let path = rel.join(&name);
        if since.is_some_and(|s| s.get(&path) == Some(&ident(&meta))) {
            if meta.kind == Kind::Dir {
                pack_dir(tar, &dir.child_dir(&name)?, &path, owner, since)?;
            }
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_uid(owner.0.into());
        header.set_gid(owner.1.into());
        header.set_mode(meta.mode);
        header.set_mtime(u64::try_from(meta.mtime_ns / 1_000_000_000).unwrap_or(0));
        match meta.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, &path, io::empty())?;
                pack_dir(tar, &dir.child_dir(&name)?, &path, owner, since)?;
            }
            Kind::File => {
                let file = dir.open_file_here(&name)?;
                // The length read now, so a file that grows meanwhile cannot make the
                // entry's size wrong.
                let len = file.metadata()?.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(len);
                tar.append_data(&mut header, &path, file.take(len))?;
            }
            Kind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                let target = dir.read_link(&name)?;
                tar.append_link(&mut header, &path, &target)?;
            }
            Kind::Fifo | Kind::Special => {}
        }
    }
    Ok(())
}

/// Unpacks `tarball` (the engine's archive of the container's `/workspace`, whose
/// entries start with `workspace/`) into `root`, then removes what it did not hold.
pub fn unpack(root: &ConfinedDir, tarball: &[u8]) -> io::Result<Unpacked> {
    let mut done = Unpacked::default();
    let mut kept: HashSet<PathBuf> = HashSet::new();
    let mut archive = tar::Archive::new(tarball);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.into_owned();
        // Drop the archive's own top folder (`workspace/`).
        let rel: PathBuf = raw.components().skip(1).collect();
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel.starts_with(HOST_ONLY) {
            continue;
        }
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            done.refused.push(format!(
                "{}: not a plain path below the workspace",
                raw.display()
            ));
            continue;
        }
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Symlink => Kind::Symlink,
            other => {
                done.refused.push(format!(
                    "{}: a {other:?} entry is not copied",
                    rel.display()
                ));
                continue;
            }
        };
        let dir = root.create_dirs(parent, 0o755)?;
        // A name of another kind on the host (a link where a folder comes, …) goes first.
        if let Some(there) = dir.stat(name)?
            && (there.kind != kind || kind == Kind::Symlink)
        {
            dir.remove_tree(name)?;
        }
        match kind {
            Kind::Dir => {
                dir.make_dir(name, 0o700)?;
                dir.set_mode(name, mode & 0o777)?;
            }
            Kind::File => {
                let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
                entry.read_to_end(&mut bytes)?;
                if !same_content(&dir, name, &bytes, mode)? {
                    dir.write(name, &bytes, mode & 0o777)?;
                    done.written += 1;
                }
            }
            _ => {
                let Some(target) = entry.link_name()? else {
                    continue;
                };
                dir.symlink(&target, name)?;
                done.written += 1;
            }
        }
        kept.insert(rel);
    }
    done.removed = prune(root, Path::new(""), &kept)?;
    Ok(done)
}

/// Whether the regular file `name` of `dir` already holds `bytes` with `mode`.
fn same_content(dir: &ConfinedDir, name: &OsStr, bytes: &[u8], mode: u32) -> io::Result<bool> {
    let Some(meta) = dir.stat(name)? else {
        return Ok(false);
    };
    if meta.kind != Kind::File
        || meta.len != bytes.len() as u64
        || meta.mode & 0o777 != mode & 0o777
    {
        return Ok(false);
    }
    let mut there = Vec::with_capacity(bytes.len());
    dir.open_file_here(name)?.read_to_end(&mut there)?;
    Ok(there == bytes)
}

/// Removes every name under `dir` (at `rel`) that is not in `kept`; returns how many.
fn prune(dir: &ConfinedDir, rel: &Path, kept: &HashSet<PathBuf>) -> io::Result<u64> {
    let mut removed = 0;
    for name in dir.names()? {
        let path = rel.join(&name);
        if rel.as_os_str().is_empty() && name == HOST_ONLY {
            continue;
        }
        if !kept.contains(&path) {
            removed += dir.remove_tree(&name)?;
            continue;
        }
        if dir.stat(&name)?.is_some_and(|m| m.kind == Kind::Dir) {
            removed += prune(&dir.child_dir(&name)?, &path, kept)?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tarball as the engine sends it, with entries whose names are written raw (the
    /// tar crate refuses to build `..` names, untrusted tarballs are not so polite).
    fn tarball(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_old();
            let raw = &mut header.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            tar.append(&header, *data).unwrap();
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn unpacking_stays_in_the_workspace_and_mirrors_the_container() {
        let root = tempfile::tempdir().unwrap();
        let ws = root.path().join("ws");
        std::fs::create_dir_all(ws.join(".mcpr/output")).unwrap();
        std::fs::write(ws.join(".mcpr/output/cell-1.stdout.txt"), "host only").unwrap();
        std::fs::write(ws.join("stale.txt"), "gone in the container").unwrap();
        std::os::unix::fs::symlink(root.path(), ws.join("dir")).unwrap();
        let dir = ConfinedDir::open(&ws).unwrap();
        use tar::EntryType::{Directory, Regular, Symlink};
        let done = unpack(
            &dir,
            &tarball(&[
                ("workspace/", Directory, b"", None),
                ("workspace/../escape.txt", Regular, b"x", None),
                ("workspace/dir/", Directory, b"", None),
                ("workspace/dir/inside.txt", Regular, b"in", None),
                ("workspace/link", Symlink, b"", Some("/etc/passwd")),
                (
                    "workspace/.mcpr/output/cell-1.stdout.txt",
                    Regular,
                    b"kernel",
                    None,
                ),
            ]),
        )
        .unwrap();
        assert_eq!(done.refused.len(), 1, "{:?}", done.refused);
        assert!(done.refused[0].contains("escape.txt"));
        assert!(!root.path().join("escape.txt").exists());
        assert!(
            !root.path().join("inside.txt").exists(),
            "not through the link"
        );
        assert!(ws.join("dir").is_dir() && !ws.join("dir").is_symlink());
        assert_eq!(
            std::fs::read_to_string(ws.join("dir/inside.txt")).unwrap(),
            "in"
        );
        assert_eq!(
            std::fs::read_link(ws.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(
            !ws.join("stale.txt").exists(),
            "removed as in the container"
        );
        assert_eq!(
            std::fs::read_to_string(ws.join(".mcpr/output/cell-1.stdout.txt")).unwrap(),
            "host only",
            "mcpr's own folder never comes back"
        );
    }

    #[test]
    fn a_copy_in_since_a_fingerprint_holds_only_what_changed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/same.txt"), "same").unwrap();
        std::fs::write(root.path().join("old.txt"), "old").unwrap();
        let dir = ConfinedDir::open(root.path()).unwrap();
        let before = fingerprint(&dir).unwrap();
        std::fs::write(root.path().join("d/new.txt"), "new").unwrap();
        std::fs::remove_file(root.path().join("old.txt")).unwrap();
        let now = fingerprint(&dir).unwrap();
        let names = |bytes: Vec<u8>| -> Vec<String> {
            tar::Archive::new(bytes.as_slice())
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect()
        };
        // The folder changed (it has a new name), so it comes with its new file only.
        assert_eq!(
            names(pack(&dir, 1, 1, Some(&before)).unwrap()),
            ["d", "d/new.txt"]
        );
        assert_eq!(gone(&before, &now), [PathBuf::from("old.txt")]);
        assert_eq!(
            names(pack(&dir, 1, 1, None).unwrap()),
            ["d", "d/new.txt", "d/same.txt"]
        );
    }
}
