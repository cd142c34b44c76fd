//! Content-addressed object store: the bytes a record refers to by SHA-256 (large payloads,
//! workspace file contents, snapshot manifests), kept under `.replay/objects/`.
//!
//! An object is either *loose* (a file of its own) or *packed* (in a pack written by a
//! [`Batch`], see [`super::pack`]); readers see no difference. An object appears under
//! its hash only once it is complete and synced to disk, and is read-only from then on,
//! so no reader ever sees half an object. Only `mcpr replay gc` deletes objects, those no
//! session refers to, and only while no session is open ([`ObjectStore::open`] holds a
//! shared lock on the store, gc an exclusive one).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::pack::{self, Batch, Kind, Location, PackIndex};

use crate::sandbox::confined::{ConfinedDir, temp_name};

/// Objects never change once written; making them read-only guards against tools (or
/// users) editing a file in place and silently breaking its hash.
const OBJECT_MODE: u32 = 0o444;

/// Read size for streaming files through the hasher.
const CHUNK: usize = 64 * 1024;

/// A folder of immutable objects, each stored at `<root>/<2 hex>/<62 hex>` of its SHA-256.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    root: PathBuf,
    /// The packs read so far (shared by clones).
    packs: Arc<Mutex<Packs>>,
    /// A shared lock on the store while it may be written: gc waits for none.
    _writing: Option<Arc<File>>,
}

#[derive(Debug, Default)]
struct Packs {
    index: PackIndex,
    /// Whether the pack folder was read at least once.
    read: bool,
}

/// The file whose lock says the store is in use (shared) or being collected (exclusive).
pub const LOCK_FILE: &str = ".lock";

