//! Host file operations inside a tree that sandboxed code can write (a session workspace).
//!
//! The sandbox boundary includes mcpr's own file operations: the host often runs as root,
//! and a path under the workspace means whatever the sandboxed code made of it. So every
//! host read or write there resolves its path one component at a time from a directory
//! handle, with `O_NOFOLLOW` at every step and `..` refused before anything is opened: a
//! symlink planted at any component, or a folder swapped for one between two operations,
//! makes the operation fail instead of leaving the tree. New files are created under a
//! temporary name with `O_CREAT | O_EXCL | O_NOFOLLOW` and renamed within the same
//! directory handle, so a half-written file is never seen under its name and a planted
//! name is replaced, never written through. Modes and owners are changed without following
//! symlinks either.
//!
//! This module never follows a symlink below its root and never resolves `..`. The root
//! itself is chosen by the host and trusted (the project's workspace folder); everything
//! below it is not. Sandboxed code can still delete or rename what the host wrote (it owns
//! the tree), which only ever affects the tree itself.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag, fchmodat, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, symlinkat, unlinkat};

/// What a name in the tree is, never looking through a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Never opened by the host.
    Fifo,
    /// Sockets and devices: never opened by the host.
    Special,
}

/// The metadata of one name in the tree (`fstatat` with `AT_SYMLINK_NOFOLLOW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub len: u64,
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    /// Hard links to it: a file with more than one name changes under every name at once.
    pub nlink: u64,
}

impl Meta {
    fn of(st: &FileStat) -> Meta {
        let format = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let kind = match format {
            SFlag::S_IFREG => Kind::File,
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFLNK => Kind::Symlink,
            SFlag::S_IFIFO => Kind::Fifo,
            _ => Kind::Special,
        };
        let ns = |secs: i64, nsec: i64| secs.saturating_mul(1_000_000_000).saturating_add(nsec);
        Meta {
            kind,
            mode: st.st_mode & 0o7777,
            len: u64::try_from(st.st_size).unwrap_or(0),
            dev: st.st_dev,
            ino: st.st_ino,
            #[allow(clippy::unnecessary_cast)] // i64 on 64-bit targets, not on every one
            mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
            #[allow(clippy::unnecessary_cast)]
            ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
            #[allow(clippy::unnecessary_cast)] // u64 on x86_64, u32 on some targets
            nlink: st.st_nlink as u64,
        }
    }
}

/// A directory handle below which every operation stays.
#[derive(Debug)]
pub struct ConfinedDir {
    fd: OwnedFd,
    /// For messages only; never opened.
    path: PathBuf,
    /// Who gets what the host creates here: the root's owner when the host runs as root
    /// and the tree belongs to someone else (a kernel's own uid), so that the sandboxed
    /// code can tidy up after the host as it can after itself.
    owner: Option<(Uid, Gid)>,
}

