//! Packs: many objects in one file, made durable with one sync, and large contents split
//! into content-defined chunks so that a file that grows or changes in one place stores
//! only its new chunks.
//!
//! A step's snapshot writes its new objects through a [`Batch`]: small files whole,
//! files of [`CHUNKED_FROM`] bytes or more as chunks (FastCDC) plus a *recipe* (the
//! chunks' hashes and lengths, in order) stored under the whole content's hash. At the
//! end of the step the batch becomes `objects/pack/<name>.pack` (the bytes) and
//! `<name>.idx` (hash → kind, offset, length, then a SHA-256 of the index itself): the
//! pack is synced and renamed first, the index last, so an index never names bytes that
//! are not on disk and a crash leaves at worst a pack without an index, which readers
//! ignore and `mcpr replay gc` removes.
//!
//! Readers see packed and loose objects alike (`ObjectStore::get`, `copy_into`, …); every
//! read is checked against its hash, a recipe's chunks one by one and the whole content
//! at the end, so restoring stays hash-exact.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::objects::{context, hex, is_hash};
use crate::sandbox::confined::temp_name;

/// The folder of packs inside the object store.
pub const PACK_DIR: &str = "pack";

/// Contents of at least this many bytes are stored as chunks.
pub const CHUNKED_FROM: u64 = 1024 * 1024;
/// FastCDC's bounds: chunks of 16 to 256 KiB, 64 KiB on average.
const CHUNK_MIN: usize = 16 * 1024;
const CHUNK_AVG: usize = 64 * 1024;
const CHUNK_MAX: usize = 256 * 1024;

/// Packs and indexes never change once written (as loose objects).
const READ_ONLY: u32 = 0o444;

const IDX_MAGIC: &[u8; 8] = b"MCPRIDX1";
/// hash (32) + kind (1) + offset (8) + length (8).
const IDX_ENTRY: usize = 49;
/// A recipe line: chunk hash (32) + length (8).
const RECIPE_ENTRY: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The object's bytes.
    Blob,
    /// A recipe: the object is the concatenation of the chunks it names.
    Chunked,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Blob => 0,
            Kind::Chunked => 1,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Blob),
            1 => Some(Kind::Chunked),
            _ => None,
        }
    }
}

/// Where a packed object is.
#[derive(Debug, Clone)]
pub struct Location {
    pub pack: Arc<PackFile>,
    pub kind: Kind,
    pub offset: u64,
    pub len: u64,
}

/// One pack, opened once and read with `pread`.
#[derive(Debug)]
pub struct PackFile {
    pub name: String,
    pub path: PathBuf,
    file: File,
}

impl PackFile {
    fn read(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; usize::try_from(len).map_err(|_| too_big(&self.path))?];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| context(e, "cannot read", &self.path))?;
        Ok(buf)
    }
}

/// The packs of one store that this process has read, and what they hold.
#[derive(Debug, Default)]
pub struct PackIndex {
    entries: HashMap<String, Location>,
    loaded: HashSet<String>,
}

impl PackIndex {
    pub fn get(&self, hash: &str) -> Option<&Location> {
        self.entries.get(hash)
    }

    /// Reads the indexes of packs not read yet (packs written by other processes since).
    /// An index that is damaged is skipped with its pack (reported by `problems`); an
    /// object only it held is then reported as missing when asked for.
    pub fn refresh(&mut self, root: &Path) -> io::Result<Vec<String>> {
        let dir = root.join(PACK_DIR);
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(context(e, "cannot list", &dir)),
        };
        let mut problems = Vec::new();
        for item in listing {
            let item = item.map_err(|e| context(e, "cannot list", &dir))?;
            let file_name = item.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
                continue;
            };
            if self.loaded.contains(name) || !is_hash(name) {
                continue;
            }
            match load(&dir, name) {
                Ok(entries) => {
                    for (hash, location) in entries {
                        self.entries.entry(hash).or_insert(location);
                    }
                    self.loaded.insert(name.to_string());
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        Ok(problems)
    }

    fn add(&mut self, pack: &Arc<PackFile>, entries: &[Pending]) {
        for e in entries {
            self.entries.entry(e.hash.clone()).or_insert(Location {
                pack: Arc::clone(pack),
                kind: e.kind,
                offset: e.offset,
                len: e.len,
            });
        }
        self.loaded.insert(pack.name.clone());
    }

    /// Every packed object: hash and where.
    pub fn all(&self) -> impl Iterator<Item = (&String, &Location)> {
        self.entries.iter()
    }
}

/// One line of a pack's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxEntry {
    pub hash: String,
    pub kind: Kind,
    pub offset: u64,
    pub len: u64,
}

