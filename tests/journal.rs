//! The snapshots' change journal with a real sandboxed kernel: writes made inside the
//! sandbox (through its bind mount of the workspace) reach the journal's watches, and a
//! file the kernel keeps mapped and writes through the map, which makes no event, is
//! still seen at every step. Once per backend: a bubblewrap sandbox, and a container
//! (bind-mounted workspace, or with `MCPR_TEST_DOCKER_WORKSPACE=sync` one copied back by
//! the host after each cell).

mod common;

use common::TestSession;
use mcpr::record::objects::ObjectStore;
use mcpr::record::snapshot::{Entry, Snapshotter, load_manifest};
use mcpr::sandbox::IsolationRequest;

on_each_backend! {
    sandboxed_writes_reach_the_journal_and_a_mapped_file_is_seen_at_every_step(Namespaces),
}

/// The content the snapshot `hash` holds for `path`.
fn content(store: &ObjectStore, hash: &str, path: &str) -> Vec<u8> {
    let manifest = load_manifest(store, hash).unwrap();
    match manifest.entries.get(path) {
        Some(Entry::File { hash, .. }) => store.get(hash).unwrap(),
        other => panic!("{path} is {other:?} in the snapshot"),
    }
}

async fn sandboxed_writes_reach_the_journal_and_a_mapped_file_is_seen_at_every_step(
    level: IsolationRequest,
) {
    let mut s = TestSession::new(level).await;
    let store = ObjectStore::open(&s.dir.path().join("objects")).unwrap();
    let ws = s.workspace().to_path_buf();
    s.run(
        "import os\nfor d in range(10):\n    os.makedirs(f'd{d}', exist_ok=True)\n    \
         for i in range(20):\n        open(f'd{d}/f{i}.txt', 'w').write(f'{d} {i}')\n\
         open('d0/map.bin', 'wb').write(b'0123456789')",
    )
    .await
    .assert_ok();
    let mut snapshotter = Snapshotter::new();
    let (_, stats) = snapshotter.snapshot(&ws, &store).unwrap();
    assert!(!stats.journalled, "the first snapshot walks");

    // A write inside the sandbox: one folder listed, the rest reused.
    s.run("open('d7/f3.txt', 'w').write('from the sandbox')")
        .await
        .assert_ok();
    let (hash, stats) = snapshotter.snapshot(&ws, &store).unwrap();
    assert!(stats.journalled);
    assert_eq!(stats.folders_listed, 1, "{stats:?}");
    assert_eq!(content(&store, &hash, "d7/f3.txt"), b"from the sandbox");

    // Mapped in one step, the file closed, the map kept.
    s.run("import mmap\nf = open('d0/map.bin', 'r+b')\nm = mmap.mmap(f.fileno(), 0)\nf.close()")
        .await
        .assert_ok();
    snapshotter.snapshot(&ws, &store).unwrap();
    for (round, text) in ["AAAA", "BBBB", "CCCC"].iter().enumerate() {
        s.run(&format!("m[0:4] = b'{text}'")).await.assert_ok();
        let (hash, stats) = snapshotter.snapshot(&ws, &store).unwrap();
        assert!(stats.journalled, "round {round}");
        assert_eq!(
            content(&store, &hash, "d0/map.bin"),
            format!("{text}456789").as_bytes(),
            "round {round}: the write through the map was missed"
        );
        let (walked, _) = Snapshotter::without_journal()
            .snapshot(&ws, &store)
            .unwrap();
        assert_eq!(hash, walked);
    }
    // Unmapped: the journal trusts the file again after one more look.
    s.run("m.close()").await.assert_ok();
    snapshotter.snapshot(&ws, &store).unwrap();
    let (_, stats) = snapshotter.snapshot(&ws, &store).unwrap();
    assert_eq!(stats.folders_listed, 0, "{stats:?}");
}