impl ConfinedDir {
    /// Opens `root`, a folder the host chose (its own path is trusted).
    pub fn open(root: &Path) -> io::Result<ConfinedDir> {
        let fd = nix::fcntl::open(root, dir_flags(), Mode::empty())
            .map_err(|e| error(e, "cannot open the folder", root))?;
        let st = fstat(&fd).map_err(|e| error(e, "cannot read", root))?;
        let owner = (nix::unistd::geteuid().is_root() && st.st_uid != 0)
            .then(|| (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid)));
        Ok(ConfinedDir {
            fd,
            path: root.to_path_buf(),
            owner,
        })
    }

    /// Gives what the host just created (`fd`) to the tree's owner.
    fn adopt(&self, fd: BorrowedFd<'_>, shown: &Path) -> io::Result<()> {
        match self.owner {
            Some((uid, gid)) => fchown(fd, Some(uid), Some(gid))
                .map_err(|e| error(e, "cannot change the owner of", shown)),
            None => Ok(()),
        }
    }

    /// As [`adopt`](Self::adopt), for the name `name` of this folder (never following it).
    fn adopt_name(&self, name: &OsStr) -> io::Result<()> {
        match self.owner {
            Some((uid, gid)) => fchownat(
                self.fd.as_fd(),
                name,
                Some(uid),
                Some(gid),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| error(e, "cannot change the owner of", &self.path.join(name))),
            None => Ok(()),
        }
    }

    /// Creates `root` (and its parents) if needed, then opens it.
    pub fn create(root: &Path) -> io::Result<ConfinedDir> {
        std::fs::create_dir_all(root).map_err(|e| context(e, "cannot create", root))?;
        ConfinedDir::open(root)
    }

    /// The folder's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `rel` as a path to show a user.
    pub fn shown(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// The folder `rel` below this one; fails if any component is a symlink or not a folder.
    pub fn open_dir(&self, rel: impl AsRef<Path>) -> io::Result<ConfinedDir> {
        let rel = rel.as_ref();
        let mut dir = self.reopen()?;
        for part in components(&self.path, rel)? {
            dir = dir.child_dir(part)?;
        }
        Ok(dir)
    }

    /// Like [`open_dir`](Self::open_dir), creating missing folders with `mode` (less the
    /// umask) on the way. A symlink where a folder belongs is removed (the link itself,
    /// never its target) and a real folder made in its place, so a planted link cannot
    /// stop the host from writing its own files; anything else in the way is an error.
    pub fn create_dirs(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<ConfinedDir> {
        let rel = rel.as_ref();
        let mut dir = self.reopen()?;
        for part in components(&self.path, rel)? {
            dir.make_dir(part, mode)?;
            dir = match dir.child_dir(part) {
                Ok(child) => child,
                Err(e) if dir.stat(part)?.is_some_and(|m| m.kind == Kind::Symlink) => {
                    match unlinkat(dir.fd.as_fd(), part, UnlinkatFlags::NoRemoveDir) {
                        Ok(()) | Err(Errno::ENOENT) => {}
                        Err(_) => return Err(e),
                    }
                    dir.make_dir(part, mode)?;
                    // Planted again in between: give up rather than follow it.
                    dir.child_dir(part)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }

    /// Writes `bytes` to `rel` with `mode`, creating its folders (`0755`): written under a
    /// temporary name and renamed, so `rel` is replaced whole (a symlink there is replaced,
    /// not followed).
    pub fn write(&self, rel: impl AsRef<Path>, bytes: &[u8], mode: u32) -> io::Result<()> {
        self.write_with(rel, mode, |file| file.write_all(bytes))
    }

    /// As [`write`](Self::write), with the content written by `fill`.
    pub fn write_with(
        &self,
        rel: impl AsRef<Path>,
        mode: u32,
        fill: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<()> {
        let rel = rel.as_ref();
        let (parent, name) = split(&self.path, rel)?;
        let dir = self.create_dirs(parent, 0o755)?;
        let (temp_name, mut temp) = dir.create_temp(mode)?;
        let written = fill(&mut temp)
            .and_then(|()| temp.flush())
            .and_then(|()| set_file_mode(&temp, mode))
            .map_err(|e| context(e, "cannot write", &self.path.join(rel)));
        let moved = written.and_then(|()| {
            renameat(dir.fd.as_fd(), temp_name.as_os_str(), dir.fd.as_fd(), name)
                .map_err(|e| error(e, "cannot replace", &self.path.join(rel)))
        });
        if moved.is_err() {
            let _ = unlinkat(
                dir.fd.as_fd(),
                temp_name.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
        moved
    }

    /// A new, empty file at `rel` for writing as it streams: whatever held the name (a
    /// file or a symlink, never followed) is removed first, and the file is created with
    /// `O_EXCL`, so a name planted again in between makes this fail instead of writing
    /// through it.
    pub fn create_file(&self, rel: impl AsRef<Path>, mode: u32) -> io::Result<File> {
        let rel = rel.as_ref();
        let (parent, name) = split(&self.path, rel)?;
        let dir = self.create_dirs(parent, 0o755)?;
        match unlinkat(dir.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(error(e, "cannot replace", &self.path.join(rel))),
        }
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(dir.fd.as_fd(), name, flags, Mode::from_bits_truncate(mode))
            .map_err(|e| error(e, "cannot create", &self.path.join(rel)))?;
        dir.adopt(fd.as_fd(), &self.path.join(rel))?;
        Ok(File::from(fd))
    }

    /// Opens the regular file `rel` for reading; a symlink, a folder or a special file
    /// anywhere on the way is refused.
    pub fn open_file(&self, rel: impl AsRef<Path>) -> io::Result<File> {
        let rel = rel.as_ref();
        let (parent, name) = split(&self.path, rel)?;
        self.open_dir(parent)?.open_file_here(name)
    }

    /// Opens the regular file `name` of this folder for reading.
    pub fn open_file_here(&self, name: &OsStr) -> io::Result<File> {
        // O_NONBLOCK: a fifo swapped in for the file must not hang the host.
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let shown = self.path.join(name);
        let fd = openat(self.fd.as_fd(), name, flags, Mode::empty())
            .map_err(|e| error(e, "cannot read", &shown))?;
        let st = fstat(&fd).map_err(|e| error(e, "cannot read", &shown))?;
        if Meta::of(&st).kind != Kind::File {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot read {}: not a regular file", shown.display()),
            ));
        }
        Ok(File::from(fd))
    }

    /// Reads the regular file `rel` whole.
    pub fn read(&self, rel: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(rel.as_ref())?
            .read_to_end(&mut bytes)
            .map_err(|e| context(e, "cannot read", &self.path.join(rel)))?;
        Ok(bytes)
    }

    /// The metadata of `name` in this folder, `None` when it does not exist.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<Meta>> {
        match fstatat(self.fd.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::of(&st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(error(e, "cannot read", &self.path.join(name))),
        }
    }

    /// The metadata of `rel` (its folders must be real folders), `None` when absent.
    pub fn stat_path(&self, rel: impl AsRef<Path>) -> io::Result<Option<Meta>> {
        let rel = rel.as_ref();
        if components(&self.path, rel)?.is_empty() {
            let st = fstat(&self.fd).map_err(|e| error(e, "cannot read", &self.path))?;
            return Ok(Some(Meta::of(&st)));
        }
        let (parent, name) = split(&self.path, rel)?;
        match self.open_dir(parent) {
            Ok(dir) => dir.stat(name),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The metadata of this folder itself.
    pub fn meta(&self) -> io::Result<Meta> {
        let st = fstat(&self.fd).map_err(|e| error(e, "cannot read", &self.path))?;
        Ok(Meta::of(&st))
    }

    /// The names in this folder, sorted (`.` and `..` left out).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        use std::os::unix::ffi::OsStrExt;
        // A fresh open file description: listing never disturbs another listing's offset.
        let fd = openat(self.fd.as_fd(), ".", dir_flags(), Mode::empty())
            .map_err(|e| error(e, "cannot list", &self.path))?;
        let mut list =
            nix::dir::Dir::from_fd(fd).map_err(|e| error(e, "cannot list", &self.path))?;
        let mut names = Vec::new();
        for entry in list.iter() {
            let entry = entry.map_err(|e| error(e, "cannot list", &self.path))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The folder `name` of this folder.
    pub fn child_dir(&self, name: &OsStr) -> io::Result<ConfinedDir> {
        let shown = self.path.join(name);
        match openat(self.fd.as_fd(), name, dir_flags(), Mode::empty()) {
            Ok(fd) => Ok(ConfinedDir {
                fd,
                path: shown,
                owner: self.owner,
            }),
            Err(Errno::ELOOP | Errno::ENOTDIR) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symlink or not a folder; mcpr does not follow symlinks inside the \
                     workspace (remove it, or use a real folder)",
                    shown.display()
                ),
            )),
            Err(e) => Err(error(e, "cannot open", &shown)),
        }
    }

    /// The target of the symlink `name` of this folder.
    pub fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        nix::fcntl::readlinkat(self.fd.as_fd(), name)
            .map(PathBuf::from)
            .map_err(|e| error(e, "cannot read", &self.path.join(name)))
    }

    /// Makes `name` a symlink to `target` (made under a temporary name and renamed, so
    /// the name is never absent and whatever held it is replaced, not followed).
    pub fn symlink(&self, target: &Path, name: &OsStr) -> io::Result<()> {
        let temp = OsString::from(temp_name());
        symlinkat(target, self.fd.as_fd(), temp.as_os_str())
            .map_err(|e| error(e, "cannot create", &self.path.join(&temp)))?;
        if let Err(e) = self.adopt_name(&temp) {
            let _ = unlinkat(
                self.fd.as_fd(),
                temp.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
            return Err(e);
        }
        renameat(self.fd.as_fd(), temp.as_os_str(), self.fd.as_fd(), name).map_err(|e| {
            let _ = unlinkat(
                self.fd.as_fd(),
                temp.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
            error(e, "cannot create symlink", &self.path.join(name))
        })
    }

    /// Creates the folder `name` with `mode` (less the umask); an existing one is fine.
    pub fn make_dir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        match mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
            // Never follows: a symlink planted in between is given away itself, harmlessly.
            Ok(()) => self.adopt_name(name),
            Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(error(e, "cannot create", &self.path.join(name))),
        }
    }

    /// Makes `name` a fifo with `mode` (exactly); an existing name is an error.
    pub fn make_fifo(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        nix::unistd::mkfifoat(self.fd.as_fd(), name, Mode::from_bits_truncate(mode))
            .map_err(|e| error(e, "cannot create", &self.path.join(name)))?;
        self.adopt_name(name)?;
        self.set_mode(name, mode)
    }

    /// Sets the mode of `name` (a file or folder) without following a symlink there.
    pub fn set_mode(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        fchmodat(
            self.fd.as_fd(),
            name,
            Mode::from_bits_truncate(mode),
            FchmodatFlags::NoFollowSymlink,
        )
        .map_err(|e| {
            error(
                e,
                &format!("cannot set mode {mode:o} on"),
                &self.path.join(name),
            )
        })
    }

    /// Sets this folder's own mode.
    pub fn set_own_mode(&self, mode: u32) -> io::Result<()> {
        nix::sys::stat::fchmod(&self.fd, Mode::from_bits_truncate(mode))
            .map_err(|e| error(e, &format!("cannot set mode {mode:o} on"), &self.path))
    }

    /// Removes `name`: a file or symlink, or a whole folder tree (opening up folders the
    /// owner cannot change on the way). Returns how many names were removed; an absent
    /// name removes nothing.
    pub fn remove_tree(&self, name: &OsStr) -> io::Result<u64> {
        let Some(meta) = self.stat(name)? else {
            return Ok(0);
        };
        if meta.kind != Kind::Dir {
            return match unlinkat(self.fd.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
                Ok(()) => Ok(1),
                Err(Errno::ENOENT) => Ok(0),
                Err(e) => Err(error(e, "cannot remove", &self.path.join(name))),
            };
        }
        if meta.mode & 0o700 != 0o700 {
            self.set_mode(name, (meta.mode | 0o700) & 0o7777)?;
        }
        let child = self.child_dir(name)?;
        let mut removed = 0;
        for entry in child.names()? {
            removed += child.remove_tree(&entry)?;
        }
        unlinkat(self.fd.as_fd(), name, UnlinkatFlags::RemoveDir)
            .map_err(|e| error(e, "cannot remove", &self.path.join(name)))?;
        Ok(removed + 1)
    }

    /// Gives this folder and everything below it to `uid:gid`: symlinks themselves, never
    /// their targets; folders are entered only through handles that refuse symlinks.
    pub fn chown_tree(&self, uid: u32, gid: u32) -> io::Result<()> {
        let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        fchown(&self.fd, uid, gid)
            .map_err(|e| error(e, "cannot change the owner of", &self.path))?;
        self.chown_children(uid, gid)
    }

    fn chown_children(&self, uid: Option<Uid>, gid: Option<Gid>) -> io::Result<()> {
        for name in self.names()? {
            match fchownat(
                self.fd.as_fd(),
                name.as_os_str(),
                uid,
                gid,
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(()) => {}
                Err(Errno::ENOENT) => continue,
                Err(e) => {
                    return Err(error(
                        e,
                        "cannot change the owner of",
                        &self.path.join(&name),
                    ));
                }
            }
            if self.stat(&name)?.is_some_and(|m| m.kind == Kind::Dir) {
                match self.child_dir(&name) {
                    Ok(child) => child.chown_children(uid, gid)?,
                    // Swapped or removed since: nothing of the tree to give away there.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// A new file under a fresh temporary name in this folder.
    fn create_temp(&self, mode: u32) -> io::Result<(OsString, File)> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        loop {
            let name = OsString::from(temp_name());
            match openat(
                self.fd.as_fd(),
                name.as_os_str(),
                flags,
                Mode::from_bits_truncate(mode),
            ) {
                Ok(fd) => {
                    if let Err(e) = self.adopt(fd.as_fd(), &self.path.join(&name)) {
                        let _ = unlinkat(
                            self.fd.as_fd(),
                            name.as_os_str(),
                            UnlinkatFlags::NoRemoveDir,
                        );
                        return Err(e);
                    }
                    return Ok((name, File::from(fd)));
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(error(e, "cannot create a file in", &self.path)),
            }
        }
    }

    fn reopen(&self) -> io::Result<ConfinedDir> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| context(e, "cannot open", &self.path))?;
        Ok(ConfinedDir {
            fd,
            path: self.path.clone(),
            owner: self.owner,
        })
    }

    /// The raw handle, for operations this module does not offer.
    pub fn handle(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ConfinedDir {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// The components of `rel`, every one a plain name: absolute paths and `..` are refused.
fn components<'a>(root: &Path, rel: &'a Path) -> io::Result<Vec<&'a OsStr>> {
    let mut parts = Vec::new();
    for part in rel.components() {
        match part {
            Component::Normal(name) => parts.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "refusing the path {:?}: paths must stay inside {} (no '..', not absolute)",
                        rel,
                        root.display()
                    ),
                ));
            }
        }
    }
    Ok(parts)
}

/// `rel`'s folder and final name.
fn split<'a>(root: &Path, rel: &'a Path) -> io::Result<(&'a Path, &'a OsStr)> {
    components(root, rel)?;
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} names no file inside {}", rel, root.display()),
        )),
    }
}