/// The packs in `root/pack` that have an index, by name, with what each holds.
pub fn list_packs(root: &Path) -> io::Result<Vec<(String, Vec<IdxEntry>)>> {
    let dir = root.join(PACK_DIR);
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(listing) => listing
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".idx"))
                    .filter(|n| is_hash(n))
                    .map(str::to_string)
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(context(e, "cannot list", &dir)),
    };
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = read_idx(&dir, &name)?;
            let entries = parse_idx(&bytes, &dir.join(format!("{name}.idx")))?;
            Ok((name, entries))
        })
        .collect()
}

fn read_idx(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    let path = dir.join(format!("{name}.idx"));
    fs::read(&path).map_err(|e| context(e, "cannot read", &path))
}

fn load(dir: &Path, name: &str) -> io::Result<Vec<(String, Location)>> {
    let idx_path = dir.join(format!("{name}.idx"));
    let entries = parse_idx(&read_idx(dir, name)?, &idx_path)?;
    let path = dir.join(format!("{name}.pack"));
    let file = File::open(&path).map_err(|e| context(e, "cannot open", &path))?;
    let size = file
        .metadata()
        .map_err(|e| context(e, "cannot read", &path))?
        .len();
    let pack = Arc::new(PackFile {
        name: name.to_string(),
        path: path.clone(),
        file,
    });
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        if e.offset.checked_add(e.len).is_none_or(|end| end > size) {
            return Err(damaged(&path, "an object lies past the end of the pack"));
        }
        out.push((
            e.hash,
            Location {
                pack: Arc::clone(&pack),
                kind: e.kind,
                offset: e.offset,
                len: e.len,
            },
        ));
    }
    Ok(out)
}

/// An entry's bytes as stored (a blob's content, a recipe's list), unchecked: for
/// copying them into another pack.
pub fn read_raw(pack: &Path, e: &IdxEntry) -> io::Result<Vec<u8>> {
    let file = File::open(pack).map_err(|err| context(err, "cannot open", pack))?;
    let mut buf = vec![0u8; usize::try_from(e.len).map_err(|_| too_big(pack))?];
    file.read_exact_at(&mut buf, e.offset)
        .map_err(|err| context(err, "cannot read", pack))?;
    Ok(buf)
}

fn parse_idx(bytes: &[u8], path: &Path) -> io::Result<Vec<IdxEntry>> {
    let body_len = bytes
        .len()
        .checked_sub(32)
        .filter(|n| *n >= IDX_MAGIC.len())
        .ok_or_else(|| damaged(path, "too short"))?;
    let (body, sum) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != sum {
        return Err(damaged(path, "its checksum does not match"));
    }
    let Some(rest) = body.strip_prefix(IDX_MAGIC) else {
        return Err(damaged(path, "not a pack index of this format"));
    };
    if !rest.len().is_multiple_of(IDX_ENTRY) {
        return Err(damaged(path, "its length is not a whole number of entries"));
    }
    rest.chunks_exact(IDX_ENTRY)
        .map(|e| {
            let kind = Kind::from_byte(e[32]).ok_or_else(|| damaged(path, "unknown kind"))?;
            Ok(IdxEntry {
                hash: hex(&e[..32]),
                kind,
                offset: le_u64(&e[33..41]),
                len: le_u64(&e[41..49]),
            })
        })
        .collect()
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

fn unhex(hash: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, pair) in hash.as_bytes().chunks_exact(2).take(32).enumerate() {
        let digit = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        };
        out[i] = digit(pair[0]) << 4 | digit(pair[1]);
    }
    out
}

/// A recipe's chunks: (hash, length) in order.
pub fn parse_recipe(bytes: &[u8], hash: &str) -> io::Result<Vec<(String, u64)>> {
    if !bytes.len().is_multiple_of(RECIPE_ENTRY) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the chunk list of object {hash} is damaged"),
        ));
    }
    Ok(bytes
        .chunks_exact(RECIPE_ENTRY)
        .map(|c| (hex(&c[..32]), le_u64(&c[32..40])))
        .collect())
}

/// An object appended to the batch's pack.
#[derive(Debug, Clone)]
struct Pending {
    hash: String,
    kind: Kind,
    offset: u64,
    len: u64,
}

