//! The change journal against the walk it replaces: every journalled snapshot must hash
//! as a snapshotter without a journal hashes the same tree, and the stats must show that
//! the journal was what skipped the folders.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::super::objects::ObjectStore;
use super::super::snapshot::{SnapshotStats, Snapshotter};

struct Fixture {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    store: ObjectStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("workspace");
    fs::create_dir(&ws).unwrap();
    let store = ObjectStore::open(&dir.path().join("objects")).unwrap();
    Fixture {
        _dir: dir,
        ws,
        store,
    }
}

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Snapshots with `journalled`, and checks the hash against a snapshotter that walks.
fn check(journalled: &mut Snapshotter, f: &Fixture) -> SnapshotStats {
    let (hash, stats) = journalled.snapshot(&f.ws, &f.store).unwrap();
    let (walked, _) = Snapshotter::without_journal()
        .snapshot(&f.ws, &f.store)
        .unwrap();
    assert_eq!(hash, walked, "the journalled snapshot differs from a walk");
    stats
}

/// 20 folders of 50 files, an hour old.
fn many(ws: &Path) {
    let past = SystemTime::now() - Duration::from_secs(3600);
    for d in 0..20 {
        for i in 0..50 {
            let path = ws.join(format!("d{d}/f{i}.txt"));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("{d} {i}")).unwrap();
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(past)
                .unwrap();
        }
    }
}

#[test]
fn a_step_that_changes_one_file_lists_only_its_folder() {
    let f = fixture();
    many(&f.ws);
    let mut snapshotter = Snapshotter::new();
    let stats = check(&mut snapshotter, &f);
    assert!(!stats.journalled, "the first snapshot walks");
    assert_eq!(stats.folders_listed, 21);

    write(&f.ws, "d3/f7.txt", "changed");
    let stats = check(&mut snapshotter, &f);
    assert!(stats.journalled);
    assert_eq!(
        (
            stats.folders_listed,
            stats.folders_on_path,
            stats.folders_reused
        ),
        (1, 1, 19),
        "d3 listed, the workspace on its path, the other folders reused"
    );
    assert_eq!(stats.files, 1000, "reused folders still count their files");

    // Nothing happened: nothing is listed.
    let stats = check(&mut snapshotter, &f);
    assert_eq!(
        (stats.folders_listed, stats.folders_reused),
        (0, 1),
        "the workspace reused whole"
    );

    // The same with the journal off lists everything: the counts above are the journal's.
    let mut walker = Snapshotter::without_journal();
    walker.snapshot(&f.ws, &f.store).unwrap();
    write(&f.ws, "d3/f7.txt", "changed again");
    let (_, stats) = walker.snapshot(&f.ws, &f.store).unwrap();
    assert_eq!((stats.folders_listed, stats.journalled), (21, false));
}

/// A tiny xorshift, so that a failing sequence can be run again from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const FOLDERS: [&str; 6] = ["a", "b", "a/x", "a/x/y", "c", "b/z"];
const NAMES: [&str; 4] = ["p", "q", "r.txt", "s"];