/// The file's mode, exactly (the umask applied at creation is undone).
fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// A name no other writer in this or another process is using at the same time, for
/// files renamed into place once complete.
pub fn temp_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(".mcpr-tmp-{}-{n}", std::process::id())
}

fn error(e: Errno, what: &str, path: &Path) -> io::Error {
    if e == Errno::ELOOP {
        // What O_NOFOLLOW reports for a symlink; "too many levels" would mislead.
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what} {}: it is a symlink, and mcpr does not follow symlinks inside the workspace",
                path.display()
            ),
        );
    }
    context(io::Error::from(e), what, path)
}

/// Adds what was being done, and to which path, to an I/O error a user may see.
fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// A tree (the "workspace") and, beside it, a folder standing for the rest of the host.
    struct Fixture {
        _dir: tempfile::TempDir,
        tree: PathBuf,
        outside: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&tree).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("target"), "ORIGINAL").unwrap();
        Fixture {
            _dir: dir,
            tree,
            outside,
        }
    }

    impl Fixture {
        fn root(&self) -> ConfinedDir {
            ConfinedDir::open(&self.tree).unwrap()
        }

        /// The outside folder holds exactly what it started with.
        fn assert_outside_untouched(&self) {
            let names: Vec<_> = std::fs::read_dir(&self.outside)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![OsString::from("target")]);
            assert_eq!(
                std::fs::read_to_string(self.outside.join("target")).unwrap(),
                "ORIGINAL"
            );
        }
    }

    #[test]
    fn a_symlink_planted_at_the_file_is_replaced_not_written_through() {
        let f = fixture();
        symlink(f.outside.join("target"), f.tree.join("out.txt")).unwrap();
        f.root().write("out.txt", b"PWNED", 0o644).unwrap();
        f.assert_outside_untouched();
        assert!(!f.tree.join("out.txt").is_symlink());
        assert_eq!(std::fs::read(f.tree.join("out.txt")).unwrap(), b"PWNED");

        symlink(f.outside.join("target"), f.tree.join("stream.txt")).unwrap();
        let mut file = f.root().create_file("stream.txt", 0o644).unwrap();
        file.write_all(b"PWNED").unwrap();
        f.assert_outside_untouched();
        assert!(!f.tree.join("stream.txt").is_symlink());
    }

    #[test]
    fn a_symlink_planted_at_the_folder_or_a_parent_is_never_followed() {
        let f = fixture();
        // The file's own folder, then a parent two levels up.
        symlink(&f.outside, f.tree.join("folder")).unwrap();
        std::fs::create_dir(f.tree.join("a")).unwrap();
        symlink(&f.outside, f.tree.join("a/b")).unwrap();
        let root = f.root();
        for rel in ["folder/target", "a/b/c/target"] {
            assert!(
                root.open_file(rel).is_err(),
                "{rel} was read through a symlink"
            );
            assert!(root.read(rel).is_err());
            assert!(root.open_dir(Path::new(rel).parent().unwrap()).is_err());
            root.write(rel, b"PWNED", 0o644).unwrap();
            f.assert_outside_untouched();
            assert_eq!(root.read(rel).unwrap(), b"PWNED");
        }
        // The links were replaced by real folders of the tree.
        assert!(!f.tree.join("folder").is_symlink());
        assert!(!f.tree.join("a/b").is_symlink());
    }

    #[test]
    fn dot_dot_and_absolute_paths_are_refused_before_anything_is_opened() {
        let f = fixture();
        let root = f.root();
        for rel in [
            "../outside/target",
            "a/../../outside/target",
            "/etc/passwd",
            "..",
        ] {
            let err = root.write(rel, b"PWNED", 0o644).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{rel}: {err}");
            assert!(err.to_string().contains("must stay inside"), "{err}");
            assert!(root.open_file(rel).is_err());
            assert!(root.create_file(rel, 0o644).is_err());
        }
        f.assert_outside_untouched();
        assert!(!f.tree.join("a").exists(), "nothing was created on the way");
    }

    #[test]
    fn a_folder_swapped_for_a_symlink_while_the_host_writes_never_leaks_a_write() {
        let f = fixture();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (tree, outside, stop) = (f.tree.clone(), f.outside.clone(), stop.clone());
            std::thread::spawn(move || {
                let (real, link) = (tree.join("d"), tree.join("d-link"));
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::create_dir(&real);
                    let _ = std::fs::remove_dir_all(&real);
                    let _ = symlink(&outside, &link);
                    let _ = std::fs::rename(&link, &real);
                    let _ = std::fs::remove_file(&real);
                    swaps += 1;
                }
                swaps
            })
        };
        let root = f.root();
        let (mut ok, mut refused) = (0, 0);
        for i in 0..3000 {
            let written = if i % 2 == 0 {
                root.write("d/target", b"PWNED", 0o644)
            } else {
                root.create_file("d/target", 0o644)
                    .and_then(|mut file| file.write_all(b"PWNED"))
            };
            match written {
                Ok(()) => ok += 1,
                Err(_) => refused += 1,
            }
            let _ = root.read("d/target");
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(swaps > 100, "the race was not exercised ({swaps} swaps)");
        assert!(ok + refused == 3000);
        f.assert_outside_untouched();
    }

    #[test]
    fn removing_a_tree_removes_a_symlink_to_a_folder_not_the_folder() {
        let f = fixture();
        std::fs::create_dir_all(f.tree.join("x/y")).unwrap();
        symlink(&f.outside, f.tree.join("x/y/link")).unwrap();
        std::fs::write(f.tree.join("x/file"), "in tree").unwrap();
        assert_eq!(f.root().remove_tree(OsStr::new("x")).unwrap(), 4);
        assert!(!f.tree.join("x").exists());
        f.assert_outside_untouched();
    }

    #[test]
    fn a_fifo_where_a_file_was_expected_is_refused_without_blocking() {
        let f = fixture();
        nix::unistd::mkfifo(&f.tree.join("pipe"), Mode::from_bits_truncate(0o644)).unwrap();
        let err = f.root().open_file("pipe").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn chown_gives_away_links_themselves_never_their_targets() {
        if !nix::unistd::geteuid().is_root() {
            return; // changing owners needs root; CI runs as root
        }
        let f = fixture();
        std::fs::create_dir(f.tree.join("sub")).unwrap();
        std::fs::write(f.tree.join("sub/own.txt"), "x").unwrap();
        symlink(&f.outside, f.tree.join("dir-link")).unwrap();
        symlink(f.outside.join("target"), f.tree.join("sub/file-link")).unwrap();
        f.root().chown_tree(3_099_999, 3_099_999).unwrap();
        for inside in ["sub", "sub/own.txt", "dir-link", "sub/file-link"] {
            let meta = std::fs::symlink_metadata(f.tree.join(inside)).unwrap();
            assert_eq!(meta.uid(), 3_099_999, "{inside}");
        }
        for outside in [f.outside.clone(), f.outside.join("target")] {
            assert_eq!(std::fs::metadata(&outside).unwrap().uid(), 0, "{outside:?}");
        }
    }

    #[test]
    fn names_lists_a_folder_again_from_the_start() {
        let f = fixture();
        std::fs::write(f.tree.join("b"), "").unwrap();
        std::fs::write(f.tree.join("a"), "").unwrap();
        let root = f.root();
        assert_eq!(root.names().unwrap(), ["a", "b"]);
        assert_eq!(root.names().unwrap(), ["a", "b"]);
    }
}