/// Objects written together and made durable together (one pack, one index, one sync
/// each). Dropped without `finish`, it leaves nothing behind.
pub struct Batch<'a> {
    store: &'a super::objects::ObjectStore,
    pack: Option<(PathBuf, BufWriter<File>)>,
    written: u64,
    pending: Vec<Pending>,
    in_batch: HashSet<String>,
}

impl<'a> Batch<'a> {
    pub fn new(store: &'a super::objects::ObjectStore) -> Batch<'a> {
        Batch {
            store,
            pack: None,
            written: 0,
            pending: Vec::new(),
            in_batch: HashSet::new(),
        }
    }

    fn has(&self, hash: &str) -> bool {
        self.in_batch.contains(hash) || self.store.contains(hash)
    }

    fn append(&mut self, hash: String, kind: Kind, bytes: &[u8]) -> io::Result<()> {
        if self.pack.is_none() {
            let root = self.store.root();
            let path = root.join(temp_name());
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| context(e, "cannot create", &path))?;
            self.pack = Some((path, BufWriter::with_capacity(1 << 20, file)));
        }
        let Some((path, out)) = self.pack.as_mut() else {
            return Ok(());
        };
        out.write_all(bytes)
            .map_err(|e| context(e, "cannot write", path))?;
        self.pending.push(Pending {
            hash: hash.clone(),
            kind,
            offset: self.written,
            len: bytes.len() as u64,
        });
        self.written += bytes.len() as u64;
        self.in_batch.insert(hash);
        Ok(())
    }

    /// Copies an entry of another pack as it is (gc), unless this batch has it already.
    pub fn append_raw(&mut self, hash: String, kind: Kind, raw: &[u8]) -> io::Result<()> {
        if self.in_batch.contains(&hash) {
            return Ok(());
        }
        self.append(hash, kind, raw)
    }

    /// Stores bytes (whole); returns their hash.
    pub fn put(&mut self, bytes: &[u8]) -> io::Result<String> {
        let hash = hex(&Sha256::digest(bytes));
        if !self.has(&hash) {
            self.append(hash.clone(), Kind::Blob, bytes)?;
        }
        Ok(hash)
    }

    /// Stores what `source` holds: whole when small, as content-defined chunks and a
    /// recipe from [`CHUNKED_FROM`] bytes on. Returns the content's hash and size.
    /// `shown` names the source in errors.
    pub fn put_reader(
        &mut self,
        source: &mut impl Read,
        shown: &Path,
    ) -> io::Result<(String, u64)> {
        let mut head = Vec::new();
        source
            .take(CHUNKED_FROM)
            .read_to_end(&mut head)
            .map_err(|e| context(e, "cannot read", shown))?;
        if (head.len() as u64) < CHUNKED_FROM {
            let size = head.len() as u64;
            return Ok((self.put(&head)?, size));
        }
        let mut whole = Sha256::new();
        let mut recipe = Vec::new();
        let mut size = 0u64;
        let stream = io::Cursor::new(head).chain(source);
        for chunk in fastcdc::v2020::StreamCDC::new(stream, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX) {
            let chunk = chunk.map_err(|e| match e {
                fastcdc::v2020::Error::IoError(e) => context(e, "cannot read", shown),
                other => io::Error::other(format!("cannot read {}: {other}", shown.display())),
            })?;
            whole.update(&chunk.data);
            size += chunk.data.len() as u64;
            let hash = self.put(&chunk.data)?;
            recipe.extend_from_slice(&unhex(&hash));
            recipe.extend_from_slice(&(chunk.data.len() as u64).to_le_bytes());
        }
        let hash = hex(&whole.finalize());
        if !self.has(&hash) {
            self.append(hash.clone(), Kind::Chunked, &recipe)?;
        }
        Ok((hash, size))
    }