impl ObjectStore {
    /// Opens (creating) the store rooted at `root` for writing: holds a shared lock on it
    /// until the last clone is dropped, so that `mcpr replay gc` never runs under a
    /// session that is writing objects it has not referred to yet.
    pub fn open(root: &Path) -> io::Result<ObjectStore> {
        fs::create_dir_all(root).map_err(|e| context(e, "cannot create the object store", root))?;
        let lock_path = root.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| context(e, "cannot open", &lock_path))?;
        lock.lock_shared()
            .map_err(|e| context(e, "cannot lock", &lock_path))?;
        Ok(ObjectStore {
            root: root.to_path_buf(),
            packs: Arc::default(),
            _writing: Some(Arc::new(lock)),
        })
    }

    /// The store at `root`, for reading, creating nothing: objects missing there are
    /// reported as missing when asked for.
    pub fn existing(root: &Path) -> ObjectStore {
        ObjectStore {
            root: root.to_path_buf(),
            packs: Arc::default(),
            _writing: None,
        }
    }

    /// Objects written together and made durable together, at the end (a step's snapshot).
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(self)
    }

    fn packs(&self) -> MutexGuard<'_, Packs> {
        self.packs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where a packed object is. The pack folder is read once, and again on a miss when
    /// `refresh` (another process may have written packs since).
    fn packed(&self, hash: &str, refresh: bool) -> Option<Location> {
        let mut packs = self.packs();
        if !packs.read || (refresh && packs.index.get(hash).is_none()) {
            packs.read = true;
            // A damaged index is skipped: the objects only it held read as missing.
            let _ = packs.index.refresh(&self.root);
        }
        packs.index.get(hash).cloned()
    }

    /// Adds a pack this process wrote.
    pub(crate) fn register(&self, add: impl FnOnce(&mut PackIndex)) {
        add(&mut self.packs().index);
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores bytes; returns the lowercase hex SHA-256. Storing existing content is a no-op.
    pub fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let hash = sha256_hex(bytes);
        let dest = self.path(&hash)?;
        if dest.is_file() {
            return Ok(hash);
        }
        let mut temp = TempFile::create_in(&self.root)?;
        temp.file
            .write_all(bytes)
            .map_err(|e| context(e, "cannot write", &temp.path))?;
        temp.install(&dest)?;
        Ok(hash)
    }

    /// Stores a file's content without holding it in memory: the file is hashed while it is
    /// copied to a temporary file in the store, which then moves into place. Returns the
    /// hash and the number of bytes stored.
    /// `shown` names the source in errors.
    pub fn put_reader(&self, source: &mut impl Read, shown: &Path) -> io::Result<(String, u64)> {
        let path = shown;
        let mut temp = TempFile::create_in(&self.root)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(context(e, "cannot read", path)),
            };
            hasher.update(&buf[..n]);
            temp.file
                .write_all(&buf[..n])
                .map_err(|e| context(e, "cannot write", &temp.path))?;
            size += n as u64;
        }
        let hash = hex(&hasher.finalize());
        let dest = self.path(&hash)?;
        if !dest.is_file() {
            temp.install(&dest)?;
        }
        Ok((hash, size))
    }

    pub fn get(&self, hash: &str) -> io::Result<Vec<u8>> {
        let path = self.path(hash)?;
        match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.packed(hash, true) {
                Some(at) => pack::read(self, hash, &at),
                None => Err(self.missing(hash)),
            },
            read => read.map_err(|e| self.read_error(hash, &path, e)),
        }
    }

    /// Whether the store has the object (for deciding whether to write it: packs written
    /// by other processes since this one looked may be missed, costing a duplicate).
    pub fn contains(&self, hash: &str) -> bool {
        self.path(hash).is_ok_and(|path| path.is_file()) || self.packed(hash, false).is_some()
    }

    /// Fails as `get` would if the object is absent, without reading it: lets a caller
    /// check a whole set of objects before it starts changing anything.
    pub(crate) fn require(&self, hash: &str) -> io::Result<()> {
        let path = self.path(hash)?;
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(()),
            Ok(_) => Err(self.missing(hash)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.packed(hash, true) {
                Some(at) if at.kind == Kind::Chunked => {
                    let recipe = pack::read_recipe(&at)?;
                    pack::parse_recipe(&recipe, hash)?
                        .iter()
                        .try_for_each(|(chunk, _)| self.require(chunk))
                }
                Some(_) => Ok(()),
                None => Err(self.missing(hash)),
            },
            Err(e) => Err(self.read_error(hash, &path, e)),
        }
    }

    /// Path of an object: root/<first 2 hex>/<remaining 62 hex>. Anything but 64 lowercase
    /// hex digits is refused, so a hash read from a record can never name a path elsewhere.
    pub fn path(&self, hash: &str) -> io::Result<PathBuf> {
        if !is_hash(hash) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{hash:?} is not an object hash (64 lowercase hex digits)"),
            ));
        }
        Ok(self.root.join(&hash[..2]).join(&hash[2..]))
    }

    /// Writes an object's content to `rel` below `dir` with `mode` (temp file beside it +
    /// rename, folders created), so it never holds a partial copy. `dir` is usually a
    /// workspace: nothing planted there is followed (see `sandbox::confined`).
    pub fn copy_into(
        &self,
        hash: &str,
        dir: &ConfinedDir,
        rel: impl AsRef<Path>,
        mode: u32,
    ) -> io::Result<()> {
        let path = self.path(hash)?;
        match File::open(&path) {
            Ok(mut source) => {
                dir.write_with(rel, mode, |dest| io::copy(&mut source, dest).map(drop))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.packed(hash, true) {
                Some(at) => dir.write_with(rel, mode, |dest| pack::write_to(self, hash, &at, dest)),
                None => Err(self.missing(hash)),
            },
            Err(e) => Err(self.read_error(hash, &path, e)),
        }
    }

    /// The chunks a chunked object is made of, or None for any other object (gc).
    pub(crate) fn chunks_of(&self, hash: &str) -> io::Result<Option<Vec<String>>> {
        match self.packed(hash, false) {
            Some(at) if at.kind == Kind::Chunked => {
                let recipe = pack::read_recipe(&at)?;
                Ok(Some(
                    pack::parse_recipe(&recipe, hash)?
                        .into_iter()
                        .map(|(chunk, _)| chunk)
                        .collect(),
                ))
            }
            _ => Ok(None),
        }
    }

    /// The loose objects' hashes and sizes (gc).
    pub(crate) fn loose(&self) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for hash in self.list_loose()? {
            let size = self
                .path(&hash)
                .and_then(fs::metadata)
                .map_or(0, |m| m.len());
            out.push((hash, size));
        }
        Ok(out)
    }

    /// All object hashes present, loose and packed, sorted. Temporary files are not
    /// objects.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut hashes = self.list_loose()?;
        {
            let mut packs = self.packs();
            packs.read = true;
            let _ = packs.index.refresh(&self.root);
            hashes.extend(packs.index.all().map(|(h, _)| h.clone()));
        }
        hashes.sort();
        hashes.dedup();
        Ok(hashes)
    }

    fn list_loose(&self) -> io::Result<Vec<String>> {
        let mut hashes = Vec::new();
        for shard in read_dir(&self.root)? {
            let shard = shard.map_err(|e| context(e, "cannot list", &self.root))?;
            let Some(prefix) = shard.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if prefix.len() != 2 || !shard.path().is_dir() {
                continue;
            }
            for object in read_dir(&shard.path())? {
                let object = object.map_err(|e| context(e, "cannot list", &shard.path()))?;
                if let Some(rest) = object.file_name().to_str() {
                    let hash = format!("{prefix}{rest}");
                    if is_hash(&hash) {
                        hashes.push(hash);
                    }
                }
            }
        }
        hashes.sort();
        Ok(hashes)
    }

    fn missing(&self, hash: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "object {hash} is missing: the record's object store at {} is incomplete \
                 (copy the whole .replay folder, objects included)",
                self.root.display()
            ),
        )
    }

    fn read_error(&self, hash: &str, path: &Path, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::NotFound {
            self.missing(hash)
        } else {
            context(e, &format!("cannot read object {hash} at"), path)
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hashes what `file` holds by streaming it; returns (hash, bytes read). `path` names it
/// in errors.
pub fn sha256_reader(file: &mut impl Read, path: &Path) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(context(e, "cannot read", path)),
        }
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Adds what was being done, and to which path, to an I/O error a user may see.
pub(crate) fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// A file written under a temporary name, removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl TempFile {
    fn create_in(dir: &Path) -> io::Result<TempFile> {
        loop {
            let path = dir.join(temp_name());
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        kept: false,
                    });
                }
                // Left behind by an earlier process that had the same pid.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(context(e, "cannot create", &path)),
            }
        }
    }

    /// Makes the file an object: synced before the rename so that a crash can leave at
    /// worst a stray temporary file, never a truncated object under its hash.
    fn install(self, dest: &Path) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| context(e, "cannot sync", &self.path))?;
        self.file
            .set_permissions(fs::Permissions::from_mode(OBJECT_MODE))
            .map_err(|e| context(e, "cannot make read-only", &self.path))?;
        let shard = dest.parent().map(Path::to_path_buf);
        if let Some(shard) = &shard {
            fs::create_dir_all(shard).map_err(|e| context(e, "cannot create", shard))?;
        }
        self.rename_to(dest)?;
        // The log refers to objects by hash once a step ends: the name must be durable
        // too, not only the content.
        if let Some(shard) = &shard {
            fs::File::open(shard)
                .and_then(|d| d.sync_all())
                .map_err(|e| context(e, "cannot sync", shard))?;
        }
        Ok(())
    }

    fn rename_to(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.path, dest).map_err(|e| context(e, "cannot move a file to", dest))?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: a leftover temporary file is never mistaken for an object.
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn read_dir(dir: &Path) -> io::Result<fs::ReadDir> {
    fs::read_dir(dir).map_err(|e| context(e, "cannot list", dir))
}