/// One random change of the workspace.
fn random_op(rng: &mut Rng, ws: &Path) {
    let folder = ws.join(FOLDERS[rng.next(FOLDERS.len())]);
    let path = folder.join(NAMES[rng.next(NAMES.len())]);
    let other = ws
        .join(FOLDERS[rng.next(FOLDERS.len())])
        .join(NAMES[rng.next(NAMES.len())]);
    let _ = fs::create_dir_all(&folder);
    let meta = fs::symlink_metadata(&path).ok();
    let is_file = meta.as_ref().is_some_and(|m| m.file_type().is_file());
    let is_dir = meta.as_ref().is_some_and(|m| m.file_type().is_dir());
    match rng.next(11) {
        0 => {
            let _ = fs::write(&path, format!("new {}", rng.next(1000)));
        }
        // In place, same size, mtime put back: only the event says it changed.
        1 if is_file => {
            let old = meta.unwrap();
            let len = old.len() as usize;
            let content: String = (0..len)
                .map(|_| (b'a' + rng.next(26) as u8) as char)
                .collect();
            let file = File::options().write(true).open(&path).unwrap();
            std::io::Write::write_all(&mut &file, content.as_bytes()).unwrap();
            file.set_modified(old.modified().unwrap()).unwrap();
        }
        2 if is_file => {
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(1)
                .unwrap();
        }
        3 => {
            let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
        }
        // Renames within and across folders, files and folders alike.
        4 => {
            if let Some(parent) = other.parent() {
                let _ = fs::create_dir_all(parent);
            }
            let _ = fs::rename(&path, &other);
        }
        // A new nested folder filled at once.
        5 => {
            let deep = folder.join(format!("n{}/m", rng.next(3)));
            let _ = fs::create_dir_all(&deep);
            for i in 0..3 {
                let _ = fs::write(deep.join(format!("{i}")), format!("deep {i}"));
            }
        }
        // A folder deleted and made again, with other content.
        6 => {
            let _ = fs::remove_dir_all(&folder);
            let _ = fs::create_dir_all(&folder);
            let _ = fs::write(folder.join("p"), "again");
        }
        // File <-> folder.
        7 if is_file => {
            let _ = fs::remove_file(&path);
            let _ = fs::create_dir(&path);
            let _ = fs::write(path.join("inner"), "was a file");
        }
        7 if is_dir => {
            let _ = fs::remove_dir_all(&path);
            let _ = fs::write(&path, "was a folder");
        }
        8 => {
            let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
            let _ = symlink(format!("../{}", rng.next(9)), &path);
        }
        9 if is_file || is_dir => {
            let mode = [0o600, 0o644, 0o755, 0o700][rng.next(4)];
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode));
        }
        _ => {
            let _ = fs::write(&path, "x");
        }
    }
}

#[test]
fn random_changes_snapshot_as_a_walk_does() {
    for seed in 1..=12u64 {
        let f = fixture();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut snapshotter = Snapshotter::new();
        let mut journalled = 0;
        for _step in 0..25 {
            for _ in 0..rng.next(4) + 1 {
                random_op(&mut rng, &f.ws);
            }
            let stats = check(&mut snapshotter, &f);
            journalled += u32::from(stats.journalled);
        }
        assert!(
            journalled >= 20,
            "seed {seed}: only {journalled} of 25 journalled"
        );
        // Folders left listable by the owner: the temporary folder can be removed.
        let _ = std::process::Command::new("chmod")
            .args(["-R", "u+rwx"])
            .arg(&f.ws)
            .status();
    }
}

#[test]
fn an_overflowing_queue_falls_back_to_a_walk() {
    let f = fixture();
    many(&f.ws);
    let mut snapshotter = Snapshotter::new();
    check(&mut snapshotter, &f);
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Each new file makes at least two distinct events (created, closed after writing).
    for i in 0..limit / 2 + 1 {
        File::create(f.ws.join(format!("d5/flood-{i}"))).unwrap();
    }
    let stats = check(&mut snapshotter, &f);
    assert!(!stats.journalled, "an overflow must walk");
    assert_eq!(stats.folders_listed, 21);
    // The walk starts a new journal.
    write(&f.ws, "d9/f1.txt", "after the flood");
    let stats = check(&mut snapshotter, &f);
    assert!(stats.journalled);
    assert_eq!(stats.folders_listed, 1);
}

#[test]
fn a_folder_swapped_for_a_symlink_is_recorded_as_one_and_never_watched_through() {
    let f = fixture();
    many(&f.ws);
    let outside = f._dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    write(&outside, "secret.txt", "host");
    let mut snapshotter = Snapshotter::new();
    check(&mut snapshotter, &f);
    fs::rename(f.ws.join("d4"), f._dir.path().join("d4-away")).unwrap();
    symlink(&outside, f.ws.join("d4")).unwrap();
    let (hash, stats) = snapshotter.snapshot(&f.ws, &f.store).unwrap();
    assert!(stats.journalled);
    let manifest = super::super::snapshot::load_manifest(&f.store, &hash).unwrap();
    assert!(matches!(
        manifest.entries.get("d4"),
        Some(super::super::snapshot::Entry::Symlink { .. })
    ));
    assert!(manifest.entries.keys().all(|k| !k.contains("secret")));
    // Changes behind the link, and in the folder moved away, are not the workspace's.
    write(&outside, "secret.txt", "changed on the host");
    write(&f._dir.path().join("d4-away"), "f1.txt", "changed away");
    let stats = check(&mut snapshotter, &f);
    assert!(stats.journalled);
    assert_eq!(stats.folders_listed, 0, "no event may come from outside");
}