    /// Makes the batch durable: the pack synced and moved into place, then its index.
    /// Nothing to write, nothing written.
    pub fn finish(mut self) -> io::Result<()> {
        let Some((temp, out)) = self.pack.take() else {
            return Ok(());
        };
        let result = self.install(&temp, out);
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn install(&mut self, temp: &Path, out: BufWriter<File>) -> io::Result<()> {
        let file = out
            .into_inner()
            .map_err(|e| context(e.into_error(), "cannot write", temp))?;
        file.set_permissions(fs::Permissions::from_mode(READ_ONLY))
            .and_then(|()| file.sync_all())
            .map_err(|e| context(e, "cannot sync", temp))?;
        let mut body = Vec::with_capacity(IDX_MAGIC.len() + self.pending.len() * IDX_ENTRY);
        body.extend_from_slice(IDX_MAGIC);
        for p in &self.pending {
            body.extend_from_slice(&unhex(&p.hash));
            body.push(p.kind.byte());
            body.extend_from_slice(&p.offset.to_le_bytes());
            body.extend_from_slice(&p.len.to_le_bytes());
        }
        let sum = Sha256::digest(&body);
        let name = hex(&sum);
        body.extend_from_slice(&sum);

        let dir = self.store.root().join(PACK_DIR);
        fs::create_dir_all(&dir).map_err(|e| context(e, "cannot create", &dir))?;
        let pack_path = dir.join(format!("{name}.pack"));
        fs::rename(temp, &pack_path)
            .map_err(|e| context(e, "cannot move a file to", &pack_path))?;
        let idx_temp = dir.join(temp_name());
        let written = (|| {
            let mut idx = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&idx_temp)?;
            idx.write_all(&body)?;
            idx.set_permissions(fs::Permissions::from_mode(READ_ONLY))?;
            idx.sync_all()
        })();
        let idx_path = dir.join(format!("{name}.idx"));
        if let Err(e) = written.and_then(|()| fs::rename(&idx_temp, &idx_path)) {
            let _ = fs::remove_file(&idx_temp);
            return Err(context(e, "cannot write", &idx_path));
        }
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| context(e, "cannot sync", &dir))?;
        let mut pack_file =
            File::open(&pack_path).map_err(|e| context(e, "cannot open", &pack_path))?;
        pack_file
            .seek(SeekFrom::Start(0))
            .map_err(|e| context(e, "cannot read", &pack_path))?;
        let pack = Arc::new(PackFile {
            name,
            path: pack_path,
            file: pack_file,
        });
        self.store.register(|index| index.add(&pack, &self.pending));
        Ok(())
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if let Some((temp, _)) = self.pack.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

/// A recipe's bytes (`parse_recipe` reads them).
pub fn read_recipe(at: &Location) -> io::Result<Vec<u8>> {
    at.pack.read(at.offset, at.len)
}

/// Reads a packed object whole, checked against its hash.
pub fn read(store: &super::objects::ObjectStore, hash: &str, at: &Location) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_to(store, hash, at, &mut out)?;
    Ok(out)
}

/// Writes a packed object to `dest` as it is read, checking each chunk and the whole
/// content against their hashes.
pub fn write_to(
    store: &super::objects::ObjectStore,
    hash: &str,
    at: &Location,
    dest: &mut impl Write,
) -> io::Result<()> {
    match at.kind {
        Kind::Blob => {
            let bytes = at.pack.read(at.offset, at.len)?;
            check(&bytes, hash, &at.pack.path)?;
            dest.write_all(&bytes)
        }
        Kind::Chunked => {
            let recipe = at.pack.read(at.offset, at.len)?;
            let mut whole = Sha256::new();
            for (chunk, _) in parse_recipe(&recipe, hash)? {
                let bytes = store.get(&chunk)?;
                whole.update(&bytes);
                dest.write_all(&bytes)?;
            }
            if hex(&whole.finalize()) != hash {
                return Err(damaged(
                    &at.pack.path,
                    &format!("object {hash} does not match its hash"),
                ));
            }
            Ok(())
        }
    }
}

fn check(bytes: &[u8], hash: &str, pack: &Path) -> io::Result<()> {
    if hex(&Sha256::digest(bytes)) == hash {
        Ok(())
    } else {
        Err(damaged(
            pack,
            &format!("object {hash} does not match its hash"),
        ))
    }
}

fn damaged(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is damaged: {why}", path.display()),
    )
}