pub(crate) fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn store() -> (tempfile::TempDir, ObjectStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(&dir.path().join("objects")).unwrap();
        (dir, store)
    }

    #[test]
    fn put_then_get_round_trips_and_names_the_object_by_its_sha256() {
        let (_dir, store) = store();
        let hash = store.put(b"hello").unwrap();
        assert_eq!(
            hash,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.get(&hash).unwrap(), b"hello");
        assert!(store.contains(&hash));
        let path = store.path(&hash).unwrap();
        assert_eq!(path, store.root().join("2c").join(&hash[2..]));
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o444);
    }

    #[test]
    fn putting_the_same_content_twice_keeps_one_object_and_no_temporary_files() {
        let (_dir, store) = store();
        let first = store.put(b"same").unwrap();
        let second = store.put(b"same").unwrap();
        assert_eq!(first, second);
        assert_eq!(store.list().unwrap(), vec![first]);
        let stray: Vec<_> = fs::read_dir(store.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| name.to_string_lossy().starts_with(".mcpr-tmp"))
            .collect();
        assert!(stray.is_empty(), "temporary files left: {stray:?}");
    }

    #[test]
    fn put_reader_of_a_large_file_matches_put_of_its_bytes() {
        let (dir, store) = store();
        let bytes: Vec<u8> = (0..5 * 1024 * 1024 + 17)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let path = dir.path().join("big.bin");
        fs::write(&path, &bytes).unwrap();
        let (hash, size) = store
            .put_reader(&mut File::open(&path).unwrap(), &path)
            .unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(hash, sha256_hex(&bytes));
        assert_eq!(
            sha256_reader(&mut File::open(&path).unwrap(), &path).unwrap(),
            (hash.clone(), size)
        );
        assert_eq!(store.put(&bytes).unwrap(), hash);
        assert_eq!(store.get(&hash).unwrap(), bytes);
        assert_eq!(store.list().unwrap(), vec![hash]);
    }

    #[test]
    fn hashes_that_are_not_64_lowercase_hex_digits_are_refused() {
        let (_dir, store) = store();
        let upper = "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824";
        for bad in ["", "abc", "../../etc/passwd", upper, &"g".repeat(64)] {
            let err = store.path(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(!store.contains(bad));
            assert_eq!(
                store.get(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
    }

    #[test]
    fn a_missing_object_says_which_and_that_the_store_is_incomplete() {
        let (dir, store) = store();
        let hash = sha256_hex(b"never stored");
        let err = store.get(&hash).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let message = err.to_string();
        assert!(message.contains(&hash), "{message}");
        assert!(message.contains("object store"), "{message}");
        assert!(message.contains("incomplete"), "{message}");
        let root = ConfinedDir::open(dir.path()).unwrap();
        let err = store.copy_into(&hash, &root, "out", 0o644).unwrap_err();
        assert!(err.to_string().contains(&hash));
        assert_eq!(
            store.require(&hash).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn copy_into_creates_parents_and_replaces_an_existing_file() {
        let (dir, store) = store();
        let hash = store.put(b"content").unwrap();
        let root = ConfinedDir::open(dir.path()).unwrap();
        let dest = dir.path().join("a/b/c.txt");
        store.copy_into(&hash, &root, "a/b/c.txt", 0o644).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"content");
        let other = store.put(b"other").unwrap();
        store.copy_into(&other, &root, "a/b/c.txt", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&dest).unwrap(), b"other");
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
    }
}