#[test]
fn a_file_written_through_a_shared_map_is_seen_while_the_map_stays() {
    let f = fixture();
    many(&f.ws);
    let path = f.ws.join("d2/f3.txt");
    fs::write(&path, "0123456789").unwrap();
    let mut snapshotter = Snapshotter::new();
    check(&mut snapshotter, &f);
    let file = File::options().read(true).write(true).open(&path).unwrap();
    // SAFETY: a fresh shared mapping of a 10-byte file this test owns, unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            10,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    drop(file);
    check(&mut snapshotter, &f);
    for round in 0..3u8 {
        // SAFETY: within the 10 mapped bytes.
        unsafe { *(map as *mut u8) = b'a' + round };
        // No event: a map's writes make none (and need not move the mtime).
        let (hash, _) = snapshotter.snapshot(&f.ws, &f.store).unwrap();
        let manifest = super::super::snapshot::load_manifest(&f.store, &hash).unwrap();
        let Some(super::super::snapshot::Entry::File { hash: content, .. }) =
            manifest.entries.get("d2/f3.txt")
        else {
            panic!("d2/f3.txt is not in the snapshot");
        };
        assert_eq!(
            f.store.get(content).unwrap(),
            format!("{}123456789", (b'a' + round) as char).as_bytes(),
            "round {round}: the write through the map was missed"
        );
    }
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(map, 10) };
    // Closed by its last user: trusted again after one more look.
    check(&mut snapshotter, &f);
    let stats = check(&mut snapshotter, &f);
    assert_eq!(stats.folders_listed, 0);
}

#[test]
fn hard_links_and_a_moved_workspace_make_it_walk() {
    let f = fixture();
    many(&f.ws);
    let mut snapshotter = Snapshotter::new();
    check(&mut snapshotter, &f);
    fs::hard_link(f.ws.join("d1/f1.txt"), f.ws.join("d2/linked")).unwrap();
    let stats = check(&mut snapshotter, &f);
    assert_eq!(
        stats.folders_listed, 21,
        "a new link makes the snapshot walk"
    );
    // Written by the other name: no event in d2, but the walk sees it.
    fs::write(f.ws.join("d1/f1.txt"), "through the first name").unwrap();
    let stats = check(&mut snapshotter, &f);
    assert!(!stats.journalled);
    fs::remove_file(f.ws.join("d2/linked")).unwrap();
    check(&mut snapshotter, &f);
    let stats = check(&mut snapshotter, &f);
    assert!(stats.journalled, "without links the journal vouches again");

    // The workspace folder moved away and another put in its place.
    fs::rename(&f.ws, f._dir.path().join("moved")).unwrap();
    many(&f.ws);
    write(&f.ws, "d0/f0.txt", "another workspace");
    let stats = check(&mut snapshotter, &f);
    assert!(!stats.journalled);
}

#[test]
fn a_restore_is_seen_by_the_journal() {
    let f = fixture();
    many(&f.ws);
    let mut snapshotter = Snapshotter::new();
    let (first, _) = snapshotter.snapshot(&f.ws, &f.store).unwrap();
    write(&f.ws, "d7/f7.txt", "edited");
    fs::remove_dir_all(f.ws.join("d8")).unwrap();
    check(&mut snapshotter, &f);
    snapshotter.restore(&f.ws, &f.store, &first).unwrap();
    let (hash, stats) = snapshotter.snapshot(&f.ws, &f.store).unwrap();
    assert_eq!(hash, first);
    assert!(stats.journalled);
    // A restore by another snapshotter is seen the same.
    write(&f.ws, "d7/f7.txt", "edited");
    check(&mut snapshotter, &f);
    Snapshotter::new().restore(&f.ws, &f.store, &first).unwrap();
    let (hash, _) = snapshotter.snapshot(&f.ws, &f.store).unwrap();
    assert_eq!(hash, first);
}