fn too_big(path: &Path) -> io::Error {
    damaged(path, "an object is too large for this machine")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::objects::ObjectStore;
    use crate::sandbox::confined::ConfinedDir;

    fn store() -> (tempfile::TempDir, ObjectStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(&dir.path().join("objects")).unwrap();
        (dir, store)
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|l| {
                l.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn pack_bytes(store: &ObjectStore) -> u64 {
        let dir = store.root().join(PACK_DIR);
        files_in(&dir)
            .iter()
            .map(|n| fs::metadata(dir.join(n)).unwrap().len())
            .sum()
    }

    /// Deterministic bytes that do not repeat (so chunk boundaries are content's own).
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn a_batch_is_one_pack_and_one_index_and_every_object_reads_back() {
        let (_dir, store) = store();
        let mut batch = store.batch();
        let mut hashes = Vec::new();
        for i in 0..500 {
            let (hash, size) = batch
                .put_reader(&mut format!("file {i}\n").as_bytes(), Path::new("f"))
                .unwrap();
            assert_eq!(size, format!("file {i}\n").len() as u64);
            hashes.push(hash);
        }
        // The same content twice is stored once.
        batch.put(b"file 7\n").unwrap();
        batch.finish().unwrap();
        let packs = files_in(&store.root().join(PACK_DIR));
        assert_eq!(packs.len(), 2, "{packs:?}");
        assert!(packs[0].ends_with(".idx") && packs[1].ends_with(".pack"));
        // No loose objects, no temporary files.
        assert_eq!(
            files_in(store.root()),
            vec![".lock".to_string(), PACK_DIR.to_string()]
        );
        for (i, hash) in hashes.iter().enumerate() {
            assert_eq!(store.get(hash).unwrap(), format!("file {i}\n").as_bytes());
        }
        // Another process (a fresh handle) reads the pack from disk.
        let other = ObjectStore::existing(store.root());
        assert_eq!(other.get(&hashes[42]).unwrap(), b"file 42\n");
        other.require(&hashes[43]).unwrap();
        assert_eq!(other.list().unwrap().len(), 500);
    }

    #[test]
    fn a_large_file_is_chunked_and_a_grown_copy_stores_only_its_new_chunks() {
        let (dir, store) = store();
        let mut content = noise(16 * 1024 * 1024, 1);
        let mut batch = store.batch();
        let (first, size) = batch
            .put_reader(&mut content.as_slice(), Path::new("big"))
            .unwrap();
        batch.finish().unwrap();
        assert_eq!(size, content.len() as u64);
        assert_eq!(first, crate::record::objects::sha256_hex(&content));
        let before = pack_bytes(&store);

        content.extend(noise(1024 * 1024, 2));
        let mut batch = store.batch();
        let (second, _) = batch
            .put_reader(&mut content.as_slice(), Path::new("big"))
            .unwrap();
        batch.finish().unwrap();
        let grown = pack_bytes(&store) - before;
        assert!(
            grown < 2 * 1024 * 1024,
            "appending 1 MiB stored {grown} bytes"
        );
        assert_eq!(store.get(&second).unwrap(), content);

        // Restored through a confined handle, hash-exact.
        let ws = dir.path().join("ws");
        fs::create_dir(&ws).unwrap();
        let handle = ConfinedDir::open(&ws).unwrap();
        store.copy_into(&second, &handle, "out.bin", 0o644).unwrap();
        assert_eq!(fs::read(ws.join("out.bin")).unwrap(), content);
        store.require(&first).unwrap();
    }

    #[test]
    fn a_damaged_pack_is_an_error_that_names_it_never_wrong_bytes() {
        let (_dir, store) = store();
        let mut batch = store.batch();
        let hash = batch.put(b"precious bytes").unwrap();
        batch.finish().unwrap();
        let dir = store.root().join(PACK_DIR);
        let pack = files_in(&dir)
            .into_iter()
            .find(|n| n.ends_with(".pack"))
            .unwrap();
        let path = dir.join(&pack);
        let mut perms = fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, b"precious bytez").unwrap();
        let e = ObjectStore::existing(store.root()).get(&hash).unwrap_err();
        assert!(e.to_string().contains("does not match its hash"), "{e}");
        assert!(e.to_string().contains(&pack), "{e}");

        // A damaged index: its objects read as missing, with the usual message.
        let idx = dir.join(pack.replace(".pack", ".idx"));
        let mut bytes = fs::read(&idx).unwrap();
        bytes[10] ^= 1;
        fs::write(&idx, bytes).unwrap();
        let e = ObjectStore::existing(store.root()).get(&hash).unwrap_err();
        assert!(e.to_string().contains("is missing"), "{e}");
    }

    #[test]
    fn a_batch_dropped_unfinished_leaves_nothing() {
        let (_dir, store) = store();
        let mut batch = store.batch();
        let hash = batch.put(b"never finished").unwrap();
        drop(batch);
        assert_eq!(files_in(store.root()), vec![".lock".to_string()]);
        assert!(!store.contains(&hash));
    }
}
